"""Each backbone's forward pass against keras-hub's: same weights, shape and backend.

    python bench/forward.py [--arch gpt2,bert,gemma,llama] [--backend tensorflow]
                            [--runs 3] [--calls 5] [--batch 8] [--length 128] [--json PATH]

One shape per architecture, random weights generated once into the cache
directory as a preset, which both keras-hub's and this registry's
`<Arch>Backbone.from_preset` load (so both compute the same function; the table
gives the largest difference between their outputs):
- gpt2: gpt2_base_en's shape (12 layers, 768 wide, 50,257 tokens);
- bert: bert_base_en_uncased's shape (12 layers, 768 wide, 30,522 tokens),
  fed segment ids as well;
- gemma: gemma_2b_en's shape (2048 wide, 8 query heads and 1 key/value head
  of 256, feedforward 32,768, 256,000 tokens) with 2 of its 18 layers;
- llama: llama3.2_1b's shape (2048 wide, 32 query and 8 key/value heads,
  feedforward 8,192, 128,256 tokens, tied embeddings, Llama 3.1 rope scaling)
  with 4 of its 16 layers.
Fewer layers keep Gemma's and Llama's calls near 2.5 s each on 2 cores; every
layer is the same computation, so the ratio hardly depends on their number.
A batch of `--batch` x `--length` tokens (all unpadded). Each fresh process
(one per architecture and run) loads both backbones, warms each up, then calls
them in turn, `--calls` times each, each going first every other time (A B,
B A, ...): `predict_on_batch` (Keras's compiled path), then a plain eager
call. Alternating within one process gives both the same machine state
(caches, thread pools, a noisy neighbour), which separate processes do not: on
this VM the same model's time drifts by 5% from process to process. The
figure is the median over calls and processes. On TensorFlow by default;
`--backend tensorflow,jax` adds JAX.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from random_presets import GPT2_BASE, REPO, ensure_random_preset


@dataclass(frozen=True)
class Architecture:
    """A backbone class (the same name in keras-hub) at one shape."""

    backbone: str
    title: str
    config: dict[str, Any]
    segment_ids: bool = False


ARCHITECTURES = {
    "gpt2": Architecture(
        backbone="GPT2Backbone",
        title="gpt2_base_en's shape",
        config=GPT2_BASE,
    ),
    "bert": Architecture(
        backbone="BertBackbone",
        title="bert_base_en_uncased's shape",
        config={
            "vocabulary_size": 30522,
            "num_layers": 12,
            "num_heads": 12,
            "hidden_dim": 768,
            "intermediate_dim": 3072,
            "max_sequence_length": 512,
            "num_segments": 2,
        },
        segment_ids=True,
    ),
    "gemma": Architecture(
        backbone="GemmaBackbone",
        title="gemma_2b_en's shape, 2 of its 18 layers",
        config={
            "vocabulary_size": 256000,
            "num_layers": 2,
            "num_query_heads": 8,
            "num_key_value_heads": 1,
            "hidden_dim": 2048,
            "intermediate_dim": 32768,
            "head_dim": 256,
        },
    ),
    "llama": Architecture(
        backbone="LlamaBackbone",
        title="llama3.2_1b's shape, 4 of its 16 layers",
        config={
            "vocabulary_size": 128256,
            "num_layers": 4,
            "num_query_heads": 32,
            "hidden_dim": 2048,
            "intermediate_dim": 8192,
            "num_key_value_heads": 8,
            "rope_max_wavelength": 500000,
            "rope_frequency_adjustment_factor": 32.0,
            "rope_low_freq_factor": 1.0,
            "rope_high_freq_factor": 4.0,
            "rope_pretraining_sequence_length": 8192,
            "layer_norm_epsilon": 1e-5,
            "tie_word_embeddings": True,
        },
    ),
}
LABELS = ("keras-hub", "registry")
MODES = ("compiled", "eager")

# argv: preset dir, class name, vocabulary size, segment ids (0/1), batch, length, calls.
# Prints {"timings": {label: {mode: [[wall, cpu], ...]}}, "max_abs_diff": {mode: float}}.
_CASE = """
import json, sys, time
import keras
import numpy as np
import keras_hub
import registry
preset, name = sys.argv[1:3]
vocabulary, segments, batch, length, calls = map(int, sys.argv[3:8])
backbones = {
    "keras-hub": getattr(keras_hub.models, name).from_preset(preset),
    "registry": getattr(registry, name).from_preset(preset),
}
rng = np.random.default_rng(0)
inputs = {
    "token_ids": rng.integers(0, vocabulary, (batch, length)).astype("int32"),
    "padding_mask": np.ones((batch, length), dtype="int32"),
}
if segments:
    inputs["segment_ids"] = rng.integers(0, 2, (batch, length)).astype("int32")
modes = {
    "compiled": lambda backbone: backbone.predict_on_batch(inputs),
    "eager": lambda backbone: keras.tree.map_structure(np.asarray, backbone(inputs)),
}
labels = list(backbones)
timings = {label: {mode: [] for mode in modes} for label in backbones}
max_abs_diff = {}
for mode, run in modes.items():
    # Warm-up (tracing, compilation, first allocation), and the two outputs compared.
    outputs = [keras.tree.flatten(run(backbone)) for backbone in backbones.values()]
    max_abs_diff[mode] = max(
        float(np.max(np.abs(theirs - ours))) for theirs, ours in zip(*outputs)
    )
    for call in range(calls):
        for label in (labels if call % 2 == 0 else labels[::-1]):  # A B, B A, A B, ...
            cpu, wall = time.process_time(), time.perf_counter()
            run(backbones[label])
            timings[label][mode].append((time.perf_counter() - wall, time.process_time() - cpu))
print(json.dumps({"timings": timings, "max_abs_diff": max_abs_diff}))
"""


@dataclass
class _Samples:
    """One architecture's calls on one backend, over every process."""

    timings: dict[str, dict[str, list[tuple[float, float]]]]
    max_abs_diff: dict[str, float]

    def add(self, body: dict[str, Any]) -> None:
        """Add one process's output (see `_CASE`)."""
        for label, modes in body["timings"].items():
            for mode, pairs in modes.items():
                self.timings[label][mode] += [(wall, cpu) for wall, cpu in pairs]
        for mode, diff in body["max_abs_diff"].items():
            self.max_abs_diff[mode] = max(diff, self.max_abs_diff.get(mode, 0.0))


def _run_process(
    architecture: Architecture, preset: Path, backend: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One fresh process's timings and output differences."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable, "-c", _CASE, str(preset), architecture.backbone,
        str(architecture.config["vocabulary_size"]), str(int(architecture.segment_ids)),
        str(args.batch), str(args.length), str(args.calls),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"forward of {architecture.backbone} on {backend} failed:\n{result.stderr[-3000:]}"
        )
    body: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return body


def measure(
    architectures: dict[str, Architecture], backend: str, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Each architecture's medians on `backend`: {arch: {label: {mode: {wall_s, cpu_s}}}}.

    The runs take the architectures in turn (gpt2, bert, ..., gpt2, bert, ...),
    one process each, so no architecture sees only one stretch of the machine's load.
    """
    presets = {
        name: ensure_random_preset(
            args.cache / f"forward_{name}", architecture.backbone, architecture.config
        )
        for name, architecture in architectures.items()
    }
    samples = {
        name: _Samples({label: {mode: [] for mode in MODES} for label in LABELS}, {})
        for name in architectures
    }
    for _ in range(args.runs):
        for name, architecture in architectures.items():
            print(f"forward: {name} on {backend}", file=sys.stderr, flush=True)
            samples[name].add(_run_process(architecture, presets[name], backend, args))
    return {name: _medians(sample) for name, sample in samples.items()}


def _medians(sample: _Samples) -> dict[str, Any]:
    figures: dict[str, Any] = {
        label: {
            mode: {
                "wall_s": statistics.median(wall for wall, _ in pairs),
                "cpu_s": statistics.median(cpu for _, cpu in pairs),
            }
            for mode, pairs in modes.items()
        }
        for label, modes in sample.timings.items()
    }
    return figures | {"max_abs_diff": sample.max_abs_diff}


def print_table(results: dict[str, Any], backends: list[str]) -> None:
    print(
        "| architecture | backend | mode | keras-hub wall (s) | registry wall (s) | ratio "
        "| keras-hub CPU (s) | registry CPU (s) | outputs' max abs difference |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name, figures in results["architectures"].items():
        for backend in backends:
            theirs, ours = figures[backend]["keras-hub"], figures[backend]["registry"]
            for mode in MODES:
                ratio = ours[mode]["wall_s"] / theirs[mode]["wall_s"]
                print(
                    f"| {name} | {backend} | {mode} | {theirs[mode]['wall_s']:.3f} "
                    f"| {ours[mode]['wall_s']:.3f} | {ratio:.2f}x | {theirs[mode]['cpu_s']:.2f} "
                    f"| {ours[mode]['cpu_s']:.2f} "
                    f"| {figures[backend]['max_abs_diff'][mode]:.1e} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=",".join(ARCHITECTURES), help="comma-separated")
    parser.add_argument("--backend", default="tensorflow", help="comma-separated Keras backends")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen = [name.strip() for name in args.arch.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ARCHITECTURES))
    if unknown:
        parser.error(f"unknown architecture(s) {unknown}; choose from {sorted(ARCHITECTURES)}")
    backends = [name.strip() for name in args.backend.split(",") if name.strip()]
    architectures = {name: ARCHITECTURES[name] for name in chosen}

    results: dict[str, Any] = {"batch": args.batch, "length": args.length, "architectures": {}}
    for name, architecture in architectures.items():
        results["architectures"][name] = {
            "backbone": architecture.backbone,
            "title": architecture.title,
            "config": architecture.config,
        }
    for backend in backends:
        for name, figures in measure(architectures, backend, args).items():
            results["architectures"][name][backend] = figures
    print(f"Batch {args.batch} x {args.length} tokens; median of {args.runs} processes x "
          f"{args.calls} calls; the same random weights on both sides:")  # fmt: skip
    for name, architecture in architectures.items():
        print(f"- {name}: {architecture.title} (`{architecture.backbone}`)")
    print()
    print_table(results, backends)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
