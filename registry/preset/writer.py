"""Write a backbone as a preset directory in keras-hub's format, plus a manifest."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from registry.preset.atomic import write_atomically
from registry.preset.format import CONFIG_FILE, METADATA_FILE
from registry.preset.manifest import write_manifest
from registry.preset.weights_h5 import WEIGHTS_FILE, write_weights
from registry.version import __version__

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone


def serialized_config(backbone: Backbone) -> dict[str, object]:
    """`config.json` as keras-hub writes it, so keras-hub's loader accepts it."""
    spec = type(backbone).spec
    if spec is None:
        raise TypeError(f"{type(backbone).__name__} is not an allow-listed architecture.")
    return {
        "module": spec.config_modules[0],
        "class_name": spec.class_name,
        "config": backbone.get_config(),
        "registered_name": spec.registered_names[0],
    }


def _metadata(backbone: Backbone) -> dict[str, object]:
    return {
        "keras_version": keras.version(),
        "registry_version": __version__,
        "parameter_count": backbone.count_params(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": [],
    }


def _write_json(body: dict[str, object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(json.dumps(body, indent=4), encoding="utf-8")

    return write


def save_backbone(backbone: Backbone, preset_dir: str | os.PathLike[str]) -> None:
    """Write config, metadata, weights and manifest into `preset_dir`.

    Other files already in the directory (a tokenizer, a model card) stay and
    are listed in the manifest too.
    """
    directory = Path(preset_dir)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / CONFIG_FILE, _write_json(serialized_config(backbone)))
    write_atomically(directory / METADATA_FILE, _write_json(_metadata(backbone)))
    write_atomically(directory / WEIGHTS_FILE, lambda path: write_weights(backbone, path))
    write_manifest(directory)
