"""The three subword families keras-hub's tokenizers build on, run by the field's libraries.

- `BytePairTokenizer`: byte-level BPE (GPT-2, Llama 3) in Hugging Face `tokenizers`,
  pre-splitting text by the model's own rules: GPT-2's regex (`ByteLevel`'s) or
  Llama 3's. keras-hub 0.32's eager path hands its split regex to `tokenizers` as
  a literal string, so it splits nothing and merges across words (`"a  b   c"`
  gives `a`, `ĠĠ`, `b`, ...); its TensorFlow path splits, but keeps a run of
  spaces at the end of a text apart. Both differ from GPT-2's rules, which
  transformers follows and so does this class.
- `WordPieceTokenizer`: BERT's WordPiece in `tokenizers`, after keras-hub's word
  splitting (accents stripped, whitespace, punctuation and CJK split, NFKC case
  folding), written out here because `tokenizers`' BERT normalizer lowercases
  where keras-hub case-folds (`ß` stays `ß` there, is `ss` here).
- `SentencePieceTokenizer`: Gemma and Llama 2 in `sentencepiece`, as keras-hub
  runs them (no special token is matched in the text).

A transformers checkpoint's `tokenizer.json` runs as written, in `tokenizers`,
which is what transformers does with the files it writes.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from registry.architectures.tokenizer import Encoder, SpecialTokens, Tokenizer
from registry.architectures.tokenizer_files import (
    ASSET_DIR,
    KERAS_HUB_CONFIG,
    MAX_DATA_BYTES,
    SENTENCEPIECE_MODEL,
    KerasHubFiles,
    TransformersFiles,
    keras_hub_layer_config,
    malformed,
    option,
    read_bytes,
    read_json_object,
    read_lines,
    string_list,
)
from registry.errors import PresetFileMissingError, PresetFormatError

if TYPE_CHECKING:
    import tokenizers
    from typing_extensions import Self

BPE_VOCABULARY = "vocabulary.json"
BPE_MERGES = "merges.txt"
WORDPIECE_VOCABULARY = "vocabulary.txt"
SENTENCEPIECE_VOCABULARY = "vocabulary.spm"


# === The libraries, behind `Encoder` ===


class FastEncoder:
    """A `tokenizers.Tokenizer`: its pipeline does the whole work."""

    def __init__(self, pipeline: tokenizers.Tokenizer) -> None:
        self.pipeline = pipeline

    @property
    def vocabulary_size(self) -> int:
        return int(self.pipeline.get_vocab_size(with_added_tokens=True))

    def encode_batch(self, texts: list[str], *, add_special_tokens: bool) -> list[list[int]]:
        encodings = self.pipeline.encode_batch_fast(texts, add_special_tokens=add_special_tokens)
        return [list(encoding.ids) for encoding in encodings]

    def decode(self, ids: list[int], *, skip_special_tokens: bool) -> str:
        return str(self.pipeline.decode(ids, skip_special_tokens=skip_special_tokens))

    def id_to_token(self, token_id: int) -> str | None:
        token = self.pipeline.id_to_token(token_id)
        return None if token is None else str(token)

    def token_to_id(self, token: str) -> int | None:
        found = self.pipeline.token_to_id(token)
        return None if found is None else int(found)


class SentencePieceEncoder:
    """A SentencePiece model: what keras-hub's SentencePiece tokenizers run."""

    def __init__(
        self,
        proto: bytes,
        path: Path,
        *,
        always: tuple[bool, bool] = (False, False),
        with_special: tuple[bool, bool] = (False, False),
    ) -> None:
        import sentencepiece

        try:
            self.processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
        except (RuntimeError, TypeError) as error:
            raise malformed(path, error) from error
        # Whether BOS and EOS are added to every text (keras-hub's `add_bos` and
        # `add_eos`), and with special tokens (transformers' `add_bos_token`...).
        self.always, self.with_special = always, with_special

    @property
    def vocabulary_size(self) -> int:
        return int(self.processor.get_piece_size())

    def encode_batch(self, texts: list[str], *, add_special_tokens: bool) -> list[list[int]]:
        (bos, eos), (special_bos, special_eos) = self.always, self.with_special
        ids = self.processor.encode(
            texts,
            add_bos=bos or (add_special_tokens and special_bos),
            add_eos=eos or (add_special_tokens and special_eos),
        )
        return [list(row) for row in ids]

    def decode(self, ids: list[int], *, skip_special_tokens: bool) -> str:
        if skip_special_tokens:
            ids = [i for i in ids if not self.processor.is_control(i)]
        return str(self.processor.decode(ids))

    def id_to_token(self, token_id: int) -> str | None:
        return str(self.processor.id_to_piece(token_id))

    def token_to_id(self, token: str) -> int | None:
        found = int(self.processor.piece_to_id(token))
        return found if self.processor.id_to_piece(found) == token else None


# === Byte-level BPE ===


def _bpe_vocabulary(path: Path) -> dict[str, int]:
    vocabulary = read_json_object(path, max_bytes=MAX_DATA_BYTES)
    ids = list(vocabulary.values())
    bad = [
        t for t, i in vocabulary.items() if not isinstance(i, int) or isinstance(i, bool) or i < 0
    ]
    if bad or len(set(ids)) != len(ids):
        problem = f"maps {bad[0]!r} to {vocabulary[bad[0]]!r}" if bad else "gives two tokens one id"
        raise PresetFormatError(
            path,
            f"{problem}; a vocabulary maps each token to its own non-negative id.",
            "Save the tokenizer again with keras-hub's `save_to_preset()`.",
        )
    return vocabulary


def _bpe_merges(path: Path) -> list[tuple[str, str]]:
    merges = []
    for number, line in enumerate(read_lines(path), start=1):
        if "#version:" in line.lstrip():
            continue  # a header transformers' merges.txt has; keras-hub skips it too
        pair = line.split(" ")
        if len(pair) != 2 or not all(pair):
            raise PresetFormatError(
                path,
                f"line {number} is {line!r}, not two tokens separated by one space.",
                "Save the tokenizer again with keras-hub's `save_to_preset()`.",
            )
        merges.append((pair[0], pair[1]))
    return merges


class BytePairTokenizer(Tokenizer):
    """Byte-level BPE (GPT-2, Llama 3), run by `tokenizers` with the model's own pre-split."""

    transformers_kind = "byte_level"
    # The pre-tokenizer's split before the byte-level mapping: None for GPT-2's
    # regex (built into `tokenizers`' `ByteLevel`), else another regex (Llama 3's).
    split_pattern: ClassVar[str | None] = None
    # Matched whole in the text (keras-hub's `unsplittable_tokens` by default).
    unsplittable_tokens: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, encoder: FastEncoder, special: SpecialTokens, *, add_prefix_space: bool
    ) -> None:
        super().__init__(encoder, special)
        self._pipeline = encoder.pipeline
        self._add_prefix_space = add_prefix_space

    @classmethod
    def pipeline(
        cls,
        vocabulary: dict[str, int],
        merges: list[tuple[str, str]],
        specials: list[str],
        *,
        add_prefix_space: bool,
    ) -> tokenizers.Tokenizer:
        """The `tokenizers` pipeline of keras-hub's files: BPE, the model's split, specials."""
        from tokenizers import Regex, decoders, models, pre_tokenizers
        from tokenizers import Tokenizer as Pipeline

        pipeline = Pipeline(models.BPE(vocab=vocabulary, merges=merges, fuse_unk=False))
        if cls.split_pattern is None:
            pipeline.pre_tokenizer = pre_tokenizers.ByteLevel(
                add_prefix_space=add_prefix_space, use_regex=True
            )
        else:
            pipeline.pre_tokenizer = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(cls.split_pattern), behavior="isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=False),
                ]
            )
        pipeline.decoder = decoders.ByteLevel()
        pipeline.add_special_tokens(specials)
        return pipeline

    @classmethod
    def from_keras_hub(cls, directory: Path, config: Mapping[str, Any]) -> Self:
        path = directory / KERAS_HUB_CONFIG
        merges_path = directory / ASSET_DIR / BPE_MERGES
        return cls.build(
            _bpe_vocabulary(directory / ASSET_DIR / BPE_VOCABULARY),
            _bpe_merges(merges_path),
            add_prefix_space=option(path, config, "add_prefix_space", bool, False),
            unsplittable_tokens=string_list(path, config, "unsplittable_tokens"),
            path=path,
        )

    @classmethod
    def from_vocabulary(
        cls, vocabulary: Mapping[str, int], merges: Sequence[str], *, add_prefix_space: bool = False
    ) -> Self:
        """A tokenizer of keras-hub's arguments: `vocabulary` (token to id, the class's
        special tokens included) and `merges` (`"Ġ t"`, most frequent first).

        Raises:
            ValueError: a merge or a special token the vocabulary does not hold.
        """
        pairs = [tuple(merge.split(" ")) for merge in merges]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"Merges are two tokens and a space. Received: {list(merges)[:3]}...")
        return cls.build(
            dict(vocabulary),
            [(a, b) for a, b in pairs],
            add_prefix_space=add_prefix_space,
            unsplittable_tokens=None,
            path=Path(KERAS_HUB_CONFIG),
        )

    @classmethod
    def build(
        cls,
        vocabulary: dict[str, int],
        merges: list[tuple[str, str]],
        *,
        add_prefix_space: bool,
        unsplittable_tokens: list[str] | None,
        path: Path,
    ) -> Self:
        """The tokenizer of keras-hub's files (`path`, named in errors)."""
        specials = (
            list(cls.unsplittable_tokens) if unsplittable_tokens is None else unsplittable_tokens
        )
        missing = [token for token in specials if token not in vocabulary]
        if missing:
            raise PresetFormatError(
                path,
                f"names unsplittable tokens {missing} its vocabulary does not hold.",
                "Add them to vocabulary.json; keras-hub refuses such a tokenizer too.",
            )
        try:
            pipeline = cls.pipeline(vocabulary, merges, specials, add_prefix_space=add_prefix_space)
        except Exception as error:  # tokenizers: a merge of tokens not in the vocabulary
            raise malformed(path.parent / ASSET_DIR / BPE_MERGES, error) from error
        encoder = FastEncoder(pipeline)
        return cls(encoder, cls.keras_hub_special(encoder, path), add_prefix_space=add_prefix_space)

    @classmethod
    def from_transformers(cls, files: TransformersFiles) -> Self:
        encoder = FastEncoder(files.require_pipeline("a byte-level BPE"))
        add_prefix_space = files.flag("add_prefix_space", False)
        return cls(
            encoder, cls.transformers_special(encoder, files), add_prefix_space=add_prefix_space
        )

    def keras_hub_files(self) -> KerasHubFiles:
        model = json.loads(self._pipeline.to_str())["model"]
        vocabulary: dict[str, int] = dict(model["vocab"])
        added = self._pipeline.get_added_tokens_decoder()
        for token_id, token in sorted(added.items()):
            vocabulary.setdefault(token.content, token_id)
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        config = keras_hub_layer_config(
            self.name,
            sequence_length=None,
            add_prefix_space=self._add_prefix_space,
            unsplittable_tokens=[token.content for _, token in sorted(added.items())],
        )
        return KerasHubFiles(
            config=config,
            assets={
                BPE_VOCABULARY: json.dumps(vocabulary).encode(),
                BPE_MERGES: "".join(f"{merge}\n" for merge in merges).encode(),
            },
        )


# === WordPiece ===

# keras-hub's word boundaries (its `WordPieceTokenizer`, after BERT's own code):
# whitespace and invisible characters split and go; punctuation (ASCII
# non-alphanumerics, Unicode P*) and CJK ideographs split and stay.
_WHITESPACE = frozenset(" \t\n\r\f")
_ASCII_PUNCTUATION = frozenset(
    chr(c) for c in (*range(0x21, 0x30), *range(0x3A, 0x41), *range(0x5B, 0x61), *range(0x7B, 0x7F))
)
_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
# Unicode's Default_Ignorable_Code_Point: NFKC_Casefold (keras-hub's lowercasing) drops them.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
# keras-hub (tf-text's FastWordpieceTokenizer) gives a longer word the unknown token.
MAX_BYTES_PER_WORD = 100


def _in(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= ord(char) <= high for low, high in ranges)


def casefold(word: str) -> str:
    """NFKC_Casefold, as tf-text's `case_fold_utf8` (keras-hub's lowercasing)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return "".join(char for char in folded if not _in(char, _DEFAULT_IGNORABLE))


@dataclass(frozen=True)
class WordPieceOptions:
    """keras-hub's `WordPieceTokenizer` arguments that change the ids."""

    lowercase: bool = False
    strip_accents: bool = False
    split_on_cjk: bool = True
    suffix_indicator: str = "##"
    oov_token: str = "[UNK]"
    special_tokens: tuple[str, ...] | None = None  # keras-hub's `special_tokens` argument
    special_tokens_in_strings: bool = False


def split_words(text: str, options: WordPieceOptions, specials: tuple[str, ...]) -> list[str]:
    """keras-hub's pre-tokenization of one text into words (its Python path, rule for rule)."""
    if options.strip_accents:
        text = "".join(
            c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
        )
    words: list[str] = []
    start = position = 0

    def flush(end: int) -> None:
        if end > start:
            words.append(text[start:end])

    while position < len(text):
        special = next((s for s in specials if text.startswith(s, position)), None)
        char = text[position]
        kept = special or (
            char if char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")
            or (options.split_on_cjk and _in(char, _CJK)) else None
        )  # fmt: skip
        if kept is not None or char in _WHITESPACE or unicodedata.category(char) in ("Cc", "Cf"):
            flush(position)
            if kept is not None:
                words.append(kept)
            position += len(kept) if kept else 1
            start = position
        else:
            position += 1
    flush(position)
    if options.lowercase:
        words = [word if word in specials else casefold(word) for word in words]
    return words


class WordPieceEncoder(FastEncoder):
    """keras-hub's word splitting, then WordPiece in `tokenizers`; keras-hub's decoding."""

    def __init__(
        self, pipeline: tokenizers.Tokenizer, options: WordPieceOptions, specials: tuple[str, ...]
    ) -> None:
        super().__init__(pipeline)
        self.options = options
        self.specials = specials

    def words(self, text: str) -> list[str]:
        """keras-hub's words of a text, a word over its byte limit as the unknown token."""
        return [
            word if len(word.encode("utf-8")) <= MAX_BYTES_PER_WORD else self.options.oov_token
            for word in split_words(text, self.options, self.specials)
        ]

    def encode_batch(self, texts: list[str], *, add_special_tokens: bool) -> list[list[int]]:
        batch = [self.words(text) for text in texts]
        encodings = self.pipeline.encode_batch_fast(
            batch, is_pretokenized=True, add_special_tokens=False
        )
        return [list(encoding.ids) for encoding in encodings]

    def decode(self, ids: list[int], *, skip_special_tokens: bool) -> str:
        suffix = self.options.suffix_indicator
        skipped = (
            {self.pipeline.token_to_id(s) for s in self.specials} if skip_special_tokens else set()
        )
        words: list[str] = []
        for token_id in ids:
            if token_id in skipped:
                continue
            token = str(self.pipeline.id_to_token(token_id))
            # As tf-text: a suffix piece joins the word before it.
            if words and len(token) > len(suffix) and token.startswith(suffix):
                words[-1] += token[len(suffix) :]
            else:
                words.append(token)
        return " ".join(words)


class WordPieceTokenizer(Tokenizer):
    """WordPiece (BERT), run by `tokenizers` after keras-hub's word splitting."""

    transformers_kind = "wordpiece"
    # Matched whole in the text when `special_tokens_in_strings` (keras-hub's special tokens).
    special_token_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, encoder: FastEncoder, special: SpecialTokens, *, options: WordPieceOptions
    ) -> None:
        super().__init__(encoder, special)
        self._pipeline = encoder.pipeline
        self._options = options

    @classmethod
    def options_of(cls, path: Path, config: Mapping[str, Any]) -> WordPieceOptions:
        if not option(path, config, "split", bool, True):
            raise PresetFormatError(
                path,
                "sets split to false: the tokenizer expects words split by the caller.",
                "Save the tokenizer with split=True (keras-hub's default).",
            )
        specials = string_list(path, config, "special_tokens")
        return WordPieceOptions(
            lowercase=option(path, config, "lowercase", bool, False),
            strip_accents=option(path, config, "strip_accents", bool, False),
            split_on_cjk=option(path, config, "split_on_cjk", bool, True),
            suffix_indicator=option(path, config, "suffix_indicator", str, "##"),
            oov_token=option(path, config, "oov_token", str, "[UNK]"),
            special_tokens=None if specials is None else tuple(specials),
            special_tokens_in_strings=option(
                path, config, "special_tokens_in_strings", bool, False
            ),
        )

    @classmethod
    def from_keras_hub(cls, directory: Path, config: Mapping[str, Any]) -> Self:
        from tokenizers import Tokenizer as Pipeline
        from tokenizers import models

        path = directory / KERAS_HUB_CONFIG
        options = cls.options_of(path, config)
        vocabulary_path = directory / ASSET_DIR / WORDPIECE_VOCABULARY
        vocabulary = read_lines(vocabulary_path)
        if options.oov_token not in vocabulary:
            raise PresetFormatError(
                vocabulary_path,
                f"does not hold the unknown token {options.oov_token!r}.",
                "Add it to the vocabulary; keras-hub refuses such a tokenizer too.",
            )
        ids = {token: i for i, token in enumerate(vocabulary)}  # a repeated token: its last line
        pipeline = Pipeline(
            models.WordPiece(
                vocab=ids,
                unk_token=options.oov_token,
                continuing_subword_prefix=options.suffix_indicator,
                max_input_chars_per_word=1 << 30,  # keras-hub's limit is in bytes: applied before
            )
        )
        specials: tuple[str, ...] = ()
        if options.special_tokens_in_strings:
            specials = tuple(
                dict.fromkeys((*cls.special_token_names, *(options.special_tokens or ())))
            )
        encoder = WordPieceEncoder(pipeline, options, specials)
        return cls(encoder, cls.keras_hub_special(encoder, path), options=options)

    @classmethod
    def from_transformers(cls, files: TransformersFiles) -> Self:
        encoder = FastEncoder(files.require_pipeline("a WordPiece"))
        lowercase = files.flag("do_lower_case", True)
        strip_accents = files.config.get("strip_accents")
        model = json.loads(encoder.pipeline.model.__getstate__())
        added = encoder.pipeline.get_added_tokens_decoder().values()
        others = [
            t.content for t in added if t.special and t.content not in cls.special_token_names
        ]
        options = WordPieceOptions(
            lowercase=lowercase,
            # transformers strips accents where it lowercases, unless told otherwise.
            strip_accents=lowercase if strip_accents is None else bool(strip_accents),
            split_on_cjk=files.flag("tokenize_chinese_chars", True),
            suffix_indicator=str(model.get("continuing_subword_prefix") or "##"),
            oov_token=str(model.get("unk_token") or "[UNK]"),
            # transformers matches its special tokens in text (`[UNK]` too).
            special_tokens=tuple(others) or None,
            special_tokens_in_strings=True,
        )
        return cls(encoder, cls.transformers_special(encoder, files), options=options)

    def keras_hub_files(self) -> KerasHubFiles:
        by_id = sorted(
            (i, token) for token, i in self._pipeline.get_vocab(with_added_tokens=True).items()
        )
        if [i for i, _ in by_id] != list(range(len(by_id))):
            raise PresetFormatError(
                KERAS_HUB_CONFIG,
                "cannot be written: the vocabulary's ids have gaps, which vocabulary.txt "
                "cannot express.",
                "Give every id from 0 to the vocabulary size a token.",
            )
        options = self._options
        config = keras_hub_layer_config(
            self.name,
            vocabulary=None,
            sequence_length=None,
            lowercase=options.lowercase,
            strip_accents=options.strip_accents,
            split=True,
            suffix_indicator=options.suffix_indicator,
            oov_token=options.oov_token,
            special_tokens=None if options.special_tokens is None else list(options.special_tokens),
            special_tokens_in_strings=options.special_tokens_in_strings,
        )
        if not options.split_on_cjk:
            config["split_on_cjk"] = False
        body = "".join(f"{token}\n" for _, token in by_id)
        return KerasHubFiles(config=config, assets={WORDPIECE_VOCABULARY: body.encode()})


# === SentencePiece ===


def _proto(files: TransformersFiles, proto: bytes | None) -> bytes:
    if proto is None:
        raise PresetFileMissingError(
            files.directory / SENTENCEPIECE_MODEL,
            "is missing, and so is tokenizer.json: the checkpoint has no tokenizer.",
            "Save the tokenizer with transformers' `save_pretrained()`.",
        )
    return proto


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece (Gemma, Llama 2), run by `sentencepiece` as keras-hub runs it."""

    transformers_kind = "sentencepiece"

    def __init__(
        self,
        encoder: Encoder,
        special: SpecialTokens,
        *,
        proto: bytes | None,
        add_bos: bool,
        add_eos: bool,
    ) -> None:
        super().__init__(encoder, special)
        self._proto = proto
        self._add_bos, self._add_eos = add_bos, add_eos

    @classmethod
    def from_keras_hub(cls, directory: Path, config: Mapping[str, Any]) -> Self:
        path = directory / KERAS_HUB_CONFIG
        proto_path = directory / ASSET_DIR / SENTENCEPIECE_VOCABULARY
        proto = read_bytes(proto_path)
        add_bos = option(path, config, "add_bos", bool, False)
        add_eos = option(path, config, "add_eos", bool, False)
        encoder = SentencePieceEncoder(proto, proto_path, always=(add_bos, add_eos))
        special = cls.keras_hub_special(encoder, path)
        return cls(encoder, special, proto=proto, add_bos=add_bos, add_eos=add_eos)

    @classmethod
    def from_transformers(cls, files: TransformersFiles) -> Self:
        proto = read_bytes(files.sentencepiece) if files.sentencepiece is not None else None
        encoder: Encoder
        if files.pipeline is not None:
            encoder = FastEncoder(files.pipeline)
        else:
            # Only the SentencePiece model: run as the model's own tokenizer, with
            # the BOS (EOS) transformers adds where its config says so.
            encoder = SentencePieceEncoder(
                _proto(files, proto),
                files.directory / SENTENCEPIECE_MODEL,
                with_special=(
                    files.flag("add_bos_token", True),
                    files.flag("add_eos_token", False),
                ),
            )
        special = cls.transformers_special(encoder, files)
        return cls(encoder, special, proto=proto, add_bos=False, add_eos=False)

    def keras_hub_files(self) -> KerasHubFiles:
        if self._proto is None:
            raise PresetFormatError(
                "tokenizer.model",
                "is missing: keras-hub's SentencePiece tokenizers need the SentencePiece "
                "model, and this checkpoint has only its tokenizer.json.",
                "Add the checkpoint's tokenizer.model beside its tokenizer.json.",
            )
        config = keras_hub_layer_config(
            self.name,
            proto=None,
            sequence_length=None,
            add_bos=self._add_bos,
            add_eos=self._add_eos,
        )
        return KerasHubFiles(config=config, assets={SENTENCEPIECE_VOCABULARY: self._proto})
