"""The manifest: hashing, canonical revision ids, verification."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from registry.errors import PresetFormatError
from registry.preset.manifest import (
    MANIFEST_FILE,
    Mismatch,
    build_manifest,
    read_manifest,
    verify_directory,
    write_manifest,
)


def test_digests_agree_with_sha256sum(keras_hub_preset: Path) -> None:
    manifest = write_manifest(keras_hub_preset)
    listing = subprocess.run(
        ["sha256sum", *(entry.path for entry in manifest.files)],
        cwd=keras_hub_preset,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = {line.split()[1]: line.split()[0] for line in listing.splitlines()}
    assert {e.path: e.sha256 for e in manifest.files} == expected
    assert all(e.size == (keras_hub_preset / e.path).stat().st_size for e in manifest.files)
    assert MANIFEST_FILE not in expected


def test_revision_id_is_the_digest_of_the_canonical_file_list(
    keras_hub_preset: Path,
) -> None:
    manifest = build_manifest(keras_hub_preset)
    canonical = json.dumps(
        [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in manifest.files],
        separators=(",", ":"),
    )
    assert manifest.revision_id == hashlib.sha256(canonical.encode()).hexdigest()
    write_manifest(keras_hub_preset)
    # Writing the manifest does not change the revision it describes.
    assert build_manifest(keras_hub_preset).revision_id == manifest.revision_id
    assert read_manifest(keras_hub_preset) == manifest


def test_verification_names_each_mismatch(keras_hub_preset: Path) -> None:
    manifest = write_manifest(keras_hub_preset)
    assert verify_directory(keras_hub_preset, manifest).ok
    weights = keras_hub_preset / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    (keras_hub_preset / "tokenizer.json").unlink()
    result = verify_directory(keras_hub_preset, manifest)
    assert not result.ok and result.checked == len(manifest.files)
    by_path = {m.path: m for m in result.mismatches}
    recorded = {e.path: e.sha256 for e in manifest.files}
    assert by_path["tokenizer.json"] == Mismatch(
        "tokenizer.json", recorded["tokenizer.json"], "missing"
    )
    flipped = by_path["model.weights.h5"]
    assert flipped.expected == recorded["model.weights.h5"]
    assert flipped.actual == hashlib.sha256(bytes(data)).hexdigest()


def test_missing_or_malformed_manifest(keras_hub_preset: Path) -> None:
    with pytest.raises(PresetFormatError, match=r"manifest.json: is missing"):
        read_manifest(keras_hub_preset)
    (keras_hub_preset / MANIFEST_FILE).write_text('{"files": [{"path": 1}]}')
    with pytest.raises(PresetFormatError, match="is malformed"):
        read_manifest(keras_hub_preset)
