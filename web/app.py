"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from registry import __version__


def create_app() -> FastAPI:
    """Build the web application."""
    app = FastAPI(title="Keras preset registry", version=__version__)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness probe: the process is up and serving."""
        return {"status": "ok", "version": __version__}

    return app
