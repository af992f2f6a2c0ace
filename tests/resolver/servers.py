"""Local HTTP servers that answer the real clients: the Hub's download protocol
(for huggingface_hub) and Kaggle's model RPCs (for kagglehub), with faults.

Faults are per file and fire once each, in the order given:
- "500": the request fails with HTTP 500;
- "truncate": the body stops half-way (the connection is closed);
- "corrupt": one byte of the body is flipped (headers still describe the original);
- "stall": the server waits 3 s before answering;
- "pause": the body stops half-way for 3 s, then goes on;
- "corrupt-pause": both;
- "die": the body stops half-way and the whole server goes down (it stops
  listening: later connections are refused) as if its process were killed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass
class Repo:
    """Files of one repository (or Kaggle variation), and faults to inject."""

    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    faults: dict[str, list[str]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def take_fault(self, path: str) -> str | None:
        queue = self.faults.get(path)
        return queue.pop(0) if queue else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_file(self, repo: Repo, path: str, headers: dict[str, str], head: bool) -> None:
        data = repo.files[path]
        fault = None if head else repo.take_fault(path)
        if fault == "500":
            self._empty(500)
            return
        if fault == "stall":
            time.sleep(3)
        start = 0
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            start = int(range_header[6:].split("-")[0] or 0)
        body = data[start:]
        self.send_response(206 if start else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not head:
            self._write_body(body, fault)

    def _write_body(self, body: bytes, fault: str | None) -> None:
        if fault in ("corrupt", "corrupt-pause"):
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if fault in ("pause", "corrupt-pause", "truncate", "die"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        if fault in ("pause", "corrupt-pause"):
            time.sleep(3)
            self.wfile.write(body[len(body) // 2 :])
            return
        if fault in ("truncate", "die"):
            if fault == "die":  # down before the client can come back
                self.server.go_down()
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], repos: dict[str, Repo]):
        super().__init__(address, handler)
        self.repos = repos
        self.connections: set[socket.socket] = set()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def go_down(self) -> None:
        """Stop as a killed process would: no more connections, open ones cut."""
        self.shutdown()
        self.server_close()

    def server_close(self) -> None:
        super().server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return  # a client killed on purpose (the crash tests)
        super().handle_error(request, client_address)


# === The Hub ===


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubHandler(_Handler):
    """GET /api/models/{repo}/revision/{rev}, /api/models/{repo}/tree/{commit},
    HEAD and GET /{repo}/resolve/{rev}/{path}."""

    def _repo(self, org: str, name: str) -> Repo | None:
        return self.server.repos.get(f"{org}/{name}")

    def _not_found(self, code: str) -> None:
        self._empty(404, {"X-Error-Code": code})

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def _route(self, *, head: bool) -> None:  # noqa: PLR0911 (one return per route)
        parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            repo = self._repo(parts[2], parts[3])
            if repo is None:
                return self._not_found("RepoNotFound")
            repo.requests.append(f"api {parts[4]}")
            if parts[4] == "revision":
                if parts[5] not in ("main", repo.commit):
                    return self._not_found("RevisionNotFound")
                return self._json({"id": f"{parts[2]}/{parts[3]}", "sha": repo.commit})
            return self._json([self._tree_entry(path, data) for path, data in repo.files.items()])
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self._repo(parts[0], parts[1])
            if repo is None:
                return self._not_found("RepoNotFound")
            path = "/".join(parts[4:])
            if path not in repo.files:
                return self._not_found("EntryNotFound")
            repo.requests.append(f"{'HEAD' if head else 'GET'} {path}")
            return self._send_file(repo, path, self._file_headers(repo, path), head)
        return self._empty(404)

    @staticmethod
    def _tree_entry(path: str, data: bytes) -> dict[str, object]:
        entry: dict[str, object] = {
            "type": "file",
            "path": path,
            "size": len(data),
            "oid": _git_oid(data),
        }
        if path.endswith((".h5", ".safetensors")):
            entry["lfs"] = {
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 134,
            }
        return entry

    @staticmethod
    def _file_headers(repo: Repo, path: str) -> dict[str, str]:
        data = repo.files[path]
        headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{_git_oid(data)}"'}
        if path.endswith((".h5", ".safetensors")):  # LFS: the etag is the sha256
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        return headers


# === Kaggle ===


class KaggleHandler(_Handler):
    """POST /api/v1/models.ModelApiService/{GetModelInstance,
    ListModelInstanceVersionFiles,DownloadModelInstanceVersion}."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        method = urlparse(self.path).path.rsplit("/", 1)[-1]
        # kagglehub sends the framework as an enum name: MODEL_FRAMEWORK_PY_TORCH.
        framework = str(body.get("framework", "")).removeprefix("MODEL_FRAMEWORK_")
        framework = framework.lower().replace("_", "")
        owner, model, variation = (body.get(k) for k in ("ownerSlug", "modelSlug", "instanceSlug"))
        key = f"{owner}/{model}/{framework}/{variation}"
        repo = self.server.repos.get(key)
        if repo is None:
            return self._json({"code": 404, "message": f"{key} not found"}, status=404)
        repo.requests.append(method)
        if method == "GetModelInstance":
            return self._json({"versionNumber": 3})
        if method == "ListModelInstanceVersionFiles":
            return self._json({"files": [{"name": name} for name in repo.files]})
        path = body.get("path", "")
        if path not in repo.files:
            return self._json({"code": 404, "message": f"{path} not found"}, status=404)
        md5 = base64.b64encode(hashlib.md5(repo.files[path]).digest()).decode()
        return self._send_file(
            repo, path, {"x-goog-hash": f"crc32c=AAAAAA==,md5={md5}"}, head=False
        )


@contextmanager
def serve(handler: type[_Handler], repos: dict[str, Repo], port: int = 0) -> Iterator[str]:
    """Run a server on 127.0.0.1 in a thread; yield its base URL."""
    server = _Server(("127.0.0.1", port), handler, repos)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
