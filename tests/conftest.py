"""Shared fixtures: the reference presets in ../shared/fixtures and tiny models."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
TINY = {
    "vocabulary_size": 50,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 24,
    "max_sequence_length": 12,
}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config: pytest.Config) -> None:
    # Never touch the user's own catalog and store: a registry home for this run.
    os.environ["REGISTRY_HOME"] = tempfile.mkdtemp(prefix="registry-tests-")
    os.environ.pop("REGISTRY_DB_URL", None)
    os.environ.pop("REGISTRY_OFFLINE", None)
    # No test may reach the real Hub or Kaggle: point both clients at a closed
    # local port (tests that need a server start one and override these).
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
    os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HOME"] = os.path.join(os.environ["REGISTRY_HOME"], "hf_home")
    os.environ["KAGGLEHUB_CACHE"] = os.path.join(os.environ["REGISTRY_HOME"], "kagglehub")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.get("REGISTRY_HOME", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def fixtures() -> Path:
    if not (FIXTURES / "README.md").is_file():
        pytest.fail(f"The reference fixtures are missing: expected {FIXTURES}")
    return FIXTURES


@pytest.fixture()
def keras_hub_preset(fixtures: Path, tmp_path: Path) -> Path:
    """A writable copy of the preset keras-hub wrote."""
    return Path(shutil.copytree(fixtures / "keras_hub_tiny_gpt2", tmp_path / "keras_hub"))


@pytest.fixture()
def hf_preset(fixtures: Path, tmp_path: Path) -> Path:
    """A writable copy of the checkpoint transformers wrote."""
    return Path(shutil.copytree(fixtures / "hf_tiny_gpt2", tmp_path / "hf"))


@pytest.fixture(scope="session")
def keras_hub_inputs(fixtures: Path) -> dict[str, np.ndarray]:
    return {
        "token_ids": np.load(fixtures / "keras_hub_tiny_gpt2_input_token_ids.npy"),
        "padding_mask": np.load(fixtures / "keras_hub_tiny_gpt2_input_padding_mask.npy"),
    }


@pytest.fixture(scope="session")
def keras_hub_expected(fixtures: Path) -> np.ndarray:
    return np.load(fixtures / "keras_hub_tiny_gpt2_expected_output.npy")


def tiny_inputs(batch: int = 2, length: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, length), dtype="int32")
    padding[0, -2:] = 0
    return {
        "token_ids": rng.integers(0, TINY["vocabulary_size"], (batch, length)).astype("int32"),
        "padding_mask": padding,
    }


def edit_json(path: Path, edit: object) -> None:
    """Rewrite a JSON file through `edit(body)` (which mutates it)."""
    body = json.loads(path.read_text())
    edit(body)  # type: ignore[operator]
    path.write_text(json.dumps(body))
