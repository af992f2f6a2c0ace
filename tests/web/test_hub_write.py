"""The stock huggingface_hub client committing to this server (plain LFS, no Xet):
repositories, commits, what a refused commit leaves, a repeated commit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import (
    CommitInfo,
    CommitOperationAdd,
    CommitOperationDelete,
    snapshot_download,
)
from huggingface_hub._commit_api import _send_commit
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.preset.manifest import build_manifest
from tests.web.hub_writer import HUB_CLIENT_WARNINGS, Writer, files_of, writer_for
from tests.web.live import LiveServer, live_server, settings_at

pytestmark = HUB_CLIENT_WARNINGS


@pytest.fixture()
def writer(live: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Writer:
    return writer_for(live, monkeypatch, tmp_path)


def _commit_id(directory: Path) -> str:
    return build_manifest(directory).revision_id[:40]


def test_upload_folder_of_a_keras_hub_preset(
    writer: Writer, keras_hub_preset: Path, tmp_path: Path
) -> None:
    url = writer.api.create_repo("alice/tiny")
    assert url == f"{writer.live.url}/alice/tiny" and url.repo_id == "alice/tiny"
    info = writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    assert info.oid == _commit_id(keras_hub_preset)
    assert "/alice/tiny/commit/" in info.commit_url
    local = snapshot_download("alice/tiny", endpoint=writer.live.url, cache_dir=tmp_path / "c")
    assert files_of(Path(local)) == files_of(keras_hub_preset)
    model = writer.api.model_info("alice/tiny")
    assert model.sha == info.oid
    assert writer.leftovers() == []


def test_upload_folder_of_a_transformers_checkpoint(
    writer: Writer, hf_preset: Path, tmp_path: Path
) -> None:
    writer.api.create_repo("alice/tiny-hf", private=True)
    info = writer.api.upload_folder(repo_id="alice/tiny-hf", folder_path=hf_preset)
    assert info.oid == _commit_id(hf_preset)
    model = writer.api.model_info("alice/tiny-hf")
    assert model.private and {s.rfilename for s in model.siblings or []} == set(files_of(hf_preset))
    with pytest.raises(RepositoryNotFoundError):  # private: not without the token
        writer.api.model_info("alice/tiny-hf", token=False)


def test_a_second_commit_keeps_the_first_readable_by_commit_id(
    writer: Writer, keras_hub_preset: Path, tmp_path: Path
) -> None:
    writer.api.create_repo("alice/tiny")
    first = writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    card = b"---\nlibrary_name: keras-hub\n---\n# Tiny\n"
    second = writer.api.upload_file(
        path_or_fileobj=card,
        path_in_repo="README.md",
        repo_id="alice/tiny",
        commit_message="Add a card",
        commit_description="Says what it is.",
    )
    assert second.oid != first.oid
    old = snapshot_download(
        "alice/tiny", revision=first.oid, endpoint=writer.live.url, cache_dir=tmp_path / "old"
    )
    assert files_of(Path(old)) == files_of(keras_hub_preset)
    new = snapshot_download("alice/tiny", endpoint=writer.live.url, cache_dir=tmp_path / "new")
    assert files_of(Path(new)) == {**files_of(keras_hub_preset), "README.md": card}
    commits = writer.api.list_repo_commits("alice/tiny")
    assert [c.commit_id for c in commits] == [second.oid, first.oid]
    assert (commits[0].title, commits[0].message, commits[0].authors) == (
        "Add a card",
        "Says what it is.",
        ["alice"],
    )


def test_large_text_files_and_deletions(
    writer: Writer, keras_hub_preset: Path, tmp_path: Path
) -> None:
    writer.api.create_repo("alice/tiny")
    writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    guide = "".join(f"Step {i}: read the weights.\n" for i in range(20_000)).encode()  # 0.5 MB
    writer.api.create_commit(
        "alice/tiny",
        [CommitOperationAdd("docs/guide.md", guide), CommitOperationAdd("notes.txt", b"x")],
        commit_message="docs",
    )  # the guide travels base64 inside the commit, streamed through the server
    got = writer.api.hf_hub_download("alice/tiny", "docs/guide.md", cache_dir=tmp_path / "c")
    assert Path(got).read_bytes() == guide
    info = writer.api.create_commit(
        "alice/tiny",
        [CommitOperationDelete("docs/", is_folder=True), CommitOperationDelete("notes.txt")],
        commit_message="no docs",
    )
    assert info.oid == _commit_id(keras_hub_preset)  # the first tree again
    with pytest.raises(HfHubHTTPError, match="A file with this name doesn't exist"):
        writer.api.delete_file("absent.json", "alice/tiny")


def test_a_refused_commit_leaves_nothing(writer: Writer, keras_hub_preset: Path) -> None:
    writer.api.create_repo("alice/tiny")
    writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    blobs, counts = writer.blobs(), writer.counts("alice/tiny")
    with pytest.raises(HfHubHTTPError, match=r"(?s)422.*model\.weights\.h5"):
        writer.api.delete_file("model.weights.h5", "alice/tiny")
    config = json.loads((keras_hub_preset / "config.json").read_text())
    config["config"]["num_layers"] = 3  # the weights hold two
    with pytest.raises(HfHubHTTPError, match="422"):
        writer.api.upload_file(
            path_or_fileobj=json.dumps(config).encode(),
            path_in_repo="config.json",
            repo_id="alice/tiny",
        )
    assert (writer.blobs(), writer.counts("alice/tiny")) == (blobs, counts)
    # Weights sent through LFS are stored before the commit, which is then refused:
    # they wait for a commit for the gc grace period, then go.
    bogus = b"not an h5 file" * 1000
    with pytest.raises(HfHubHTTPError, match="422"):
        writer.api.upload_file(
            path_or_fileobj=bogus, path_in_repo="model.weights.h5", repo_id="alice/tiny"
        )
    assert writer.blobs() - blobs == {hashlib.sha256(bogus).hexdigest()}
    assert writer.counts("alice/tiny") == counts and writer.leftovers() == []
    writer.resolver.gc(grace_s=0)
    assert writer.blobs() == blobs


def test_create_repo_rules(writer: Writer) -> None:
    writer.api.create_repo("alice/tiny")
    assert writer.api.create_repo("alice/tiny", exist_ok=True).repo_id == "alice/tiny"
    with pytest.raises(HfHubHTTPError, match="409"):
        writer.api.create_repo("alice/tiny")
    with pytest.raises(HfHubHTTPError, match=r"(?s)403.*only in the namespace 'alice'"):
        writer.api.create_repo("bob/tiny")
    # An empty repository reads as one: no commit yet, no file.
    assert writer.api.model_info("alice/tiny").sha is None
    assert not writer.api.file_exists("alice/tiny", "README.md")


def test_missing_or_bad_tokens_get_the_hubs_error_codes(writer: Writer) -> None:
    writer.api.create_repo("alice/tiny")
    url = f"{writer.live.url}/api/models/alice/tiny/preupload/main"
    anonymous = httpx.post(url, json={"files": []})
    assert anonymous.status_code == 401
    assert anonymous.headers["X-Error-Code"] == "RepoNotFound"
    assert "write scope" in anonymous.json()["error"]
    forged = httpx.post(url, json={"files": []}, headers={"Authorization": "Bearer kpr_nope"})
    assert forged.status_code == 401 and forged.headers["X-Error-Code"] == "Unauthorized"
    readme = httpx.head(f"{writer.live.url}/alice/tiny/resolve/main/README.md")
    assert readme.status_code == 404 and readme.headers["X-Error-Code"] == "RevisionNotFound"


def test_delete_repo(writer: Writer, keras_hub_preset: Path) -> None:
    writer.api.create_repo("alice/tiny")
    writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    writer.api.delete_repo("alice/tiny")
    with pytest.raises(RepositoryNotFoundError):
        writer.api.model_info("alice/tiny")
    with pytest.raises(RepositoryNotFoundError):
        writer.api.delete_repo("alice/tiny")
    writer.api.delete_repo("alice/tiny", missing_ok=True)


# === A commit whose answer is lost ===


class LoseACommitAnswer:
    """ASGI middleware: commit number `lose` is made, but its answer replaced by a
    502 (as a proxy timing out would); every other request passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.commits = 0
        self.lose = 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_commit = scope["type"] == "http" and "/commit/" in scope["path"]
        self.commits += is_commit
        if not (is_commit and self.commits == self.lose):
            await self.app(scope, receive, send)
            return

        async def swallow(message: object) -> None:
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b"Bad Gateway"})


@pytest.fixture()
def lossy(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Writer, LoseACommitAnswer]]:
    wrappers: list[LoseACommitAnswer] = []

    def wrap(app: ASGIApp) -> ASGIApp:
        wrappers.append(LoseACommitAnswer(app))
        return wrappers[0]

    with live_server(settings_at(home), wrap=wrap) as live:
        yield writer_for(live, monkeypatch, tmp_path), wrappers[0]


def _resend(writer: Writer, operations: list[Any], message: str) -> CommitInfo:
    """Commit as huggingface_hub's upload pipeline does: retried on a 5xx."""
    return _send_commit(
        operations=operations,
        files_to_copy={},
        commit_message=message,
        commit_description="",
        repo_type="model",
        repo_id="alice/tiny",
        headers=writer.api._build_hf_headers(),
        revision="main",
        endpoint=writer.live.url,
        retry_on_error=True,
    )


def test_a_commit_repeated_after_a_lost_answer_is_the_same_commit(
    lossy: tuple[Writer, LoseACommitAnswer], keras_hub_preset: Path
) -> None:
    writer, proxy = lossy
    writer.api.create_repo("alice/tiny")
    additions = [
        CommitOperationAdd(p.relative_to(keras_hub_preset).as_posix(), p)
        for p in sorted(keras_hub_preset.rglob("*"))
        if p.is_file()
    ]
    writer.api.preupload_lfs_files("alice/tiny", additions=additions)
    info = _resend(writer, additions, "first")
    assert proxy.commits == 2  # the first answer was lost; the client sent it again
    assert info.oid == _commit_id(keras_hub_preset)
    assert writer.counts("alice/tiny") == (1, 1)
    assert [c.commit_id for c in writer.api.list_repo_commits("alice/tiny")] == [info.oid]


def test_a_deletion_repeated_after_a_lost_answer_is_the_same_commit(
    lossy: tuple[Writer, LoseACommitAnswer], keras_hub_preset: Path
) -> None:
    writer, proxy = lossy
    proxy.lose = 3
    writer.api.create_repo("alice/tiny")
    writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    with_card = writer.api.upload_file(
        path_or_fileobj=b"# Tiny", path_in_repo="README.md", repo_id="alice/tiny"
    )
    # Sent again, the deletion no longer applies to the head (the card is gone):
    # applied to the head's parent it gives the head, so it is the commit made.
    info = _resend(writer, [CommitOperationDelete("README.md")], "no card")
    assert proxy.commits == 4
    commits = writer.api.list_repo_commits("alice/tiny")
    assert [c.commit_id for c in commits] == [info.oid, with_card.oid, info.oid]
    assert info.oid == _commit_id(keras_hub_preset)
