"""Tokenizers: the ids the reference libraries recorded, decoding, keras-hub's format, hostility.

The fixtures (`tests/reference/tokenizers.py`) hold, for a corpus of whitespace
runs, Unicode and special tokens written in the text, the ids keras-hub and
transformers computed on the files they saved. keras-hub 0.32's eager byte-level
BPE does not pre-split text (its split regex reaches `tokenizers` as a literal
string) and its TensorFlow path keeps trailing spaces apart; for GPT-2 and Llama 3
the fixtures' `ids` are transformers' on keras-hub's own files, which these tests
hold this project to, and both keras-hub paths are recorded beside them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from registry.architectures.tokenizer import Tokenizer, has_tokenizer
from registry.errors import (
    PresetFileMissingError,
    PresetFormatError,
    UnsafePresetError,
    UnsupportedArchitectureError,
)
from tests.conftest import FIXTURES, REPO, reference_io
from tests.reference.tokenizers import CORPUS, TOKENIZER_CASES

NAMES = [case.name for case in TOKENIZER_CASES]
KERAS_HUB = [name for name in NAMES if name.startswith("keras_hub_")]
TRANSFORMERS = [name for name in NAMES if name.startswith("hf_")]
BYTE_LEVEL = [name for name in NAMES if "gpt2" in name or "llama3" in name]
# A transformers checkpoint, and the keras-hub preset of the same vocabulary.
SAME_VOCABULARY = {
    "hf_gpt2_tokenizer": "keras_hub_gpt2_tokenizer",
    "hf_bert_tokenizer": "keras_hub_bert_tokenizer",
    "hf_gemma_tokenizer": "keras_hub_gemma_tokenizer",
    "hf_llama3_tokenizer": "keras_hub_llama3_tokenizer",
}
CLASSES = {
    "gpt2": "GPT2Tokenizer",
    "bert": "BertTokenizer",
    "gemma": "GemmaTokenizer",
    "llama3": "Llama3Tokenizer",
    "llama": "LlamaTokenizer",
}


def rows(io: dict[str, np.ndarray], key: str) -> list[list[int]]:
    """A ragged list the fixture stores flat, with offsets."""
    flat, offsets = io[key], io[f"{key}_offsets"]
    return [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def texts(io: dict[str, np.ndarray]) -> list[str]:
    return [str(text) for text in io["texts"]]


def class_of(name: str) -> str:
    return next(cls for key, cls in CLASSES.items() if f"_{key}_" in name)


# === The recorded ids ===


@pytest.mark.parametrize("name", NAMES)
def test_ids_equal_the_recorded_ones(name: str) -> None:
    io = reference_io(name)
    tokenizer = Tokenizer.from_preset(FIXTURES / name)
    assert type(tokenizer).__name__ == class_of(name)
    assert texts(io) == list(CORPUS)
    assert tokenizer.encode_batch(texts(io)) == rows(io, "ids")
    assert [tokenizer.encode(text) for text in texts(io)[:3]] == rows(io, "ids")[:3]


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_special_tokens_are_those_transformers_adds(name: str) -> None:
    io = reference_io(name)
    tokenizer = Tokenizer.from_preset(FIXTURES / name)
    assert tokenizer.encode_batch(texts(io), add_special_tokens=True) == rows(io, "special_ids")


@pytest.mark.parametrize("name", KERAS_HUB)
def test_special_tokens_are_those_keras_hub_preprocessors_add(name: str) -> None:
    """keras-hub's causal-LM preprocessors put the start token first; BERT's classifier
    preprocessor wraps the text in `[CLS]` ... `[SEP]` (around keras-hub's own ids)."""
    io = reference_io(name)
    tokenizer = Tokenizer.from_preset(FIXTURES / name)
    end = [tokenizer.end_token_id] if "bert" in name else []
    assert tokenizer.start_token_id is not None
    packed = [[tokenizer.start_token_id, *ids, *end] for ids in rows(io, "keras_hub_ids")]
    assert packed == rows(io, "special_ids")
    ours = tokenizer.encode_batch(texts(io), add_special_tokens=True)
    assert ours == [[tokenizer.start_token_id, *ids, *end] for ids in rows(io, "ids")]


@pytest.mark.parametrize("name", KERAS_HUB)
def test_keras_hub_eager_and_tensorflow_paths(name: str) -> None:
    """Where keras-hub's two paths agree, they give `ids`; byte-level BPE is where they do not."""
    io = reference_io(name)
    ids, eager, graph = rows(io, "ids"), rows(io, "keras_hub_ids"), rows(io, "keras_hub_tf_ids")
    eager_differs = {i for i in range(len(ids)) if eager[i] != ids[i]}
    graph_differs = {i for i in range(len(ids)) if graph[i] != ids[i]}
    if name not in BYTE_LEVEL:
        assert eager_differs == graph_differs == set()  # BERT, SentencePiece
        return
    # The eager path merges across words: "a  b   c    d" gives "a", "ĠĠ", "b", ...
    # where GPT-2's rules give "a", "Ġ", "Ġb", ...; the TensorFlow path splits, but
    # "spaces   " at the end of a text becomes three "Ġ" where GPT-2 has one "ĠĠĠ".
    whitespace_runs, trailing = CORPUS.index("a  b   c    d"), 3
    assert CORPUS[trailing].endswith("   ")
    assert {whitespace_runs, trailing} <= eager_differs
    assert trailing in graph_differs
    if name == "keras_hub_gpt2_tokenizer":
        assert graph_differs == {trailing}


@pytest.mark.parametrize("name", NAMES)
def test_decode_gives_what_the_library_gave(name: str) -> None:
    io = reference_io(name)
    tokenizer = Tokenizer.from_preset(FIXTURES / name)
    decoded = [tokenizer.decode(ids) for ids in rows(io, "ids")]
    assert decoded == [str(text) for text in io["decoded"]]
    # Where the library gives the text back, so does this project.
    for text, back in zip(texts(io), decoded, strict=True):
        if name in BYTE_LEVEL:
            assert back == text
        if back == text:
            assert tokenizer.decode(tokenizer.encode(text)) == text


_TRANSFORMERS_PROBE = """
import json, sys
import numpy as np
from transformers import AutoTokenizer
same = {}
for directory in sys.argv[1:]:
    io = dict(np.load(directory + "_io.npz"))
    tokenizer = AutoTokenizer.from_pretrained(directory)
    def rows(key):
        offsets = io[key + "_offsets"]
        return [io[key][a:b].tolist() for a, b in zip(offsets, offsets[1:])]
    texts = [str(t) for t in io["texts"]]
    plain = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    special = [tokenizer(t)["input_ids"] for t in texts]
    same[directory] = plain == rows("ids") and special == rows("special_ids")
print(json.dumps(same))
"""


def test_transformers_computes_the_recorded_ids() -> None:
    pytest.importorskip("transformers")
    directories = [str(FIXTURES / name) for name in TRANSFORMERS]
    result = subprocess.run(
        [sys.executable, "-c", _TRANSFORMERS_PROBE, *directories],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == dict.fromkeys(directories, True)


def test_special_token_ids() -> None:
    gpt2 = Tokenizer.from_preset(FIXTURES / "keras_hub_gpt2_tokenizer")
    end = gpt2.token_to_id("<|endoftext|>")
    assert (gpt2.start_token_id, gpt2.end_token_id, gpt2.pad_token_id) == (end, end, 0)
    assert gpt2.stop_token_ids == (end,)
    bert = Tokenizer.from_preset(FIXTURES / "hf_bert_tokenizer")
    assert bert.start_token_id == bert.token_to_id("[CLS]")
    assert bert.end_token_id == bert.token_to_id("[SEP]")
    assert bert.pad_token_id == bert.token_to_id("[PAD]")
    gemma = Tokenizer.from_preset(FIXTURES / "keras_hub_gemma_tokenizer")
    assert [gemma.start_token_id, gemma.end_token_id, gemma.pad_token_id] == [2, 1, 0]
    llama3 = Tokenizer.from_preset(FIXTURES / "hf_llama3_tokenizer")
    eot, end = llama3.token_to_id("<|eot_id|>"), llama3.token_to_id("<|end_of_text|>")
    assert llama3.start_token_id == llama3.token_to_id("<|begin_of_text|>")
    assert set(llama3.stop_token_ids) == {eot, end}


def test_tokens_and_ids_map_both_ways() -> None:
    tokenizer = Tokenizer.from_preset(FIXTURES / "keras_hub_llama_tokenizer")
    for token_id in range(tokenizer.vocabulary_size):
        assert tokenizer.token_to_id(tokenizer.id_to_token(token_id)) == token_id
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tokenizer.token_to_id("no such piece")
    with pytest.raises(ValueError, match="token_id=480"):
        tokenizer.id_to_token(tokenizer.vocabulary_size)
    with pytest.raises(ValueError, match="must be in"):
        tokenizer.decode([-1])
    with pytest.raises(TypeError, match="encode takes text"):
        tokenizer.encode_batch([b"bytes"])  # type: ignore[list-item]
    assert tokenizer.encode_batch([]) == []


def test_tokenizing_imports_no_keras() -> None:
    probe = (
        "import sys\n"
        "from registry.architectures.tokenizer import Tokenizer, has_tokenizer\n"
        f"for name in {NAMES!r}:\n"
        f"    path = {str(FIXTURES)!r} + '/' + name\n"
        "    assert has_tokenizer(path)\n"
        "    Tokenizer.from_preset(path).encode('a  b')\n"
        "heavy = {'keras', 'tensorflow', 'torch', 'jax', 'keras_hub', 'transformers'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# === keras-hub's format ===


# keras-hub 0.32 reads a SentencePiece model with `open(path).read()`, never closed.
KERAS_HUB_LEAKS_A_FILE = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning"
)


def _keras_hub_loads(directory: Path, config_from: str) -> object:
    """keras-hub's `Tokenizer.from_preset` of `directory`, beside a backbone's config.json
    (keras-hub picks the tokenizer class from the backbone's)."""
    keras_hub = pytest.importorskip("keras_hub")
    shutil.copy(FIXTURES / config_from / "config.json", directory / "config.json")
    return keras_hub.models.Tokenizer.from_preset(str(directory))


def _keras_hub_ids(tokenizer: object) -> list[list[int]]:
    return [np.asarray(tokenizer(text)).reshape(-1).tolist() for text in CORPUS]  # type: ignore[operator]


@KERAS_HUB_LEAKS_A_FILE
def test_save_to_preset_writes_what_keras_hub_wrote_and_loads_in_keras_hub(
    tmp_path: Path,
) -> None:
    for name in KERAS_HUB:
        directory = tmp_path / name
        Tokenizer.from_preset(FIXTURES / name).save_to_preset(directory)
        written = sorted(p.relative_to(directory) for p in directory.rglob("*") if p.is_file())
        for relative in written:
            assert (directory / relative).read_bytes() == (FIXTURES / name / relative).read_bytes()
        theirs = _keras_hub_loads(directory, name)
        assert type(theirs).__name__ == class_of(name)
        assert _keras_hub_ids(theirs) == rows(reference_io(name), "keras_hub_ids")


@KERAS_HUB_LEAKS_A_FILE
def test_transformers_tokenizers_save_to_keras_hub_format(tmp_path: Path) -> None:
    """A converted tokenizer runs as keras-hub's class does: the same ids as transformers'
    but where keras-hub's own rules differ (SentencePiece special tokens written in the
    text; BERT's handling of Hangul, non-ASCII spaces and case folding)."""
    special_tokens = next(i for i, text in enumerate(CORPUS) if text.startswith("<bos>gemma"))
    differ_where = {"hf_gemma_tokenizer": {special_tokens}, "hf_bert_tokenizer": {5, 14, 16}}
    for name, keras_hub_name in SAME_VOCABULARY.items():
        directory = tmp_path / name
        original = Tokenizer.from_preset(FIXTURES / name)
        original.save_to_preset(directory)
        converted = Tokenizer.from_preset(directory)
        assert type(converted) is type(original)
        ours, theirs = original.encode_batch(CORPUS), converted.encode_batch(CORPUS)
        assert {i for i in range(len(CORPUS)) if ours[i] != theirs[i]} == differ_where.get(
            name, set()
        )
        loaded = _keras_hub_loads(directory, keras_hub_name)
        assert type(loaded).__name__ == class_of(name)
        if name not in ("hf_gpt2_tokenizer", "hf_llama3_tokenizer"):  # keras-hub's eager BPE
            assert _keras_hub_ids(loaded) == theirs


def test_a_sentencepiece_checkpoint_without_its_model_cannot_be_saved_for_keras_hub(
    tmp_path: Path,
) -> None:
    tokenizer = Tokenizer.from_preset(FIXTURES / "hf_llama_tokenizer")
    with pytest.raises(PresetFormatError, match=r"tokenizer\.model: is missing"):
        tokenizer.save_to_preset(tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_checkpoint_with_only_tokenizer_model_runs_sentencepiece(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_bytes(
        (FIXTURES / "hf_gemma_tokenizer" / "tokenizer.model").read_bytes()
    )
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>"})
    )
    tokenizer = Tokenizer.from_preset(tmp_path)
    keras_hub = Tokenizer.from_preset(FIXTURES / "keras_hub_gemma_tokenizer")
    assert type(tokenizer).__name__ == "GemmaTokenizer"
    assert tokenizer.encode_batch(CORPUS) == keras_hub.encode_batch(CORPUS)
    assert tokenizer.encode("Hello", add_special_tokens=True)[0] == tokenizer.start_token_id == 2


def test_the_demo_preset_has_a_gpt2_tokenizer() -> None:
    from registry.preset.demo import demo_preset_dir

    tokenizer = Tokenizer.from_preset(demo_preset_dir())
    assert type(tokenizer).__name__ == "GPT2Tokenizer"
    assert tokenizer.vocabulary_size == 384
    assert tokenizer.start_token_id == tokenizer.end_token_id == 383
    for text in CORPUS:
        ids = tokenizer.encode(text)
        assert all(0 <= i < 384 for i in ids)
        assert tokenizer.decode(ids) == text


# === Presets are data ===


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def _edit_json(path: Path, **changes: object) -> None:
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


@pytest.mark.parametrize(
    "changes",
    [
        {"class_name": "Lambda", "registered_name": "keras_hub>Lambda"},
        {"registered_name": "keras_hub>GPT2Tokenizer", "class_name": "BertTokenizer"},
        {"module": "os"},
        {"module": "tests.architectures.never_imported"},
        {"registered_name": "keras_hub>Evil", "class_name": "Evil", "module": "evil"},
    ],
)
def test_a_config_naming_another_class_is_refused_unimported(
    tmp_path: Path, changes: dict[str, str]
) -> None:
    preset = _copy("keras_hub_gpt2_tokenizer", tmp_path)
    _edit_json(preset / "tokenizer.json", **changes)
    with pytest.raises(
        UnsafePresetError, match=r"tokenizer\.json: names class_name=.*never imported"
    ):
        Tokenizer.from_preset(preset)
    assert "tests.architectures.never_imported" not in sys.modules
    assert not has_tokenizer(preset)


@pytest.mark.parametrize(
    "config",
    [
        {"dtype": {"class_name": "Lambda", "config": {"function": "os.system"}}},
        {"__class__": "os.system"},
        {"unsplittable_tokens": [{"class_name": "TFSMLayer"}]},
    ],
)
def test_classes_and_dunders_inside_the_config_are_refused(
    tmp_path: Path, config: dict[str, object]
) -> None:
    preset = _copy("keras_hub_gpt2_tokenizer", tmp_path)
    body = json.loads((preset / "tokenizer.json").read_text())
    body["config"].update(config)
    (preset / "tokenizer.json").write_text(json.dumps(body))
    with pytest.raises(UnsafePresetError, match="plain data"):
        Tokenizer.from_preset(preset)


def test_transformers_custom_code_and_unknown_classes_are_refused(tmp_path: Path) -> None:
    preset = _copy("hf_gpt2_tokenizer", tmp_path)
    config = preset / "tokenizer_config.json"
    _edit_json(config, auto_map={"AutoTokenizer": ["evil.EvilTokenizer", None]})
    with pytest.raises(UnsafePresetError, match="auto_map"):
        Tokenizer.from_preset(preset)
    config.write_text(json.dumps({"tokenizer_class": "EvilTokenizer"}))
    with pytest.raises(UnsafePresetError, match="tokenizer_class='EvilTokenizer'"):
        Tokenizer.from_preset(preset)
    assert has_tokenizer(preset)  # cheap: the files are there; loading decides


GPT2, BERT, GEMMA = (
    "keras_hub_gpt2_tokenizer",
    "keras_hub_bert_tokenizer",
    "keras_hub_gemma_tokenizer",
)
CONFIG, ASSETS = "tokenizer.json", "assets/tokenizer/"
NOT_READ = "is not a tokenizer file"
MALFORMED = [
    (GPT2, CONFIG, b"{not json", "not valid JSON"),
    (GPT2, CONFIG, b'{"a": 1, "a": 2}', "twice"),
    (GPT2, CONFIG, b"\xff\xfe", "not UTF-8"),
    (GPT2, CONFIG, b"[1, 2]", "not an object"),
    (GPT2, CONFIG, b"[" * 64 + b"]" * 64, "nested"),
    (GPT2, ASSETS + "vocabulary.json", None, "does not exist"),
    (GPT2, ASSETS + "vocabulary.json", b'{"a": "one"}', "non-negative id"),
    (GPT2, ASSETS + "vocabulary.json", b'{"a": 0, "b": 0}', "two tokens one id"),
    (GPT2, ASSETS + "merges.txt", b"a b c\n", "line 1 is 'a b c'"),
    (GPT2, ASSETS + "merges.txt", b"zz yy\n", f"merges.txt: {NOT_READ}"),
    (BERT, ASSETS + "vocabulary.txt", b"a\nb\n", "unknown token"),
    (GEMMA, ASSETS + "vocabulary.spm", b"\x00garbage", f"vocabulary.spm: {NOT_READ}"),
    ("hf_gpt2_tokenizer", CONFIG, b'{"model": {"type": "BPE", "vocab": 3}}', f"json: {NOT_READ}"),
    ("hf_gpt2_tokenizer", "tokenizer_config.json", b"[]", "not an object"),
]


@pytest.mark.parametrize(("name", "path", "body", "message"), MALFORMED)
def test_malformed_files_are_refused_naming_the_file(
    tmp_path: Path, name: str, path: str, body: bytes | None, message: str
) -> None:
    preset = _copy(name, tmp_path)
    if body is None:
        (preset / path).unlink()
    else:
        (preset / path).write_bytes(body)
    error = PresetFileMissingError if body is None else PresetFormatError
    with pytest.raises(error, match=message) as raised:
        Tokenizer.from_preset(preset)
    assert str(preset) in str(raised.value)


def test_a_bad_argument_or_a_missing_special_token_is_refused(tmp_path: Path) -> None:
    preset = _copy("keras_hub_gpt2_tokenizer", tmp_path)
    body = json.loads((preset / "tokenizer.json").read_text())
    body["config"]["add_prefix_space"] = "yes"
    (preset / "tokenizer.json").write_text(json.dumps(body))
    with pytest.raises(PresetFormatError, match="add_prefix_space to 'yes', which is not a bool"):
        Tokenizer.from_preset(preset)
    body["config"]["add_prefix_space"] = False
    body["config"]["unsplittable_tokens"] = ["<|im_start|>"]
    (preset / "tokenizer.json").write_text(json.dumps(body))
    with pytest.raises(PresetFormatError, match="vocabulary does not hold"):
        Tokenizer.from_preset(preset)
    bert = _copy("keras_hub_bert_tokenizer", tmp_path)
    body = json.loads((bert / "tokenizer.json").read_text())
    body["config"]["split"] = False
    (bert / "tokenizer.json").write_text(json.dumps(body))
    with pytest.raises(PresetFormatError, match="split to false"):
        Tokenizer.from_preset(bert)


def test_a_preset_without_a_tokenizer(tmp_path: Path) -> None:
    for name in ("keras_hub_odd_gpt2", "hf_tiny_gpt2"):
        assert not has_tokenizer(FIXTURES / name)
        with pytest.raises(PresetFileMissingError, match="holds no tokenizer"):
            Tokenizer.from_preset(FIXTURES / name)
    assert not has_tokenizer(tmp_path / "absent")
    assert all(has_tokenizer(FIXTURES / name) for name in NAMES)
    assert has_tokenizer(FIXTURES / "keras_hub_tiny_gpt2")


def test_a_subclass_loads_its_own_tokenizers_only() -> None:
    from registry.architectures.bert.tokenizer import BertTokenizer
    from registry.architectures.llama.tokenizer import Llama3Tokenizer

    assert isinstance(BertTokenizer.from_preset(FIXTURES / "hf_bert_tokenizer"), BertTokenizer)
    llama3 = Llama3Tokenizer.from_preset(FIXTURES / "keras_hub_llama3_tokenizer")
    assert isinstance(llama3, Llama3Tokenizer)
    with pytest.raises(UnsupportedArchitectureError, match="holds a GPT2Tokenizer, not a Bert"):
        BertTokenizer.from_preset(FIXTURES / "keras_hub_gpt2_tokenizer")


def test_the_tokenizer_classes_are_the_allow_lists() -> None:
    from registry.architectures import allowlist

    named = {t.class_name for spec in allowlist.specs().values() for t in spec.tokenizers}
    assert named == set(CLASSES.values())
