"""Lineage: a preset names the preset it was fine-tuned from (`base_model`), by
the upload's field or its card's front matter; built-ins carry it; search filters
by it. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import Registry
from registry.architectures import allowlist
from registry.catalog import builtin
from registry.catalog.database import Catalog
from registry.catalog.names import check_base_model
from registry.catalog.queries import find_preset, preset_detail
from registry.errors import InvalidNameError, PresetFormatError, PresetNotFoundError
from registry.preset.card import MAX_FRONT_MATTER_BYTES, card_base_model, split_front_matter
from tests.resolver.servers import HubHandler, Repo, serve
from tests.test_cli import run


@pytest.fixture()
def registry(database_url: str, tmp_path: Path) -> Iterator[Registry]:
    embedded = Registry(db_url=database_url, cache_dir=tmp_path / "home")
    yield embedded
    embedded.close()


def _card(preset: Path, front_matter: str) -> Path:
    (preset / "README.md").write_text(f"---\n{front_matter}\n---\n# A fine-tune\n")
    return preset


def _leftovers(registry: Registry) -> list[Path]:
    return sorted(registry.resolver.store.tmp.iterdir())


# === Built-ins ===


def test_the_builtins_name_their_bases_as_keras_hub_describes_them(catalog: Catalog) -> None:
    with catalog.transaction(write=False) as session:
        bases = {
            name: (preset_detail(session, name) or pytest.fail(name)).base_model
            for name in (
                "gpt2_base_en_cnn_dailymail",
                "bert_tiny_en_uncased_sst2",
                "llama3.1_guard_8b",
                "llama3.2_guard_1b",
                "gpt2_base_en",
            )
        }
    assert bases == {
        "gpt2_base_en_cnn_dailymail": "keras/gpt2_base_en",
        "bert_tiny_en_uncased_sst2": "keras/bert_tiny_en_uncased",
        "llama3.1_guard_8b": "keras/llama3.1_8b",
        "llama3.2_guard_1b": "keras/llama3.2_1b",
        "gpt2_base_en": None,
    }


def test_every_builtin_base_is_a_builtin_of_the_same_architecture_and_size() -> None:
    table = {p.name: p for p in allowlist.builtin_presets()}
    tuned = [p for p in table.values() if p.base_model is not None]
    assert len(tuned) == 4
    for preset in tuned:
        base = table[preset.base_model or ""]
        assert (base.architecture, base.params) == (preset.architecture, preset.params)
        assert "tuned" in preset.description.lower()


def test_base_models_are_seeded_and_fingerprinted(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Catalog.open(database_url).close()
    before = builtin.fingerprint()
    changed = [
        dataclasses.replace(p, base_model="gpt2_medium_en")
        if p.name == "gpt2_base_en_cnn_dailymail"
        else p
        for p in allowlist.builtin_presets()
    ]
    monkeypatch.setattr(allowlist, "builtin_presets", lambda: changed)
    assert builtin.fingerprint() != before
    catalog = Catalog.open(database_url)  # an existing catalog seeds again
    with catalog.transaction(write=False) as session:
        preset = find_preset(session, "gpt2_base_en_cnn_dailymail")
        assert preset is not None and preset.base_model == "keras/gpt2_medium_en"
    catalog.close()


# === Uploads (Python) and search ===


def test_upload_names_its_base_and_search_filters_by_it(
    registry: Registry, keras_hub_preset: Path
) -> None:
    uploaded = registry.upload(keras_hub_preset, "team/summarizer", base_model="gpt2_base_en")
    assert registry.info("team/summarizer").base_model == "keras/gpt2_base_en"  # bare: keras/
    registry.upload(keras_hub_preset, "team/other", base_model="team/summarizer")
    found = registry.search(base_model="keras/gpt2_base_en", sort="name")
    assert [p.id for p in found.items] == ["keras/gpt2_base_en_cnn_dailymail", "team/summarizer"]
    assert [p.base_model for p in found.items] == ["keras/gpt2_base_en"] * 2
    assert [p.id for p in registry.search(base_model="gpt2_base_en").items] == [
        p.id for p in found.items
    ]
    assert [p.id for p in registry.search(base_model="team/summarizer").items] == ["team/other"]
    assert registry.search("summarizer", base_model="team/other").items == ()
    # A new revision that names no base keeps the preset's.
    again = registry.upload(keras_hub_preset, "team/summarizer", message="same files")
    assert again.digest == uploaded.digest
    assert registry.info("team/summarizer").base_model == "keras/gpt2_base_en"


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        ("base_model: keras/gpt2_base_en", "keras/gpt2_base_en"),
        ("base_model:\n  - Qwen/Qwen2.5-0.5B\n  - keras/gpt2_base_en", "Qwen/Qwen2.5-0.5B"),
        ("license: mit\nbase_model: [gpt2_base_en]", "keras/gpt2_base_en"),
        ("base_model: []", None),
        ("base_model: [unclosed", None),  # not YAML: a card without metadata
        ("- a list, not a mapping", None),
        ("tags: [x]", None),
    ],
)
def test_the_cards_front_matter_names_the_base(
    registry: Registry, keras_hub_preset: Path, front_matter: str, expected: str | None
) -> None:
    registry.upload(_card(keras_hub_preset, front_matter), "team/carded")
    assert registry.info("team/carded").base_model == expected


def test_the_explicit_field_wins_over_the_card(registry: Registry, keras_hub_preset: Path) -> None:
    _card(keras_hub_preset, "base_model: keras/gpt2_medium_en")
    registry.upload(keras_hub_preset, "team/both", base_model="keras/gpt2_base_en")
    assert registry.info("team/both").base_model == "keras/gpt2_base_en"


@pytest.mark.parametrize(
    ("front_matter", "error", "message"),
    [
        ("base_model: 12", PresetFormatError, "README.md: the front matter's base_model is"),
        ("base_model: {a: b}", PresetFormatError, "neither a preset name nor a list"),
        ("base_model: [1, 2]", PresetFormatError, "Received: base_model='1'"),
        ("base_model: 'has space/x'", InvalidNameError, "README.md of team/bad: base_model"),
        ("base_model: a/b/c", InvalidNameError, "is not a preset name: use namespace/name"),
        ("base_model: team/bad", InvalidNameError, "team/bad cannot be its own base model"),
    ],
)
def test_an_invalid_card_value_is_refused_and_leaves_nothing(
    registry: Registry,
    keras_hub_preset: Path,
    front_matter: str,
    error: type[Exception],
    message: str,
) -> None:
    blobs = set(registry.resolver.store.blobs.glob("*/*"))
    with pytest.raises(error, match=message) as refused:
        registry.upload(_card(keras_hub_preset, front_matter), "team/bad")
    assert "--base-model" in str(refused.value)  # the way out
    with pytest.raises(PresetNotFoundError):
        registry.info("team/bad")
    assert set(registry.resolver.store.blobs.glob("*/*")) == blobs
    assert _leftovers(registry) == []
    # The explicit field, which the card does not override, is a way out.
    registry.upload(keras_hub_preset, "team/bad", base_model="keras/gpt2_base_en")
    assert registry.info("team/bad").base_model == "keras/gpt2_base_en"


@pytest.mark.parametrize(
    "value",
    ["a b/c", "x/y/z", "/name", "ns/", "ns/..name", "ns/name-", "-ns/name", "a" * 97 + "/b",
     "ns/" + "n" * 129, ""],
)  # fmt: skip
def test_invalid_base_model_fields_are_refused_before_a_file_is_read(
    registry: Registry, keras_hub_preset: Path, value: str
) -> None:
    with pytest.raises(InvalidNameError, match=r"base_model .* is not a preset name: use "):
        registry.upload(keras_hub_preset, "team/named", base_model=value or " ")
    assert _leftovers(registry) == []


def test_base_model_names() -> None:
    assert check_base_model(" gpt2_base_en ") == "keras/gpt2_base_en"
    assert check_base_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"  # the Hub's ids too
    assert check_base_model("team/x", of="team/y") == "team/x"
    with pytest.raises(InvalidNameError, match="cannot be its own base model"):
        check_base_model("x", of="keras/x")
    with pytest.raises(InvalidNameError, match="base_model 3 is not a preset name"):
        check_base_model(3)


# === The card ===


def test_front_matter_is_read_within_bounds(tmp_path: Path) -> None:
    assert split_front_matter("\n---\nbase_model: a/b\n---\nbody\n") == (
        "base_model: a/b",
        "body\n",
    )
    assert split_front_matter("---\nnever closed\n") == (None, "---\nnever closed\n")
    assert split_front_matter("# no front matter\n---\n") == (None, "# no front matter\n---\n")
    long = "x: " + "y" * MAX_FRONT_MATTER_BYTES
    (tmp_path / "README.md").write_text(f"---\n{long}\nbase_model: a/b\n---\n")
    assert card_base_model(tmp_path) is None  # metadata past the bound is not read
    deep = "[" * 5000 + "]" * 5000
    (tmp_path / "README.md").write_text(f"---\nbase_model: {deep}\n---\n")
    assert card_base_model(tmp_path) is None  # too deep for YAML: no metadata
    (tmp_path / "README.md").write_text("---\nbase_model: !!python/object:os.system x\n---\n")
    assert card_base_model(tmp_path) is None  # the safe loader refuses object tags
    (tmp_path / "README.md").unlink()
    assert card_base_model(tmp_path) is None


# === Sync ===


def test_a_synced_folder_takes_its_cards_base(registry: Registry, keras_hub_preset: Path) -> None:
    resolved = registry.sync(str(_card(keras_hub_preset, "base_model: keras/gpt2_base_en")))
    assert registry.info(resolved.preset).base_model == "keras/gpt2_base_en"
    # Someone else's card naming its base badly does not stop a sync.
    resolved = registry.sync(str(_card(keras_hub_preset, "base_model: 'not a name'")))
    assert registry.info(resolved.preset).base_model is None


def test_a_hub_sync_takes_the_cards_base(
    keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {
        p.relative_to(keras_hub_preset).as_posix(): p.read_bytes()
        for p in keras_hub_preset.rglob("*")
        if p.is_file()
    }
    files["README.md"] = b"---\nbase_model: keras/gpt2_base_en\n---\n# Tuned\n"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    with serve(HubHandler, {"org/tuned": Repo(files)}) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        with Registry(cache_dir=tmp_path / "home") as registry:
            resolved = registry.sync("hf://org/tuned")
            assert registry.info(resolved.preset).base_model == "keras/gpt2_base_en"


# === The CLI ===


def test_cli_upload_info_and_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras_hub_preset: Path
) -> None:
    monkeypatch.setenv("REGISTRY_HOME", str(tmp_path / "home"))
    uploaded = run("upload", str(keras_hub_preset), "team/tuned", "--base-model", "gpt2_base_en")
    assert uploaded.returncode == 0, uploaded.stderr
    info = run("info", "team/tuned")
    assert "fine-tuned from: keras/gpt2_base_en" in info.stdout
    assert json.loads(run("info", "team/tuned", "--json").stdout)["base_model"] == (
        "keras/gpt2_base_en"
    )
    found = json.loads(run("search", "--base-model", "keras/gpt2_base_en", "--json").stdout)
    assert {p["id"] for p in found["items"]} == {"team/tuned", "keras/gpt2_base_en_cnn_dailymail"}
    refused = run("upload", str(keras_hub_preset), "team/bad", "--base-model", "a b")
    assert refused.returncode == 1
    assert "base_model 'a b' is not a preset name: use namespace/name" in refused.stderr
    assert "--base-model" in run("upload", "--help").stdout
