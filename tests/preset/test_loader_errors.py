"""Every refusal of a keras-format preset: a clear error from registry.errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from registry import Backbone, GPT2Backbone
from registry.errors import (
    InvalidHandleError,
    PresetFileMissingError,
    PresetFormatError,
    PresetNotFoundError,
    RegistryError,
    SourceError,
    UnsafePresetError,
    UnsupportedArchitectureError,
    WeightsMismatchError,
)
from tests.conftest import edit_json


def test_unknown_preset_lists_every_accepted_form(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidHandleError, match=r"catalog name.*kaggle://.*hf://.*local directory"
    ):
        Backbone.from_preset("not a name!")
    with pytest.raises(PresetNotFoundError, match="absent does not exist"):
        Backbone.from_preset(tmp_path / "absent")
    with pytest.raises(LookupError, match="No preset keras/nothing_like_it in the catalog"):
        Backbone.from_preset("nothing_like_it")


def test_builtin_name_points_at_its_kaggle_handle() -> None:
    # No Kaggle here: the error names the preset and the handle it syncs from.
    with pytest.raises(
        SourceError,
        match=r"keras/gpt2_medium_en is not in the store yet.*kaggle://keras/gpt2/keras/gpt2_medium_en/3",
    ):
        GPT2Backbone.from_preset("gpt2_medium_en")


@pytest.mark.parametrize("handle", ["hf://openai/gpt2", "kaggle://keras/gpt2/keras/x/3"])
def test_remote_handles_say_what_to_do(handle: str) -> None:
    with pytest.raises(SourceError, match=r"could not be reached to download .*REGISTRY_OFFLINE=1"):
        Backbone.from_preset(handle)


def test_file_url_and_relative_paths(
    keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(GPT2Backbone.from_preset(f"file://{keras_hub_preset}"), GPT2Backbone)
    monkeypatch.chdir(keras_hub_preset.parent)
    assert isinstance(GPT2Backbone.from_preset(keras_hub_preset.name), GPT2Backbone)


def test_missing_config(keras_hub_preset: Path) -> None:
    (keras_hub_preset / "config.json").unlink()
    with pytest.raises(PresetFileMissingError, match=r"config.json: does not exist"):
        Backbone.from_preset(keras_hub_preset)


def test_missing_weights(keras_hub_preset: Path) -> None:
    (keras_hub_preset / "model.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.weights\.h5.*load_weights=False"):
        Backbone.from_preset(keras_hub_preset)
    assert isinstance(Backbone.from_preset(keras_hub_preset, load_weights=False), GPT2Backbone)


def test_truncated_weights(keras_hub_preset: Path) -> None:
    path = keras_hub_preset / "model.weights.h5"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(PresetFormatError, match=r"model\.weights\.h5: cannot be read as HDF5"):
        Backbone.from_preset(keras_hub_preset)


def test_shape_mismatch_names_the_dataset(keras_hub_preset: Path) -> None:
    edit_json(
        keras_hub_preset / "config.json",
        lambda c: c["config"].update(intermediate_dim=48),
    )
    with pytest.raises(
        WeightsMismatchError,
        match=r"intermediate_dense/vars/0` has shape \(32, 64\).*\(32, 48\)",
    ):
        Backbone.from_preset(keras_hub_preset)


def test_missing_layers(keras_hub_preset: Path) -> None:
    edit_json(keras_hub_preset / "config.json", lambda c: c["config"].update(num_layers=3))
    with pytest.raises(WeightsMismatchError, match="missing, first `layers/transformer_decoder_2/"):
        Backbone.from_preset(keras_hub_preset)


def test_unknown_datasets(keras_hub_preset: Path) -> None:
    with h5py.File(keras_hub_preset / "model.weights.h5", "a") as file:
        file["layers/reversible_embedding/vars/1"] = np.zeros((283, 32), dtype="float32")
    with pytest.raises(WeightsMismatchError, match=r"match no weight.*reversible_embedding/vars/1"):
        Backbone.from_preset(keras_hub_preset)


def test_non_float_datasets(keras_hub_preset: Path) -> None:
    with h5py.File(keras_hub_preset / "model.weights.h5", "a") as file:
        del file["layers/layer_normalization/vars/0"]
        file["layers/layer_normalization/vars/0"] = np.zeros((32,), dtype="int64")
    with pytest.raises(WeightsMismatchError, match="holds int64"):
        Backbone.from_preset(keras_hub_preset)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"[1, 2]", "holds a JSON list"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32"),
        (b"{}", "neither a Keras config"),
    ],
)
def test_malformed_configs(keras_hub_preset: Path, content: bytes, message: str) -> None:
    (keras_hub_preset / "config.json").write_bytes(content)
    with pytest.raises(PresetFormatError, match=message):
        Backbone.from_preset(keras_hub_preset)


def test_oversized_config(keras_hub_preset: Path) -> None:
    edit_json(keras_hub_preset / "config.json", lambda c: c.update(padding="x" * 2_000_000))
    with pytest.raises(PresetFormatError, match="over the 1048576-byte limit"):
        Backbone.from_preset(keras_hub_preset)


def test_invalid_arguments(keras_hub_preset: Path) -> None:
    edit_json(keras_hub_preset / "config.json", lambda c: c["config"].update(num_heads=3))
    with pytest.raises(PresetFormatError, match=r"not describe a valid GPT2Backbone: .*divisible"):
        Backbone.from_preset(keras_hub_preset)


def test_unknown_override(keras_hub_preset: Path) -> None:
    with pytest.raises(PresetFormatError, match=r"keyword arguments name\(s\) \['num_expert'\]"):
        Backbone.from_preset(keras_hub_preset, num_expert=2)
    edit_json(keras_hub_preset / "config.json", lambda c: c["config"].update(rope=1))
    with pytest.raises(PresetFormatError, match=r"the config name\(s\) \['rope'\]"):
        Backbone.from_preset(keras_hub_preset)


@pytest.mark.parametrize(
    "identity",
    [
        {"registered_name": "keras_hub>BertBackbone", "class_name": "BertBackbone"},
        {"registered_name": None, "class_name": "Lambda", "module": "keras.layers"},
        {"registered_name": "os>system", "class_name": "system", "module": "os"},
        {
            "registered_name": "keras_hub>GPT2Backbone",
            "module": "tests.preset.evil_module",
        },
        {"registered_name": "keras_hub>GPT2Backbone", "class_name": "Lambda"},
    ],
)
def test_classes_outside_the_allow_list_are_refused(
    keras_hub_preset: Path, identity: dict[str, object]
) -> None:
    edit_json(keras_hub_preset / "config.json", lambda c: c.update(identity))
    with pytest.raises(UnsafePresetError, match=r"not an allowed architecture.*GPT2Backbone \("):
        Backbone.from_preset(keras_hub_preset)
    assert "tests.preset.evil_module" not in sys.modules


def test_dtype_must_be_a_plain_policy(keras_hub_preset: Path) -> None:
    evil = {"module": "builtins", "class_name": "eval", "config": {"name": "float32"}}
    edit_json(keras_hub_preset / "config.json", lambda c: c["config"].update(dtype=evil))
    with pytest.raises(UnsafePresetError, match=r"class_name=.eval., which is not an allowed"):
        Backbone.from_preset(keras_hub_preset)
    disguised = {"module": "builtins", "class_name": "DTypePolicy", "config": {"name": "x"}}
    edit_json(keras_hub_preset / "config.json", lambda c: c["config"].update(dtype=disguised))
    with pytest.raises(UnsafePresetError, match="not a plain Keras DTypePolicy"):
        Backbone.from_preset(keras_hub_preset)


def test_subclass_refuses_another_architecture(keras_hub_preset: Path) -> None:
    class OtherBackbone(Backbone):
        pass

    with pytest.raises(UnsupportedArchitectureError, match="holds a GPT2Backbone preset"):
        OtherBackbone.from_preset(keras_hub_preset)


def test_sharded_keras_weights_are_reported(keras_hub_preset: Path) -> None:
    (keras_hub_preset / "model.weights.h5").unlink()
    (keras_hub_preset / "model.weights.json").write_text(json.dumps({"weight_map": {}}))
    with pytest.raises(PresetFormatError, match="sharded weights"):
        Backbone.from_preset(keras_hub_preset)


def test_every_error_is_a_registry_error() -> None:
    for cls in (
        PresetNotFoundError,
        PresetFormatError,
        UnsafePresetError,
        WeightsMismatchError,
    ):
        assert issubclass(cls, RegistryError)


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_found_it(
    keras_hub_preset: Path, tmp_path: Path, enabled: bool
) -> None:
    # Loading pauses the collector (see loader.collector_paused); it must come
    # back as it was, after a load and after a failed one.
    import gc

    from registry.preset.loader import collector_paused

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{")
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        GPT2Backbone.from_preset(keras_hub_preset)
        assert gc.isenabled() is enabled
        with pytest.raises(PresetFormatError):
            GPT2Backbone.from_preset(broken)
        assert gc.isenabled() is enabled
        with collector_paused():
            with collector_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause still holds
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
