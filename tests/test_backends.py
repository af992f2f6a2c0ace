"""The fixture checks on the JAX and PyTorch backends, each in its own process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.reference.generate import CASES


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_fixtures_on_backend(backend: str, fixtures: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{backend} is in the test extra; CI must run this test on it")
        pytest.skip(f"{backend} is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "tests.backend_probe", str(fixtures)],
        cwd=REPO,
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    assert set(report["errors"]) == {case.name for case in CASES}
    assert max(report["errors"].values()) <= 1e-5, report["errors"]
    assert report["mixed_bfloat16_error"] <= 0.1
