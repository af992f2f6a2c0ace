"""A verified model-preset registry for Keras backbones.

`from registry import Backbone, GPT2Backbone`. Keras is imported on first use of
those names, so the command line and the verification code start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from registry.architectures import Backbone, GPT2Backbone
    from registry.client import Registry

__all__ = ["Backbone", "GPT2Backbone", "Registry", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Backbone", "GPT2Backbone"):
        from registry import architectures

        return getattr(architectures, name)
    if name == "Registry":
        from registry.client import Registry

        return Registry
    raise AttributeError(f"module 'registry' has no attribute {name!r}")
