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
from registry.resolver.resolve import Resolver
from web.cache import ResponseCache


@dataclass
class Services:
    settings: Settings
    resolver: Resolver
    limits: Limits
    cache: ResponseCache

    @classmethod
    def open(cls, settings: Settings) -> Services:
        # A server answers from its own catalog; it never forwards to another one.
        settings = dataclasses.replace(settings, url=None, token=None)
        resolver = Resolver(settings)
        return cls(
            settings=settings,
            resolver=resolver,
            limits=Limits.from_env(),
            cache=ResponseCache(resolver.catalog),
        )

    def close(self) -> None:
        self.resolver.catalog.close()


async def services(request: Request) -> Services:
    """FastAPI dependency: the application's `Services`."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
