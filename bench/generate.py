"""Greedy generation at gpt2_base_en's shape: keras-hub vs this registry vs transformers.

    python bench/generate.py [--batch 1,8] [--prompt 32] [--new 64] [--runs 3] [--calls 3]
                             [--backend tensorflow] [--cache DIR] [--json PATH]

gpt2_base_en's shape (12 layers, 768 wide, 50,257 tokens) with random weights,
generated once into the cache directory as a preset (no download), which both
keras-hub's and this registry's `from_preset` load. Each batch size generates
`--new` tokens greedily after a prompt of `--prompt` random tokens, never
stopping early:
- keras-hub: `GPT2CausalLM(backbone, preprocessor=None)` compiled with the
  greedy sampler, `generate({"token_ids", "padding_mask"}, stop_token_ids=None)`
  on the prompt right-padded to `--prompt + --new` (as its preprocessor packs it);
- this registry: `CausalLM.from_preset(dir).generate_ids(prompt,
  max_new_tokens=--new, stop_token_ids=None)`;
- transformers: `GPT2LMHeadModel` of the same shape (its own random weights:
  the time does not depend on them) `.generate(input_ids, attention_mask,
  max_new_tokens=--new, min_new_tokens=--new, do_sample=False)` on PyTorch.
Each fresh Keras process (one per run) loads both models, times each one's
first call (tracing and compiling included), checks that both generate the same
tokens, then calls them in turn, `--calls` times each, each going first every
other time (A B, B A, ...), which gives both the same machine state; a
transformers process follows each Keras process. Reported: tokens per second
(batch x new tokens / wall time), the median over calls and processes and the
worst (the slowest call), and the ratios of the medians. On this VM the speed
varies by the hour: only the ratios of one run compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from random_presets import GPT2_BASE, REPO, ensure_random_preset

CONFIG = GPT2_BASE
KERAS_LABELS = ("keras-hub", "registry")

# argv: preset dir, batches (comma-separated), prompt length, new tokens, calls.
# Prints {batch: {"first_s": {label: s}, "timings": {label: [s, ...]}, "same_tokens": bool}}.
_KERAS_CASE = """
import json, sys, time
import numpy as np
import keras_hub
from registry import CausalLM
preset = sys.argv[1]
batches = [int(b) for b in sys.argv[2].split(",")]
prompt_length, new, calls = map(int, sys.argv[3:6])
hub = keras_hub.models.GPT2CausalLM(
    backbone=keras_hub.models.GPT2Backbone.from_preset(preset), preprocessor=None
)
hub.compile(sampler="greedy")
ours = CausalLM.from_preset(preset)
report = {}
for batch in batches:
    prompt = np.random.default_rng(batch).integers(0, 50257, (batch, prompt_length), "int32")
    packed = np.zeros((batch, prompt_length + new), "int32")
    packed[:, :prompt_length] = prompt
    mask = packed * 0
    mask[:, :prompt_length] = 1
    runs = {
        "keras-hub": lambda: np.asarray(hub.generate(
            {"token_ids": packed, "padding_mask": mask.astype(bool)}, stop_token_ids=None
        )["token_ids"]),
        "registry": lambda: ours.generate_ids(prompt, max_new_tokens=new, stop_token_ids=None),
    }
    first, outputs = {}, {}
    for label, run in runs.items():
        started = time.perf_counter()
        outputs[label] = run()
        first[label] = time.perf_counter() - started
    labels = list(runs)
    timings = {label: [] for label in labels}
    for call in range(calls):
        for label in (labels if call % 2 == 0 else labels[::-1]):  # A B, B A, A B, ...
            started = time.perf_counter()
            runs[label]()
            timings[label].append(time.perf_counter() - started)
    same = bool(np.array_equal(outputs["keras-hub"], outputs["registry"]))
    report[batch] = {"first_s": first, "timings": timings, "same_tokens": same}
print(json.dumps(report))
"""

# argv: batches, prompt length, new tokens, calls. Prints {batch: {"first_s", "timings"}}.
_TRANSFORMERS_CASE = """
import json, sys, time
import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel
batches = [int(b) for b in sys.argv[1].split(",")]
prompt_length, new, calls = map(int, sys.argv[2:5])
torch.manual_seed(0)
config = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
model = GPT2LMHeadModel(config).eval()
model.generation_config.eos_token_id = None
report = {}
for batch in batches:
    prompt = np.random.default_rng(batch).integers(0, 50257, (batch, prompt_length))
    input_ids = torch.from_numpy(prompt).long()
    def run():
        with torch.no_grad():
            return model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0,
            )
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    report[batch] = {"first_s": {"transformers": first}, "timings": {"transformers": timings}}
print(json.dumps(report))
"""


def _process(command: list[str], env: dict[str, str], what: str) -> dict[str, Any]:
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    body: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return body


def measure(preset: Path, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every call of every run: {batch: {"first_s": {label: [s]}, "timings": {label: [s]},
    "same_tokens": bool}}, Keras processes and transformers processes taking turns."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TRANSFORMERS_VERBOSITY": "error"}
    shape = [args.batch, str(args.prompt), str(args.new), str(args.calls)]
    merged: dict[str, Any] = {}
    for run in range(args.runs):
        print(f"generate: run {run + 1} of {args.runs}, {backend}", file=sys.stderr, flush=True)
        bodies = [
            _process(
                [sys.executable, "-c", _KERAS_CASE, str(preset), *shape],
                {**env, "KERAS_BACKEND": backend},
                f"keras-hub and registry on {backend}",
            ),
            _process([sys.executable, "-c", _TRANSFORMERS_CASE, *shape], env, "transformers"),
        ]
        for body in bodies:
            for batch, figures in body.items():
                into = merged.setdefault(batch, {"first_s": {}, "timings": {}, "same_tokens": True})
                for key in ("first_s", "timings"):
                    for label, value in figures[key].items():
                        values = value if isinstance(value, list) else [value]
                        into[key].setdefault(label, []).extend(values)
                into["same_tokens"] = into["same_tokens"] and figures.get("same_tokens", True)
    return merged


def summarize(samples: dict[str, Any], new: int) -> dict[str, Any]:
    """Tokens per second (median, and worst: the slowest call) and first-call seconds."""
    summary: dict[str, Any] = {}
    for batch, figures in samples.items():
        tokens = int(batch) * new
        rates = {
            label: {
                "tokens_per_s": tokens / statistics.median(times),
                "tokens_per_s_worst": tokens / max(times),
                "first_call_s": statistics.median(figures["first_s"][label]),
            }
            for label, times in figures["timings"].items()
        }
        summary[batch] = {"rates": rates, "same_tokens": figures["same_tokens"]}
    return summary


def print_table(summary: dict[str, Any], backend: str) -> None:
    print(f"Keras on {backend} (transformers on PyTorch):")
    print()
    print(
        "| batch | keras-hub tok/s | registry tok/s | registry / keras-hub "
        "| transformers tok/s | registry / transformers | first call (s): keras-hub, "
        "registry, transformers | same tokens as keras-hub |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for batch, figures in summary.items():
        rates = figures["rates"]
        cell = {
            label: f"{rate['tokens_per_s']:.1f} ({rate['tokens_per_s_worst']:.1f})"
            for label, rate in rates.items()
        }
        ours = rates["registry"]["tokens_per_s"]
        hub = ours / rates["keras-hub"]["tokens_per_s"]
        torch = ours / rates["transformers"]["tokens_per_s"]
        first = ", ".join(
            f"{rates[label]['first_call_s']:.1f}"
            for label in ("keras-hub", "registry", "transformers")
        )
        same = "yes" if figures["same_tokens"] else "NO"
        print(
            f"| {batch} | {cell['keras-hub']} | {cell['registry']} | {hub:.2f}x "
            f"| {cell['transformers']} | {torch:.2f}x | {first} | {same} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    parser.add_argument("--new", type=int, default=64, help="tokens generated")
    parser.add_argument("--runs", type=int, default=3, help="processes of each side")
    parser.add_argument("--calls", type=int, default=3, help="timed calls per process")
    parser.add_argument("--backend", default="tensorflow", help="comma-separated Keras backends")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    preset = ensure_random_preset(args.cache / "generate_gpt2_base", "GPT2Backbone", CONFIG)
    results: dict[str, Any] = {
        "prompt": args.prompt,
        "new": args.new,
        "runs": args.runs,
        "calls": args.calls,
        "backends": {},
    }
    backends = [name.strip() for name in args.backend.split(",") if name.strip()]
    for backend in backends:
        summary = summarize(measure(preset, backend, args), args.new)
        results["backends"][backend] = summary
    print(
        f"Greedy generation, gpt2_base_en's shape (random weights), {args.prompt}-token "
        f"prompts, {args.new} new tokens; tokens/s median (worst) of {args.runs} processes x "
        f"{args.calls} calls; keras-hub and the registry on the same weights, alternating:"
    )
    for backend in backends:
        print()
        print_table(results["backends"][backend], backend)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
