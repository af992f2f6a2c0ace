"""The FastAPI application factory.

```python
from web.app import create_app
app = create_app()              # settings from REGISTRY_* environment variables
```

Starting applies the catalog's migrations, seeds the built-in presets and puts
the bundled demo preset in the store, so a fresh server has something to serve.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from registry.config import Settings
from registry.preset.demo import DEMO_PRESET
from registry.version import __version__
from web import compare, errors, login, pages, tryit, uploads
from web.api import hf, hub_commit, hub_repos, lfs, signatures, v1, xet, xet_read
from web.services import Services, ServicesDep

DESCRIPTION = """A verified registry of Keras presets.

- `/api/v1`: the registry's JSON API (search, presets, revisions, files, uploads, aliases).
- `/api/models/...`, `/api/repos/...` and `/{namespace}/{name}/resolve/...`: the Hugging Face
  Hub's protocol (downloads, commits, LFS uploads, branches and tags), for `huggingface_hub`
  and keras-hub with `HF_ENDPOINT` set to this server.

Writes need `Authorization: Bearer <token>` with write scope.
"""


def prepare_routes(app: FastAPI) -> None:
    """Have FastAPI build what it builds for a route on the first request that
    reaches it (recent releases derive each included route's dependencies then,
    from its signature: 0.1 to 0.2 s in all here), now rather than during the
    first requests after a start. A request no route answers, matched against
    every route, reaches them all: no route has its method, so none matches
    fully and the search does not stop early."""
    scope = {"type": "http", "method": "PREPARE", "path": "/", "root_path": "",
             "headers": [], "query_string": b""}  # fmt: skip
    for route in app.router.routes:
        route.matches(dict(scope))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web application (settings default to the environment's)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(Services.open, settings or Settings.from_env())
        await run_in_threadpool(services.resolver.resolve, DEMO_PRESET)
        prepare_routes(app)
        app.state.services = services
        try:
            yield
        finally:
            if services.generation is not None:
                await services.generation.close()
            services.close()

    app = FastAPI(
        title="Keras preset registry",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    errors.install(app)

    @app.get("/health", tags=["service"])
    def health(svc: ServicesDep) -> dict[str, str]:
        """Liveness probe: the process is up and serving. `search_index` says
        whether its in-memory search index is built ("ready"), on its way
        ("building", searches ask the database meanwhile) or "off"."""
        index = "off" if svc.index is None else svc.index.state()
        return {"status": "ok", "version": __version__, "search_index": index}

    app.include_router(v1.router)
    app.include_router(uploads.api_router)
    app.include_router(signatures.router)
    app.include_router(compare.api_router)
    app.include_router(pages.router)
    app.include_router(compare.page_router)
    app.include_router(tryit.api_router)
    app.include_router(tryit.page_router)
    app.include_router(uploads.page_router)
    app.include_router(login.router)
    app.include_router(hf.router)
    app.include_router(hub_repos.router)
    app.include_router(hub_commit.router)
    app.include_router(lfs.router)
    app.include_router(xet.router)
    app.include_router(xet_read.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
