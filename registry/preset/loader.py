"""Loading a preset directory: read its config as data, build, load the weights once.

Handles (catalog names, `hf://`, `kaggle://`) are resolved to a directory by
`registry.resolver.load`, which verifies the files while this builds the model.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.architectures.allowlist import backbone_class
from registry.architectures.spec import ArchitectureSpec
from registry.errors import (
    PresetFileMissingError,
    PresetFormatError,
    UnsupportedArchitectureError,
)
from registry.preset import convert_hf
from registry.preset import format as preset_format
from registry.preset.validate import (
    check_h5_weights,
    check_preset_files,
    check_task_weights,
    checked_arguments,
    inspect_checkpoint,
)
from registry.preset.weights_h5 import WEIGHTS_FILE, load_checkpoint

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while presets load.

    With TensorFlow and Keras imported a process holds about 270,000 tracked
    objects, and building a model allocates enough to trigger several full
    collections, each walking all of them: 0.3-0.4 s of a 3 s load of GPT-2
    medium. Reference counting still frees everything acyclic at once; cycles
    made meanwhile are collected after. Nested and concurrent loads share one
    pause, and a collector the caller disabled stays disabled.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._resume:
                    gc.enable()


collector_paused = _CollectorPause()


def _check_class(requested: type[Backbone], found: type[Backbone], directory: Path) -> None:
    from registry.architectures.backbone import Backbone

    if requested is not Backbone and not issubclass(found, requested):
        raise UnsupportedArchitectureError(
            f"{directory} holds a {found.__name__} preset, which "
            f"{requested.__name__}.from_preset() cannot load. Use "
            f"{found.__name__}.from_preset() or Backbone.from_preset()."
        )


def _check_argument_names(
    cls: type[Backbone],
    arguments: dict[str, Any],
    overrides: dict[str, Any],
    path: Path,
) -> None:
    # Keras models swallow unknown keyword arguments; a preset must not.
    parameters = inspect.signature(cls.__init__).parameters
    accepted = {"name", "trainable", "dtype"} | {
        name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD
    } - {"self"}
    for source, names in (
        ("the config", arguments),
        ("the keyword arguments", overrides),
    ):
        unknown = sorted(set(names) - accepted)
        if unknown:
            raise PresetFormatError(
                path,
                f"{source} name(s) {unknown}, which {cls.__name__} does not take.",
                f"Accepted arguments: {sorted(accepted)}.",
            )


def _build(
    cls: type[Backbone],
    arguments: dict[str, Any],
    overrides: dict[str, Any],
    config_path: Path,
    load_weights: bool,
) -> Backbone:
    from registry.architectures.initializers import skipped_initializers

    _check_argument_names(cls, arguments, overrides, config_path)
    try:
        with skipped_initializers(load_weights):
            return cls.from_config({**arguments, **overrides})
    except (TypeError, ValueError) as error:
        source = f" with the overrides {sorted(overrides)}" if overrides else ""
        raise PresetFormatError(
            config_path,
            f"does not describe a valid {cls.__name__}{source}: {error}",
            "Fix the config (or the keyword arguments), or re-save the preset with "
            "`save_to_preset()`.",
        ) from error


@dataclass(frozen=True)
class _Request:
    """A preset directory to load: its config, and the class it names, allowed."""

    directory: Path
    config: dict[str, Any]
    spec: ArchitectureSpec
    architecture: type[Backbone]
    load_weights: bool
    overrides: dict[str, Any]

    @property
    def config_path(self) -> Path:
        return self.directory / preset_format.CONFIG_FILE

    def build(self, arguments: dict[str, Any]) -> Backbone:
        """The backbone `arguments` and the overrides describe, its weights not read yet."""
        return _build(
            self.architecture, arguments, self.overrides, self.config_path, self.load_weights
        )


def _load_keras(request: _Request) -> Backbone:
    from registry.preset.weights_h5 import read_weights

    directory, spec, config_path = request.directory, request.spec, request.config_path
    arguments = preset_format.backbone_arguments(config_path, request.config)
    # A task preset's own weights are not loaded, but are checked as an upload's are.
    check_task_weights(directory, spec, arguments)
    weights = directory / WEIGHTS_FILE
    if request.load_weights and not weights.is_file():
        if (directory / preset_format.SHARDED_WEIGHTS_FILE).is_file():
            raise PresetFormatError(
                directory / preset_format.SHARDED_WEIGHTS_FILE,
                "describes sharded weights, which this version does not load yet.",
                "Save the backbone unsharded (it is sharded only above 10 GB).",
            )
        preset_format.refuse_pickles(directory, found_safe_weights=False)
        raise PresetFileMissingError(
            weights, "does not exist.", "Load with load_weights=False, or fetch it."
        )
    if request.load_weights:
        # The weights' headers before the build: a config declaring a huge model
        # over small weights is refused before a byte of it is allocated.
        _check_argument_names(request.architecture, arguments, request.overrides, config_path)
        merged = {**arguments, **request.overrides}
        checked_arguments(spec, config_path, merged)
        check_h5_weights(weights, spec.h5_shapes(merged))
    backbone = request.build(arguments)
    if request.load_weights:
        read_weights(backbone, weights)
    return backbone


def _load_transformers(request: _Request) -> Backbone:
    checkpoint, arguments, rows = inspect_checkpoint(
        request.directory, request.config, request.spec
    )
    backbone = request.build(arguments)
    if request.load_weights:
        load_checkpoint(backbone, checkpoint, rows)
    return backbone


# How each kind of preset names its architecture, and how it loads.
_LOADERS: dict[
    preset_format.PresetKind,
    tuple[Callable[[Path, dict[str, Any]], ArchitectureSpec], Callable[[_Request], Backbone]],
] = {
    preset_format.PresetKind.KERAS: (preset_format.architecture_spec, _load_keras),
    preset_format.PresetKind.TRANSFORMERS: (convert_hf.transformers_spec, _load_transformers),
}


def load_directory(
    directory: Path,
    *,
    cls: type[Backbone],
    load_weights: bool = True,
    overrides: dict[str, Any] | None = None,
    json_checked: bool = False,
) -> Backbone:
    """Build the backbone a preset directory describes, as `cls.from_preset` promises.

    The directory is checked as data first (no file a preset never holds, no
    link, a config naming an allowed class), then the model is built without
    random initializers and each weight is read once.
    """
    check_preset_files(directory, check_json=not json_checked)
    kind, config = preset_format.detect_kind(directory)
    architecture_spec, load = _LOADERS[kind]
    spec = architecture_spec(directory / preset_format.CONFIG_FILE, config)
    architecture = backbone_class(spec)
    _check_class(cls, architecture, directory)
    return load(
        _Request(directory, config, spec, architecture, load_weights, dict(overrides or {}))
    )
