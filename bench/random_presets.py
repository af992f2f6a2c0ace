"""Presets with random weights, generated once into the benchmarks' cache directory.

Each is built by this registry's own backbone class (random initializers
skipped, then every variable assigned from a seeded generator) and written by
its `save_to_preset`, in a process of its own so that its memory is returned
before any timing starts. keras-hub loads these presets too, so both sides of a
comparison can run on the same weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# gpt2_base_en's shape (124M parameters), for the forward, generation and "Try it" benchmarks.
GPT2_BASE: dict[str, Any] = {
    "vocabulary_size": 50257,
    "num_layers": 12,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "max_sequence_length": 1024,
}

# argv: preset dir, backbone class name, config as JSON, model name.
_GENERATE = """
import json, sys, numpy as np
from pathlib import Path
import registry
from registry.architectures.initializers import skipped_initializers
cls = getattr(registry, sys.argv[2])
with skipped_initializers():
    backbone = cls(**json.loads(sys.argv[3]), name=sys.argv[4])
rng = np.random.default_rng(0)
for variable in backbone.weights:
    variable.assign((rng.standard_normal(variable.shape, dtype=np.float32) * 0.02))
backbone.save_to_preset(Path(sys.argv[1]))
"""


def ensure_random_preset(preset: Path, backbone: str, config: dict[str, Any]) -> Path:
    """The preset at `preset`, generated first if it has no manifest yet.

    Args:
        preset: the preset's directory (in the benchmarks' cache).
        backbone: the class name, the same in this registry and in keras-hub
            (`"LlamaBackbone"`).
        config: the backbone's arguments.

    Returns:
        `preset`.
    """
    if not (preset / "manifest.json").is_file():
        print(f"generating {preset} (once) ...", file=sys.stderr, flush=True)
        name = backbone.removesuffix("Backbone").lower() + "_backbone"
        subprocess.run(
            [sys.executable, "-c", _GENERATE, str(preset), backbone, json.dumps(config), name],
            cwd=REPO,
            check=True,
        )
    return preset
