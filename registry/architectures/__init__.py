"""Keras model code: the `Backbone` base and one folder per architecture.

The allow-list (`registry.architectures.allowlist`) finds each architecture by
its folder; this package exports `Backbone` and every allowed backbone class by
name (`from registry.architectures import GPT2Backbone`), importing Keras only
on first use, so reading the allow-list and the built-in presets stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone

    ARCHITECTURES: dict[str, type[Backbone]]

__all__ = ["ARCHITECTURES", "Backbone", "allowed_class_names"]


def allowed_class_names() -> frozenset[str]:
    """The allow-list's class names, without importing Keras."""
    return frozenset(importlib.import_module("registry.architectures.allowlist").specs())


def __getattr__(name: str) -> Any:
    # Imported by path: `from registry.architectures import allowlist` would ask
    # this function for the submodule again.
    allowlist = importlib.import_module("registry.architectures.allowlist")

    if name == "ARCHITECTURES":
        return {name: allowlist.backbone_class(spec) for name, spec in allowlist.specs().items()}
    if name == "Backbone":
        from registry.architectures.backbone import Backbone

        return Backbone
    spec = allowlist.spec_named(name) if name.endswith("Backbone") else None
    if spec is not None:
        return allowlist.backbone_class(spec)
    raise AttributeError(f"module 'registry.architectures' has no attribute {name!r}")
