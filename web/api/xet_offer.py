"""Which files a server offers hf_xet (`web.api.xet_read`), and how: the
headers a file's answer carries for it.

Offered for files of at least `XET_MIN_BYTES` (below that, one GET is quicker
than a token, a reconstruction and a ranged GET) on a server whose blobs are
on its own disk (on a bucket, the presigned redirect already sends the client
to storage), unless `REGISTRY_XET_DOWNLOADS=0`.
"""

from __future__ import annotations

from fastapi import Request

from web.services import Services

XET_MIN_BYTES = 16 << 20


def offered(svc: Services, size: int) -> bool:
    """Whether a file of `size` bytes is offered to hf_xet."""
    settings = svc.settings
    return settings.xet_downloads and svc.resolver.store.bucket is None and size >= XET_MIN_BYTES


def headers(
    request: Request, namespace: str, name: str, commit: str, sha256: str
) -> dict[str, str]:
    """What a file's answer adds for hf_xet: the file's id and where to get a token."""
    base = str(request.base_url).rstrip("/")
    refresh = f"{base}/api/models/{namespace}/{name}/xet-read-token/{commit}"
    return {"X-Xet-Hash": sha256, "Link": f'<{refresh}>; rel="xet-auth"'}
