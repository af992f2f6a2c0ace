"""Servers that share no directory: one PostgreSQL catalog, one S3 bucket
(SeaweedFS started by the tests), each server with its own home."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.bucket import Bucket
from registry.config import Settings
from tests.catalog.conftest import postgres_schema, postgres_server  # noqa: F401 (fixture)
from tests.scale.seaweed import Seaweed, seaweed
from tests.web.live import LiveServer, live_server, settings_at


@pytest.fixture(scope="session")
def s3() -> Iterator[Seaweed]:
    with seaweed() as running:
        yield running


@dataclass
class Cluster:
    """Two servers of one registry, and the settings of a third process (an
    operator's `registry gc` or `verify`) on the same catalog and bucket."""

    a: LiveServer
    b: LiveServer
    settings: Settings
    s3: Seaweed

    @property
    def bucket(self) -> Bucket:
        return self.settings.bucket()  # type: ignore[return-value]

    def env(self) -> dict[str, str]:
        """The environment of an operator's process on this registry."""
        blob_url = self.settings.blob_url or ""
        return {
            **self.s3.server.env(),
            "REGISTRY_BLOB_URL": blob_url,
            "REGISTRY_DB_URL": self.settings.db_url,
            "REGISTRY_HOME": str(self.settings.home),
            "REGISTRY_SECRET": self.settings.secret or "",
        }


def cluster_settings(
    home: Path, db_url: str, s3: Seaweed, prefix: str, **changes: object
) -> Settings:
    env = s3.server.env(prefix)
    return dataclasses.replace(
        settings_at(home, db_url),
        secret="one-secret-for-every-server-of-this-registry",
        blob_url=env["REGISTRY_BLOB_URL"],
        aws=tuple(sorted((k, v) for k, v in env.items() if k.startswith("AWS_"))),
        **changes,  # type: ignore[arg-type]
    )


@pytest.fixture()
def cluster(tmp_path: Path, s3: Seaweed, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """Servers A and B: separate homes, one PostgreSQL schema, one bucket prefix
    (fresh for each test). They redirect downloads to presigned URLs, or stream
    them when the test is marked `proxy`."""
    redirect = request.node.get_closest_marker("proxy") is None
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with ExitStack() as stack:
        server = request.getfixturevalue("postgres_server")  # CI fails without one
        db_url = stack.enter_context(postgres_schema(server, "scale"))
        servers = [
            stack.enter_context(
                live_server(
                    cluster_settings(tmp_path / name, db_url, s3, prefix, blob_redirect=redirect)
                )
            )
            for name in ("a", "b")
        ]
        operator = cluster_settings(tmp_path / "operator", db_url, s3, prefix)
        yield Cluster(servers[0], servers[1], operator, s3)
