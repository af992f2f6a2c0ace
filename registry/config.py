"""Settings from environment variables: the one place that reads them.

| variable | meaning | default |
|---|---|---|
| `REGISTRY_HOME` | where the catalog and the store live | the platform's user data directory |
| `REGISTRY_DB_URL` | the catalog database (a SQLAlchemy URL) | `$REGISTRY_HOME/catalog.db` |
| `REGISTRY_URL` | a registry server to talk to instead of the embedded one | none |
| `REGISTRY_TOKEN` | the API token for that server | none |
| `REGISTRY_OFFLINE` | `1` to never touch the network | off |
| `REGISTRY_SECRET` | the server's key for signed tokens and URLs | `$REGISTRY_HOME/secret` |
| `REGISTRY_LFS_CHUNK_BYTES` | a server's LFS part size: larger files are sent in parts | 2 GiB |
| `REGISTRY_HF_UPSTREAM` | the Hub a server mirrors (fetches what it lacks from) | none |
| `REGISTRY_HF_REVALIDATE` | seconds a mirror trusts a branch's commit | 60 |
| `REGISTRY_BLOB_URL` | `s3://bucket/prefix`: blobs in an S3-compatible bucket | under the home |
| `REGISTRY_BLOB_REDIRECT` | `0`: stream bucket files, not redirect to presigned URLs | `1` |
| `REGISTRY_BLOB_URL_TTL` | seconds a presigned download URL stays valid | 300 |
| `REGISTRY_REQUIRE_SIGNED` | namespaces of signed uploads only: `ns1,ns2:KEY[,KEY];ns3:KEY` | - |
| `REGISTRY_SEARCH_INDEX` | `0`: searches ask the database, not a server's in-memory index | `1` |
| `REGISTRY_RESPONSE_CACHE` | `0`: a server renders every search and catalog page anew | `1` |
| `REGISTRY_TRY_WORKERS` | worker processes generating for the "Try it" box (`0`: no box) | 1 |
| `REGISTRY_TRY_MODELS` | models each worker keeps loaded (least recently used evicted) | 2 |
| `REGISTRY_TRY_QUEUE` | requests waiting for a worker before the server answers 429 | 8 |
| `REGISTRY_TRY_MAX_PROMPT` | longest prompt, in characters | 2000 |
| `REGISTRY_TRY_MAX_NEW_TOKENS` | most tokens one request may generate | 128 |
| `REGISTRY_TRY_TIMEOUT` | seconds one request may take, loading included | 120 |
| `REGISTRY_TRY_RATE` | requests per minute from one client (token owner, else address) | 20 |

In `REGISTRY_REQUIRE_SIGNED` a key is a PEM public key file or the fingerprint
of a key registered with `registry key add` (`registry/trust/policy.py`).

With `REGISTRY_BLOB_URL`, the standard `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`),
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and `AWS_REGION`
(or `AWS_DEFAULT_REGION`) name the bucket's endpoint and credentials.

A mirror sends the upstream its own `HF_TOKEN` (from its environment) and never
a caller's token.

Every server process of one registry must sign with the same key: set
`REGISTRY_SECRET` when they do not share `REGISTRY_HOME`. Unset, the first
process creates a random key in `$REGISTRY_HOME/secret` (mode 0600).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.bucket import Bucket

APP_NAME = "keras-preset-registry"
DEFAULT_NAMESPACE = "keras"
_TRUE = frozenset({"1", "true", "yes", "on"})


def _default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class TryLimits:
    """What the "Try it" box may use: its workers and each request's limits."""

    workers: int = 1
    models_per_worker: int = 2
    queue: int = 8
    max_prompt_chars: int = 2000
    max_new_tokens: int = 128
    timeout_s: float = 120.0
    rate_per_minute: int = 20

    @classmethod
    def from_env(cls, env: dict[str, str]) -> TryLimits:
        def count(name: str, default: int, *, zero: bool = False) -> int:
            value = env.get(name, "").strip()
            if not value:
                return default
            if not value.isdigit() or (int(value) == 0 and not zero):
                least = "0" if zero else "1"
                raise ValueError(f"{name}={value!r} must be a whole number, {least} or more.")
            return int(value)

        return cls(
            workers=count("REGISTRY_TRY_WORKERS", cls.workers, zero=True),
            models_per_worker=count("REGISTRY_TRY_MODELS", cls.models_per_worker),
            queue=count("REGISTRY_TRY_QUEUE", cls.queue, zero=True),
            max_prompt_chars=count("REGISTRY_TRY_MAX_PROMPT", cls.max_prompt_chars),
            max_new_tokens=count("REGISTRY_TRY_MAX_NEW_TOKENS", cls.max_new_tokens),
            timeout_s=_seconds(env, "REGISTRY_TRY_TIMEOUT", cls.timeout_s) or cls.timeout_s,
            rate_per_minute=count("REGISTRY_TRY_RATE", cls.rate_per_minute),
        )


@dataclass(frozen=True)
class Settings:
    """Where the registry keeps its data and whom it talks to."""

    home: Path
    db_url: str
    url: str | None = None
    token: str | None = None
    offline: bool = False
    secret: str | None = field(default=None, repr=False)
    lfs_chunk_bytes: int = 2 << 30
    require_signed: str | None = None  # parsed by registry.trust.policy
    hf_upstream: str | None = None
    hf_revalidate_s: float = 60.0
    hf_upstream_token: str | None = field(default=None, repr=False)  # HF_TOKEN
    blob_url: str | None = None  # REGISTRY_BLOB_URL
    blob_redirect: bool = True
    blob_url_ttl_s: float = 300.0
    xet_downloads: bool = True  # REGISTRY_XET_DOWNLOADS=0: offer hf_xet no read path
    search_index: bool = True  # REGISTRY_SEARCH_INDEX=0: searches ask the database
    response_cache: bool = True  # REGISTRY_RESPONSE_CACHE=0: nothing rendered is reused
    # The AWS_* settings, as (name, value) pairs (settings are hashable).
    aws: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    try_limits: TryLimits = field(default_factory=TryLimits)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env["REGISTRY_HOME"]).expanduser() if env.get("REGISTRY_HOME") else None
        home = home or _default_home()
        return cls(
            home=home,
            db_url=env.get("REGISTRY_DB_URL") or sqlite_url(home / "catalog.db"),
            url=env.get("REGISTRY_URL") or None,
            token=env.get("REGISTRY_TOKEN") or None,
            offline=env.get("REGISTRY_OFFLINE", "").strip().lower() in _TRUE,
            secret=env.get("REGISTRY_SECRET") or None,
            lfs_chunk_bytes=_positive(env, "REGISTRY_LFS_CHUNK_BYTES", cls.lfs_chunk_bytes),
            require_signed=env.get("REGISTRY_REQUIRE_SIGNED", "").strip() or None,
            hf_upstream=env.get("REGISTRY_HF_UPSTREAM", "").strip().rstrip("/") or None,
            hf_revalidate_s=_seconds(env, "REGISTRY_HF_REVALIDATE", cls.hf_revalidate_s),
            hf_upstream_token=env.get("HF_TOKEN") or None,
            blob_url=_blob_url(env),
            blob_redirect=env.get("REGISTRY_BLOB_REDIRECT", "1").strip().lower() in _TRUE,
            blob_url_ttl_s=_seconds(env, "REGISTRY_BLOB_URL_TTL", cls.blob_url_ttl_s),
            xet_downloads=env.get("REGISTRY_XET_DOWNLOADS", "1").strip().lower() in _TRUE,
            search_index=env.get("REGISTRY_SEARCH_INDEX", "1").strip().lower() in _TRUE,
            response_cache=env.get("REGISTRY_RESPONSE_CACHE", "1").strip().lower() in _TRUE,
            aws=tuple(sorted((k, v) for k, v in env.items() if k in _AWS and v)),
            try_limits=TryLimits.from_env(env),
        )

    def bucket(self) -> Bucket | None:
        """The bucket of `REGISTRY_BLOB_URL`, or None (blobs stay under `home`)."""
        if self.blob_url is None:
            return None
        from registry.bucket import Bucket

        return Bucket(self.blob_url, dict(self.aws))


_AWS = frozenset(
    {
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    }
)


def _blob_url(env: dict[str, str]) -> str | None:
    url = env.get("REGISTRY_BLOB_URL", "").strip() or None
    if url is not None:
        from registry.bucket import parse_blob_url

        parse_blob_url(url)  # a malformed URL stops the start, with the fix
    return url


def _positive(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{name}={value!r} must be a positive whole number of bytes.")
    return int(value)


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(f"{name}={value!r} must be a number of seconds (0 or more).")
    return seconds


def local_user() -> str:
    """This machine's user as a namespace: who owns the embedded catalog's uploads."""
    import getpass

    cleaned = "".join(c if c.isalnum() else "-" for c in getpass.getuser().lower()).strip("-")
    return cleaned[:64] or "user"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite database file."""
    return f"sqlite:///{path}"
