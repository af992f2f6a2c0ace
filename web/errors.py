"""Every error becomes one JSON body, `{"error": {"code", "message"}}`, with the
status and code `registry.errors.ERROR_CODES` gives its kind (the table the
client reads codes back with); pages get the same message in an HTML page.

Nothing a client sends can produce a 500: the library raises `RegistryError`
subclasses for bad input, and they map here.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry import errors
from web.api.hub_errors import HubError, hub_error, is_hub_path
from web.rendering import render_error

log = logging.getLogger("registry.web")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _wants_html(request: Request) -> bool:
    path = request.url.path
    is_api = path.startswith("/api/") or "/resolve/" in path
    return not is_api and "text/html" in request.headers.get("accept", "")


def _answer(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    if is_hub_path(request.url.path):  # the Hub's clients read their own form
        return HubError(None, message, status).response()
    if _wants_html(request):
        return render_error(request, status, code, message)
    return error_response(status, code, message, headers)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error its status and body."""

    @app.exception_handler(HubError)
    async def hub_protocol_error(request: Request, error: HubError) -> Response:
        return error.response()

    @app.exception_handler(errors.RegistryError)
    async def registry_error(request: Request, error: errors.RegistryError) -> Response:
        if is_hub_path(request.url.path):  # with the codes the Hub's clients know
            return hub_error(error, request).response()
        status, code = errors.status_of(error)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(error, errors.TooManyRequestsError):
            headers = {"Retry-After": str(max(1, math.ceil(error.retry_after_s)))}
        return _answer(request, status, code, str(error), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            error.status_code, "http_error"
        )
        headers = getattr(error, "headers", None)
        return _answer(request, error.status_code, code, str(error.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        message = "Invalid request: " + "; ".join(problems)
        return _answer(request, 422, "invalid_request", message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "Internal error; the server log has the details.")
