"""What resolving gives: a verified revision in the store; and whether the
registry may use the network."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from registry.config import Settings
from registry.preset.manifest import Manifest

Verify = Literal["fast", "full"] | bool
_OFFLINE_VARIABLES = ("REGISTRY_OFFLINE", "HF_HUB_OFFLINE", "KAGGLEHUB_OFFLINE")


@dataclass(frozen=True)
class Resolved:
    """A verified revision in the store."""

    preset: str  # namespace/name in the catalog
    digest: str
    path: Path
    manifest: Manifest


def is_offline(settings: Settings) -> bool:
    """Offline by the registry's setting or by the clients' own variables."""
    truthy = {"1", "true", "yes", "on"}
    return settings.offline or any(
        os.environ.get(name, "").strip().lower() in truthy for name in _OFFLINE_VARIABLES
    )
