"""Signatures of revisions, and named signing keys, in the JSON API.

| method and path | what |
|---|---|
| `GET /api/v1/presets/{ns}/{name}/revisions/{ref}/signatures` | its signatures, checked now |
| `POST /api/v1/presets/{ns}/{name}/revisions/{ref}/signatures` | attach one (owner's write token) |
| `POST /api/v1/keys` | register a public key under a name (write token) |

Signing happens where the private key is (`registry sign`): the client sends
the bundle and the public key, and the server checks both against the
revision's recorded files before it stores anything.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from registry.catalog.models import Revision
from registry.catalog.queries import find_preset
from registry.catalog.signatures import attach_signature, register_key, signatures_of
from registry.errors import RevisionNotFoundError
from registry.records import SignatureIn, SignatureInfo, SigningKeyIn, SigningKeyInfo
from registry.resolver.handles import CatalogHandle
from registry.resolver.resolve import pick_revision
from web.api import common
from web.api.v1 import ERRORS
from web.auth import Principal, PrincipalDep
from web.services import ServicesDep

router = APIRouter(prefix="/api/v1", tags=["signatures"], responses=ERRORS)
_REVISION = "/presets/{namespace}/{name}/revisions/{ref}/signatures"


def _revision(
    session: Session, who: Principal, namespace: str, name: str, ref: str, *, write: bool
) -> Revision:
    if write:
        preset = common.writable_preset(session, who, namespace, name)
    else:
        found = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        if found is None:
            raise common.not_found(namespace, name)
        preset = found
    revision = pick_revision(session, preset, CatalogHandle(namespace, name, ref))
    if revision is None:
        raise RevisionNotFoundError(f"{namespace}/{name} has no revision {ref!r} yet.")
    return revision


@router.get(_REVISION, response_model=list[SignatureInfo], summary="A revision's signatures")
def list_signatures(
    namespace: str, name: str, ref: str, svc: ServicesDep, who: PrincipalDep
) -> list[SignatureInfo]:
    with svc.resolver.catalog.transaction(write=False) as session:
        revision = _revision(session, who, namespace, name, ref, write=False)
        return signatures_of(session, [revision])


@router.post(
    _REVISION,
    response_model=SignatureInfo,
    status_code=201,
    summary="Attach a signature to a revision (owner only)",
    description=(
        "The body holds a model-signing bundle (what `model_signing sign key` writes to "
        "`model.sig`) and the signer's public key. The signature must be valid for the key "
        "and cover exactly the revision's files; a signature by the same key replaces the "
        "earlier one. The revision (and its id) is unchanged."
    ),
)
def attach(
    namespace: str, name: str, ref: str, body: SignatureIn, svc: ServicesDep, who: PrincipalDep
) -> Response:
    with svc.resolver.catalog.transaction() as session:
        revision = _revision(session, who, namespace, name, ref, write=True)
        row = attach_signature(
            session, revision, body.bundle.encode(), body.public_key.encode(), signer=who.owner
        )
        info = next(
            s for s in signatures_of(session, [revision]) if s.fingerprint == row.fingerprint
        )
    svc.cache.changed()
    return Response(info.model_dump_json(), status_code=201, media_type="application/json")


@router.post("/keys", response_model=SigningKeyInfo, summary="Name a public signing key")
def add_key(body: SigningKeyIn, svc: ServicesDep, who: PrincipalDep) -> SigningKeyInfo:
    who.require_write()
    with svc.resolver.catalog.transaction() as session:
        info = register_key(session, body.name, body.public_key.encode(), owner=who.owner)
    svc.cache.changed()
    return info
