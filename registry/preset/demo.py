"""The demo preset: a tiny GPT-2 that ships with the package and loads offline.

Its weights are random but deterministic; `python -m registry.preset.demo DIR`
writes the same weights again (the shipped copy was written this way).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

DEMO_PRESET = "gpt2_tiny_demo"
DEMO_ARGUMENTS = {
    "vocabulary_size": 384,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 48,
    "intermediate_dim": 192,
    "dropout": 0.1,
    "max_sequence_length": 64,
}
_SEED = 20261125

_CARD = """\
# gpt2_tiny_demo

A tiny GPT-2 backbone that ships with the registry so that loading, verifying
and browsing work offline. Its weights are random (seeded, GPT-2's
initialisation): it computes real forward passes but knows no language.

| argument | value |
|---|---|
{rows}

Load it with `GPT2Backbone.from_preset("gpt2_tiny_demo")` or
`registry load gpt2_tiny_demo`.
"""


def demo_preset_dir() -> Path:
    """The directory of the shipped demo preset."""
    return Path(str(resources.files("registry") / "data" / DEMO_PRESET))


def write_demo_preset(directory: Path) -> None:
    """Build the demo backbone with its seeded weights and save it to `directory`."""
    import numpy as np

    from registry.architectures.gpt2.backbone import GPT2Backbone
    from registry.architectures.initializers import skipped_initializers

    with skipped_initializers():
        backbone = GPT2Backbone(**DEMO_ARGUMENTS, name="gpt2_backbone")  # type: ignore[arg-type]
    rng = np.random.default_rng(_SEED)
    for variable in backbone.weights:
        name = variable.path.rsplit("/", 1)[-1]
        if name == "gamma":
            value = np.ones(variable.shape)
        elif name in ("beta", "bias"):
            value = np.zeros(variable.shape)
        else:
            stddev = 0.01 if "token_embedding" in variable.path else 0.02
            value = rng.normal(0.0, stddev, size=variable.shape)
        variable.assign(value.astype("float32"))
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in DEMO_ARGUMENTS.items())
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.md").write_text(_CARD.format(rows=rows), encoding="utf-8")
    backbone.save_to_preset(directory)


if __name__ == "__main__":
    write_demo_preset(Path(sys.argv[1]) if len(sys.argv) > 1 else demo_preset_dir())
