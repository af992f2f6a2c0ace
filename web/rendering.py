"""Rendering HTML pages: the templates, their filters, the security headers and
the cookies every page sets (the CSRF token's, the login token's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from web.auth import CSRF_COOKIE, CSRF_FIELD, Principal, csrf_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def human_count(value: int | None) -> str:
    """124_439_808 -> "124.4M" (parameter counts as model cards give them)."""
    if value is None:
        return "?"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return str(value)


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


TEMPLATES.env.filters["count"] = human_count
TEMPLATES.env.filters["bytes"] = human_bytes


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """Render a page; every page gets the caller and a CSRF token for its forms
    (kept in `request.state.csrf` too)."""
    token = request.state.csrf = csrf_token(request)
    who: Principal = context.get("who") or Principal()
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {"who": who, "csrf": token, "csrf_field": CSRF_FIELD, **context},
        status_code=status,
    )
    give_csrf_cookie(request, response, token)
    response.headers.update(SECURITY_HEADERS)
    return response


def give_csrf_cookie(request: Request, response: Response, token: str) -> None:
    """Set the browser's CSRF cookie to `token` unless it holds it already."""
    if request.cookies.get(CSRF_COOKIE) != token:
        set_cookie(request, response, CSRF_COOKIE, token)


def render_error(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "code": code, "message": message},
                  status)  # fmt: skip


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=30 * 24 * 3600,
    )
