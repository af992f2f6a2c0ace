"""Signing in to the pages with an API token (kept in an HttpOnly cookie), and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from web.auth import TOKEN_COOKIE, PrincipalDep, check_csrf, principal_for
from web.rendering import render, set_cookie
from web.services import ServicesDep

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, who: PrincipalDep, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"who": who, "next": _local(next)})


def _local(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    svc: ServicesDep,
    token: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    who = principal_for(svc, token.strip())
    if who is None:
        return render(
            request,
            "login.html",
            {"error": "That token is unknown or revoked.", "next": _local(next)},
            status=401,
        )
    response = RedirectResponse(_local(next), status_code=303)
    set_cookie(request, response, TOKEN_COOKIE, token.strip())
    return response


@router.post("/logout", response_model=None)
def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response
