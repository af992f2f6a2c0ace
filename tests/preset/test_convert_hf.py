"""Hugging Face transformers GPT-2 checkpoints converted on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from registry import Backbone, GPT2Backbone
from registry.errors import (
    PresetFileMissingError,
    PresetFormatError,
    UnsafePresetError,
    WeightsMismatchError,
)
from tests.conftest import edit_json, reference_error, reference_inputs, reference_io
from tests.preset.gpt2_reference import gpt2_forward

IO = reference_io("hf_tiny_gpt2")
KEPT = IO["input_padding_mask"].astype(bool)  # transformers' padded rows are its own business


def _unpadded(token_ids: np.ndarray) -> dict[str, np.ndarray]:
    return {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}


def _assert_matches_transformers(backbone: Backbone, name: str = "hf_tiny_gpt2") -> None:
    io = reference_io(name)
    inputs = {"token_ids": io["input_token_ids"], "padding_mask": io["input_padding_mask"]}
    kept = io["input_padding_mask"].astype(bool)
    outputs = np.asarray(backbone(inputs))
    np.testing.assert_allclose(
        outputs[kept], io["expected_last_hidden_state"][kept], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("name", ["hf_tiny_gpt2", "hf_odd_gpt2"])
def test_transformers_fixtures_reproduce_their_output(fixtures: Path, name: str) -> None:
    backbone = Backbone.from_preset(fixtures / name)
    assert type(backbone) is GPT2Backbone
    _assert_matches_transformers(backbone, name)


def test_numpy_reference_reproduces_transformers(fixtures: Path) -> None:
    tensors = load_file(fixtures / "hf_tiny_gpt2/model.safetensors")
    n_head = json.loads((fixtures / "hf_tiny_gpt2/config.json").read_text())["n_head"]
    outputs = gpt2_forward(tensors, n_head, IO["input_token_ids"], IO["input_padding_mask"])
    np.testing.assert_allclose(outputs[KEPT], IO["expected_last_hidden_state"][KEPT], atol=1e-5)


def test_dimensions_come_from_the_checkpoint(fixtures: Path, hf_preset: Path) -> None:
    config = json.loads((hf_preset / "config.json").read_text())
    backbone = GPT2Backbone.from_preset(hf_preset)
    tensors = load_file(hf_preset / "model.safetensors")
    assert backbone.vocabulary_size == config["vocab_size"]
    assert backbone.hidden_dim == config["n_embd"]
    assert backbone.num_layers == config["n_layer"]
    assert backbone.max_sequence_length == config["n_positions"]
    assert backbone.intermediate_dim == tensors["h.0.mlp.c_fc.weight"].shape[1]


def _with_intermediate(directory: Path, width: int, *, declare: bool) -> dict[str, np.ndarray]:
    """Rewrite the checkpoint with a feedforward `width` that is not 4 x n_embd."""
    rng = np.random.default_rng(width)
    tensors = load_file(directory / "model.safetensors")
    hidden = tensors["wte.weight"].shape[1]
    for key in [k for k in tensors if ".mlp." in k]:
        shape = {
            "c_fc.weight": (hidden, width),
            "c_fc.bias": (width,),
            "c_proj.weight": (width, hidden),
            "c_proj.bias": (hidden,),
        }[key.split(".mlp.")[1]]
        tensors[key] = rng.normal(0, 0.2, shape).astype("float32")
    save_file(tensors, directory / "model.safetensors")
    edit_json(
        directory / "config.json",
        lambda c: c.update(n_inner=width if declare else None),
    )
    return tensors


@pytest.mark.parametrize(("width", "declare"), [(40, True), (40, False), (200, True)])
def test_any_intermediate_width_converts(hf_preset: Path, width: int, declare: bool) -> None:
    tensors = _with_intermediate(hf_preset, width, declare=declare)
    token_ids = IO["input_token_ids"]
    backbone = GPT2Backbone.from_preset(hf_preset)
    assert backbone.intermediate_dim == width
    expected = gpt2_forward(tensors, backbone.num_heads, token_ids)
    np.testing.assert_allclose(np.asarray(backbone(_unpadded(token_ids))), expected, atol=1e-5)


def test_lm_head_checkpoints_convert(hf_preset: Path) -> None:
    # GPT2LMHeadModel saves under "transformer." and may include the tied head.
    tensors = load_file(hf_preset / "model.safetensors")
    renamed = {f"transformer.{k}": v for k, v in tensors.items()}
    renamed["lm_head.weight"] = tensors["wte.weight"]
    save_file(renamed, hf_preset / "model.safetensors")
    _assert_matches_transformers(GPT2Backbone.from_preset(hf_preset))


def test_sharded_safetensors_convert(hf_preset: Path) -> None:
    tensors = load_file(hf_preset / "model.safetensors")
    (hf_preset / "model.safetensors").unlink()
    keys = sorted(tensors)
    shards = {
        "model-00001-of-00002.safetensors": keys[::2],
        "model-00002-of-00002.safetensors": keys[1::2],
    }
    weight_map = {}
    for name, shard_keys in shards.items():
        save_file({k: tensors[k] for k in shard_keys}, hf_preset / name)
        weight_map.update(dict.fromkeys(shard_keys, name))
    (hf_preset / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    _assert_matches_transformers(GPT2Backbone.from_preset(hf_preset))


def test_pickle_checkpoints_are_refused_unopened(hf_preset: Path) -> None:
    (hf_preset / "model.safetensors").unlink()
    # Not even a valid pickle: the loader must refuse it by name, never open it.
    (hf_preset / "pytorch_model.bin").write_bytes(b"\x80\x04 not to be unpickled")
    with pytest.raises(UnsafePresetError, match=r"pytorch_model\.bin.*pickle.*safetensors"):
        GPT2Backbone.from_preset(hf_preset)


def test_missing_weights(hf_preset: Path) -> None:
    (hf_preset / "model.safetensors").unlink()
    with pytest.raises(PresetFileMissingError, match=r"model.safetensors"):
        GPT2Backbone.from_preset(hf_preset)


def test_truncated_safetensors(hf_preset: Path) -> None:
    path = hf_preset / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(PresetFormatError, match=r"model.safetensors.*truncated or corrupted"):
        GPT2Backbone.from_preset(hf_preset)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("activation_function", "relu", "activation_function='relu'"),
        ("scale_attn_by_inverse_layer_idx", True, "scale_attn_by_inverse_layer_idx"),
        ("model_type", "t5", "model_type='t5', which no allowed architecture converts"),
    ],
)
def test_unsupported_variants_are_refused(
    hf_preset: Path, field: str, value: object, message: str
) -> None:
    edit_json(hf_preset / "config.json", lambda c: c.update({field: value}))
    with pytest.raises(PresetFormatError, match=message):
        GPT2Backbone.from_preset(hf_preset)


def test_config_disagreeing_with_weights(hf_preset: Path) -> None:
    edit_json(hf_preset / "config.json", lambda c: c.update(n_embd=64))
    with pytest.raises(WeightsMismatchError, match="n_embd=64, but the weights have 32"):
        GPT2Backbone.from_preset(hf_preset)


def test_unknown_tensors_are_refused(hf_preset: Path) -> None:
    tensors = load_file(hf_preset / "model.safetensors")
    tensors["h.0.attn.extra.weight"] = np.zeros((2, 2), dtype="float32")
    save_file(tensors, hf_preset / "model.safetensors")
    with pytest.raises(WeightsMismatchError, match=r"unknown `h\.0\.attn\.extra\.weight`"):
        GPT2Backbone.from_preset(hf_preset)


def test_inconsistent_block_shapes_are_refused(hf_preset: Path) -> None:
    tensors = load_file(hf_preset / "model.safetensors")
    tensors["h.1.mlp.c_fc.weight"] = np.zeros((32, 10), dtype="float32")
    save_file(tensors, hf_preset / "model.safetensors")
    with pytest.raises(WeightsMismatchError, match=r"h\.1\.mlp\.c_fc\.weight.*does not fit"):
        GPT2Backbone.from_preset(hf_preset)


def _save_bfloat16(tensors: dict[str, np.ndarray], path: Path) -> None:
    """A safetensors file of bfloat16 tensors (numpy's writer has no bfloat16)."""
    import ml_dtypes

    header: dict[str, object] = {}
    data = bytearray()
    for key, value in tensors.items():
        raw = value.astype(ml_dtypes.bfloat16).tobytes()
        header[key] = {"dtype": "BF16", "shape": list(value.shape),
                       "data_offsets": [len(data), len(data) + len(raw)]}  # fmt: skip
        data += raw
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + bytes(data))


@pytest.mark.parametrize("name", ["hf_tiny_gpt2", "hf_tiny_bert", "hf_tiny_gemma", "hf_tiny_llama"])
@pytest.mark.parametrize("stored", ["float16", "bfloat16"])
def test_half_precision_checkpoints_load_into_the_requested_dtype(
    fixtures: Path, tmp_path: Path, name: str, stored: str
) -> None:
    checkpoint = Path(shutil.copytree(fixtures / name, tmp_path / name))
    tensors = load_file(checkpoint / "model.safetensors")
    if stored == "float16":
        save_file(
            {k: v.astype("float16") for k, v in tensors.items()}, checkpoint / "model.safetensors"
        )
    else:
        _save_bfloat16(tensors, checkpoint / "model.safetensors")
    io = reference_io(name)
    for dtype, tolerance in (("float32", 0.05), ("bfloat16", 0.3)):
        backbone = Backbone.from_preset(checkpoint, dtype=dtype)
        assert {v.dtype for v in backbone.weights} == {dtype}
        outputs = keras.tree.map_structure(
            lambda x: np.asarray(keras.ops.cast(x, "float32")),
            backbone(reference_inputs(io), training=False),
        )
        # The weights lost precision on the way, so the outputs are close, not equal.
        assert reference_error(outputs, io) < tolerance
