"""`registry sign`, `verify --key`, `lock --trust-key`, `export`, `key add`: run as a
user runs them, in subprocesses, embedded and against a live server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from registry.catalog.database import Catalog
from registry.catalog.models import Signature
from registry.config import sqlite_url
from registry.preset.manifest import Manifest, build_manifest
from registry.trust.signatures import sign
from tests.trust.conftest import KeyPair
from tests.web.live import live_server, settings_at

BIN = Path(sys.executable).parent
REGISTRY = shutil.which("registry", path=str(BIN))
MODEL_SIGNING = shutil.which("model_signing", path=str(BIN))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert REGISTRY, "the `registry` console script is not installed"
    return subprocess.run(
        [REGISTRY, *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **env},
    )  # fmt: skip


def ok(env: dict[str, str], *args: str) -> str:
    result = cli(env, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def stock_verify(directory: Path, public: Path) -> subprocess.CompletedProcess[str]:
    assert MODEL_SIGNING, "model_signing's command is not installed"
    return subprocess.run(
        [MODEL_SIGNING, "verify", "key", str(directory), "--signature",
         str(directory / "model.sig"), "--public_key", str(public)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture()
def embedded(tmp_path: Path, keras_hub_preset: Path) -> dict[str, str]:
    """An embedded registry holding `me/tiny` (the keras-hub fixture)."""
    env = {"REGISTRY_HOME": str(tmp_path / "home")}
    ok(env, "upload", str(keras_hub_preset), "me/tiny")
    return env


def _signatures(env: dict[str, str], name: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(ok(env, "signatures", name, "--json"))
    return found


def test_several_signatures_leave_the_revision_as_it_was(
    embedded: dict[str, str], ec_keys: dict[str, KeyPair], keras_hub_preset: Path
) -> None:
    digest = build_manifest(keras_hub_preset).revision_id
    alice, bob = ec_keys["alice"], ec_keys["bob"]
    assert f"signed me/tiny@{digest[:12]} with key {alice.fingerprint[:16]}" in ok(
        embedded, "sign", "me/tiny", "--key", str(alice.private)
    )
    ok(embedded, "sign", f"me/tiny@{digest[:12]}", "--key", str(bob.private))
    ok(embedded, "sign", "me/tiny", "--key", str(alice.private))  # replaces alice's own
    found = _signatures(embedded, "me/tiny")
    assert sorted(s["fingerprint"] for s in found) == sorted([alice.fingerprint, bob.fingerprint])
    assert all(s["verified"] and s["revision"] == digest for s in found)
    info = json.loads(ok(embedded, "info", "me/tiny", "--json"))
    assert [r["digest"] for r in info["revisions"]] == [digest]
    ok(embedded, "key", "add", "Alice's laptop", str(alice.public))
    assert "Alice's laptop" in ok(embedded, "signatures", "me/tiny")


def test_verify_with_a_key_exits_1_saying_why(
    embedded: dict[str, str], ec_keys: dict[str, KeyPair], keras_hub_preset: Path, tmp_path: Path
) -> None:
    alice, carol = ec_keys["alice"], ec_keys["carol"]
    ok(embedded, "sign", "me/tiny", "--key", str(alice.private))
    assert "ok: 1 preset(s) verified" in ok(
        embedded, "verify", "me/tiny", "--key", str(alice.public)
    )
    wrong = cli(embedded, "verify", "me/tiny", "--key", str(carol.public))
    assert wrong.returncode == 1
    assert f"UNSIGNED me/tiny@{build_manifest(keras_hub_preset).revision_id[:12]}: no " in (
        wrong.stderr
    )
    assert f"no signature by key {carol.fingerprint[:16]}" in wrong.stderr

    # A signature in the catalog that misses a file (written behind the API's back,
    # which checks what it attaches).
    manifest = build_manifest(keras_hub_preset)
    fewer = sign(Manifest(manifest.files[1:]), "tiny", alice.private)
    with Catalog.open(sqlite_url(tmp_path / "home" / "catalog.db")).transaction() as session:
        session.execute(update(Signature).values(bundle=fewer.decode()))
    missing = cli(embedded, "verify", "me/tiny", "--key", str(alice.public))
    assert missing.returncode == 1
    assert f"{manifest.files[0].path}: not covered by the signature" in missing.stderr
    assert "DOES NOT VERIFY" in ok(embedded, "signatures", "me/tiny")


def test_verify_with_a_key_notices_a_tampered_blob(
    embedded: dict[str, str], ec_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    alice = ec_keys["alice"]
    ok(embedded, "sign", "me/tiny", "--key", str(alice.private))
    blob = next(p for p in (tmp_path / "home" / "store" / "blobs").rglob("*") if p.is_file())
    blob.chmod(0o644)
    blob.write_bytes(b"x" + blob.read_bytes()[1:])  # same size: only a rehash sees it
    tampered = cli(embedded, "verify", "me/tiny", "--key", str(alice.public), "--full")
    assert tampered.returncode == 1 and "MISMATCH me/tiny" in tampered.stderr


def test_a_lock_pins_trusted_keys(
    embedded: dict[str, str], ec_keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    alice, carol = ec_keys["alice"], ec_keys["carol"]
    ok(embedded, "sign", "me/tiny", "--key", str(alice.private))
    lock = tmp_path / "presets.lock"
    ok(embedded, "lock", "me/tiny", "-o", str(lock), "--trust-key", str(alice.public))
    assert f'trusted_keys = ["{alice.fingerprint}"]' in lock.read_text()
    assert "ok: 1 preset(s)" in ok(embedded, "verify", "--lock", str(lock))

    refused = cli(embedded, "lock", "me/tiny", "-o", str(tmp_path / "x.lock"),
                  "--trust-key", str(carol.public))  # fmt: skip
    assert refused.returncode == 1 and "no signature by key" in refused.stderr
    assert not (tmp_path / "x.lock").exists()

    lock.write_text(lock.read_text().replace(alice.fingerprint, carol.fingerprint))
    unsigned = cli(embedded, "verify", "--lock", str(lock))
    assert unsigned.returncode == 1
    assert "UNSIGNED me/tiny@" in unsigned.stderr and carol.fingerprint[:16] in unsigned.stderr


def test_export_passes_the_stock_model_signing_verifier_offline_too(
    embedded: dict[str, str], ec_keys: dict[str, KeyPair], keras_hub_preset: Path, tmp_path: Path
) -> None:
    alice, bob = ec_keys["alice"], ec_keys["bob"]
    ok(embedded, "sign", "me/tiny", "--key", str(alice.private))
    ok(embedded, "sign", "me/tiny", "--key", str(bob.private))
    out = tmp_path / "out"
    assert f"signed by key {bob.fingerprint[:16]}" in ok(
        embedded, "export", "me/tiny", str(out), "--key", str(bob.public)
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        [*(f.path for f in build_manifest(keras_hub_preset).files), "model.sig"]
    )
    stock = stock_verify(out, bob.public)
    assert stock.returncode == 0, stock.stdout + stock.stderr
    assert stock_verify(out, alice.public).returncode != 0  # bob's signature, not alice's

    air_gapped = tmp_path / "air-gapped"  # offline: from the store and the catalog here
    ok({**embedded, "REGISTRY_OFFLINE": "1"}, "export", "me/tiny", str(air_gapped))
    assert stock_verify(air_gapped, alice.public).returncode == 0  # the first signature
    not_empty = cli(embedded, "export", "me/tiny", str(out))
    assert not_empty.returncode == 1 and "is not empty" in not_empty.stderr


def test_sign_and_export_through_a_server(
    ec_keys: dict[str, KeyPair], keras_hub_preset: Path, tmp_path: Path
) -> None:
    alice = ec_keys["alice"]
    with live_server(settings_at(tmp_path / "server")) as live:
        env = {
            "REGISTRY_URL": live.url,
            "REGISTRY_TOKEN": live.token("alice"),
            "REGISTRY_HOME": str(tmp_path / "client"),
        }
        ok(env, "upload", str(keras_hub_preset), "tiny")
        ok(env, "sign", "alice/tiny", "--key", str(alice.private))
        with live.app.state.services.resolver.catalog.transaction(write=False) as session:
            stored = session.scalars(select(Signature)).one()
            assert stored.fingerprint == alice.fingerprint and stored.signer == "alice"
        ok(env, "verify", "alice/tiny", "--key", str(alice.public))
        mallory = {**env, "REGISTRY_TOKEN": live.token("mallory")}
        refused = cli(mallory, "sign", "alice/tiny", "--key", str(ec_keys["carol"].private))
        assert refused.returncode == 1 and "belongs to alice" in refused.stderr
    # The server is gone: what the client saw is in its store.
    offline = {**env, "REGISTRY_OFFLINE": "1"}
    ok(offline, "export", "alice/tiny", str(tmp_path / "out"))
    assert stock_verify(tmp_path / "out", alice.public).returncode == 0
    ok(offline, "verify", "alice/tiny", "--key", str(alice.public))
