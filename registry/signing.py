"""Short-lived signed tokens: what one server process signs, every process of the
same registry verifies, sharing nothing but a key.

A token is `<payload>.<mac>` in base64url: the payload is JSON (the caller's
fields and `exp`, in Unix seconds), the MAC an HMAC-SHA256 over the token's
purpose and the payload. A token made for one purpose (a Xet write token) is
therefore worthless for another (a signed download URL).

The key is `REGISTRY_SECRET` when set (at least 32 characters; every process of
one registry needs the same), else a random key the first process writes to
`$REGISTRY_HOME/secret` with mode 0600 (processes sharing a home share it).

```python
signer = signer_for(settings)
signed = signer.sign("xet-write", {"repo": "alice/gpt2"}, ttl=900)
signer.verify("xet-write", signed.token)  # {"repo": "alice/gpt2", "exp": ...}, or None
```
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.config import Settings

SECRET_FILE = "secret"
MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class SignedToken:
    token: str
    expires_at: int  # Unix seconds


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies tokens with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, body: str) -> bytes:
        message = f"{purpose}\n{body}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def sign(self, purpose: str, payload: Mapping[str, Any], *, ttl: float) -> SignedToken:
        """A token for `purpose` carrying `payload`, valid for `ttl` seconds."""
        expires_at = int(time.time() + ttl)
        body = _encode(json.dumps({**payload, "exp": expires_at}, sort_keys=True).encode())
        return SignedToken(f"{body}.{_encode(self._mac(purpose, body))}", expires_at)

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired token for `purpose`; None otherwise."""
        body, _, mac = token.partition(".")
        try:
            # The MAC's one canonical spelling: base64 leaves spare bits in its last
            # character, and a decoder ignores them, so comparing bytes would take
            # other spellings of the same MAC (a token that is not the one issued).
            genuine = hmac.compare_digest(mac.encode(), _encode(self._mac(purpose, body)).encode())
            payload = json.loads(_decode(body)) if genuine else None
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            return None
        return payload if payload["exp"] > time.time() else None


def _home_key(home: Path) -> bytes:
    """The key in `home/secret`, created (mode 0600) by the first process to ask."""
    path = home / SECRET_FILE
    if not path.is_file():
        home.mkdir(parents=True, exist_ok=True)
        staged = home / f".{SECRET_FILE}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(staged, path)  # the first writer wins; the others read its key
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return path.read_text(encoding="ascii").strip().encode()


@functools.cache
def signer_for(settings: Settings) -> Signer:
    """The signer of the registry at `settings` (one per home and secret).

    Raises:
        ValueError: `REGISTRY_SECRET` is set but shorter than 32 characters.
    """
    if settings.secret is None:
        return Signer(_home_key(settings.home))
    if len(settings.secret) < MIN_SECRET_CHARS:
        raise ValueError(
            f"REGISTRY_SECRET has {len(settings.secret)} characters; use at least "
            f"{MIN_SECRET_CHARS} random ones (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), the same for every server process."
        )
    return Signer(settings.secret.encode())
