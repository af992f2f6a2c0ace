"""`Tokenizer`: text to token ids and back, built from what a preset holds, without Keras.

A preset carries its tokenizer in one of two formats, both read as data:

- **keras-hub's**: `tokenizer.json`, a serialized layer naming keras-hub's class
  (`keras_hub>GPT2Tokenizer`, ...), and its files in `assets/tokenizer/`
  (`vocabulary.json` + `merges.txt`, `vocabulary.txt` or `vocabulary.spm`).
- **transformers'**: `tokenizer.json` (a `tokenizers` pipeline) or
  `tokenizer.model` (a SentencePiece model), with `tokenizer_config.json` and
  `special_tokens_map.json` naming the special tokens.

The class comes from the allow-list: each architecture's `ArchitectureSpec`
lists keras-hub's tokenizer classes, and this registry's class of the same name
lives in the folder's `tokenizer.py`. A `tokenizer.json` naming any other class
is refused and nothing it names is imported; the files go to the field's own
libraries, Hugging Face `tokenizers` (byte-level BPE, WordPiece) and
`sentencepiece`, never to Keras, so a web server tokenizes without loading
TensorFlow.

What `encode` adds follows keras-hub's tokenizer call: nothing; the special
tokens a model expects around a text come with `add_special_tokens=True`
(transformers' post-processor for a transformers checkpoint; keras-hub's
preprocessors' packing for a keras-hub preset).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from registry.architectures import tokenizer_files
from registry.architectures.spec import TokenizerSpec
from registry.architectures.tokenizer_files import (
    ASSET_DIR,
    KERAS_HUB_CONFIG,
    SENTENCEPIECE_MODEL,
    TRANSFORMERS_TOKENIZER,
    KerasHubFiles,
    TransformersFiles,
)
from registry.errors import (
    PresetFormatError,
    PresetNotFoundError,
    UnsupportedArchitectureError,
)

if TYPE_CHECKING:
    from typing_extensions import Self


# === The libraries that do the work ===


class Encoder(Protocol):
    """What turns text into ids: a `tokenizers.Tokenizer` or a SentencePiece processor."""

    @property
    def vocabulary_size(self) -> int: ...

    def encode_batch(self, texts: list[str], *, add_special_tokens: bool) -> list[list[int]]: ...

    def decode(self, ids: list[int], *, skip_special_tokens: bool) -> str: ...

    def id_to_token(self, token_id: int) -> str | None: ...

    def token_to_id(self, token: str) -> int | None: ...


@dataclass(frozen=True)
class SpecialTokens:
    """The special tokens a model is fed and stops at, as ids."""

    start: int | None
    end: int | None
    pad: int
    # Generation stops at any of these (Llama 3 ends turns with `<|eot_id|>`).
    stops: tuple[int, ...]
    # What `encode(..., add_special_tokens=True)` puts around a keras-hub
    # preset's text, as its preprocessors do; None: the encoder adds them
    # (a transformers checkpoint's post-processor).
    packing: tuple[tuple[int, ...], tuple[int, ...]] | None = None


# === The base class ===


class Tokenizer:
    """Turns text into a model's token ids and back, as the preset's own library does.

    Build one with `Tokenizer.from_preset(preset_dir)`; the class (`GPT2Tokenizer`,
    `BertTokenizer`, `GemmaTokenizer`, `LlamaTokenizer`, `Llama3Tokenizer`) comes
    from the preset. For a transformers checkpoint the ids are transformers';
    for a keras-hub preset, keras-hub's (but for keras-hub's eager byte-level BPE,
    which does not pre-split text: GPT-2's own rules apply, see the README).

    Example:
        ```python
        from registry.architectures.tokenizer import Tokenizer

        tokenizer = Tokenizer.from_preset("./gpt2_tiny_demo")  # a GPT2Tokenizer
        ids = tokenizer.encode("The quick brown fox")  # no special tokens, as keras-hub's
        prompt = tokenizer.encode("The quick brown fox", add_special_tokens=True)
        tokenizer.decode(ids)  # "The quick brown fox"
        tokenizer.save_to_preset("./copy")  # keras-hub's GPT2Tokenizer.from_preset loads it
        ```
    """

    # What keras-hub names the layer in its config (a preset's own name is kept).
    layer_name: ClassVar[str] = "tokenizer"
    # Set by each architecture's class, for keras-hub presets and as the
    # defaults of transformers checkpoints whose configs name none.
    start_token: ClassVar[str | None] = None
    end_token: ClassVar[str | None] = None
    pad_token: ClassVar[str | None] = None  # None: id 0, as keras-hub's
    stop_tokens: ClassVar[tuple[str, ...]] = ()  # besides the end token
    # Other special tokens keras-hub registers (and strips from generated text).
    misc_special_tokens: ClassVar[tuple[str, ...]] = ()
    # What keras-hub's preprocessors put around one text: the start token, and
    # the end token where a classifier's packer adds it (BERT).
    packs_end_token: ClassVar[bool] = False
    # `tokenizer_class` values of transformers' `tokenizer_config.json` this class reads.
    transformers_classes: ClassVar[tuple[str, ...]] = ()
    # The kind of `tokenizers` model a transformers `tokenizer.json` of this class
    # holds: "byte_level", "wordpiece" or "sentencepiece" (byte-fallback BPE, Unigram).
    transformers_kind: ClassVar[str] = ""

    def __init__(self, encoder: Encoder, special: SpecialTokens) -> None:
        self._encoder = encoder
        self._packing = special.packing
        self.name = self.layer_name
        # Attributes, as keras-hub's tokenizers have them.
        self.start_token_id: int | None = special.start
        """The id a model's input starts with (BOS, BERT's `[CLS]`), if any."""
        self.end_token_id: int | None = special.end
        """The id that ends a text (EOS, BERT's `[SEP]`), if any."""
        self.pad_token_id: int = special.pad
        """The id padding is filled with (0 where no pad token is named, as keras-hub)."""
        self.stop_token_ids: tuple[int, ...] = special.stops
        """The ids generation stops at: the end token, and Llama 3's `<|eot_id|>`."""

    # === Loading ===

    @classmethod
    def from_preset(cls, preset_dir: str | os.PathLike[str]) -> Tokenizer:
        """Build the tokenizer a preset directory holds.

        On `Tokenizer` the class comes from the preset; on a subclass, a preset
        holding another class's tokenizer is refused.

        Args:
            preset_dir: a local preset directory, in keras-hub's format
                (`tokenizer.json` naming keras-hub's class, `assets/tokenizer/`)
                or transformers' (`tokenizer.json` or `tokenizer.model`, with
                `tokenizer_config.json`).

        Returns:
            The tokenizer, a subclass of `cls`.

        Raises:
            PresetNotFoundError: `preset_dir` is not a directory.
            PresetFileMissingError: the preset holds no tokenizer, or a file it names is absent.
            PresetFormatError: a tokenizer file is malformed.
            UnsafePresetError: `tokenizer.json` names a class outside the allow-list.
            UnsupportedArchitectureError: the tokenizer is not a `cls`.

        Example:
            ```python
            tokenizer = Tokenizer.from_preset("./hf_gemma")  # a GemmaTokenizer
            tokenizer.encode_batch(["Hello", "world"])
            ```
        """
        directory = Path(preset_dir)
        if not directory.is_dir():
            raise PresetNotFoundError(
                f"{directory}: no such preset directory. Pass the directory that holds "
                "the preset's tokenizer.json or tokenizer.model."
            )
        keras_hub_config = tokenizer_files.keras_hub_config(directory)
        if keras_hub_config is not None:
            tokenizer_cls = _checked(
                cls, tokenizer_files.keras_hub_class(directory, keras_hub_config), directory
            )
            config = keras_hub_config["config"]
            tokenizer = tokenizer_cls.from_keras_hub(directory, config)
            if isinstance(config.get("name"), str):
                tokenizer.name = config["name"]
            return tokenizer
        files = tokenizer_files.transformers_files(directory)
        tokenizer_cls = _checked(cls, tokenizer_files.transformers_class(files), directory)
        return tokenizer_cls.from_transformers(files)

    @classmethod
    def from_keras_hub(cls, directory: Path, config: Mapping[str, Any]) -> Self:
        """Build from keras-hub's files: `config` is `tokenizer.json`'s `config`."""
        raise NotImplementedError(f"{cls.__name__} reads no keras-hub preset.")

    @classmethod
    def from_transformers(cls, files: TransformersFiles) -> Self:
        """Build from a transformers checkpoint's tokenizer files."""
        raise NotImplementedError(f"{cls.__name__} reads no transformers checkpoint.")

    @classmethod
    def keras_hub_special(cls, encoder: Encoder, path: Path) -> SpecialTokens:
        """The special tokens of a keras-hub preset: the class's, which its vocabulary must hold."""

        def id_of(token: str | None) -> int | None:
            if token is None:
                return None
            found = encoder.token_to_id(token)
            if found is None:
                raise PresetFormatError(
                    path,
                    f"has no {token!r} in its vocabulary, a special token of {cls.__name__}.",
                    "Add it to the vocabulary; keras-hub refuses such a tokenizer too.",
                )
            return found

        start, end = id_of(cls.start_token), id_of(cls.end_token)
        pad = id_of(cls.pad_token)
        wrap_end = (end,) if cls.packs_end_token and end is not None else ()
        return SpecialTokens(
            start=start,
            end=end,
            pad=0 if pad is None else pad,
            stops=_stops(encoder, end, cls.stop_tokens),
            packing=((start,) if start is not None else (), wrap_end),
        )

    @classmethod
    def transformers_special(cls, encoder: Encoder, files: TransformersFiles) -> SpecialTokens:
        """The special tokens a transformers checkpoint's configs name (the class's by default)."""
        start_name, end_name = (
            ("cls_token", "sep_token") if cls.packs_end_token else ("bos_token", "eos_token")
        )

        def id_of(name: str, default: str | None) -> int | None:
            token = files.special(name) or default
            return None if token is None else encoder.token_to_id(token)

        end = id_of(end_name, cls.end_token)
        pad = id_of("pad_token", cls.pad_token)
        return SpecialTokens(
            start=id_of(start_name, cls.start_token),
            end=end,
            pad=0 if pad is None else pad,
            stops=_stops(encoder, end, cls.stop_tokens),
        )

    # === Text to ids and back ===

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """The token ids of `text`.

        Args:
            text: the text.
            add_special_tokens: also the special tokens the model expects around
                one text: a transformers checkpoint's (what `tokenizer(text)`
                adds: BERT's `[CLS]`/`[SEP]`, Llama's and Gemma's BOS where its
                post-processor says so), or for a keras-hub preset what its
                preprocessors add (the start token; BERT's `[CLS]` and `[SEP]`).
                False (the default) adds none, as keras-hub's tokenizer call.

        Example:
            ```python
            tokenizer.encode("a  b")  # "a", "Ġ", "Ġb" for GPT-2, by GPT-2's own rules
            tokenizer.encode("a  b", add_special_tokens=True)  # "<|endoftext|>" first
            ```
        """
        return self.encode_batch([text], add_special_tokens=add_special_tokens)[0]

    def encode_batch(
        self, texts: Iterable[str], *, add_special_tokens: bool = False
    ) -> list[list[int]]:
        """`encode` of each text (in parallel, where the library can)."""
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"encode takes text. Received: {type(text).__name__} {text!r}")
        packing = self._packing
        encoder_adds = add_special_tokens and packing is None
        batch = self._encoder.encode_batch(texts, add_special_tokens=encoder_adds)
        if add_special_tokens and packing is not None:
            before, after = packing
            batch = [[*before, *ids, *after] for ids in batch]
        return batch

    def decode(self, ids: Iterable[int], *, skip_special_tokens: bool = False) -> str:
        """The text of token ids, as the preset's library decodes them.

        Byte-level BPE and SentencePiece give back the text exactly; WordPiece
        (BERT) joins its words with spaces, lowercased if the tokenizer lowercases.
        """
        ids = [int(token_id) for token_id in ids]
        size = self.vocabulary_size
        wrong = [token_id for token_id in ids if not 0 <= token_id < size]
        if wrong:
            raise ValueError(
                f"Token ids must be in [0, {size}) for this tokenizer. Received: {wrong[:5]}"
            )
        return self._encoder.decode(ids, skip_special_tokens=skip_special_tokens)

    @property
    def vocabulary_size(self) -> int:
        """How many ids the tokenizer gives (the model's vocabulary_size may be larger)."""
        return self._encoder.vocabulary_size

    def id_to_token(self, token_id: int) -> str:
        """The token of an id. Raises ValueError for an id outside the vocabulary."""
        token = (
            self._encoder.id_to_token(int(token_id))
            if 0 <= token_id < self.vocabulary_size
            else None
        )
        if token is None:
            raise ValueError(
                f"Token ids are in [0, {self.vocabulary_size}). Received: token_id={token_id}"
            )
        return token

    def token_to_id(self, token: str) -> int:
        """The id of a token. Raises ValueError for a token outside the vocabulary."""
        found = self._encoder.token_to_id(token)
        if found is None:
            raise ValueError(f"The token is not in the vocabulary. Received: token={token!r}")
        return found

    # === Saving ===

    def keras_hub_files(self) -> KerasHubFiles:
        """keras-hub's config and assets for this tokenizer."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved in keras-hub's format.")

    def save_to_preset(self, preset_dir: str | os.PathLike[str]) -> None:
        """Write `tokenizer.json` and `assets/tokenizer/*` in keras-hub's format.

        keras-hub's `<Arch>Tokenizer.from_preset` (and `Tokenizer.from_preset`
        beside the backbone's `config.json`) loads what this writes; so does
        `Tokenizer.from_preset`. Each file is replaced atomically. Save the
        tokenizer before the backbone: the backbone's `save_to_preset` lists every
        file of the directory in `manifest.json`.

        Raises:
            PresetFormatError: keras-hub's format cannot hold this tokenizer (a
                transformers SentencePiece tokenizer without its `tokenizer.model`).
        """
        files = self.keras_hub_files()
        spec = type(self).tokenizer_spec()
        config = {
            "module": spec.config_modules[0],
            "class_name": spec.class_name,
            "config": files.config,
            "registered_name": spec.registered_names[0],
        }
        directory = Path(preset_dir)
        (directory / ASSET_DIR).mkdir(parents=True, exist_ok=True)
        for name, body in files.assets.items():
            tokenizer_files.write_atomically(directory / ASSET_DIR / name, body)
        tokenizer_files.write_atomically(
            directory / KERAS_HUB_CONFIG, json.dumps(config, indent=4).encode()
        )

    @classmethod
    def tokenizer_spec(cls) -> TokenizerSpec:
        """What the allow-list knows of this class: keras-hub's names for it."""
        for spec in tokenizer_files.tokenizer_specs():
            if spec.class_name == cls.__name__ and spec.module == cls.__module__:
                return spec
        raise TypeError(f"{cls.__name__} is not an allow-listed tokenizer class.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} vocabulary_size={self.vocabulary_size}>"


def has_tokenizer(preset_dir: str | os.PathLike[str]) -> bool:
    """Whether a preset directory holds a tokenizer `Tokenizer.from_preset` reads.

    Cheap, and never raises: a keras-hub `tokenizer.json` must name an allowed
    class; a transformers `tokenizer.json` or `tokenizer.model` is enough
    (`from_preset` checks the rest).
    """
    directory = Path(preset_dir)
    try:
        config = tokenizer_files.keras_hub_config(directory)
        if config is not None:
            tokenizer_files.keras_hub_class(directory, config)
            return True
    except (PresetFormatError, OSError):
        return False
    return (directory / TRANSFORMERS_TOKENIZER).is_file() or (
        directory / SENTENCEPIECE_MODEL
    ).is_file()


def _stops(encoder: Encoder, end: int | None, extra: Sequence[str]) -> tuple[int, ...]:
    found = [end] + [encoder.token_to_id(token) for token in extra]
    return tuple(dict.fromkeys(token_id for token_id in found if token_id is not None))


def _checked(cls: type[Tokenizer], found: type[Tokenizer], directory: Path) -> type[Tokenizer]:
    if not issubclass(found, cls):
        raise UnsupportedArchitectureError(
            f"{directory}: holds a {found.__name__}, not a {cls.__name__}. "
            f"Load it with Tokenizer.from_preset, or load a {cls.__name__} preset."
        )
    return found
