"""Resolving one handle from several processes at once (for the concurrency tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

_RESOLVE = """
import json, sys
from registry.config import Settings
from registry.resolver.resolve import Resolver
resolved = Resolver(Settings.from_env({"REGISTRY_HOME": sys.argv[1]})).resolve(
    sys.argv[2], verify="full"
)
print(json.dumps({"digest": resolved.digest, "preset": resolved.preset}))
"""


def resolve_at_once(home: Path, handle: str, count: int = 8) -> list[dict[str, str]]:
    """Start `count` processes resolving `handle` in `home`; return what each printed."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RESOLVE, str(home), handle],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outcomes = [process.communicate(timeout=180) for process in processes]
    failures = [
        err[-2000:]
        for process, (_, err) in zip(processes, outcomes, strict=True)
        if process.returncode
    ]
    assert not failures, failures
    return [json.loads(out) for out, _ in outcomes]
