"""The pull-through mirror (`REGISTRY_HF_UPSTREAM`): a server that fetches what it
lacks from an upstream Hub, verifies it, stores and records it, and serves it.

Two kinds of upstream: a second instance of this project's server (the stock
client's view end to end), and the fault-injecting Hub of `tests/resolver/servers.py`
(corrupt, truncated and stalled bodies, an upstream that dies mid-stream, and a
count of every request it received).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.catalog.queries import EVERYONE, preset_detail
from registry.resolver import fill as fill_module
from registry.resolver.mirror import Mirror
from registry.xet import segments
from registry.xet.xorb import HEADER_BYTES, parse_header
from tests.resolver.servers import HubHandler, Repo, serve
from tests.web.conftest import tar_of
from tests.web.live import LiveServer, free_port, live_server, settings_at
from web.api import xet_offer, xet_read

WEIGHTS = "model.weights.h5"


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


def _mirror(server: LiveServer) -> Mirror:
    mirror = server.app.state.services.mirror
    assert mirror is not None
    return mirror


def _recorded(server: LiveServer, repo_id: str, rev: str = "main") -> str:
    """Wait for the mirror to record `repo_id@rev`; its digest."""
    mirror = _mirror(server)
    return mirror.complete(mirror.commit(repo_id, rev))


def _blobs(server: LiveServer) -> set[str]:
    return {blob.name for blob in _mirror(server).store.blobs.glob("*/*")}


@contextmanager
def mirror_of(
    upstream: str, home: Path, *, token: str | None = None, revalidate_s: float = 60.0
) -> Iterator[LiveServer]:
    settings = dataclasses.replace(
        settings_at(home), hf_upstream=upstream, hf_upstream_token=token,
        hf_revalidate_s=revalidate_s,
    )  # fmt: skip
    with live_server(settings) as server:
        yield server


class SeenAuthorization:
    """An ASGI middleware noting the Authorization header of every request."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def noting(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                headers = dict(scope["headers"])
                value = headers.get(b"authorization")
                self.seen.append(value.decode() if value is not None else None)
            await app(scope, receive, send)

        return noting


# === This project's server as the upstream ===


@pytest.fixture()
def upstream(
    tmp_path: Path, keras_hub_preset: Path, hf_preset: Path
) -> Iterator[tuple[LiveServer, SeenAuthorization]]:
    """A registry server holding org/tiny-keras and org/tiny-hf, noting the
    credentials it is sent."""
    seen = SeenAuthorization()
    with live_server(settings_at(tmp_path / "upstream"), wrap=seen) as server:
        headers = {"Authorization": f"Bearer {server.token('org')}",
                   "Content-Type": "application/gzip"}  # fmt: skip
        for name, directory in (("tiny-keras", keras_hub_preset), ("tiny-hf", hf_preset)):
            response = httpx.post(
                f"{server.url}/api/v1/presets/org/{name}/revisions",
                content=tar_of(directory),
                headers=headers,
            )
            assert response.status_code == 201, response.text
        yield server, seen


@pytest.fixture()
def mirror(upstream: tuple[LiveServer, SeenAuthorization], tmp_path: Path) -> Iterator[LiveServer]:
    server, _ = upstream
    with mirror_of(server.url, tmp_path / "mirror", token=server.token("mirror-bot", "read")) as m:
        yield m


def test_snapshot_download_through_the_mirror(
    upstream: tuple[LiveServer, SeenAuthorization],
    mirror: LiveServer,
    keras_hub_preset: Path,
    tmp_path: Path,
) -> None:
    upstream_sha = HfApi(endpoint=upstream[0].url).model_info("org/tiny-keras").sha
    path = snapshot_download("org/tiny-keras", endpoint=mirror.url, cache_dir=tmp_path / "c")
    assert _files(Path(path)) == _files(keras_hub_preset)
    assert Path(path).name == upstream_sha  # the upstream's commit ids, as they are
    info = HfApi(endpoint=mirror.url).model_info("org/tiny-keras", files_metadata=True)
    assert info.sha == upstream_sha

    digest = _recorded(mirror, "org/tiny-keras")
    # Recorded in the catalog, listed and browsable like any preset.
    with mirror.app.state.services.resolver.catalog.transaction(write=False) as session:
        detail = preset_detail(session, "org/tiny-keras", viewer=EVERYONE)
    assert detail is not None
    assert (detail.source, detail.source_kind) == ("hf://org/tiny-keras", "hf")
    assert detail.latest_revision == digest
    listed = httpx.get(f"{mirror.url}/api/v1/presets", params={"q": "tiny-keras"}).json()
    assert "org/tiny-keras" in str(listed)
    assert httpx.get(f"{mirror.url}/presets/org/tiny-keras").status_code == 200

    # Warm: the same files from the store, by branch or commit id.
    again = hf_hub_download(
        "org/tiny-keras", WEIGHTS, revision=upstream_sha, endpoint=mirror.url,
        cache_dir=tmp_path / "c2",
    )  # fmt: skip
    assert Path(again).read_bytes() == (keras_hub_preset / WEIGHTS).read_bytes()


def test_head_answers_from_upstream_metadata(
    upstream: tuple[LiveServer, SeenAuthorization], mirror: LiveServer, hf_preset: Path
) -> None:
    data = (hf_preset / "model.safetensors").read_bytes()
    head = httpx.head(f"{mirror.url}/org/tiny-hf/resolve/main/model.safetensors")
    assert head.status_code == 200
    assert head.headers["x-linked-etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert head.headers["x-linked-size"] == head.headers["content-length"] == str(len(data))
    assert (
        head.headers["x-repo-commit"]
        == HfApi(endpoint=upstream[0].url).model_info("org/tiny-hf").sha
    )
    ranged = httpx.get(
        f"{mirror.url}/org/tiny-hf/resolve/main/model.safetensors",
        headers={"Range": "bytes=10-"},
    )
    assert ranged.status_code == 206 and ranged.content == data[10:]


def test_only_the_servers_token_goes_upstream(
    upstream: tuple[LiveServer, SeenAuthorization], mirror: LiveServer, tmp_path: Path
) -> None:
    _, seen = upstream
    seen.seen.clear()
    user = mirror.token("alice", "read")
    path = hf_hub_download(
        "org/tiny-hf", "config.json", endpoint=mirror.url, cache_dir=tmp_path / "c", token=user
    )
    assert Path(path).is_file()
    _recorded(mirror, "org/tiny-hf")
    own = mirror.app.state.services.settings.hf_upstream_token
    assert own and user != own
    assert seen.seen and set(seen.seen) == {f"Bearer {own}"}  # the server's, every time


def test_a_huggingface_co_token_reads_as_anonymous(
    upstream: tuple[LiveServer, SeenAuthorization], mirror: LiveServer, tmp_path: Path
) -> None:
    # Users of a mirror keep their huggingface.co token in HF_TOKEN: not the
    # mirror's to know, it neither refuses a read nor goes upstream.
    _, seen = upstream
    seen.seen.clear()
    theirs = "hf_" + "x" * 34
    path = hf_hub_download(
        "org/tiny-hf", "config.json", endpoint=mirror.url, cache_dir=tmp_path / "c", token=theirs
    )
    assert Path(path).is_file()
    assert f"Bearer {theirs}" not in seen.seen
    refused = httpx.post(
        f"{mirror.url}/api/repos/create",
        json={"name": "x", "organization": "org"},
        headers={"Authorization": f"Bearer {theirs}"},
    )
    assert refused.status_code == 401  # writes still need one of the mirror's tokens


def test_upstream_404s_stay_404s(mirror: LiveServer, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/absent", "config.json", endpoint=mirror.url, cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            "org/tiny-hf", "config.json", revision="nope", endpoint=mirror.url, cache_dir=cache
        )
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/tiny-hf", "absent.json", endpoint=mirror.url, cache_dir=cache)


# What a user runs: stock keras-hub in a fresh process, HF_ENDPOINT at the mirror.
_KERAS_HUB_LOAD = """
import sys
import keras_hub
backbone = keras_hub.models.GPT2Backbone.from_preset(sys.argv[1])
print(backbone.hidden_dim)
"""


def test_keras_hub_from_preset_through_the_mirror(mirror: LiveServer, tmp_path: Path) -> None:
    pytest.importorskip("keras_hub")
    env = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    env.update(HF_ENDPOINT=mirror.url, HF_HOME=str(tmp_path / "hf_home"),
               HF_HUB_DISABLE_TELEMETRY="1")  # fmt: skip
    loaded = subprocess.run(
        [sys.executable, "-c", _KERAS_HUB_LOAD, "hf://org/tiny-keras"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip().splitlines()[-1] == "32"


# === The fault-injecting Hub as the upstream ===


@pytest.fixture()
def hub_files(fixtures: Path) -> dict[str, bytes]:
    directory = fixtures / "keras_hub_tiny_gpt2"
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
    }


@pytest.fixture()
def faulty(hub_files: dict[str, bytes]) -> Iterator[tuple[str, dict[str, Repo], int]]:
    """The fault server holding org/tiny, on a port it can be restarted on."""
    repos = {"org/tiny": Repo(dict(hub_files))}
    port = free_port()
    with serve(HubHandler, repos, port=port) as url:
        yield url, repos, port


def _gets(repo: Repo, path: str) -> list[str]:
    return [r for r in repo.requests if r == f"GET {path}"]


def _get(url: str, timeout: float = 30) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def test_a_corrupted_body_is_refused_and_nothing_stored(
    faulty: tuple[str, dict[str, Repo], int], tmp_path: Path, hub_files: dict[str, bytes]
) -> None:
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["corrupt"]
    with mirror_of(url, tmp_path / "mirror") as mirror:
        file_url = f"{mirror.url}/org/tiny/resolve/main/{WEIGHTS}"
        with pytest.raises(httpx.HTTPError):  # cut short: the last byte never sent
            _get(file_url).raise_for_status()
        expected = hashlib.sha256(hub_files[WEIGHTS]).hexdigest()
        assert expected not in _blobs(mirror)
        corrupted = bytes([hub_files[WEIGHTS][0] ^ 0xFF]) + hub_files[WEIGHTS][1:]
        assert hashlib.sha256(corrupted).hexdigest() not in _blobs(mirror)
        # The next request downloads good bytes.
        again = _get(file_url)
        assert again.status_code == 200 and again.content == hub_files[WEIGHTS]
        _wait(lambda: expected in _blobs(mirror))  # stored just after the last byte went


def test_a_truncated_body_is_resumed(
    faulty: tuple[str, dict[str, Repo], int], tmp_path: Path, hub_files: dict[str, bytes]
) -> None:
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["truncate"]
    with mirror_of(url, tmp_path / "mirror") as mirror:
        response = _get(f"{mirror.url}/org/tiny/resolve/main/{WEIGHTS}")
        assert response.status_code == 200 and response.content == hub_files[WEIGHTS]
    assert len(_gets(repos["org/tiny"], WEIGHTS)) == 2  # the rest asked for once more


def test_an_upstream_killed_mid_stream(
    faulty: tuple[str, dict[str, Repo], int], tmp_path: Path, hub_files: dict[str, bytes]
) -> None:
    url, repos, port = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["die"]
    with mirror_of(url, tmp_path / "mirror") as mirror:
        file_url = f"{mirror.url}/org/tiny/resolve/main/{WEIGHTS}"
        with pytest.raises(httpx.HTTPError):
            _get(file_url).raise_for_status()
        store = _mirror(mirror).store
        assert hashlib.sha256(hub_files[WEIGHTS]).hexdigest() not in _blobs(mirror)
        _wait(lambda: not any(store.tmp.iterdir()))  # nothing half-stored
        with serve(HubHandler, repos, port=port):  # the upstream is back
            again = _get(file_url)
            assert again.status_code == 200 and again.content == hub_files[WEIGHTS]


def test_concurrent_clients_cause_one_upstream_download(
    faulty: tuple[str, dict[str, Repo], int], tmp_path: Path, hub_files: dict[str, bytes]
) -> None:
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["stall"]  # everyone arrives while it waits
    with mirror_of(url, tmp_path / "mirror") as mirror:
        file_url = f"{mirror.url}/org/tiny/resolve/main/{WEIGHTS}"
        with ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(lambda _: _get(file_url).content, range(8)))
        assert all(body == hub_files[WEIGHTS] for body in bodies)
        _recorded(mirror, "org/tiny")
    for path in hub_files:
        assert len(_gets(repos["org/tiny"], path)) == 1, path


def test_two_server_processes_download_a_file_once(
    faulty: tuple[str, dict[str, Repo], int], tmp_path: Path, hub_files: dict[str, bytes]
) -> None:
    # Two apps on one home share nothing in memory: only the store's file locks.
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["stall"]
    home = tmp_path / "shared"
    with mirror_of(url, home) as first, mirror_of(url, home) as second:
        urls = [f"{server.url}/org/tiny/resolve/main/{WEIGHTS}" for server in (first, second)]
        with ThreadPoolExecutor(4) as pool:
            bodies = list(pool.map(lambda i: _get(urls[i % 2]).content, range(4)))
        assert all(body == hub_files[WEIGHTS] for body in bodies)
    assert len(_gets(repos["org/tiny"], WEIGHTS)) == 1


def _fetch(server: LiveServer, arrived: list[float]) -> bytes:
    """The weights through `server`, noting when each piece arrived."""
    body = b""
    address = f"{server.url}/org/tiny/resolve/main/{WEIGHTS}"
    with httpx.stream("GET", address, timeout=60) as response:
        for chunk in response.iter_bytes():
            arrived.append(time.monotonic())
            body += chunk
    return body


def _leader_and_follower(
    first: LiveServer, second: LiveServer
) -> tuple[Future[bytes], Future[bytes], list[float], list[float]]:
    """A download through `first`, and once its bytes flow, one through `second`."""
    firsts: list[float] = []
    seconds: list[float] = []
    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(_fetch, first, firsts)
        while not firsts and not leader.done():
            time.sleep(0.01)
        follower = pool.submit(_fetch, second, seconds)
        concurrent.futures.wait([leader, follower])
    return leader, follower, firsts, seconds


def test_a_second_server_process_streams_behind_the_first(
    faulty: tuple[str, dict[str, Repo], int],
    tmp_path: Path,
    hub_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The upstream sends half the file, then pauses 3 s: a client of the other
    # process gets bytes during the pause, read from the first one's staging
    # file (written in batches: small ones here, as the fixture is 200 KB).
    monkeypatch.setattr(fill_module, "BATCH", 16 << 10)
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["pause"]
    home = tmp_path / "shared"
    data = hub_files[WEIGHTS]
    with mirror_of(url, home) as first, mirror_of(url, home) as second:
        leader, follower, firsts, seconds = _leader_and_follower(first, second)
        assert leader.result() == data and follower.result() == data
        # The follower's first bytes came during the pause, long before its end.
        assert seconds[0] < firsts[-1] - 1.5
    assert len(_gets(repos["org/tiny"], WEIGHTS)) == 1
    assert not list((home / "store" / "tmp").glob("follow-*"))


def test_a_followed_download_that_fails_fails_its_followers(
    faulty: tuple[str, dict[str, Repo], int],
    tmp_path: Path,
    hub_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fill_module, "BATCH", 16 << 10)
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["corrupt-pause"]
    home = tmp_path / "shared"
    data = hub_files[WEIGHTS]
    with mirror_of(url, home) as first, mirror_of(url, home) as second:
        leader, follower, _, seconds = _leader_and_follower(first, second)
        assert seconds  # it was streaming behind the leader
        for future in (leader, follower):  # cut short: never the whole file
            assert future.exception() is not None or future.result() != data
        assert _get(f"{second.url}/org/tiny/resolve/main/{WEIGHTS}").content == data
    assert len(_gets(repos["org/tiny"], WEIGHTS)) == 2  # the retry downloaded afresh


def test_the_settings_and_the_serve_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from registry.cli import app
    from registry.config import Settings

    environment = {"REGISTRY_HOME": "/tmp/x", "REGISTRY_HF_UPSTREAM": "http://h/",
                   "REGISTRY_HF_REVALIDATE": "2.5", "HF_TOKEN": "hf_secret"}  # fmt: skip
    settings = Settings.from_env(environment)
    assert (settings.hf_upstream, settings.hf_revalidate_s) == ("http://h", 2.5)
    assert settings.hf_upstream_token == "hf_secret" and "hf_secret" not in repr(settings)
    assert Settings.from_env({"REGISTRY_HOME": "/tmp/x"}).hf_revalidate_s == 60
    with pytest.raises(ValueError, match="REGISTRY_HF_REVALIDATE"):
        Settings.from_env({"REGISTRY_HOME": "/tmp/x", "REGISTRY_HF_REVALIDATE": "soon"})
    started: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.update(k))
    monkeypatch.delenv("REGISTRY_HF_UPSTREAM", raising=False)
    result = CliRunner().invoke(app, ["serve", "--hf-upstream", "http://127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    assert "mirroring http://127.0.0.1:9" in result.output
    assert os.environ["REGISTRY_HF_UPSTREAM"] == "http://127.0.0.1:9"  # for every worker
    assert started["factory"] is True


def test_branches_are_revalidated_commits_are_kept(
    faulty: tuple[str, dict[str, Repo], int], tmp_path: Path
) -> None:
    url, repos, _ = faulty
    repo = repos["org/tiny"]
    with mirror_of(url, tmp_path / "mirror", revalidate_s=1.0) as mirror:
        api = HfApi(endpoint=mirror.url)

        def asked() -> int:
            return repo.requests.count("api revision")

        assert api.model_info("org/tiny").sha == repo.commit
        assert api.model_info("org/tiny").sha == repo.commit
        assert asked() == 1  # within the window: not asked again
        time.sleep(1.2)
        api.model_info("org/tiny")
        assert asked() == 2
        for _ in range(3):  # a commit id is never asked again
            api.model_info("org/tiny", revision=repo.commit)
        assert asked() == 2


def test_upstream_down_serves_what_is_stored_and_504s_the_rest(
    hub_files: dict[str, bytes], tmp_path: Path
) -> None:
    repos = {"org/tiny": Repo(dict(hub_files)), "org/other": Repo(dict(hub_files))}
    port = free_port()
    with mirror_of(f"http://127.0.0.1:{port}", tmp_path / "mirror", revalidate_s=0) as mirror:
        with serve(HubHandler, repos, port=port):
            _recorded(mirror, "org/tiny")
        # The upstream is gone.
        info = httpx.get(f"{mirror.url}/api/models/org/tiny")
        assert info.status_code == 200 and info.json()["sha"] == repos["org/tiny"].commit
        path = snapshot_download("org/tiny", endpoint=mirror.url, cache_dir=tmp_path / "c")
        assert _files(Path(path)) == hub_files
        missing = httpx.get(f"{mirror.url}/api/models/org/other")
        assert missing.status_code == 504
        assert missing.headers["x-error-code"] == "UpstreamUnavailable"
        assert "could not be reached" in missing.json()["error"]
        head = httpx.head(f"{mirror.url}/org/other/resolve/main/config.json")
        assert (head.status_code, head.headers["x-error-code"]) == (504, "UpstreamUnavailable")
        with pytest.raises(HfHubHTTPError, match="could not be reached") as raised:
            HfApi(endpoint=mirror.url).model_info("org/other")
        assert raised.value.response.status_code == 504


def test_a_repository_that_is_no_preset_is_refused(
    hub_files: dict[str, bytes], tmp_path: Path
) -> None:
    repos = {
        "org/pickles": Repo({"config.json": hub_files["config.json"],
                             "pytorch_model.bin": b"\x80\x04pickle"}),
        "org/readme": Repo({"README.md": b"# nothing here\n"}),
        "org/odd": Repo({**hub_files, "config.json": b'{"class_name": "os.system"}'}),
    }  # fmt: skip
    with serve(HubHandler, repos) as url, mirror_of(url, tmp_path / "mirror") as mirror:
        for repo_id, reason in (
            ("org/pickles", "pickles"),
            ("org/readme", "no config.json"),
            ("org/odd", "not an allowed architecture"),
        ):
            answer = httpx.get(f"{mirror.url}/api/models/{repo_id}")
            assert answer.status_code == 422, repo_id
            assert reason in answer.json()["error"]
            assert reason in answer.headers["x-error-message"]
            head = httpx.head(f"{mirror.url}/{repo_id}/resolve/main/config.json")
            assert head.status_code == 422
        with pytest.raises(HfHubHTTPError, match="pickles"):
            HfApi(endpoint=mirror.url).model_info("org/pickles")
        # Nothing was asked for beyond the listing and the small files.
        assert not any("pytorch_model.bin" in r for r in repos["org/pickles"].requests)
        assert not any(WEIGHTS in r for r in repos["org/odd"].requests if r.startswith("GET"))
        with mirror.app.state.services.resolver.catalog.transaction(write=False) as session:
            assert preset_detail(session, "org/odd", viewer=EVERYONE) is None


def _wait(condition: Callable[[], Any], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_files_outside_the_allow_list_are_not_mirrored(
    hub_files: dict[str, bytes], tmp_path: Path
) -> None:
    repos = {"org/tiny": Repo({**hub_files, "pytorch_model.bin": b"\x80\x04pickle"})}
    with serve(HubHandler, repos) as url, mirror_of(url, tmp_path / "mirror") as mirror:
        info = httpx.get(f"{mirror.url}/api/models/org/tiny").json()
        assert "pytorch_model.bin" not in {s["rfilename"] for s in info["siblings"]}
        answer = httpx.get(f"{mirror.url}/org/tiny/resolve/main/pytorch_model.bin")
        assert (answer.status_code, answer.headers["x-error-code"]) == (404, "EntryNotFound")
        assert "not mirrored" in answer.json()["error"]
    assert not any("pytorch_model.bin" in r for r in repos["org/tiny"].requests)


# === Xet reads through the mirror (hf_xet, as `pip install huggingface_hub` brings) ===


@pytest.fixture()
def xet_everywhere(monkeypatch: pytest.MonkeyPatch) -> segments.Layout:
    """Xet offered for every file, cut small so tiny files cross many segments."""
    layout = segments.Layout(chunk_bytes=4096, segment_chunks=5)
    monkeypatch.setattr(xet_offer, "XET_MIN_BYTES", 1)
    monkeypatch.setattr(xet_read, "LAYOUT", layout)
    monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    return layout


def _xet_plan(server: LiveServer, repo: str, sha256: str) -> dict[str, Any]:
    # The token route alone: the Hub's other routes also fetch the rest of the
    # commit in the background, which would take the fault the test injects.
    token = httpx.get(f"{server.url}/api/models/{repo}/xet-read-token/main")
    assert token.status_code == 200, token.text
    plan = httpx.get(
        f"{server.url}/xet/v1/reconstructions/{sha256}",
        headers={"Authorization": f"Bearer {token.headers['X-Xet-Access-Token']}"},
    )
    assert plan.status_code == 200, plan.text
    return dict(plan.json())


def test_a_cold_mirror_serves_xet_reads_behind_its_download(
    xet_everywhere: segments.Layout,
    upstream: tuple[LiveServer, SeenAuthorization],
    tmp_path: Path,
    keras_hub_preset: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    seen: list[str] = []

    def noting(app: ASGIApp) -> ASGIApp:
        async def noted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await app(scope, receive, send)

        return noted

    server, _ = upstream
    settings = dataclasses.replace(settings_at(tmp_path / "mirror"), hf_upstream=server.url)
    with live_server(settings, wrap=noting) as mirror:
        path = snapshot_download("org/tiny-keras", endpoint=mirror.url, cache_dir=tmp_path / "c")
        assert _files(Path(path)) == _files(keras_hub_preset)
        # hf_xet read the weights in segments while the mirror fetched them,
        # and the mirror stored and recorded what it fetched.
        assert sum("/xet/v1/segments/" in p for p in seen) >= xet_everywhere.segment_count(
            (keras_hub_preset / WEIGHTS).stat().st_size
        )
        _recorded(mirror, "org/tiny-keras")
        weights = hashlib.sha256((keras_hub_preset / WEIGHTS).read_bytes()).hexdigest()
        assert weights in _blobs(mirror)


def test_a_corrupted_body_reaches_no_xet_reader_whole(
    xet_everywhere: segments.Layout,
    faulty: tuple[str, dict[str, Repo], int],
    tmp_path: Path,
    hub_files: dict[str, bytes],
) -> None:
    url, repos, _ = faulty
    repos["org/tiny"].faults[WEIGHTS] = ["corrupt"]
    sha256 = hashlib.sha256(hub_files[WEIGHTS]).hexdigest()
    with mirror_of(url, tmp_path / "mirror") as mirror:
        plan = _xet_plan(mirror, "org/tiny", sha256)
        last = plan["terms"][-1]
        fetch = plan["fetch_info"][last["hash"]][0]
        span = fetch["url_range"]
        ranged = {"Range": f"bytes={span['start']}-{span['end']}"}
        # The segment holding the file's last byte is cut short: the digest failed.
        with pytest.raises(httpx.HTTPError):
            httpx.get(fetch["url"], headers=ranged, timeout=30).raise_for_status()
        assert sha256 not in _blobs(mirror)
        # A new reconstruction reads a good download, whole.
        plan = _xet_plan(mirror, "org/tiny", sha256)
        rebuilt = b""
        for term in plan["terms"]:
            fetch = plan["fetch_info"][term["hash"]][0]
            span = fetch["url_range"]
            got = httpx.get(
                fetch["url"], headers={"Range": f"bytes={span['start']}-{span['end']}"}, timeout=30
            )
            assert got.status_code == 206
            at = 0
            while at < len(got.content):
                header = parse_header(got.content, at)
                rebuilt += got.content[at + HEADER_BYTES : at + HEADER_BYTES + header.compressed]
                at += HEADER_BYTES + header.compressed
        assert rebuilt == hub_files[WEIGHTS]
        _wait(lambda: sha256 in _blobs(mirror))
