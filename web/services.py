"""What every request handler shares: settings, the catalog and store, limits.

One `Services` lives on `app.state`. It holds nothing per request, so several
server processes can share one PostgreSQL catalog and one blob directory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from registry.catalog.memory import MemoryIndex
from registry.catalog.queries import search_presets
from registry.config import Settings
from registry.preset.validate import Limits
from registry.records import SearchPage
from registry.resolver.mirror import Mirror
from registry.resolver.resolve import Resolver
from registry.trust.policy import parse_policy
from web.cache import ResponseCache
from web.generation import GenerationPool


@dataclass
class Services:
    settings: Settings
    resolver: Resolver
    limits: Limits
    cache: ResponseCache
    mirror: Mirror | None = None  # REGISTRY_HF_UPSTREAM
    index: MemoryIndex | None = None  # None with REGISTRY_SEARCH_INDEX=0
    # The "Try it" box's workers (None with REGISTRY_TRY_WORKERS=0); they start
    # with its first request.
    generation: GenerationPool | None = None

    @classmethod
    def open(cls, settings: Settings) -> Services:
        # A server answers from its own catalog; it never forwards to another one.
        settings = dataclasses.replace(settings, url=None, token=None)
        parse_policy(settings.require_signed)  # a bad REGISTRY_REQUIRE_SIGNED stops the start
        resolver = Resolver(settings)
        services = cls(
            settings=settings,
            resolver=resolver,
            limits=Limits.from_env(),
            cache=ResponseCache(resolver.catalog, enabled=settings.response_cache),
            mirror=Mirror.from_settings(settings, resolver),
            index=MemoryIndex(resolver.catalog) if settings.search_index else None,
            generation=GenerationPool(settings.try_limits) if settings.try_limits.workers else None,
        )
        if services.index is not None:
            services.index.refresh()  # built in the background: searches ask the database meanwhile
        return services

    def search_memory(self, generation: int, query: str = "", **options: Any) -> SearchPage | None:
        """`search_presets` from the in-memory index, if it holds `generation`
        (the catalog's, as the response cache last read it) or later; it takes
        well under a millisecond, so async handlers call it in place."""
        return None if self.index is None else self.index.search(generation, query, **options)

    def search_database(self, query: str = "", **options: Any) -> SearchPage:
        """`search_presets` in a read transaction of its own."""
        with self.resolver.catalog.transaction(write=False) as session:
            return search_presets(session, query, **options)

    def search(self, generation: int, query: str = "", **options: Any) -> SearchPage:
        """`search_presets`, from memory (`search_memory`), else from the database."""
        found = self.search_memory(generation, query, **options)
        return found if found is not None else self.search_database(query, **options)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
        if self.mirror is not None:
            self.mirror.close()
        self.resolver.catalog.close()


async def services(request: Request) -> Services:
    """FastAPI dependency: the application's `Services`."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
