"""Timing whole processes fairly: one warm-up each, then the cases take turns.

Every side of a comparison runs as a fresh process, timed by the parent from
spawn to exit, so interpreter start-up, imports and teardown count alike for
all. One discarded warm-up run per case brings the files it reads into the page
cache; then the cases run round-robin (A B C A B C ...), so none is measured in
a cache state (or a moment of the machine's load) the others did not see.
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sample:
    """One process: its wall time from spawn to exit, and what it printed."""

    wall_s: float
    stdout: str


def run_timed(command: list[str], *, env: dict[str, str] | None = None) -> Sample:
    """Run `command` to its exit; a failure stops the benchmark with its stderr."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"benchmark process failed (exit {result.returncode}): {shlex.join(command)[:300]}\n"
            f"{result.stderr[-3000:]}"
        )
    return Sample(wall_s, result.stdout)


def interleaved(
    commands: dict[str, list[str]],
    runs: int,
    *,
    env: dict[str, str] | None = None,
    before: dict[str, Callable[[], None]] | None = None,
) -> dict[str, list[Sample]]:
    """A discarded warm-up of each command, then `runs` rounds of each in turn;
    `before[label]`, if given, runs (untimed) before each run of that command."""
    prepare = before or {}

    def run(label: str) -> Sample:
        if label in prepare:
            prepare[label]()
        return run_timed(commands[label], env=env)

    for label in commands:
        print(f"warm-up: {label}", file=sys.stderr, flush=True)
        run(label)
    samples: dict[str, list[Sample]] = {label: [] for label in commands}
    for _ in range(runs):
        for label in commands:
            samples[label].append(run(label))
    return samples


def summary(values: list[dict[str, float]]) -> dict[str, float]:
    """The median of each figure, and its worst case (the largest) as `<figure>_max`."""
    medians = {key: statistics.median(value[key] for value in values) for key in values[0]}
    worst = {f"{key}_max": max(value[key] for value in values) for key in values[0]}
    return medians | worst


def cell(figures: dict[str, float], key: str, spec: str = ".2f", scale: float = 1.0) -> str:
    """`median (max)` of one figure of a `summary`, times `scale`, for a table."""
    return f"{figures[key] * scale:{spec}} ({figures[f'{key}_max'] * scale:{spec}})"
