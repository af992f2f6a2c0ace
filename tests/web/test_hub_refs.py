"""Branches, tags and history through the stock huggingface_hub client, and
keras-hub's `upload_preset` to this server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

from registry import GPT2Backbone
from tests.conftest import tiny_inputs
from tests.web.hub_writer import HUB_CLIENT_WARNINGS, Writer, files_of, writer_for
from tests.web.live import LiveServer
from web.api import hub_repos

pytestmark = HUB_CLIENT_WARNINGS
CARD = b"# Tiny\n"


@pytest.fixture()
def writer(live: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Writer:
    writer = writer_for(live, monkeypatch, tmp_path)
    writer.api.create_repo("alice/tiny")
    return writer


def test_branches_and_tags(writer: Writer, keras_hub_preset: Path, tmp_path: Path) -> None:
    api = writer.api
    first = api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    api.create_branch("alice/tiny", branch="feature/x")
    on_branch = api.upload_file(
        path_or_fileobj=CARD, path_in_repo="README.md", repo_id="alice/tiny", revision="feature/x"
    )
    api.create_tag("alice/tiny", tag="v1", revision=first.oid, tag_message="the first")
    refs = api.list_repo_refs("alice/tiny")
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [
        ("main", "refs/heads/main", first.oid),
        ("feature/x", "refs/heads/feature/x", on_branch.oid),
    ]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [
        ("v1", "refs/tags/v1", first.oid)
    ]
    # Every read takes a branch (quoted as feature%2Fx), a tag, a commit id, `main` or `latest`.
    card = hf_hub_download(
        "alice/tiny",
        "README.md",
        revision="feature/x",
        endpoint=writer.live.url,
        cache_dir=tmp_path / "c",
    )
    assert Path(card).read_bytes() == CARD
    assert api.model_info("alice/tiny", revision="feature/x").sha == on_branch.oid
    assert api.model_info("alice/tiny", revision="latest").sha == first.oid
    assert "README.md" in api.list_repo_files("alice/tiny", revision="feature/x")
    tagged = snapshot_download(
        "alice/tiny", revision="v1", endpoint=writer.live.url, cache_dir=tmp_path / "t"
    )
    assert files_of(Path(tagged)) == files_of(keras_hub_preset)
    commits = api.list_repo_commits("alice/tiny", revision="feature/x")
    assert [c.commit_id for c in commits] == [on_branch.oid, first.oid]
    with pytest.raises(HfHubHTTPError, match="409"):
        api.create_branch("alice/tiny", branch="feature/x")
    api.create_branch("alice/tiny", branch="feature/x", exist_ok=True)
    with pytest.raises(HfHubHTTPError, match="is a tag"):
        api.upload_file(
            path_or_fileobj=b"x", path_in_repo="a.txt", repo_id="alice/tiny", revision="v1"
        )
    api.delete_branch("alice/tiny", branch="feature/x")
    api.delete_tag("alice/tiny", tag="v1")
    assert [b.name for b in api.list_repo_refs("alice/tiny").branches] == ["main"]
    assert api.list_repo_refs("alice/tiny").tags == []
    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/tiny", revision="feature/x")
    with pytest.raises(HfHubHTTPError, match="default branch"):
        api.delete_branch("alice/tiny", branch="main")


def test_a_commit_to_a_missing_branch_or_a_stale_parent_is_refused(
    writer: Writer, keras_hub_preset: Path
) -> None:
    api = writer.api
    first = api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(
            path_or_fileobj=CARD, path_in_repo="README.md", repo_id="alice/tiny", revision="nope"
        )
    second = api.upload_file(
        path_or_fileobj=CARD,
        path_in_repo="README.md",
        repo_id="alice/tiny",
        parent_commit=first.oid[:7],
    )
    with pytest.raises(HfHubHTTPError, match=r"(?s)412.*A commit has happened since"):
        api.upload_file(
            path_or_fileobj=b"x",
            path_in_repo="notes.txt",
            repo_id="alice/tiny",
            parent_commit=first.oid,
        )
    # The same commit against the same parent is the commit made already.
    again = api.upload_file(
        path_or_fileobj=CARD,
        path_in_repo="README.md",
        repo_id="alice/tiny",
        parent_commit=first.oid,
    )
    assert again.oid == second.oid
    assert [c.commit_id for c in api.list_repo_commits("alice/tiny")] == [second.oid, first.oid]


def test_history_pages_and_reverts(
    writer: Writer, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_repos, "COMMITS_PER_PAGE", 2)
    api = writer.api
    first = api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    added = api.upload_file(path_or_fileobj=CARD, path_in_repo="README.md", repo_id="alice/tiny")
    reverted = api.delete_file("README.md", "alice/tiny", commit_message="Revert the card")
    assert reverted.oid == first.oid  # content-addressed: the first tree, the first id
    commits = api.list_repo_commits("alice/tiny")  # three commits, two pages
    assert [c.commit_id for c in commits] == [first.oid, added.oid, first.oid]
    assert [c.title for c in commits][:2] == [
        "Revert the card",
        "Upload README.md with huggingface_hub",
    ]
    assert all(c.created_at.tzinfo is not None for c in commits)


# What a user runs: stock keras-hub in a fresh process; HF_TOKEN is its only token.
_UPLOAD = """
import sys
import keras_hub
keras_hub.upload_preset(sys.argv[1], sys.argv[2])
"""


def test_keras_hub_upload_preset(writer: Writer, keras_hub_preset: Path, tmp_path: Path) -> None:
    pytest.importorskip("keras_hub")
    env = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    env.update(
        HF_ENDPOINT=writer.live.url,
        HF_TOKEN=writer.token,
        HF_HUB_DISABLE_XET="1",
        HF_HOME=str(tmp_path / "keras_hub_hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        KERAS_BACKEND=keras.backend.backend(),
    )
    uploaded = subprocess.run(
        [sys.executable, "-c", _UPLOAD, "hf://alice/keras-tiny", str(keras_hub_preset)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert uploaded.returncode == 0, uploaded.stderr[-3000:]
    local = snapshot_download(
        "alice/keras-tiny", endpoint=writer.live.url, local_dir=tmp_path / "local"
    )
    files = files_of(Path(local))
    assert b"library_name: keras-hub" in files.pop("README.md")  # keras-hub's model card
    assert files == files_of(keras_hub_preset)
    assert writer.counts("alice/keras-tiny") == (1, 1)
    ours = GPT2Backbone.from_preset("hf://alice/keras-tiny")  # through this project's resolver
    reference = GPT2Backbone.from_preset(keras_hub_preset)
    inputs = tiny_inputs(length=5)
    np.testing.assert_allclose(np.asarray(ours(inputs)), np.asarray(reference(inputs)), atol=1e-6)
