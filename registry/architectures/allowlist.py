"""The allow-list: every architecture this registry builds, found by folder.

Each subpackage of `registry.architectures` with a `spec.py` defining `SPEC`
is one architecture; nothing else names them. Loaders, validators, the catalog
and the web pages look architectures up here, by the class a Keras config
names, by a transformers `model_type`, or by class name. Reading the allow-list
imports no Keras: the backbone class is imported only by `backbone_class`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from typing import Any

from registry.architectures.spec import ArchitectureSpec, BuiltinPreset

# The package of the architecture folders, found without importing it (it
# imports this module's users).
_PACKAGE = __name__.rpartition(".")[0]  # registry.architectures

# Dtype policies a config's `dtype` may hold: the only other classes it may name.
DTYPE_POLICY_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy"})


@functools.cache
def specs() -> dict[str, ArchitectureSpec]:
    """Every architecture's spec, by class name, in folder order."""
    found: dict[str, ArchitectureSpec] = {}
    folders = pkgutil.iter_modules([str(Path(__file__).parent)])
    for info in sorted(folders, key=lambda info: info.name):
        name = f"{_PACKAGE}.{info.name}.spec"
        if not info.ispkg or importlib.util.find_spec(name) is None:
            continue  # a folder without a spec.py is not an architecture
        spec = importlib.import_module(name).SPEC
        found[spec.class_name] = spec
    return found


def spec_named(class_name: str) -> ArchitectureSpec | None:
    """The architecture whose backbone class is `class_name`, if any."""
    return specs().get(class_name)


def config_class_names() -> frozenset[str]:
    """Every class name a Keras config may give an allowed backbone."""
    return frozenset(
        registered.split(">", 1)[-1]
        for spec in specs().values()
        for registered in spec.registered_names
    )


def spec_for_config(
    registered_name: object, class_name: object, module: object
) -> ArchitectureSpec | None:
    """The architecture a Keras config's top-level names describe, if allowed.

    `registered_name` (`keras_hub>GPT2Backbone`) decides; a config without one
    is matched by `class_name`. The class name must agree with the registered
    name, and the `module` (never imported) must be one known for the class.
    """
    for spec in specs().values():
        for registered in spec.registered_names:
            known_class = registered.split(">", 1)[-1]
            names_it = registered_name == registered or (
                registered_name is None and class_name == known_class
            )
            if names_it:
                module_known = module is None or module in spec.config_modules
                return spec if class_name == known_class and module_known else None
    return None


def spec_for_model_type(model_type: object) -> ArchitectureSpec | None:
    """The architecture a transformers `config.json`'s `model_type` converts to."""
    for spec in specs().values():
        if spec.transformers is not None and model_type in spec.transformers.model_types:
            return spec
    return None


def transformers_model_types() -> list[str]:
    return sorted(
        model_type
        for spec in specs().values()
        if spec.transformers is not None
        for model_type in spec.transformers.model_types
    )


def builtin_presets() -> list[BuiltinPreset]:
    """keras-hub's built-in presets of every architecture."""
    return [preset for spec in specs().values() for preset in spec.presets]


def backbone_class(spec: ArchitectureSpec) -> type[Any]:
    """The Keras class of an architecture, a `Backbone` subclass (imports Keras).

    Typed loosely: `backbone.py` imports this module, so this one does not
    import it back.
    """
    module = importlib.import_module(spec.backbone_module)
    cls: type[Any] = getattr(module, spec.class_name)
    return cls
