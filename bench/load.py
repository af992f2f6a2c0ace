"""Loading a preset of each architecture: keras-hub vs this registry, in fresh processes.

    python bench/load.py [--arch gpt2,llama] [--runs 3] [--cache DIR] [--json PATH]

For each architecture of `--arch` (default: all), generates once (into the
cache directory) a preset with random weights through this registry's own
backbone:
- gpt2: GPT-2 medium's shape (24 layers, 1024 wide, 50,257 tokens), ~1.4 GB;
- llama: Llama 3.2 1B's vocabulary (128,256 tokens, tied embeddings), depth
  (16 layers), head size (64), grouped-query ratio (4 query heads per key/value
  head) and rope scaling, at half its width (1024, feedforward 4096, 16 query
  and 4 key/value heads): 375M parameters, ~1.5 GB in float32.
Then times in fresh processes, in one run per architecture:
- keras-hub's `<Arch>Backbone.from_preset(dir)`;
- this registry's `<Arch>Backbone.from_preset(dir)`, unverified;
- this registry's verified load from its store (fast-path check, and full rehash);
- keras-hub's load and the registry's verified load (fast check) again with
  the weights dropped from the page cache before every run (the first load
  after a sync: the store writes around the page cache);
- `sha256sum` of the weights file against the registry's `sha256_file`, both
  as whole processes.
The registry's cases also record where their time goes (build, read and
assign, wait for verify), timed around the functions each phase runs; a second
table prints the split.
Each case runs once as a discarded warm-up (so every file it reads is in the
page cache, as on any machine that loads a preset twice), then the cases take
turns for `--runs` rounds (A B C D A B C D ...). Reported: the median and the
worst case (max) of each figure. "import" and "load" are timed inside the
process (load excludes the interpreter's start and imports); "whole process"
is the parent's wall clock from spawn to exit, which is what a user waits for.
Prints Markdown tables; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interleave import REPO, Sample, cell, interleaved, summary
from random_presets import ensure_random_preset


@dataclass(frozen=True)
class Architecture:
    """A preset to load: the backbone class (the same name in keras-hub) and its shape."""

    backbone: str
    title: str
    directory: str
    config: dict[str, Any]


ARCHITECTURES = {
    "gpt2": Architecture(
        backbone="GPT2Backbone",
        title="GPT-2 medium's shape",
        directory="gpt2_medium_random",
        config={
            "vocabulary_size": 50257,
            "num_layers": 24,
            "num_heads": 16,
            "hidden_dim": 1024,
            "intermediate_dim": 4096,
            "max_sequence_length": 1024,
        },
    ),
    "llama": Architecture(
        backbone="LlamaBackbone",
        title="Llama 3.2 1B's shape at half width",
        directory="llama3.2_1b_half_width_random",
        config={
            "vocabulary_size": 128256,
            "num_layers": 16,
            "num_query_heads": 16,
            "hidden_dim": 1024,
            "intermediate_dim": 4096,
            "num_key_value_heads": 4,
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

# Each case prints {"import_s", "load_s", "rss_mb"} (and the registry's phases)
# as its last line.
_CASE = """
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
started = time.perf_counter()
{imports}
imported = time.perf_counter()
phases = {{}}
{instrument}
{load}
loaded = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
figures = {{"import_s": imported - started, "load_s": loaded - imported, "rss_mb": rss}}
print(json.dumps({{**figures, **phases}}))
"""

# The registry's in-process split, timed by wrapping the functions each phase
# runs (the rest of "load" is resolving the name, the file checks and h5 headers):
# build_s: the model built from its config (no random initializers);
# assign_s: every weight read from the h5 file into its variable;
# verify_s: waiting for the hash check still running on its second thread once
# the model is built (zero when the check finished first).
_PHASES = """
import registry.preset.loader as _loader, registry.preset.weights_h5 as _weights
import registry.resolver.load as _resolve

def _timed(owner, name, key):
    original = getattr(owner, name)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[key] = phases.get(key, 0.0) + time.perf_counter() - start
    setattr(owner, name, timed)

_timed(_loader, "_build", "build_s")
_timed(_weights, "read_weights", "assign_s")
_timed(_resolve._Located, "settle", "verify_s")
"""

# label: (imports, load), `{cls}` the backbone's class name; argv: preset dir, stored name.
CASES = {
    "keras-hub from_preset(dir)": (
        "import keras_hub",
        "keras_hub.models.{cls}.from_preset(sys.argv[1])",
    ),
    "registry from_preset(dir), unverified": (
        "from registry import {cls}",
        "{cls}.from_preset(sys.argv[1])",
    ),
    "registry load from store, fast check": (
        "from registry import {cls}",
        "{cls}.from_preset(sys.argv[2])",
    ),
    "registry load from store, full rehash": (
        "from registry import {cls}\nfrom registry.resolver.load import load_backbone",
        "load_backbone(sys.argv[2], cls={cls}, verify='full')",
    ),
}
# The first load after a sync: the store writes blobs around the page cache, so
# their bytes come from the disk. These cases run the ones they name with the
# files they read dropped from the page cache before every run (the imports'
# files stay cached, as on a machine that has run Python before).
# label: (the case it runs, whose files are dropped: the preset directory's or the store's).
COLD = {
    "keras-hub from_preset(dir), weights not in the page cache": (
        "keras-hub from_preset(dir)",
        "preset",
    ),
    "registry load from store, fast check, weights not in the page cache": (
        "registry load from store, fast check",
        "store",
    ),
}
REFERENCE = "keras-hub from_preset(dir)"


def ensure_preset(cache: Path, architecture: Architecture = ARCHITECTURES["gpt2"]) -> Path:
    """The architecture's preset in `cache` (GPT-2 medium's by default), generated once.

    bench/sync.py, bench/verify.py and bench/serving.py use the GPT-2 one.
    """
    return ensure_random_preset(
        cache / architecture.directory, architecture.backbone, architecture.config
    )


def _store(preset: Path, env: dict[str, str]) -> str:
    """Sync `preset` into the registry home of `env`; return its stored name."""
    sync = subprocess.run(
        [sys.executable, "-m", "registry.cli", "sync", str(preset), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if sync.returncode != 0:
        raise SystemExit(sync.stderr)
    name: str = json.loads(sync.stdout)["preset"]
    return name


def evict(path: Path) -> None:
    """Drop the files under `path` from the page cache (they are read from disk next)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        descriptor = os.open(file, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # only clean pages can be dropped
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def loading(
    architecture: Architecture, preset: Path, stored_name: str, runs: int, env: dict[str, str]
) -> dict[str, Any]:
    """Each case's figures: medians, and worst cases as `<figure>_max`."""
    arguments = [str(preset), stored_name]

    def command(label: str) -> list[str]:
        imports, load = CASES[label]
        code = _CASE.format(
            imports=imports.format(cls=architecture.backbone),
            instrument=_PHASES if label.startswith("registry") else "",
            load=load.format(cls=architecture.backbone),
        )
        return [sys.executable, "-c", code, *arguments]

    commands = {label: command(label) for label in CASES}
    commands |= {label: command(warm) for label, (warm, _) in COLD.items()}
    places = {"preset": preset, "store": Path(env["REGISTRY_HOME"]) / "store" / "blobs"}
    before = {label: (lambda path=places[files]: evict(path)) for label, (_, files) in COLD.items()}
    samples = interleaved(commands, runs, env=env, before=before)
    return {
        label: summary([_figures(sample) for sample in batch]) for label, batch in samples.items()
    }


def _figures(sample: Sample) -> dict[str, float]:
    """A case's own figures (its last line of output) and its whole-process time."""
    figures: dict[str, float] = json.loads(sample.stdout.strip().splitlines()[-1])
    return figures | {"wall_s": sample.wall_s}


def hashing(preset: Path, runs: int) -> dict[str, float]:
    """Whole-process hashes of the weights file: sha256sum against sha256_file."""
    weights = preset / "model.weights.h5"
    size_mb = weights.stat().st_size / 1e6
    code = f"from registry.preset.manifest import sha256_file; sha256_file({str(weights)!r})"
    samples = interleaved(
        {"sha256sum": ["sha256sum", str(weights)], "registry": [sys.executable, "-c", code]}, runs
    )
    theirs = summary([{"wall_s": s.wall_s} for s in samples["sha256sum"]])
    ours = summary([{"wall_s": s.wall_s} for s in samples["registry"]])
    return {
        "size_mb": size_mb,
        "registry_mb_s": size_mb / ours["wall_s"],
        "registry_mb_s_worst": size_mb / ours["wall_s_max"],
        "sha256sum_mb_s": size_mb / theirs["wall_s"],
        "sha256sum_mb_s_worst": size_mb / theirs["wall_s_max"],
    }


def reference_of(label: str) -> str:
    """The keras-hub case `label` is compared with: the cold one for a cold case."""
    return next(iter(COLD)) if label in COLD else REFERENCE


def print_loading(rows: dict[str, Any], runs: int) -> None:
    print(
        f"| case: median (max) of {runs} interleaved fresh processes, after a warm-up each "
        "| import (s) | load (s) | load vs keras-hub | whole process (s) "
        "| whole process vs keras-hub | peak RSS (MB) | RSS vs keras-hub |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, row in rows.items():
        reference = rows[reference_of(label)]
        print(
            f"| {label} | {cell(row, 'import_s', '.2f')} | {cell(row, 'load_s', '.2f')} | "
            f"{row['load_s'] / reference['load_s']:.2f}x | {cell(row, 'wall_s', '.2f')} | "
            f"{row['wall_s'] / reference['wall_s']:.2f}x | {cell(row, 'rss_mb', ',.0f')} | "
            f"{row['rss_mb'] / reference['rss_mb']:.2f}x |"
        )


PHASES = {"build_s": "build", "assign_s": "read and assign", "verify_s": "wait for verify"}


def print_phases(rows: dict[str, Any]) -> None:
    """Where the registry's load time goes (medians of each phase, in seconds)."""
    print(
        "| registry case: median seconds | start and exit | import | "
        + " | ".join(PHASES.values())
        + " | the rest of load (resolve, checks, headers) |"
    )
    print("|---|" + "---:|" * (len(PHASES) + 3))
    for label, row in rows.items():
        if "build_s" not in row:
            continue
        split = [row.get(key, 0.0) for key in PHASES]
        start = row["wall_s"] - row["import_s"] - row["load_s"]
        cells = [start, row["import_s"], *split, row["load_s"] - sum(split)]
        print(f"| {label} | " + " | ".join(f"{value:.2f}" for value in cells) + " |")


def print_hashing(hashed: dict[str, float], runs: int) -> None:
    print(
        f"| full hash of model.weights.h5 ({hashed['size_mb']:,.0f} MB), whole processes: "
        f"median (worst) of {runs} interleaved, after a warm-up each | MB/s | vs sha256sum |"
    )
    print("|---|---:|---:|")
    print(
        f"| sha256sum | {hashed['sha256sum_mb_s']:,.0f} ({hashed['sha256sum_mb_s_worst']:,.0f})"
        " | 1.00x |"
    )
    ratio = hashed["registry_mb_s"] / hashed["sha256sum_mb_s"]
    print(
        f"| registry (python -c sha256_file) | {hashed['registry_mb_s']:,.0f} "
        f"({hashed['registry_mb_s_worst']:,.0f}) | {ratio:.2f}x |"
    )


def measure(
    architecture: Architecture, cache: Path, runs: int, env: dict[str, str]
) -> dict[str, Any]:
    """One architecture's loads and hashes, printed as tables and returned as figures."""
    preset = ensure_preset(cache, architecture)
    size_mb = (preset / "model.weights.h5").stat().st_size / 1e6
    print(
        f"{architecture.title} (`{architecture.backbone}`, random weights, "
        f"model.weights.h5 {size_mb:,.0f} MB)"
    )
    print()
    rows = loading(architecture, preset, _store(preset, env), runs, env)
    print_loading(rows, runs)
    print()
    print_phases(rows)
    hashed = hashing(preset, runs)
    print()
    print_hashing(hashed, runs)
    print()
    return {
        "backbone": architecture.backbone,
        "title": architecture.title,
        "config": architecture.config,
        "load": rows,
        "hash": hashed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=",".join(ARCHITECTURES), help="comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen = [name.strip() for name in args.arch.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(ARCHITECTURES))
    if unknown:
        parser.error(f"unknown architecture(s) {unknown}; choose from {sorted(ARCHITECTURES)}")

    env = {**os.environ, "REGISTRY_HOME": str(args.cache / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    results = {name: measure(ARCHITECTURES[name], args.cache, args.runs, env) for name in chosen}
    if args.json:
        args.json.write_text(json.dumps({"architectures": results}, indent=2))


if __name__ == "__main__":
    main()
