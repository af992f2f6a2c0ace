"""A verified model-preset registry for Keras backbones.

`from registry import Backbone, GPT2Backbone` (or any allowed backbone class,
such as `BertBackbone`, `GemmaBackbone` or `LlamaBackbone`), and `CausalLM` with
each decoder's (`GPT2CausalLM`, `GemmaCausalLM`, `LlamaCausalLM`). Keras is imported
on first use of those names, so the command line and the verification code
start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry.architectures import preset_io as _preset_io
from registry.version import __version__

if TYPE_CHECKING:
    from registry.architectures import Backbone
    from registry.architectures.causal_lm import CausalLM
    from registry.client import Registry

__all__ = ["Backbone", "CausalLM", "Registry", "__version__"]


def _load_preset(preset: Any, **kwargs: Any) -> Any:
    from registry.resolver.load import load_backbone

    return load_backbone(preset, **kwargs)


def _load_task(preset: Any, **kwargs: Any) -> Any:
    from registry.resolver.load import load_causal_lm

    return load_causal_lm(preset, **kwargs)


def _save_preset(backbone: Any, preset_dir: Any) -> None:
    from registry.preset.writer import save_backbone

    save_backbone(backbone, preset_dir)


# The composition root: model code reaches preset files only through these.
_preset_io.install(_load_preset, _save_preset)
_preset_io.install_task_loader(_load_task)


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from registry.client import Registry

        return Registry
    if name == "CausalLM" or name.endswith("CausalLM"):
        from registry.architectures import causal_lm

        if name == "CausalLM":
            return causal_lm.CausalLM
        if name in causal_lm.causal_lm_classes():
            return causal_lm.causal_lm_classes()[name]
    if name == "Backbone" or name.endswith("Backbone"):
        from registry import architectures

        try:
            return getattr(architectures, name)
        except AttributeError:
            pass
    raise AttributeError(f"module 'registry' has no attribute {name!r}")
