"""Run in a subprocess with KERAS_BACKEND set: the fixture checks on that backend.

Usage: python -m tests.backend_probe FIXTURES_DIR; prints one JSON line: the
backend, each reference fixture's largest error against what its library
computed, and the error of a mixed_bfloat16 reload.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

from registry import Backbone
from tests.conftest import reference_error, reference_inputs, reference_io
from tests.reference.generate import CASES


def main(fixtures: Path) -> None:
    errors = {}
    for case in CASES:
        io = reference_io(case.name, fixtures)
        backbone = Backbone.from_preset(fixtures / case.name)
        outputs = keras.tree.map_structure(
            keras.ops.convert_to_numpy, backbone(reference_inputs(io), training=False)
        )
        errors[case.name] = reference_error(outputs, io)

    io = reference_io("keras_hub_tiny_gpt2", fixtures)
    with tempfile.TemporaryDirectory() as directory:
        Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2").save_to_preset(directory)
        again = Backbone.from_preset(directory, dtype="mixed_bfloat16")
        half = keras.ops.convert_to_numpy(keras.ops.cast(again(reference_inputs(io)), "float32"))
    print(
        json.dumps(
            {
                "backend": keras.config.backend(),
                "errors": errors,
                "mixed_bfloat16_error": float(np.abs(half - io["expected_output"]).max()),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
