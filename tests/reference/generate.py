"""Write the reference fixtures with the reference libraries themselves.

    python -m tests.reference.generate [--only NAME,...]

keras-hub writes the keras-hub presets (`save_to_preset`) and computes their
outputs; transformers writes the checkpoints (`save_pretrained`, safetensors) and
computes theirs. Every weight is random (normal, scale 0.2; norm scales around
1; biases non-zero), so a weight that is mis-mapped or unused shows in the
outputs. Each case writes `<name>/` (the preset, exactly as the library wrote it)
and `<name>_io.npz` (the inputs and what the library returned), then the script
rewrites `SHA256SUMS` and `versions.json`. The tests read only these files; they
never run this script. Needs the test extra (keras-hub, transformers, torch).
Dates in keras-hub's `metadata.json` and fresh random draws are not the point:
the outputs recorded are whatever the libraries computed for the weights written.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import pkgutil
import shutil
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from tests.reference.cases import Case

HERE = Path(__file__).resolve().parent
# Modules of this folder that are not a family of cases.
_NOT_CASES = frozenset({"cases", "generate", "test_reference"})


def _collect(kind: str = "CASES") -> list[Case]:
    """The list `kind` of every module of this folder that has one (one per architecture)."""
    found: list[Case] = []
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda info: info.name):
        if info.name not in _NOT_CASES:
            found += getattr(importlib.import_module(f"tests.reference.{info.name}"), kind, [])
    return found


CASES = _collect()  # backbone presets: the tests load each one
# Tokenizers without weights (tests/reference/tokenizers.py): written here too.
TOKENIZER_CASES = _collect("TOKENIZER_CASES")


def data_files(root: Path = HERE) -> list[Path]:
    """Every fixture file the checksum list covers, sorted (not this script, nor the lists)."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and path.name not in ("SHA256SUMS", "README.md", "versions.json")
        and "__pycache__" not in path.parts
    )


def write_checksums(root: Path = HERE) -> None:
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}"
        for path in data_files(root)
    ]
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def write_case_table(root: Path = HERE) -> None:
    """The README's table of cases, from each case's description."""
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = (
        "<!-- cases: rewritten by generate.py from each case's description -->",
        "<!-- end of cases -->",
    )
    rows = [f"| `{case.name}/` | {case.description} |" for case in [*CASES, *TOKENIZER_CASES]]
    table = "\n".join(["| directory | what wrote it, and its shape |", "|---|---|", *rows])
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    readme.write_text(f"{before}{start}\n{table}\n{end}{after}", encoding="utf-8")


def write_versions(root: Path = HERE) -> None:
    from importlib.metadata import version

    packages = ("keras", "keras-hub", "tensorflow", "transformers", "torch", "numpy")
    packages += ("tokenizers", "sentencepiece")  # the tokenizer cases
    body = {name: version(name) for name in packages}
    (root / "versions.json").write_text(json.dumps(body, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument(
        "--checksums-only", action="store_true", help="rewrite SHA256SUMS and the README's table"
    )
    args = parser.parse_args()
    if args.checksums_only:
        write_checksums()
        write_case_table()
        return
    chosen = {name for name in args.only.split(",") if name}
    cases = [*CASES, *TOKENIZER_CASES]
    unknown = chosen - {case.name for case in cases}
    if unknown:
        raise SystemExit(
            f"unknown case(s) {sorted(unknown)}; choose from {[c.name for c in cases]}"
        )
    for case in cases:
        if chosen and case.name not in chosen:
            continue
        directory = HERE / case.name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        io = case.write(directory)
        np.savez(HERE / f"{case.name}_io.npz", **io)
        print(f"wrote {case.name}: {case.description}")
    write_checksums()
    write_versions()
    write_case_table()


if __name__ == "__main__":
    main()
