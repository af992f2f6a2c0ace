"""Preset handles: every form a user may name a preset by, parsed and normalised.

| form | example | kind |
|---|---|---|
| catalog name | `gpt2_base_en`, `keras/gpt2_base_en@latest`, `team/x@3f2a9c1b` | `CatalogHandle` |
| Kaggle | `kaggle://keras/gpt2/keras/gpt2_base_en/3` | `KaggleHandle` |
| Hugging Face | `hf://openai-community/gpt2@main` | `HfHandle` |
| local directory | `/abs/dir`, `./rel/dir`, `~/dir`, `file:///abs/dir` | `LocalHandle` |

Parsing is pure: it never touches the network. The only question it asks the
file system, through `is_dir`, is whether a bare string that could be either a
relative directory or a catalog name is a directory (keras-hub's rule: an
existing directory wins).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from registry.config import DEFAULT_NAMESPACE
from registry.errors import InvalidHandleError

_SLUG = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?"
_CATALOG = re.compile(
    rf"^(?:(?P<namespace>[a-z0-9](?:[a-z0-9_-]{{0,62}}[a-z0-9])?)/)?"
    rf"(?P<name>{_SLUG})(?:@(?P<ref>[A-Za-z0-9._-]+))?$"
)
_KAGGLE = re.compile(
    rf"^(?P<owner>{_SLUG})/(?P<model>{_SLUG})/(?P<framework>{_SLUG})/(?P<variation>{_SLUG})"
    r"(?:/(?P<version>[1-9][0-9]{0,8}))?$"
)
_HF_REPO = re.compile(rf"^(?:(?P<org>{_SLUG})/)?(?P<repo>{_SLUG})$")
_HF_REVISION = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
_DIGEST_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass(frozen=True)
class CatalogHandle:
    """A preset of the catalog, at an alias or a revision (digest or its prefix)."""

    namespace: str
    name: str
    ref: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ref_is_digest(self) -> bool:
        """Whether `ref` names a revision by (a prefix of) its digest, not an alias."""
        return self.ref is not None and bool(_DIGEST_PREFIX.match(self.ref))

    def __str__(self) -> str:
        return self.full_name + (f"@{self.ref}" if self.ref else "")


@dataclass(frozen=True)
class KaggleHandle:
    """A Kaggle Models variation, at a version (the newest when None)."""

    owner: str
    model: str
    framework: str
    variation: str
    version: int | None = None

    @property
    def kagglehub_handle(self) -> str:
        """The handle `kagglehub.model_download` takes."""
        base = f"{self.owner}/{self.model}/{self.framework}/{self.variation}"
        return base if self.version is None else f"{base}/{self.version}"

    def __str__(self) -> str:
        return f"kaggle://{self.kagglehub_handle}"


@dataclass(frozen=True)
class HfHandle:
    """A Hugging Face Hub model repository, at a revision (its default branch when None)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"hf://{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class LocalHandle:
    """A preset directory on this machine (always absolute once parsed)."""

    path: Path

    def __str__(self) -> str:
        return self.path.as_uri()


Handle = CatalogHandle | KaggleHandle | HfHandle | LocalHandle

ACCEPTED_FORMS = (
    "a catalog name (`gpt2_base_en`, `keras/gpt2_base_en`, optionally `@alias` or `@revision`)",
    "`kaggle://owner/model/framework/variation[/version]`",
    "`hf://org/repo[@revision]`",
    "a local directory (absolute, relative, `~/...` or `file://`)",
)


def _refuse(text: str, problem: str) -> InvalidHandleError:
    return InvalidHandleError(
        f"{text!r} is not a valid preset handle: {problem}. Accepted forms: "
        + "; ".join(ACCEPTED_FORMS)
        + "."
    )


def _parse_kaggle(text: str, rest: str) -> KaggleHandle:
    match = _KAGGLE.match(rest)
    if match is None:
        raise _refuse(text, "Kaggle handles are kaggle://owner/model/framework/variation[/version]")
    version = match["version"]
    return KaggleHandle(
        owner=match["owner"],
        model=match["model"],
        framework=match["framework"].lower(),
        variation=match["variation"],
        version=int(version) if version else None,
    )


def _parse_hf(text: str, rest: str) -> HfHandle:
    repo, _, revision = rest.partition("@")
    match = _HF_REPO.match(repo)
    if match is None or "--" in repo or ".." in repo or len(repo) > 96:
        raise _refuse(text, "Hugging Face handles are hf://org/repo[@revision]")
    if revision and (not _HF_REVISION.match(revision) or ".." in revision):
        raise _refuse(text, f"{revision!r} is not a branch, tag or commit")
    return HfHandle(repo_id=repo, revision=revision or None)


def _parse_local(text: str, path_text: str) -> LocalHandle:
    if "\x00" in path_text or not path_text:
        raise _refuse(text, "the path is empty or holds a NUL character")
    try:
        expanded = Path(path_text).expanduser()
    except RuntimeError as error:  # "~someone" for a user this machine does not know
        raise _refuse(text, f"cannot expand {path_text.split('/', maxsplit=1)[0]!r}") from error
    return LocalHandle(Path(os.path.abspath(expanded)))


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text in (".", "..") or os.sep in text[:1]


def parse_handle(text: str, *, is_dir: Callable[[str], bool] = os.path.isdir) -> Handle:
    """Parse `text` into a handle.

    Raises:
        InvalidHandleError: `text` is none of the accepted forms; the message
            says what is wrong and lists every form.
    """
    if not isinstance(text, str) or not text.strip():
        raise _refuse(str(text), "it is empty")
    if text != text.strip():
        raise _refuse(text, "it has leading or trailing spaces")
    scheme, separator, rest = text.partition("://")
    if separator:
        parsers: dict[str, Callable[[str, str], Handle]] = {
            "kaggle": _parse_kaggle,
            "hf": _parse_hf,
        }
        if scheme == "file":
            if not rest.startswith("/"):
                raise _refuse(text, "file:// URLs need an absolute path (file:///dir)")
            return _parse_local(text, rest)
        if scheme not in parsers:
            raise _refuse(text, f"unknown scheme {scheme!r}")
        return parsers[scheme](text, rest)
    if _looks_like_path(text) or is_dir(text):
        return _parse_local(text, text)
    match = _CATALOG.match(text)
    if match is None or ".." in match["name"] or len(match["name"]) > 128:
        raise _refuse(text, "it is no catalog name and no existing directory")
    return CatalogHandle(
        namespace=match["namespace"] or DEFAULT_NAMESPACE, name=match["name"], ref=match["ref"]
    )
