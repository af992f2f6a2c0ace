"""How `Backbone.from_preset` and `save_to_preset` reach preset files without importing them.

Model code sits at the bottom of the package: it knows no files, databases or
servers. Loading a preset means resolving handles, verifying digests and reading
weights, all of which live above it. The package root (`registry/__init__.py`),
which every import of this package runs first, installs the functions that do
it; `Backbone` calls them through here, as keras-hub's `Backbone.from_preset`
reaches its loaders through a registry rather than an import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

# A `Backbone` class: `backbone.py` imports this module, which does not import it back.
_Backbone = TypeVar("_Backbone")

Load = Callable[..., Any]
Save = Callable[[Any, "str | os.PathLike[str]"], None]

_installed: dict[str, Any] = {}


def install(load: Load, save: Save) -> None:
    """Set the functions `from_preset` (`load(preset, cls=, load_weights=, overrides=)`)
    and `save_to_preset` (`save(backbone, directory)`) call."""
    _installed.update(load=load, save=save)


def install_task_loader(load_task: Load) -> None:
    """Set the function task classes' `from_preset` calls
    (`load_task(preset, cls=, load_weights=, overrides=)`): a causal LM's
    backbone and tokenizer come from one verified preset directory."""
    _installed.update(load_task=load_task)


def _get(name: str) -> Any:
    if name not in _installed:
        raise RuntimeError(
            "No preset loader is installed; import the `registry` package "
            "(`import registry`), which installs it."
        )
    return _installed[name]


def load(
    preset: str | os.PathLike[str],
    *,
    cls: type[_Backbone],
    load_weights: bool,
    overrides: dict[str, Any],
) -> _Backbone:
    backbone: _Backbone = _get("load")(
        preset, cls=cls, load_weights=load_weights, overrides=overrides
    )
    return backbone


def save(backbone: object, preset_dir: str | os.PathLike[str]) -> None:
    _get("save")(backbone, preset_dir)


def load_task(
    preset: str | os.PathLike[str],
    *,
    cls: type[_Backbone],
    load_weights: bool,
    overrides: dict[str, Any],
) -> _Backbone:
    """A task (`CausalLM`) of a preset, through the installed task loader."""
    task: _Backbone = _get("load_task")(
        preset, cls=cls, load_weights=load_weights, overrides=overrides
    )
    return task
