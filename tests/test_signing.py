"""Signed tokens: one process signs, every process of the registry verifies;
nothing forged, expired or made for another purpose gets through."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from registry.config import Settings, sqlite_url
from registry.signing import SECRET_FILE, Signer, signer_for


def _settings(home: Path, secret: str | None = None) -> Settings:
    return Settings(home=home, db_url=sqlite_url(home / "catalog.db"), secret=secret)


def test_a_token_carries_its_payload_until_it_expires() -> None:
    signer = Signer(b"k" * 32)
    signed = signer.sign("xet-write", {"repo": "alice/gpt2"}, ttl=60)
    assert signer.verify("xet-write", signed.token) == {
        "repo": "alice/gpt2",
        "exp": signed.expires_at,
    }
    assert signer.verify("xet-write", signer.sign("xet-write", {}, ttl=-1).token) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: "e30" + token[token.index(".") :],  # another payload, the same MAC
        lambda token: token.replace(".", ""),
        lambda token: "not a token",
        lambda token: "",
    ],
)
def test_a_tampered_token_is_refused(tamper: Callable[[str], str]) -> None:
    signer = Signer(b"k" * 32)
    for ttl in range(60, 80):  # tokens of other expiries end in other characters
        token = signer.sign("xet-write", {"repo": "alice/gpt2"}, ttl=ttl).token
        assert signer.verify("xet-write", token) is not None
        assert signer.verify("xet-write", tamper(token)) is None


def test_a_token_is_good_for_its_purpose_and_key_only() -> None:
    token = Signer(b"k" * 32).sign("xet-write", {}, ttl=60).token
    assert Signer(b"k" * 32).verify("lfs-upload", token) is None
    assert Signer(b"x" * 32).verify("xet-write", token) is None


def test_processes_sharing_a_home_share_a_private_key(tmp_path: Path) -> None:
    first = signer_for(_settings(tmp_path / "a"))
    key = tmp_path / "a" / SECRET_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text()) >= 32
    token = first.sign("xet-write", {"n": 1}, ttl=60).token
    # Another process (no cached signer) reads the same key back.
    assert Signer(key.read_text().encode()).verify("xet-write", token) is not None
    assert signer_for(_settings(tmp_path / "b")).verify("xet-write", token) is None
    assert list((tmp_path / "a").iterdir()) == [key]  # no staged copy left behind


def test_registry_secret_overrides_the_home_key(tmp_path: Path) -> None:
    secret = "s" * 40
    token = signer_for(_settings(tmp_path / "a", secret)).sign("xet-write", {}, ttl=60).token
    assert signer_for(_settings(tmp_path / "b", secret)).verify("xet-write", token) is not None
    assert not (tmp_path / "a" / SECRET_FILE).exists()
    with pytest.raises(ValueError, match="at least 32"):
        signer_for(_settings(tmp_path, "short"))
