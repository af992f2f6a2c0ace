"""Where a backbone's parameters are: embeddings, attention, feed-forward, norms, heads.

Computed from the architecture's weight table (`ArchitectureSpec.h5_shapes`), so
it needs no Keras and no weights file: a server draws it for any preset whose
arguments it knows. Every dataset of the table is counted once, so the parts add
up to the preset's parameter count.

Example:
    ```python
    from registry.architectures import allowlist
    from registry.architectures.breakdown import parameter_breakdown

    spec = allowlist.spec_named("GPT2Backbone")
    parts = parameter_breakdown(spec, arguments)
    parts.totals["attention"]  # 28,348,416 for gpt2_base_en
    ```
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry.architectures.spec import ArchitectureSpec

# In the order a chart stacks them, with the words people read.
CATEGORIES = {
    "embeddings": "Embeddings",
    "attention": "Attention",
    "feed_forward": "Feed-forward",
    "norms": "Norms",
    "head": "Heads and pooler",
}
# `layers/<layer>[_<index>]/...`: Keras numbers the layers of one class from 1.
_LAYER = re.compile(r"layers/(?P<base>[^/]+?)(?:_(?P<index>\d+))?/")
# An untied language-model head is the reversible embedding's second variable.
_UNTIED_HEAD = re.compile(r"reversible_embedding/vars/1$")


def category(dataset: str) -> str:
    """The category of one dataset of `model.weights.h5`, by keras-hub's layer names."""
    if _UNTIED_HEAD.search(dataset):
        return "head"
    layers = dataset.rsplit("/vars/", 1)[0].lower()
    if "norm" in layers.rsplit("/", 1)[-1]:
        return "norms"
    if "embedding" in layers:
        return "embeddings"
    if "attention" in layers:
        return "attention"
    if "feedforward" in layers or "ffw" in layers:
        return "feed_forward"
    return "head"


@dataclass(frozen=True)
class Part:
    """A row of the breakdown: outside the blocks ("Embeddings", "Output") or
    a run of identical blocks (`first`..`last`), with the count of each category
    (per block for a run)."""

    label: str
    counts: dict[str, int]
    blocks: int = 0  # how many blocks the row stands for (0: not blocks)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Breakdown:
    parts: list[Part]
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def _block_of(dataset: str, block_bases: set[str]) -> int | None:
    match = _LAYER.match(dataset)
    if match is None or match["base"] not in block_bases:
        return None
    return int(match["index"] or 0)


def parameter_breakdown(spec: ArchitectureSpec, arguments: Mapping[str, Any]) -> Breakdown:
    """Parameters by category, outside the blocks and per block.

    A block is a layer class that holds attention; consecutive blocks with the
    same counts share one row. Raises ValueError (from the spec) for arguments
    that build no model.
    """
    shapes = spec.h5_shapes(arguments)
    # Layer classes (Keras's base names) holding attention weights are the blocks.
    block_bases = {
        match["base"]
        for dataset in shapes
        if category(dataset) == "attention" and (match := _LAYER.match(dataset))
    }
    before: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    after: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    blocks: dict[int, dict[str, int]] = {}
    for dataset, shape in shapes.items():
        size, kind = math.prod(shape), category(dataset)
        index = _block_of(dataset, block_bases)
        if index is not None:
            blocks.setdefault(index, dict.fromkeys(CATEGORIES, 0))[kind] += size
        elif blocks or kind == "head":  # a head is output even when listed first
            after[kind] += size
        else:
            before[kind] += size

    parts = [Part("Embeddings", before)] if any(before.values()) else []
    ordered = [blocks[index] for index in sorted(blocks)]
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[start]:
            end += 1
        count = end - start + 1
        label = f"Block {start}" if count == 1 else f"Blocks {start}-{end}, each"
        parts.append(Part(label, ordered[start], blocks=count))
        start = end + 1
    if any(after.values()):
        parts.append(Part("Output", after))

    totals = dict.fromkeys(CATEGORIES, 0)
    for part in parts:
        for kind, size in part.counts.items():
            totals[kind] += size * max(part.blocks, 1)
    return Breakdown(parts=parts, totals=totals)
