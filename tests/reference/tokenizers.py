"""Tokenizer reference cases: vocabularies trained here, saved and run by the libraries.

Small vocabularies are trained deterministically from `TRAINING_TEXT` (tokenizers'
`BpeTrainer` and `WordPieceTrainer`, sentencepiece's trainer on one thread with a
fixed seed), saved by keras-hub's tokenizer classes (`save_to_preset`) and by
transformers' (`save_pretrained`), and run on `CORPUS` by the library that saved
them. Each `<name>_io.npz` holds `texts` and, per text, ragged lists stored flat
with offsets (`ids` and `ids_offsets`: row `i` is `ids[ids_offsets[i]:ids_offsets[i + 1]]`):

- `ids`: the ids this project must give with `add_special_tokens=False`: what
  keras-hub's tokenizer returns for a keras-hub preset (for byte-level BPE,
  transformers' on the same files: see below), what transformers'
  `tokenizer(text, add_special_tokens=False)` returns for a checkpoint;
- `special_ids`: with the special tokens: keras-hub's preprocessor's packing
  of one text (its causal-LM `generate_preprocess`, BERT's classifier
  preprocessor), transformers' `tokenizer(text)`;
- `keras_hub_ids`, `keras_hub_tf_ids`: keras-hub's tokenizer on its default
  (eager) path and on its TensorFlow path (keras-hub presets);
- `decoded`: the library's decoding of `ids`.

keras-hub 0.32's eager byte-level BPE passes its split regex to `tokenizers` as
a literal string, so it does not pre-split text (`"a  b   c"` merges `"  "` across
words); its TensorFlow path splits, but keeps trailing spaces apart. For
GPT-2 and Llama 3 presets `ids` is therefore transformers' on the same vocabulary
and merges (GPT-2's and Llama 3's own rules); both keras-hub paths are recorded
beside it.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.reference.cases import Case

# === What the vocabularies are trained on, and what they are run on ===

TRAINING_TEXT = """\
The quick brown fox jumps over the lazy dog, and the dog does not mind at all.
Tokenizers turn text into numbers: words, pieces of words, bytes and spaces.
A registry of models keeps every file with its checksum, so nothing changes unseen.
She sells sea shells by the sea shore; the shells she sells are surely seashells.
Peter Piper picked a peck of pickled peppers, then counted them: 1, 2, 3, 10, 100.
In 2024 the server answered 1,234 requests in 56 ms on average (p99: 789 ms).
Hello, world! Hello again, World. HELLO?! It's the third time we've said it.
They're sure you'll like it; I'm not, but he'd say we'd better try anyway.
def encode(text):
    pieces = split(text)
    return [vocabulary[piece] for piece in pieces]
        if piece in vocabulary:
            return  vocabulary[piece]
    indented lines,\tand tabs,\t\tdouble tabs, and  double  spaces   too.
Café, naïve, façade, résumé, Ångström, São Paulo, Zürich, jalapeño, crème brûlée.
東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.
Emoji travel as bytes: 😀 🎉 👍 ❤️ and symbols © ® ™ → ∑ √ ∞ ≠ ≤.
Gemma, Llama, GPT-2 and BERT each read text their own way, with their own pieces.
The model generates one token at a time, and stops at the end of the text.
Numbers like 3.14159, 2.71828 and 1,000,000 are split into digits or groups.
Every preset is verified: its weights, its config and its tokenizer files.
The catalog lists each revision, and the store keeps each blob by its digest.
Training data, evaluation data, and the text a user types into the box.
Whitespace matters: a  b   c    d, tabs\tand newlines
and blank lines

all count.
"""

# Whitespace runs, tabs and newlines, Unicode (accents, CJK, emoji, other spaces),
# digits, punctuation, and every family's special tokens written in the text.
CORPUS = (
    "The quick brown fox jumps over the lazy dog.",
    "a  b   c    d",
    "tabs\tand\t\ttabs, newlines\nand\n\nblank lines\r\n",
    "   leading and trailing spaces   ",
    "Ünïcödé àccents: café, naïve, façade, Ångström, ÉCOLE",
    "CJK: 東京は日本の首都です。中文\uff0c한국어",  # a fullwidth comma
    "emoji 😀🎉👍🏽 ❤️ and symbols ©®™ → ∑ √ ∞",
    "digits 0 12 345 6789 3.14159 1,000,000 2024-05-17",
    "punctuation!?!... (brackets) [square] {curly} <angle> \"quotes\" 'single' -- em—dash",
    "it's we'll they're I'M DON'T You'Re",
    "<|endoftext|>special<|endoftext|> tokens <|endoftext|>",
    "[CLS] bert [SEP] tokens [MASK] [PAD] [UNK]",
    "<bos>gemma<eos> <pad> <s>llama</s> <unk> <start_of_turn>user",
    "<|begin_of_text|>llama3<|end_of_text|><|eot_id|> <|start_header_id|>",
    "no\u00a0break\u3000ideographic\u2009thin space\u200bzero\u00adsoft",
    "",
    "ß straße ΣΊΣΥΦΟΣ ﬁne ① \uff21\uff22\uff23",  # fullwidth ABC
    "long word " + "ж" * 60 + " " + "x" * 120,
    "Hello, World! HELLO world hello WORLD",
    "bell\x07 and control chars",
)

SEED = 20260517
GPT2_END = "<|endoftext|>"
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LLAMA3_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]
# Llama 3's pre-split, as its tokenizer.json writes it.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _lines() -> list[str]:
    return TRAINING_TEXT.splitlines()


# === Training (once per family, shared by its keras-hub and transformers cases) ===


def train_byte_level_bpe(
    lines: Sequence[str], size: int, *, split: str | None = None
) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE of `size` ids (256 bytes, merges), pre-split by GPT-2's regex
    (`split` None) or `split`; tokenizers' `BpeTrainer` is deterministic."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    pipeline = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=split is None)
    pipeline.pre_tokenizer = (
        byte_level
        if split is None
        else pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(split), behavior="isolated"), byte_level]
        )
    )
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    pipeline.train_from_iterator(lines, trainer)
    model = json.loads(pipeline.to_str())["model"]
    if len(model["vocab"]) != size:
        raise RuntimeError(f"trained {len(model['vocab'])} ids, not {size}: give it more text")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


@functools.cache
def gpt2_vocabulary() -> tuple[dict[str, int], list[str]]:
    vocabulary, merges = train_byte_level_bpe(_lines(), 511)
    return {**vocabulary, GPT2_END: len(vocabulary)}, merges


@functools.cache
def llama3_vocabulary() -> tuple[dict[str, int], list[str]]:
    vocabulary, merges = train_byte_level_bpe(_lines(), 507, split=LLAMA3_SPLIT)
    for token in LLAMA3_SPECIALS:
        vocabulary[token] = len(vocabulary)
    return vocabulary, merges


@functools.cache
def bert_vocabulary(lowercase: bool) -> tuple[str, ...]:
    """A WordPiece vocabulary of 400 tokens, BERT's normalization (uncased or cased).

    The trainer numbers the `##` pieces of single characters in hash order, which
    breaks ties between merges differently on each run; given first, in order,
    (as the trainer's special tokens) they make it deterministic.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    pipeline = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    pipeline.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    pipeline.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = [
        word
        for line in _lines()
        for word, _ in pipeline.pre_tokenizer.pre_tokenize_str(
            pipeline.normalizer.normalize_str(line)
        )
    ]
    pieces = sorted({"##" + char for word in words for char in word[1:]})
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=BERT_SPECIALS + pieces, show_progress=False
    )
    pipeline.train_from_iterator(_lines(), trainer)
    by_id = sorted((i, token) for token, i in pipeline.get_vocab().items())
    return tuple(token for _, token in by_id)


@functools.cache
def sentencepiece_model(kind: str) -> bytes:
    """A byte-fallback BPE SentencePiece model as Gemma's (`gemma`) or Llama 2's (`llama`):
    no normalization, whitespace kept, digits split; one thread, a fixed seed."""
    import sentencepiece

    layout: dict[str, Any] = (
        dict(
            pad_id=0, eos_id=1, bos_id=2, unk_id=3,
            pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
            user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
            add_dummy_prefix=False,
        )
        if kind == "gemma"
        else dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True)
    )  # fmt: skip
    sentencepiece.set_random_generator_seed(SEED)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_lines()),
        model_writer=model,
        vocab_size=480,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
        **layout,
    )
    return model.getvalue()


# === What each library computes ===


def ragged(name: str, rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """`rows` as `name` (flat int32) and `name_offsets` (int64, one more than rows)."""
    offsets = np.cumsum([0, *(len(row) for row in rows)]).astype("int64")
    flat = np.array([i for row in rows for i in row], dtype="int32")
    return {name: flat, f"{name}_offsets": offsets}


def _as_list(ids: Any) -> list[int]:
    return [int(i) for i in np.asarray(ids).reshape(-1)]


def _keras_hub_paths(make: Callable[..., Any]) -> dict[str, np.ndarray]:
    """keras-hub's tokenizer on its default (eager) path and on its TensorFlow path."""
    eager, graph = make(), make(_allow_python_workflow=False)
    return {
        **ragged("keras_hub_ids", [_as_list(eager(text)) for text in CORPUS]),
        **ragged("keras_hub_tf_ids", [_as_list(graph(text)) for text in CORPUS]),
    }


def _packed(preprocessor: Any, *, generate: bool) -> list[list[int]]:
    """What a keras-hub preprocessor feeds the model for each text, without the padding
    after it (its mask also hides a pad token written in the text)."""
    rows = []
    for text in CORPUS:
        x = preprocessor.generate_preprocess(text) if generate else preprocessor(text)
        ids, mask = (
            np.asarray(x["token_ids"]).reshape(-1),
            np.asarray(x["padding_mask"]).reshape(-1),
        )
        rows.append(_as_list(ids[: int(np.flatnonzero(mask).max()) + 1]))
    return rows


def _texts(decoded: Sequence[str]) -> dict[str, np.ndarray]:
    return {"texts": np.array(CORPUS), "decoded": np.array(list(decoded))}


def _keras_hub_config(backbone: Any, directory: Path) -> None:
    """The backbone's `config.json`, as keras-hub writes it: `Tokenizer.from_preset`
    needs it to pick the tokenizer class (no weights: the tokenizer is the point)."""
    with tempfile.TemporaryDirectory() as scratch:
        backbone.save_to_preset(scratch)
        shutil.copy(Path(scratch) / "config.json", directory / "config.json")


def _transformers_io(tokenizer: Any) -> dict[str, np.ndarray]:
    plain = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in CORPUS]
    special = [tokenizer(text)["input_ids"] for text in CORPUS]
    return {
        **ragged("ids", plain),
        **ragged("special_ids", special),
        **_texts([tokenizer.decode(ids) for ids in plain]),
    }


def _save_pretrained(tokenizer: Any, directory: Path) -> None:
    # A tokenizer loaded from a scratch folder remembers its path; not the point.
    tokenizer.init_kwargs.pop("vocab_file", None)
    tokenizer.save_pretrained(directory)


# === GPT-2 ===

TINY_DECODER = dict(num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16)


def _gpt2_transformers(vocabulary: dict[str, int], merges: list[str]) -> Any:
    from transformers import GPT2Tokenizer

    return GPT2Tokenizer(vocab=vocabulary, merges=[tuple(m.split(" ")) for m in merges])


def keras_hub_gpt2(directory: Path) -> dict[str, np.ndarray]:
    import keras_hub

    vocabulary, merges = gpt2_vocabulary()

    def make(**kwargs: Any) -> Any:
        return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges, **kwargs)

    tokenizer = make()
    tokenizer.save_to_preset(str(directory))
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary), max_sequence_length=512, **TINY_DECODER
    )
    _keras_hub_config(backbone, directory)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=512)
    right = _gpt2_transformers(vocabulary, merges)  # GPT-2's own pre-split
    plain = [right(text)["input_ids"] for text in CORPUS]
    return {
        **ragged("ids", plain),
        **ragged("special_ids", _packed(preprocessor, generate=True)),
        **_keras_hub_paths(make),
        **_texts([tokenizer.detokenize(ids) for ids in plain]),
    }


def transformers_gpt2(directory: Path) -> dict[str, np.ndarray]:
    tokenizer = _gpt2_transformers(*gpt2_vocabulary())
    _save_pretrained(tokenizer, directory)
    return _transformers_io(tokenizer)


# === Llama 3 ===


def llama3_pipeline(vocabulary: dict[str, int], merges: list[str], *, ignore_merges: bool) -> Any:
    """Llama 3's `tokenizers` pipeline, as its tokenizer.json has it: the split, byte
    level, special tokens, `<|begin_of_text|>` before every text (and, with
    `ignore_merges`, a pre-split word found whole in the vocabulary taken whole:
    Meta's files say so; keras-hub's BPE cannot)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    pipeline = Tokenizer(
        models.BPE(
            vocab={t: i for t, i in vocabulary.items() if t not in LLAMA3_SPECIALS},
            merges=[tuple(m.split(" ")) for m in merges],
            ignore_merges=ignore_merges,
        )
    )
    pipeline.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    pipeline.decoder = decoders.ByteLevel()
    pipeline.add_special_tokens(LLAMA3_SPECIALS)
    begin = LLAMA3_SPECIALS[0]
    pipeline.post_processor = processors.TemplateProcessing(
        single=f"{begin} $A",
        pair=f"{begin} $A {begin} $B:1",
        special_tokens=[(begin, vocabulary[begin])],
    )
    return pipeline


def _llama3_transformers(
    vocabulary: dict[str, int], merges: list[str], *, ignore_merges: bool
) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=llama3_pipeline(vocabulary, merges, ignore_merges=ignore_merges),
        bos_token=LLAMA3_SPECIALS[0],
        eos_token=LLAMA3_SPECIALS[1],
    )


def keras_hub_llama3(directory: Path) -> dict[str, np.ndarray]:
    import keras_hub

    vocabulary, merges = llama3_vocabulary()

    def make(**kwargs: Any) -> Any:
        # keras-hub's default list comes from a set, in hash order: given in order here.
        return keras_hub.models.Llama3Tokenizer(
            vocabulary=vocabulary, merges=merges, unsplittable_tokens=LLAMA3_SPECIALS, **kwargs
        )

    tokenizer = make()
    tokenizer.save_to_preset(str(directory))
    backbone = keras_hub.models.Llama3Backbone(
        vocabulary_size=len(vocabulary), num_query_heads=2, num_key_value_heads=1,
        num_layers=1, hidden_dim=8, intermediate_dim=16,
    )  # fmt: skip
    _keras_hub_config(backbone, directory)
    preprocessor = keras_hub.models.Llama3CausalLMPreprocessor(tokenizer, sequence_length=512)
    # Llama 3's own pre-split over keras-hub's files (their BPE merges every word).
    right = _llama3_transformers(vocabulary, merges, ignore_merges=False)
    plain = [right(text, add_special_tokens=False)["input_ids"] for text in CORPUS]
    return {
        **ragged("ids", plain),
        **ragged("special_ids", _packed(preprocessor, generate=True)),
        **_keras_hub_paths(make),
        **_texts([tokenizer.detokenize(ids) for ids in plain]),
    }


def transformers_llama3(directory: Path) -> dict[str, np.ndarray]:
    from transformers import LlamaConfig

    vocabulary, merges = llama3_vocabulary()
    tokenizer = _llama3_transformers(vocabulary, merges, ignore_merges=True)
    _save_pretrained(tokenizer, directory)
    # A checkpoint's config.json: its model_type names the architecture (the
    # tokenizer's class is transformers' generic one).
    LlamaConfig(
        vocab_size=len(vocabulary), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1,
    ).save_pretrained(directory)  # fmt: skip
    return _transformers_io(tokenizer)


# === BERT ===


def keras_hub_bert(*, lowercase: bool) -> Callable[[Path], dict[str, np.ndarray]]:
    """Uncased (lowercase, accents stripped) or cased with special tokens matched in text."""

    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras_hub

        options = (
            dict(lowercase=True, strip_accents=True)
            if lowercase
            else dict(lowercase=False, special_tokens_in_strings=True)
        )

        def make(**kwargs: Any) -> Any:
            vocabulary = list(bert_vocabulary(lowercase))
            return keras_hub.models.BertTokenizer(vocabulary=vocabulary, **options, **kwargs)

        tokenizer = make()
        tokenizer.save_to_preset(str(directory))
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=512, **TINY_DECODER
        )
        _keras_hub_config(backbone, directory)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=512
        )
        paths = _keras_hub_paths(make)
        plain = [_as_list(tokenizer(text)) for text in CORPUS]
        return {
            **ragged("ids", plain),
            **ragged("special_ids", _packed(preprocessor, generate=False)),
            **paths,
            **_texts([tokenizer.detokenize(ids) for ids in plain]),
        }

    return write


def transformers_bert(directory: Path) -> dict[str, np.ndarray]:
    from transformers import BertTokenizer

    vocabulary = bert_vocabulary(True)
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocabulary)}, do_lower_case=True)
    _save_pretrained(tokenizer, directory)
    return _transformers_io(tokenizer)


# === SentencePiece: Gemma and Llama 2 ===


def keras_hub_sentencepiece(kind: str) -> Callable[[Path], dict[str, np.ndarray]]:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras_hub

        models = keras_hub.models
        tokenizer_class, backbone_class, preprocessor_class = (
            (models.GemmaTokenizer, models.GemmaBackbone, models.GemmaCausalLMPreprocessor)
            if kind == "gemma"
            else (models.LlamaTokenizer, models.LlamaBackbone, models.LlamaCausalLMPreprocessor)
        )

        def make(**kwargs: Any) -> Any:
            return tokenizer_class(proto=sentencepiece_model(kind), **kwargs)

        tokenizer = make()
        tokenizer.save_to_preset(str(directory))
        shape = (
            dict(num_query_heads=2, num_key_value_heads=1, head_dim=4)
            if kind == "gemma"
            else dict(num_query_heads=2, num_key_value_heads=1)
        )
        backbone = backbone_class(
            vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, hidden_dim=8,
            intermediate_dim=16, **shape,
        )  # fmt: skip
        _keras_hub_config(backbone, directory)
        preprocessor = preprocessor_class(tokenizer, sequence_length=512)
        paths = _keras_hub_paths(make)
        plain = [_as_list(tokenizer(text)) for text in CORPUS]
        return {
            **ragged("ids", plain),
            **ragged("special_ids", _packed(preprocessor, generate=True)),
            **paths,
            **_texts([tokenizer.detokenize(ids) for ids in plain]),
        }

    return write


def transformers_sentencepiece(kind: str) -> Callable[[Path], dict[str, np.ndarray]]:
    """transformers' tokenizer converted from the SentencePiece model (a BOS before
    each text, as the Hub's Gemma and Llama 2 checkpoints); Gemma's folder keeps
    the `tokenizer.model` beside it, as the Hub's checkpoints do."""

    def write(directory: Path) -> dict[str, np.ndarray]:
        from transformers import GemmaTokenizer, LlamaTokenizer

        tokenizer_class = GemmaTokenizer if kind == "gemma" else LlamaTokenizer
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "tokenizer.model").write_bytes(sentencepiece_model(kind))
            tokenizer = tokenizer_class.from_pretrained(scratch, add_bos_token=True)
            if kind == "gemma":
                shutil.copy(Path(scratch) / "tokenizer.model", directory / "tokenizer.model")
        _save_pretrained(tokenizer, directory)
        return _transformers_io(tokenizer)

    return write


# === The cases (not backbones: generate.py writes them beside the backbone cases) ===

TOKENIZER_CASES = [
    Case(
        "keras_hub_gpt2_tokenizer",
        keras_hub_gpt2,
        "GPT2Tokenizer (keras-hub): byte-level BPE of 512 ids (256 bytes, 255 merges, "
        "`<|endoftext|>`); `ids` are transformers' GPT2Tokenizer's on the same files "
        "(GPT-2's pre-split), keras-hub's eager and TensorFlow ids beside them",
    ),
    Case(
        "hf_gpt2_tokenizer",
        transformers_gpt2,
        "GPT2Tokenizer (transformers), the same vocabulary and merges: tokenizer.json",
    ),
    Case(
        "keras_hub_bert_tokenizer",
        keras_hub_bert(lowercase=True),
        "BertTokenizer (keras-hub): WordPiece of 400 tokens, lowercase, accents stripped",
    ),
    Case(
        "keras_hub_cased_bert_tokenizer",
        keras_hub_bert(lowercase=False),
        "BertTokenizer (keras-hub): cased WordPiece of 400 tokens, special tokens matched in text",
    ),
    Case(
        "hf_bert_tokenizer",
        transformers_bert,
        "BertTokenizer (transformers), the uncased vocabulary, do_lower_case: tokenizer.json",
    ),
    Case(
        "keras_hub_gemma_tokenizer",
        keras_hub_sentencepiece("gemma"),
        "GemmaTokenizer (keras-hub): SentencePiece BPE of 480 pieces (byte fallback, "
        "no dummy prefix, user-defined `<start_of_turn>`)",
    ),
    Case(
        "hf_gemma_tokenizer",
        transformers_sentencepiece("gemma"),
        "GemmaTokenizer (transformers), converted from the same model, BOS added: "
        "tokenizer.json and tokenizer.model",
    ),
    Case(
        "keras_hub_llama_tokenizer",
        keras_hub_sentencepiece("llama"),
        "LlamaTokenizer (keras-hub): SentencePiece BPE of 480 pieces, Llama 2's layout "
        "(dummy prefix, `<unk>` `<s>` `</s>`)",
    ),
    Case(
        "hf_llama_tokenizer",
        transformers_sentencepiece("llama"),
        "LlamaTokenizer (transformers), converted from the same model, BOS added: tokenizer.json",
    ),
    Case(
        "keras_hub_llama3_tokenizer",
        keras_hub_llama3,
        "Llama3Tokenizer (keras-hub): byte-level BPE of 512 ids with Llama 3's pre-split "
        "and special tokens; `ids` are transformers' on the same files, keras-hub's beside them",
    ),
    Case(
        "hf_llama3_tokenizer",
        transformers_llama3,
        "PreTrainedTokenizerFast (transformers), Llama 3's pipeline on the same vocabulary, "
        "`<|begin_of_text|>` added; config.json with model_type llama",
    ),
]

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
