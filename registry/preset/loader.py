"""`from_preset`: locate a preset, read its config as data, build, load weights."""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from registry.errors import (
    PresetFileMissingError,
    PresetFormatError,
    PresetNotFoundError,
    UnsupportedArchitectureError,
)
from registry.preset import convert_hf
from registry.preset import format as preset_format
from registry.preset.validate import check_preset_files
from registry.preset.weights_h5 import WEIGHTS_FILE

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone
    from registry.resolver.resolve import Resolver

Verify = Literal["fast", "full"] | bool
# Hashing releases the GIL: a second thread checks files while Keras builds.
_VERIFIER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-verify")


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


@dataclass
class _Located:
    """A preset directory, and the verification still running on it (if any)."""

    directory: Path
    pending: Future[None] | None = None

    def settle(self, failure: BaseException | None = None) -> None:
        """Wait for the verification; its mismatch wins over any loading error."""
        if self.pending is None:
            if failure is not None:
                raise failure
            return
        self.pending.result()  # raises ChecksumMismatchError on a bad file
        if failure is not None:
            raise failure


def locate(
    preset: str | os.PathLike[str], *, verify: Verify = "fast", resolver: Resolver | None = None
) -> _Located:
    """The directory `preset` names: a local directory as it is, anything else
    (a catalog name, `kaggle://`, `hf://`) resolved through the store, its
    verification started on a second thread so that it overlaps the build.

    Raises:
        InvalidHandleError: `preset` is none of the accepted forms.
        PresetNotFoundError: it names nothing that can be loaded.
    """
    from registry.resolver.handles import LocalHandle, parse_handle

    text = os.fspath(preset)
    handle = parse_handle(text)
    if isinstance(handle, LocalHandle):
        if not handle.path.is_dir():
            what = "is a file, not a directory" if handle.path.exists() else "does not exist"
            raise PresetNotFoundError(f"Preset directory {handle.path} {what}.")
        return _Located(handle.path)
    if resolver is None:
        from registry.resolver.resolve import default_resolver

        resolver = default_resolver()
    resolved = resolver.resolve(handle, verify=False)
    if not verify:
        return _Located(resolved.path)
    pending = _VERIFIER.submit(resolver.check, resolved, full=verify == "full")
    return _Located(resolved.path, pending)


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


def _load_keras(
    directory: Path,
    config: dict[str, Any],
    cls: type[Backbone],
    load_weights: bool,
    overrides: dict[str, Any],
) -> Backbone:
    from registry.preset.weights_h5 import read_weights

    config_path = directory / preset_format.CONFIG_FILE
    architecture = preset_format.resolve_architecture(config_path, config)
    _check_class(cls, architecture, directory)
    arguments = preset_format.backbone_arguments(config_path, config)
    weights = directory / WEIGHTS_FILE
    if load_weights and not weights.is_file():
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
    backbone = _build(architecture, arguments, overrides, config_path, load_weights)
    if load_weights:
        read_weights(backbone, weights)
    return backbone


def _load_transformers(
    directory: Path,
    config: dict[str, Any],
    cls: type[Backbone],
    load_weights: bool,
    overrides: dict[str, Any],
) -> Backbone:
    from registry.architectures.gpt2 import GPT2Backbone

    _check_class(cls, GPT2Backbone, directory)
    checkpoint = convert_hf.open_checkpoint(directory)
    arguments = convert_hf.backbone_arguments(directory, config, checkpoint)
    backbone = _build(
        GPT2Backbone,
        arguments,
        overrides,
        directory / preset_format.CONFIG_FILE,
        load_weights,
    )
    if load_weights:
        convert_hf.load_weights(cast(GPT2Backbone, backbone), checkpoint)
    return backbone


def load_backbone(
    preset: str | os.PathLike[str],
    *,
    cls: type[Backbone],
    load_weights: bool = True,
    overrides: dict[str, Any] | None = None,
    verify: Verify = "fast",
    resolver: Resolver | None = None,
) -> Backbone:
    """Build the backbone a preset describes, as `cls.from_preset` promises.

    A preset from the store is verified (`verify`: "fast", "full" or False)
    while the model is built; the backbone is returned only if every file
    matched, so no unverified bytes ever reach the caller.
    """
    with collector_paused():
        located = locate(preset, verify=verify, resolver=resolver)
        try:
            check_preset_files(located.directory)
            kind, config = preset_format.detect_kind(located.directory)
            loaders = {
                preset_format.PresetKind.KERAS: _load_keras,
                preset_format.PresetKind.TRANSFORMERS: _load_transformers,
            }
            backbone = loaders[kind](
                located.directory, config, cls, load_weights, dict(overrides or {})
            )
        except Exception as error:
            located.settle(error)
            raise
        located.settle()
    return backbone
