"""Small JSON request bodies (the Hub protocol's), read with a size limit: a
client cannot make the server hold more than `limit` bytes of one."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from registry.errors import InvalidNameError

MAX_BODY = 1 << 20


async def read_json(request: Request, limit: int = MAX_BODY) -> Any:
    """The body as JSON (`{}` when empty).

    Raises:
        InvalidNameError: over `limit` bytes, or not JSON.
    """
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidNameError(f"The request body is over {limit} bytes; send less.")
    try:
        return json.loads(body or b"{}")
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise InvalidNameError(f"The request body is not JSON ({error}).") from error
