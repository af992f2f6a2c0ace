"""Loading a GPT-2-medium-shaped preset: keras-hub vs this registry, in fresh processes.

    python bench/load.py [--runs 3] [--cache DIR] [--json PATH]

Generates once (into the cache directory) a preset of GPT-2 medium's shape with
random weights (~1.4 GB), then times in fresh processes, in one run:
- keras-hub's `GPT2Backbone.from_preset(dir)`;
- this registry's `GPT2Backbone.from_preset(dir)`, unverified;
- this registry's verified load from its store (fast-path check, and full rehash);
- `sha256sum` of the weights file against the registry's full verification.
Each figure is the median of `--runs` processes; load times exclude the
interpreter's start and imports (reported apart as "import"). The weights file
is in the page cache after the first run, as on any machine that loads a preset
twice. Prints a Markdown table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MEDIUM = {
    "vocabulary_size": 50257,
    "num_layers": 24,
    "num_heads": 16,
    "hidden_dim": 1024,
    "intermediate_dim": 4096,
    "max_sequence_length": 1024,
}

_GENERATE = """
import sys, numpy as np
from pathlib import Path
from registry.architectures.gpt2 import GPT2Backbone
from registry.architectures.initializers import skipped_initializers
with skipped_initializers():
    backbone = GPT2Backbone(**{config}, name="gpt2_backbone")
rng = np.random.default_rng(0)
for variable in backbone.weights:
    variable.assign((rng.standard_normal(variable.shape, dtype=np.float32) * 0.02))
backbone.save_to_preset(Path(sys.argv[1]))
"""

# Each case prints {"import_s", "load_s", "rss_mb"} as its last line.
_CASE = """
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
started = time.perf_counter()
{imports}
imported = time.perf_counter()
{load}
loaded = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"import_s": imported - started, "load_s": loaded - imported, "rss_mb": rss}}))
"""

CASES = {
    "keras-hub from_preset(dir)": (
        "import keras_hub",
        "keras_hub.models.GPT2Backbone.from_preset(sys.argv[1])",
    ),
    "registry from_preset(dir), unverified": (
        "from registry import GPT2Backbone",
        "GPT2Backbone.from_preset(sys.argv[1])",
    ),
    "registry load from store, fast check": (
        "from registry import GPT2Backbone",
        "GPT2Backbone.from_preset(sys.argv[2])",
    ),
    "registry load from store, full rehash": (
        "from registry import GPT2Backbone\nfrom registry.preset.loader import load_backbone",
        "load_backbone(sys.argv[2], cls=GPT2Backbone, verify='full')",
    ),
}


def _run(code: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark case failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ensure_preset(cache: Path) -> Path:
    preset = cache / "gpt2_medium_random"
    if not (preset / "manifest.json").is_file():
        print(f"generating {preset} (once) ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-c", _GENERATE.format(config=MEDIUM), str(preset)],
            cwd=REPO,
            check=True,
        )
    return preset


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def hashing(preset: Path, runs: int) -> dict[str, float]:
    weights = preset / "model.weights.h5"
    size_mb = weights.stat().st_size / 1e6
    ours = [
        _timed(
            [
                sys.executable,
                "-c",
                f"from registry.preset.manifest import sha256_file; sha256_file({str(weights)!r})",
            ]
        )
        for _ in range(runs)
    ]
    theirs = [_timed(["sha256sum", str(weights)]) for _ in range(runs)]
    return {
        "size_mb": size_mb,
        "registry_mb_s": size_mb / statistics.median(ours),
        "sha256sum_mb_s": size_mb / statistics.median(theirs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    preset = ensure_preset(args.cache)
    env = {**os.environ, "REGISTRY_HOME": str(args.cache / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
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
    stored_name = json.loads(sync.stdout)["preset"]

    rows: dict[str, dict[str, float]] = {}
    for label, (imports, load) in CASES.items():
        code = _CASE.format(imports=imports, load=load)
        samples = [_run(code, str(preset), stored_name, env=env) for _ in range(args.runs)]
        rows[label] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    reference = rows["keras-hub from_preset(dir)"]
    print(
        f"| case (median of {args.runs} fresh processes) | import (s) | load (s) "
        "| load vs keras-hub | peak RSS (MB) | RSS vs keras-hub |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, row in rows.items():
        print(
            f"| {label} | {row['import_s']:.2f} | {row['load_s']:.2f} | "
            f"{row['load_s'] / reference['load_s']:.2f}x | {row['rss_mb']:,.0f} | "
            f"{row['rss_mb'] / reference['rss_mb']:.2f}x |"
        )
    hashed = hashing(preset, args.runs)
    print()
    print(f"| full hash of model.weights.h5 ({hashed['size_mb']:,.0f} MB) | MB/s | vs sha256sum |")
    print("|---|---:|---:|")
    print(f"| sha256sum | {hashed['sha256sum_mb_s']:,.0f} | 1.00x |")
    ratio = hashed["registry_mb_s"] / hashed["sha256sum_mb_s"]
    print(f"| registry (sha256_file) | {hashed['registry_mb_s']:,.0f} | {ratio:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"load": rows, "hash": hashed}, indent=2))


if __name__ == "__main__":
    main()
