"""Fidelity: each reference fixture's largest error, for this registry and for keras-hub.

    python bench/fidelity.py [--json PATH]

Every fixture of `tests/reference/` was written by keras-hub or transformers with
the outputs it computed. This loads each with this registry's `Backbone.from_preset`
on the TensorFlow, PyTorch and JAX backends (each in its own process,
`tests/backend_probe.py`), and with keras-hub 0.32's `Backbone.from_preset` (its
own presets, and its converter on the transformers checkpoints), and prints the
largest absolute difference from the recorded outputs (transformers' padded
query rows excluded). Not a timing: a table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "reference"
BACKENDS = ("tensorflow", "torch", "jax")

_KERAS_HUB = """
import json, sys
import keras, keras_hub
from tests.conftest import reference_error, reference_inputs, reference_io
from tests.reference.generate import CASES
errors = {}
for case in CASES:
    io = reference_io(case.name)
    try:
        backbone = keras_hub.models.Backbone.from_preset(str(sys.argv[1] + "/" + case.name))
        outputs = keras.tree.map_structure(
            keras.ops.convert_to_numpy, backbone(reference_inputs(io), training=False)
        )
        errors[case.name] = reference_error(outputs, io)
    except Exception as error:  # keras-hub cannot load it: say why
        errors[case.name] = f"{type(error).__name__}: {str(error)[:80]}"
print(json.dumps(errors))
"""


def _last_json(command: list[str], backend: str) -> dict:
    result = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed on {backend}:\n{result.stderr[-3000:]}")
    body: dict = json.loads(result.stdout.strip().splitlines()[-1])
    return body


def _cell(value: object) -> str:
    return f"{value:.1e}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ours = {
        backend: _last_json([sys.executable, "-m", "tests.backend_probe", str(FIXTURES)], backend)[
            "errors"
        ]
        for backend in BACKENDS
    }
    keras_hub = _last_json([sys.executable, "-c", _KERAS_HUB, str(FIXTURES)], "tensorflow")
    print("| fixture | registry, tensorflow | registry, torch | registry, jax | keras-hub 0.32 |")
    print("|---|---:|---:|---:|---:|")
    for name in ours["tensorflow"]:
        row = [_cell(ours[backend][name]) for backend in BACKENDS]
        print(f"| `{name}` | {' | '.join(row)} | {_cell(keras_hub.get(name))} |")
    if args.json:
        args.json.write_text(json.dumps({"registry": ours, "keras_hub": keras_hub}, indent=2))


if __name__ == "__main__":
    main()
