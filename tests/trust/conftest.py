"""Fixtures of the signature tests: elliptic-curve key pairs made for each test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.trust.signatures import fingerprint_of, load_public_key


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    @property
    def public_pem(self) -> bytes:
        return load_public_key(self.public)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_pem)


def key_pair(directory: Path, name: str, curve: ec.EllipticCurve) -> KeyPair:
    key = ec.generate_private_key(curve)
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


@pytest.fixture()
def ec_keys(tmp_path: Path) -> dict[str, KeyPair]:
    """alice (P-256), bob (P-384) and carol (P-256, who signs nothing)."""
    directory = tmp_path / "keys"
    directory.mkdir()
    return {
        "alice": key_pair(directory, "alice", ec.SECP256R1()),
        "bob": key_pair(directory, "bob", ec.SECP384R1()),
        "carol": key_pair(directory, "carol", ec.SECP256R1()),
    }
