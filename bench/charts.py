"""The benchmarks' results as charts: `python -m bench --charts` (or after a run).

For every benchmark whose `<name>.json` is in the results directory, one SVG
`<name>.svg` beside it: horizontal bars of this project beside its reference
for each measure (whiskers: the worst run, where the benchmark records one),
the target as a dashed line where the benchmark has one (a ratio target such as
"<= 0.6x keras-hub" is drawn at that fraction of the reference's bar), and for
the load benchmark the whole process split into its phases. Then `charts.md`:
the Markdown image links of what was drawn, for the README.

The SVGs are deterministic (fixed hash salt, no date, text kept as text), so a
rerun with the same figures leaves them unchanged. A result lacking a figure a
chart needs (written by an older bench/) is skipped with one line on stderr.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox
from run import BENCHMARKS, mirror_links

REPO = Path(__file__).resolve().parents[1]

OURS, REFERENCE, TARGET = "#2b6cb0", "#a0aec0", "#c53030"
WORST, GRID, DASHES = "#2d3748", "#edf2f7", (0, (4, 3))
PLATE = {"facecolor": "white", "edgecolor": "none", "pad": 0.4}  # under a figure's text
PHASE_COLOURS = ("#cbd5e0", "#90cdf4", "#4299e1", "#2b6cb0", "#1a365d", "#718096")
RSS_TARGET_MB = 256.0
P99_TARGET_MS = 50.0
LABEL_WIDTH = 44  # characters of a bar's label before it wraps
TITLE_WIDTH = 100  # and of a chart's title (from the figure's left edge)
RC: dict[str, Any] = {
    "svg.hashsalt": "keras-preset-registry",  # ids stable from run to run
    "svg.fonttype": "none",  # text as text: small, searchable
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class Bar:
    """One bar: this project's (`ours`) or its reference's, and its worst run."""

    label: str
    value: float
    ours: bool
    worst: float | None = None


@dataclass(frozen=True)
class Target:
    """A dashed line at `value`, across the bars `first`..`last` (all if None)."""

    value: float
    label: str
    first: int | None = None
    last: int | None = None


@dataclass
class Panel:
    """One measure: its bars and targets; `unit` follows each bar's figure."""

    title: str
    unit: str
    spec: str
    bars: list[Bar]
    targets: list[Target] = field(default_factory=list)


@dataclass
class Phases:
    """Stacked bars: each row's label and phases (name, seconds) in order."""

    title: str
    rows: list[tuple[str, list[tuple[str, float]]]]


Chart = Panel | Phases


def _bar(label: str, row: dict[str, Any], key: str, ours: bool, scale: float = 1.0) -> Bar:
    """A bar of `row[key]`, its worst run `row[key + "_max"]` when recorded."""
    worst = row.get(f"{key}_max")
    return Bar(label, row[key] * scale, ours, None if worst is None else worst * scale)


def _rate(label: str, row: dict[str, Any], ours: bool) -> Bar:
    """A MB/s bar, its worst run `mb_per_s_worst` when recorded."""
    return Bar(label, row["mb_per_s"], ours, row.get("mb_per_s_worst"))


def _rss_target() -> Target:
    return Target(RSS_TARGET_MB, f"target < {RSS_TARGET_MB:.0f} MB")


# The load benchmark's cases run with the weights dropped from the page cache.
COLD_SUFFIX = ", weights not in the page cache"

# The load benchmark's in-process split: finer keys when a case records them,
# else its one `load_s`; "start and exit" is the rest of the whole process.
LOAD_PHASES = (
    ("build_s", "build"),
    ("assign_s", "read and assign"),
    ("verify_s", "wait for verify"),
)


def _phases(row: dict[str, Any]) -> list[tuple[str, float]]:
    inside = row["import_s"] + row["load_s"]
    split = [(name, row[key]) for key, name in LOAD_PHASES if key in row]
    if split:
        rest = row["load_s"] - sum(seconds for _, seconds in split)
        split.append(("resolve, checks, headers", max(rest, 0.0)))
    else:
        split = [("load: build, read and assign, verify", row["load_s"])]
    return [
        ("interpreter start and exit", max(row["wall_s"] - inside, 0.0)),
        ("import", row["import_s"]),
        *split,
    ]


def _load(body: dict[str, Any]) -> list[Chart]:
    charts: list[Chart] = []
    for name, figures in body["architectures"].items():
        rows = figures["load"]
        reference = rows["keras-hub from_preset(dir)"]
        cold = [label for label in rows if label.endswith(COLD_SUFFIX)]
        order = [
            "keras-hub from_preset(dir)",
            *(label for label in rows if label.startswith("registry") and label not in cold),
        ]
        charts.append(Panel(
            f"{name}: load time inside the process (s), lower is better", "s", ".2f",
            [_bar(label, rows[label], "load_s", label.startswith("registry")) for label in order],
            [Target(0.6 * reference["load_s"], "target <= 0.6x keras-hub (verified loads)")],
        ))  # fmt: skip
        charts.append(Phases(
            f"{name}: whole process by phase (s), lower is better",
            [(label, _phases(rows[label])) for label in order],
        ))  # fmt: skip
        charts.append(Panel(
            f"{name}: peak RSS (MB), lower is better", "MB", ",.0f",
            [_bar(label, rows[label], "rss_mb", label.startswith("registry")) for label in order],
            [Target(0.8 * reference["rss_mb"], "target <= 0.8x keras-hub")],
        ))  # fmt: skip
        if cold:
            charts.append(Panel(
                f"{name}: first load after a sync, whole process (s), lower is better", "s",
                ".2f",
                [_bar(label.removesuffix(COLD_SUFFIX), rows[label], "wall_s",
                      label.startswith("registry")) for label in cold],
            ))  # fmt: skip
        hashed = figures["hash"]
        charts.append(Panel(
            f"{name}: sha256 of model.weights.h5, whole process (MB/s), higher is better",
            "MB/s", ",.0f",
            [Bar("sha256sum", hashed["sha256sum_mb_s"], False, hashed["sha256sum_mb_s_worst"]),
             Bar("registry sha256_file", hashed["registry_mb_s"], True,
                 hashed["registry_mb_s_worst"])],
        ))  # fmt: skip
    return charts


def _verify(body: dict[str, Any]) -> list[Chart]:
    full = body["full"]
    mb = full["bytes"] / 1e6
    theirs, ours = full["sha256sum"], full["registry_cli"]
    fast_all, one = body["fast_all"], body["fast_one"]
    presets = fast_all["presets"]
    return [
        Panel(
            f"full rehash of a {mb / 1e3:.2f} GB preset, whole process (MB/s), higher is better",
            "MB/s", ",.0f",
            [Bar("sha256sum FILES", mb / theirs["wall_s"], False, mb / theirs["wall_s_max"]),
             Bar("registry verify NAME --full", mb / ours["wall_s"], True,
                 mb / ours["wall_s_max"])],
            [Target(0.9 * mb / theirs["wall_s"], "target >= 0.9x sha256sum")],
        ),
        Panel(
            "fast-path verify, in-process (ms), lower is better", "ms", ".1f",
            [_bar("one preset", one, "verify_s", True, 1000),
             _bar(f"each of {presets} presets, verified together", fast_all, "verify_s", True,
                  1000 / presets)],
            [Target(P99_TARGET_MS, "target <= 50 ms")],
        ),
    ]  # fmt: skip


def _sync(body: dict[str, Any]) -> list[Chart]:
    curl, hub = body["curl"]["mb_per_s"], body["huggingface_hub"]["mb_per_s"]
    return [Panel(
        f"pulling a {body['bytes'] / 1e9:.2f} GB preset over loopback (MB/s), higher is better",
        "MB/s", ",.0f",
        [_rate("curl (no checks)", body["curl"], False),
         _rate("huggingface_hub snapshot_download", body["huggingface_hub"], False),
         _rate("registry client sync", body["registry client"], True)],
        [Target(0.8 * curl, "target >= 0.8x curl"),
         Target(hub, "target >= 1.0x huggingface_hub")],
    )]  # fmt: skip


def _forward(body: dict[str, Any]) -> list[Chart]:
    charts: list[Chart] = []
    for name, figures in body["architectures"].items():
        for backend in ("tensorflow", "jax", "torch"):
            if backend not in figures:
                continue
            theirs, ours = figures[backend]["keras-hub"], figures[backend]["registry"]
            bars: list[Bar] = []
            targets: list[Target] = []
            for mode in ("compiled", "eager"):
                first = len(bars)
                bars += [Bar(f"keras-hub, {mode}", theirs[mode]["wall_s"], False),
                         Bar(f"registry, {mode}", ours[mode]["wall_s"], True)]  # fmt: skip
                targets.append(Target(theirs[mode]["wall_s"], "target <= 1.0x keras-hub",
                                      first, first + 1))  # fmt: skip
            charts.append(Panel(
                f"{name} on {backend}: forward pass, batch {body['batch']} x {body['length']} "
                "(s), lower is better", "s", ".3f", bars, targets,
            ))  # fmt: skip
    if not charts:
        raise KeyError("tensorflow")
    return charts


def _catalog(body: list[dict[str, Any]]) -> list[Chart]:
    if not body:
        raise KeyError("backend")
    return [Panel(
        f"catalog search of {body[0]['presets']:,} presets: p99 latency (ms), lower is better",
        "ms", ".1f",
        [Bar(f"{row['backend']}, {row['mix']}", row["p99_ms"], True) for row in body],
        [Target(P99_TARGET_MS, "target p99 < 50 ms")],
    )]  # fmt: skip


def _web(body: dict[str, Any]) -> list[Chart]:
    hello = body["hello"]["requests_per_s"]
    charts: list[Chart] = [
        Panel(
            f"requests/s with {body['connections']} connections, higher is better", "/s", ",.0f",
            [Bar("hello-world app", hello, False),
             Bar("API search, repeated queries", body["search"]["requests_per_s"], True),
             Bar("catalog page, repeated queries", body["page"]["requests_per_s"], True),
             Bar("API search, new queries, cache off", body["search_cold"]["requests_per_s"],
                 True),
             *([Bar("the same, index off too",
                    body["search_cold_sql"]["requests_per_s"], True)]
               if "search_cold_sql" in body else [])],
            [Target(0.5 * hello, "target >= 0.5x hello-world")],
        ),
        Panel(
            "one connection: p99 latency (ms), lower is better", "ms", ".1f",
            [Bar("API search", body["search_latency"]["p99_ms"], True),
             Bar("catalog page", body["page_latency"]["p99_ms"], True)],
            [Target(P99_TARGET_MS, "target p99 < 50 ms")],
        ),
    ]  # fmt: skip
    if "upload" in body:
        upload, sink = body["upload"], body["sink"]
        charts.append(Panel(
            f"upload of {upload['bytes'] / 1e9:.2f} GB (MB/s), higher is better", "MB/s", ",.0f",
            [Bar("hello-world sink (read and dropped)", sink["mb_per_s"], False),
             Bar("registry server", upload["mb_per_s"], True)],
        ))  # fmt: skip
        charts.append(Panel(
            "server peak RSS during the upload (MB), lower is better", "MB", ",.0f",
            [Bar("hello-world sink", sink["server_peak_rss_mb"], False),
             Bar("registry server", upload["server_peak_rss_mb"], True)],
            [_rss_target()],
        ))  # fmt: skip
    return charts


def _hub_upload(body: dict[str, Any]) -> list[Chart]:
    if not body:
        raise KeyError("mb_per_s")
    bars = [_rate(label, row, not label.startswith("curl")) for label, row in body.items()]
    return [
        Panel("publishing the preset to the registry server (MB/s), higher is better",
              "MB/s", ",.0f", bars),
        Panel("server peak RSS (MB), lower is better", "MB", ",.0f",
              [Bar(bar.label, body[bar.label]["server_peak_rss_mb"], True) for bar in bars],
              [_rss_target()]),
    ]  # fmt: skip


def _xet_upload(body: dict[str, Any]) -> list[Chart]:
    first, again, sink = body["first"], body["again"], body["sink"]
    folder = body.get("folder")
    sink_label = f"{sink.get('tool', 'curl')} to a hello-world sink"
    rate = [Bar(sink_label, sink["mb_per_s"], False),
            Bar("hf_xet upload, empty client cache", first["mb_per_s"], True)]  # fmt: skip
    rss = [Bar(sink_label, sink["server_peak_rss_mb"], False),
           Bar("hf_xet upload, empty client cache", first["server_peak_rss_mb"], True),
           Bar("hf_xet upload again (deduped)", again["server_peak_rss_mb"], True)]  # fmt: skip
    if folder is not None:
        rate.append(Bar("HfApi.upload_folder of the preset", folder["mb_per_s"], True))
        rss.append(Bar("HfApi.upload_folder of the preset", folder["server_peak_rss_mb"], True))
    return [
        Panel(f"uploading {body['size_mb']:,} MB through Xet (MB/s), higher is better",
              "MB/s", ",.0f", rate),
        Panel("server peak RSS (MB), lower is better", "MB", ",.0f", rss, [_rss_target()]),
    ]  # fmt: skip


def _mirror(body: dict[str, Any]) -> list[Chart]:
    panels: list[Chart] = []
    for link, figures in mirror_links(body).items():
        cold, warm = figures["cold"], figures["warm"]
        panels.append(Panel(
            f"snapshot_download of {body['bytes'] / 1e9:.2f} GB, {link} (MB/s), higher is better",
            "MB/s", ",.0f",
            [_rate("cold: upstream directly", cold["upstream"], False),
             _rate("cold: through the mirror", cold["mirror, cold"], True),
             _rate("warm: curl from the mirror", warm["curl"], False),
             _rate("warm: through the mirror", warm["mirror, warm"], True)],
            [Target(0.8 * cold["upstream"]["mb_per_s"], "target >= 0.8x upstream", 0, 1),
             Target(0.8 * warm["curl"]["mb_per_s"], "target >= 0.8x curl", 2, 3)],
        ))  # fmt: skip
    return panels


def _s3(body: dict[str, Any]) -> list[Chart]:
    clients, server = body["clients"], body["server"]
    # boto3 first within each action: the reference above this project's choice.
    cases = sorted(
        (label for label in clients if label != "bytes"),
        key=lambda label: (not label.endswith("upload"), not label.startswith("boto3")),
    )
    if not cases:
        raise KeyError("obstore, upload")
    rates = [_rate(label, server[phase][label], not label.startswith("local directory"))
             for phase in ("upload", "download") for label in server[phase]]  # fmt: skip
    labels = [f"{phase}: {label}" for phase in ("upload", "download") for label in server[phase]]
    upload = server["upload"]
    return [
        Panel(f"S3 clients, {clients['bytes'] / 1e6:,.0f} MB (MB/s), higher is better",
              "MB/s", ",.0f",
              [_rate(label, clients[label], label.startswith("obstore")) for label in cases]),
        Panel("S3 clients: CPU over the transfer (s), lower is better", "s", ".2f",
              [_bar(label, clients[label], "cpu_s", label.startswith("obstore"))
               for label in cases]),
        Panel(f"the server, a {server['bytes'] / 1e9:.2f} GB preset: S3 bucket vs local "
              "directory (MB/s), higher is better", "MB/s", ",.0f",
              [Bar(label, bar.value, bar.ours, bar.worst)
               for label, bar in zip(labels, rates, strict=True)]),
        Panel("server peak RSS over an upload (MB, worst run), lower is better",
              "MB", ",.0f",
              [Bar(label, row.get("server_peak_rss_mb_max", row["server_peak_rss_mb"]),
                   not label.startswith("local directory")) for label, row in upload.items()],
              [_rss_target()]),
    ]  # fmt: skip


def _generate(body: dict[str, Any]) -> list[Chart]:
    charts: list[Chart] = []
    for backend, batches in body["backends"].items():
        for batch, figures in batches.items():
            rates = figures["rates"]
            bars = [
                Bar(
                    f"{label} generate",
                    rates[label]["tokens_per_s"],
                    label == "registry",
                    rates[label]["tokens_per_s_worst"],
                )
                for label in ("keras-hub", "transformers", "registry")
                if label in rates
            ]
            charts.append(Panel(
                f"greedy generation, {body['new']} new tokens after {body['prompt']}, batch "
                f"{batch}, {backend} (tokens/s), higher is better", "tokens/s", ",.1f", bars,
                [Target(rates["keras-hub"]["tokens_per_s"], "target >= 1.0x keras-hub")],
            ))  # fmt: skip
    return charts


def _tryit(body: dict[str, Any]) -> list[Chart]:
    bars = []
    for key, label in (("demo", "the demo preset"), ("gpt2_base", "gpt2_base_en's shape")):
        for side, ours in (("library", False), ("page", True)):
            row = body[key][side]
            text = "through the page" if ours else "library in-process"
            bars.append(Bar(f"{label}: {text}", row["ttft_median_s"] * 1000, ours,
                            row["ttft_worst_s"] * 1000))  # fmt: skip
    return [
        Panel(
            f"time to the first of {body['new_tokens']} greedy tokens, warm (ms), lower is better",
            "ms",
            ",.0f",
            bars,
        )
    ]


CHARTS: dict[str, Callable[[Any], list[Chart]]] = {
    "load": _load,
    "verify": _verify,
    "sync": _sync,
    "forward": _forward,
    "catalog": _catalog,
    "web": _web,
    "hub_upload": _hub_upload,
    "xet_upload": _xet_upload,
    "mirror": _mirror,
    "s3": _s3,
    "generate": _generate,
    "tryit": _tryit,
}


def _wrap(label: str, width: int = LABEL_WIDTH) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


LABEL_ROW = 0.75  # the height of a target's label row, in bars


def _rows(chart: Chart) -> float:
    """The height of a chart in bar rows: its bars, its targets' labels, wrapped lines."""
    title = 0.8 * _wrap(chart.title, TITLE_WIDTH).count("\n")
    if isinstance(chart, Phases):
        return title + len(chart.rows) + 2  # and its legend
    wrapped = sum(_wrap(bar.label).count("\n") * 0.4 for bar in chart.bars)
    return title + len(chart.bars) + LABEL_ROW * len(chart.targets) + wrapped


def _right(panel: Panel) -> float:
    """The right end of a panel's x axis: room for the figures past the longest bar."""
    right = max([*(bar.value for bar in panel.bars), *(bar.worst or 0 for bar in panel.bars),
                 *(target.value for target in panel.targets)])  # fmt: skip
    return right * 1.22 or 1.0


def _leftward(target: Target, right: float) -> bool:
    """Whether a target's label reads to the left of its line (the line is far right)."""
    return target.value >= 0.6 * right


def _layout(panel: Panel, right: float) -> tuple[list[float], list[float]]:
    """The rows of the bars, and of the targets' labels: each label just above the
    first bar its line crosses. Of labels starting together, those reading rightward
    come first, left to right, then those reading leftward, right to left, so that
    no label crosses the line of one above it."""
    bars: list[float] = []
    labels: dict[int, float] = {}
    row = 0.0

    def order(i: int) -> tuple[bool, float]:
        value = panel.targets[i].value
        leftward = _leftward(panel.targets[i], right)
        return leftward, -value if leftward else value

    for index in range(len(panel.bars)):
        starting = [i for i, target in enumerate(panel.targets) if (target.first or 0) == index]
        for i in sorted(starting, key=order):
            labels[i] = row
            row += LABEL_ROW
        bars.append(row)
        row += 1
    return bars, [labels[i] for i in range(len(panel.targets))]


def _draw_panel(ax: Axes, panel: Panel) -> None:
    """Horizontal bars, top to bottom, the figure at the end of each; targets dashed."""
    right = _right(panel)
    positions, slots = _layout(panel, right)
    values = [bar.value for bar in panel.bars]
    colours = [OURS if bar.ours else REFERENCE for bar in panel.bars]
    ax.barh(positions, values, height=0.7, color=colours)
    for position, bar in zip(positions, panel.bars, strict=True):
        if bar.worst is not None and bar.worst != bar.value:
            ax.plot([bar.value, bar.worst], [position, position], color=WORST, lw=1)
            ax.plot([bar.worst], [position], marker="|", color=WORST, ms=7)
    for position, bar in zip(positions, panel.bars, strict=True):  # past the whisker
        ax.annotate(f"{bar.value:{panel.spec}} {panel.unit}", (max(bar.value, bar.worst or 0),
                    position), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8, bbox=PLATE, zorder=4)  # fmt: skip
    ax.set_xlim(0, right)
    ax.set_ylim(positions[-1] + 0.5, -0.5)
    ax.set_yticks(positions, [_wrap(bar.label) for bar in panel.bars])
    ax.tick_params(axis="y", length=0)
    for slot, target in zip(slots, panel.targets, strict=True):
        last = positions[len(panel.bars) - 1 if target.last is None else target.last]
        ax.plot([target.value, target.value], [slot, last + 0.45], color=TARGET, lw=1.2,
                linestyle=DASHES)  # fmt: skip
        left = not _leftward(target, right)
        ax.annotate(target.label, (target.value, slot), xytext=(4 if left else -4, 0),
                    textcoords="offset points", ha="left" if left else "right", va="center",
                    color=TARGET, fontsize=8)  # fmt: skip
    ax.set_title(_wrap(panel.title, TITLE_WIDTH))
    ax.xaxis.grid(True, color=GRID)
    ax.set_axisbelow(True)


def _draw_phases(ax: Axes, chart: Phases) -> None:
    """One stacked bar a row: the phases left to right, the total at the end."""
    names = list(dict.fromkeys(name for _, phases in chart.rows for name, _ in phases))
    colours = dict(zip(names, PHASE_COLOURS, strict=False))
    positions = range(len(chart.rows))
    for name in names:
        lefts, widths = [], []
        for _, phases in chart.rows:
            done = dict(phases)
            order = [phase for phase, _ in phases]
            lefts.append(sum(done[phase] for phase in order[: order.index(name)])
                         if name in done else 0.0)  # fmt: skip
            widths.append(done.get(name, 0.0))
        ax.barh(positions, widths, left=lefts, height=0.7, color=colours.get(name), label=name)
    totals = [sum(seconds for _, seconds in phases) for _, phases in chart.rows]
    for position, total in zip(positions, totals, strict=True):
        ax.annotate(f"{total:.2f} s", (total, position), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)  # fmt: skip
    ax.set_xlim(0, max(totals) * 1.15 or 1)
    ax.set_ylim(len(chart.rows) - 0.5, -0.5)
    ax.set_yticks(list(positions), [_wrap(label) for label, _ in chart.rows])
    ax.tick_params(axis="y", length=0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=len(names), fontsize=7.5,
              frameon=False, handlelength=1.2, columnspacing=1.0)  # fmt: skip
    ax.set_title(_wrap(chart.title, TITLE_WIDTH))
    ax.xaxis.grid(True, color=GRID)
    ax.set_axisbelow(True)


def figure(title: str, charts: list[Chart]) -> Figure:
    """One figure: the charts stacked, a legend of the sides and the target on top."""
    heights = [_rows(chart) + 1.6 for chart in charts]
    fig = Figure(figsize=(8.5, 0.6 + 0.27 * sum(heights)), dpi=72, layout="constrained")
    axes = fig.subplots(len(charts), 1, height_ratios=heights, squeeze=False)[:, 0]
    for ax, chart in zip(axes, charts, strict=True):
        if isinstance(chart, Phases):
            _draw_phases(ax, chart)
        else:
            _draw_panel(ax, chart)
    handles: list[Artist] = [Patch(color=OURS, label="this project")]
    if any(isinstance(chart, Panel) and not all(b.ours for b in chart.bars) for chart in charts):
        handles.append(Patch(color=REFERENCE, label="reference"))
    if any(isinstance(chart, Panel) and chart.targets for chart in charts):
        handles.append(Line2D([], [], color=TARGET, linestyle=DASHES, label="target"))
    if any(isinstance(chart, Panel) and any(b.worst for b in chart.bars) for chart in charts):
        handles.append(Line2D([], [], color=WORST, marker="|", label="worst run"))
    fig.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
    fig.legend(handles=handles, loc="outside upper right", ncols=len(handles), frameon=False,
               fontsize=8)  # fmt: skip
    return fig


def _frozen(fig: Figure) -> Figure:
    """`fig` laid out once, its axes' places rounded and kept: the layout's solver
    varies in the last bits from run to run, and the SVG's clip ids hash them."""
    engine = fig.get_layout_engine()
    assert engine is not None  # constrained, see figure()
    engine.execute(fig)
    for ax in fig.axes:
        place = Bbox(np.round(ax.get_position().get_points(), 6))
        ax.set_position(place)
        left = round((0.012 - place.x0) / place.width, 6)  # the figure's left edge
        ax.set_title(ax.get_title(loc="left"), loc="left", x=left)
    fig.set_layout_engine("none")
    return fig


def draw(results_dir: Path) -> list[Path]:
    """An SVG for each benchmark's JSON in `results_dir`, and `charts.md` linking them."""
    drawn: list[Path] = []
    for name, build in CHARTS.items():
        source = results_dir / f"{name}.json"
        if not source.is_file():
            continue
        target = results_dir / f"{name}.svg"
        with rc_context(RC):
            try:
                fig = _frozen(figure(BENCHMARKS[name][0], build(json.loads(source.read_text()))))
            except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as error:
                what = f"lacks {error}" if isinstance(error, KeyError) else f"is unusable ({error})"
                print(f"bench: no chart of {name}: {source} {what}", file=sys.stderr)
                continue
            fig.savefig(target, format="svg", metadata={"Date": None, "Creator": None})
        drawn.append(target)
    try:
        where = results_dir.resolve().relative_to(REPO).as_posix() + "/"
    except ValueError:  # outside the repository: links relative to charts.md
        where = ""
    links = [f"![{BENCHMARKS[path.stem][0]}]({where}{path.name})" for path in drawn]
    (results_dir / "charts.md").write_text("".join(f"{link}\n\n" for link in links).rstrip() + "\n")
    return drawn
