"""Signatures made from a revision's digests, in model-signing's format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from registry.preset.manifest import FileEntry, Manifest, build_manifest
from registry.trust.signatures import (
    SIGNATURE_FILE,
    SignatureError,
    check,
    fingerprint_of,
    load_public_key,
    sign,
    signer_fingerprint,
)

MODEL_SIGNING = shutil.which("model_signing", path=str(Path(sys.executable).parent))


def _key(directory: Path, name: str, key: object) -> tuple[Path, Path]:
    private = directory / f"{name}.pem"
    private.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = directory / f"{name}.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture()
def keys(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    return {
        "alice": _key(tmp_path, "alice", ec.generate_private_key(ec.SECP256R1())),
        "bob": _key(tmp_path, "bob", ec.generate_private_key(ec.SECP384R1())),
        "ed": _key(tmp_path, "ed", ed25519.Ed25519PrivateKey.generate()),
        "rsa": _key(tmp_path, "rsa", rsa.generate_private_key(65537, 2048)),
    }


def test_a_signature_from_digests_passes_the_stock_verifier(
    keras_hub_preset: Path, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    manifest = build_manifest(keras_hub_preset)
    private, public = keys["alice"]
    shutil.move(keras_hub_preset, tmp_path / "elsewhere")  # signing reads digests, no file
    bundle = sign(manifest, "keras_hub", private)
    shutil.move(tmp_path / "elsewhere", keras_hub_preset)
    assert signer_fingerprint(bundle) == fingerprint_of(load_public_key(public))
    assert check(bundle, manifest, load_public_key(public)).ok
    exported = Path(shutil.copytree(keras_hub_preset, tmp_path / "exported"))
    (exported / SIGNATURE_FILE).write_bytes(bundle)
    assert MODEL_SIGNING, "model_signing's command is not installed"
    stock = subprocess.run(
        [MODEL_SIGNING, "verify", "key", str(exported), "--signature",
         str(exported / SIGNATURE_FILE), "--public_key", str(public)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert stock.returncode == 0, stock.stdout + stock.stderr
    (exported / "config.json").write_text("{}")  # and the stock verifier notices a change
    changed = subprocess.run(
        [MODEL_SIGNING, "verify", "key", str(exported), "--signature",
         str(exported / SIGNATURE_FILE), "--public_key", str(public)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert changed.returncode != 0


def test_a_signature_covers_exactly_the_revisions_files(
    keras_hub_preset: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    manifest = build_manifest(keras_hub_preset)
    private, public = keys["alice"]
    bundle = sign(manifest, "keras_hub", private)
    first, *rest = manifest.files
    more = Manifest(tuple(sorted([*manifest.files, FileEntry("extra.txt", 1, "0" * 64)])))
    fewer = Manifest(tuple(rest))
    other = Manifest(tuple(sorted([FileEntry(first.path, first.size, "f" * 64), *rest])))
    assert check(bundle, more, load_public_key(public)).missing == ("extra.txt",)
    assert check(bundle, fewer, load_public_key(public)).extra == (first.path,)
    result = check(bundle, other, load_public_key(public))
    assert result.different == (first.path,) and not result.ok
    assert result.problems() == [f"{first.path}: signed with another sha256"]


def test_a_signature_by_another_key_or_tampered_is_refused(
    keras_hub_preset: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    manifest = build_manifest(keras_hub_preset)
    bundle = sign(manifest, "keras_hub", keys["alice"][0])
    with pytest.raises(SignatureError, match="not valid"):
        check(bundle, manifest, load_public_key(keys["bob"][1]))
    body = json.loads(bundle)
    signature = body["dsseEnvelope"]["signatures"][0]
    signature["sig"] = "AAAA" + signature["sig"][4:]
    tampered = json.dumps(body).encode()
    with pytest.raises(SignatureError):
        check(tampered, manifest, load_public_key(keys["alice"][1]))
    with pytest.raises(SignatureError):
        signer_fingerprint(b"not json")


@pytest.mark.parametrize("kind", ["ed", "rsa"])
def test_only_elliptic_curve_keys_sign(
    keras_hub_preset: Path, keys: dict[str, tuple[Path, Path]], kind: str
) -> None:
    private, public = keys[kind]
    with pytest.raises(SignatureError, match="elliptic-curve"):
        load_public_key(public)
    with pytest.raises(SignatureError, match="elliptic-curve"):
        sign(build_manifest(keras_hub_preset), "x", private)
