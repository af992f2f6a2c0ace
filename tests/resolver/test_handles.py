"""Handle parsing: examples of every form, and properties over generated handles."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from registry.errors import InvalidHandleError
from registry.resolver.handles import (
    CatalogHandle,
    HfHandle,
    KaggleHandle,
    LocalHandle,
    parse_handle,
)


def never_dir(_: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpt2_base_en", CatalogHandle("keras", "gpt2_base_en")),
        ("keras/gpt2_base_en", CatalogHandle("keras", "gpt2_base_en")),
        ("team/my-model.v2@latest", CatalogHandle("team", "my-model.v2", "latest")),
        ("x@3f2a9c1b", CatalogHandle("keras", "x", "3f2a9c1b")),
        (
            "kaggle://keras/gpt2/keras/gpt2_base_en/3",
            KaggleHandle("keras", "gpt2", "keras", "gpt2_base_en", 3),
        ),
        (
            "kaggle://keras/gpt2/Keras/gpt2_base_en",
            KaggleHandle("keras", "gpt2", "keras", "gpt2_base_en"),
        ),
        ("hf://openai-community/gpt2", HfHandle("openai-community/gpt2")),
        ("hf://gpt2@main", HfHandle("gpt2", "main")),
        ("hf://org/repo@refs/pr/1", HfHandle("org/repo", "refs/pr/1")),
        ("file:///tmp/preset", LocalHandle(Path("/tmp/preset"))),
        ("/tmp/preset/", LocalHandle(Path("/tmp/preset"))),
    ],
)
def test_examples(text: str, expected: object) -> None:
    assert parse_handle(text, is_dir=never_dir) == expected


def test_relative_and_home_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_handle("./p", is_dir=never_dir) == LocalHandle(tmp_path / "p")
    assert parse_handle("../p", is_dir=never_dir) == LocalHandle(tmp_path.parent / "p")
    assert parse_handle("~/p", is_dir=never_dir) == LocalHandle(Path.home() / "p")
    # An existing directory wins over a catalog name of the same spelling.
    (tmp_path / "gpt2_base_en").mkdir()
    assert parse_handle("gpt2_base_en") == LocalHandle(tmp_path / "gpt2_base_en")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        (" gpt2", "spaces"),
        ("ftp://x/y", "unknown scheme 'ftp'"),
        ("kaggle://keras/gpt2", "kaggle://owner/model/framework/variation"),
        ("kaggle://keras/gpt2/keras/x/0", "kaggle://owner/model/framework/variation"),
        ("kaggle://a/b/c/d/e/f", "kaggle://owner/model/framework/variation"),
        ("hf://a/b/c", "hf://org/repo"),
        ("hf://a--b/c", "hf://org/repo"),
        ("hf://org/repo@..", "not a branch"),
        ("file://relative", "absolute path"),
        ("Team/x", "no catalog name"),
        ("a..b", "no catalog name"),
        ("x@", "no catalog name"),
        ("name with space", "no catalog name"),
    ],
)
def test_malformed_handles_are_named_with_every_form(text: str, problem: str) -> None:
    with pytest.raises(InvalidHandleError, match="not a valid preset handle") as raised:
        parse_handle(text, is_dir=never_dir)
    message = str(raised.value)
    assert problem in message
    assert "kaggle://owner/model/framework/variation[/version]" in message
    assert "hf://org/repo[@revision]" in message


slugs = st.from_regex(r"\A[a-z0-9](?:[a-z0-9_-]{0,10}[a-z0-9])?\Z")
names = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9_-]{0,20}[A-Za-z0-9_])?\Z")


@settings(max_examples=200, derandomize=True)
@given(
    owner=slugs,
    model=slugs,
    framework=slugs,
    variation=names,
    version=st.none() | st.integers(1, 10**6),
)
def test_kaggle_handles_round_trip(
    owner: str, model: str, framework: str, variation: str, version: int | None
) -> None:
    handle = KaggleHandle(owner, model, framework, variation, version)
    assert parse_handle(str(handle), is_dir=never_dir) == handle


@settings(max_examples=200, derandomize=True)
@given(
    org=st.none() | slugs,
    repo=names,
    # Branches and tags like "v1.0-rc.2": never "..", which handles refuse.
    revision=st.none() | st.from_regex(r"\A[a-z0-9]{1,4}(?:[._-][a-z0-9]{1,4}){0,3}\Z"),
)
def test_hf_handles_round_trip(org: str | None, repo: str, revision: str | None) -> None:
    repo_id = f"{org}/{repo}" if org else repo
    assume("--" not in repo_id)  # the Hub refuses "--" in repository ids, and so do we
    handle = HfHandle(repo_id, revision)
    assert parse_handle(str(handle), is_dir=never_dir) == handle


@settings(max_examples=200, derandomize=True)
@given(namespace=slugs, name=names, ref=st.none() | names)
def test_catalog_handles_round_trip(namespace: str, name: str, ref: str | None) -> None:
    handle = CatalogHandle(namespace, name, ref)
    assert parse_handle(str(handle), is_dir=never_dir) == handle


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet=string.printable + "\x00é/@:", max_size=60))
def test_any_string_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        handle = parse_handle(text, is_dir=never_dir)
    except InvalidHandleError:
        return
    # Whatever parses has a canonical form that parses to itself.
    assert parse_handle(str(handle), is_dir=never_dir) == handle


@settings(max_examples=100, derandomize=True)
@given(
    st.lists(
        st.from_regex(r"\A[a-zA-Z0-9_.-][a-zA-Z0-9_. -]{0,10}[a-zA-Z0-9_.-]\Z"),
        min_size=1,
        max_size=4,
    )
)
def test_local_paths_are_absolute_and_normalised(parts: list[str]) -> None:
    handle = parse_handle("/" + "/".join(parts), is_dir=never_dir)
    assert isinstance(handle, LocalHandle)
    assert handle.path.is_absolute()
    assert ".." not in handle.path.parts
