"""A Xet CAS that only records: hf_xet uploads files to it, and the tests get
the xorbs and shards the real client produced, byte for byte.

It answers the token route and accepts every xorb and shard without reading
them; every other request (the dedupe query, upload grants, `/v2/shards`,
telemetry) gets a 404, after which hf_xet falls back or carries on.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hf_xet


@dataclass
class Recording:
    """What one upload sent: xorbs by their hash string, shards in order, and
    hf_xet's account of each file (`XetFileMetadata`)."""

    xorbs: dict[str, bytes] = field(default_factory=dict)
    shards: list[bytes] = field(default_factory=list)
    files: dict[str, object] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recording: Recording

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if "/xet-write-token/" in self.path:
            host = f"http://{self.headers['host']}"
            token = {"accessToken": "recorded", "exp": int(time.time()) + 3600}
            return self._answer(200, {**token, "casUrl": f"{host}/xet"})
        return self._answer(404, {"error": "not recorded"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.startswith("/xet/v1/xorbs/default/"):
            self.recording.xorbs[self.path.rsplit("/", 1)[-1]] = body
            return self._answer(200, {"was_inserted": True})
        if self.path == "/xet/v1/shards":
            self.recording.shards.append(body)
            return self._answer(200, {"result": 1})
        return self._answer(404, {"error": "not recorded"})

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def recording_cas() -> Iterator[tuple[str, Recording]]:
    """A recording CAS on a free port: (its URL, what it recorded)."""
    recording = Recording()
    handler = type("Handler", (_Handler,), {"recording": recording})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recording
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def xet_cache(path: Path) -> Iterator[None]:
    """hf_xet sessions created in the block keep their cache (known shards,
    hence local dedupe) in `path`, so each upload starts from what it is given."""
    previous = os.environ.get("HF_XET_CACHE")
    os.environ["HF_XET_CACHE"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_XET_CACHE", None)
        else:
            os.environ["HF_XET_CACHE"] = previous


def record_upload(paths: list[Path], cache: Path) -> Recording:
    """Upload `paths` with hf_xet (its cache at `cache`) and record what it sent."""
    with xet_cache(cache), recording_cas() as (url, recording):
        commit = hf_xet.XetSession().new_upload_commit(
            token_refresh_url=f"{url}/api/models/test/files/xet-write-token/main",
            token_refresh_headers={"Authorization": "Bearer test"},
        )
        with commit:
            uploads = {str(p): commit.start_upload_file(str(p), sha256=hf_xet.COMPUTE_SHA256)
                       for p in paths}  # fmt: skip
        recording.files = {path: upload.result() for path, upload in uploads.items()}
    return recording
