"""Time to first token through the "Try it" box, beside the library generating in-process.

    python bench/tryit.py [--runs 8] [--new 32] [--prompt-words 24] [--cache DIR] [--json PATH]

Starts this registry's server (one uvicorn process, one generation worker) on a
fresh home and asks it, as the page's script does (`POST .../generate` with
`Accept: text/event-stream`), for `--new` greedy tokens after a prompt of
`--prompt-words` words (three on the demo, whose 64 positions a toy vocabulary
fills fast), on two presets:
- the demo preset (tiny: what is measured is the page, the queue and the worker's
  protocol, not the model);
- gpt2_base_en's shape (12 layers, 768 wide, 50,257 tokens, random weights, built
  once into the cache) with a byte-level BPE vocabulary of 50,257 tokens made up
  for it (random merges of random tokens, seeded), so every id decodes.

Cold: the first request after the server starts (the worker's imports, the
model's load and tracing, the first token), and the first request for the
second preset (its load only). Warm: `--runs` paired rounds, A B A B: a request
through the server, then the same generation by `CausalLM.stream` in a
reference process that loaded the preset once. Reported per preset: time to the
first text event (TTFT) and tokens per second after it, medians and worst, and
the ratio page / library.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from random_presets import GPT2_BASE, REPO, ensure_random_preset
from serving import load_bench_port, server

from registry.catalog.database import Catalog
from registry.catalog.service import create_token
from registry.config import sqlite_url
from registry.preset.demo import demo_preset_dir

BASE = GPT2_BASE
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "registry",
    "presets",
    "load",
    "verified",
    "bytes",
    "from",
    "every",
    "store",
]

# argv: preset dir, new tokens. Reads one prompt per line; answers one JSON line each.
_REFERENCE = """
import json, sys, time
from registry import CausalLM
model = CausalLM.from_preset(sys.argv[1])
new = int(sys.argv[2])
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    prompt = json.loads(line)
    start = time.perf_counter()
    first, count = None, 0
    for piece in model.stream(prompt, max_new_tokens=new):
        count += 1
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    print(json.dumps({"ttft_s": first, "total_s": total, "tokens": count}), flush=True)
"""


def byte_level_vocabulary(size: int, seed: int = 0) -> tuple[dict[str, int], list[str]]:
    """A GPT-2-style vocabulary of `size` tokens: the 256 byte symbols, then
    merges of two earlier tokens (random, seeded), then `<|endoftext|>`."""
    # GPT-2's map of bytes to printable characters (the others shifted past 255).
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    symbols = {b: chr(b) for b in printable}
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + len(symbols) - len(printable))
    tokens = [symbols[b] for b in range(256)]
    known = set(tokens)
    merges: list[str] = []
    rng = random.Random(seed)
    # Frequent English letters and the space merge first, so text makes longer tokens.
    common = [symbols[ord(c)] for c in " etaoinshrdlucmfwyp"]
    while len(tokens) < size - 1:
        early = len(tokens) < 2000
        left = rng.choice(common + tokens[256:] if early else tokens)
        right = rng.choice(common if early else tokens)
        merged = left + right
        if merged in known or len(merged) > 16:
            continue
        known.add(merged)
        tokens.append(merged)
        merges.append(f"{left} {right}")
    tokens.append("<|endoftext|>")
    return {token: index for index, token in enumerate(tokens)}, merges


def tokenized_base(cache: Path) -> Path:
    """gpt2_base_en's shape with random weights and a made-up 50,257-token vocabulary."""
    backbone = ensure_random_preset(cache / "gpt2_base_random", "GPT2Backbone", BASE)
    preset = cache / "gpt2_base_tokenized"
    if not (preset / "tokenizer.json").is_file():
        print(f"writing {preset} (once) ...", file=sys.stderr, flush=True)
        shutil.rmtree(preset, ignore_errors=True)
        shutil.copytree(backbone, preset)
        (preset / "manifest.json").unlink(missing_ok=True)  # it would not list the tokenizer
        assets = preset / "assets" / "tokenizer"
        assets.mkdir(parents=True)
        vocabulary, merges = byte_level_vocabulary(BASE["vocabulary_size"])
        (assets / "vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False))
        (assets / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        shutil.copy(demo_preset_dir() / "tokenizer.json", preset / "tokenizer.json")
    return preset


# One client for every request, as a browser keeps its connection (a new httpx
# client per request would add its own ~30 ms of setup to every figure).
_CLIENT = httpx.Client(timeout=900)


def _events(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One request through the server: times to its first text event and its end."""
    start = time.perf_counter()
    first = None
    tokens = 0
    kind = ""
    with _CLIENT.stream(
        "POST", url, json=body, headers={"Accept": "text/event-stream"}
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
                if kind == "text":
                    tokens += 1
                    first = first if first is not None else time.perf_counter() - start
            elif line.startswith("data:") and kind == "error":
                raise RuntimeError(f"the server answered an error: {line[5:].strip()}")
    return {"ttft_s": first, "total_s": time.perf_counter() - start, "tokens": tokens}


def _rate(run: dict[str, Any]) -> float:
    """Tokens per second after the first."""
    after = run["total_s"] - run["ttft_s"]
    return (run["tokens"] - 1) / after if after > 0 else float("nan")


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "ttft_median_s": statistics.median(r["ttft_s"] for r in runs),
        "ttft_worst_s": max(r["ttft_s"] for r in runs),
        "tokens_per_s_median": statistics.median(_rate(r) for r in runs),
        "tokens_per_s_worst": min(_rate(r) for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--prompt-words", type=int, default=24)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    base = tokenized_base(args.cache)
    words = [random.Random(1).choice(WORDS) for _ in range(args.prompt_words)]
    # The demo embeds 64 positions and its toy vocabulary spends a token on most
    # letters: three words leave room for the new tokens.
    prompts = {"demo": " ".join(words[:3]), "gpt2_base": " ".join(words)}
    home = Path(tempfile.mkdtemp(prefix="tryit-bench-"))
    catalog = Catalog.open(sqlite_url(home / "catalog.db"))
    with catalog.transaction() as session:
        secret, _ = create_token(session, owner="bench", scope="write", name="bench")
    catalog.close()
    env = {
        **os.environ, "REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3",
        "REGISTRY_TRY_WORKERS": "1", "REGISTRY_TRY_MODELS": "2",
        "REGISTRY_TRY_MAX_NEW_TOKENS": str(args.new), "REGISTRY_TRY_RATE": "100000",
        "REGISTRY_TRY_TIMEOUT": "900",
    }  # fmt: skip
    port = load_bench_port()
    url = f"http://127.0.0.1:{port}"
    presets = {
        "demo": ("keras/gpt2_tiny_demo", demo_preset_dir()),
        "gpt2_base": ("bench/base", base),
    }
    bodies = {key: {"prompt": text, "max_new_tokens": args.new} for key, text in prompts.items()}
    results: dict[str, Any] = {"new_tokens": args.new, "prompt_words": args.prompt_words}
    try:
        with server(["web.app:create_app", "--factory"], env, port):
            uploaded = httpx.post(
                f"{url}/api/v1/presets/bench/base/revisions",
                files=[("files", (path.relative_to(base).as_posix(), path.read_bytes()))
                       for path in sorted(base.rglob("*")) if path.is_file()],
                headers={"Authorization": f"Bearer {secret}"}, timeout=900,
            )  # fmt: skip
            uploaded.raise_for_status()
            generate = {
                k: f"{url}/api/v1/presets/{name}/generate" for k, (name, _) in presets.items()
            }
            results["cold_first_request"] = _events(generate["demo"], bodies["demo"])
            results["cold_second_model"] = _events(generate["gpt2_base"], bodies["gpt2_base"])
            for key, (_, directory) in presets.items():
                reference = subprocess.Popen(
                    [sys.executable, "-c", _REFERENCE, str(directory), str(args.new)],
                    cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert reference.stdin is not None and reference.stdout is not None
                json.loads(reference.stdout.readline())  # loaded
                page, library = [], []
                for _ in range(args.runs + 1):  # the first round warms both up
                    page.append(_events(generate[key], bodies[key]))
                    reference.stdin.write(json.dumps(prompts[key]) + "\n")
                    reference.stdin.flush()
                    library.append(json.loads(reference.stdout.readline()))
                reference.stdin.close()
                reference.wait(timeout=60)
                results[key] = {"page": _summary(page[1:]), "library": _summary(library[1:])}
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any]) -> None:
    cold, second = results["cold_first_request"], results["cold_second_model"]
    print(
        f"Greedy, {results['new_tokens']} new tokens after a {results['prompt_words']}-word "
        "prompt; one worker.\n"
    )
    print(f"- first request after the server starts (worker start, demo load): "
          f"first token {cold['ttft_s']:.2f} s, done {cold['total_s']:.2f} s")  # fmt: skip
    print(f"- first request for gpt2_base's shape (its load and tracing): "
          f"first token {second['ttft_s']:.2f} s, done {second['total_s']:.2f} s\n")  # fmt: skip
    print("| preset | measure | through the page | library in-process | page / library |")
    print("|---|---|---:|---:|---:|")
    for key in ("demo", "gpt2_base"):
        page, library = results[key]["page"], results[key]["library"]
        print(f"| {key} | time to first token, median (worst) | "
              f"{page['ttft_median_s'] * 1e3:.0f} ms "
              f"({page['ttft_worst_s'] * 1e3:.0f}) | {library['ttft_median_s'] * 1e3:.0f} ms "
              f"({library['ttft_worst_s'] * 1e3:.0f}) | "
              f"{page['ttft_median_s'] / library['ttft_median_s']:.2f}x |")  # fmt: skip
        print(f"| {key} | tokens/s after the first, median (worst) | "
              f"{page['tokens_per_s_median']:.1f} ({page['tokens_per_s_worst']:.1f}) | "
              f"{library['tokens_per_s_median']:.1f} ({library['tokens_per_s_worst']:.1f}) | "
              f"{page['tokens_per_s_median'] / library['tokens_per_s_median']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
