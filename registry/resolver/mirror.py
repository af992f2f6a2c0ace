"""A pull-through mirror of an upstream Hub (`REGISTRY_HF_UPSTREAM`).

What a server is asked for and does not hold, it fetches from the upstream,
verifies, stores and records, and serves from then on, also while the upstream
is down:

- a revision is looked up upstream (`/api/models/{repo}/revision/{rev}`, then
  the commit's tree listing). Commit ids are kept for good; a branch or tag is
  asked again at most every `REGISTRY_HF_REVALIDATE` seconds, and when the
  upstream cannot be reached its last known commit is served;
- only preset files are mirrored (the allow-list of a sync, `HUB_PRESET_PATTERNS`).
  A commit without a config and weights, with weights only as pickles, or
  whose JSON files fail the preset rules is refused before its weights are
  fetched; the refusal is kept, as the commit cannot change;
- each file is downloaded once (`fill.Fills`), hashed as it lands and checked
  against the digest the upstream published (the sha256 of an LFS file, the
  git blob id of a regular one) before it is stored; clients read it while it
  lands;
- once every file of a commit is stored, the commit passes the sync's checks
  and becomes a revision of the catalog preset `namespace/name` (source
  `hf://namespace/name`, kind `hf`), listed and loadable like any other.

The commits and refs the mirror learned live under `store/mirror/<repo>/`.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from registry.blobio import link_or_copy
from registry.catalog.names import BASE_MODEL, check_preset_name
from registry.catalog.queries import EVERYONE, find_preset
from registry.catalog.service import (
    PresetSpec,
    adopt_base_model,
    move_alias,
    record_revision,
    upsert_preset,
)
from registry.config import Settings
from registry.errors import (
    EntryNotFoundError,
    InvalidNameError,
    PresetFormatError,
    PresetNotFoundError,
    RegistryError,
    StoreError,
    UnsafePresetError,
    UpstreamUnavailableError,
)
from registry.preset.format import PICKLE_SUFFIXES
from registry.preset.manifest import FileEntry, Manifest
from registry.preset.validate import Limits, architecture_of, check_file_name, check_preset_files
from registry.resolver.fill import Body, Expected, Fill, Fills, Known
from registry.resolver.resolve import Resolver, synced_base_model
from registry.resolver.sources import HUB_PRESET_PATTERNS
from registry.resolver.upstream import UpstreamFile, UpstreamHub

log = logging.getLogger("registry.mirror")

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_WEIGHTS = ("model.weights.h5", "model.safetensors", "model.safetensors.index.json")
_REFUSALS: dict[str, type[PresetFormatError]] = {
    "unsafe": UnsafePresetError,
    "format": PresetFormatError,
}


def is_preset_file(path: str) -> bool:
    """Whether a sync (and so the mirror) takes this file of a Hub repository."""
    return any(fnmatch.fnmatch(path, pattern) for pattern in HUB_PRESET_PATTERNS)


def catalog_name(repo_id: str) -> tuple[str, str]:
    """The catalog preset a mirrored repository becomes: its own name where the
    catalog's rules allow it, else `hf/<namespace>-<name>` (as a sync names it)."""
    namespace, _, name = repo_id.partition("/")
    try:
        check_preset_name(namespace, name)
        return namespace, name
    except InvalidNameError:
        flat = "".join(c if c.isalnum() or c in "._-" else "-" for c in f"{namespace}-{name}")
        return "hf", flat[:128].strip("-.")


@dataclass
class MirroredCommit:
    """One upstream commit as the mirror knows it."""

    repo_id: str
    sha: str
    info: dict[str, Any]  # the upstream's model info
    files: tuple[UpstreamFile, ...]  # the preset files, the only ones mirrored
    skipped: tuple[str, ...] = ()  # the upstream's other files
    learned: dict[str, str] = field(default_factory=dict)  # sha256 of regular files
    digest: str | None = None  # the catalog revision, once every file is stored
    refused: dict[str, str] | None = None  # {"kind", "message"}: why it is no preset

    @property
    def handle(self) -> str:
        return f"hf://{self.repo_id}@{self.sha}"

    def file(self, path: str) -> UpstreamFile | None:
        return next((f for f in self.files if f.path == path), None)

    def sha256_of(self, file: UpstreamFile) -> str | None:
        return file.sha256 or self.learned.get(file.path)

    def check(self) -> MirroredCommit:
        """This commit, unless it was refused as a preset (then that error)."""
        if self.refused is not None:
            kind = _REFUSALS.get(self.refused.get("kind", ""), PresetFormatError)
            raise kind.from_message(self.refused["message"])
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id, "sha": self.sha, "info": self.info,
            "files": [f.to_json() for f in self.files], "skipped": list(self.skipped),
            "learned": self.learned, "digest": self.digest, "refused": self.refused,
        }  # fmt: skip

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> MirroredCommit:
        return cls(
            repo_id=body["repo_id"],
            sha=body["sha"],
            info=body.get("info") or {},
            files=tuple(UpstreamFile.from_json(f) for f in body["files"]),
            skipped=tuple(body.get("skipped") or ()),
            learned=dict(body.get("learned") or {}),
            digest=body.get("digest"),
            refused=body.get("refused"),
        )


class Mirror:
    """The mirror of one upstream Hub, over a resolver's store and catalog."""

    def __init__(
        self,
        resolver: Resolver,
        upstream: UpstreamHub,
        *,
        revalidate_s: float = 60.0,
        limits: Limits | None = None,
    ) -> None:
        self.resolver = resolver
        self.store = resolver.store
        self.upstream = upstream
        self.revalidate_s = revalidate_s
        self.limits = limits or Limits.from_env()
        self.root = self.store.root / "mirror"
        self.root.mkdir(parents=True, exist_ok=True)
        self.fills = Fills(self.store)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._completing: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver) -> Mirror | None:
        """The mirror `REGISTRY_HF_UPSTREAM` asks for, or None."""
        if not settings.hf_upstream:
            return None
        upstream = UpstreamHub(settings.hf_upstream, token=settings.hf_upstream_token)
        return cls(resolver, upstream, revalidate_s=settings.hf_revalidate_s)

    def close(self) -> None:
        self.fills.close()
        self.upstream.close()

    # === Commits ===

    def commit(self, repo_id: str, revision: str) -> MirroredCommit:
        """The commit `revision` (a commit id, a branch or a tag) names upstream.

        Raises:
            PresetNotFoundError, RevisionNotFoundError: the upstream has no such one.
            PresetFormatError: the commit is not a preset the registry takes.
            UpstreamUnavailableError: the upstream cannot be reached, and the
                mirror never learned what `revision` names.
        """
        _check_repo_id(repo_id)
        if _COMMIT.match(revision) and (known := self._load(repo_id, revision)) is not None:
            return known.check()  # commits never change
        with self._key_lock(f"{repo_id}@{revision}"):
            ref = None if _COMMIT.match(revision) else self._read_ref(repo_id, revision)
            fresh = ref is not None and time.time() - ref[1] < self.revalidate_s
            if ref is not None and fresh and (known := self._load(repo_id, ref[0])) is not None:
                return known.check()
            try:
                sha, info = self.upstream.commit(repo_id, revision)
            except UpstreamUnavailableError:
                if ref is not None and (known := self._load(repo_id, ref[0])) is not None:
                    log.warning(
                        "mirror: upstream unreachable; serving %s@%s as of %s",
                        repo_id, revision, time.ctime(ref[1]),
                    )  # fmt: skip
                    return known.check()
                raise
            found = self._load(repo_id, sha) or self._learn(repo_id, sha, info)
            if not _COMMIT.match(revision):
                self._write_ref(repo_id, revision, sha)
        return found.check()

    def _learn(self, repo_id: str, sha: str, info: dict[str, Any]) -> MirroredCommit:
        listing = self.upstream.tree(repo_id, sha)
        found = MirroredCommit(
            repo_id=repo_id,
            sha=sha,
            info=info,
            files=tuple(f for f in listing if is_preset_file(f.path)),
            skipped=tuple(f.path for f in listing if not is_preset_file(f.path)),
        )
        try:
            self._check_listing(found)
            self._check_json(found)
        except PresetFormatError as error:
            kind = "unsafe" if isinstance(error, UnsafePresetError) else "format"
            found.refused = {"kind": kind, "message": str(error)}
            log.warning("mirror: %s refused: %s", found.handle, error)
        self._save(found)
        return found

    def _check_listing(self, commit: MirroredCommit) -> None:
        """Refuse, from the listing alone, what cannot be a preset."""
        names = {f.path for f in commit.files}
        where = commit.handle
        if "config.json" not in names:
            raise PresetFormatError(
                where,
                "has no config.json, so it is no Keras or transformers preset; the "
                "mirror serves presets only.",
                "Ask for a repository written by keras-hub's `save_to_preset` or "
                "transformers' `save_pretrained`.",
            )
        if not names & set(_WEIGHTS):
            pickles = [p for p in commit.skipped if p.endswith(PICKLE_SUFFIXES)]
            if pickles:
                raise UnsafePresetError(
                    where,
                    f"holds its weights only as pickles ({pickles[0]}); loading a pickle can "
                    "run arbitrary code, so they are not mirrored.",
                    "Ask for (or push) a safetensors copy.",
                )
            raise PresetFormatError(
                where,
                f"has no weights file ({', '.join(_WEIGHTS)}).",
                "Ask for a repository that holds its weights.",
            )
        if len(commit.files) > self.limits.max_files:
            raise PresetFormatError(
                where, f"holds {len(commit.files)} preset files, more than "
                f"{self.limits.max_files}.", "Raise REGISTRY_MAX_FILES on the mirror.",
            )  # fmt: skip
        for file in commit.files:
            check_file_name(PurePosixPath(file.path))
            if file.size > self.limits.max_file_bytes:
                raise PresetFormatError(
                    f"{where}: {file.path}",
                    f"is {file.size} bytes, more than {self.limits.max_file_bytes}.",
                    "Raise REGISTRY_MAX_FILE_BYTES on the mirror.",
                )

    def _check_json(self, commit: MirroredCommit) -> None:
        """Fetch the commit's JSON files and check them as a sync would, before
        a byte of its weights is fetched."""
        small = [f for f in commit.files if f.path.endswith(".json")]
        with self._staged(commit, small) as directory:
            try:
                check_preset_files(directory)
                architecture_of(directory)
            except PresetFormatError as error:
                raise _relabelled(error, directory, commit.handle) from error

    # === Files ===

    def file(self, commit: MirroredCommit, path: str) -> UpstreamFile:
        """The preset file `path` of `commit`.

        Raises:
            EntryNotFoundError: no such file, or one the mirror does not take.
        """
        found = commit.file(path)
        if found is not None:
            return found
        if path in commit.skipped:
            raise EntryNotFoundError(
                f"{path} of {commit.repo_id}@{commit.sha} is not mirrored: the mirror takes "
                f"preset files only ({', '.join(HUB_PRESET_PATTERNS)})."
            )
        raise EntryNotFoundError(f"{path} does not exist in {commit.repo_id}@{commit.sha}.")

    def stored(self, commit: MirroredCommit, file: UpstreamFile) -> Path | None:
        """The stored blob of a file, if the store holds it."""
        sha256 = commit.sha256_of(file)
        if sha256 is None:
            return None
        blob = self.store.ensure_blob(sha256)
        return blob if blob.is_file() else None

    def fill(self, commit: MirroredCommit, file: UpstreamFile) -> Fill:
        """The download of a file: the one under way, or a new one."""
        expected = Expected(
            label=f"{commit.repo_id}@{commit.sha}: {file.path}",
            size=file.size,
            sha256=file.sha256,
            git_oid=file.git_oid,
        )

        def opener(offset: int) -> AbstractContextManager[Body]:
            return self.upstream.open(commit.repo_id, commit.sha, file.path, offset)

        def stored() -> str | None:
            fresh = self._load(commit.repo_id, commit.sha) or commit
            blob = self.stored(fresh, file)
            return blob.name if blob is not None else None

        def learned(sha256: str) -> None:
            if file.sha256 is None:  # a regular file: its sha256 is known now
                self._learned(commit, file.path, sha256)

        return self.fills.start(expected, opener, Known(stored, learned))

    def sha256(self, commit: MirroredCommit, file: UpstreamFile) -> str:
        """A file's sha256: published (LFS files), learned, or learned now by
        storing the file (regular files, which are small)."""
        return commit.sha256_of(file) or self.ensure(commit, file)

    def ensure(self, commit: MirroredCommit, file: UpstreamFile) -> str:
        """Store a file (unless the store holds it); its sha256.

        Raises:
            UpstreamUnavailableError, ChecksumMismatchError: it could not be stored.
        """
        blob = self.stored(commit, file)
        if blob is not None:
            return blob.name
        sha256 = self.fill(commit, file).wait()
        commit.learned.setdefault(file.path, sha256)
        return sha256

    @contextmanager
    def _staged(self, commit: MirroredCommit, files: list[UpstreamFile]) -> Iterator[Path]:
        """A staging directory holding `files` (fetched if needed) as links to blobs."""
        staging = self.store.staging_dir("mirror")
        try:
            for file in files:
                target = staging / file.path
                target.parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(self.store.blob_path(self.ensure(commit, file)), target)
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # === Recording ===

    def complete_later(self, commit: MirroredCommit) -> None:
        """Store every file of `commit` and record it, in the background."""
        if commit.digest is not None or commit.refused is not None:
            return
        key = f"{commit.repo_id}@{commit.sha}"
        with self._guard:
            if key in self._completing:
                return
            self._completing.add(key)

        def run() -> None:
            try:
                self.complete(commit)
            except RegistryError as error:
                log.warning("mirror: %s is not recorded: %s", commit.handle, error)
            finally:
                with self._guard:
                    self._completing.discard(key)

        threading.Thread(target=run, name=f"mirror-{commit.sha[:12]}", daemon=True).start()

    def complete(self, commit: MirroredCommit) -> str:
        """Store every file of `commit`, check it as a sync would, record it in
        the catalog; the revision's digest.

        Raises:
            PresetFormatError: the files are no preset (the refusal is kept).
            UpstreamUnavailableError, ChecksumMismatchError: a file could not be
                fetched, or differs from its published digest (nothing recorded).
        """
        with self.store.lock(f"mirror-{commit.sha}"):
            fresh = self._load(commit.repo_id, commit.sha) or commit
            if fresh.digest is not None:
                return fresh.digest
            fresh.check()
            for file in fresh.files:  # start every download at once
                if self.stored(fresh, file) is None:
                    self.fill(fresh, file)
            with self._staged(fresh, list(fresh.files)) as directory:
                manifest = Manifest(
                    tuple(sorted(FileEntry(f.path, f.size, self.ensure(fresh, f))
                                 for f in fresh.files))
                )  # fmt: skip
                try:
                    check_preset_files(directory)
                    architecture = architecture_of(directory)
                except PresetFormatError as error:
                    self._refuse(fresh, _relabelled(error, directory, fresh.handle))
                    raise
                base_model = synced_base_model(directory, fresh.handle)
            self.store.publish_tree(manifest)
            self.store.mark_json_checked(manifest.revision_id)
            self._record(fresh, manifest, architecture, base_model)
            self._update(fresh, digest=manifest.revision_id)
        return manifest.revision_id

    def _record(
        self, commit: MirroredCommit, manifest: Manifest, architecture: str, base_model: str | None
    ) -> None:
        namespace, name = catalog_name(commit.repo_id)
        source = f"hf://{commit.repo_id}"
        main = self._read_ref(commit.repo_id, "main")
        with self.resolver.catalog.transaction() as session:
            preset = find_preset(session, f"{namespace}/{name}", viewer=EVERYONE)
            if preset is not None and preset.source != source:
                raise StoreError(
                    f"{namespace}/{name} is a preset of this registry (source "
                    f"{preset.source or 'an upload'}); {commit.handle} is served but not "
                    "recorded under its name."
                )
            if preset is None:
                description = f"Mirrored from {self.upstream.url}/{commit.repo_id}."
                preset = upsert_preset(session, PresetSpec(
                    namespace=namespace, name=name, architecture=architecture, source=source,
                    source_kind="hf", description=description,
                ))  # fmt: skip
            adopt_base_model(session, preset, base_model)
            revision, _ = record_revision(
                session, preset, manifest, message=f"mirrored from {commit.handle}"
            )
            session.flush()
            has_latest = any(alias.name == "latest" for alias in preset.aliases)
            if (main is not None and main[0] == commit.sha) or not has_latest:
                move_alias(session, preset, "latest", revision)

    def _refuse(self, commit: MirroredCommit, error: PresetFormatError) -> None:
        kind = "unsafe" if isinstance(error, UnsafePresetError) else "format"
        self._update(commit, refused={"kind": kind, "message": str(error)})

    # === The mirror's own records ===

    def _key_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _commit_path(self, repo_id: str, sha: str) -> Path:
        return self.root / repo_id / "commits" / f"{sha}.json"

    def _ref_path(self, repo_id: str, revision: str) -> Path:
        return self.root / repo_id / "refs" / f"{quote(revision, safe='')}.json"

    def _load(self, repo_id: str, sha: str) -> MirroredCommit | None:
        try:
            body = json.loads(self._commit_path(repo_id, sha).read_text(encoding="utf-8"))
            return MirroredCommit.from_json(body)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as error:
            log.warning("mirror: %s@%s: unreadable record (%s); asking again", repo_id, sha, error)
            return None

    def _save(self, commit: MirroredCommit) -> None:
        _write_json(self._commit_path(commit.repo_id, commit.sha), commit.to_json())

    def _update(self, commit: MirroredCommit, **changes: Any) -> None:
        """Change a commit's record (another process may have changed it too)."""
        with self.store.lock(f"mirror-record-{commit.sha}"):
            fresh = self._load(commit.repo_id, commit.sha) or commit
            for key, value in changes.items():
                setattr(fresh, key, value)
                setattr(commit, key, value)
            self._save(fresh)

    def _learned(self, commit: MirroredCommit, path: str, sha256: str) -> None:
        commit.learned[path] = sha256
        with self.store.lock(f"mirror-record-{commit.sha}"):
            fresh = self._load(commit.repo_id, commit.sha) or commit
            fresh.learned[path] = sha256
            self._save(fresh)

    def _read_ref(self, repo_id: str, revision: str) -> tuple[str, float] | None:
        """The commit a branch or tag named when last asked, and when that was."""
        try:
            body = json.loads(self._ref_path(repo_id, revision).read_text(encoding="utf-8"))
            return str(body["sha"]), float(body["checked_at"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def _write_ref(self, repo_id: str, revision: str, sha: str) -> None:
        _write_json(self._ref_path(repo_id, revision), {"sha": sha, "checked_at": time.time()})


def _check_repo_id(repo_id: str) -> None:
    if not BASE_MODEL.pattern.match(repo_id) or ".." in repo_id:
        raise PresetNotFoundError(
            f"{repo_id!r} is not a Hub repository id (namespace/name: {BASE_MODEL.allowed})."
        )


def _write_json(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    staged.write_text(json.dumps(body), encoding="utf-8")
    os.replace(staged, path)


def _relabelled(error: PresetFormatError, directory: Path, handle: str) -> PresetFormatError:
    """The same refusal, naming the file in the repository rather than in staging."""
    try:
        relative = Path(error.path).relative_to(directory).as_posix()
    except ValueError:
        return error
    return type(error)(f"{handle}/{relative}", error.problem, error.fix)
