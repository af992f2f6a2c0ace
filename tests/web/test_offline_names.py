"""Offline after a sync from a server: names keep resolving from the store.

Each sync or load through a server records which revision a name meant and
when; offline (REGISTRY_OFFLINE=1), the name resolves to that revision; online,
the server is asked again. `registry verify NAME` exits 0 (match), 1 (mismatch)
or 2 (cannot be had), like `verify --lock`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry import Registry
from registry.errors import OfflineError, SourceError
from registry.preset.manifest import build_manifest
from tests.web.live import live_server, settings_at

REGISTRY = shutil.which("registry", path=str(Path(sys.executable).parent))


@pytest.fixture()
def server_home(tmp_path: Path) -> Path:
    return tmp_path / "server"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert REGISTRY
    return subprocess.run(
        [REGISTRY, *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **env},
    )  # fmt: skip


def test_a_synced_name_resolves_offline_after_the_server_is_gone(
    server_home: Path,
    tmp_path: Path,
    keras_hub_preset: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client_home = tmp_path / "client"
    with live_server(settings_at(server_home)) as live:
        secret = live.token("alice")
        with Registry(live.url, cache_dir=client_home, token=secret) as remote:
            remote.upload(keras_hub_preset, "tiny")
            synced = remote.sync("alice/tiny")
        url = live.url
    assert synced.digest == build_manifest(keras_hub_preset).revision_id

    # The server is gone. Without offline mode: a clear error, quickly (no hang).
    started = time.monotonic()
    with (
        Registry(url, cache_dir=client_home, token=secret) as remote,
        pytest.raises(SourceError, match="Cannot reach the registry server"),
    ):
        remote.load("alice/tiny", load_weights=False)
    assert time.monotonic() - started < 10

    # Offline: the name resolves to the revision recorded at the sync, and says so.
    monkeypatch.setenv("REGISTRY_OFFLINE", "1")
    with Registry(url, cache_dir=client_home, token=secret) as remote:
        with caplog.at_level(logging.WARNING, logger="registry.resolver"):
            backbone = remote.load("alice/tiny")
        assert backbone.count_params() == 28_256
        assert "alice/tiny@latest -> " + synced.digest[:12] in caplog.text
        assert "ago" in caplog.text
        assert remote.verify("alice/tiny", full=True).ok
        recorded = remote.recorded("alice/tiny")
        assert recorded is not None and recorded.digest == synced.digest
        with pytest.raises(OfflineError, match="never synced"):
            remote.load("alice/other")
    assert not (client_home / "catalog.db").exists()  # all of it without a local catalog

    env = {"REGISTRY_URL": url, "REGISTRY_HOME": str(client_home), "REGISTRY_OFFLINE": "1"}
    info = _cli(env, "info", "alice/tiny")
    assert info.returncode == 0, info.stderr
    assert "offline: alice/tiny@latest -> " + synced.digest[:12] in info.stdout
    assert "model.weights.h5" in info.stdout
    assert _cli(env, "verify", "alice/tiny", "--full").returncode == 0
    assert _cli(env, "verify", "alice/never-synced").returncode == 2
    online = {**env, "REGISTRY_OFFLINE": ""}
    down = _cli(online, "verify", "alice/tiny")
    assert down.returncode == 2 and "Cannot reach" in down.stderr

    # A corrupted file is a mismatch (1), not an absence (2).
    blob = next(
        p for p in (client_home / "store" / "blobs").rglob("*") if p.stat().st_size > 50_000
    )
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    corrupt = _cli(env, "verify", "alice/tiny", "--full")
    assert corrupt.returncode == 1 and "MISMATCH" in corrupt.stderr


def test_an_alias_moved_on_the_server_is_picked_up_at_the_next_online_sync(
    server_home: Path, tmp_path: Path, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_home = tmp_path / "client"
    with (
        live_server(settings_at(server_home)) as live,
        Registry(live.url, cache_dir=client_home, token=live.token("alice")) as remote,
    ):
        first = remote.upload(keras_hub_preset, "tiny", alias="stable")
        assert remote.sync("alice/tiny@stable").digest == first.digest
        (keras_hub_preset / "README.md").write_text("# the second revision\n")
        second = remote.upload(keras_hub_preset, "tiny")
        remote.alias("alice/tiny", "stable", second.digest)
        monkeypatch.setenv("REGISTRY_OFFLINE", "1")
        assert remote.sync("alice/tiny@stable").digest == first.digest  # as recorded
        monkeypatch.delenv("REGISTRY_OFFLINE")
        assert remote.sync("alice/tiny@stable").digest == second.digest  # asked again
        monkeypatch.setenv("REGISTRY_OFFLINE", "1")
        assert remote.sync("alice/tiny@stable").digest == second.digest  # newly recorded
        monkeypatch.delenv("REGISTRY_OFFLINE")
        # gc keeps what recorded names point at (in a store with no local catalog),
        # and removes the revision no name points at any more.
        store = remote.resolver.store
        assert store.tree_path(first.digest).is_dir()
        assert remote.gc(grace_s=0).trees == 1
        assert store.tree_path(second.digest).is_dir()
        assert not store.tree_path(first.digest).exists()


def test_a_name_record_cut_short_leaves_nothing_the_next_start_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry.resolver.handles import CatalogHandle
    from registry.resolver.names import RecordedNames
    from registry.resolver.store import Store

    store = Store(tmp_path / "store")
    names = RecordedNames(store.root, "http://registry:8000")

    def killed(source: str, target: str) -> None:
        raise KeyboardInterrupt  # as if the process died before the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        names.record(CatalogHandle("alice", "tiny"), "a" * 64)
    monkeypatch.undo()
    assert not list(names.directory.rglob("*.json*"))  # nothing half-written under names/
    staged = list(store.tmp.iterdir())
    assert len(staged) == 1 and staged[0].name.startswith(f"name-{os.getpid()}-")
    dead = staged[0].with_name(staged[0].name.replace(str(os.getpid()), "999999999", 1))
    staged[0].rename(dead)  # a writer that no longer runs
    assert store.cleanup_temp() == 1 and not list(store.tmp.iterdir())
