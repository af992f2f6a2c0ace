"""The demo preset that ships with the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from registry import GPT2Backbone
from registry.preset.demo import DEMO_PRESET, demo_preset_dir, write_demo_preset
from registry.preset.manifest import read_manifest, verify_directory


def test_demo_ships_small_and_verified() -> None:
    directory = demo_preset_dir()
    result = verify_directory(directory, read_manifest(directory))
    assert result.ok and result.checked == 4
    assert sum(p.stat().st_size for p in directory.iterdir()) < 500_000


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
    assert (tmp_path / "README.md").read_text() == (demo_preset_dir() / "README.md").read_text()
