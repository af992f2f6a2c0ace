"""GPT2Backbone's forward pass against keras-hub's, same shape and backend, in fresh processes.

    python bench/forward.py [--runs 3] [--calls 3] [--batch 8] [--length 128] [--json PATH]

gpt2-base's shape (12 layers, 768 wide, 50,257 tokens; random weights), a batch
of `--batch` x `--length` tokens. Each process builds its backbone, warms it
up, then times `--calls` calls of `predict_on_batch` (Keras's compiled path) and
of a plain eager call; the figure is the median over calls and processes. On
TensorFlow (the default backend), and on JAX too when it is installed.
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
CLASSES = {
    "keras-hub": "from keras_hub.models import GPT2Backbone",
    "registry": "from registry import GPT2Backbone",
}

_CASE = """
import json, os, resource, sys, time
import numpy as np
{import_line}
config, batch, length, calls = json.loads(sys.argv[1]), *map(int, sys.argv[2:5])
backbone = GPT2Backbone(**config)
rng = np.random.default_rng(0)
inputs = {{
    "token_ids": rng.integers(0, config["vocabulary_size"], (batch, length)).astype("int32"),
    "padding_mask": np.ones((batch, length), dtype="int32"),
}}
timings = {{}}
for name, run in (("compiled", lambda: backbone.predict_on_batch(inputs)),
                  ("eager", lambda: np.asarray(backbone(inputs)))):
    run()  # warm-up: tracing, compilation, first allocation
    samples = []
    for _ in range(calls):
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))
    timings[name] = samples
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"timings": timings, "rss_mb": rss}}))
"""


def measure(backend: str, label: str, args: argparse.Namespace) -> dict[str, Any]:
    code = _CASE.format(import_line=CLASSES[label])
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    walls: dict[str, list[float]] = {"compiled": [], "eager": []}
    cpus: dict[str, list[float]] = {"compiled": [], "eager": []}
    rss = []
    for _ in range(args.runs):
        result = subprocess.run(
            [sys.executable, "-c", code, json.dumps(BASE), str(args.batch), str(args.length),
             str(args.calls)],
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"{label} on {backend} failed:\n{result.stderr[-3000:]}")
        body = json.loads(result.stdout.strip().splitlines()[-1])
        for mode, samples in body["timings"].items():
            walls[mode] += [wall for wall, _ in samples]
            cpus[mode] += [cpu for _, cpu in samples]
        rss.append(body["rss_mb"])
    return {
        mode: {"wall_s": statistics.median(walls[mode]), "cpu_s": statistics.median(cpus[mode])}
        for mode in walls
    } | {"rss_mb": statistics.median(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3)
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
        theirs = measure(backend, "keras-hub", args)
        ours = measure(backend, "registry", args)
        results[backend] = {"keras-hub": theirs, "registry": ours}
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
