"""Two server processes sharing one PostgreSQL catalog and one blob directory."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from registry.catalog.database import Catalog
from registry.catalog.service import create_token
from tests.catalog.conftest import postgres_schema, postgres_server  # noqa: F401 (a fixture)
from tests.conftest import REPO
from tests.web.conftest import tar_of
from tests.web.live import free_port

pytestmark = pytest.mark.usefixtures("postgres_server")


@pytest.fixture()
def shared_catalog(postgres_server: str) -> Iterator[str]:  # noqa: F811
    with postgres_schema(postgres_server, "scale") as url:
        yield url


def _start(home: Path, db_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "REGISTRY_HOME": str(home), "REGISTRY_DB_URL": db_url}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
             "--port", str(port), "--log-level", "warning"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def _wait(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server at {url} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)


@pytest.fixture()
def two_servers(shared_catalog: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    home = tmp_path / "shared"
    logs = [tmp_path / f"server-{i}.log" for i in range(2)]
    started = [_start(home, shared_catalog, log) for log in logs]
    try:
        for (process, url), log in zip(started, logs, strict=True):
            _wait(process, url, log)
        catalog = Catalog.open(shared_catalog)
        with catalog.transaction() as session:
            secret, _ = create_token(session, owner="alice", scope="write")
        catalog.close()
        yield started[0][1], started[1][1], secret
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=30)


def _upload(url: str, secret: str, body: bytes, name: str = "tiny") -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/presets/alice/{name}/revisions",
        content=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/gzip"},
        timeout=120,
    )


def test_an_upload_through_one_is_served_by_the_other(
    two_servers: tuple[str, str, str], keras_hub_preset: Path
) -> None:
    first, second, secret = two_servers
    search = {"q": "tiny", "namespace": "alice"}
    assert httpx.get(f"{second}/api/v1/presets", params=search).json()["items"] == []  # cached
    uploaded = _upload(first, secret, tar_of(keras_hub_preset))
    assert uploaded.status_code == 201, uploaded.text
    digest = uploaded.json()["revision"]["digest"]
    weights = (keras_hub_preset / "model.weights.h5").read_bytes()
    served = httpx.get(
        f"{second}/api/v1/presets/alice/tiny/revisions/{digest}/files/model.weights.h5"
    )
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == hashlib.sha256(weights).hexdigest()
    hub = httpx.get(f"{second}/api/models/alice/tiny")
    assert hub.json()["sha"] == digest[:40]
    # The other process's cached search notices the catalog's new generation.
    deadline = time.monotonic() + 2
    while not httpx.get(f"{second}/api/v1/presets", params=search).json()["items"]:
        assert time.monotonic() < deadline, "a stale cached search outlived the change"
        time.sleep(0.05)


def test_concurrent_uploads_of_one_name_both_become_revisions(
    two_servers: tuple[str, str, str], keras_hub_preset: Path
) -> None:
    first, second, secret = two_servers
    bodies = []
    for version in ("one", "two"):
        (keras_hub_preset / "README.md").write_text(f"# tiny, version {version}\n")
        bodies.append(tar_of(keras_hub_preset))
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(
                lambda job: _upload(job[0], secret, job[1]),
                [(first, bodies[0]), (second, bodies[1]), (second, bodies[0]), (first, bodies[1])],
            )
        )
    assert [r.status_code for r in responses].count(201) == 2, [r.text for r in responses]
    assert all(r.status_code in (200, 201) for r in responses)
    detail = httpx.get(f"{first}/api/v1/presets/alice/tiny").json()
    digests = {r.json()["revision"]["digest"] for r in responses}
    assert {r["digest"] for r in detail["revisions"]} == digests and len(digests) == 2
    assert detail["aliases"]["latest"] in digests
