"""The Git LFS batch API, as `huggingface_hub` uploads through it without Xet
(`HF_HUB_DISABLE_XET=1`, or no `hf_xet` installed).

- `POST /{ns}/{name}.git/info/lfs/objects/batch` (a write token of the
  repository's owner): for each announced object (`oid` = sha256, `size`), no
  `actions` when the store holds it already, else an upload action: one signed
  `PUT` URL (basic), or above `REGISTRY_LFS_CHUNK_BYTES` a signed URL per part
  plus a signed completion URL (multipart); and a `verify` action.
- `PUT /api/lfs/objects/{token}` (basic) and `PUT /api/lfs/parts/{token}`
  (one part; answered with its sha256 as `ETag`), `POST /api/lfs/complete/{token}`
  (`{"oid", "parts": [{"partNumber", "etag"}]}`): the client sends no token
  here, so each URL carries its own authority, signed with the registry's key
  (`registry.signing`, shared by every server process) and good for an hour.
- `POST /{ns}/{name}.git/info/lfs/objects/verify` (`{"oid", "size"}`): 200 once
  the store holds the object.

Bytes are hashed while they stream into the store (`registry.resolver.objects`):
an object with another size or sha256 than announced is refused and leaves
nothing. A stored object waits for its commit for the store's gc grace period.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from registry.errors import InvalidNameError, PermissionDeniedError, RegistryError
from registry.resolver.objects import Announced, ObjectUpload, PartUpload, complete, is_stored
from registry.signing import signer_for
from web.api.common import writable_preset
from web.api.json_body import read_json
from web.auth import Principal, PrincipalDep
from web.receive import body_batches
from web.services import Services, ServicesDep

router = APIRouter(tags=["huggingface"])
LFS_TYPE = "application/vnd.git-lfs+json"
URL_TTL_S = 3600
MAX_OBJECTS = 1000  # per batch request (huggingface_hub sends at most 256)


def _writable(svc: Services, who: Principal, namespace: str, name: str) -> None:
    with svc.resolver.catalog.transaction(write=False) as session:
        writable_preset(session, who, namespace, name)


# === Batch ===


def _signed(svc: Services, base: str, kind: str, claims: dict[str, Any]) -> str:
    token = signer_for(svc.settings).sign(f"lfs-{kind}", claims, ttl=URL_TTL_S).token
    return f"{base}/api/lfs/{kind}/{token}"


def _actions(svc: Services, base: str, repo: str, wanted: Announced) -> dict[str, Any]:
    claims: dict[str, Any] = {"repo": repo, "oid": wanted.sha256, "size": wanted.size}
    chunk = svc.settings.lfs_chunk_bytes
    # Parts could reach different servers behind a load balancer, and a
    # server keeps parts on its own disk: with a bucket, one PUT per object
    # (which streams into the bucket's own multipart upload).
    if wanted.size <= chunk or svc.resolver.store.bucket is not None:
        upload: dict[str, Any] = {"href": _signed(svc, base, "objects", claims)}
    else:
        claims["chunk"] = chunk
        parts = {
            str(number): _signed(svc, base, "parts", {**claims, "part": number})
            for number in range(1, wanted.parts(chunk) + 1)
        }
        upload = {
            "href": _signed(svc, base, "complete", claims),
            "header": {"chunk_size": str(chunk), **parts},
        }
    verify = {"href": f"{base}/{repo}.git/info/lfs/objects/verify"}
    return {"upload": upload, "verify": verify}


def _object(svc: Services, base: str, repo: str, item: Any) -> dict[str, Any]:
    item = item if isinstance(item, dict) else {}
    oid, size = item.get("oid"), item.get("size")
    try:
        wanted = Announced.checked(oid, size, svc.limits)
    except RegistryError as error:
        known = size if isinstance(size, int) else 0
        return {"oid": str(oid), "size": known, "error": {"code": 422, "message": str(error)}}
    answer: dict[str, Any] = {"oid": wanted.sha256, "size": wanted.size, "authenticated": True}
    if not is_stored(svc.resolver.store, wanted):  # else no actions: nothing to send
        answer["actions"] = _actions(svc, base, repo, wanted)
    return answer


def _batch(
    svc: Services, who: Principal, namespace: str, name: str, body: Any, base: str
) -> dict[str, Any]:
    _writable(svc, who, namespace, name)
    if not isinstance(body, dict) or body.get("operation") != "upload":
        raise InvalidNameError("This LFS server takes uploads only (`operation: upload`).")
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) > MAX_OBJECTS:
        raise InvalidNameError(f"`objects` is a list of at most {MAX_OBJECTS} objects.")
    answers = [_object(svc, base, f"{namespace}/{name}", item) for item in objects]
    headers = [a.get("actions", {}).get("upload", {}).get("header", {}) for a in answers]
    transfer = "multipart" if any("chunk_size" in h for h in headers) else "basic"
    return {"transfer": transfer, "objects": answers, "hash_algo": "sha256"}


@router.post("/{namespace}/{name}.git/info/lfs/objects/batch", summary="LFS batch (uploads)")
async def batch(
    namespace: str, name: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> JSONResponse:
    """Where to send each object of an upload (none for objects stored already)."""
    body = await read_json(request)
    base = str(request.base_url).rstrip("/")
    answer = await run_in_threadpool(_batch, svc, who, namespace, name, body, base)
    return JSONResponse(answer, media_type=LFS_TYPE)


@router.post("/{namespace}/{name}.git/info/lfs/objects/verify", summary="LFS verify")
async def verify(
    namespace: str, name: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> JSONResponse:
    """200 once the store holds the object the body names (`oid`, `size`)."""
    body = await read_json(request)
    await run_in_threadpool(_writable, svc, who, namespace, name)
    body = body if isinstance(body, dict) else {}
    wanted = Announced.checked(body.get("oid"), body.get("size"), svc.limits)
    if not await run_in_threadpool(is_stored, svc.resolver.store, wanted):
        raise InvalidNameError(f"Object {wanted.sha256} was not received; upload it again.")
    return JSONResponse({}, media_type=LFS_TYPE)


# === Transfers: signed URLs, no token ===


def _claims(svc: Services, kind: str, token: str) -> tuple[dict[str, Any], Announced]:
    claims = signer_for(svc.settings).verify(f"lfs-{kind}", token)
    if claims is None:
        raise PermissionDeniedError(
            f"This LFS upload URL is forged, altered or expired (they last {URL_TTL_S // 60} "
            "minutes). Upload again: the client asks the batch endpoint for new URLs."
        )
    return claims, Announced.checked(claims.get("oid"), claims.get("size"), svc.limits)


@router.put("/api/lfs/objects/{token}", summary="LFS upload (basic transfer)")
async def put_object(token: str, request: Request, svc: ServicesDep) -> Response:
    """The object's bytes, hashed while they land; refused unless they are the
    object announced."""
    _, wanted = await run_in_threadpool(_claims, svc, "objects", token)
    upload = await run_in_threadpool(ObjectUpload, svc.resolver.store, wanted)
    try:
        async for chunk in body_batches(request):
            await run_in_threadpool(upload.write, chunk)
        await run_in_threadpool(upload.finish)
    finally:
        await run_in_threadpool(upload.close)
    return Response(status_code=200)


@router.put("/api/lfs/parts/{token}", summary="LFS upload (one part of a multipart transfer)")
async def put_part(token: str, request: Request, svc: ServicesDep) -> Response:
    """One part's bytes; its sha256 is its `ETag`."""
    claims, wanted = await run_in_threadpool(_claims, svc, "parts", token)
    store = svc.resolver.store
    part = await run_in_threadpool(PartUpload, store, wanted, claims["part"], claims["chunk"])
    try:
        async for chunk in body_batches(request):
            await run_in_threadpool(part.write, chunk)
        sha256 = await run_in_threadpool(part.finish)
    finally:
        await run_in_threadpool(part.close)
    return Response(status_code=200, headers={"ETag": f'"{sha256}"'})


@router.post("/api/lfs/complete/{token}", summary="LFS upload (completing a multipart transfer)")
async def complete_parts(token: str, request: Request, svc: ServicesDep) -> JSONResponse:
    """Join the parts the body lists into the object, checked as one upload."""
    claims, wanted = await run_in_threadpool(_claims, svc, "complete", token)
    body = await read_json(request)
    parts = body.get("parts") if isinstance(body, dict) else None
    if not isinstance(parts, list):
        raise InvalidNameError('The completion body is {"oid", "parts": [...]}.')
    etags = {
        p["partNumber"]: str(p.get("etag", ""))
        for p in parts
        if isinstance(p, dict) and isinstance(p.get("partNumber"), int)
    }
    store = svc.resolver.store
    await run_in_threadpool(complete, store, wanted, claims["chunk"], etags)
    return JSONResponse({}, media_type=LFS_TYPE)
