"""The `generate` verb: a causal LM's continuation of a prompt, streamed to the terminal."""

from __future__ import annotations

import sys
import time
from enum import Enum
from typing import Annotated

import typer

from registry.cli.shell import JsonOption, import_keras, print_json, quiet_stderr, registry

app = typer.Typer()


class Sampler(str, Enum):
    """How each token is chosen (`registry.architectures.sampling`)."""

    greedy = "greedy"
    top_k = "top_k"
    top_p = "top_p"


@app.command()
def generate(
    preset: Annotated[str, typer.Argument(help="Catalog name, kaggle://, hf:// or a directory.")],
    prompt: Annotated[str, typer.Argument(help="The text to continue.")],
    max_length: Annotated[
        int | None,
        typer.Option(min=1, help="Most tokens in all, start token and prompt included."),
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option(min=0, help="Most tokens to generate.")
    ] = None,
    sampler: Annotated[Sampler, typer.Option(help="How each token is chosen.")] = Sampler.greedy,
    temperature: Annotated[
        float, typer.Option(help="Divides the logits before sampling; above 0.")
    ] = 1.0,
    top_k: Annotated[
        int | None, typer.Option(min=1, help="top_k: the most likely tokens drawn from (5).")
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(help="top_p: the mass drawn from, in (0, 1] (0.1).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Makes sampling reproducible.")] = None,
    dtype: Annotated[str | None, typer.Option(help="Override the dtype, e.g. bfloat16.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Continue PROMPT with a preset's causal LM, printing tokens as they arrive.

    The preset is loaded and verified as `registry load` does, with its
    tokenizer; generation stops at the model's end token or the length
    (64 tokens in all unless --max-length or --max-new-tokens say otherwise).
    With --json, prints the prompt, the continuation and the timing once done.

    Example: registry generate gpt2_tiny_demo "The registry" --max-new-tokens 20
    """
    import_keras()
    started = time.perf_counter()
    model = registry().load(preset, task="causal_lm", dtype=dtype)
    loaded = time.perf_counter()
    pieces = model.stream(
        prompt,
        max_length=max_length,
        max_new_tokens=max_new_tokens,
        sampler=sampler.value,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
    )
    if not as_json:
        sys.stdout.write(prompt)
        sys.stdout.flush()
    text, tokens = [], 0
    with quiet_stderr():  # TensorFlow's compiler logs on first use
        for piece in pieces:
            tokens += 1
            text.append(piece)
            if not as_json:
                sys.stdout.write(piece)
                sys.stdout.flush()
    finished = time.perf_counter()
    if as_json:
        print_json(
            {
                "preset": preset,
                "prompt": prompt,
                "text": "".join(text),
                "tokens": tokens,
                "load_seconds": round(loaded - started, 3),
                "generate_seconds": round(finished - loaded, 3),
            }
        )
    else:
        sys.stdout.write("\n")
