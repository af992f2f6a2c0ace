"""A verified model-preset registry for Keras backbones.

`from registry import Backbone, GPT2Backbone` (or any allowed backbone class,
such as `BertBackbone`, `GemmaBackbone` or `LlamaBackbone`). Keras is imported
on first use of those names, so the command line and the verification code
start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry.architectures import preset_io as _preset_io
from registry.version import __version__

if TYPE_CHECKING:
    from registry.architectures import Backbone
    from registry.client import Registry

__all__ = ["Backbone", "Registry", "__version__"]


def _load_preset(preset: Any, **kwargs: Any) -> Any:
    from registry.resolver.load import load_backbone

    return load_backbone(preset, **kwargs)


def _save_preset(backbone: Any, preset_dir: Any) -> None:
    from registry.preset.writer import save_backbone

    save_backbone(backbone, preset_dir)


# The composition root: model code reaches preset files only through these.
_preset_io.install(_load_preset, _save_preset)


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from registry.client import Registry

        return Registry
    if name == "Backbone" or name.endswith("Backbone"):
        from registry import architectures

        try:
            return getattr(architectures, name)
        except AttributeError:
            pass
    raise AttributeError(f"module 'registry' has no attribute {name!r}")
