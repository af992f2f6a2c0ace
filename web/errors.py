"""Every error becomes one JSON body, `{"error": {"code", "message"}}`, with the
status code its kind deserves; pages get the same message in an HTML page.

Nothing a client sends can produce a 500: the library raises `RegistryError`
subclasses for bad input, and they map here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry import errors

log = logging.getLogger("registry.web")

# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.UploadTooLargeError, 413, "too_large"),
    (errors.UnsafePresetError, 422, "unsafe_preset"),
    (errors.WeightsMismatchError, 422, "weights_mismatch"),
    (errors.PresetFormatError, 422, "invalid_preset"),
    (errors.ChecksumMismatchError, 422, "checksum_mismatch"),
    (errors.PresetNotFoundError, 404, "not_found"),
    (errors.AuthenticationError, 401, "unauthorized"),
    (errors.PermissionDeniedError, 403, "forbidden"),
    (errors.PresetExistsError, 409, "conflict"),
    (errors.AliasExistsError, 409, "conflict"),
    (errors.InvalidNameError, 422, "invalid_name"),
    (errors.InvalidHandleError, 422, "invalid_name"),
    (errors.OfflineError, 503, "offline"),
    (errors.SourceError, 502, "source_unavailable"),
    (errors.CatalogUnavailableError, 503, "catalog_unavailable"),
    (errors.StoreError, 507, "storage_error"),  # the server's disk, not the request
    (errors.RegistryError, 400, "bad_request"),
)


def status_of(error: Exception) -> tuple[int, str]:
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            return status, code
    return 500, "internal"


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


def _render(request: Request, status: int, code: str, message: str) -> Response:
    from web.pages import render_error

    return render_error(request, status, code, message)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error its status and body."""

    @app.exception_handler(errors.RegistryError)
    async def registry_error(request: Request, error: errors.RegistryError) -> Response:
        status, code = status_of(error)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if _wants_html(request):
            return _render(request, status, code, str(error))
        return error_response(status, code, str(error), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            error.status_code, "http_error"
        )
        message = str(error.detail)
        if _wants_html(request):
            return _render(request, error.status_code, code, message)
        return error_response(error.status_code, code, message, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        message = "Invalid request: " + "; ".join(problems)
        if _wants_html(request):
            return _render(request, 422, "invalid_request", message)
        return error_response(422, "invalid_request", message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "Internal error; the server log has the details.")
