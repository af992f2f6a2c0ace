"""Files of a server whose blobs live in a bucket (`REGISTRY_BLOB_URL`).

By default a download is answered with a redirect to a presigned URL of the
blob, valid for `REGISTRY_BLOB_URL_TTL` seconds: the bytes go from the bucket
to the client, and the server only signs. The redirect carries the file's
headers (`ETag`, `X-Linked-Etag`, `X-Linked-Size`, `X-Repo-Commit`): the Hub's
clients read them from the HEAD's answer and then download from its
`Location`, as they do from the Hub's CDN, without their token. Every client
checks the bytes against the sha256 it was told, as always.

With `REGISTRY_BLOB_REDIRECT=0` the server streams the object itself (for
clients that cannot reach the bucket), one range if asked for one.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from registry.bucket import Bucket, blob_key
from registry.preset.manifest import FileEntry

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The single range `header` asks for as (start, end exclusive); None for the
    whole file (no header, or one this server answers in full); False when the
    range cannot be satisfied."""
    if not header:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None  # several ranges, or another unit: the whole file (RFC 9110 allows it)
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = min(int(last), size)
        return (size - length, size) if length else False
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return False
    return start, end


async def bucket_file(
    request: Request,
    bucket: Bucket,
    entry: FileEntry,
    headers: dict[str, str],
    *,
    redirect: bool,
    ttl_s: float,
) -> Response:
    key = blob_key(entry.sha256)
    headers = {**headers, "Accept-Ranges": "bytes"}
    if redirect:
        url = await run_in_threadpool(bucket.sign, key, dt.timedelta(seconds=ttl_s))
        return Response(status_code=302, headers={**headers, "Location": url})
    wanted = byte_range(request.headers.get("range"), entry.size)
    if wanted is False:
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{entry.size}"}
        )
    start, end = wanted if isinstance(wanted, tuple) else (0, entry.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if isinstance(wanted, tuple):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    if request.method == "HEAD" or end == start:
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")
    # The first request is made here, so a bucket that is down is a 503, not a
    # response cut off after its headers.
    pieces = await run_in_threadpool(bucket.read, key, start, end)
    return StreamingResponse(
        iterate_in_threadpool(pieces),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )
