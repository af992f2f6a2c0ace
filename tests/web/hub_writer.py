"""The stock huggingface_hub client, writing to a live registry server over plain LFS.

`huggingface_hub` reads `HF_HUB_DISABLE_XET` once, at import (the tests import
it first), so the tests set both the variable (for subprocesses) and the
constant the client consults: without it every "lfs" file would go through Xet,
which `tests/web/test_xet.py` covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants
from sqlalchemy import func, select

from registry.catalog.models import AliasMove, Revision
from registry.catalog.queries import EVERYONE, find_preset
from registry.resolver.resolve import Resolver
from tests.web.live import LiveServer

# huggingface_hub 2.4's own LFS upload (`lfs.py`, `data=fileobj`) warns through httpx.
HUB_CLIENT_WARNINGS = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


@dataclass
class Writer:
    """A live server, a write token of `alice` and a client holding it."""

    live: LiveServer
    token: str
    api: HfApi

    @property
    def resolver(self) -> Resolver:
        resolver: Resolver = self.live.app.state.services.resolver
        return resolver

    def blobs(self) -> set[str]:
        return {path.name for path in self.resolver.store.blobs.glob("*/*")}

    def leftovers(self) -> list[Path]:
        """What uploads left in the store's tmp/ (nothing, once they are over)."""
        return sorted(self.resolver.store.tmp.iterdir())

    def counts(self, repo: str) -> tuple[int, int]:
        """How many revisions and logged alias moves `repo` has."""
        with self.resolver.catalog.transaction(write=False) as session:
            preset = find_preset(session, repo, viewer=EVERYONE)
            assert preset is not None
            counts = [
                session.scalar(select(func.count()).where(table.preset_id == preset.id))
                for table in (Revision, AliasMove)
            ]
        return counts[0] or 0, counts[1] or 0


def writer_for(live: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Writer:
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_ENDPOINT", live.url)
    token = live.token("alice")
    return Writer(live, token, HfApi(endpoint=live.url, token=token))


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }
