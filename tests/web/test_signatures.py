"""Signatures on a server: the API that attaches and lists them, the preset page
that shows who signed, and `REGISTRY_REQUIRE_SIGNED` refusing unsigned uploads
(over the JSON API and the Hub's commits) without leaving anything behind."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from huggingface_hub.errors import HfHubHTTPError
from sqlalchemy import func, select

from registry.catalog.models import Revision, Signature
from registry.catalog.signatures import register_key
from registry.preset.manifest import Manifest, build_manifest
from registry.trust.signatures import sign
from tests.trust.conftest import KeyPair, key_pair
from tests.web.conftest import tar_of
from tests.web.hub_writer import HUB_CLIENT_WARNINGS, writer_for
from tests.web.live import live_server, settings_at, token
from web.app import create_app

TAR = {"Content-Type": "application/gzip"}
MODEL_SIGNING = shutil.which("model_signing", path=str(Path(sys.executable).parent))


@pytest.fixture()
def ec_keys(tmp_path: Path) -> dict[str, KeyPair]:
    (tmp_path / "keys").mkdir()
    return {
        name: key_pair(tmp_path / "keys", name, ec.SECP256R1())
        for name in ("alice", "bob", "carol")
    }


def _bearer(client: TestClient, owner: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client.app, owner)}"}  # type: ignore[arg-type]


def _body(bundle: bytes, key: KeyPair) -> dict[str, str]:
    return {"bundle": bundle.decode(), "public_key": key.public.read_text()}


def _rows(client: TestClient) -> tuple[int, int]:
    """How many revisions and signatures the server's catalog holds."""
    resolver = client.app.state.services.resolver  # type: ignore[attr-defined]
    with resolver.catalog.transaction(write=False) as session:
        return (
            session.scalar(select(func.count()).select_from(Revision)) or 0,
            session.scalar(select(func.count()).select_from(Signature)) or 0,
        )


def _blobs(home: Path) -> list[Path]:
    return sorted((home / "store" / "blobs" / "sha256").glob("*/*"))


def test_attach_list_and_show_signatures(
    client: TestClient, keras_hub_preset: Path, ec_keys: dict[str, KeyPair]
) -> None:
    alice = _bearer(client, "alice")
    uploaded = client.post(
        "/api/v1/presets/alice/tiny/revisions", content=tar_of(keras_hub_preset),
        headers={**alice, **TAR},
    ).json()  # fmt: skip
    digest = uploaded["revision"]["digest"]
    manifest = build_manifest(keras_hub_preset)
    route = f"/api/v1/presets/alice/tiny/revisions/{digest[:12]}/signatures"
    key = ec_keys["alice"]
    bundle = sign(manifest, "tiny", key.private)

    assert client.post(route, json=_body(bundle, key)).status_code == 401
    mallory = client.post(route, json=_body(bundle, key), headers=_bearer(client, "mallory"))
    assert mallory.status_code == 403 and "belongs to alice" in mallory.json()["error"]["message"]
    other_key = client.post(route, json=_body(bundle, ec_keys["bob"]), headers=alice)
    assert other_key.status_code == 422
    assert other_key.json()["error"]["code"] == "signature_invalid"
    fewer = sign(Manifest(manifest.files[1:]), "tiny", key.private)
    partial = client.post(route, json=_body(fewer, key), headers=alice).json()["error"]
    assert f"{manifest.files[0].path}: not covered by the signature" in partial["message"]

    attached = client.post(route, json=_body(bundle, key), headers=alice)
    assert attached.status_code == 201, attached.text
    assert attached.json()["verified"] and attached.json()["signer"] == "alice"
    keyed = client.post(
        "/api/v1/keys", json={"name": "Alice's laptop", "public_key": key.public.read_text()},
        headers=alice,
    )  # fmt: skip
    assert keyed.status_code == 200 and keyed.json()["fingerprint"] == key.fingerprint
    listed = client.get(route).json()  # anonymous: the preset is public
    assert [(s["fingerprint"], s["key_name"], s["verified"]) for s in listed] == [
        (key.fingerprint, "Alice's laptop", True)
    ]
    assert client.get("/api/v1/presets/alice/tiny").json()["latest_revision"] == digest

    page = client.get("/presets/alice/tiny").text
    assert 'id="sig-h">Signatures' in page
    assert f'<code title="{key.fingerprint}">{key.fingerprint[:16]}</code> Alice&#39;s laptop' in (
        page
    )
    assert 'class="badge verified">verifies' in page


@pytest.fixture()
def strict(home: Path, ec_keys: dict[str, KeyPair]) -> Iterator[TestClient]:
    """A server where `alice` takes only uploads signed by alice's key."""
    settings = dataclasses.replace(
        settings_at(home), require_signed=f"alice,acme:{ec_keys['alice'].public}"
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _stock_sign(directory: Path, key: KeyPair) -> None:
    """Sign a directory as a user would, with model-signing's own command."""
    assert MODEL_SIGNING, "model_signing's command is not installed"
    signed = subprocess.run(
        [MODEL_SIGNING, "sign", "key", str(directory), "--private_key", str(key.private),
         "--signature", str(directory / "model.sig")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stdout + signed.stderr


def test_require_signed_refuses_unsigned_uploads_and_keeps_nothing(
    strict: TestClient, home: Path, keras_hub_preset: Path, ec_keys: dict[str, KeyPair]
) -> None:
    alice = _bearer(strict, "alice")
    route = "/api/v1/presets/alice/tiny/revisions"
    before = (_rows(strict), _blobs(home))
    unsigned = strict.post(route, content=tar_of(keras_hub_preset), headers={**alice, **TAR})
    assert unsigned.status_code == 403
    error = unsigned.json()["error"]
    assert error["code"] == "signature_required"
    assert "alice takes only uploads signed by a trusted key" in error["message"]
    assert ec_keys["alice"].fingerprint[:16] in error["message"]
    _stock_sign(keras_hub_preset, ec_keys["bob"])
    untrusted = strict.post(route, content=tar_of(keras_hub_preset), headers={**alice, **TAR})
    assert untrusted.status_code == 403 and "does not trust" in untrusted.text
    assert (_rows(strict), _blobs(home)) == before  # no row, no blob

    _stock_sign(keras_hub_preset, ec_keys["alice"])
    signed = strict.post(route, content=tar_of(keras_hub_preset), headers={**alice, **TAR})
    assert signed.status_code == 201, signed.text
    files = [f["path"] for f in signed.json()["revision"]["files"]]
    assert "model.sig" not in files and "config.json" in files
    (listed,) = strict.get(f"{route}/latest/signatures").json()
    assert listed["fingerprint"] == ec_keys["alice"].fingerprint and listed["verified"]

    (keras_hub_preset / "model.sig").unlink()  # other namespaces take unsigned uploads
    bob = strict.post(
        "/api/v1/presets/bob/tiny/revisions", content=tar_of(keras_hub_preset),
        headers={**_bearer(strict, "bob"), **TAR},
    )  # fmt: skip
    assert bob.status_code == 201, bob.text


def test_a_signature_by_an_unknown_key_is_refused(
    client: TestClient, keras_hub_preset: Path, ec_keys: dict[str, KeyPair]
) -> None:
    _stock_sign(keras_hub_preset, ec_keys["carol"])
    refused = client.post(
        "/api/v1/presets/alice/tiny/revisions", content=tar_of(keras_hub_preset),
        headers={**_bearer(client, "alice"), **TAR},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "Register the key first (`registry key add" in refused.json()["error"]["message"]


@HUB_CLIENT_WARNINGS
def test_require_signed_holds_for_hub_commits(
    home: Path,
    keras_hub_preset: Path,
    ec_keys: dict[str, KeyPair],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = dataclasses.replace(
        settings_at(home), require_signed=f"alice:{ec_keys['alice'].fingerprint}"
    )
    with live_server(settings) as live:
        writer = writer_for(live, monkeypatch, tmp_path)
        with live.app.state.services.resolver.catalog.transaction() as session:
            register_key(session, "alice", ec_keys["alice"].public.read_bytes(), owner="alice")
        writer.api.create_repo("alice/tiny")
        with pytest.raises(HfHubHTTPError, match="403"):
            writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
        assert writer.counts("alice/tiny") == (0, 0)
        _stock_sign(keras_hub_preset, ec_keys["alice"])
        writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
        model = writer.api.model_info("alice/tiny")
        assert "model.sig" not in {s.rfilename for s in model.siblings or []}
        listed = httpx.get(
            f"{live.url}/api/v1/presets/alice/tiny/revisions/latest/signatures"
        ).json()
        assert [s["fingerprint"] for s in listed] == [ec_keys["alice"].fingerprint]
