"""Commits over the Hub's protocol: `create_commit`, `upload_file`, `upload_folder`.

- `POST /api/models/{ns}/{name}/preupload/{rev}`: for each file a client is
  about to commit, `uploadMode` (`"regular"`: small text, sent base64 in the
  commit; `"lfs"`: the rest, sent to the LFS batch API, or through Xet),
  `shouldIgnore` (true for files no preset holds, such as pickles, as syncs
  from the Hub skip them) and the `oid` the branch holds at that path (git's
  sha1 for regular files, the sha256 for LFS ones), so unchanged files are not
  sent again.
- `POST /api/models/{ns}/{name}/commit/{rev}`: the NDJSON commit (`header`,
  then `file`, `lfsFile`, `deletedFile`, `deletedFolder` lines), read as it
  streams. Its operations apply to the branch's head (or to `parentCommit`,
  5 to 40 hex digits); the tree they leave takes the one upload path
  (`UploadRequest.build`, `check_target`, `publish`): validated whole, stored,
  recorded as an immutable revision, the branch moved last and the move logged.

A commit whose tree is the branch's head already (a client repeating a commit
whose answer it lost, or a commit that changes nothing) answers the head's
commit and records nothing. A branch that moved since the commit's parent is a
412, as on the Hub; a refused tree is the upload path's 4xx, with its message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import object_session
from starlette.concurrency import run_in_threadpool

from registry.catalog.history import history
from registry.catalog.models import Alias, Preset, Revision
from registry.catalog.queries import EVERYONE, find_preset, revision_manifest
from registry.catalog.refs import LATEST, alias_name, find_alias
from registry.errors import (
    EntryNotFoundError,
    InvalidNameError,
    PresetNotFoundError,
    RevisionNotFoundError,
    UnsafePresetError,
)
from registry.preset.manifest import Manifest
from registry.preset.validate import check_file_name, safe_relative_path
from registry.resolver.commit import CommitOperations, Files, revision_of
from registry.resolver.handles import CatalogHandle
from registry.resolver.publish import check_target, new_staging, publish
from registry.resolver.request import UploadRequest
from registry.trust.signatures import SIGNATURE_FILE
from web.api import common
from web.api.hf import commit_of
from web.api.hub_errors import HubError
from web.api.json_body import read_json
from web.api.ndjson import CommitBody
from web.auth import Principal, PrincipalDep
from web.receive import body_batches
from web.services import Services, ServicesDep

router = APIRouter(tags=["huggingface"])
REGULAR_MAX = 10 << 20  # text files up to this size travel inside the commit
_TEXT_SUFFIXES = frozenset({".json", ".txt", ".md", ".yaml", ".yml"})
_TEXT_NAMES = frozenset({".gitattributes", "LICENSE", "NOTICE"})
_PARENT = re.compile(r"^[0-9a-f]{5,40}$")
_MOVED = "A commit has happened since. Please refresh and try again."


# === Preupload ===


def upload_mode(path: str, size: int, sample: bytes) -> str:
    """`regular` for small text files (sent in the commit), `lfs` for the rest."""
    name = PurePosixPath(path)
    text = name.suffix in _TEXT_SUFFIXES or name.name in _TEXT_NAMES
    return (
        "regular" if size == 0 or (text and size <= REGULAR_MAX and b"\0" not in sample) else "lfs"
    )


def _ignored(path: str) -> bool:
    if path == SIGNATURE_FILE:  # the files' signature: checked and attached by `publish`
        return False
    try:
        check_file_name(safe_relative_path(path))
    except UnsafePresetError:
        return True
    return False


def _git_sha1(svc: Services, sha256: str, size: int) -> str | None:
    if size > REGULAR_MAX:
        return None
    data = svc.resolver.store.ensure_blob(sha256).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _answer(svc: Services, held: Manifest | None, item: Any) -> dict[str, Any]:
    item = item if isinstance(item, dict) else {}
    path, size = str(item.get("path", "")), item.get("size")
    try:
        sample = base64.b64decode(str(item.get("sample", "")))
    except binascii.Error:
        sample = b"\0"
    mode = upload_mode(path, size if isinstance(size, int) else REGULAR_MAX + 1, sample)
    entry = next((f for f in held.files if f.path == path), None) if held else None
    oid = None
    if entry is not None:
        oid = entry.sha256 if mode == "lfs" else _git_sha1(svc, entry.sha256, entry.size)
    return {"path": path, "uploadMode": mode, "shouldIgnore": _ignored(path), "oid": oid}


def _preupload(
    svc: Services, who: Principal, namespace: str, name: str, rev: str, body: Any
) -> dict[str, Any]:
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list) or len(files) > 1000:
        raise InvalidNameError('The preupload body is {"files": [...]}, at most 1000 of them.')
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = common.writable_preset(session, who, namespace, name)
        alias = find_alias(session, preset, rev)
        held = revision_manifest(alias.revision) if alias is not None else None
    return {"files": [_answer(svc, held, item) for item in files]}


@router.post("/api/models/{namespace}/{name}/preupload/{rev:path}", summary="Upload modes")
async def preupload(
    namespace: str, name: str, rev: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> dict[str, Any]:
    """How each file of a coming commit travels, and what the branch holds there."""
    body = await read_json(request)
    return await run_in_threadpool(_preupload, svc, who, namespace, name, rev, body)


# === Commit ===


@dataclass(frozen=True)
class _Target:
    handle: CatalogHandle
    alias: str
    head: str | None  # the branch's revision when the commit began


def _target(svc: Services, who: Principal, namespace: str, name: str, rev: str) -> _Target:
    full = f"{namespace}/{name}"
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = common.writable_preset(session, who, namespace, name)
        alias = find_alias(session, preset, rev)
        if alias is None and alias_name(rev) != LATEST:
            raise RevisionNotFoundError(
                f"Invalid rev id: {rev}: {full} has no branch {rev!r}; create it first "
                "(`create_branch`)."
            )
        if alias is not None and alias.kind == "tag":
            raise HubError(None, f"{rev} is a tag of {full}; commit to a branch.", 400)
        head = alias.revision.digest if alias is not None else None
    return _Target(CatalogHandle(namespace, name), alias_name(rev), head)


class _Commit:
    """One commit being received: its header, then its operations (see the module)."""

    def __init__(self, svc: Services, who: Principal, target: _Target) -> None:
        self.svc, self.who, self.target = svc, who, target
        self.staging = new_staging(svc.resolver, svc.limits)
        self.operations = CommitOperations(svc.resolver.store, self.staging)
        self.request: UploadRequest | None = None
        self.parent: str | None = None  # the header's parentCommit

    def authorize(self, preset: Preset | None) -> None:
        self.who.authorize_upload(self.target.handle.namespace, preset)

    def on_line(self, line: dict[str, Any], streamed: Any) -> None:
        key, value = line.get("key"), line.get("value")
        if not isinstance(value, dict):
            raise InvalidNameError(f"The commit's {key!r} line has no `value` object.")
        if self.request is None:
            self._header(key, value)
            return
        if streamed is not None and (key != "file" or value.get("content") != ""):
            raise InvalidNameError("Only a file's base64 `content` may be long.")
        path = str(value.get("path", ""))
        if key == "file":
            self._file(path, value, streamed)
        elif key == "lfsFile":
            self.operations.add_object(path, str(value.get("oid", "")).lower(), value.get("size"))
        elif key == "deletedFile":
            self.operations.delete_file(path)
        elif key == "deletedFolder":
            self.operations.delete_folder(path)
        else:
            raise InvalidNameError(f"The commit operation {key!r} is not one this server knows.")

    def _header(self, key: Any, value: dict[str, Any]) -> None:
        if key != "header":
            raise InvalidNameError("A commit's first line is its header.")
        parent = value.get("parentCommit")
        if parent is not None and not (isinstance(parent, str) and _PARENT.match(parent)):
            raise InvalidNameError(f"parentCommit {parent!r} is not 5 to 40 hex digits.")
        summary, description = str(value.get("summary", "")), str(value.get("description", ""))
        message = summary + (f"\n\n{description}" if description.strip() else "")
        owner = self.who.owner or ""
        request = UploadRequest.build(
            self.target.handle, owner=owner, alias=self.target.alias, message=message
        )
        check_target(self.svc.resolver, request, self.authorize)
        self.request, self.parent = request, parent

    def _file(self, path: str, value: dict[str, Any], streamed: Any) -> None:
        if value.get("encoding", "base64") != "base64":
            raise InvalidNameError(f"{path}: file contents come base64-encoded.")
        if streamed is None:
            streamed = self.operations.spool()
            try:
                streamed.write(base64.b64decode(str(value.get("content", "")), validate=True))
            except binascii.Error as error:
                raise InvalidNameError(f"{path}: the content is not base64 ({error}).") from error
        self.operations.add_file(path, streamed)

    # === The result ===

    def _manifest(self, digest: str | None) -> Manifest | None:
        if digest is None:
            return None
        handle = self.target.handle
        return common.revision(self.svc, self.who, handle.namespace, handle.name, digest).manifest

    def _base(self) -> str | None:
        """The revision the operations apply to: `parentCommit`'s, else the head."""
        if self.parent is None:
            return self.target.head
        full = self.target.handle.full_name
        with self.svc.resolver.catalog.transaction(write=False) as session:
            preset = find_preset(session, full, viewer=EVERYONE)
            if preset is None:
                raise common.not_found(self.target.handle.namespace, self.target.handle.name)
            digests = session.scalars(
                select(Revision.digest).where(
                    Revision.preset_id == preset.id, Revision.digest.startswith(self.parent)
                )
            ).all()
        if len(digests) != 1:
            raise HubError(None, f"parentCommit {self.parent} is not one commit of {full}.", 412)
        return digests[0]

    def _repeats_head(self) -> bool:
        """Whether the operations, applied to the head's own parent, give the head:
        this commit was made already (its answer was lost, and it is sent again)."""
        head = self.target.head
        if head is None:
            return False
        with self.svc.resolver.catalog.transaction(write=False) as session:
            preset = find_preset(session, self.target.handle.full_name, viewer=EVERYONE)
            steps = history(session, preset, head, limit=1) if preset is not None else []
        previous = steps[0].parent if steps else None
        try:
            return (
                previous is not None
                and revision_of(self.operations.apply(self._manifest(previous))) == head
            )
        except EntryNotFoundError:
            return False

    def finish(self) -> str:
        """Publish the commit's tree (unless it is the head already); its revision.

        Raises:
            HubError: 412, the branch moved since the commit's parent.
            RegistryError: the tree is refused, as any upload would be.
        """
        if self.request is None:
            raise InvalidNameError("The commit body has no header line.")
        head, base = self.target.head, self._base()
        try:
            files: Files = self.operations.apply(self._manifest(base))
        except EntryNotFoundError:
            if self.parent is None and head is not None and self._repeats_head():
                return head
            raise
        result = revision_of(files)
        if result == head:
            return result
        if base != head:
            raise HubError(None, _MOVED, 412)
        self.operations.stage(files)
        still = functools.partial(self._still, base=base, result=result)
        published = publish(self.svc.resolver, self.staging, self.request, authorize=still)
        return published.resolved.digest

    def _still(self, preset: Preset | None, base: str | None, result: str) -> None:
        """In the transaction that records the commit: the branch is where it was
        (or already at the result), its row locked until the move."""
        if preset is None:
            raise PresetNotFoundError(
                f"{self.target.handle.full_name} was deleted while the commit was received."
            )
        self.authorize(preset)
        session = object_session(preset)
        if session is None:  # publish hands over a row of its transaction
            raise PresetNotFoundError(f"{self.target.handle.full_name} is not in the catalog.")
        head = session.scalar(
            select(Revision.digest)
            .join(Alias, Alias.revision_id == Revision.id)
            .where(Alias.preset_id == preset.id, Alias.name == self.target.alias)
            .with_for_update(of=Alias)
        )
        if head not in (base, result):
            raise HubError(None, _MOVED, 412)

    def close(self) -> None:
        self.operations.close()
        shutil.rmtree(self.staging.directory, ignore_errors=True)


@router.post("/api/models/{namespace}/{name}/commit/{rev:path}", summary="Commit (Hub protocol)")
async def commit(
    namespace: str,
    name: str,
    rev: str,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    create_pr: str | None = None,
) -> dict[str, Any]:
    """Apply an NDJSON commit to a branch; the new revision's commit id."""
    if create_pr not in (None, "", "0", "false"):
        raise HubError(None, "This registry has no pull requests; commit to a branch.", 400)
    target = await run_in_threadpool(_target, svc, who, namespace, name, rev)
    receiving = await run_in_threadpool(_Commit, svc, who, target)
    try:
        lines = 2 * svc.limits.max_files + 16
        body = CommitBody(receiving.on_line, receiving.operations.spool, max_lines=lines)
        async for chunk in body_batches(request):
            await run_in_threadpool(body.feed, chunk)
        await run_in_threadpool(body.close)
        digest = await run_in_threadpool(receiving.finish)
    finally:
        await run_in_threadpool(receiving.close)
    svc.cache.changed()
    oid = commit_of(digest)
    base = str(request.base_url).rstrip("/")
    url = f"{base}/{namespace}/{name}/commit/{oid}"
    return {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None}
