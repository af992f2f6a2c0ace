"""`Registry`: the one facade for Python users (see `registry.client`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from registry import lockfile
from registry.catalog.queries import SearchFilters
from registry.client.backend import Backend
from registry.config import Settings, sqlite_url
from registry.errors import (
    AuthenticationError,
    ChecksumMismatchError,
    RegistryError,
    SignatureError,
)
from registry.records import (
    AliasOut,
    NewToken,
    PresetDetail,
    SearchPage,
    SignatureIn,
    SignatureInfo,
    SigningKeyIn,
    SigningKeyInfo,
    TokenInfo,
    Uploaded,
    WhoAmI,
)
from registry.resolver.handles import CatalogHandle, parse_handle
from registry.resolver.names import RecordedName
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolved, Verify
from registry.resolver.store import GcReport
from registry.trust import signatures
from registry.trust.trusted import trust_problems
from registry.xet.cas import XorbStore

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone
    from registry.architectures.causal_lm import CausalLM


Keys = Sequence[str | os.PathLike[str]]  # public key files
Task = Literal["backbone", "causal_lm"]
TASKS: tuple[Task, ...] = ("backbone", "causal_lm")


@dataclasses.dataclass(frozen=True)
class Exported:
    """A revision written out by `Registry.export`: its files and, if it is
    signed, `model.sig` (the signature by key `signature`)."""

    path: Path
    preset: str
    digest: str
    files: int
    signature: str | None  # the signing key's fingerprint; None: written unsigned


def _trusted(keys: Keys) -> dict[str, bytes | None]:
    """fingerprint -> PEM of the public keys (files) a user trusts."""
    pems = [signatures.load_public_key(Path(key)) for key in keys]
    return {signatures.fingerprint_of(pem): pem for pem in pems}


def _catalog_handle(name: str) -> CatalogHandle:
    handle = parse_handle(name)
    if not isinstance(handle, CatalogHandle):
        raise RegistryError(f"{name!r} is not a catalog preset name (namespace/name).")
    return handle


class Registry:
    """A registry of Keras presets: the embedded catalog on this machine, or a server's.

    Args:
        url: a registry server to use instead of the embedded catalog
            (`REGISTRY_URL`): search, info, upload, alias and delete go to its
            API; loads download its files into this machine's store (a cache)
            and verify them like any other.
        db_url: the catalog database (default `REGISTRY_DB_URL`, else SQLite
            under `REGISTRY_HOME`).
        cache_dir: where the catalog and store live (default `REGISTRY_HOME`).
        token: an API token for a server (`REGISTRY_TOKEN`).
        offline: never touch the network (`REGISTRY_OFFLINE`).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        db_url: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        token: str | None = None,
        offline: bool = False,
    ) -> None:
        settings = Settings.from_env()
        if cache_dir is not None:
            home = Path(cache_dir)
            settings = dataclasses.replace(
                settings, home=home, db_url=sqlite_url(home / "catalog.db")
            )
        settings = dataclasses.replace(
            settings,
            db_url=db_url or settings.db_url,
            url=url or settings.url,
            token=token or settings.token,
            offline=offline or settings.offline,
        )
        self.settings = settings
        self.backend: Backend = _backend_for(settings)
        self.resolver = self.backend.resolver

    def __repr__(self) -> str:
        return f"Registry({self.backend.describe()})"

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # === Loading ===

    @overload
    def load(
        self,
        name_or_handle: str,
        *,
        task: Literal["backbone"] = ...,
        revision: str | None = ...,
        load_weights: bool = ...,
        dtype: Any = ...,
        verify: Verify = ...,
    ) -> Backbone: ...

    @overload
    def load(
        self,
        name_or_handle: str,
        *,
        task: Literal["causal_lm"],
        revision: str | None = ...,
        load_weights: bool = ...,
        dtype: Any = ...,
        verify: Verify = ...,
    ) -> CausalLM: ...

    def load(
        self,
        name_or_handle: str,
        *,
        task: Task = "backbone",
        revision: str | None = None,
        load_weights: bool = True,
        dtype: Any = None,
        verify: Verify = "fast",
    ) -> Backbone | CausalLM:
        """A ready model, its files verified against the recorded digests.

        Args:
            name_or_handle: a catalog name, `kaggle://`, `hf://` or a directory.
            task: "backbone" (the default), or "causal_lm": the backbone with
                its tokenizer and language-model head, which generates text
                (`GPT2CausalLM`, `LlamaCausalLM`, `GemmaCausalLM`).
            revision: an alias or a revision digest (prefix) of a catalog preset.
            load_weights: load the weights (else fresh ones).
            dtype: override the preset's dtype (e.g. "bfloat16").
            verify: "fast" (size, mtime, inode since the last full hash), "full"
                (rehash every file) or False.

        Raises:
            UnsupportedArchitectureError: `task="causal_lm"` on a preset of an
                architecture with no causal LM (BERT).
            ValueError: an unknown `task`.

        Example:
            ```python
            backbone = Registry().load("gpt2_tiny_demo", verify="full")
            lm = Registry().load("gpt2_tiny_demo", task="causal_lm")
            lm.generate("The registry", max_length=20)
            ```
        """
        from registry.resolver.load import load_backbone, load_causal_lm

        if task not in TASKS:
            raise ValueError(
                f"Unknown task {task!r}; use one of {list(TASKS)}. Received: task={task!r}"
            )
        target = f"{name_or_handle}@{revision}" if revision else name_or_handle
        overrides = {"dtype": dtype} if dtype is not None else {}
        model: Backbone | CausalLM
        if task == "causal_lm":
            from registry.architectures.causal_lm import CausalLM

            model = load_causal_lm(
                target, cls=CausalLM, load_weights=load_weights, overrides=overrides,
                verify=verify, resolver=self.resolver,
            )  # fmt: skip
        else:
            from registry.architectures.backbone import Backbone

            model = load_backbone(
                target, cls=Backbone, load_weights=load_weights, overrides=overrides,
                verify=verify, resolver=self.resolver,
            )  # fmt: skip
        self._count_download(target)
        return model

    def _count_download(self, target: str) -> None:
        handle = parse_handle(target)
        if isinstance(handle, CatalogHandle):
            self.backend.record_download(handle)

    def sync(self, name_or_handle: str, *, force: bool = False, full: bool = False) -> Resolved:
        """Bring a preset into the store (fetching it if needed) and verify it."""
        return self.resolver.resolve(name_or_handle, force=force, verify="full" if full else "fast")

    # === Publishing ===

    def upload(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        description: str | None = None,
        tags: tuple[str, ...] | list[str] = (),
        private: bool | None = None,
        alias: str = "latest",
        message: str = "",
        license: str | None = None,
        base_model: str | None = None,
    ) -> Uploaded:
        """Publish a preset directory (or a .tar/.tar.gz/.zip of one) as a new
        immutable revision of `name` (a bare name goes in your own namespace).

        The target and fields are checked first (tags are lowercased), then the
        preset is validated (an allowed architecture, a config that builds,
        weights whose every shape fits it); identical files give the same
        revision, stored once. `alias` moves only after everything is recorded.
        With a server, the files are sent to it (a write token is needed).
        `base_model` names the preset it was fine-tuned from (`namespace/name`);
        when None, the `base_model` of the card's front matter (`README.md`) is
        taken, else the preset keeps the one it has.

        Example:
            ```python
            Registry().upload("./my_gpt2", "team/my_gpt2", tags=["gpt2"], private=True)
            Registry().upload("./summarizer", "team/summarizer", base_model="keras/gpt2_base_en")
            ```
        """
        owner = self.whoami().owner
        if owner is None:
            raise AuthenticationError(
                f"Uploading to {self.settings.url} needs a token with write scope: set "
                "REGISTRY_TOKEN (the server's operator creates one with "
                "`registry token create --scope write`)."
            )
        request = UploadRequest.build(
            _upload_handle(name, owner),
            owner=owner,
            description=description,
            tags=tags,
            private=private,
            alias=alias,
            message=message,
            license=license,
            base_model=base_model,
        )
        return self.backend.upload(Path(path).resolve(), request)

    def delete(self, name: str) -> None:
        """Remove a preset, its revisions and aliases from the catalog (owners only
        on a server). Its blobs stay until `registry gc` finds nothing refers to them."""
        self.backend.delete(_catalog_handle(name))

    def alias(self, name: str, alias: str, revision: str) -> AliasOut:
        """Point `alias` of preset `name` at `revision` (a digest or its prefix, or an alias)."""
        return self.backend.alias(_catalog_handle(f"{name}@{revision}"), alias, revision)

    def whoami(self) -> WhoAmI:
        """Who this registry acts as: this machine's user, or the server token's owner."""
        return self.backend.whoami()

    # === The catalog ===

    def search(
        self,
        query: str = "",
        *,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 20,
        **filters: Any,
    ) -> SearchPage:
        """Search the catalog; filters are those of `SearchFilters`."""
        return self.backend.search(
            query, filters=SearchFilters(**filters), sort=sort, page=page, per_page=per_page
        )

    def info(self, name: str) -> PresetDetail:
        """A preset with its revisions, aliases and files."""
        return self.backend.info(_catalog_handle(name))

    def recorded(self, name: str) -> RecordedName | None:
        """Which revision the server last said `name` (`ns/name[@alias]`) means, and
        when: what resolves it offline. None without a server, or never resolved."""
        names = self.resolver.names
        return names.lookup(_catalog_handle(name)) if names is not None else None

    # === Checksums ===

    def verify(
        self, name: str | None = None, *, full: bool = False, keys: Keys = ()
    ) -> lockfile.LockReport:
        """Check stored presets against their recorded digests: `name`, or every
        revision the store holds when None. With `keys` (public key files), each
        revision must also carry a signature by one of them that covers exactly
        its files (`report.unsigned` says why not).

        Example:
            ```python
            report = Registry().verify("team/my_gpt2", keys=["alice.pub.pem"])
            report.ok, report.mismatches, report.unsigned
            ```
        """
        trusted = _trusted(keys)
        if name is not None:
            targets = [self.resolver.resolve(name, verify=False)]
        else:
            targets = self._stored_revisions()
        mismatches: list[lockfile.LockMismatch] = []
        unsigned: list[str] = []
        for target in targets:
            try:
                self.resolver.check(target, full=full)
            except ChecksumMismatchError as error:
                preset, _, file = error.path.partition(": ")
                mismatches.append(lockfile.LockMismatch(preset, file, error.expected, error.actual))
            if trusted:
                unsigned += self._trust_problems(target, trusted)
        if full and self.resolver.store.bucket is not None:
            # A server's side: the bucket's objects against their names too.
            digests = None if name is None else {t.digest for t in targets}
            for label, entry, actual in self.resolver.check_bucket(digests):
                mismatches.append(
                    lockfile.LockMismatch(f"{label} (bucket)", entry.path, entry.sha256, actual)
                )
        return lockfile.LockReport(
            checked=len(targets), mismatches=tuple(mismatches), unsigned=tuple(unsigned)
        )

    def _trust_problems(self, target: Resolved, trusted: dict[str, bytes | None]) -> list[str]:
        label = f"{target.preset}@{target.digest[:12]}"
        return trust_problems(label, target.manifest, self._signatures_of(target), trusted)

    def _signatures_of(self, target: Resolved) -> list[SignatureInfo]:
        namespace, slash, name = target.preset.partition("/")
        if not slash:
            return []  # a stored revision no catalog here names
        return self.backend.signatures(CatalogHandle(namespace, name, target.digest))

    def _stored_revisions(self) -> list[Resolved]:
        """Every revision tree in the store, named after its preset when known."""
        store = self.resolver.store
        names = self.backend.preset_names()
        stored = []
        for digest in sorted(store.digests()):
            manifest = store.load_manifest(digest)
            tree = store.tree_path(digest)
            if manifest is not None and tree.is_dir():
                stored.append(Resolved(names.get(digest, digest[:12]), digest, tree, manifest))
        return stored

    def gc(self, *, grace_s: float = 3600, max_bytes: int | None = None) -> GcReport:
        """Remove from the store every revision the catalog no longer records, and
        stale temporary files; with `max_bytes`, also evict the least recently used
        synced revisions until the store fits. Xet xorbs a server received and
        no upload has used for a week go too (see `registry.xet.cas`). With
        `REGISTRY_BLOB_URL`, the bucket's blobs no revision names (older than
        `grace_s`), its stale multipart uploads and its xorbs uploaded more
        than a week ago go as well."""
        report = self.resolver.gc(grace_s=grace_s, max_bytes=max_bytes)
        xorbs, xorb_bytes = XorbStore(self.resolver.store).gc()
        return dataclasses.replace(report, xorbs=xorbs, xorb_bytes=xorb_bytes)

    def lock(
        self,
        names: list[str],
        path: str | os.PathLike[str] = "presets.lock",
        *,
        trust_keys: Keys = (),
    ) -> Path:
        """Pin presets to their current revisions in a lock file; return its path.
        With `trust_keys` (public key files), their fingerprints are pinned too,
        and `verify_lock` then needs each revision signed by one of them; every
        preset must be so signed already.

        Raises:
            SignatureError: a preset has no valid signature by a trusted key.
        """
        trusted = _trusted(trust_keys)
        pinned, problems = [], []
        for name in names:
            resolved = self.resolver.resolve(name, verify="fast")
            pinned.append(
                lockfile.LockedPreset(resolved.preset, resolved.digest, resolved.manifest.files)
            )
            if trusted:
                problems += self._trust_problems(resolved, trusted)
        if problems:
            raise SignatureError(
                f"Not pinning keys that do not sign what is locked: {'; '.join(problems)}. "
                "Sign the revisions (`registry sign NAME --key PRIVATE.pem`) or trust their keys."
            )
        target = Path(path)
        lockfile.write(target, pinned, tuple(trusted))
        return target

    def verify_lock(
        self, path: str | os.PathLike[str], *, full: bool = False
    ) -> lockfile.LockReport:
        """Check that every pinned revision is present (syncing it unless offline)
        and that every file matches the lock; if the lock pins trusted keys, that
        each revision carries a signature by one of them covering exactly its files."""
        lock = lockfile.read_lock(Path(path))
        trusted: dict[str, bytes | None] = dict.fromkeys(lock.trusted_keys)
        mismatches: list[lockfile.LockMismatch] = []
        missing: list[str] = []
        unsigned: list[str] = []
        for preset in lock.presets:
            try:
                resolved = self.resolver.resolve(
                    f"{preset.name}@{preset.revision}", verify="full" if full else "fast"
                )
            except ChecksumMismatchError as error:
                path_part = error.path.split(": ", 1)[-1]
                mismatches.append(
                    lockfile.LockMismatch(preset.name, path_part, error.expected, error.actual)
                )
                continue
            except RegistryError as error:
                missing.append(f"{preset.name}@{preset.revision[:12]}: {error}")
                continue
            mismatches += lockfile.compare(preset, resolved.manifest)
            if trusted:
                try:
                    unsigned += self._trust_problems(resolved, trusted)
                except RegistryError as error:
                    missing.append(f"{preset.name}@{preset.revision[:12]}: signatures: {error}")
        return lockfile.LockReport(
            checked=len(lock.presets),
            mismatches=tuple(mismatches),
            missing=tuple(missing),
            unsigned=tuple(unsigned),
        )

    # === Signatures ===

    def sign(
        self, name: str, *, key: str | os.PathLike[str], password: str | None = None
    ) -> SignatureInfo:
        """Sign a revision (`name[@ref]`, latest by default) with an elliptic-curve
        private key and attach the signature; with a server, only the signature
        and the public key are sent. The revision and its id do not change; a
        revision may carry signatures by several keys (the same key again
        replaces its own).

        The signature is OpenSSF model-signing's (a sigstore bundle over every
        file's sha256), built from the recorded digests: no file is read.

        Raises:
            SignatureError: the key cannot sign (not an EC key, wrong password).

        Example:
            ```python
            Registry().sign("team/my_gpt2", key="alice.pem")
            ```
        """
        handle = _catalog_handle(name)
        manifest = self.backend.revision_manifest(handle)
        bundle = signatures.sign(manifest, handle.name, Path(key), password)
        public = signatures.load_public_key(Path(key), password)
        pinned = CatalogHandle(handle.namespace, handle.name, manifest.revision_id)
        body = SignatureIn(bundle=bundle.decode(), public_key=public.decode())
        return self.backend.attach_signature(pinned, body)

    def signatures(self, name: str) -> list[SignatureInfo]:
        """The signatures of a revision (`name[@ref]`, latest by default), each
        checked by the catalog that lists it (`verified`, `problems`)."""
        return self.backend.signatures(_catalog_handle(name))

    def register_key(self, name: str, public_key: str | os.PathLike[str]) -> SigningKeyInfo:
        """Register a public key (a PEM file) under a name, so pages say who signed."""
        pem = signatures.load_public_key(Path(public_key))
        return self.backend.register_key(SigningKeyIn(name=name, public_key=pem.decode()))

    def export(
        self,
        name: str,
        directory: str | os.PathLike[str],
        *,
        key: str | os.PathLike[str] | None = None,
    ) -> Exported:
        """Write a revision's files, and its signature as `model.sig`, into a new
        directory: what the stock `model_signing verify key DIR --signature
        DIR/model.sig --public_key K` checks, and what an air-gapped machine is
        given. Works offline from the store (and the signatures seen before).

        Args:
            name: `name[@ref]`; latest by default.
            directory: where to write; it must not exist or be empty.
            key: the public (or private) key whose signature to write; default:
                the first valid one. Without any, the files are written unsigned.

        Raises:
            SignatureError: `key` has signed no valid signature of the revision.

        Example:
            ```python
            Registry().export("team/my_gpt2", "out/my_gpt2", key="alice.pub.pem")
            ```
        """
        target = Path(directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise RegistryError(
                f"{target} exists and is not empty; export into a new directory (a copy must "
                "hold only the revision's files, or model-signing's check fails)."
            )
        resolved = self.resolver.resolve(name, verify="fast")
        chosen = self._chosen_signature(resolved, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for entry in resolved.manifest.files:
                (scratch / entry.path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(resolved.path / entry.path, scratch / entry.path)
            if chosen is not None:
                (scratch / signatures.SIGNATURE_FILE).write_text(chosen.bundle, encoding="utf-8")
            if target.exists():
                target.rmdir()
            scratch.replace(target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        fingerprint = chosen.fingerprint if chosen is not None else None
        return Exported(
            target, resolved.preset, resolved.digest, len(resolved.manifest.files), fingerprint
        )

    def _chosen_signature(
        self, resolved: Resolved, key: str | os.PathLike[str] | None
    ) -> SignatureInfo | None:
        listed = self._signatures_of(resolved)
        if key is None:
            valid = [info for info in listed if not self._trust_problems_of(resolved, info)]
            return valid[0] if valid else None
        trusted = _trusted([key])
        problems = trust_problems(resolved.preset, resolved.manifest, listed, trusted)
        if problems:
            raise SignatureError(
                f"{'; '.join(problems)}. Sign it (`registry sign {resolved.preset}@"
                f"{resolved.digest[:12]} --key PRIVATE.pem`), or export another key's signature."
            )
        (fingerprint,) = trusted
        return next(info for info in listed if info.fingerprint == fingerprint)

    def _trust_problems_of(self, resolved: Resolved, info: SignatureInfo) -> list[str]:
        own = {info.fingerprint: None}
        return trust_problems(resolved.preset, resolved.manifest, [info], own)

    # === Tokens (for a server's operator: the catalog `registry serve` serves) ===

    def create_token(
        self, *, scope: str = "read", name: str = "", owner: str | None = None
    ) -> NewToken:
        """Create an API token; its secret is in the result, and nowhere else."""
        return self.backend.create_token(owner=owner, scope=scope, name=name)

    def tokens(self, owner: str | None = None) -> list[TokenInfo]:
        """`owner`'s tokens (default: this machine's user), never their secrets."""
        return self.backend.tokens(owner)

    def revoke_token(self, token_id: int, *, owner: str | None = None) -> None:
        """Revoke a token: it stops working at once."""
        self.backend.revoke_token(token_id, owner)


def _backend_for(settings: Settings) -> Backend:
    """The embedded catalog, or the server `settings.url` names: chosen once."""
    if settings.url:
        from registry.client.remote import RemoteBackend

        return RemoteBackend(settings)
    from registry.client.local import LocalBackend

    return LocalBackend(settings)


def _upload_handle(name: str, owner: str) -> CatalogHandle:
    handle = parse_handle(name if "/" in name else f"{owner}/{name}")
    if not isinstance(handle, CatalogHandle) or handle.ref is not None:
        raise RegistryError(f"{name!r} is not a preset name (namespace/name) to upload to.")
    return handle
