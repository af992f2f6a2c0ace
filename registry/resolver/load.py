"""`from_preset` of any handle: resolve it to a directory, verify it while the model builds.

Backbones (`load_backbone`) and causal LMs (`load_causal_lm`: the backbone and
the tokenizer beside it) load this way.

A local directory loads as it is (as keras-hub does); a catalog name,
`kaggle://` or `hf://` handle is resolved through the store, and its files are
checked against their recorded digests on a second thread while Keras builds
the model. The backbone is returned only if every file matched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from registry.errors import PresetNotFoundError
from registry.preset.loader import collector_paused, load_directory
from registry.resolver.handles import LocalHandle, parse_handle

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone
    from registry.architectures.causal_lm import CausalLM
    from registry.resolver.resolve import Resolver
    from registry.resolver.store import Store

Verify = Literal["fast", "full"] | bool
_Model = TypeVar("_Model")
# Hashing releases the GIL: a second thread checks files while Keras builds.
_VERIFIER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-verify")


@dataclass
class _Located:
    """A preset directory, and the verification still running on it (if any)."""

    directory: Path
    pending: Future[None] | None = None
    # A store tree: its JSON files need checking once (see Store.json_checked).
    store: Store | None = None
    digest: str = ""

    @property
    def json_checked(self) -> bool:
        return self.store is not None and self.store.json_checked(self.digest)

    def remember_checked(self) -> None:
        if self.store is not None:
            self.store.mark_json_checked(self.digest)

    def settle(self, failure: BaseException | None = None) -> None:
        """Wait for the verification; its mismatch wins over any loading error."""
        if self.pending is None:
            if failure is not None:
                raise failure
            return
        self.pending.result()  # raises ChecksumMismatchError on a bad file
        if failure is not None:
            raise failure


def locate(
    preset: str | os.PathLike[str], *, verify: Verify = "fast", resolver: Resolver | None = None
) -> _Located:
    """The directory `preset` names: a local directory as it is, anything else
    (a catalog name, `kaggle://`, `hf://`) resolved through the store, its
    verification started on a second thread so that it overlaps the build.

    Raises:
        InvalidHandleError: `preset` is none of the accepted forms.
        PresetNotFoundError: it names nothing that can be loaded.
    """
    text = os.fspath(preset)
    handle = parse_handle(text)
    if isinstance(handle, LocalHandle):
        if not handle.path.is_dir():
            what = "is a file, not a directory" if handle.path.exists() else "does not exist"
            raise PresetNotFoundError(f"Preset directory {handle.path} {what}.")
        return _Located(handle.path)
    if resolver is None:
        from registry.resolver.resolve import default_resolver

        resolver = default_resolver()
    resolved = resolver.resolve(handle, verify=False)
    pending = _VERIFIER.submit(resolver.check, resolved, full=verify == "full") if verify else None
    return _Located(resolved.path, pending, resolver.store, resolved.digest)


def load_backbone(
    preset: str | os.PathLike[str],
    *,
    cls: type[Backbone],
    load_weights: bool = True,
    overrides: dict[str, Any] | None = None,
    verify: Verify = "fast",
    resolver: Resolver | None = None,
) -> Backbone:
    """Build the backbone a preset describes, as `cls.from_preset` promises.

    A preset from the store is verified (`verify`: "fast", "full" or False)
    while the model is built; the backbone is returned only if every file
    matched, so no unverified bytes ever reach the caller.
    """

    def build(directory: Path, json_checked: bool) -> Backbone:
        return load_directory(
            directory, cls=cls, load_weights=load_weights, overrides=overrides,
            json_checked=json_checked,
        )  # fmt: skip

    return _load_verified(preset, build, verify=verify, resolver=resolver)


def load_causal_lm(
    preset: str | os.PathLike[str],
    *,
    cls: type[CausalLM],
    load_weights: bool = True,
    overrides: dict[str, Any] | None = None,
    verify: Verify = "fast",
    resolver: Resolver | None = None,
) -> CausalLM:
    """Build the causal LM a preset describes, as `cls.from_preset` promises: its
    backbone (as `load_backbone` builds it) and the tokenizer beside it, if any.

    Both come from one directory, verified while they load; the model is
    returned only if every file matched.

    Raises:
        UnsupportedArchitectureError: the preset's architecture has no causal
            LM, or not one of class `cls`.
    """
    from registry.architectures.tokenizer import Tokenizer, has_tokenizer

    def build(directory: Path, json_checked: bool) -> CausalLM:
        backbone = load_directory(
            directory, cls=cls.backbone_cls, load_weights=load_weights, overrides=overrides,
            json_checked=json_checked,
        )  # fmt: skip
        tokenizer = Tokenizer.from_preset(directory) if has_tokenizer(directory) else None
        return cls.for_backbone(backbone, tokenizer)

    return _load_verified(preset, build, verify=verify, resolver=resolver)


def _load_verified(
    preset: str | os.PathLike[str],
    build: Callable[[Path, bool], _Model],
    *,
    verify: Verify,
    resolver: Resolver | None,
) -> _Model:
    """`build(directory, json_checked)` on the preset's directory, verified meanwhile."""
    with collector_paused():
        located = locate(preset, verify=verify, resolver=resolver)
        checked = located.json_checked
        try:
            model = build(located.directory, checked)
        except Exception as error:
            located.settle(error)
            raise
        located.settle()
        if not checked:
            located.remember_checked()
    return model
