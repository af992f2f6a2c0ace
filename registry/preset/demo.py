"""The demo preset: a tiny GPT-2 that ships with the package and loads offline.

Its weights are random but deterministic, and its tokenizer is a toy: GPT-2's
byte-level BPE with 127 merges learned from the few sentences below, so any text
encodes (as bytes, at worst). `python -m registry.preset.demo DIR` writes the
same files again (the shipped copy was written this way).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.architectures.gpt2.tokenizer import GPT2Tokenizer

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
END_OF_TEXT = "<|endoftext|>"
# What the demo's tokenizer learns its merges from (tokenizers' BpeTrainer, which
# is deterministic for byte-level BPE): 256 bytes + 127 merges + `<|endoftext|>`
# make the backbone's 384 ids.
_TOKENIZER_TEXT = """\
The registry keeps presets of language models: their configs, weights and tokenizers.
Every file is checked against its checksum before a model is loaded or served.
This tiny demo model has random weights, so the text it writes is noise.
Type a prompt, choose a length and a sampler, and watch the tokens arrive one by one.
The quick brown fox jumps over the lazy dog; the dog sleeps in the sun all day.
A tokenizer turns text into numbers, and the model turns numbers into more numbers.
Greedy sampling takes the most likely token; top-k and top-p sampling draw at random.
Hello, world! Hello again. It's a small model, but it runs on any machine, offline.
"""

_CARD = """\
# gpt2_tiny_demo

A tiny GPT-2 backbone that ships with the registry so that loading, verifying,
browsing and trying it work offline. Its weights are random (seeded, GPT-2's
initialisation): it computes real forward passes but knows no language, so the
text it generates is noise.

Its tokenizer is a toy too: GPT-2's byte-level BPE with 384 ids (256 bytes, 127
merges learned from eight sentences, `<|endoftext|>`), in keras-hub's format
(`tokenizer.json`, `assets/tokenizer/`). Any text encodes, mostly byte by byte.

| argument | value |
|---|---|
{rows}

Load it with `GPT2Backbone.from_preset("gpt2_tiny_demo")` or
`registry load gpt2_tiny_demo`.
"""


def demo_preset_dir() -> Path:
    """The directory of the shipped demo preset."""
    return Path(str(resources.files("registry") / "data" / DEMO_PRESET))


def demo_tokenizer() -> GPT2Tokenizer:
    """The demo's toy tokenizer: byte-level BPE trained by `tokenizers` on `_TOKENIZER_TEXT`."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from registry.architectures.gpt2.tokenizer import GPT2Tokenizer

    size = int(DEMO_ARGUMENTS["vocabulary_size"]) - 1  # `<|endoftext|>` is the last id
    pipeline = Tokenizer(models.BPE())
    pipeline.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    pipeline.train_from_iterator(_TOKENIZER_TEXT.splitlines(), trainer)
    model = json.loads(pipeline.to_str())["model"]
    vocabulary = {**model["vocab"], END_OF_TEXT: size}
    # Pairs (older `tokenizers` wrote "a b" strings).
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return GPT2Tokenizer.from_vocabulary(vocabulary, merges)


def write_demo_preset(directory: Path) -> None:
    """Build the demo backbone with its seeded weights and its tokenizer, and save them
    to `directory` (the tokenizer first: the backbone's manifest lists every file)."""
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
    demo_tokenizer().save_to_preset(directory)
    backbone.save_to_preset(directory)


if __name__ == "__main__":
    write_demo_preset(Path(sys.argv[1]) if len(sys.argv) > 1 else demo_preset_dir())
