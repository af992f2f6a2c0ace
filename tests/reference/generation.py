"""Greedy generation recorded by keras-hub and transformers on the decoder fixtures.

    python -m tests.reference.generation [--only NAME,...]

For every decoder preset of this folder (GPT-2, Llama, Gemma), the library that
wrote it generates from a batch of two prompts of different lengths, and
`<name>_generate.npz` records what it returned. The presets themselves are read,
never rewritten; then `SHA256SUMS` is rewritten to list the new files.

- keras-hub presets: `<Arch>CausalLM(backbone=..., preprocessor=None).generate(
  {"token_ids", "padding_mask"}, stop_token_ids=None)` (compiled with the
  greedy sampler), from prompts right-padded to `max_length` as keras-hub's
  preprocessors pack them; then again with `stop_token_ids` set to a token
  the first run generated, to record where keras-hub stops; and the logits the
  task computes (uncached) over the first run's tokens.
- transformers checkpoints: `AutoModelForCausalLM` (a `GPT2Model` checkpoint
  loads as `GPT2LMHeadModel`, its head tied to the embeddings) `.generate(
  input_ids, attention_mask, max_new_tokens, do_sample=False)` from prompts
  left-padded as transformers expects, with no end token, and the logits of
  every step (`output_logits`). Each row is checked against generating it alone.

Keys of `<name>_generate.npz`: `prompt_token_ids`, `prompt_padding_mask`, then
`expected_token_ids` (and keras-hub's `expected_logits` over every position, or
transformers' `expected_logits` of each new token, `(batch, new, vocabulary)`),
and for keras-hub `stop_token_id`, `expected_stop_token_ids`,
`expected_stop_padding_mask`; transformers' also `max_new_tokens`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).resolve().parent
# The two prompts' lengths, and how long each generated row gets.
PROMPT_LENGTHS = (5, 3)
MAX_LENGTH = 16
DECODERS = ("gpt2", "llama", "gemma")
_KERAS_HUB_TASKS = {
    "GPT2Backbone": "GPT2CausalLM",
    "LlamaBackbone": "LlamaCausalLM",
    "Llama3Backbone": "Llama3CausalLM",
    "GemmaBackbone": "GemmaCausalLM",
}


def decoder_names() -> list[str]:
    """The decoder fixtures (`tests.reference.generate` imports this module: import it late)."""
    from tests.reference.generate import CASES

    return [case.name for case in CASES if any(family in case.name for family in DECODERS)]


def output_path(name: str, root: Path = HERE) -> Path:
    return root / f"{name}_generate.npz"


def _prompts(vocabulary_size: int, width: int, *, left: bool, seed: int) -> dict[str, np.ndarray]:
    """Two prompts of `PROMPT_LENGTHS` tokens, padded with 0 to `width` on one side."""
    rng = np.random.default_rng(seed)
    token_ids = np.zeros((len(PROMPT_LENGTHS), width), dtype="int32")
    padding_mask = np.zeros_like(token_ids)
    for row, length in enumerate(PROMPT_LENGTHS):
        span = slice(width - length, width) if left else slice(0, length)
        token_ids[row, span] = rng.integers(1, vocabulary_size, length)
        padding_mask[row, span] = 1
    return {"prompt_token_ids": token_ids, "prompt_padding_mask": padding_mask}


# === keras-hub ===


def keras_hub_generation(directory: Path) -> dict[str, np.ndarray]:
    import keras
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(str(directory))
    task = getattr(keras_hub.models, _KERAS_HUB_TASKS[type(backbone).__name__])
    causal_lm = task(backbone=backbone, preprocessor=None)
    causal_lm.compile(sampler="greedy")
    record = _prompts(backbone.vocabulary_size, MAX_LENGTH, left=False, seed=7)
    inputs = {
        "token_ids": record["prompt_token_ids"],
        "padding_mask": record["prompt_padding_mask"].astype(bool),
    }
    generated = causal_lm.generate(dict(inputs), stop_token_ids=None)
    token_ids = np.asarray(generated["token_ids"], dtype="int32")
    logits = causal_lm({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
    # Stop at the third token the shorter prompt's row generated.
    stop = int(token_ids[1, PROMPT_LENGTHS[1] + 2])
    stopped = causal_lm.generate(dict(inputs), stop_token_ids=(stop,))
    return {
        **record,
        "expected_token_ids": token_ids,
        "expected_logits": keras.ops.convert_to_numpy(logits).astype("float32"),
        "stop_token_id": np.int32(stop),
        "expected_stop_token_ids": np.asarray(stopped["token_ids"], dtype="int32"),
        "expected_stop_padding_mask": np.asarray(stopped["padding_mask"], dtype=bool),
    }


# === transformers ===


def _transformers_generate(model: object, token_ids: np.ndarray, mask: np.ndarray) -> object:
    """transformers' greedy generation of `MAX_LENGTH - max(PROMPT_LENGTHS)` new tokens."""
    import torch

    with torch.no_grad():
        return model.generate(  # type: ignore[attr-defined]
            input_ids=torch.from_numpy(token_ids).long(),
            attention_mask=torch.from_numpy(mask).long(),
            max_new_tokens=MAX_LENGTH - max(PROMPT_LENGTHS),
            do_sample=False,
            pad_token_id=0,
            output_logits=True,
            return_dict_in_generate=True,
        )


def transformers_generation(directory: Path) -> dict[str, np.ndarray]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory).eval()
    model.generation_config.eos_token_id = None  # every row runs to its length
    width = max(PROMPT_LENGTHS)
    record = _prompts(model.config.vocab_size, width, left=True, seed=7)
    output = _transformers_generate(
        model, record["prompt_token_ids"], record["prompt_padding_mask"]
    )
    token_ids = output.sequences.numpy().astype("int32")  # type: ignore[attr-defined]
    logits = torch.stack(output.logits, dim=1).float().numpy()  # type: ignore[attr-defined]
    # Left padding must not change a row: each row alone gives the same tokens.
    for row, length in enumerate(PROMPT_LENGTHS):
        alone = _transformers_generate(
            model,
            record["prompt_token_ids"][row : row + 1, width - length :],
            record["prompt_padding_mask"][row : row + 1, width - length :],
        )
        alone_ids = alone.sequences.numpy()[0, length:]  # type: ignore[attr-defined]
        if not np.array_equal(alone_ids, token_ids[row, width:]):
            raise SystemExit(f"{directory.name}: row {row} generates differently when padded")
    return {
        **record,
        "max_new_tokens": np.int32(MAX_LENGTH - width),
        "expected_token_ids": token_ids,
        "expected_logits": logits,
    }


def main() -> None:
    from tests.reference.generate import write_checksums

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated fixture names")
    args = parser.parse_args()
    names = decoder_names()
    chosen = {name for name in args.only.split(",") if name} or set(names)
    unknown = chosen - set(names)
    if unknown:
        raise SystemExit(f"unknown fixture(s) {sorted(unknown)}; choose from {names}")
    for name in names:
        if name not in chosen:
            continue
        record = transformers_generation if name.startswith("hf_") else keras_hub_generation
        np.savez(output_path(name), **record(HERE / name))
        print(f"wrote {output_path(name).name}")
    write_checksums()


if __name__ == "__main__":
    main()
