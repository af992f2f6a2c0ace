"""GemmaBackbone (Gemma and Gemma 2) against keras-hub's and transformers' own models."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest

from registry import Backbone
from registry.architectures.gemma import convert
from registry.architectures.gemma.backbone import GemmaBackbone
from registry.architectures.gemma.spec import SPEC, check_arguments
from registry.architectures.initializers import skipped_initializers
from registry.errors import PresetFormatError, WeightsMismatchError
from registry.preset.weights_h5 import layout, read_weights
from tests.conftest import FIXTURES, reference_error, reference_inputs, reference_io

GEMMA = {
    "vocabulary_size": 97,
    "num_layers": 2,
    "num_query_heads": 4,
    "num_key_value_heads": 1,
    "hidden_dim": 32,
    "intermediate_dim": 48,
    "head_dim": 8,
}
GEMMA2 = {
    **GEMMA,
    "num_layers": 3,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "query_head_dim_normalize": False,
    "use_post_ffw_norm": True,
    "use_post_attention_norm": True,
    "attention_logit_soft_cap": 2.0,
    "final_logit_soft_cap": 3.0,
    "use_sliding_window_attention": True,
    "sliding_window_size": 3,
}
CONFIGS = {"gemma": GEMMA, "gemma2": GEMMA2}
HF_FIXTURES = ["hf_tiny_gemma", "hf_tiny_gemma2"]


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float32")


def _inputs(length: int = 9, seed: int = 0) -> dict[str, np.ndarray]:
    """Two rows: the first right-padded by two positions, the second left-padded by two."""
    rng = np.random.default_rng(seed)
    padding_mask = np.ones((2, length), dtype="int32")
    padding_mask[0, -2:] = 0
    padding_mask[1, :2] = 0
    token_ids = rng.integers(1, GEMMA["vocabulary_size"], (2, length)).astype("int32")
    return {"token_ids": token_ids * padding_mask, "padding_mask": padding_mask}


def _randomize(model: Any, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        draw = rng.standard_normal(tuple(variable.shape)).astype("float32")
        variable.assign(0.1 * draw if variable.path.endswith("scale") else 0.2 * draw)


def _datasets(path: Path) -> dict[str, tuple[int, ...]]:
    found: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                found.update({name: item.shape}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return found


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def keras_hub_pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(config, keras-hub's model with random weights, its preset, ours loaded from it)."""
    keras_hub = pytest.importorskip("keras_hub")
    config = CONFIGS[request.param]
    theirs = keras_hub.models.GemmaBackbone(**config)
    _randomize(theirs)
    preset = tmp_path_factory.mktemp(f"keras_hub_{request.param}")
    theirs.save_to_preset(str(preset))
    with skipped_initializers():
        ours = GemmaBackbone.from_config(config)
    read_weights(ours, preset / "model.weights.h5")
    return config, theirs, preset, ours


# === Layout and parameters ===


def test_weights_file_layout_is_keras_hubs(keras_hub_pair: Any) -> None:
    config, _, preset, ours = keras_hub_pair
    theirs = _datasets(preset / "model.weights.h5")
    assert {path: tuple(v.shape) for e in layout(ours) for path, v in e.dataset_paths()} == theirs
    assert SPEC.h5_shapes(config) == theirs
    # Gemma 2's extra norms are where keras-hub puts them.
    post_norms = {p for p in theirs if "/post_" in p}
    assert len(post_norms) == (2 * config["num_layers"] if "use_post_ffw_norm" in config else 0)


def test_parameter_count_is_keras_hubs(keras_hub_pair: Any) -> None:
    config, theirs, _, ours = keras_hub_pair
    assert ours.count_params() == theirs.count_params() == SPEC.parameter_count(config)


@pytest.mark.parametrize(
    ("preset", "config"),
    [
        (
            "gemma_2b_en",
            dict(vocabulary_size=256000, num_layers=18, num_query_heads=8, num_key_value_heads=1,
                 hidden_dim=2048, intermediate_dim=32768, head_dim=256),
        ),
        (
            "gemma_7b_en",
            dict(vocabulary_size=256000, num_layers=28, num_query_heads=16, num_key_value_heads=16,
                 hidden_dim=3072, intermediate_dim=49152, head_dim=256),
        ),
        (
            "gemma2_2b_en",
            dict(vocabulary_size=256000, num_layers=26, num_query_heads=8, num_key_value_heads=4,
                 hidden_dim=2304, intermediate_dim=18432, head_dim=256,
                 use_post_ffw_norm=True, use_post_attention_norm=True),
        ),
        (
            "gemma2_9b_en",
            dict(vocabulary_size=256000, num_layers=42, num_query_heads=16, num_key_value_heads=8,
                 hidden_dim=3584, intermediate_dim=28672, head_dim=256,
                 use_post_ffw_norm=True, use_post_attention_norm=True),
        ),
        (
            "gemma2_27b_en",
            dict(vocabulary_size=256000, num_layers=46, num_query_heads=32, num_key_value_heads=16,
                 hidden_dim=4608, intermediate_dim=73728, head_dim=128,
                 use_post_ffw_norm=True, use_post_attention_norm=True),
        ),
    ],
)  # fmt: skip
def test_parameter_count_of_real_presets(preset: str, config: dict[str, Any]) -> None:
    assert SPEC.parameter_count(config) == GemmaBackbone.presets[preset].params


# === Outputs ===


def test_outputs_equal_keras_hubs(keras_hub_pair: Any) -> None:
    _, theirs, _, ours = keras_hub_pair
    inputs = _inputs()
    expected = _numpy(theirs(inputs))
    # Every position, left-padded queries (which attend to nothing) included.
    np.testing.assert_allclose(_numpy(ours(inputs)), expected, rtol=0, atol=1e-5)


def test_from_preset_loads_keras_hub_presets(keras_hub_pair: Any) -> None:
    _, theirs, preset, _ = keras_hub_pair
    backbone = Backbone.from_preset(preset)
    assert isinstance(backbone, GemmaBackbone)
    inputs = _inputs()
    np.testing.assert_allclose(_numpy(backbone(inputs)), _numpy(theirs(inputs)), atol=1e-5)


def test_keras_hub_loads_our_presets(keras_hub_pair: Any, tmp_path: Path) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    config, _, _, ours = keras_hub_pair
    ours.save_to_preset(tmp_path)
    theirs = keras_hub.models.Backbone.from_preset(str(tmp_path))
    assert type(theirs).__name__ == "GemmaBackbone"
    assert {k: theirs.get_config()[k] for k in config} == config
    inputs = _inputs()
    np.testing.assert_allclose(_numpy(theirs(inputs)), _numpy(ours(inputs)), atol=1e-5)


@pytest.mark.parametrize("name", ["keras_hub_tiny_gemma", "keras_hub_tiny_gemma2"])
def test_keras_hub_reference_presets(name: str) -> None:
    config = json.loads((FIXTURES / name / "config.json").read_text())["config"]
    with skipped_initializers():
        backbone = GemmaBackbone.from_config(config)
    read_weights(backbone, FIXTURES / name / "model.weights.h5")
    io = reference_io(name)
    assert reference_error(_numpy(backbone(reference_inputs(io))), io) <= 1e-5


def test_gemma2_reference_needs_its_soft_cap_and_window() -> None:
    # The Gemma 2 fixture's outputs depend on both: a model missing either fails.
    name = "keras_hub_tiny_gemma2"
    config = json.loads((FIXTURES / name / "config.json").read_text())["config"]
    io = reference_io(name)
    for change in ({"attention_logit_soft_cap": None}, {"use_sliding_window_attention": False}):
        with skipped_initializers():
            backbone = GemmaBackbone.from_config({**config, **change})
        read_weights(backbone, FIXTURES / name / "model.weights.h5")
        assert reference_error(_numpy(backbone(reference_inputs(io))), io) > 1e-2, change


def _grouped_as_multi_head(source: GemmaBackbone, config: dict[str, Any]) -> GemmaBackbone:
    """`source` with every key/value head repeated for each query head it serves."""
    heads = config["num_query_heads"]
    groups = heads // config["num_key_value_heads"]
    target = GemmaBackbone(**{**config, "num_key_value_heads": heads})
    for mine, theirs in zip(target.weights, source.weights, strict=True):
        value = keras.ops.convert_to_numpy(theirs)
        if mine.path.endswith(("key/kernel", "value/kernel")):
            value = np.repeat(value, groups, axis=0)  # query head n reads kv head n // groups
        mine.assign(value)
    return target


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_grouped_query_attention_is_shared_heads(kv_heads: int) -> None:
    config = {**GEMMA, "num_key_value_heads": kv_heads}
    source = GemmaBackbone(**config)
    _randomize(source)
    assert tuple(source.transformer_layers[0].attention.key_dense.kernel.shape) == (
        kv_heads,
        32,
        8,
    )
    multi_head = _grouped_as_multi_head(source, config)
    inputs = _inputs()
    np.testing.assert_allclose(_numpy(source(inputs)), _numpy(multi_head(inputs)), atol=1e-5)


def _changed_tokens(inputs: dict[str, np.ndarray], row: int, positions: slice) -> Any:
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][row, positions] = (changed["token_ids"][row, positions] + 5) % 97
    return changed


def test_padded_keys_are_not_attended() -> None:
    backbone = GemmaBackbone(**GEMMA)
    _randomize(backbone)
    inputs = _inputs()  # row 1: positions 0 and 1 padded
    changed = _changed_tokens(inputs, 1, slice(0, 2))
    before, after = _numpy(backbone(inputs)), _numpy(backbone(changed))
    np.testing.assert_allclose(before[1, 2:], after[1, 2:], atol=1e-6)
    # Without the mask the same change reaches the later positions.
    for batch in (inputs, changed):
        batch["padding_mask"][:] = 1
    before, after = _numpy(backbone(inputs)), _numpy(backbone(changed))
    assert not np.allclose(before[1, 2:], after[1, 2:], atol=1e-4)


def test_sliding_window_limits_what_a_layer_sees() -> None:
    window = 3
    config = {**GEMMA2, "use_sliding_window_attention": True, "sliding_window_size": window}
    one_layer = GemmaBackbone(**{**config, "num_layers": 1})  # block 0 slides
    two_layers = GemmaBackbone(**{**config, "num_layers": 2})  # block 1 attends globally
    inputs = _inputs()
    inputs["padding_mask"][:] = 1
    changed = _changed_tokens(inputs, 0, slice(0, 1))  # the first token
    for backbone in (one_layer, two_layers):
        _randomize(backbone)
    before, after = _numpy(one_layer(inputs)), _numpy(one_layer(changed))
    # Positions 0..window-1 see the first token; later ones do not.
    assert not np.allclose(before[0, window - 1], after[0, window - 1], atol=1e-4)
    np.testing.assert_allclose(before[0, window:], after[0, window:], atol=1e-6)
    before, after = _numpy(two_layers(inputs)), _numpy(two_layers(changed))
    assert not np.allclose(before[0, -1], after[0, -1], atol=1e-4)


@pytest.mark.parametrize(
    ("dtype", "variable_dtype", "compute_dtype"),
    [("bfloat16", "bfloat16", "bfloat16"), ("mixed_bfloat16", "float32", "bfloat16")],
)
def test_half_precision(
    keras_hub_pair: Any, dtype: str, variable_dtype: str, compute_dtype: str
) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    _, _, preset, ours = keras_hub_pair
    half = Backbone.from_preset(preset, dtype=dtype)
    assert {w.dtype for w in half.weights} == {variable_dtype}
    inputs = _inputs()
    outputs = half(inputs)
    assert keras.backend.standardize_dtype(outputs.dtype) == compute_dtype
    # Softmax and norms run in float32, so half precision stays close to float32...
    np.testing.assert_allclose(_numpy(outputs), _numpy(ours(inputs)), atol=0.25)
    # ...and is what keras-hub computes in the same precision: the same ops in the
    # same order, so the same to the bit.
    theirs = keras_hub.models.GemmaBackbone.from_preset(str(preset), dtype=dtype)
    np.testing.assert_array_equal(_numpy(outputs), _numpy(theirs(inputs)))


def test_no_random_draws_while_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.initializers import random_initializers

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a random initializer ran while loading")

    for draw in ("normal", "uniform", "truncated_normal"):
        monkeypatch.setattr(random_initializers.random, draw, refuse)
    with skipped_initializers():
        backbone = GemmaBackbone(**GEMMA2)
    assert all(not np.any(keras.ops.convert_to_numpy(w)) for w in backbone.weights)
    monkeypatch.undo()
    fresh = GemmaBackbone(**GEMMA2)
    random = [w.path for w in fresh.weights if np.any(keras.ops.convert_to_numpy(w))]
    # Everything but the norm scales (zeros in keras-hub too) is drawn at random.
    assert len(random) == len(fresh.weights) - (4 * GEMMA2["num_layers"] + 1)


# === Arguments and config ===


def test_config_round_trips_and_has_keras_hubs_keys() -> None:
    keras_hub = pytest.importorskip("keras_hub")
    backbone = GemmaBackbone(**GEMMA2, dtype="mixed_bfloat16")
    config = json.loads(json.dumps(backbone.get_config()))
    assert GemmaBackbone.from_config(config).get_config() == backbone.get_config()
    reference = keras_hub.models.GemmaBackbone(**GEMMA2).get_config()
    assert list(config) == list(reference)
    assert {k: v for k, v in config.items() if k not in ("name", "dtype")} == {
        k: v for k, v in reference.items() if k not in ("name", "dtype")
    }


def test_token_embedding_is_the_tied_reversible_embedding() -> None:
    backbone = GemmaBackbone(**GEMMA2)
    embedding = backbone.token_embedding
    assert isinstance(embedding, keras.layers.ReversibleEmbedding)
    assert embedding.tie_weights and embedding.logit_soft_cap == GEMMA2["final_logit_soft_cap"]
    assert tuple(embedding.embeddings.shape) == (97, 32)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_key_value_heads": 3}, "divisible by `num_key_value_heads`"),
        ({"head_dim": 7}, "`head_dim` must be even"),
        ({"num_layers": 0}, "`num_layers` must be a positive integer"),
        ({"intermediate_dim": 1}, "`intermediate_dim` must be at least 2"),
        ({"use_post_ffw_norm": 1}, "`use_post_ffw_norm` must be a boolean"),
        ({"attention_logit_soft_cap": -1.0}, "`attention_logit_soft_cap` must be"),
        ({"layer_norm_epsilon": 0}, "`layer_norm_epsilon` must be a positive number"),
        ({"dropout": 1.5}, "`dropout` must be a float"),
        ({"sliding_window_size": None}, "`sliding_window_size` must be a positive integer"),
    ],
)
def test_arguments_are_checked(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_arguments({**GEMMA, **change})
    with pytest.raises(ValueError, match=message):
        GemmaBackbone(**{**GEMMA, **change})


def test_spec_refuses_unknown_and_missing_arguments() -> None:
    with pytest.raises(ValueError, match="unknown argument"):
        check_arguments({**GEMMA, "rope_max_wavelength": 1})
    with pytest.raises(ValueError, match=r"missing required argument\(s\) \['head_dim'\]"):
        check_arguments({k: v for k, v in GEMMA.items() if k != "head_dim"})


def test_builtin_presets_are_keras_hubs() -> None:
    from keras_hub.src.models.gemma.gemma_presets import backbone_presets

    assert [p.name for p in SPEC.presets] == list(backbone_presets)
    assert set(GemmaBackbone.presets) == set(backbone_presets)
    for preset in SPEC.presets:
        seed = backbone_presets[preset.name]
        assert preset.params == seed["metadata"]["params"]
        assert preset.description == seed["metadata"]["description"]
        assert preset.kaggle_handle == seed["kaggle_handle"]
        assert preset.architecture == "GemmaBackbone"


# === transformers checkpoints ===


def _checkpoint(name: str) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    from safetensors import safe_open

    hf_config = json.loads((FIXTURES / name / "config.json").read_text())
    with safe_open(FIXTURES / name / "model.safetensors", framework="numpy") as file:
        shapes = {
            key.removeprefix("model."): tuple(file.get_slice(key).get_shape())
            for key in file.keys()  # noqa: SIM118
        }
    return hf_config, shapes


def _convert(name: str) -> GemmaBackbone:
    """A test-local loader: the spec's arguments and table, and nothing else."""
    from safetensors.numpy import load_file

    hf_config, shapes = _checkpoint(name)
    arguments = convert.arguments(FIXTURES / name / "config.json", hf_config, shapes)
    tensors = {
        k.removeprefix("model."): v
        for k, v in load_file(FIXTURES / name / "model.safetensors").items()
    }
    with skipped_initializers():
        backbone = GemmaBackbone(**arguments)
    variables = {path: v for entry in layout(backbone) for path, v in entry.dataset_paths()}
    for row in convert.table(arguments):
        for target, value in zip(row.targets, row.transform(tensors[row.key]), strict=True):
            variables[target].assign(np.reshape(value, variables[target].shape))
    return backbone


@pytest.mark.parametrize("name", HF_FIXTURES)
def test_table_matches_the_checkpoints(name: str) -> None:
    hf_config, shapes = _checkpoint(name)
    arguments = convert.arguments(FIXTURES / name / "config.json", hf_config, shapes)
    rows = convert.table(arguments)
    assert SPEC.transformers is not None
    stored = {k: s for k, s in shapes.items() if not SPEC.transformers.is_ignored(k)}
    assert {row.key: row.shape for row in rows} == stored
    # Every dataset is filled exactly once, by a tensor of its size.
    h5 = SPEC.h5_shapes(arguments)
    targets = [target for row in rows for target in row.targets]
    assert sorted(targets) == sorted(h5)
    for row in rows:
        assert math.prod(row.shape) == sum(math.prod(h5[t]) for t in row.targets)


def test_converted_arguments() -> None:
    hf_config, shapes = _checkpoint("hf_tiny_gemma2")
    arguments = convert.arguments(Path("config.json"), hf_config, shapes)
    assert arguments == {
        "vocabulary_size": 97,
        "num_layers": 3,
        "num_query_heads": 4,
        "num_key_value_heads": 2,
        "hidden_dim": 32,
        "intermediate_dim": 48,
        "head_dim": 12,
        "layer_norm_epsilon": 1e-6,
        "query_head_dim_normalize": True,
        "use_post_ffw_norm": True,
        "use_post_attention_norm": True,
        "attention_logit_soft_cap": 2.0,
        "final_logit_soft_cap": 3.0,
        "use_sliding_window_attention": True,
        "sliding_window_size": 4,
    }


@pytest.mark.parametrize("name", HF_FIXTURES)
def test_converted_weights_reproduce_transformers(name: str) -> None:
    io = reference_io(name)
    assert reference_error(_numpy(_convert(name)(reference_inputs(io))), io) <= 1e-5
    backbone = Backbone.from_preset(FIXTURES / name)
    assert isinstance(backbone, GemmaBackbone)
    assert reference_error(_numpy(backbone(reference_inputs(io))), io) <= 1e-5


@pytest.mark.parametrize(
    ("name", "change", "error", "message"),
    [
        ("hf_tiny_gemma", {"hidden_act": "relu"}, PresetFormatError, "hidden_act='relu'"),
        ("hf_tiny_gemma", {"hidden_act": "gelu"}, None, ""),  # transformers reads it as tanh
        ("hf_tiny_gemma2", {"hidden_activation": "gelu"}, PresetFormatError, "hidden_activation"),
        ("hf_tiny_gemma2", {"query_pre_attn_scalar": 8}, PresetFormatError, "query_pre_attn"),
        ("hf_tiny_gemma2", {"layer_types": ["full_attention"] * 3}, PresetFormatError, "layer_"),
        ("hf_tiny_gemma", {"rms_norm_eps": 1e-5}, PresetFormatError, "rms_norm_eps"),
        ("hf_tiny_gemma", {"rope_parameters": {"rope_theta": 1e6}}, PresetFormatError, "theta"),
        ("hf_tiny_gemma", {"tie_word_embeddings": False}, PresetFormatError, "tie_word"),
        ("hf_tiny_gemma", {"attention_bias": True}, PresetFormatError, "attention_bias"),
        ("hf_tiny_gemma", {"num_key_value_heads": 2}, WeightsMismatchError, "num_key_value"),
        ("hf_tiny_gemma", {"head_dim": 16}, WeightsMismatchError, "head_dim=16"),
        ("hf_tiny_gemma", {"intermediate_size": 48}, WeightsMismatchError, "intermediate_size"),
        ("hf_tiny_gemma", {"model_type": "llama"}, PresetFormatError, "model_type='llama'"),
        ("hf_tiny_gemma2", {"sliding_window": 0}, PresetFormatError, "`sliding_window_size`"),
        ("hf_tiny_gemma2", {"attn_logit_softcapping": None}, None, ""),
    ],
)
def test_conversion_refuses_what_gemma_backbone_does_not_compute(
    name: str, change: dict[str, Any], error: type[Exception] | None, message: str
) -> None:
    hf_config, shapes = _checkpoint(name)
    path = FIXTURES / name / "config.json"
    if error is None:
        convert.arguments(path, {**hf_config, **change}, shapes)
        return
    with pytest.raises(error, match=message):
        convert.arguments(path, {**hf_config, **change}, shapes)


def test_conversion_refuses_an_untied_head() -> None:
    hf_config, shapes = _checkpoint("hf_tiny_gemma")
    path = FIXTURES / "hf_tiny_gemma" / "config.json"
    assert convert.arguments(path, hf_config, {**shapes, "lm_head.weight": (97, 32)})
    with pytest.raises(WeightsMismatchError, match="lm_head"):
        convert.arguments(path, hf_config, {**shapes, "lm_head.weight": (98, 32)})
