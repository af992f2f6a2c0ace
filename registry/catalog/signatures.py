"""Signatures of revisions, and the names of the keys that make them.

A revision carries any number of signatures, one per key (signing the same
revision with the same key again replaces the signature). A signature is
checked against its public key and the revision's recorded files before it is
stored, and checked again whenever it is listed, so what a page or a client is
told ("verified") is what the bytes in the catalog say now. Signing never
changes a revision or its id.

Functions take a session and never commit, like `registry.catalog.service`.

```python
attach_signature(session, revision, bundle, public_pem, signer="alice")
signatures_of(session, [revision])      # -> [SignatureInfo(verified=True, ...)]
register_key(session, "alice's laptop", public_pem, owner="alice")
```
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.catalog.generation import mark_changed
from registry.catalog.models import Revision, Signature, SigningKey
from registry.catalog.queries import revision_manifest
from registry.errors import PermissionDeniedError, SignatureError
from registry.records import SignatureInfo, SigningKeyInfo
from registry.trust.signatures import check, fingerprint_of, public_key_pem, signer_fingerprint


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _label(revision: Revision) -> str:
    return f"{revision.preset.namespace}/{revision.preset.name}@{revision.digest[:12]}"


def check_signature(revision: Revision, bundle: bytes, public_pem: bytes) -> str:
    """Check that `bundle` is a valid signature by `public_pem` covering exactly
    the revision's recorded files; return the key's fingerprint.

    Raises:
        SignatureError: not a bundle, not by this key, not valid, or it does not
            cover exactly the revision's files (the message lists which).
    """
    pem = public_key_pem(public_pem)
    fingerprint = fingerprint_of(pem)
    named = signer_fingerprint(bundle)
    if named != fingerprint:
        raise SignatureError(
            f"The signature of {_label(revision)} names key {named[:16]}, not the key given "
            f"({fingerprint[:16]}). Send the public key of the private key that signed."
        )
    result = check(bundle, revision_manifest(revision), pem)
    if not result.ok:
        raise SignatureError(
            f"The signature by key {fingerprint[:16]} does not cover exactly the files of "
            f"{_label(revision)}: {'; '.join(result.problems())}. It was made for other "
            f"files; sign this revision (`registry sign {_label(revision)} --key KEY`)."
        )
    return fingerprint


def attach_signature(
    session: Session,
    revision: Revision,
    bundle: bytes,
    public_pem: bytes,
    *,
    signer: str | None = None,
) -> Signature:
    """Check a signature (see `check_signature`), then store it on `revision`,
    replacing that key's earlier signature of it.

    Raises:
        SignatureError: the signature does not verify for this key and revision.
    """
    fingerprint = check_signature(revision, bundle, public_pem)
    fields = {
        "public_key": public_key_pem(public_pem).decode(),
        "bundle": bundle.decode(),
        "signer": signer,
        "created_at": _now(),
    }
    row = _signature(session, revision, fingerprint)
    if row is None:
        try:
            with session.begin_nested():
                row = Signature(revision_id=revision.id, fingerprint=fingerprint, **fields)
                session.add(row)
        except IntegrityError:  # the same key's signature attached a moment ago
            row = _signature(session, revision, fingerprint)
            if row is None:
                raise
    for key, value in fields.items():
        setattr(row, key, value)
    session.flush()
    mark_changed(session)
    return row


def _signature(session: Session, revision: Revision, fingerprint: str) -> Signature | None:
    return session.scalar(
        select(Signature).where(
            Signature.revision_id == revision.id, Signature.fingerprint == fingerprint
        )
    )


def signatures_of(session: Session, revisions: Iterable[Revision]) -> list[SignatureInfo]:
    """The signatures of `revisions` (oldest first within each), each checked now."""
    by_id = {revision.id: revision for revision in revisions}
    if not by_id:
        return []
    rows = session.execute(
        select(Signature, SigningKey)
        .outerjoin(SigningKey, SigningKey.fingerprint == Signature.fingerprint)
        .where(Signature.revision_id.in_(by_id))
        .order_by(Signature.revision_id, Signature.created_at, Signature.id)
    ).all()
    return [_info(by_id[signature.revision_id], signature, key) for signature, key in rows]


def _info(revision: Revision, signature: Signature, key: SigningKey | None) -> SignatureInfo:
    problems: tuple[str, ...] = ()
    try:
        check_signature(revision, signature.bundle.encode(), signature.public_key.encode())
    except SignatureError as error:
        problems = (str(error),)
    return SignatureInfo(
        revision=revision.digest,
        fingerprint=signature.fingerprint,
        key_name=key.name if key is not None else None,
        key_owner=key.owner if key is not None else None,
        signer=signature.signer,
        created_at=signature.created_at,
        verified=not problems,
        problems=problems,
        public_key=signature.public_key,
        bundle=signature.bundle,
    )


# === Named keys ===


def register_key(
    session: Session, name: str, public_pem: bytes, *, owner: str | None = None
) -> SigningKeyInfo:
    """Register `public_pem` under `name` (its owner may rename it later).

    Raises:
        SignatureError: not an elliptic-curve public key.
        PermissionDeniedError: another owner registered this key first.
    """
    pem = public_key_pem(public_pem)
    fingerprint = fingerprint_of(pem)
    if not name.strip() or len(name) > 128:
        raise SignatureError(f"A key's name has 1 to 128 characters. Received: name={name!r}")
    key = session.get(SigningKey, fingerprint)
    if key is not None and key.owner not in (None, owner):
        raise PermissionDeniedError(
            f"Key {fingerprint[:16]} is registered by {key.owner} as {key.name!r}; only "
            f"{key.owner} may rename it."
        )
    if key is None:
        key = SigningKey(fingerprint=fingerprint, public_key=pem.decode(), created_at=_now())
        session.add(key)
    key.name, key.owner = name.strip(), owner
    session.flush()
    mark_changed(session)
    return SigningKeyInfo(
        fingerprint=fingerprint, name=key.name, owner=key.owner, created_at=key.created_at
    )


def registered_key(session: Session, fingerprint: str) -> bytes | None:
    """The PEM of the key registered with this fingerprint, if any."""
    key = session.get(SigningKey, fingerprint)
    return key.public_key.encode() if key is not None else None
