"""Syncing from the Hub and from Kaggle with the real clients against local servers.

The Hub's normal paths run against this project's own server (its
Hub-compatible routes, `our_hub`); faults (corrupt, truncated, 500, stalled
bodies) need a server that misbehaves on purpose: `hub`, from `servers.py`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from registry import GPT2Backbone
from registry.catalog.queries import EVERYONE, preset_detail
from registry.config import Settings
from registry.errors import (
    ChecksumMismatchError,
    OfflineError,
    PresetNotFoundError,
    SourceError,
)
from registry.preset.manifest import build_manifest
from registry.resolver.resolve import Resolver
from tests.resolver.processes import resolve_at_once
from tests.resolver.servers import HubHandler, KaggleHandler, Repo, serve


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
    }


@pytest.fixture()
def resolver(tmp_path: Path) -> Iterator[Resolver]:
    resolver = Resolver(Settings.from_env({"REGISTRY_HOME": str(tmp_path / "home")}))
    yield resolver
    resolver.catalog.close()


@pytest.fixture()
def hub(
    fixtures: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, Repo]]:
    repos = {
        "org/tiny-keras": Repo(_files(fixtures / "keras_hub_tiny_gpt2")),
        "org/tiny-hf": Repo(_files(fixtures / "hf_tiny_gpt2")),
    }
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    with serve(HubHandler, repos) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        yield repos


@pytest.fixture()
def our_hub(
    fixtures: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, Path]]:
    """This project's own server (its Hub-compatible routes) holding org/tiny-keras
    and org/tiny-hf; the fault tests below use `hub`, which can inject faults."""
    from tests.web.conftest import tar_of
    from tests.web.live import live_server, settings_at

    presets = {
        "org/tiny-keras": fixtures / "keras_hub_tiny_gpt2",
        "org/tiny-hf": fixtures / "hf_tiny_gpt2",
    }
    with live_server(settings_at(tmp_path / "server")) as server:
        headers = {"Authorization": f"Bearer {server.token('org')}",
                   "Content-Type": "application/gzip"}  # fmt: skip
        for repo, directory in presets.items():
            response = httpx.post(
                f"{server.url}/api/v1/presets/{repo}/revisions",
                content=tar_of(directory),
                headers=headers,
            )
            assert response.status_code == 201, response.text
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield presets


@pytest.fixture()
def kaggle(
    fixtures: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, Repo]]:
    repos = {"keras/gpt2/keras/gpt2_tiny": Repo(_files(fixtures / "keras_hub_tiny_gpt2"))}
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")  # http://localhost:7777
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    with serve(KaggleHandler, repos, port=7777):
        yield repos


@pytest.mark.parametrize("repo", ["org/tiny-keras", "org/tiny-hf"])
def test_hub_presets_sync_and_load(our_hub: dict[str, Path], resolver: Resolver, repo: str) -> None:
    resolved = resolver.resolve(f"hf://{repo}")
    assert _files(resolved.path) == _files(our_hub[repo])
    assert resolved.preset == f"hf/{repo.replace('/', '-')}"
    backbone = GPT2Backbone.from_preset(resolved.path)
    assert backbone.hidden_dim == 32
    with resolver.catalog.transaction(write=False) as session:
        detail = preset_detail(session, resolved.preset, viewer=EVERYONE)
    assert detail is not None and detail.source == f"hf://{repo}"
    assert detail.latest_revision == resolved.digest
    # Nothing of the client's own bookkeeping lands in the revision.
    assert not any(f.path.startswith(".cache") for f in resolved.manifest.files)


def test_hub_revisions_are_pinned(our_hub: dict[str, Path], resolver: Resolver) -> None:
    commit = build_manifest(our_hub["org/tiny-hf"]).revision_id[:40]
    assert resolver.resolve(f"hf://org/tiny-hf@{commit}").preset == f"hf/org-tiny-hf-{commit}"
    with pytest.raises(PresetNotFoundError, match="RevisionNotFoundError"):
        resolver.resolve("hf://org/tiny-hf@nope")
    with pytest.raises(PresetNotFoundError, match="RepositoryNotFoundError"):
        resolver.resolve("hf://org/absent")


def test_a_corrupted_hub_download_is_refused(hub: dict[str, Repo], resolver: Resolver) -> None:
    data = hub["org/tiny-hf"].files["model.safetensors"]
    hub["org/tiny-hf"].faults["model.safetensors"] = ["corrupt"]
    with pytest.raises(ChecksumMismatchError, match=r"model.safetensors") as raised:
        resolver.resolve("hf://org/tiny-hf")
    assert raised.value.expected == hashlib.sha256(data).hexdigest()
    with resolver.catalog.transaction(write=False) as session:
        assert preset_detail(session, "hf/org-tiny-hf", viewer=EVERYONE) is None
    assert list(resolver.store.trees.iterdir()) == []
    # The next try downloads good bytes.
    assert resolver.resolve("hf://org/tiny-hf").preset == "hf/org-tiny-hf"


def test_a_truncated_hub_download_is_resumed_within_one_sync(
    hub: dict[str, Repo], resolver: Resolver
) -> None:
    repo = hub["org/tiny-keras"]
    repo.faults["model.weights.h5"] = ["truncate"]
    resolved = resolver.resolve("hf://org/tiny-keras")
    assert _files(resolved.path) == repo.files
    # The cut-off body was asked for again (from where it stopped) by the same
    # sync; every other file once.
    downloads = [r.removeprefix("GET ") for r in repo.requests if r.startswith("GET ")]
    assert sorted(downloads) == sorted([*repo.files, "model.weights.h5"])


def test_a_hub_server_error_surfaces_and_the_next_sync_succeeds(
    hub: dict[str, Repo], resolver: Resolver
) -> None:
    # huggingface_hub retries a failed download only for some statuses; a 500 on
    # the file surfaces as the registry's own error, with nothing half-kept.
    repo = hub["org/tiny-keras"]
    repo.faults["model.weights.h5"] = ["500"]
    with pytest.raises(SourceError, match=r"Downloading hf://org/tiny-keras .*500"):
        resolver.resolve("hf://org/tiny-keras")
    assert list(resolver.store.trees.iterdir()) == []
    assert list(resolver.store.tmp.iterdir()) == []
    with resolver.catalog.transaction(write=False) as session:
        assert preset_detail(session, "hf/org-tiny-keras", viewer=EVERYONE) is None
    resolved = resolver.resolve("hf://org/tiny-keras")
    assert _files(resolved.path) == repo.files


def test_kaggle_presets_sync_verify_and_load(
    kaggle: dict[str, Repo],
    resolver: Resolver,
    keras_hub_inputs: dict,
    keras_hub_expected: np.ndarray,
) -> None:
    resolved = resolver.resolve("kaggle://keras/gpt2/keras/gpt2_tiny/3")
    assert _files(resolved.path) == kaggle["keras/gpt2/keras/gpt2_tiny"].files
    assert resolved.preset == "kaggle/keras-gpt2-keras-gpt2_tiny"
    backbone = GPT2Backbone.from_preset(resolved.path)
    np.testing.assert_allclose(
        np.asarray(backbone(keras_hub_inputs)), keras_hub_expected, atol=1e-5
    )
    requests_before = list(kaggle["keras/gpt2/keras/gpt2_tiny"].requests)
    # The catalog name resolves from the store, without asking Kaggle again.
    assert resolver.resolve(resolved.preset).digest == resolved.digest
    assert kaggle["keras/gpt2/keras/gpt2_tiny"].requests == requests_before


def test_a_builtin_preset_syncs_through_its_kaggle_handle(
    kaggle: dict[str, Repo], resolver: Resolver
) -> None:
    # Point the built-in gpt2_base_en at the local server's variation.
    repo = kaggle.pop("keras/gpt2/keras/gpt2_tiny")
    kaggle["keras/gpt2/keras/gpt2_base_en"] = repo
    resolved = resolver.resolve("gpt2_base_en")
    assert resolved.preset == "keras/gpt2_base_en"
    with resolver.catalog.transaction(write=False) as session:
        detail = preset_detail(session, "gpt2_base_en", viewer=EVERYONE)
    assert detail is not None and detail.synced
    assert detail.source == "kaggle://keras/gpt2/keras/gpt2_base_en/3"


def test_a_synced_builtin_resolves_offline_by_name_and_says_since_when(
    kaggle: dict[str, Repo],
    resolver: Resolver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kaggle["keras/gpt2/keras/gpt2_base_en"] = kaggle.pop("keras/gpt2/keras/gpt2_tiny")
    synced = resolver.resolve("gpt2_base_en")
    monkeypatch.setenv("REGISTRY_OFFLINE", "1")
    with caplog.at_level(logging.WARNING, logger="registry.resolver"):
        assert resolver.resolve("keras/gpt2_base_en").digest == synced.digest
    assert f"offline: keras/gpt2_base_en@latest -> {synced.digest[:12]}" in caplog.text
    assert "as synced from kaggle://keras/gpt2/keras/gpt2_base_en/3" in caplog.text
    with pytest.raises(OfflineError, match="offline"):
        resolver.resolve("gpt2_medium_en")  # never synced


def test_a_corrupted_kaggle_download_is_refused(
    kaggle: dict[str, Repo], resolver: Resolver
) -> None:
    kaggle["keras/gpt2/keras/gpt2_tiny"].faults["model.weights.h5"] = ["corrupt"]
    with pytest.raises(ChecksumMismatchError, match="md5"):
        resolver.resolve("kaggle://keras/gpt2/keras/gpt2_tiny/3")
    assert list(resolver.store.trees.iterdir()) == []
    assert resolver.resolve("kaggle://keras/gpt2/keras/gpt2_tiny/3").preset.startswith("kaggle/")


def test_unknown_kaggle_models(kaggle: dict[str, Repo], resolver: Resolver) -> None:
    with pytest.raises(PresetNotFoundError, match="HTTP 404"):
        resolver.resolve("kaggle://keras/gpt2/keras/absent/1")


def test_offline_never_calls_the_clients(
    hub: dict[str, Repo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    environment, hub_offline = dict(os.environ), constants.HF_HUB_OFFLINE
    offline = Resolver(Settings.from_env({"REGISTRY_HOME": str(tmp_path / "off")}))
    with pytest.raises(ConnectionError, match="offline"):
        offline.resolve("hf://org/tiny-hf")
    assert hub["org/tiny-hf"].requests == []
    offline.catalog.close()
    # Refusing is all it does: no process-wide state is changed on the way.
    assert dict(os.environ) == environment
    assert hub_offline == constants.HF_HUB_OFFLINE


def test_eight_processes_download_each_file_once(hub: dict[str, Repo], tmp_path: Path) -> None:
    results = resolve_at_once(tmp_path / "shared_home", "hf://org/tiny-keras")
    assert len({r["digest"] for r in results}) == 1
    downloads = [r for r in hub["org/tiny-keras"].requests if r.startswith("GET ")]
    assert sorted(downloads) == sorted(f"GET {path}" for path in hub["org/tiny-keras"].files)


def test_a_synced_handle_resolves_from_the_store(hub: dict[str, Repo], resolver: Resolver) -> None:
    first = resolver.resolve("hf://org/tiny-hf")
    seen = len(hub["org/tiny-hf"].requests)
    assert resolver.resolve("hf://org/tiny-hf").digest == first.digest
    assert len(hub["org/tiny-hf"].requests) == seen
    resolver.resolve("hf://org/tiny-hf", force=True)  # --force asks the Hub again
    assert len(hub["org/tiny-hf"].requests) > seen


def test_a_stalled_download_completes_and_leaves_no_leftovers(
    hub: dict[str, Repo], resolver: Resolver
) -> None:
    hub["org/tiny-keras"].faults["model.weights.h5"] = ["stall"]
    resolved = resolver.resolve("hf://org/tiny-keras")
    assert _files(resolved.path) == hub["org/tiny-keras"].files
    assert list(resolver.store.tmp.iterdir()) == []


_SYNC = """
import sys
from registry.config import Settings
from registry.resolver.resolve import Resolver
Resolver(Settings.from_env({"REGISTRY_HOME": sys.argv[1]})).resolve(sys.argv[2])
"""


@pytest.mark.parametrize("killed_during", ["config.json", "model.weights.h5"])
def test_a_sync_killed_mid_download_leaves_a_consistent_store(
    hub: dict[str, Repo], tmp_path: Path, killed_during: str
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    repo = hub["org/tiny-keras"]
    repo.faults[killed_during] = ["stall"]  # the download hangs there: kill it then
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-c", _SYNC, str(home), "hf://org/tiny-keras"],
        cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while f"GET {killed_during}" not in repo.requests:
        assert process.poll() is None and time.monotonic() < deadline, "never reached the file"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()

    resolver = Resolver(Settings.from_env({"REGISTRY_HOME": str(home)}))
    try:
        assert list(resolver.store.trees.iterdir()) == []  # nothing half-published
        assert list(resolver.store.tmp.iterdir()) == []  # the dead writer's staging is gone
        resolved = resolver.resolve("hf://org/tiny-keras", verify="full")
        assert _files(resolved.path) == repo.files
        for blob in resolver.store.blobs.glob("*/*"):  # every stored blob is what it claims
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    finally:
        resolver.catalog.close()
