"""LlamaBackbone against keras-hub and transformers: layout, outputs, conversion, presets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest

from registry import Backbone
from registry.architectures.initializers import skipped_initializers
from registry.architectures.llama import convert
from registry.architectures.llama.backbone import LlamaBackbone
from registry.architectures.llama.layers import LlamaRotaryEmbedding
from registry.architectures.llama.spec import SPEC
from registry.errors import PresetFormatError, WeightsMismatchError
from registry.preset.weights_h5 import layout, read_weights, write_weights
from tests.conftest import FIXTURES, REPO, reference_error, reference_inputs, reference_io

TINY = {
    "vocabulary_size": 23,
    "num_layers": 2,
    "num_query_heads": 4,
    "num_key_value_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 12,
}
# Llama 3.1's rope scaling with a pretraining length that puts the head size 4's
# two frequencies in different bands.
LLAMA31_ROPE = {
    "rope_max_wavelength": 500000,
    "rope_frequency_adjustment_factor": 8.0,
    "rope_low_freq_factor": 1.0,
    "rope_high_freq_factor": 4.0,
    "rope_pretraining_sequence_length": 32,
}


def _keras_hub_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((FIXTURES / name / "config.json").read_text())["config"]
    return config


def _from_keras_hub_files(name: str, directory: Path = FIXTURES, **overrides: Any) -> LlamaBackbone:
    """Our backbone from a keras-hub preset's config and weights, without the preset loader."""
    config = {**json.loads((directory / name / "config.json").read_text())["config"], **overrides}
    backbone = LlamaBackbone.from_config(config)
    read_weights(backbone, directory / name / "model.weights.h5")
    assert isinstance(backbone, LlamaBackbone)
    return backbone


def _h5_contents(path: Path) -> dict[str, tuple[int, ...] | None]:
    """Every group (None) and dataset (its shape) of an HDF5 file."""
    found: dict[str, tuple[int, ...] | None] = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, node: found.__setitem__(name, getattr(node, "shape", None)))
    return found


def _outputs(backbone: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(backbone(inputs, training=False)), "float32")


def _left_padded(vocabulary_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    padding_mask = np.array([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]], dtype="int32")
    token_ids = rng.integers(1, vocabulary_size, padding_mask.shape).astype("int32")
    return {"token_ids": token_ids * padding_mask, "padding_mask": padding_mask}


@pytest.fixture(scope="module")
def tiny() -> LlamaBackbone:
    return _from_keras_hub_files("keras_hub_tiny_llama")


# === Layout and size: keras-hub's ===


@pytest.mark.parametrize(
    "arguments",
    [TINY, {**TINY, "num_key_value_heads": 1, "tie_word_embeddings": True, **LLAMA31_ROPE}],
    ids=["untied", "tied_one_kv_head"],
)
def test_weights_file_and_size_are_keras_hubs(arguments: dict[str, Any], tmp_path: Path) -> None:
    from keras_hub.models import LlamaBackbone as KerasHubLlama

    theirs = KerasHubLlama(**arguments)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours = LlamaBackbone(**arguments)
    write_weights(ours, tmp_path / "ours.weights.h5")
    # Every group (weightless layers too) and every dataset, with its shape.
    assert _h5_contents(tmp_path / "ours.weights.h5") == _h5_contents(
        tmp_path / "theirs.weights.h5"
    )
    datasets = {path: tuple(v.shape) for e in layout(ours) for path, v in e.dataset_paths()}
    assert SPEC.h5_shapes(arguments) == datasets
    assert ours.count_params() == theirs.count_params() == SPEC.parameter_count(arguments)
    assert isinstance(ours.token_embedding, keras.layers.Embedding)
    assert ours.token_embedding.tie_weights is arguments.get("tie_word_embeddings", False)


def test_builtin_presets_are_keras_hubs() -> None:
    from keras_hub.src.models.llama.llama_presets import backbone_presets as llama2
    from keras_hub.src.models.llama3.llama3_presets import backbone_presets as llama3

    seeds = {**llama2, **llama3}
    assert set(LlamaBackbone.presets) == set(seeds)
    for name, preset in LlamaBackbone.presets.items():
        assert preset.params == seeds[name]["metadata"]["params"], name
        assert preset.description == seeds[name]["metadata"]["description"], name
        assert preset.kaggle_handle == seeds[name]["kaggle_handle"], name
        assert preset.architecture == "LlamaBackbone"
    assert {"llama2_7b_en", "llama3_8b_en", "llama3.2_1b"} <= set(Backbone.presets)


@pytest.mark.parametrize(
    ("preset", "arguments"),
    [
        (
            "llama2_7b_en",
            dict(vocabulary_size=32000, num_layers=32, num_query_heads=32, hidden_dim=4096,
                 intermediate_dim=11008, num_key_value_heads=32),
        ),
        (
            "llama3_8b_en",
            dict(vocabulary_size=128256, num_layers=32, num_query_heads=32, hidden_dim=4096,
                 intermediate_dim=14336, num_key_value_heads=8, rope_max_wavelength=500000),
        ),
        (
            "llama3.2_1b",
            dict(vocabulary_size=128256, num_layers=16, num_query_heads=32, hidden_dim=2048,
                 intermediate_dim=8192, num_key_value_heads=8, rope_max_wavelength=500000,
                 rope_frequency_adjustment_factor=32.0, rope_low_freq_factor=1.0,
                 rope_high_freq_factor=4.0, rope_pretraining_sequence_length=8192),
        ),
        (
            "llama3.2_3b",
            dict(vocabulary_size=128256, num_layers=28, num_query_heads=24, hidden_dim=3072,
                 intermediate_dim=8192, num_key_value_heads=8),
        ),
    ],
)  # fmt: skip
def test_spec_counts_the_real_presets(preset: str, arguments: dict[str, Any]) -> None:
    # keras-hub stores every Llama preset untied (Llama 3.2's head as its own copy).
    assert SPEC.parameter_count(arguments) == LlamaBackbone.presets[preset].params


# === Outputs: keras-hub's ===


@pytest.mark.parametrize("name", ["keras_hub_tiny_llama", "keras_hub_odd_llama"])
def test_keras_hub_presets_reproduce_keras_hubs_outputs(name: str) -> None:
    io = reference_io(name)
    assert reference_error(_outputs(_from_keras_hub_files(name), reference_inputs(io)), io) <= 1e-5
    loaded = Backbone.from_preset(FIXTURES / name)
    assert isinstance(loaded, LlamaBackbone)
    assert reference_error(_outputs(loaded, reference_inputs(io)), io) <= 1e-5


def test_keras_hub_model_with_the_same_weights_computes_the_same(tmp_path: Path) -> None:
    # One key/value head, Llama 3.1 rope scaling, tied embeddings, left padding.
    import keras_hub

    from tests.reference.cases import randomize_keras

    arguments = {**TINY, "num_key_value_heads": 1, "tie_word_embeddings": True, **LLAMA31_ROPE}
    theirs = keras_hub.models.LlamaBackbone(**arguments)
    randomize_keras(theirs, seed=5)
    theirs.save_to_preset(str(tmp_path / "theirs"))
    # keras-hub's config leaves `tie_word_embeddings` out; the weights are tied.
    ours = _from_keras_hub_files("theirs", tmp_path, tie_word_embeddings=True)
    inputs = _left_padded(TINY["vocabulary_size"])
    expected = _outputs(theirs, inputs)
    assert np.abs(_outputs(ours, inputs) - expected).max() <= 1e-5


def test_our_presets_load_in_keras_hub(tiny: LlamaBackbone, tmp_path: Path) -> None:
    import keras_hub

    tiny.save_to_preset(tmp_path / "ours")
    config = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert config["registered_name"] == "keras_hub>LlamaBackbone"
    theirs = keras_hub.models.Backbone.from_preset(str(tmp_path / "ours"))
    assert type(theirs).__name__ == "LlamaBackbone"
    io = reference_io("keras_hub_tiny_llama")
    assert reference_error(_outputs(theirs, reference_inputs(io)), io) <= 1e-5
    assert Backbone.from_preset(tmp_path / "ours").get_config() == tiny.get_config()


def test_llama3_backbone_configs_build_llama_backbone(tmp_path: Path) -> None:
    preset = Path(shutil.copytree(FIXTURES / "keras_hub_tiny_llama", tmp_path / "llama3"))
    config = json.loads((preset / "config.json").read_text())
    config |= {
        "module": "keras_hub.src.models.llama3.llama3_backbone",
        "class_name": "Llama3Backbone",
        "registered_name": "keras_hub>Llama3Backbone",
    }
    (preset / "config.json").write_text(json.dumps(config))
    backbone = Backbone.from_preset(preset)
    assert isinstance(backbone, LlamaBackbone)
    io = reference_io("keras_hub_tiny_llama")
    assert reference_error(_outputs(backbone, reference_inputs(io)), io) <= 1e-5


# === Graph behaviour ===


def test_grouped_query_attention_shares_each_key_value_head(tiny: LlamaBackbone) -> None:
    # Two key/value heads serve query heads (0, 1) and (2, 3): the same model with
    # four key/value heads, each a copy of its group's, computes the same.
    full = LlamaBackbone.from_config({**tiny.get_config(), "num_key_value_heads": 4})
    for mine, theirs in zip(full.weights, tiny.weights, strict=True):
        value = keras.ops.convert_to_numpy(theirs)
        if tuple(mine.shape) != value.shape:  # key and value kernels: (hidden, heads, size)
            value = np.repeat(value, 2, axis=1)
        mine.assign(value)
    inputs = _left_padded(97)
    np.testing.assert_allclose(_outputs(full, inputs), _outputs(tiny, inputs), atol=1e-5)


def test_padded_tokens_change_nothing_that_is_kept(tiny: LlamaBackbone) -> None:
    inputs = _left_padded(97)
    changed = {**inputs, "token_ids": np.where(inputs["padding_mask"] == 1, inputs["token_ids"], 7)}
    kept = inputs["padding_mask"].astype(bool)
    before, after = _outputs(tiny, inputs), _outputs(tiny, changed)
    np.testing.assert_allclose(before[kept], after[kept], atol=1e-6)
    # Without the mask the first row's padded keys would count.
    unmasked = {**inputs, "padding_mask": np.ones_like(inputs["padding_mask"])}
    again = {**changed, "padding_mask": unmasked["padding_mask"]}
    assert not np.allclose(_outputs(tiny, unmasked)[0, 2:], _outputs(tiny, again)[0, 2:])


def test_llama31_rope_frequencies_are_keras_hubs_and_transformers() -> None:
    from keras_hub.src.models.llama.llama_rotary_embedding import (
        LlamaRotaryEmbedding as KerasHubRotary,
    )

    ours = LlamaRotaryEmbedding(
        max_wavelength=500000,
        frequency_adjustment_factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        pretraining_sequence_length=256,
    )
    theirs = KerasHubRotary(
        max_wavelength=500000,
        frequency_adjustment_factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        pretraining_sequence_length=256,
    )
    actual = keras.ops.convert_to_numpy(ours.inverse_frequencies(8))
    np.testing.assert_allclose(actual, keras.ops.convert_to_numpy(theirs._get_inverse_freq(8)))
    # transformers' `_compute_llama3_parameters`, in float64: the first pair is
    # unchanged, the second interpolated, the last two divided by the factor.
    plain = 500000.0 ** -(np.arange(0, 8, 2) / 8)
    smooth = (256 / (2 * np.pi / plain[1]) - 1.0) / (4.0 - 1.0)
    expected = [plain[0], (1 - smooth) * plain[1] / 8 + smooth * plain[1], *(plain[2:] / 8)]
    np.testing.assert_allclose(actual, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["bfloat16", "mixed_bfloat16"])
def test_half_precision(dtype: str) -> None:
    import keras_hub

    backbone = Backbone.from_preset(FIXTURES / "keras_hub_tiny_llama", dtype=dtype)
    variable_dtype = "float32" if dtype.startswith("mixed") else "bfloat16"
    assert {w.dtype for w in backbone.weights} == {variable_dtype}
    io = reference_io("keras_hub_tiny_llama")
    outputs = backbone(reference_inputs(io))
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    # Norms, softmax and SiLU in float32 keep half precision close, and rounding
    # where keras-hub rounds gives keras-hub's numbers (the same bits on TensorFlow).
    outputs = np.asarray(keras.ops.cast(outputs, "float32"))
    assert reference_error(outputs, io) < 0.1
    theirs = keras_hub.models.Backbone.from_preset(
        str(FIXTURES / "keras_hub_tiny_llama"), dtype=dtype
    )
    np.testing.assert_allclose(outputs, _outputs(theirs, reference_inputs(io)), atol=0.02)


def test_loading_draws_no_random_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a random initializer ran while weights were to be loaded")

    monkeypatch.setattr(keras.initializers.RandomNormal, "__call__", refuse)
    monkeypatch.setattr(keras.random, "normal", refuse)
    with skipped_initializers():
        backbone = LlamaBackbone(**TINY)
    for weight in backbone.weights:
        value = keras.ops.convert_to_numpy(weight)
        fill = 1.0 if weight.path.endswith("scale") else 0.0
        assert np.all(value == fill), weight.path


def test_config_round_trips_through_json(tiny: LlamaBackbone) -> None:
    config = json.loads(json.dumps(tiny.get_config()))
    # keras-hub's own keys, and the one it leaves out.
    assert set(config) == set(_keras_hub_config("keras_hub_tiny_llama")) | {"tie_word_embeddings"}
    assert LlamaBackbone.from_config(config).get_config() == tiny.get_config()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_key_value_heads": 3}, "divisible by `num_key_value_heads`"),
        ({"hidden_dim": 12, "num_query_heads": 4}, "must be even"),
        ({"hidden_dim": 18}, "divisible by `num_query_heads`"),
        ({"num_layers": 0}, "`num_layers` must be a positive integer"),
        ({"rope_position_scaling_factor": 2.0}, "rope_position_scaling_factor=2.0"),
        ({"rope_low_freq_factor": 1.0}, "Llama 3.1 rope scaling needs all"),
        ({**LLAMA31_ROPE, "rope_high_freq_factor": 0}, "`rope_high_freq_factor` must be"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings='yes'"),
        ({"layer_norm_epsilon": -1.0}, "`layer_norm_epsilon` must be"),
        ({"dropout": 1.0}, "`dropout` must be"),
    ],
)
def test_arguments_are_checked(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SPEC.check_arguments({**TINY, **change})
    with pytest.raises(ValueError, match=message):
        LlamaBackbone(**{**TINY, **change})


def test_spec_refuses_unknown_and_missing_arguments() -> None:
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['num_heads'\]"):
        SPEC.check_arguments({**TINY, "num_heads": 4})
    with pytest.raises(ValueError, match=r"missing required argument\(s\) \['hidden_dim'\]"):
        SPEC.check_arguments({k: v for k, v in TINY.items() if k != "hidden_dim"})


def test_spec_imports_no_keras() -> None:
    probe = (
        "import sys, registry.architectures.llama.spec as spec\n"
        "assert spec.SPEC.class_name == 'LlamaBackbone'\n"
        "heavy = {'keras', 'tensorflow', 'torch', 'jax'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True)


# === transformers checkpoints ===


def _hf_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((FIXTURES / name / "config.json").read_text())
    return config


def _tensors(name: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    stored = load_file(FIXTURES / name / "model.safetensors")
    return {key.removeprefix("model."): value for key, value in stored.items()}


def _converted(name: str) -> LlamaBackbone:
    """The checkpoint through `convert` alone: its arguments, then its table."""
    tensors = _tensors(name)
    shapes = {key: value.shape for key, value in tensors.items()}
    arguments = convert.arguments(FIXTURES / name / "config.json", _hf_config(name), shapes)
    backbone = LlamaBackbone(**arguments)
    variables = {path: v for entry in layout(backbone) for path, v in entry.dataset_paths()}
    rows = convert.table(arguments)
    assert SPEC.transformers is not None
    assert {row.key for row in rows} == {k for k in tensors if not SPEC.transformers.is_ignored(k)}
    for row in rows:
        for target, value in zip(row.targets, row.transform(tensors[row.key]), strict=True):
            variables[target].assign(np.reshape(value, variables[target].shape))
    assert set(variables) == {target for row in rows for target in row.targets}
    return backbone


@pytest.mark.parametrize("name", ["hf_tiny_llama", "hf_odd_llama"])
def test_table_matches_the_checkpoints_headers(name: str) -> None:
    from safetensors import safe_open

    with safe_open(FIXTURES / name / "model.safetensors", framework="numpy") as file:
        headers = {
            key.removeprefix("model."): tuple(file.get_slice(key).get_shape())
            for key in file.keys()  # noqa: SIM118
        }
    arguments = convert.arguments(FIXTURES / name / "config.json", _hf_config(name), headers)
    assert {row.key: row.shape for row in convert.table(arguments)} == headers
    assert arguments["tie_word_embeddings"] is _hf_config(name)["tie_word_embeddings"]
    h5_targets = [target for row in convert.table(arguments) for target in row.targets]
    assert sorted(h5_targets) == sorted(SPEC.h5_shapes(arguments))


@pytest.mark.parametrize("name", ["hf_tiny_llama", "hf_odd_llama"])
def test_converted_checkpoints_reproduce_transformers(name: str) -> None:
    io = reference_io(name)
    assert reference_error(_outputs(_converted(name), reference_inputs(io)), io) <= 1e-5
    loaded = Backbone.from_preset(FIXTURES / name)
    assert isinstance(loaded, LlamaBackbone)
    assert reference_error(_outputs(loaded, reference_inputs(io)), io) <= 1e-5


def test_rope_settings_of_transformers_4_and_5_agree() -> None:
    path, config = FIXTURES / "hf_odd_llama" / "config.json", _hf_config("hf_odd_llama")
    shapes = {key: value.shape for key, value in _tensors("hf_odd_llama").items()}
    version_5 = convert.arguments(path, config, shapes)
    rope = dict(config.pop("rope_parameters"))
    config |= {"rope_theta": rope.pop("rope_theta"), "rope_scaling": rope}
    assert convert.arguments(path, config, shapes) == version_5
    assert version_5["rope_frequency_adjustment_factor"] == 8.0
    assert version_5["rope_pretraining_sequence_length"] == 256
    assert version_5["rope_max_wavelength"] == 500000.0


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"hidden_act": "gelu"}, PresetFormatError, "hidden_act='gelu'"),
        ({"attention_bias": True}, PresetFormatError, "attention_bias=True"),
        ({"mlp_bias": True}, PresetFormatError, "mlp_bias=True"),
        ({"head_dim": 16}, PresetFormatError, "head_dim=16"),
        ({"rope_parameters": {"rope_type": "yarn", "factor": 2.0}}, PresetFormatError, "yarn"),
        ({"rope_scaling": {"type": "linear", "factor": 2.0}}, PresetFormatError, "linear"),
        ({"rope_parameters": {"rope_type": "llama3"}}, PresetFormatError, "without"),
        ({"partial_rotary_factor": 0.5}, PresetFormatError, "partial_rotary_factor"),
        ({"num_key_value_heads": 4}, WeightsMismatchError, "4 key/value heads"),
        ({"hidden_size": 64}, WeightsMismatchError, "hidden_size=64"),
        ({"num_hidden_layers": 3}, WeightsMismatchError, "num_hidden_layers=3"),
    ],
)
def test_unsupported_checkpoints_are_refused(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    config = {**_hf_config("hf_tiny_llama"), **change}
    shapes = {key: value.shape for key, value in _tensors("hf_tiny_llama").items()}
    with pytest.raises(error, match=message):
        convert.arguments(FIXTURES / "hf_tiny_llama" / "config.json", config, shapes)


def test_a_llama_model_checkpoint_converts_tied() -> None:
    # A LlamaModel (or a tied LlamaForCausalLM) has no head: nothing to copy.
    shapes = {k: v.shape for k, v in _tensors("hf_tiny_llama").items() if k != "lm_head.weight"}
    path = FIXTURES / "hf_tiny_llama" / "config.json"
    arguments = convert.arguments(path, _hf_config("hf_tiny_llama"), shapes)
    assert arguments["tie_word_embeddings"] is True
    assert "lm_head.weight" not in {row.key for row in convert.table(arguments)}
