"""keras-hub task presets: `task.json` and `task.weights.h5` beside the backbone.

The reference `keras_hub_classifier_bert` was written by keras-hub's
`BertTextClassifier.save_to_preset` (compiled, so its task weights carry the
optimizer's step count and learning rate too).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from registry import Backbone, Registry
from registry.errors import PresetFileMissingError, UnsafePresetError, WeightsMismatchError
from registry.preset.validate import inspect_preset
from tests.conftest import FIXTURES, edit_json, reference_error, reference_inputs, reference_io

NAME = "keras_hub_classifier_bert"


@pytest.fixture()
def task_preset(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / NAME, tmp_path / NAME))


def test_a_task_preset_validates_and_its_backbone_loads_unchanged(task_preset: Path) -> None:
    assert (task_preset / "task.weights.h5").is_file()
    facts = inspect_preset(task_preset)
    assert facts.architecture == "BertBackbone"
    io = reference_io(NAME)
    outputs = Backbone.from_preset(task_preset)(reference_inputs(io), training=False)
    assert reference_error({k: np.asarray(v) for k, v in outputs.items()}, io) <= 1e-5


def test_a_task_preset_uploads_with_its_task_files(task_preset: Path, tmp_path: Path) -> None:
    registry = Registry(cache_dir=tmp_path / "home")
    published = registry.upload(task_preset, "alice/sst")
    paths = {entry.path for entry in registry.info("alice/sst").revisions[0].files}
    assert {"task.json", "task.weights.h5", "preprocessor.json"} <= paths
    assert published.preset == "alice/sst"
    registry.close()


def _rewrite_h5(path: Path, edit: object) -> None:
    with h5py.File(path, "r+") as file:
        edit(file)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("name", "change", "error", "message"),
    [
        (
            "extra dataset",
            lambda task: _rewrite_h5(
                task / "task.weights.h5",
                lambda f: f.create_dataset("layers/dense/vars/2", data=np.zeros(3, "float32")),
            ),
            WeightsMismatchError,
            "match no weight",
        ),
        (
            "head of another size",
            lambda task: edit_json(task / "task.json", lambda c: c["config"].update(num_classes=4)),
            WeightsMismatchError,
            r"shape \(16, 3\), but the config implies \(16, 4\)",
        ),
        (
            "huge optimizer slot declared in the header",
            lambda task: _rewrite_h5(
                task / "task.weights.h5",
                lambda f: f.create_dataset(
                    "optimizer/vars/9", shape=(1 << 20, 1 << 14), dtype="float32"
                ),
            ),
            WeightsMismatchError,
            "no optimizer state of this task",
        ),
        (
            "unknown task",
            lambda task: edit_json(
                task / "task.json", lambda c: c.update(registered_name="evil>Exfiltrator")
            ),
            UnsafePresetError,
            "registered_name='evil>Exfiltrator'",
        ),
        (
            "weights without task.json",
            lambda task: (task / "task.json").unlink(),
            PresetFileMissingError,
            "task.json",
        ),
    ],
)
def test_hostile_task_weights_are_refused_on_upload_and_load(
    task_preset: Path, tmp_path: Path, name: str, change: object, error: type, message: str
) -> None:
    change(task_preset)  # type: ignore[operator]
    with pytest.raises(error, match=message):
        inspect_preset(task_preset)
    with pytest.raises(error, match=message):
        Backbone.from_preset(task_preset)
    registry = Registry(cache_dir=tmp_path / "home")
    with pytest.raises(error, match=message):
        registry.upload(task_preset, "alice/evil")
    assert not any((tmp_path / "home").rglob("task.weights.h5"))
    registry.close()


def test_task_weights_on_an_architecture_without_tasks(tmp_path: Path) -> None:
    gpt2 = Path(shutil.copytree(FIXTURES / "keras_hub_tiny_gpt2", tmp_path / "gpt2"))
    shutil.copy(FIXTURES / NAME / "task.weights.h5", gpt2)
    (gpt2 / "task.json").write_text(json.dumps({"registered_name": "keras_hub>GPT2CausalLM"}))
    with pytest.raises(UnsafePresetError, match=r"Known tasks with weights: none"):
        inspect_preset(gpt2)
