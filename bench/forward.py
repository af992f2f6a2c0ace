"""GPT2Backbone's forward pass against keras-hub's, same shape and backend, in fresh processes.

    python bench/forward.py [--runs 3] [--calls 5] [--batch 8] [--length 128] [--json PATH]

gpt2-base's shape (12 layers, 768 wide, 50,257 tokens; random weights), a batch
of `--batch` x `--length` tokens. Each fresh process builds both backbones
(keras-hub's and this registry's), warms each up, then calls them in turn,
`--calls` times each: `predict_on_batch` (Keras's compiled path), then a plain
eager call. Alternating within one process gives both the same machine state
(caches, thread pools, a noisy neighbour), which separate processes do not:
on this VM the same model's time drifts by 5% from process to process. The
figure is the median over calls and processes. On TensorFlow (the default
backend), and on JAX too when it is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "vocabulary_size": 50257,
    "num_layers": 12,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "max_sequence_length": 1024,
}
LABELS = ("keras-hub", "registry")

_CASE = """
import json, sys, time
import numpy as np
import keras_hub
import registry
config, batch, length, calls = json.loads(sys.argv[1]), *map(int, sys.argv[2:5])
backbones = {
    "keras-hub": keras_hub.models.GPT2Backbone(**config),
    "registry": registry.GPT2Backbone(**config),
}
rng = np.random.default_rng(0)
inputs = {
    "token_ids": rng.integers(0, config["vocabulary_size"], (batch, length)).astype("int32"),
    "padding_mask": np.ones((batch, length), dtype="int32"),
}
modes = {
    "compiled": lambda backbone: backbone.predict_on_batch(inputs),
    "eager": lambda backbone: np.asarray(backbone(inputs)),
}
timings = {label: {mode: [] for mode in modes} for label in backbones}
for mode, run in modes.items():
    for backbone in backbones.values():
        run(backbone)  # warm-up: tracing, compilation, first allocation
    for _ in range(calls):
        for label, backbone in backbones.items():
            cpu, wall = time.process_time(), time.perf_counter()
            run(backbone)
            timings[label][mode].append((time.perf_counter() - wall, time.process_time() - cpu))
print(json.dumps(timings))
"""


def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Both libraries' medians on `backend`: {label: {mode: {wall_s, cpu_s}}}."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        label: {"compiled": [], "eager": []} for label in LABELS
    }
    for _ in range(args.runs):
        result = subprocess.run(
            [sys.executable, "-c", _CASE, json.dumps(BASE), str(args.batch), str(args.length),
             str(args.calls)],
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"forward on {backend} failed:\n{result.stderr[-3000:]}")
        body = json.loads(result.stdout.strip().splitlines()[-1])
        for label in LABELS:
            for mode, pairs in body[label].items():
                samples[label][mode] += [tuple(pair) for pair in pairs]
    return {
        label: {
            mode: {
                "wall_s": statistics.median(wall for wall, _ in pairs),
                "cpu_s": statistics.median(cpu for _, cpu in pairs),
            }
            for mode, pairs in modes.items()
        }
        for label, modes in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = ["tensorflow"] + (["jax"] if importlib.util.find_spec("jax") else [])
    results: dict[str, Any] = {"batch": args.batch, "length": args.length}
    print(f"gpt2-base shape, batch {args.batch} x {args.length} tokens; median of "
          f"{args.runs} processes x {args.calls} calls")  # fmt: skip
    print()
    print("| backend | mode | keras-hub wall (s) | registry wall (s) | ratio | "
          "keras-hub CPU (s) | registry CPU (s) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|")
    for backend in backends:
        results[backend] = measure(backend, args)
        theirs, ours = results[backend]["keras-hub"], results[backend]["registry"]
        for mode in ("compiled", "eager"):
            ratio = ours[mode]["wall_s"] / theirs[mode]["wall_s"]
            print(
                f"| {backend} | {mode} | {theirs[mode]['wall_s']:.3f} | {ours[mode]['wall_s']:.3f} "
                f"| {ratio:.2f}x | {theirs[mode]['cpu_s']:.2f} | {ours[mode]['cpu_s']:.2f} |"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
