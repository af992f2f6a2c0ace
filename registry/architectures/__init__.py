"""Keras model code. `ARCHITECTURES` is the allow-list of classes presets may name.

Adding an architecture means adding its module and one entry in `_ALLOW_LIST`.
Names are resolved on first use, so `registry.architectures.presets` (the
built-in preset table) can be read without importing Keras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone
    from registry.architectures.gpt2 import GPT2Backbone

    ARCHITECTURES: dict[str, type[Backbone]]

# Class name -> the module of this package that defines it.
_ALLOW_LIST = {
    "GPT2Backbone": "registry.architectures.gpt2",
}

__all__ = ["ARCHITECTURES", "Backbone", "GPT2Backbone", "allowed_class_names"]


def allowed_class_names() -> frozenset[str]:
    """The allow-list's class names, without importing Keras."""
    return frozenset(_ALLOW_LIST)


def __getattr__(name: str) -> Any:
    if name == "ARCHITECTURES":
        return {
            class_name: getattr(importlib.import_module(module), class_name)
            for class_name, module in _ALLOW_LIST.items()
        }
    if name == "Backbone":
        from registry.architectures.backbone import Backbone

        return Backbone
    if name in _ALLOW_LIST:
        return getattr(importlib.import_module(_ALLOW_LIST[name]), name)
    raise AttributeError(f"module 'registry.architectures' has no attribute {name!r}")
