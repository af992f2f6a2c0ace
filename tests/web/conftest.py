"""Fixtures of the web tests: an app on a fresh home, tokens, preset archives."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.live import LiveServer, live_server, settings_at, token
from web.app import create_app


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path / "server-home"


@pytest.fixture()
def client(home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_at(home))) as test_client:
        yield test_client


@pytest.fixture()
def alice(client: TestClient) -> dict[str, str]:
    """Headers with a write token of `alice`."""
    return {"Authorization": f"Bearer {token(client.app, 'alice')}"}  # type: ignore[arg-type]


@pytest.fixture()
def live(home: Path) -> Iterator[LiveServer]:
    with live_server(settings_at(home)) as server:
        yield server


def tar_of(directory: Path, *, prefix: str = "") -> bytes:
    """A .tar.gz of a preset directory, in memory (the presets here are tiny)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                bundle.add(path, arcname=prefix + path.relative_to(directory).as_posix())
    return buffer.getvalue()


def upload_tar(
    url: str, headers: dict[str, str], name: str, directory: Path, *, private: bool = False
) -> httpx.Response:
    """POST `directory` as a .tar.gz new revision of `name` (`namespace/name`) to a live server."""
    return httpx.post(
        f"{url}/api/v1/presets/{name}/revisions",
        content=tar_of(directory),
        params={"private": private},
        headers={**headers, "Content-Type": "application/gzip"},
    )


def multipart_files(directory: Path, prefix: str = "") -> list[tuple[str, tuple[str, bytes]]]:
    return [
        ("files", (prefix + p.relative_to(directory).as_posix(), p.read_bytes()))
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    ]
