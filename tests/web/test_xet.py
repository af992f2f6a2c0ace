"""The Xet write path, driven by the real hf_xet client against a live server:
files land as blobs, dedupe works within a file and across uploads, and a
damaged xorb, a shard naming a missing xorb or a wrong token are refused."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import hf_xet
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from registry.preset.demo import demo_preset_dir
from registry.signing import signer_for
from registry.xet.cas import XorbStore
from tests.web.live import LiveServer, token
from tests.xet.recording_cas import record_upload, xet_cache
from web.api.xet import PURPOSE


def _upload(server: LiveServer, repo: str, paths: list[Path], cache: Path) -> Any:
    """Upload `paths` with hf_xet as the Hub's client does; its commit report."""
    secret = server.token(repo.split("/", maxsplit=1)[0])
    with xet_cache(cache):
        commit = hf_xet.XetSession().new_upload_commit(
            token_refresh_url=f"{server.url}/api/models/{repo}/xet-write-token/main",
            token_refresh_headers={"Authorization": f"Bearer {secret}"},
        )
        for path in paths:
            commit.start_upload_file(str(path), sha256=hf_xet.COMPUTE_SHA256)
        return commit.wait_to_finish()


def _store(server: LiveServer) -> XorbStore:
    return XorbStore(server.app.state.services.resolver.store)


def _blob(server: LiveServer, path: Path) -> Path:
    store = server.app.state.services.resolver.store
    return store.blob_path(hashlib.sha256(path.read_bytes()).hexdigest())  # type: ignore[no-any-return]


def _xorbs(server: LiveServer) -> set[str]:
    return {path.name for path in _store(server).xorbs.rglob("*") if path.is_file()}


def test_files_uploaded_with_hf_xet_become_blobs(live: LiveServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    small, repeated = tmp_path / "config.json", tmp_path / "weights.bin"
    small.write_bytes(b'{"name": "tiny"}\n')
    repeated.write_bytes(rng.bytes(256 << 10) * 16)  # 4 MiB, the same 256 KiB over and over
    report = _upload(live, "alice/tiny", [small, repeated], tmp_path / "cache")
    for path in (small, repeated):
        assert _blob(live, path).read_bytes() == path.read_bytes()
    metrics = report.dedup_metrics
    assert metrics.deduped_chunks > 0  # the repeats within the file were sent once
    assert 0 < metrics.xorb_bytes_uploaded < repeated.stat().st_size // 2


def test_a_second_upload_sends_no_xorb(live: LiveServer, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(np.random.default_rng(2).bytes(72 << 20))  # two xorbs' worth
    first = _upload(live, "alice/twice", [weights], tmp_path / "first-cache")
    stored = _xorbs(live)
    assert first.dedup_metrics.xorb_bytes_uploaded > 0 and len(stored) == 2
    # A fresh client cache: only the server's dedupe answer can spare the xorbs.
    second = _upload(live, "alice/twice", [weights], tmp_path / "second-cache")
    assert second.dedup_metrics.xorb_bytes_uploaded == 0
    assert second.dedup_metrics.deduped_bytes == weights.stat().st_size
    assert second.dedup_metrics.deduped_bytes_by_global_dedup > 0
    assert _xorbs(live) == stored
    assert _blob(live, weights).read_bytes() == weights.read_bytes()


def _cas(server: LiveServer, owner: str = "alice") -> tuple[str, dict[str, str]]:
    """The CAS URL and the headers of a fresh Xet write token."""
    answer = httpx.get(
        f"{server.url}/api/models/{owner}/files/xet-write-token/main",
        headers={"Authorization": f"Bearer {server.token(owner)}"},
    ).json()
    return answer["casUrl"], {"Authorization": f"Bearer {answer['accessToken']}"}


def test_a_damaged_xorb_and_a_shard_without_its_xorb_are_refused(
    live: LiveServer, tmp_path: Path
) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(np.random.default_rng(3).standard_normal(200_000).astype("float32"))
    recording = record_upload([weights], tmp_path / "cache")
    ((name, body),) = recording.xorbs.items()
    cas, auth = _cas(live)
    damaged = bytearray(body)
    damaged[len(body) // 2] ^= 0x01
    answer = httpx.post(f"{cas}/v1/xorbs/default/{name}", content=bytes(damaged), headers=auth)
    assert answer.status_code == 400 and not _xorbs(live)
    answer = httpx.post(f"{cas}/v1/shards", content=recording.shards[0], headers=auth)
    assert answer.status_code == 400 and "never uploaded" in answer.text
    assert not _blob(live, weights).exists()
    # The genuine xorb, then the shard: accepted, the file rebuilt.
    answer = httpx.post(f"{cas}/v1/xorbs/default/{name}", content=body, headers=auth)
    assert answer.json() == {"was_inserted": True}
    answer = httpx.post(f"{cas}/v1/xorbs/default/{name}", content=body, headers=auth)
    assert answer.json() == {"was_inserted": False}
    assert httpx.post(f"{cas}/v1/shards", content=recording.shards[0], headers=auth).is_success
    assert _blob(live, weights).read_bytes() == weights.read_bytes()


def _ask(client: TestClient, repo: str, secret: str | None, rev: str = "main") -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.get(f"/api/models/{repo}/xet-write-token/{rev}", headers=headers)


def test_only_the_owner_gets_a_write_token(client: TestClient) -> None:
    alice = token(client.app, "alice")  # type: ignore[arg-type]
    reader = token(client.app, "alice", scope="read")  # type: ignore[arg-type]
    assert _ask(client, "bob/model", alice).status_code == 403
    assert _ask(client, "alice/model", reader).status_code == 403
    assert _ask(client, "alice/model", None).status_code == 401
    answer = _ask(client, "alice/model", alice, rev="feature%2Fx")
    assert answer.status_code == 200
    body = answer.json()
    assert body["casUrl"] == "http://testserver/xet" and body["accessToken"]
    assert answer.headers["X-Xet-Access-Token"] == body["accessToken"]
    assert int(answer.headers["X-Xet-Token-Expiration"]) == body["exp"]


def test_the_cas_refuses_expired_forged_and_foreign_tokens(client: TestClient) -> None:
    signer = signer_for(client.app.state.services.settings)  # type: ignore[attr-defined]
    claims = {"repo": "alice/model", "owner": "alice"}
    good = signer.sign(PURPOSE, claims, ttl=60).token
    tokens = {
        "expired": signer.sign(PURPOSE, claims, ttl=-1).token,
        "forged": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "another purpose": signer.sign("lfs-upload", claims, ttl=60).token,
        "an API token": token(client.app, "alice"),  # type: ignore[arg-type]
    }
    for name, secret in tokens.items():
        answer = client.post(
            "/xet/v1/shards", content=b"", headers={"Authorization": f"Bearer {secret}"}
        )
        assert answer.status_code == 401, name
    answer = client.get(
        f"/xet/v1/chunks/default/{'0' * 64}", headers={"Authorization": f"Bearer {good}"}
    )
    assert answer.status_code == 404


def test_what_hf_xet_falls_back_from_answers_404(client: TestClient) -> None:
    for path in ("/xet/v2/shards", f"/xet/v1/xorb-grants/default/{'0' * 64}"):
        assert client.post(path, content=b"{}").status_code == 404
    assert client.post("/v1/telemetry", json={"event": "x"}).status_code == 204


def test_downloads_carry_no_xet_headers(client: TestClient) -> None:
    for method in ("HEAD", "GET"):
        answer = client.request(method, "/keras/gpt2_tiny_demo/resolve/main/config.json")
        assert answer.status_code == 200
        assert not [name for name in answer.headers if name.lower().startswith("x-xet")]
        assert "xet-auth" not in answer.headers.get("link", "")


def _has_route(app: Any, fragment: str) -> bool:
    return any(fragment in path for path in app.openapi()["paths"])


def test_upload_folder_goes_through_xet(live: LiveServer, tmp_path: Path) -> None:
    """The stock `HfApi.upload_folder`, Xet left on: the weights travel as xorbs."""
    if not (_has_route(live.app, "/preupload/") and _has_route(live.app, "/commit/")):
        pytest.skip("the Hub's preupload and commit routes are not in this tree yet")
    from huggingface_hub import HfApi

    folder = tmp_path / "preset"
    shutil.copytree(demo_preset_dir(), folder)
    (folder / "manifest.json").unlink()
    with xet_cache(tmp_path / "cache"):
        api = HfApi(endpoint=live.url, token=live.token("alice"))
        api.create_repo("alice/through-xet", exist_ok=True)
        api.upload_folder(repo_id="alice/through-xet", folder_path=folder)
    assert _xorbs(live)  # the weights came through Xet, not the LFS batch API
    weights = folder / "model.weights.h5"
    assert _blob(live, weights).read_bytes() == weights.read_bytes()
    info = api.model_info("alice/through-xet", files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings or []}
    assert siblings["model.weights.h5"].lfs is not None
    assert (
        siblings["model.weights.h5"].lfs.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    )
