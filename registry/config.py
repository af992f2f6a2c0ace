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
| `REGISTRY_REQUIRE_SIGNED` | namespaces of signed uploads only: `ns1,ns2:KEY[,KEY];ns3:KEY` | - |

In `REGISTRY_REQUIRE_SIGNED` a key is a PEM public key file or the fingerprint
of a key registered with `registry key add` (`registry/trust/policy.py`).

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

APP_NAME = "keras-preset-registry"
DEFAULT_NAMESPACE = "keras"
_TRUE = frozenset({"1", "true", "yes", "on"})


def _default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


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
        )


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
