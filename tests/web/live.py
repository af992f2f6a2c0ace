"""The registry's web app for tests: in-process (TestClient) or on a real port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from registry.catalog.service import create_token
from registry.config import Settings, sqlite_url
from web.app import create_app


def settings_at(home: Path, db_url: str | None = None) -> Settings:
    return Settings(home=home, db_url=db_url or sqlite_url(home / "catalog.db"))


def token(app: FastAPI, owner: str, scope: str = "write") -> str:
    """A new API token of `owner`, created in the app's own catalog."""
    with app.state.services.resolver.catalog.transaction() as session:
        secret, _ = create_token(session, owner=owner, scope=scope, name=f"{owner}-{scope}")
    return secret


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: FastAPI

    def token(self, owner: str, scope: str = "write") -> str:
        return token(self.app, owner, scope)


@contextmanager
def live_server(
    settings: Settings, *, wrap: Callable[[ASGIApp], ASGIApp] | None = None
) -> Iterator[LiveServer]:
    """Serve the app on 127.0.0.1 with uvicorn in a thread until the block ends
    (behind `wrap`, an ASGI middleware, if given)."""
    app = create_app(settings)
    port = free_port()
    served = app if wrap is None else wrap(app)
    server = uvicorn.Server(
        uvicorn.Config(served, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
