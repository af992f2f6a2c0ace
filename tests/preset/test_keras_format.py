"""keras-hub's preset format: the fixture, round trips, both ways with keras-hub."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from registry import Backbone, GPT2Backbone
from registry.preset.manifest import read_manifest, verify_directory
from registry.preset.weights_h5 import layout
from tests.conftest import TINY, tiny_inputs


def _datasets(path: Path) -> dict[str, tuple[int, ...]]:
    found: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, obj: (
                found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return found


def test_keras_hub_fixture_reproduces_its_output(
    fixtures: Path, keras_hub_inputs: dict, keras_hub_expected: np.ndarray
) -> None:
    backbone = Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")
    assert type(backbone) is GPT2Backbone
    outputs = np.asarray(backbone(keras_hub_inputs, training=False))
    np.testing.assert_allclose(outputs, keras_hub_expected, atol=1e-5, rtol=0)
    metadata = json.loads((fixtures / "keras_hub_tiny_gpt2/metadata.json").read_text())
    assert backbone.count_params() == metadata["parameter_count"]


def test_variable_paths_are_keras_hubs(fixtures: Path, tmp_path: Path) -> None:
    backbone = GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")
    backbone.save_to_preset(tmp_path)
    assert _datasets(tmp_path / "model.weights.h5") == _datasets(
        fixtures / "keras_hub_tiny_gpt2/model.weights.h5"
    )


def test_layout_matches_keras_own_saver(tmp_path: Path) -> None:
    # Keras's saver walks our object tree; it must agree with our layout table.
    backbone = GPT2Backbone(**TINY)
    backbone.save_weights(tmp_path / "keras.weights.h5")
    ours = {name: tuple(v.shape) for entry in layout(backbone) for name, v in entry.dataset_paths()}
    assert _datasets(tmp_path / "keras.weights.h5") == ours


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    keras.utils.set_random_seed(7)
    original = GPT2Backbone(**TINY, dropout=0.0)
    original.save_to_preset(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json",
        "manifest.json",
        "metadata.json",
        "model.weights.h5",
    ]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["registered_name"] == "keras_hub>GPT2Backbone"
    assert config["config"] == json.loads(json.dumps(original.get_config()))
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["parameter_count"] == original.count_params()
    assert verify_directory(tmp_path, read_manifest(tmp_path)).ok

    loaded = GPT2Backbone.from_preset(tmp_path)
    assert loaded.get_config() == original.get_config()
    for ours, theirs in zip(loaded.weights, original.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_save_keeps_other_files_and_lists_them(keras_hub_preset: Path) -> None:
    backbone = GPT2Backbone.from_preset(keras_hub_preset)
    backbone.save_to_preset(keras_hub_preset)
    paths = {entry.path for entry in read_manifest(keras_hub_preset).files}
    assert "tokenizer.json" in paths
    assert "assets/tokenizer/vocabulary.json" in paths
    assert not [p for p in keras_hub_preset.rglob(".*.tmp")]


def test_bfloat16_weights_round_trip(tmp_path: Path) -> None:
    keras.utils.set_random_seed(5)
    original = GPT2Backbone(**TINY, dtype="bfloat16")
    original.save_to_preset(tmp_path)
    loaded = GPT2Backbone.from_preset(tmp_path)
    assert loaded.dtype_policy.name == "bfloat16"
    for ours, theirs in zip(loaded.weights, original.weights, strict=True):
        assert ours.dtype == "bfloat16"
        np.testing.assert_array_equal(
            np.asarray(ours, dtype="float32"), np.asarray(theirs, dtype="float32")
        )


def test_dtype_override(
    fixtures: Path, keras_hub_inputs: dict, keras_hub_expected: np.ndarray
) -> None:
    backbone = GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2", dtype="mixed_bfloat16")
    assert backbone.dtype_policy.name == "mixed_bfloat16"
    outputs = np.asarray(backbone(keras_hub_inputs), dtype="float32")
    np.testing.assert_allclose(outputs, keras_hub_expected, atol=0.1)


def test_load_weights_false_builds_fresh_weights(fixtures: Path) -> None:
    fresh = GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2", load_weights=False)
    loaded = GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")
    kernel = np.asarray(fresh.token_embedding.embeddings)
    assert np.std(kernel) > 0  # randomly initialized, not zeros
    assert not np.allclose(kernel, np.asarray(loaded.token_embedding.embeddings))


def test_loading_skips_random_initializers(fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a random initializer ran while loading weights")

    monkeypatch.setattr(keras.initializers.RandomNormal, "__call__", refuse)
    GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")


def test_weights_file_is_read_once(fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def counting(self: h5py.Dataset, key: object) -> object:
        reads.append(self.name)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")
    assert (
        len(reads)
        == len(set(reads))
        == len(_datasets(fixtures / "keras_hub_tiny_gpt2/model.weights.h5"))
    )


def test_keras_hub_loads_what_we_write(tmp_path: Path) -> None:
    import keras_hub

    keras.utils.set_random_seed(11)
    ours = GPT2Backbone(**TINY)
    ours.save_to_preset(tmp_path)
    theirs = keras_hub.models.GPT2Backbone.from_preset(str(tmp_path))
    inputs = tiny_inputs()
    np.testing.assert_allclose(
        np.asarray(theirs(inputs)), np.asarray(ours(inputs)), atol=1e-5, rtol=0
    )


def test_we_load_what_keras_hub_writes(tmp_path: Path) -> None:
    import keras_hub

    keras.utils.set_random_seed(13)
    theirs = keras_hub.models.GPT2Backbone(**TINY)
    theirs.save_to_preset(str(tmp_path))
    ours = Backbone.from_preset(tmp_path)
    inputs = tiny_inputs()
    np.testing.assert_allclose(
        np.asarray(ours(inputs)), np.asarray(theirs(inputs)), atol=1e-5, rtol=0
    )


def test_direct_loading_gives_the_same_weights(
    fixtures: Path,
    monkeypatch: pytest.MonkeyPatch,
    keras_hub_inputs: dict,
    keras_hub_expected: np.ndarray,
) -> None:
    from registry.preset import weights_h5

    monkeypatch.setattr(weights_h5, "DIRECT_BYTES", 1024)  # read every large-ish tensor in place
    backbone = GPT2Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")
    outputs = np.asarray(backbone(keras_hub_inputs))
    np.testing.assert_allclose(outputs, keras_hub_expected, atol=1e-5, rtol=0)
    if keras.backend.backend() == "tensorflow":
        embedding = backbone.token_embedding.embeddings
        # Written into the variable's own memory, which a read still shares: the
        # variable is not in copy-on-read mode.
        view = weights_h5.variable_buffer(embedding)
        assert view is not None and np.shares_memory(view, embedding.value.read_value()._numpy())
