"""Shared fixtures: the repository's reference presets (tests/reference/) and tiny models."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Written by keras-hub and transformers (tests/reference/generate.py) and committed.
FIXTURES = REPO / "tests" / "reference"
# The team's shared fixtures, when a checkout has them beside it: an extra cross-check only.
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
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


def reference_io(name: str, root: Path = FIXTURES) -> dict[str, np.ndarray]:
    """The inputs of reference fixture `name` and what its library returned for them."""
    with np.load(root / f"{name}_io.npz") as data:
        return dict(data)


def reference_inputs(io: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model inputs of a reference fixture's I/O (`input_token_ids` -> `token_ids`)."""
    return {k.removeprefix("input_"): v for k, v in io.items() if k.startswith("input_")}


# What each reference calls the outputs, in a backbone's own names.
_OUTPUT_NAMES = {
    "output": "sequence_output",  # keras-hub backbones with one output
    "last_hidden_state": "sequence_output",  # transformers
    "pooler_output": "pooled_output",  # transformers BERT
}


def reference_error(outputs: Any, io: dict[str, np.ndarray]) -> float:
    """The largest difference from what the reference library computed.

    `outputs` is a backbone's output: one array, or a dict of them (BERT's
    `sequence_output` and `pooled_output`). keras-hub's outputs count everywhere;
    transformers' sequences only where the padding mask keeps a position (what it
    returns for a padded query is its own business).
    """
    if not isinstance(outputs, dict):
        outputs = {"sequence_output": outputs}
    kept = io["input_padding_mask"].astype(bool)
    errors = []
    for key, value in io.items():
        if not key.startswith("expected_"):
            continue
        name = key.removeprefix("expected_")
        actual = np.asarray(outputs[_OUTPUT_NAMES.get(name, name)], dtype="float32")
        expected = value[kept] if name == "last_hidden_state" else value
        actual = actual[kept] if name == "last_hidden_state" else actual
        errors.append(float(np.abs(actual - expected).max()))
    if not errors:
        raise ValueError("the reference I/O holds no expected_* output")
    return max(errors)


@pytest.fixture(scope="session")
def fixtures() -> Path:
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
def keras_hub_inputs() -> dict[str, np.ndarray]:
    io = reference_io("keras_hub_tiny_gpt2")
    return {"token_ids": io["input_token_ids"], "padding_mask": io["input_padding_mask"]}


@pytest.fixture(scope="session")
def keras_hub_expected() -> np.ndarray:
    return reference_io("keras_hub_tiny_gpt2")["expected_output"]


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
