"""BertBackbone against keras-hub's and transformers' BERT: layout, outputs, conversion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from registry import Backbone
from registry.architectures.bert import convert
from registry.architectures.bert.backbone import BertBackbone
from registry.architectures.bert.spec import SPEC
from registry.architectures.initializers import skipped_initializers
from registry.errors import PresetFormatError, WeightsMismatchError
from registry.preset.weights_h5 import layout, read_weights
from tests.conftest import FIXTURES, reference_error, reference_inputs, reference_io
from tests.reference.cases import randomize_keras

KERAS_HUB = ("keras_hub_tiny_bert", "keras_hub_odd_bert")
TRANSFORMERS = ("hf_tiny_bert", "hf_classifier_bert")
# keras-hub 0.32's `bert_base_en_uncased`.
BASE = dict(
    vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072
)


def arguments_of(name: str) -> dict[str, Any]:
    """The constructor arguments keras-hub wrote to a reference preset's config."""
    config = json.loads((FIXTURES / name / "config.json").read_text())["config"]
    return {k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")}


def dataset_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                shapes.__setitem__(name, item.shape) if isinstance(item, h5py.Dataset) else None
            )
        )
    return shapes


def variables_by_dataset(backbone: BertBackbone) -> dict[str, Any]:
    return {
        path: variable for entry in layout(backbone) for path, variable in entry.dataset_paths()
    }


def outputs_of(backbone: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    outputs = backbone(inputs, training=False)
    return {
        name: keras.ops.convert_to_numpy(keras.ops.cast(value, "float32"))
        for name, value in outputs.items()
    }


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.abs(a[name] - b[name]).max()) for name in a)


@pytest.fixture(scope="module")
def odd() -> BertBackbone:
    """keras-hub's odd reference preset (3 heads, 3 segments), read into our model."""
    backbone = BertBackbone.from_config(arguments_of("keras_hub_odd_bert"))
    read_weights(backbone, FIXTURES / "keras_hub_odd_bert" / "model.weights.h5")
    return backbone


@pytest.fixture()
def odd_inputs() -> dict[str, np.ndarray]:
    return reference_inputs(reference_io("keras_hub_odd_bert"))


# === keras-hub's layout and outputs ===


@pytest.mark.parametrize("name", KERAS_HUB)
def test_h5_layout_and_parameter_count_are_keras_hubs(name: str) -> None:
    arguments = arguments_of(name)
    backbone = BertBackbone.from_config(arguments)
    ours = {path: tuple(v.shape) for path, v in variables_by_dataset(backbone).items()}
    assert ours == dataset_shapes(FIXTURES / name / "model.weights.h5")
    assert SPEC.h5_shapes(arguments) == ours
    metadata = json.loads((FIXTURES / name / "metadata.json").read_text())
    assert backbone.count_params() == metadata["parameter_count"]  # keras-hub's count_params()
    assert SPEC.parameter_count(arguments) == metadata["parameter_count"]


def test_bert_base_parameter_count_is_keras_hubs() -> None:
    assert SPEC.parameter_count(BASE) == 109_482_240


@pytest.mark.parametrize("name", KERAS_HUB)
def test_keras_hub_references_are_reproduced(name: str) -> None:
    backbone = BertBackbone.from_config(arguments_of(name))
    read_weights(backbone, FIXTURES / name / "model.weights.h5")
    io = reference_io(name)
    assert reference_error(outputs_of(backbone, reference_inputs(io)), io) <= 1e-5


def test_outputs_match_keras_hub_for_the_same_weights(
    tmp_path: Path, odd_inputs: dict[str, np.ndarray]
) -> None:
    import keras_hub

    arguments = {**arguments_of("keras_hub_odd_bert"), "num_layers": 1, "dropout": 0.0}
    keras.utils.set_random_seed(5)
    theirs = keras_hub.models.BertBackbone(**arguments)
    randomize_keras(theirs, seed=5)
    assert theirs.count_params() == SPEC.parameter_count(arguments)
    theirs.save_to_preset(str(tmp_path))
    expected = outputs_of(theirs, odd_inputs)

    ours = BertBackbone.from_config(arguments)
    read_weights(ours, tmp_path / "model.weights.h5")
    assert max_difference(outputs_of(ours, odd_inputs), expected) <= 1e-5
    loaded = Backbone.from_preset(tmp_path)
    assert isinstance(loaded, BertBackbone)
    assert max_difference(outputs_of(loaded, odd_inputs), expected) <= 1e-5


def test_keras_hub_loads_what_we_save(
    odd: BertBackbone, odd_inputs: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import keras_hub

    odd.save_to_preset(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    written = json.loads((FIXTURES / "keras_hub_odd_bert" / "config.json").read_text())
    for body in (config, written):
        del body["config"]["name"]  # a Keras-made unique name
    assert config == written  # keras-hub's own config, unchanged
    theirs = keras_hub.models.BertBackbone.from_preset(str(tmp_path))
    assert max_difference(outputs_of(theirs, odd_inputs), outputs_of(odd, odd_inputs)) <= 1e-5


def test_config_round_trips_through_json(odd: BertBackbone) -> None:
    config = json.loads(json.dumps(odd.get_config()))
    assert set(config) == {"name", "trainable", "dtype", *arguments_of("keras_hub_odd_bert")}
    assert BertBackbone.from_config(config).get_config() == odd.get_config()


# === Behaviour ===


def test_every_segment_type_has_its_own_embedding(
    odd: BertBackbone, odd_inputs: dict[str, np.ndarray]
) -> None:
    assert odd_inputs["segment_ids"].max() == 2  # all three types are in the batch
    before = outputs_of(odd, odd_inputs)["sequence_output"]
    for old, new in ((0, 1), (1, 2), (2, 0)):
        changed = {k: v.copy() for k, v in odd_inputs.items()}
        changed["segment_ids"][changed["segment_ids"] == old] = new
        after = outputs_of(odd, changed)["sequence_output"]
        assert np.abs(after - before).max() > 1e-3, (old, new)


def test_attention_is_bidirectional_and_ignores_padding(
    odd: BertBackbone, odd_inputs: dict[str, np.ndarray]
) -> None:
    # Row 0 has its last two positions padded: changing them changes nothing kept.
    kept = odd_inputs["padding_mask"][0].astype(bool)
    changed = {k: v.copy() for k, v in odd_inputs.items()}
    changed["token_ids"][0, ~kept] = 7
    before, after = outputs_of(odd, odd_inputs), outputs_of(odd, changed)
    np.testing.assert_allclose(
        after["sequence_output"][0, kept], before["sequence_output"][0, kept], atol=1e-6
    )
    np.testing.assert_allclose(after["pooled_output"], before["pooled_output"], atol=1e-6)
    # The last kept token reaches the first position (and the pooled [CLS]).
    last = np.flatnonzero(kept)[-1]
    changed["token_ids"][0, last] = (changed["token_ids"][0, last] + 1) % 61
    after = outputs_of(odd, changed)
    assert np.abs(after["sequence_output"][0, 0] - before["sequence_output"][0, 0]).max() > 1e-3
    assert np.abs(after["pooled_output"][0] - before["pooled_output"][0]).max() > 1e-3


def test_exact_gelu_is_computed_and_written_only_when_asked(
    odd: BertBackbone, odd_inputs: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import keras_hub

    exact = BertBackbone.from_config({**odd.get_config(), "hidden_activation": "gelu"})
    exact.set_weights(odd.get_weights())
    approximate_outputs, exact_outputs = outputs_of(odd, odd_inputs), outputs_of(exact, odd_inputs)
    assert 1e-5 < max_difference(exact_outputs, approximate_outputs) < 1e-2
    assert "hidden_activation" not in odd.get_config()
    assert exact.get_config()["hidden_activation"] == "gelu"
    exact.save_to_preset(tmp_path)
    reloaded = Backbone.from_preset(tmp_path)
    assert max_difference(outputs_of(reloaded, odd_inputs), exact_outputs) == 0.0
    # keras-hub ignores the argument it does not know and computes tanh GELU.
    theirs = keras_hub.models.BertBackbone.from_preset(str(tmp_path))
    assert max_difference(outputs_of(theirs, odd_inputs), approximate_outputs) <= 1e-5


@pytest.mark.parametrize("dtype", ["bfloat16", "mixed_bfloat16"])
def test_half_precision_runs_close_to_float32(
    odd: BertBackbone, odd_inputs: dict[str, np.ndarray], dtype: str
) -> None:
    model = BertBackbone.from_config({**odd.get_config(), "dtype": dtype})
    variable_dtype = model.dtype_policy.variable_dtype
    model.set_weights([w.astype(variable_dtype) for w in odd.get_weights()])
    outputs = model(odd_inputs, training=False)
    assert keras.backend.standardize_dtype(outputs["sequence_output"].dtype) == "bfloat16"
    # Softmax and layer norms run in float32, so half precision stays close.
    assert max_difference(outputs_of(model, odd_inputs), outputs_of(odd, odd_inputs)) < 0.1


def test_no_random_initializer_runs_while_weights_are_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arguments = arguments_of("keras_hub_tiny_bert")
    fresh = BertBackbone.from_config(arguments)
    attention = fresh.transformer_layers[0]._self_attention_layer
    # Each variable has its own draw (one Keras initializer repeats its values).
    query, key = (
        keras.ops.convert_to_numpy(d.kernel) for d in (attention.query_dense, attention.key_dense)
    )
    assert not np.allclose(query, key)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a random initializer ran")

    for initializer in ("TruncatedNormal", "RandomNormal", "RandomUniform", "VarianceScaling"):
        monkeypatch.setattr(getattr(keras.initializers, initializer), "__call__", refuse)
    with skipped_initializers():
        backbone = BertBackbone.from_config(arguments)
    for weight in backbone.weights:
        assert set(np.unique(keras.ops.convert_to_numpy(weight))) <= {0.0, 1.0}, weight.path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_dim": 30}, r"divisible by `num_heads`.*hidden_dim=30, num_heads=4"),
        ({"num_segments": 0}, r"`num_segments` must be a positive integer"),
        ({"dropout": 1.0}, r"`dropout` must be a float"),
        ({"hidden_activation": "relu"}, r"`hidden_activation` must be one of"),
        ({"rotary": True}, r"unknown argument\(s\) \['rotary'\]"),
    ],
)
def test_bad_arguments_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SPEC.check_arguments({**arguments_of("keras_hub_tiny_bert"), **change})


def test_builtin_presets_are_keras_hubs() -> None:
    from keras_hub.src.models.bert.bert_presets import backbone_presets

    assert {preset.name for preset in SPEC.presets} == set(backbone_presets)
    for preset in SPEC.presets:
        seed = backbone_presets[preset.name]
        assert preset.params == seed["metadata"]["params"]
        assert preset.description == seed["metadata"]["description"]
        assert preset.kaggle_handle == seed["kaggle_handle"]
        assert preset.architecture == "BertBackbone"
    assert BertBackbone.presets["bert_base_en_uncased"].params == 109_482_240


# === transformers checkpoints ===


def checkpoint_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape from the safetensors header, without the `bert.` prefix."""
    with safe_open(FIXTURES / name / "model.safetensors", framework="numpy") as file:
        return {
            key.removeprefix("bert."): tuple(file.get_slice(key).get_shape())
            for key in file.keys()  # noqa: SIM118
        }


def checkpoint_arguments(name: str) -> dict[str, Any]:
    config = json.loads((FIXTURES / name / "config.json").read_text())
    return convert.arguments(FIXTURES / name / "config.json", config, checkpoint_shapes(name))


def convert_checkpoint(name: str) -> BertBackbone:
    """A test-local loader: the key table, safetensors, and the h5 layout's variables."""
    arguments = checkpoint_arguments(name)
    tensors = load_file(FIXTURES / name / "model.safetensors")
    tensors = {key.removeprefix("bert."): value for key, value in tensors.items()}
    with skipped_initializers():
        backbone = BertBackbone.from_config(arguments)
    variables = variables_by_dataset(backbone)
    for row in convert.table(arguments):
        for target, value in zip(row.targets, row.transform(tensors[row.key]), strict=True):
            variables[target].assign(np.reshape(value, variables[target].shape))
    return backbone


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_table_matches_the_checkpoint(name: str) -> None:
    shapes = checkpoint_shapes(name)
    arguments = checkpoint_arguments(name)
    table = convert.table(arguments)
    assert {row.key: row.shape for row in table} == {
        key: shape for key, shape in shapes.items() if not SPEC.transformers.is_ignored(key)
    }
    ignored = {key for key in shapes if SPEC.transformers.is_ignored(key)}
    assert ignored == ({"classifier.weight", "classifier.bias"} if "classifier" in name else set())
    # Every dataset is filled exactly once, by a tensor of its size.
    h5 = SPEC.h5_shapes(arguments)
    targets = [target for row in table for target in row.targets]
    assert sorted(targets) == sorted(h5)
    for row in table:
        assert np.prod(row.shape) == sum(np.prod(h5[target]) for target in row.targets)


def test_arguments_honour_the_checkpoints() -> None:
    assert checkpoint_arguments("hf_tiny_bert") == {
        **arguments_of("keras_hub_tiny_bert"),
        "hidden_activation": "gelu",
    }
    odd = checkpoint_arguments("hf_classifier_bert")
    assert odd["num_segments"] == 3 and odd["num_heads"] == 3
    assert "hidden_activation" not in odd  # gelu_new: keras-hub's tanh GELU


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_converted_weights_reproduce_transformers(name: str) -> None:
    io = reference_io(name)
    backbone = convert_checkpoint(name)
    assert reference_error(outputs_of(backbone, reference_inputs(io)), io) <= 1e-5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hidden_act": "relu"}, "hidden_act"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"layer_norm_eps": 1e-5}, "layer_norm_eps"),
        ({"is_decoder": True}, "is_decoder"),
    ],
)
def test_unsupported_variants_are_refused(change: dict[str, Any], field: str) -> None:
    config = {**json.loads((FIXTURES / "hf_tiny_bert" / "config.json").read_text()), **change}
    with pytest.raises(PresetFormatError, match=f"sets {field}="):
        convert.arguments(Path("config.json"), config, checkpoint_shapes("hf_tiny_bert"))


def test_config_and_tensors_must_agree() -> None:
    config = {**json.loads((FIXTURES / "hf_tiny_bert" / "config.json").read_text())}
    config["type_vocab_size"] = 3
    with pytest.raises(WeightsMismatchError, match="type_vocab_size=3, but the weights have 2"):
        convert.arguments(Path("config.json"), config, checkpoint_shapes("hf_tiny_bert"))


def test_checkpoints_without_a_pooler_are_refused() -> None:
    config = json.loads((FIXTURES / "hf_tiny_bert" / "config.json").read_text())
    shapes = checkpoint_shapes("hf_tiny_bert")
    no_pooler = {k: v for k, v in shapes.items() if not k.startswith("pooler.")}
    with pytest.raises(PresetFormatError, match="without a pooler") as refused:
        convert.arguments(Path("config.json"), config, no_pooler)
    assert not isinstance(refused.value, WeightsMismatchError)


def test_legacy_layer_norm_names_load(tmp_path: Path) -> None:
    # BERT's original checkpoints name layer norms as TensorFlow did; transformers
    # renames `LayerNorm.gamma`/`beta` on load, and so does this registry.
    source = FIXTURES / "hf_tiny_bert"
    (tmp_path / "config.json").write_bytes((source / "config.json").read_bytes())
    tensors = load_file(source / "model.safetensors")
    renamed = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        ): v
        for k, v in tensors.items()
    }
    assert renamed.keys() != tensors.keys()
    save_file(renamed, tmp_path / "model.safetensors")
    io = reference_io("hf_tiny_bert")
    backbone = Backbone.from_preset(tmp_path)
    assert reference_error(outputs_of(backbone, reference_inputs(io)), io) <= 1e-5
