"""`CausalLM`: a decoder backbone, its tokenizer and its language-model head, generating.

As keras-hub's `CausalLM` tasks: the head is the token embedding reversed
(`token_embedding(x, reverse=True)`), which is tied to the embedding or holds
its own `reverse_embeddings` as the backbone's config says (GPT-2 and Gemma
tie it; Llama follows `tie_word_embeddings`), and soft-caps the logits where
the backbone asks (Gemma 2's `final_logit_soft_cap`). Generation runs with a
key/value cache (`registry.architectures.decoding`), and `save_to_preset`
writes keras-hub's task format, so `keras_hub.models.GPT2CausalLM.from_preset`
loads what it writes. Each architecture's folder has a `causal_lm.py` with its
subclass (`GPT2CausalLM`, `LlamaCausalLM`, `GemmaCausalLM`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
from keras import ops

from registry.architectures import preset_io
from registry.architectures.backbone import Backbone
from registry.architectures.decoding import Decoder, Generated, Prompts, pack, prompt_rows
from registry.architectures.sampling import SamplerName, Sampling
from registry.errors import PresetFormatError, UnsupportedArchitectureError

if TYPE_CHECKING:
    from registry.architectures.spec import ArchitectureSpec

StopTokens = Sequence[int] | Literal["auto"] | None


class TextTokenizer(Protocol):
    """What a causal LM needs of its tokenizer (`registry.architectures.tokenizer`)."""

    start_token_id: int | None
    end_token_id: int | None
    pad_token_id: int

    @property
    def vocabulary_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_to_id(self, token: str) -> int: ...

    def save_to_preset(self, preset_dir: str | os.PathLike[str]) -> None: ...


@dataclass(frozen=True)
class KerasHubTask:
    """The names keras-hub gives an architecture's causal LM and its preprocessor."""

    task: str  # "GPT2CausalLM"
    task_module: str  # its module under `keras_hub.src.models`
    preprocessor: str  # "GPT2CausalLMPreprocessor"
    preprocessor_module: str

    def serialized(self, name: str, module: str, config: dict[str, Any]) -> dict[str, Any]:
        """A Keras object's JSON, as keras-hub's `save_to_preset` writes it."""
        return {
            "module": f"keras_hub.src.models.{module}",
            "class_name": name,
            "config": config,
            "registered_name": f"keras_hub>{name}",
        }


def _float32_policy() -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def _write_json(path: Path, body: dict[str, Any]) -> None:
    """Write `body` to `path` atomically: a reader sees the old file or the new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(json.dumps(body, indent=4))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class CausalLM:
    """A causal language model: a verified decoder backbone, its tokenizer and its head.

    `CausalLM.from_preset` picks the architecture's subclass from the preset.
    Generation uses a key/value cache and a compiled loop (`tf.function` on
    TensorFlow, `jax.jit` on JAX, eager on PyTorch), and gives the tokens
    keras-hub's `CausalLM.generate` gives (and transformers' `generate`, for
    a converted checkpoint).

    Args:
        backbone: the architecture's backbone (`GPT2Backbone` for `GPT2CausalLM`).
        tokenizer: its tokenizer, for the text methods; None for token ids only.
        jit_compile: on TensorFlow, compile generation with XLA.

    Example:
        ```python
        from registry import CausalLM

        lm = CausalLM.from_preset("gpt2_tiny_demo")  # a GPT2CausalLM
        lm.generate("The quick brown fox", max_length=32)
        lm.generate(["Hello", "Goodbye"], sampler="top_p", top_p=0.9, seed=1)
        for piece in lm.stream("Once upon a time", max_new_tokens=20):
            print(piece, end="", flush=True)
        lm.save_to_preset("./my_lm")  # keras_hub.models.GPT2CausalLM.from_preset loads it
        ```
    """

    backbone_cls: ClassVar[type[Backbone]] = Backbone
    keras_hub: ClassVar[KerasHubTask | None] = None
    # On TensorFlow, XLA's program beats the plain graph keras-hub runs on CPU:
    # at gpt2_base_en's shape (32 + 64 tokens, greedy, paired calls in one
    # process) 31 against 29 tokens/s at batch 1, 145 against 116 at batch 8.
    jit_compile_default: ClassVar[bool] = True

    def __init__(
        self,
        backbone: Backbone,
        tokenizer: TextTokenizer | None = None,
        *,
        jit_compile: bool | None = None,
    ) -> None:
        if type(self) is CausalLM:
            raise TypeError(
                "CausalLM is abstract: use CausalLM.from_preset(), or the architecture's "
                "class (GPT2CausalLM, LlamaCausalLM, GemmaCausalLM)."
            )
        if not isinstance(backbone, self.backbone_cls):
            raise TypeError(
                f"{type(self).__name__} takes a {self.backbone_cls.__name__}. "
                f"Received: backbone={type(backbone).__name__}"
            )
        model_size = int(backbone.vocabulary_size)
        if tokenizer is not None and tokenizer.vocabulary_size > model_size:
            raise PresetFormatError(
                "tokenizer",
                f"has {tokenizer.vocabulary_size:,} tokens, more than the model's "
                f"vocabulary_size {model_size:,}: it would give ids the model has no "
                "embedding for.",
                "Use the tokenizer the model was trained with (saved beside its backbone).",
            )
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.jit_compile = self.jit_compile_default if jit_compile is None else jit_compile

    @property
    def jit_compile(self) -> bool:
        """Whether `generate` compiles with XLA on TensorFlow (as `keras.Model.jit_compile`)."""
        return self._decoder.jit_compile

    @jit_compile.setter
    def jit_compile(self, value: bool) -> None:
        self._decoder = Decoder(self, jit_compile=bool(value))  # compiled anew on next use

    def __repr__(self) -> str:
        tokenizer = type(self.tokenizer).__name__ if self.tokenizer is not None else None
        return f"{type(self).__name__}(backbone={self.backbone.name}, tokenizer={tokenizer})"

    # === Loading and saving ===

    @classmethod
    def from_preset(
        cls, preset: str | os.PathLike[str], load_weights: bool = True, **kwargs: Any
    ) -> CausalLM:
        """The causal LM of a preset: its backbone, verified as `Backbone.from_preset`'s,
        and its tokenizer if it has one.

        Args:
            preset: a preset directory (keras-hub's format, a keras-hub task
                preset, or a transformers checkpoint), or a catalog name, a
                `kaggle://` or an `hf://` handle.
            load_weights: load the preset's weights; if False, fresh ones.
            **kwargs: override backbone config fields, such as `dtype="bfloat16"`.

        Raises:
            PresetNotFoundError: `preset` names nothing that can be loaded.
            PresetFormatError: a file is missing, malformed or does not fit.
            UnsupportedArchitectureError: the preset's architecture has no
                causal LM (BERT), or is not this class's.

        Example:
            ```python
            lm = CausalLM.from_preset("./hf_llama")  # a LlamaCausalLM
            ```
        """
        model: CausalLM = preset_io.load_task(
            preset, cls=cls, load_weights=load_weights, overrides=kwargs
        )
        return model

    @classmethod
    def for_backbone(cls, backbone: Backbone, tokenizer: TextTokenizer | None = None) -> CausalLM:
        """The causal LM of `backbone`'s architecture (of this class, or a subclass of it).

        Raises:
            UnsupportedArchitectureError: the architecture has no causal LM, or
                it is not this class's.
        """
        task = causal_lm_class(type(backbone))
        if not issubclass(task, cls):
            raise UnsupportedArchitectureError(
                f"A {type(backbone).__name__} makes a {task.__name__}, not a {cls.__name__}. "
                f"Use {task.__name__}.from_preset() or CausalLM.from_preset()."
            )
        return task(backbone, tokenizer)

    def task_config(self, tokenizer_config: dict[str, Any] | None = None) -> dict[str, Any]:
        """`task.json`: what keras-hub's `CausalLM.from_preset` builds the task from.

        Args:
            tokenizer_config: the tokenizer's own JSON (keras-hub's
                `tokenizer.json`), for the preprocessor around it; None for a
                task without one.
        """
        names = self.keras_hub_names(tokenizer_config)
        spec = self._spec()
        backbone = {
            "module": spec.config_modules[0],
            "class_name": spec.class_name,
            "config": self.backbone.get_config(),
            "registered_name": spec.registered_names[0],
        }
        config = {
            "backbone": backbone,
            "preprocessor": self.preprocessor_config(tokenizer_config),
            "name": _snake(names.task),
        }
        return names.serialized(names.task, names.task_module, config)

    def preprocessor_config(self, tokenizer_config: dict[str, Any] | None) -> Any:
        """`preprocessor.json` around the tokenizer's own JSON (None without a tokenizer)."""
        if tokenizer_config is None:
            return None
        names = self.keras_hub_names(tokenizer_config)
        config = {
            "name": _snake(names.preprocessor),
            "trainable": True,
            "dtype": _float32_policy(),
            "tokenizer": tokenizer_config,
            "config_file": "preprocessor.json",
            "sequence_length": self.max_positions or 1024,
            "add_start_token": True,
            "add_end_token": True,
        }
        return names.serialized(names.preprocessor, names.preprocessor_module, config)

    def keras_hub_names(self, tokenizer_config: dict[str, Any] | None = None) -> KerasHubTask:
        """keras-hub's names for this task and its preprocessor (given its tokenizer's JSON)."""
        if self.keras_hub is None:
            raise TypeError(f"{type(self).__name__} names no keras-hub task.")
        return self.keras_hub

    def save_to_preset(self, preset_dir: str | os.PathLike[str]) -> None:
        """Write a keras-hub task preset: `task.json`, the backbone's files and the tokenizer.

        keras-hub's `<Arch>CausalLM.from_preset` (and `keras_hub.models.CausalLM`)
        load the directory; `manifest.json` records every file's size and sha256.
        With a tokenizer, `preprocessor.json` names keras-hub's preprocessor
        around it, as keras-hub writes it.
        """
        directory = Path(preset_dir)
        directory.mkdir(parents=True, exist_ok=True)
        tokenizer_config = None
        if self.tokenizer is not None:
            self.tokenizer.save_to_preset(directory)
            tokenizer_config = _keras_tokenizer_config(directory / "tokenizer.json")
            preprocessor = self.preprocessor_config(tokenizer_config)
            if preprocessor is not None:
                _write_json(directory / "preprocessor.json", preprocessor)
        _write_json(directory / "task.json", self.task_config(tokenizer_config))
        self.backbone.save_to_preset(directory)  # last: its manifest lists every file

    def _spec(self) -> ArchitectureSpec:
        spec = type(self.backbone).spec
        if spec is None:
            raise TypeError(f"{type(self.backbone).__name__} is not an allow-listed backbone.")
        return spec

    # === The model ===

    def __call__(self, inputs: dict[str, Any]) -> Any:
        """The logits of every position, `(batch, seq, vocabulary)`, without a cache.

        Args:
            inputs: the backbone's inputs, `{"token_ids", "padding_mask"}`.
        """
        hidden_states = self.backbone(inputs, training=False)
        return self.logits(hidden_states)

    @property
    def variables(self) -> list[Any]:
        """Every weight (the head's are the backbone's own)."""
        return list(self.backbone.variables)

    @property
    def vocabulary_size(self) -> int:
        return int(self.backbone.token_embedding.input_dim)  # type: ignore[union-attr]

    @property
    def max_positions(self) -> int | None:
        """The most positions the model embeds (GPT-2's `max_sequence_length`), if bounded."""
        return getattr(self.backbone, "max_sequence_length", None)

    def logits(self, hidden_states: Any) -> Any:
        """The language-model head: the token embedding reversed (soft-capped if configured)."""
        return self.backbone.token_embedding(hidden_states, reverse=True)  # type: ignore[misc]

    def embed_at(self, token_ids: Any, start: Any) -> Any:
        """What the first block takes for tokens at positions `start, start + 1, ...`."""
        return self.backbone.embed(token_ids)

    def cache_heads(self) -> tuple[int, int]:
        """`(key/value heads, head size)` of each layer's cache."""
        raise NotImplementedError

    def empty_caches(self, batch: Any, length: Any) -> tuple[tuple[Any, Any], ...]:
        """Zeroed keys and values for every layer, each `(batch, length, heads, head_dim)`."""
        heads, head_dim = self.cache_heads()
        dtype = self.backbone.compute_dtype
        return tuple(
            (
                ops.zeros((batch, length, heads, head_dim), dtype=dtype),
                ops.zeros((batch, length, heads, head_dim), dtype=dtype),
            )
            for _ in self.backbone.transformer_layers
        )

    def call_with_cache(
        self, token_ids: Any, caches: Sequence[tuple[Any, Any]], start: Any
    ) -> tuple[Any, tuple[tuple[Any, Any], ...]]:
        """The final hidden states of tokens at positions `start, ...`, attending over caches.

        Args:
            token_ids: `(batch, new)` int32.
            caches: each layer's `(keys, values)`, `(batch, length, heads, head_dim)`.
            start: the position of the first token (an int or an int32 tensor).

        Returns:
            `(hidden_states, caches)`: `(batch, new, hidden)` and the caches with
            the new tokens' keys and values written at `start`.
        """
        x = self.embed_at(token_ids, start)  # (B, T, hidden)
        updated = []
        for block, cache in zip(self.backbone.transformer_layers, caches, strict=True):
            x, *layer_cache = block.call_cached(x, *cache, start)
            updated.append(tuple(layer_cache))
        return self.backbone.layer_norm(x), tuple(updated)

    # === Generation ===

    def generate_ids(
        self,
        token_ids: Any,
        padding_mask: Any = None,
        *,
        max_length: int | None = None,
        max_new_tokens: int | None = None,
        sampler: SamplerName = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_token_ids: StopTokens = "auto",
    ) -> np.ndarray:
        """Generate from prompts given as token ids; no special token is added.

        Args:
            token_ids: `(batch, seq)` ints, or a list of lists (ragged).
            padding_mask: which positions of `token_ids` are the prompt; left or
                right padding (or any mix), only which positions are kept matters.
            max_length: the most tokens of a row, prompt included (keras-hub's
                meaning; 64 when `max_new_tokens` is not given either).
            max_new_tokens: the most tokens generated for each row.
            sampler: "greedy", "top_k" or "top_p" (see `registry.architectures.sampling`).
            temperature: divides the logits before sampling.
            top_k: the tokens "top_k" draws from (5, keras-hub's default).
            top_p: the probability mass "top_p" draws from (0.1, keras-hub's default).
            seed: makes sampling reproducible; None draws a fresh seed.
            stop_token_ids: a row ends after one of these; "auto" is the
                tokenizer's end token (none without a tokenizer); None never stops early.

        Returns:
            `(batch, length)` int32 in keras-hub's layout: each row's prompt at
            its start, then its tokens up to and including its end token, then
            the tokenizer's pad token (0 without a tokenizer). `length` is
            `max_length`, or the longest row's prompt plus `max_new_tokens`.
        """
        generated = self._generate(
            prompt_rows(token_ids, padding_mask),
            Sampling(sampler, temperature, top_k, top_p, seed),
            max_length=max_length,
            max_new_tokens=max_new_tokens,
            stop_token_ids=self._stop_tokens(stop_token_ids),
        )
        return generated.token_ids

    def generate(
        self,
        prompt_or_prompts: str | Sequence[str],
        max_length: int | None = None,
        *,
        max_new_tokens: int | None = None,
        sampler: SamplerName = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> str | list[str]:
        """Continue text: each prompt followed by its continuation, as keras-hub returns it.

        The prompt is tokenized as keras-hub's preprocessor does (its start
        token first: `<|endoftext|>` for GPT-2, `<bos>` for Llama and Gemma),
        all prompts of a list in one batch; generation stops at the end token.

        Args:
            prompt_or_prompts: a string, or a list of them.
            max_length: the most tokens of a row, start token and prompt included
                (a longer prompt is cut, as keras-hub cuts it); 64 when
                `max_new_tokens` is not given either.
            max_new_tokens: the most tokens generated for each prompt.
            sampler, temperature, top_k, top_p, seed: as `generate_ids`'s.

        Returns:
            A string for a string, a list for a list.

        Example:
            ```python
            lm.generate("Keras is", max_length=30)
            lm.generate(["a", "b"], max_new_tokens=10, sampler="top_k", top_k=40, seed=0)
            ```
        """
        tokenizer = self._text_tokenizer()
        single = isinstance(prompt_or_prompts, str)
        prompts = [prompt_or_prompts] if single else list(prompt_or_prompts)
        rows = [self._prompt_ids(str(prompt), max_length, max_new_tokens) for prompt in prompts]
        generated = self._generate(
            rows,
            Sampling(sampler, temperature, top_k, top_p, seed),
            max_length=max_length,
            max_new_tokens=max_new_tokens,
            stop_token_ids=self._stop_tokens("auto"),
        )
        special = self._special_token_ids()
        texts = [
            tokenizer.decode([int(t) for t in row if int(t) not in special])
            for row in generated.rows()
        ]
        return texts[0] if single else texts

    def stream(
        self,
        prompt: str,
        *,
        max_length: int | None = None,
        max_new_tokens: int | None = None,
        sampler: SamplerName = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """The continuation of `prompt`, one piece of text per token, as each is generated.

        Each piece is what that token adds to the decoded text; a piece is empty
        while a character is incomplete (a token may carry part of a UTF-8
        character) and for special tokens; the last piece carries whatever was
        held back. Joined, the pieces are the text `generate` adds after the
        prompt, with the same arguments and seed.

        Example:
            ```python
            for piece in lm.stream("Once upon a time", max_new_tokens=40):
                print(piece, end="", flush=True)
            ```
        """
        # Checked now, not at the first piece: a generator's body waits for it.
        tokenizer = self._text_tokenizer()
        row = self._prompt_ids(prompt, max_length, max_new_tokens)
        sampling = Sampling(sampler, temperature, top_k, top_p, seed)
        prompts = self._pack([row], max_length, max_new_tokens)
        return self._pieces(tokenizer, prompts, sampling)

    def _pieces(
        self, tokenizer: TextTokenizer, prompts: Prompts, sampling: Sampling
    ) -> Iterator[str]:
        """`stream`'s pieces: the decoded text's growth with each token."""
        stops = self._stop_tokens("auto")
        special = self._special_token_ids()
        kept = [int(t) for t in prompts.token_ids[0, : prompts.lengths[0]] if int(t) not in special]
        emitted = tokenizer.decode(kept)
        remaining = int(prompts.limits[0] - prompts.lengths[0])
        for count, token in enumerate(self._decoder.stream(prompts, sampling, stops), 1):
            if token not in special:
                kept.append(token)
            text = tokenizer.decode(kept)
            piece = text[len(emitted) :] if text.startswith(emitted) else ""
            if not (token in stops or count == remaining):
                piece = piece.rstrip("\ufffd")  # an incomplete character waits for its bytes
            emitted += piece
            yield piece

    def _generate(
        self,
        rows: list[list[int]],
        sampling: Sampling,
        *,
        max_length: int | None,
        max_new_tokens: int | None,
        stop_token_ids: Sequence[int],
    ) -> Generated:
        prompts = self._pack(rows, max_length, max_new_tokens)
        return self._decoder.generate(prompts, sampling, stop_token_ids, self._pad_token_id())

    def _pack(
        self, rows: list[list[int]], max_length: int | None, max_new_tokens: int | None
    ) -> Prompts:
        prompts = pack(
            rows,
            max_length=max_length,
            max_new_tokens=max_new_tokens,
            pad_token_id=self._pad_token_id(),
            bucket=self._decoder.length_bucket,
        )
        if self.max_positions is not None and prompts.length > self.max_positions:
            raise ValueError(
                f"{type(self).__name__} embeds at most {self.max_positions} positions "
                f"(its backbone's max_sequence_length), but the rows may grow to "
                f"{prompts.length} tokens: lower max_length or max_new_tokens, or shorten "
                "the prompt."
            )
        return prompts

    # === Tokens ===

    def _text_tokenizer(self) -> TextTokenizer:
        if self.tokenizer is None:
            raise ValueError(
                f"This {type(self).__name__} has no tokenizer, so it takes token ids only: "
                "use generate_ids(), or load a preset that has a tokenizer."
            )
        return self.tokenizer

    def _prompt_ids(
        self, text: str, max_length: int | None, max_new_tokens: int | None
    ) -> list[int]:
        """A prompt's ids as keras-hub's preprocessor packs them: start token first, cut
        to `max_length` (when only `max_length` bounds the row)."""
        tokenizer = self._text_tokenizer()
        start = [] if tokenizer.start_token_id is None else [int(tokenizer.start_token_id)]
        ids = start + [int(t) for t in tokenizer.encode(text)]
        if max_length is not None:
            ids = ids[:max_length]
        return ids

    def _stop_tokens(self, stop_token_ids: StopTokens) -> list[int]:
        if stop_token_ids is None:
            return []
        if stop_token_ids == "auto":
            return [] if self.tokenizer is None else self._tokenizer_stops(self.tokenizer)
        return [int(t) for t in stop_token_ids]

    @staticmethod
    def _tokenizer_stops(tokenizer: TextTokenizer) -> list[int]:
        """The end token, and any other the tokenizer stops at (Llama 3's `<|eot_id|>`)."""
        stops = getattr(tokenizer, "stop_token_ids", None)
        if stops is None:
            stops = () if tokenizer.end_token_id is None else (tokenizer.end_token_id,)
        return [int(t) for t in stops]

    def _special_token_ids(self) -> set[int]:
        """What keras-hub strips from generated text (its tokenizer's
        `special_token_ids`): the start and end tokens (the tokens generation
        stops at), the pad token where it is a token of its own (Gemma's `<pad>`;
        GPT-2's and Llama's pad with id 0, an ordinary token), and the others its
        tokenizer registers (Llama 3's `<|start_header_id|>`, `<|end_header_id|>`)."""
        tokenizer = self._text_tokenizer()
        ids = {tokenizer.start_token_id, tokenizer.end_token_id, *self._tokenizer_stops(tokenizer)}
        if getattr(type(tokenizer), "pad_token", None) is not None:
            ids.add(tokenizer.pad_token_id)
        for token in getattr(type(tokenizer), "misc_special_tokens", ()):
            with contextlib.suppress(ValueError):  # not in this vocabulary
                ids.add(tokenizer.token_to_id(token))
        return {int(t) for t in ids if t is not None}

    def _pad_token_id(self) -> int:
        return 0 if self.tokenizer is None else int(self.tokenizer.pad_token_id)


def _snake(name: str) -> str:
    """Keras's default name of a class's instances: `GPT2CausalLM` -> `gpt2_causal_lm`."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _keras_tokenizer_config(path: Path) -> dict[str, Any] | None:
    """The tokenizer's Keras config (keras-hub's `tokenizer.json`), or None if the file
    is something else (transformers' `tokenizer.json`)."""
    if not path.is_file():
        return None
    body = json.loads(path.read_text(encoding="utf-8"))
    is_keras = isinstance(body, dict) and str(body.get("registered_name", "")).startswith(
        ("keras_hub>", "keras_nlp>")
    )
    return body if is_keras else None


# === Which causal LM an architecture has ===


def causal_lm_class(backbone: type[Backbone]) -> type[CausalLM]:
    """The causal LM of a backbone class (`GPT2Backbone` -> `GPT2CausalLM`).

    Raises:
        UnsupportedArchitectureError: the architecture has no causal LM.
    """
    for task in causal_lm_classes().values():
        if issubclass(backbone, task.backbone_cls):
            return task
    known = sorted(task.backbone_cls.__name__ for task in causal_lm_classes().values())
    raise UnsupportedArchitectureError(
        f"{backbone.__name__} has no causal LM (it is no decoder); causal LMs are built on "
        f"{known}. Load it with Backbone.from_preset()."
    )


def causal_lm_classes() -> dict[str, type[CausalLM]]:
    """Every architecture's causal LM by name, from each folder's `causal_lm.py`."""
    from registry.architectures import allowlist

    found: dict[str, type[CausalLM]] = {}
    for spec in allowlist.specs().values():
        package = spec.backbone_module.rsplit(".", 1)[0]
        try:
            module = importlib.import_module(f"{package}.causal_lm")
        except ModuleNotFoundError as error:
            if error.name != f"{package}.causal_lm":
                raise
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, CausalLM) and value is not CausalLM:
                found[value.__name__] = value
    return found
