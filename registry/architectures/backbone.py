"""`Backbone`: the base of every architecture: `from_preset`, `save_to_preset`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
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


def token_inputs(names: Iterable[str]) -> dict[str, Any]:
    """A functional graph's inputs: a `(batch, seq)` int32 tensor for each name."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in names}


def token_embedding_layer(
    vocabulary_size: int,
    hidden_dim: int,
    initializer: keras.initializers.Initializer,
    dtype: Any,
    **options: Any,
) -> keras.layers.ReversibleEmbedding:
    """keras-hub's `token_embedding`: a `ReversibleEmbedding`, whose reverse gives logits.

    `options` are the layer's own (`tie_weights`, `logit_soft_cap`).
    """
    return keras.layers.ReversibleEmbedding(
        input_dim=vocabulary_size,
        output_dim=hidden_dim,
        embeddings_initializer=initializer,
        dtype=dtype,
        name="token_embedding",
        **options,
    )


class Backbone(keras.Model):
    """Base class of the registry's backbones: a functional Keras model.

    A backbone outputs the last hidden states of its architecture. Subclasses
    build a functional graph and pass it to this constructor with their own
    arguments (which become attributes and the config), and name their
    folder's `ArchitectureSpec` as the class's `spec` (the identity keras-hub
    gives them, so presets move both ways; their weights; their built-in
    presets): `class GPT2Backbone(DecoderBackbone, spec=SPEC)`.

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

    def __init_subclass__(cls, spec: ArchitectureSpec | None = None, **kwargs: Any) -> None:
        # `class GPT2Backbone(DecoderBackbone, spec=SPEC)` sets the class's `spec`.
        super().__init_subclass__(**kwargs)
        if spec is not None:
            cls.spec = spec

    def __init__(
        self,
        *args: Any,
        arguments: Mapping[str, Any] | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._initialized = True
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)
        # One attribute per constructor argument; `get_config` lists them in this order.
        arguments = arguments or {}
        for name, value in arguments.items():
            setattr(self, name, value)
        self._argument_names = tuple(arguments)

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
            **{name: getattr(self, name) for name in self._argument_names},
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


class DecoderBackbone(Backbone):
    """A decoder-only backbone: its embedded tokens through its blocks, then a final norm.

    Inputs are `{"token_ids": (batch, seq) int, "padding_mask": (batch, seq)}`;
    the output is the normalized last hidden states, `(batch, seq, hidden_dim)`.
    Subclasses set `token_embedding`, `transformer_layers` (blocks called with
    the padding mask) and `layer_norm`, override `embed` where the blocks take
    more than the token embedding, and pass their arguments to this
    constructor, which builds the functional graph.

    Example:
        ```python
        import numpy as np
        from registry import Backbone

        gpt2 = Backbone.from_preset("gpt2_base_en")  # a GPT2Backbone
        hidden_states = gpt2({
            "token_ids": np.array([[464, 2068, 7586, 21831, 0, 0]], dtype="int32"),
            "padding_mask": np.array([[1, 1, 1, 1, 0, 0]], dtype="int32"),
        })  # (1, 6, 768)
        ```
    """

    def __init__(self, arguments: Mapping[str, Any], dtype: Any = None, **kwargs: Any) -> None:
        inputs = token_inputs(("token_ids", "padding_mask"))
        x = self.embed(inputs["token_ids"])  # (B, T, hidden)
        for block in self.transformer_layers:
            x = block(x, padding_mask=inputs["padding_mask"])
        sequence_output = self.layer_norm(x)
        super().__init__(
            inputs=inputs, outputs=sequence_output, arguments=arguments, dtype=dtype, **kwargs
        )

    def embed(self, token_ids: Any) -> Any:
        """What the first block takes: the embedded tokens, `(batch, seq, hidden_dim)`."""
        return self._token_embedding(token_ids)  # `token_embedding`, which every decoder sets
