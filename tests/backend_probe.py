"""Run in a subprocess with KERAS_BACKEND set: the fixture checks on that backend.

Usage: python -m tests.backend_probe FIXTURES_DIR; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

from registry import Backbone, GPT2Backbone


def main(fixtures: Path) -> None:
    keras_hub = Backbone.from_preset(fixtures / "keras_hub_tiny_gpt2")
    inputs = {
        "token_ids": np.load(fixtures / "keras_hub_tiny_gpt2_input_token_ids.npy"),
        "padding_mask": np.load(fixtures / "keras_hub_tiny_gpt2_input_padding_mask.npy"),
    }
    expected = np.load(fixtures / "keras_hub_tiny_gpt2_expected_output.npy")
    keras_hub_error = np.abs(keras.ops.convert_to_numpy(keras_hub(inputs)) - expected).max()

    hf = GPT2Backbone.from_preset(fixtures / "hf_tiny_gpt2")
    token_ids = np.load(fixtures / "hf_tiny_gpt2_input_token_ids.npy")
    outputs = hf({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
    hf_expected = np.load(fixtures / "hf_tiny_gpt2_expected_output.npy")
    hf_error = np.abs(keras.ops.convert_to_numpy(outputs) - hf_expected).max()

    with tempfile.TemporaryDirectory() as directory:
        keras_hub.save_to_preset(directory)
        again = GPT2Backbone.from_preset(directory, dtype="mixed_bfloat16")
        half = keras.ops.convert_to_numpy(keras.ops.cast(again(inputs), "float32"))
    print(
        json.dumps(
            {
                "backend": keras.config.backend(),
                "keras_hub_error": float(keras_hub_error),
                "hf_error": float(hf_error),
                "mixed_bfloat16_error": float(np.abs(half - expected).max()),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
