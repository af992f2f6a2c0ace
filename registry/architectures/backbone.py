"""`Backbone`: the base of every architecture: `from_preset`, `save_to_preset`."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import keras

from registry.architectures import preset_io
from registry.architectures.spec import ArchitectureSpec, BuiltinPreset


class _ClassProperty:
    """A read-only property evaluated on the class (as keras-hub's `classproperty`)."""

    def __init__(self, getter: Any) -> None:
        self.getter = getter

    def __get__(self, instance: object, owner: type) -> Any:
        return self.getter(owner)


def _builtin_presets_of(cls: type[Backbone]) -> dict[str, BuiltinPreset]:
    from registry.architectures.allowlist import builtin_presets

    presets = builtin_presets()
    if cls is not Backbone:
        presets = [
            p for p in presets if cls.spec is not None and p.architecture == cls.spec.class_name
        ]
    return {preset.name: preset for preset in presets}


class Backbone(keras.Model):
    """Base class of the registry's backbones: a functional Keras model.

    A backbone outputs the last hidden states of its architecture. Subclasses
    build a functional graph and pass it to this constructor, and point `spec`
    at their folder's `ArchitectureSpec` (the identity keras-hub gives them, so
    presets move both ways; their weights; their built-in presets).

    Example:
        ```python
        from registry import Backbone, GPT2Backbone

        backbone = Backbone.from_preset("./my_gpt2_preset")  # a GPT2Backbone
        backbone.save_to_preset("./copy")
        GPT2Backbone.presets["gpt2_base_en"].params  # 124439808
        ```
    """

    # What the allow-list knows of the class: the names configs may give it
    # (`save_to_preset` writes the first of each, keras-hub's own), its weights'
    # shapes from its arguments alone, its conversion and its built-in presets.
    spec: ClassVar[ArchitectureSpec | None] = None

    def __init__(self, *args: Any, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialized = True
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    def __setattr__(self, name: str, value: Any) -> None:
        # On torch, Keras wraps attribute assignment in module tracking, which
        # breaks properties and attributes set before `Model.__init__`.
        is_property = isinstance(getattr(type(self), name, None), property)
        uninitialized = not hasattr(self, "_initialized")
        if keras.config.backend() == "torch" and (is_property or uninitialized):
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    @property
    def token_embedding(self) -> keras.layers.Embedding | None:
        """The `keras.layers.Embedding` that embeds token ids, if the model has one."""
        return getattr(self, "_token_embedding", None)

    @token_embedding.setter
    def token_embedding(self, value: keras.layers.Embedding) -> None:
        self._token_embedding = value

    def get_config(self) -> dict[str, Any]:
        # Not the functional graph's config: exactly the constructor's arguments.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Backbone:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    def h5_layout_root(self) -> list[keras.layers.Layer]:
        """The layers `model.weights.h5` lists at its top level, in graph order."""
        return list(self.layers)

    presets = _ClassProperty(_builtin_presets_of)
    """Built-in presets of this class (of every architecture, on `Backbone`)."""

    @classmethod
    def architectures(cls) -> dict[str, type[Backbone]]:
        """The allow-list: the only classes a preset's config may name."""
        from registry.architectures import allowlist

        return {name: allowlist.backbone_class(s) for name, s in allowlist.specs().items()}

    @classmethod
    def from_preset(
        cls,
        preset: str | os.PathLike[str],
        load_weights: bool = True,
        **kwargs: Any,
    ) -> Backbone:
        """Build a backbone from a preset directory.

        On `Backbone` the subclass comes from the preset's config; on a subclass
        a config of another architecture is refused.

        Args:
            preset: a local preset directory, in keras-hub's format
                (`config.json`, `model.weights.h5`) or Hugging Face transformers'
                (`config.json` with `model_type`, `model.safetensors`); or a
                catalog name (`gpt2_base_en`, `keras/gpt2_tiny_demo@latest`), a
                `kaggle://` or an `hf://` handle, resolved through the verified
                store under `REGISTRY_HOME`.
            load_weights: load the preset's weights; if False, the model gets
                freshly initialized weights.
            **kwargs: override config fields, such as `dtype="bfloat16"`.

        Returns:
            The backbone, in inference-ready state.

        Raises:
            PresetNotFoundError: `preset` names nothing that can be loaded.
            PresetFormatError: a file is missing, malformed or does not fit.
            UnsafePresetError: the config names a class outside the allow-list,
                or the weights are a pickle.
            UnsupportedArchitectureError: the preset is of another architecture
                than the class `from_preset` was called on.

        Example:
            ```python
            backbone = GPT2Backbone.from_preset("./gpt2_preset", dtype="bfloat16")
            ```
        """
        return preset_io.load(preset, cls=cls, load_weights=load_weights, overrides=kwargs)

    def save_to_preset(self, preset_dir: str | os.PathLike[str]) -> None:
        """Write `config.json`, `metadata.json`, `model.weights.h5` and a manifest.

        The files are in keras-hub's format, so keras-hub's `from_preset` loads
        them; `manifest.json` (which keras-hub ignores) records every file's
        size and sha256. Each file is replaced atomically.
        """
        preset_io.save(self, preset_dir)
