"""The presets every catalog has: keras-hub's built-in presets and the demo.

The built-in presets come from each architecture's table (the allow-list's
`builtin_presets`) in namespace `keras`, with their Kaggle handles, not yet
synced: they get a revision when the resolver first fetches them. The demo
preset ships with the package, so it is recorded with its revision and files at
once. Seeding is idempotent and
brings existing rows up to date when the table changes; a fingerprint of the
table, kept in `catalog_state`, lets opening a current catalog skip it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.architectures import allowlist
from registry.architectures.spec import BuiltinPreset
from registry.catalog.models import CatalogState
from registry.catalog.service import PresetSpec, move_alias, record_revision, upsert_preset
from registry.config import DEFAULT_NAMESPACE
from registry.preset.demo import DEMO_PRESET, demo_preset_dir
from registry.preset.manifest import read_manifest
from registry.preset.validate import architecture_of


def _builtin_spec(preset: BuiltinPreset) -> PresetSpec:
    return PresetSpec(
        namespace=DEFAULT_NAMESPACE,
        name=preset.name,
        architecture=preset.architecture,
        description=preset.description,
        parameter_count=preset.params,
        source=preset.kaggle_handle,
        source_kind="kaggle",
        tags=allowlist.specs()[preset.architecture].tags,
        base_model=f"{DEFAULT_NAMESPACE}/{preset.base_model}" if preset.base_model else None,
    )


def _demo_spec() -> PresetSpec:
    directory = demo_preset_dir()
    metadata = json.loads((directory / "metadata.json").read_text(encoding="utf-8"))
    architecture = architecture_of(directory)
    return PresetSpec(
        namespace=DEFAULT_NAMESPACE,
        name=DEMO_PRESET,
        architecture=architecture,
        description=(
            "A tiny GPT-2 with random weights that ships with the registry, "
            "so loading and verifying work offline."
        ),
        parameter_count=int(metadata["parameter_count"]),
        source=None,
        source_kind="bundled",
        tags=(*allowlist.specs()[architecture].tags, "demo"),
        license="Apache-2.0",
    )


def fingerprint() -> str:
    """A digest of everything seeding writes: it changes when the table does."""
    specs = [asdict(_builtin_spec(b)) for b in allowlist.builtin_presets()]
    specs.append(asdict(_demo_spec()))
    demo_revision = read_manifest(demo_preset_dir()).revision_id
    text = json.dumps([specs, demo_revision], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def is_seeded(session: Session, current: str) -> bool:
    """Whether the catalog holds the built-ins as `fingerprint()` describes them."""
    return session.scalar(select(CatalogState.seeded)) == current


def seed_builtins(session: Session, current: str | None = None) -> None:
    """Make the built-in presets present and current, and record `current`
    (default: `fingerprint()`) as seeded."""
    for builtin in allowlist.builtin_presets():
        upsert_preset(session, _builtin_spec(builtin))
    demo = upsert_preset(session, _demo_spec())
    session.flush()
    revision = record_revision(
        session,
        demo,
        read_manifest(demo_preset_dir()),
        message="bundled with the package",
    )[0]
    session.flush()
    move_alias(session, demo, "latest", revision)
    session.execute(update(CatalogState).values(seeded=current or fingerprint()))
