"""bench/charts.py draws each benchmark's JSON (shapes as bench/*.py write them)
as an SVG of this project beside its reference, with the target, and skips a
result that lacks a figure instead of failing."""

from __future__ import annotations

import importlib
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def charts() -> Iterator[ModuleType]:
    """bench/charts.py, imported as its siblings import each other (bench/ is not a
    package: its folder on sys.path), then forgotten with its sibling run.py."""
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("charts")
    finally:
        sys.path.remove(str(BENCH))
        for name in ("charts", "run"):
            sys.modules.pop(name, None)


def _timed(wall: float, **figures: float) -> dict[str, float]:
    """A `summary` of bench/interleave.py: medians, and worst cases as `<figure>_max`."""
    medians = {"wall_s": wall, **figures}
    return medians | {f"{key}_max": value * 1.1 for key, value in medians.items()}


def _rate(mb_per_s: float, **figures: float) -> dict[str, float]:
    return {"wall_s": 1400 / mb_per_s, "mb_per_s": mb_per_s, "mb_per_s_worst": mb_per_s * 0.9,
            **figures}  # fmt: skip


LOAD = {
    "architectures": {
        "gpt2": {
            "backbone": "GPT2Backbone",
            "title": "GPT-2 medium's shape",
            "config": {},
            "load": {
                "keras-hub from_preset(dir)": _timed(9.0, import_s=4.0, load_s=3.5, rss_mb=3000),
                "registry from_preset(dir), unverified": _timed(
                    5.0, import_s=2.0, load_s=1.5, rss_mb=1900
                ),
                "registry load from store, fast check": _timed(
                    5.1, import_s=2.0, load_s=1.6, rss_mb=1900
                ),
                "registry load from store, full rehash": _timed(
                    6.0,
                    import_s=2.0,
                    load_s=2.4,
                    rss_mb=1950,
                    build_s=0.9,
                    assign_s=0.8,
                    verify_s=0.3,
                ),
                "keras-hub from_preset(dir), weights not in the page cache": _timed(
                    12.0, import_s=4.0, load_s=6.5, rss_mb=3000
                ),
                "registry load from store, fast check, weights not in the page cache": _timed(
                    8.0,
                    import_s=2.0,
                    load_s=4.6,
                    rss_mb=1900,
                    build_s=0.9,
                    assign_s=3.5,
                    verify_s=0.0,
                ),
            },
            "hash": {
                "size_mb": 1420.0,
                "registry_mb_s": 1500.0,
                "registry_mb_s_worst": 1400.0,
                "sha256sum_mb_s": 1600.0,
                "sha256sum_mb_s_worst": 1500.0,
            },
        }
    }
}
VERIFY = {
    "full": {
        "bytes": 1_420_000_000,
        "sha256sum": _timed(1.0),
        "registry_cli": _timed(1.05),
        "registry_in_process": _timed(1.1, open_s=0.3, verify_s=0.8),
    },
    "fast_all": _timed(0.5, open_s=0.3, verify_s=0.04, checked=100) | {"presets": 100},
    "fast_one": _timed(0.4, open_s=0.3, verify_s=0.002, checked=1),
    "fast_one_cli": _timed(0.6),
}
SYNC = {
    "registry client": {"wall_s": 5.0, "cpu_s": 3.0, "mb_per_s": 280.0},
    "curl": {"wall_s": 4.5, "cpu_s": 1.0, "mb_per_s": 311.0},
    "huggingface_hub": {"wall_s": 6.0, "cpu_s": 4.0, "mb_per_s": 233.0},
    "bytes": 1_420_000_000,
}
FORWARD = {
    "batch": 8,
    "length": 128,
    "architectures": {
        "gpt2": {
            "backbone": "GPT2Backbone",
            "title": "GPT-2",
            "config": {},
            "tensorflow": {
                "keras-hub": {
                    "compiled": {"wall_s": 0.2, "cpu_s": 0.4},
                    "eager": {"wall_s": 0.5, "cpu_s": 0.9},
                },
                "registry": {
                    "compiled": {"wall_s": 0.19, "cpu_s": 0.4},
                    "eager": {"wall_s": 0.48, "cpu_s": 0.9},
                },
                "max_abs_diff": {"compiled": 1e-6, "eager": 1e-6},
            },
        }
    },
}
CATALOG = [
    {"backend": backend, "presets": 100_000, "fill_s": 30.0, "mix": mix, "queries": 300,
     "p50_ms": p99 / 3, "p99_ms": p99, "max_ms": p99 * 1.5, "median_matches": 40}
    for backend, mix, p99 in (("sqlite", "words", 12.0), ("sqlite", "prefixes", 31.0),
                              ("postgresql", "words", 8.0), ("postgresql", "prefixes", 22.0))
]  # fmt: skip
WEB = {
    "presets": 100_000,
    "connections": 64,
    "search_latency": {"p50_ms": 4.0, "p99_ms": 9.0},
    "page_latency": {"p50_ms": 6.0, "p99_ms": 14.0},
    "hello": {"requests_per_s": 9000.0, "p50_ms": 6.0, "p99_ms": 12.0, "errors": 0, "tool": "wrk"},
    "search": {"requests_per_s": 5200.0, "p50_ms": 10.0, "p99_ms": 30.0, "errors": 0},
    "page": {"requests_per_s": 4700.0, "p50_ms": 11.0, "p99_ms": 33.0, "errors": 0},
    "search_cold": {"requests_per_s": 1900.0, "p50_ms": 30.0, "p99_ms": 90.0, "errors": 0},
    "upload": {"seconds": 8.0, "mb_per_s": 177.0, "bytes": 1_420_000_000,
               "server_peak_rss_mb": 140.0, "server_rss_before_mb": 100.0},
    "sink": {"seconds": 4.0, "mb_per_s": 355.0, "bytes": 1_420_000_000,
             "server_peak_rss_mb": 40.0},
}  # fmt: skip
HUB_UPLOAD = {
    label: {"seconds": 1420 / rate, "bytes": 1_420_000_000, "mb_per_s": rate,
            "server_peak_rss_mb": rss}
    for label, rate, rss in (
        ("huggingface_hub upload_folder, LFS basic (one PUT; the default up to 2 GiB)", 150, 130),
        ("huggingface_hub upload_folder, LFS multipart (512 MiB parts)", 140, 135),
        ("registry upload", 190, 120),
        ("curl -T of the weights to a signed LFS URL (basic)", 260, 110),
    )
}  # fmt: skip
XET_UPLOAD = {
    "size_mb": 1400,
    "server_rss_before_mb": 95.0,
    "first": {"seconds": 9.0, "mb_per_s": 155.0, "bytes": 1_400_000_000,
              "xorb_bytes_sent": 1_400_100_000, "sha256": "0" * 64, "server_peak_rss_mb": 180.0},
    "blob_ok": True,
    "again": {"seconds": 1.0, "mb_per_s": 1400.0, "bytes": 1_400_000_000, "xorb_bytes_sent": 0,
              "sha256": "0" * 64, "server_peak_rss_mb": 181.0},
    "folder": {"seconds": 11.0, "mb_per_s": 129.0, "bytes": 1_420_000_000, "revision_ok": True,
               "server_peak_rss_mb": 170.0},
    "sink": {"seconds": 4.0, "mb_per_s": 350.0, "tool": "curl", "server_peak_rss_mb": 40.0},
}  # fmt: skip
MIRROR_LOOPBACK = {
    "cold": {"mirror, cold": _rate(150.0, server_peak_rss_mb=150.0), "upstream": _rate(180.0)},
    "warm": {"mirror, warm": _rate(240.0), "curl": _rate(300.0)},
}
MIRROR = {
    "links": {
        "loopback": {"mbit": None, **MIRROR_LOOPBACK},
        "1 Gbit/s": {
            "mbit": 1000,
            "cold": {"mirror, cold": _rate(105.0, server_peak_rss_mb=170.0),
                     "upstream": _rate(101.0)},
            "warm": {"mirror, warm": _rate(106.0), "curl": _rate(122.0)},
        },
    },
    "left_out": {},
    "bytes": 1_420_000_000,
    "runs": 3,
}  # fmt: skip
S3 = {
    "clients": {
        "obstore, upload": _rate(133.0, cpu_s=2.5, cpu_s_max=2.6),
        "boto3, upload": _rate(136.0, cpu_s=3.1, cpu_s_max=3.2),
        "obstore, download": _rate(243.0, cpu_s=4.7, cpu_s_max=5.0),
        "obstore, stream() defaults, download": _rate(307.0, cpu_s=3.5, cpu_s_max=3.6),
        "boto3, download": _rate(342.0, cpu_s=3.8, cpu_s_max=3.8),
        "bytes": 1_400_000_000,
    },
    "server": {
        "upload": {
            "local directory": _rate(199.0, server_peak_rss_mb=121.0, server_peak_rss_mb_max=121.0),
            "S3 bucket": _rate(75.0, server_peak_rss_mb=171.0, server_peak_rss_mb_max=172.0),
        },
        "download": {
            "local directory": _rate(164.0, server_peak_rss_mb=108.0),
            "S3 bucket, redirect (default)": _rate(209.0, server_peak_rss_mb=106.0),
            "S3 bucket, proxy (REGISTRY_BLOB_REDIRECT=0)": _rate(199.0, server_peak_rss_mb=147.0),
        },
        "bytes": 1_420_077_257,
    },
    "runs": 2,
}
GENERATE = {
    "prompt": 32,
    "new": 64,
    "backends": {
        "tensorflow": {
            "1": {"rates": {
                "keras-hub": {"tokens_per_s": 26.0, "tokens_per_s_worst": 22.0},
                "registry": {"tokens_per_s": 31.0, "tokens_per_s_worst": 28.0},
                "transformers": {"tokens_per_s": 32.0, "tokens_per_s_worst": 31.0},
            }, "same_tokens": True},
        }
    },
}  # fmt: skip


def _ttft(ms: float) -> dict[str, float]:
    return {"ttft_median_s": ms / 1000, "ttft_worst_s": ms / 900, "tokens_per_s_median": 30.0,
            "tokens_per_s_worst": 25.0}  # fmt: skip


TRYIT = {
    "new_tokens": 32,
    "prompt_words": 24,
    "cold_first_request": {"ttft_s": 9.0, "total_s": 10.0, "tokens": 32},
    "cold_second_model": {"ttft_s": 6.0, "total_s": 8.0, "tokens": 32},
    "demo": {"page": _ttft(30), "library": _ttft(20)},
    "gpt2_base": {"page": _ttft(120), "library": _ttft(100)},
}
RESULTS: dict[str, Any] = {
    "load": LOAD,
    "verify": VERIFY,
    "sync": SYNC,
    "forward": FORWARD,
    "catalog": CATALOG,
    "web": WEB,
    "hub_upload": HUB_UPLOAD,
    "xet_upload": XET_UPLOAD,
    "mirror": MIRROR,
    "s3": S3,
    "generate": GENERATE,
    "tryit": TRYIT,
}
# Benchmark: texts its SVG must show, this project's side, the reference's and the target's.
EXPECTED = {
    "load": ["registry load from store, full rehash", "keras-hub from_preset(dir)",
             "target <= 0.6x keras-hub", "import", "interpreter start and exit",
             "read and assign", "wait for verify", "first load after a sync"],
    "verify": ["registry verify NAME --full", "sha256sum FILES", "target >= 0.9x sha256sum",
               "target <= 50 ms"],
    "sync": ["registry client sync", "curl (no checks)", "target >= 0.8x curl",
             "target >= 1.0x huggingface_hub"],
    "forward": ["registry, compiled", "keras-hub, eager", "target <= 1.0x keras-hub"],
    "catalog": ["postgresql, prefixes", "target p99 < 50 ms"],
    "web": ["API search, new queries", "hello-world app", "target >= 0.5x hello-world",
            "target < 256 MB"],
    "hub_upload": ["registry upload", "curl -T of the weights", "target < 256 MB"],
    "xet_upload": ["hf_xet upload, empty client cache", "curl to a hello-world sink",
                   "target < 256 MB"],
    "mirror": ["cold: through the mirror", "cold: upstream directly", "target >= 0.8x curl",
               "loopback", "1 Gbit/s"],
    "s3": ["obstore, upload", "boto3, download", "upload: S3 bucket", "upload: local directory",
           "target < 256 MB"],
    "generate": ["registry generate", "keras-hub generate", "transformers generate",
                 "target >= 1.0x keras-hub"],
    "tryit": ["the demo preset: through the page", "gpt2_base_en's shape: library in-process"],
}  # fmt: skip


def _texts(svg: Path) -> str:
    """Every text of an SVG (it must parse as XML), lines of a wrapped label joined."""
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg"
    return " ".join(" ".join(node.itertext()) for node in root.iter(f"{SVG}text"))


def test_every_benchmark_is_drawn(charts: ModuleType, tmp_path: Path) -> None:
    assert set(RESULTS) == set(charts.CHARTS) == set(charts.BENCHMARKS)
    for name, body in RESULTS.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(body))
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))  # not a benchmark's: ignored

    drawn = charts.draw(tmp_path)

    assert [path.name for path in drawn] == [f"{name}.svg" for name in charts.CHARTS]
    for path in drawn:
        texts = " ".join(_texts(path).split())
        missing = [text for text in EXPECTED[path.stem] if text not in texts]
        assert not missing, f"{path.name} lacks {missing}"
        assert "this project" in texts
        assert ("reference" in texts) is (path.stem != "catalog")  # its reference: the target
    assert [line for line in (tmp_path / "charts.md").read_text().splitlines() if line] == [
        f"![{charts.BENCHMARKS[path.stem][0]}]({path.name})" for path in drawn
    ]


def test_drawing_again_writes_the_same_bytes(charts: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    [svg] = charts.draw(tmp_path)
    first = svg.read_bytes()
    charts.draw(tmp_path)
    assert svg.read_bytes() == first
    assert b"<dc:date>" not in first and b"<text" in first  # no date, text kept as text


def test_a_result_lacking_figures_is_skipped(
    charts: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without_hash = json.loads(json.dumps(LOAD))
    del without_hash["architectures"]["gpt2"]["hash"]
    (tmp_path / "load.json").write_text(json.dumps(without_hash))
    (tmp_path / "s3.json").write_text(json.dumps({"clients": S3["clients"]}))
    (tmp_path / "web.json").write_text("{not json")
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))

    drawn = charts.draw(tmp_path)

    assert [path.name for path in drawn] == ["catalog.svg"]
    assert not (tmp_path / "load.svg").exists()
    skipped = capsys.readouterr().err.splitlines()
    assert len(skipped) == 3
    assert "load" in skipped[0] and "'hash'" in skipped[0]
    assert "'server'" in skipped[2] and "web" in skipped[1]
    assert (tmp_path / "charts.md").read_text() == "![Catalog search](catalog.svg)\n"


def test_a_mirror_result_from_before_links_is_drawn_as_loopback(
    charts: ModuleType, tmp_path: Path
) -> None:
    older = {**MIRROR_LOOPBACK, "bytes": 1_420_000_000, "runs": 3}
    (tmp_path / "mirror.json").write_text(json.dumps(older))

    [svg] = charts.draw(tmp_path)

    texts = " ".join(_texts(svg).split())
    assert "loopback" in texts and "Gbit/s" not in texts
