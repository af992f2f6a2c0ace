"""Causal LMs: generation against keras-hub's and transformers' recorded tokens, the
key/value cache against the uncached model, samplers, batches, end tokens, presets
keras-hub's task classes load, `Registry.load(task="causal_lm")` and `registry generate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from registry import Backbone, CausalLM, Registry
from registry.architectures.causal_lm import causal_lm_class
from registry.architectures.decoding import Decoder
from registry.architectures.gpt2.causal_lm import GPT2CausalLM
from registry.errors import PresetFormatError, UnsupportedArchitectureError
from tests.conftest import FIXTURES, REPO
from tests.reference.generation import MAX_LENGTH, decoder_names

NAMES = decoder_names()
KERAS_HUB = [name for name in NAMES if name.startswith("keras_hub_")]
TRANSFORMERS = [name for name in NAMES if name.startswith("hf_")]
# Greedy ids are compared on a plain TensorFlow graph (compiling is quicker than
# XLA's); these go through the default, XLA-compiled path too.
XLA_CASES = ["keras_hub_tiny_gemma2", "keras_hub_odd_llama"]


def _recorded(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}_generate.npz") as data:
        return dict(data)


def _causal_lm(name: str, *, jit_compile: bool) -> CausalLM:
    """The fixture's causal LM without its tokenizer (token ids only)."""
    backbone = Backbone.from_preset(FIXTURES / name)
    return causal_lm_class(type(backbone))(backbone, jit_compile=jit_compile)


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, CausalLM]]:
    """One causal LM per fixture, built on first use, on a plain graph."""
    built: dict[str, CausalLM] = {}

    class Lazy(dict[str, CausalLM]):
        def __missing__(self, name: str) -> CausalLM:
            built[name] = _causal_lm(name, jit_compile=False)
            self[name] = built[name]
            return built[name]

    yield Lazy()


def _transformers_rows(record: dict[str, np.ndarray]) -> list[np.ndarray]:
    """transformers' rows (left-padded prompts, then the new tokens) without padding."""
    mask = record["prompt_padding_mask"].astype(bool)
    new = np.ones((len(mask), int(record["max_new_tokens"])), dtype=bool)
    keep = np.concatenate([mask, new], axis=1)
    return [ids[row_keep] for ids, row_keep in zip(record["expected_token_ids"], keep, strict=True)]


# === Greedy generation against the libraries ===


@pytest.mark.parametrize("name", KERAS_HUB)
def test_greedy_ids_equal_keras_hubs(name: str, models: dict[str, CausalLM]) -> None:
    record = _recorded(name)
    generated = models[name].generate_ids(
        record["prompt_token_ids"],
        record["prompt_padding_mask"],
        max_length=MAX_LENGTH,
        stop_token_ids=None,
    )
    np.testing.assert_array_equal(generated, record["expected_token_ids"])


@pytest.mark.parametrize("name", KERAS_HUB)
def test_end_token_stops_each_row_as_keras_hubs(name: str, models: dict[str, CausalLM]) -> None:
    record = _recorded(name)
    stop = int(record["stop_token_id"])
    generated = models[name].generate_ids(
        record["prompt_token_ids"],
        record["prompt_padding_mask"],
        max_length=MAX_LENGTH,
        stop_token_ids=[stop],
    )
    kept = record["expected_stop_padding_mask"]
    np.testing.assert_array_equal(generated[kept], record["expected_stop_token_ids"][kept])
    assert (generated[~kept] == 0).all()  # after the end token: padding
    assert (generated == stop).sum(axis=1).max() >= 1


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_greedy_ids_equal_transformers(name: str, models: dict[str, CausalLM]) -> None:
    record = _recorded(name)
    # Left-padded as transformers takes them: only the mask's positions are the prompt.
    generated = models[name].generate_ids(
        record["prompt_token_ids"],
        record["prompt_padding_mask"],
        max_new_tokens=int(record["max_new_tokens"]),
        stop_token_ids=None,
    )
    for ours, theirs in zip(generated, _transformers_rows(record), strict=True):
        np.testing.assert_array_equal(ours[: len(theirs)], theirs)


@pytest.mark.parametrize("name", XLA_CASES)
def test_xla_compiled_generation_equals_keras_hubs(name: str) -> None:
    record = _recorded(name)
    causal_lm = _causal_lm(name, jit_compile=True)
    generated = causal_lm.generate_ids(
        record["prompt_token_ids"],
        record["prompt_padding_mask"],
        max_length=MAX_LENGTH,
        stop_token_ids=[int(record["stop_token_id"])],
    )
    kept = record["expected_stop_padding_mask"]
    np.testing.assert_array_equal(generated[kept], record["expected_stop_token_ids"][kept])


# === The cache ===


def _cached_logits(causal_lm: CausalLM, token_ids: np.ndarray) -> np.ndarray:
    """Each position's logits, computed one token at a time through the cache."""
    caches = causal_lm.empty_caches(token_ids.shape[0], token_ids.shape[1])
    logits = []
    for position in range(token_ids.shape[1]):
        hidden, caches = causal_lm.call_with_cache(
            token_ids[:, position : position + 1], caches, position
        )
        logits.append(keras.ops.convert_to_numpy(causal_lm.logits(hidden[:, 0, :])))
    return np.stack(logits, axis=1)


@pytest.mark.parametrize("name", KERAS_HUB)
def test_cached_logits_equal_keras_hubs_uncached(name: str, models: dict[str, CausalLM]) -> None:
    record = _recorded(name)
    causal_lm, token_ids = models[name], record["expected_token_ids"]
    expected = record["expected_logits"]
    ones = np.ones_like(token_ids)
    uncached = keras.ops.convert_to_numpy(causal_lm({"token_ids": token_ids, "padding_mask": ones}))
    # The prefill's way: every position in one call through the cache.
    hidden, _ = causal_lm.call_with_cache(token_ids, causal_lm.empty_caches(*token_ids.shape), 0)
    prefilled = keras.ops.convert_to_numpy(causal_lm.logits(hidden))
    for logits in (uncached, prefilled, _cached_logits(causal_lm, token_ids)):
        assert np.abs(logits - expected).max() <= 1e-4


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_cached_logits_equal_transformers(name: str, models: dict[str, CausalLM]) -> None:
    record = _recorded(name)
    causal_lm, new = models[name], int(record["max_new_tokens"])
    for row, ids in enumerate(_transformers_rows(record)):
        hidden, _ = causal_lm.call_with_cache(ids[None, :], causal_lm.empty_caches(1, len(ids)), 0)
        logits = keras.ops.convert_to_numpy(causal_lm.logits(hidden))[0]
        prompt = len(ids) - new
        # transformers' step j gives the logits of the token after position prompt - 1 + j.
        ours = logits[prompt - 1 : prompt - 1 + new]
        assert np.abs(ours - record["expected_logits"][row]).max() <= 1e-4


# === Samplers ===


@pytest.fixture(scope="module")
def llama(models: dict[str, CausalLM]) -> CausalLM:
    return models["keras_hub_tiny_llama"]


PROMPTS = np.array([[5, 6, 7, 8, 9, 0, 0], [10, 11, 12, 0, 0, 0, 0]], dtype="int32")
MASK = (PROMPTS != 0).astype("int32")


@pytest.mark.parametrize(
    "sampling",
    [{"sampler": "top_k", "top_k": 10}, {"sampler": "top_p", "top_p": 0.9, "temperature": 1.5}],
)
def test_samplers_are_reproducible_with_a_seed(llama: CausalLM, sampling: dict[str, Any]) -> None:
    def run(seed: int) -> np.ndarray:
        return llama.generate_ids(
            PROMPTS, MASK, max_length=24, stop_token_ids=None, seed=seed, **sampling
        )

    first = run(seed=1)
    np.testing.assert_array_equal(first, run(seed=1))
    assert not np.array_equal(first, run(seed=2))
    # Row i draws from its own stream: the first row alone gives the same tokens.
    alone = llama.generate_ids(
        PROMPTS[:1, :5], max_length=24, stop_token_ids=None, seed=1, **sampling
    )
    np.testing.assert_array_equal(alone[0], first[0])


def test_top_k_draws_among_the_k_most_likely(llama: CausalLM) -> None:
    generated = llama.generate_ids(
        PROMPTS[:1, :5], max_length=20, sampler="top_k", top_k=3, seed=0, stop_token_ids=None
    )
    logits = keras.ops.convert_to_numpy(
        llama({"token_ids": generated, "padding_mask": np.ones_like(generated)})
    )
    for position in range(5, 20):
        top = np.argsort(logits[0, position - 1])[::-1][:3]
        assert generated[0, position] in top


@pytest.mark.parametrize(
    "sampling",
    [{"sampler": "top_k", "top_k": 1}, {"sampler": "top_p", "top_p": 1e-6}],
)
def test_one_token_kept_is_greedy(llama: CausalLM, sampling: dict[str, Any]) -> None:
    greedy = llama.generate_ids(PROMPTS, MASK, max_length=20, stop_token_ids=None)
    sampled = llama.generate_ids(
        PROMPTS, MASK, max_length=20, stop_token_ids=None, seed=5, **sampling
    )
    np.testing.assert_array_equal(sampled, greedy)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sampler": "beam"}, "Unknown sampler"),
        ({"temperature": 0.0}, "temperature must be above 0"),
        ({"sampler": "top_k", "top_k": 0}, "top_k must be 1 or more"),
        ({"sampler": "top_p", "top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"max_length": 3}, "longer than max_length=3"),
    ],
)
def test_bad_arguments_are_refused(
    llama: CausalLM, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        llama.generate_ids(PROMPTS, MASK, **{"max_length": 10, **arguments})


def test_an_empty_prompt_is_refused(llama: CausalLM) -> None:
    with pytest.raises(ValueError, match="Prompt 1 of the batch is empty"):
        llama.generate_ids([[1, 2], []], max_length=8)


# === Batches ===


def test_each_row_continues_from_its_own_end(llama: CausalLM) -> None:
    right = llama.generate_ids(PROMPTS, MASK, max_length=16, stop_token_ids=None)
    # Left padding, or a ragged list: the same prompts, the same rows.
    left = np.array([[5, 6, 7, 8, 9], [0, 0, 10, 11, 12]], dtype="int32")
    np.testing.assert_array_equal(
        llama.generate_ids(left, (left != 0).astype("int32"), max_length=16, stop_token_ids=None),
        right,
    )
    np.testing.assert_array_equal(
        llama.generate_ids([[5, 6, 7, 8, 9], [10, 11, 12]], max_length=16, stop_token_ids=None),
        right,
    )
    for row, prompt in enumerate(([5, 6, 7, 8, 9], [10, 11, 12])):
        alone = llama.generate_ids([prompt], max_length=16, stop_token_ids=None)
        np.testing.assert_array_equal(alone[0], right[row])


def test_max_new_tokens_bounds_each_row(llama: CausalLM) -> None:
    generated = llama.generate_ids(PROMPTS, MASK, max_new_tokens=4, stop_token_ids=None)
    assert generated.shape == (2, 9)  # the longest prompt (5) and 4 new tokens
    assert (generated[1, 7:] == 0).all()  # the 3-token row stops after its 4 new tokens
    longest = llama.generate_ids(PROMPTS, MASK, max_length=16, stop_token_ids=None)
    np.testing.assert_array_equal(generated[0], longest[0, :9])
    np.testing.assert_array_equal(generated[1, :7], longest[1, :7])


# === Text ===


@pytest.fixture(scope="module")
def gpt2_text() -> GPT2CausalLM:
    """keras-hub's tiny GPT-2 with its tokenizer (keras-hub's GPT2Tokenizer files)."""
    causal_lm = CausalLM.from_preset(FIXTURES / "keras_hub_tiny_gpt2")
    assert isinstance(causal_lm, GPT2CausalLM)
    assert causal_lm.tokenizer is not None
    causal_lm.jit_compile = False  # a plain graph compiles faster
    return causal_lm


TEXTS = ["the airplane", "a port", "plane air"]


def test_text_generation_equals_keras_hubs(gpt2_text: GPT2CausalLM) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    reference = keras_hub.models.GPT2CausalLM.from_preset(str(FIXTURES / "keras_hub_tiny_gpt2"))
    reference.compile(sampler="greedy")
    expected = reference.generate(TEXTS, max_length=20)
    assert gpt2_text.generate(TEXTS, max_length=20) == expected
    assert gpt2_text.generate(TEXTS[0], max_length=20) == expected[0]


def test_stream_adds_up_to_generate(gpt2_text: GPT2CausalLM) -> None:
    for text in TEXTS:
        pieces = list(gpt2_text.stream(text, max_new_tokens=12, sampler="top_p", seed=4))
        assert len(pieces) == 12  # one piece per token
        assert "\ufffd" not in "".join(pieces[:-1])[-1:]  # incomplete characters held back
        whole = gpt2_text.generate(text, max_new_tokens=12, sampler="top_p", seed=4)
        assert text + "".join(pieces) == whole


def test_stream_holds_back_an_incomplete_character(
    gpt2_text: GPT2CausalLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer: Any = gpt2_text.tokenizer
    # "é€" as byte-level tokens: one byte each, é in two, € in three.
    ids = tokenizer.encode("é€")
    assert len(ids) >= 3
    monkeypatch.setattr(Decoder, "stream", lambda self, *arguments: iter(ids))
    pieces = list(gpt2_text.stream("a", max_new_tokens=len(ids)))
    assert "".join(pieces) == "é€"
    assert all("\ufffd" not in piece for piece in pieces)
    assert pieces.count("") == len(ids) - 2  # each character arrives whole, once


def test_end_token_ends_the_text(gpt2_text: GPT2CausalLM) -> None:
    tokenizer: Any = gpt2_text.tokenizer
    end = tokenizer.end_token_id
    ids = gpt2_text.generate_ids([[end, *tokenizer.encode("the airplane")]], max_new_tokens=12)
    continuation = ids[0, 1 + len(tokenizer.encode("the airplane")) :]
    if end in continuation:  # the model may never say it; then the length ends the row
        assert (continuation[list(continuation).index(end) :] == end).all()


# === Presets ===


@pytest.mark.parametrize("name", ["keras_hub_tiny_gpt2", "hf_tiny_llama", "keras_hub_tiny_gemma2"])
def test_save_to_preset_loads_in_keras_hubs_task_class(
    name: str, models: dict[str, CausalLM], tmp_path: Path
) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    causal_lm = models[name]
    causal_lm.save_to_preset(tmp_path)
    task = json.loads((tmp_path / "task.json").read_text())
    assert task["registered_name"] == f"keras_hub>{type(causal_lm).__name__}"
    assert json.loads((tmp_path / "manifest.json").read_text())  # every file listed
    reference = getattr(keras_hub.models, type(causal_lm).__name__).from_preset(str(tmp_path))
    reference.compile(sampler="greedy")
    inputs = {"token_ids": np.zeros((2, 12), "int32"), "padding_mask": np.zeros((2, 12), bool)}
    inputs["token_ids"][:, :4] = PROMPTS[:, :4] + 1
    inputs["padding_mask"][:, :4] = True
    expected = reference.generate(inputs, stop_token_ids=None)["token_ids"]
    ours = causal_lm.generate_ids(inputs["token_ids"], inputs["padding_mask"], max_length=12)
    np.testing.assert_array_equal(ours, expected)
    assert type(CausalLM.from_preset(tmp_path)) is type(causal_lm)


def test_text_preset_round_trips_through_keras_hub(gpt2_text: GPT2CausalLM, tmp_path: Path) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    gpt2_text.save_to_preset(tmp_path)
    assert (tmp_path / "preprocessor.json").is_file()
    reference = keras_hub.models.CausalLM.from_preset(str(tmp_path))
    reference.compile(sampler="greedy")
    assert reference.generate(TEXTS, max_length=20) == gpt2_text.generate(TEXTS, max_length=20)
    again = CausalLM.from_preset(tmp_path)
    assert again.generate(TEXTS, max_length=20) == gpt2_text.generate(TEXTS, max_length=20)


# keras-hub 0.32 reads a SentencePiece model with `open(path).read()`, never closed.
@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning"
)
@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("keras_hub_llama3_tokenizer", "Llama3CausalLM"),
        ("keras_hub_llama_tokenizer", "LlamaCausalLM"),
        ("keras_hub_gemma_tokenizer", "GemmaCausalLM"),
    ],
)
def test_text_presets_of_each_decoder_load_in_keras_hub(
    name: str, task: str, tmp_path: Path
) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    # A tokenizer fixture with a tiny backbone's config: fresh weights, saved with it.
    causal_lm = CausalLM.from_preset(FIXTURES / name, load_weights=False)
    causal_lm.jit_compile = False
    causal_lm.save_to_preset(tmp_path)
    reference = keras_hub.models.CausalLM.from_preset(str(tmp_path))
    assert type(reference).__name__ == task
    # Generated text drops what keras-hub's tokenizer calls special (the
    # weights are random: any of them may be generated).
    assert causal_lm._special_token_ids() == set(reference.preprocessor.tokenizer.special_token_ids)
    reference.compile(sampler="greedy")
    texts = ["Hello world", "a b"]
    assert causal_lm.generate(texts, max_length=12) == reference.generate(texts, max_length=12)


def test_public_names() -> None:
    import registry
    from registry.architectures.gemma.causal_lm import GemmaCausalLM
    from registry.architectures.llama.causal_lm import LlamaCausalLM

    assert registry.CausalLM is CausalLM
    assert registry.GPT2CausalLM is GPT2CausalLM
    assert registry.LlamaCausalLM is LlamaCausalLM
    assert registry.GemmaCausalLM is GemmaCausalLM
    with pytest.raises(AttributeError):
        registry.BertCausalLM  # noqa: B018


def test_a_preset_of_another_architecture_is_refused() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="BertBackbone has no causal LM"):
        CausalLM.from_preset(FIXTURES / "keras_hub_tiny_bert")
    with pytest.raises(UnsupportedArchitectureError):
        GPT2CausalLM.from_preset(FIXTURES / "keras_hub_tiny_llama")


@pytest.fixture(scope="module")
def demo() -> CausalLM:
    """The bundled demo preset, from the catalog, as a causal LM."""
    causal_lm = Registry().load("gpt2_tiny_demo", task="causal_lm", verify="full")
    causal_lm.jit_compile = False
    return causal_lm


def test_registry_loads_a_catalog_preset_as_a_causal_lm(demo: CausalLM) -> None:
    assert isinstance(demo, GPT2CausalLM)
    text = demo.generate("The registry", max_new_tokens=5)
    assert isinstance(text, str) and text.startswith("The registry")
    registry = Registry()
    assert isinstance(registry.load("gpt2_tiny_demo"), Backbone)  # the default task
    with pytest.raises(ValueError, match="Unknown task"):
        registry.load("gpt2_tiny_demo", task="classifier")  # type: ignore[call-overload]


def test_cli_streams_the_continuation(demo: CausalLM) -> None:
    from registry.cli import app

    result = CliRunner().invoke(
        app, ["generate", "gpt2_tiny_demo", "The registry", "--max-new-tokens", "6"]
    )
    assert result.exit_code == 0, result.output
    expected = demo.generate("The registry", max_new_tokens=6)
    assert result.stdout.rstrip("\n") == expected
    result = CliRunner().invoke(
        app,
        ["generate", "gpt2_tiny_demo", "The registry", "--max-new-tokens", "4", "--json",
         "--sampler", "top_k", "--top-k", "5", "--seed", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["tokens"] == 4 and body["prompt"] == "The registry"


# === The other backends ===

_PROBE = """
import json, sys
import numpy as np
from registry import Backbone
from registry.architectures.causal_lm import causal_lm_class
results = {}
for name in sys.argv[2:]:
    with np.load(f"{sys.argv[1]}/{name}_generate.npz") as data:
        record = dict(data)
    backbone = Backbone.from_preset(f"{sys.argv[1]}/{name}")
    causal_lm = causal_lm_class(type(backbone))(backbone)
    ids = causal_lm.generate_ids(
        record["prompt_token_ids"], record["prompt_padding_mask"], max_length=16,
        stop_token_ids=None,
    )
    sampled = [
        causal_lm.generate_ids(
            record["prompt_token_ids"], record["prompt_padding_mask"], max_length=16,
            sampler="top_p", top_p=0.9, seed=3, stop_token_ids=None,
        ).tolist()
        for _ in range(2)
    ]
    results[name] = {
        "greedy": bool((ids == record["expected_token_ids"]).all()),
        "reproducible": sampled[0] == sampled[1],
    }
print(json.dumps(results))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_generation_on_backend(backend: str) -> None:
    pytest.importorskip(backend)
    names = ["keras_hub_tiny_gpt2", "keras_hub_odd_llama", "keras_hub_tiny_gemma2"]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(FIXTURES), *names],
        cwd=REPO,
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {name: {"greedy": True, "reproducible": True} for name in names}


def test_a_tokenizer_larger_than_the_model_is_refused() -> None:
    from registry.architectures.tokenizer import Tokenizer
    from registry.preset.demo import demo_preset_dir

    backbone = Backbone.from_preset(FIXTURES / "keras_hub_tiny_gpt2")  # 283 tokens
    tokenizer = Tokenizer.from_preset(demo_preset_dir())  # 384 tokens
    with pytest.raises(PresetFormatError, match="384 tokens, more than the model's"):
        GPT2CausalLM(backbone, tokenizer)  # type: ignore[arg-type]
