"""Validating presets as data: shapes from the config, no Keras, no tensor read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.architectures.gpt2.backbone import GPT2Backbone
from registry.architectures.gpt2.spec import SPEC as GPT2
from registry.errors import PresetFormatError, UnsafePresetError, WeightsMismatchError
from registry.preset.convert_hf import open_checkpoint
from registry.preset.validate import inspect_preset
from registry.preset.weights_h5 import layout

REPO = Path(__file__).resolve().parents[2]


@settings(max_examples=8, deadline=None)
@given(
    layers=st.integers(1, 3),
    heads=st.sampled_from([1, 2, 4]),
    head_dim=st.integers(1, 5),
    intermediate=st.integers(1, 20),
    vocabulary=st.integers(1, 40),
    positions=st.integers(1, 16),
)
def test_h5_shapes_match_the_built_model(
    layers: int, heads: int, head_dim: int, intermediate: int, vocabulary: int, positions: int
) -> None:
    arguments = {
        "vocabulary_size": vocabulary,
        "num_layers": layers,
        "num_heads": heads,
        "hidden_dim": heads * head_dim,
        "intermediate_dim": intermediate,
        "max_sequence_length": positions,
    }
    model = GPT2Backbone(**arguments)
    built = {
        path: tuple(variable.shape)
        for entry in layout(model)
        for path, variable in entry.dataset_paths()
    }
    assert GPT2.h5_shapes(arguments) == built
    assert GPT2.parameter_count(arguments) == model.count_params()


def test_transformers_shapes_match_the_fixture(hf_preset: Path) -> None:
    facts = inspect_preset(hf_preset)
    assert GPT2.transformers is not None
    checkpoint = open_checkpoint(hf_preset, GPT2.transformers)
    expected = {row.key: row.shape for row in GPT2.transformers.table(facts.arguments)}
    assert {k: v for k, v in checkpoint.shapes.items() if k in expected} == expected


def test_parameter_counts_agree_with_loaded_models(keras_hub_preset: Path, hf_preset: Path) -> None:
    for preset in (keras_hub_preset, hf_preset):
        assert inspect_preset(preset).parameter_count == (
            GPT2Backbone.from_preset(str(preset)).count_params()
        )


def test_validation_imports_no_keras() -> None:
    code = (
        "import sys; from pathlib import Path; from registry.preset.validate import inspect_preset;"
        "inspect_preset(Path('registry/data/gpt2_tiny_demo'));"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_mis_shaped_dataset_is_refused_before_reading(keras_hub_preset: Path) -> None:
    weights = keras_hub_preset / "model.weights.h5"
    with h5py.File(weights, "a") as file:
        name = "layers/position_embedding/vars/0"
        del file[name]
        file.create_dataset(name, shape=(65, 32), dtype="float32")
    with pytest.raises(WeightsMismatchError, match=r"position_embedding.*\(65, 32\)"):
        inspect_preset(keras_hub_preset)


def test_extra_dataset_is_refused(keras_hub_preset: Path) -> None:
    with h5py.File(keras_hub_preset / "model.weights.h5", "a") as file:
        file.create_dataset("layers/extra/vars/0", shape=(2,), dtype="float32")
    with pytest.raises(WeightsMismatchError, match="layers/extra/vars/0"):
        inspect_preset(keras_hub_preset)


def test_truncated_h5_is_refused(keras_hub_preset: Path) -> None:
    weights = keras_hub_preset / "model.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(PresetFormatError, match=r"model\.weights\.h5"):
        inspect_preset(keras_hub_preset)


def test_unknown_argument_is_refused(keras_hub_preset: Path) -> None:
    config_path = keras_hub_preset / "config.json"
    config = json.loads(config_path.read_text())
    config["config"]["num_experts"] = 8
    config_path.write_text(json.dumps(config))
    with pytest.raises(PresetFormatError, match="num_experts"):
        inspect_preset(keras_hub_preset)


@pytest.mark.parametrize("name", ["model.pt", "pytorch_model.bin", "weights.pkl"])
def test_pickles_are_refused(keras_hub_preset: Path, name: str) -> None:
    (keras_hub_preset / name).write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UnsafePresetError, match="safetensors"):
        inspect_preset(keras_hub_preset)


def test_foreign_file_types_are_refused(keras_hub_preset: Path) -> None:
    (keras_hub_preset / "run.py").write_text("import os")
    with pytest.raises(UnsafePresetError, match="not a file a preset holds"):
        inspect_preset(keras_hub_preset)
