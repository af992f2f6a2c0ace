"""What every reference case shares: its type, its inputs, random weights that matter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCALE = 0.2
# Variables (keras) and parameters (torch) that scale a normalisation: drawn around 1.
NORM_SCALE = ("gamma", "weight", "scale")


@dataclass(frozen=True)
class Case:
    """One fixture: a writer that saves the preset into a directory and returns its I/O."""

    name: str
    write: Callable[[Path], dict[str, np.ndarray]]
    description: str


# === Inputs ===


def padded_batch(
    vocabulary_size: int, length: int, *, right: int = 2, left: int = 2, seed: int = 0
) -> dict[str, np.ndarray]:
    """Two rows: the first with its last `right` positions padded, the second its first `left`."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, vocabulary_size, (2, length)).astype("int32")
    padding_mask = np.ones((2, length), dtype="int32")
    if right:
        padding_mask[0, -right:] = 0
    if left:
        padding_mask[1, :left] = 0
    token_ids[padding_mask == 0] = 0
    return {"input_token_ids": token_ids, "input_padding_mask": padding_mask}


# === Random weights ===


def randomize_keras(model: object, seed: int) -> None:
    """Random weights that make every variable matter: norms near 1, the rest N(0, 0.2)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:  # type: ignore[attr-defined]
        draw = rng.standard_normal(tuple(variable.shape)).astype("float32")
        if variable.path.rsplit("/", 1)[-1] in NORM_SCALE:
            variable.assign(1.0 + 0.1 * draw)
        else:
            variable.assign(SCALE * draw)


def randomize_torch(model: object, seed: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():  # type: ignore[attr-defined]
            draw = torch.randn(parameter.shape, generator=generator)
            is_norm = "ln" in name or "norm" in name
            if is_norm and name.endswith("weight"):
                parameter.copy_(1.0 + 0.1 * draw)
            else:
                parameter.copy_(SCALE * draw)
