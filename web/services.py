"""What every request handler shares: settings, the catalog and store, limits.

One `Services` lives on `app.state`. It holds nothing per request, so several
server processes can share one PostgreSQL catalog and one blob directory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from registry.config import Settings
from registry.preset.validate import Limits
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
    # The "Try it" box's workers (None with REGISTRY_TRY_WORKERS=0); they start
    # with its first request.
    generation: GenerationPool | None = None

    @classmethod
    def open(cls, settings: Settings) -> Services:
        # A server answers from its own catalog; it never forwards to another one.
        settings = dataclasses.replace(settings, url=None, token=None)
        parse_policy(settings.require_signed)  # a bad REGISTRY_REQUIRE_SIGNED stops the start
        resolver = Resolver(settings)
        return cls(
            settings=settings,
            resolver=resolver,
            limits=Limits.from_env(),
            cache=ResponseCache(resolver.catalog),
            mirror=Mirror.from_settings(settings, resolver),
            generation=GenerationPool(settings.try_limits) if settings.try_limits.workers else None,
        )

    def close(self) -> None:
        if self.mirror is not None:
            self.mirror.close()
        self.resolver.catalog.close()


async def services(request: Request) -> Services:
    """FastAPI dependency: the application's `Services`."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
