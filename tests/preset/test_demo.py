"""The demo preset that ships with the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from registry import GPT2Backbone
from registry.architectures.tokenizer import Tokenizer
from registry.preset.demo import DEMO_ARGUMENTS, DEMO_PRESET, demo_preset_dir, write_demo_preset
from registry.preset.manifest import read_manifest, verify_directory

DEMO_PRESET_DIR = demo_preset_dir()
ASSETS = ("merges.txt", "vocabulary.json")


# The backbone's files, its card, and its tokenizer in keras-hub's format.
DEMO_FILES = [
    "README.md",
    "assets/tokenizer/merges.txt",
    "assets/tokenizer/vocabulary.json",
    "config.json",
    "metadata.json",
    "model.weights.h5",
    "tokenizer.json",
]


def test_demo_ships_small_and_verified() -> None:
    directory = demo_preset_dir()
    manifest = read_manifest(directory)
    result = verify_directory(directory, manifest)
    assert result.ok and result.checked == len(DEMO_FILES)
    assert [entry.path for entry in manifest.files] == DEMO_FILES
    assert sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) < 500_000


def test_demo_loads_by_name_and_runs() -> None:
    backbone = GPT2Backbone.from_preset(DEMO_PRESET)
    token_ids = np.arange(12, dtype="int32")[None]
    outputs = np.asarray(
        backbone({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
    )
    assert outputs.shape == (1, 12, backbone.hidden_dim)
    assert np.isfinite(outputs).all()


def test_demo_is_regenerated_identically(tmp_path: Path) -> None:
    write_demo_preset(tmp_path)
    shipped = GPT2Backbone.from_preset(DEMO_PRESET)
    again = GPT2Backbone.from_preset(tmp_path)
    assert again.get_config() == shipped.get_config()
    for ours, theirs in zip(again.weights, shipped.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    for name in ("README.md", "tokenizer.json", *(f"assets/tokenizer/{f}" for f in ASSETS)):
        assert (tmp_path / name).read_bytes() == (demo_preset_dir() / name).read_bytes(), name


def test_demo_has_a_toy_tokenizer_and_says_its_weights_are_random() -> None:
    tokenizer = Tokenizer.from_preset(DEMO_PRESET_DIR)
    assert tokenizer.vocabulary_size == DEMO_ARGUMENTS["vocabulary_size"] == 384
    assert tokenizer.id_to_token(383) == "<|endoftext|>"
    text = "Type a prompt and watch the tokens arrive."  # words its merges learned
    ids = tokenizer.encode(text)
    assert len(ids) < len(text) / 1.5 and tokenizer.decode(ids) == text
    card = (DEMO_PRESET_DIR / "README.md").read_text()
    assert "weights are random" in card and "tokenizer is a toy" in card
