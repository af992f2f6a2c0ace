"""The Xet write path: `pip install huggingface_hub` brings `hf_xet`, and with it
every file preupload marks `"lfs"` is uploaded through Xet, never through the
LFS batch API. These routes let that stock client upload here with no setting.

- `GET /api/models/{ns}/{name}/xet-write-token/{rev}`: a CAS token for the
  repository's owner (a write-scope API token), good for 15 minutes, signed
  with the registry's key (`registry.signing`), so every server process of the
  registry accepts it;
- under `/xet` (the `casUrl` handed out), with that token:
  `POST /v1/xorbs/default/{hash}` stores a xorb (streamed to disk, every chunk
  hashed, written once); `GET /v1/chunks/{prefix}/{hash}` is the global dedupe
  query (a shard, or 404); `POST /v1/shards` checks a shard and rebuilds its
  files into the store as blobs keyed by sha256, which the commit then names;
- `POST /v1/telemetry`: hf_xet reports each transfer to its CAS host's root;
  the report is dropped unread.

Left to 404 on purpose, as the clients fall back: `/xet/v2/shards` (a shard
upload streaming progress; falls back to `/v1/shards`) and `/xet/v1/xorb-grants`
(presigned uploads to other storage; falls back to `/v1/xorbs`). Downloads
through Xet are `web.api.xet_read`'s.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from registry.catalog.queries import find_preset
from registry.errors import AuthenticationError, UploadTooLargeError, XetFormatError
from registry.signing import signer_for
from registry.xet import hashes, shard, xorb
from registry.xet.cas import XorbStore
from registry.xet.reconstruct import register_shard
from web.auth import Principal, PrincipalDep, bearer
from web.receive import body_batches
from web.services import Services, ServicesDep

router = APIRouter(tags=["xet"])
log = logging.getLogger("registry.web.xet")
CAS_PREFIX = "/xet"
PURPOSE = "xet-write"
TOKEN_TTL_S = 900
_DEDUPE_PREFIXES = frozenset({"default", "default-merkledb"})  # hf_xet 1.8; the spec


def _authorize(svc: Services, who: Principal, namespace: str, name: str) -> None:
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        who.authorize_upload(namespace, preset)


@router.get(
    "/api/models/{namespace}/{name}/xet-write-token/{rev:path}",
    summary="A Xet write token (Hub protocol)",
)
async def xet_write_token(
    namespace: str, name: str, rev: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> JSONResponse:
    """A short-lived token for this server's Xet CAS, for the repository's owner."""
    await run_in_threadpool(_authorize, svc, who, namespace, name)
    claims = {"repo": f"{namespace}/{name}", "rev": rev, "owner": who.owner}
    return token_answer(request, svc, PURPOSE, claims)


def token_answer(
    request: Request, svc: Services, purpose: str, claims: dict[str, Any]
) -> JSONResponse:
    """A CAS token for `purpose` carrying `claims`, good for 15 minutes, with
    this server's CAS URL: in the body (which hf_xet reads) and as `X-Xet-*`
    headers (which huggingface_hub's own helper reads)."""
    signed = signer_for(svc.settings).sign(purpose, claims, ttl=TOKEN_TTL_S)
    cas_url = str(request.base_url).rstrip("/") + CAS_PREFIX
    headers = {
        "X-Xet-Access-Token": signed.token,
        "X-Xet-Token-Expiration": str(signed.expires_at),
        "X-Xet-Cas-Url": cas_url,
        "Cache-Control": "no-store",
    }
    body = {"accessToken": signed.token, "exp": signed.expires_at, "casUrl": cas_url}
    return JSONResponse(body, headers=headers)


def cas_token_claims(request: Request, svc: Services, purpose: str) -> dict[str, Any]:
    """The claims of the request's Xet token, issued for `purpose` (a read
    token does not write, nor a write token read).

    Raises:
        AuthenticationError: no token, a forged one, or an expired one (401:
            hf_xet then asks the token route for a new one).
    """
    token = bearer(request)
    claims = None if token is None else signer_for(svc.settings).verify(purpose, token)
    if claims is None:
        kind = purpose.removeprefix("xet-")
        raise AuthenticationError(
            "The Xet token is missing, invalid or expired. Ask for a new one: "
            f"GET /api/models/{{namespace}}/{{name}}/xet-{kind}-token/{{revision}}."
        )
    return claims


async def cas_claims(request: Request, svc: ServicesDep) -> dict[str, Any]:
    """FastAPI dependency: the claims of the request's Xet write token."""
    return cas_token_claims(request, svc, PURPOSE)


CasClaims = Annotated[dict[str, Any], Depends(cas_claims)]


def _too_large(what: str, size: int, limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        what,
        f"has {size} bytes or more; the Xet protocol allows at most {limit}.",
        "Send xorbs and shards as hf_xet cuts them.",
    )


async def _receive(request: Request, target: Path, limit: int, what: str) -> None:
    """Stream the body to `target`; refuse it past `limit` bytes (by its
    Content-Length before reading a byte, else as soon as it passes)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(what, int(declared), limit)
    with open(target, "wb") as out:
        async for batch in body_batches(request):
            if out.tell() + len(batch) > limit:
                raise _too_large(what, out.tell() + len(batch), limit)
            await run_in_threadpool(out.write, batch)


@router.post(f"{CAS_PREFIX}/v1/xorbs/{{prefix}}/{{digest}}", summary="Upload a xorb (Xet CAS)")
async def upload_xorb(
    prefix: str, digest: str, request: Request, svc: ServicesDep, _: CasClaims
) -> dict[str, bool]:
    """Store a xorb under its hash, once; `was_inserted` is false if it was there."""
    key = hashes.from_hex(digest)
    if prefix != "default":
        raise XetFormatError(f"Xorbs are stored under the prefix 'default', not {prefix!r}.")
    cas = XorbStore(svc.resolver.store)
    if cas.has(key):
        return {"was_inserted": False}
    staging = svc.resolver.store.staging_dir("xorb")
    try:
        staged = staging / "xorb"
        limit = xorb.MAX_XORB_BYTES + xorb.MAX_FOOTER_BYTES
        await _receive(request, staged, limit, f"xorb {digest}")
        inserted = await run_in_threadpool(cas.add, staged, key)
    finally:
        await run_in_threadpool(shutil.rmtree, staging, True)
    return {"was_inserted": inserted}


@router.get(f"{CAS_PREFIX}/v1/chunks/{{prefix}}/{{digest}}", summary="Global dedupe (Xet CAS)")
async def dedupe(prefix: str, digest: str, svc: ServicesDep, _: CasClaims) -> Response:
    """A shard offering the stored xorb that holds this chunk; 404 if none does."""
    key = hashes.from_hex(digest)
    answer = None
    if prefix in _DEDUPE_PREFIXES:
        answer = await run_in_threadpool(XorbStore(svc.resolver.store).dedupe_answer, key)
    if answer is None:
        return JSONResponse({"error": f"No stored xorb is known to hold chunk {digest}."}, 404)
    return Response(answer, media_type="application/octet-stream")


@router.post(f"{CAS_PREFIX}/v1/shards", summary="Upload a shard (Xet CAS)")
async def upload_shard(request: Request, svc: ServicesDep, claims: CasClaims) -> dict[str, int]:
    """Register a shard's files: check them against the stored xorbs and rebuild
    each into the store, keyed by its sha256."""
    store = svc.resolver.store
    staging = store.staging_dir("shard")
    try:
        staged = staging / "shard"
        await _receive(request, staged, shard.MAX_SHARD_BYTES, "the shard")
        files = await run_in_threadpool(
            register_shard,
            store,
            staged,
            max_file_bytes=svc.limits.max_file_bytes,
            max_total_bytes=svc.limits.max_upload_bytes,
        )
    finally:
        await run_in_threadpool(shutil.rmtree, staging, True)
    for file in files:
        owner, repo = claims.get("owner"), claims.get("repo")
        log.info("xet: %s uploaded %s (%d bytes) for %s", owner, file.sha256, file.size, repo)
    return {"result": 1}


@router.post("/v1/telemetry", include_in_schema=False)
async def telemetry() -> Response:
    """hf_xet's transfer report, posted to the CAS host's root: not kept."""
    return Response(status_code=204)
