"""Charts drawn by the server as SVG (no JavaScript library): where a preset's
parameters are. `parameter_chart` lays the bars out; `templates/_parameters.html`
draws them, with a text table beside for screen readers and for reading exact
numbers."""

from __future__ import annotations

from dataclasses import dataclass

from registry.architectures.breakdown import CATEGORIES, Breakdown

WIDTH = 640
LABEL_WIDTH = 150
BAR_WIDTH = WIDTH - LABEL_WIDTH - 90  # the rest holds each row's total
ROW_HEIGHT = 22
BAR_HEIGHT = 14


@dataclass(frozen=True)
class Segment:
    category: str  # a key of CATEGORIES: the CSS class `cat-<category>` colours it
    x: float
    width: float
    title: str  # the tooltip: "Attention: 2.4M (33.3% of the row)"


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    total: str
    segments: list[Segment]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bar_height: int
    rows: list[Row]
    # (category key, label, count, share of the model): the legend and the table.
    legend: list[tuple[str, str, int, float]]
    total: int


def _row(label: str, counts: dict[str, int], y: float, scale: float, shown: str) -> Row:
    total = sum(counts.values())
    segments, x = [], float(LABEL_WIDTH)
    for kind, name in CATEGORIES.items():
        count = counts.get(kind, 0)
        if not count:
            continue
        width = count * scale
        share = 100 * count / total
        segments.append(Segment(kind, x, width, f"{name}: {count:,} ({share:.1f}% of the row)"))
        x += width
    return Row(label, y, shown, segments)


def parameter_chart(breakdown: Breakdown) -> Chart:
    """One bar for the whole model, then one per part (a run of identical blocks
    shares a bar, its counts per block), each scaled to its own longest bar."""
    total = breakdown.total
    rows = [_row("Whole model", breakdown.totals, 0, BAR_WIDTH / max(total, 1), f"{total:,}")]
    longest = max((part.total for part in breakdown.parts), default=1) or 1
    scale = BAR_WIDTH / longest
    for index, part in enumerate(breakdown.parts, start=1):
        y = (index + 0.5) * ROW_HEIGHT  # half a row between the whole and its parts
        rows.append(_row(part.label, part.counts, y, scale, f"{part.total:,}"))
    legend = [
        (kind, name, count, 100 * count / max(total, 1))
        for kind, name in CATEGORIES.items()
        if (count := breakdown.totals.get(kind, 0))
    ]
    height = int((len(breakdown.parts) + 1.5) * ROW_HEIGHT)
    return Chart(WIDTH, height, LABEL_WIDTH, BAR_HEIGHT, rows, legend, total)
