"""What an upload asks for: the target preset, who uploads, and the catalog fields.

`UploadRequest.build` is the one place an upload's fields are read and checked,
whichever way the upload comes (the embedded client, the JSON API, the page's
form, the CLI, and a remote client before it sends a byte): the same
normalisation (tags lowercased) and the same messages everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from registry.catalog.names import (
    ALIAS,
    check_base_model,
    check_name,
    check_preset_name,
    normalize_tags,
)
from registry.errors import InvalidNameError
from registry.resolver.handles import CatalogHandle

_MAX_TEXT = {"description": 10_000, "message": 1_000, "license": 64}


@dataclass(frozen=True)
class UploadRequest:
    """Who uploads what, and the catalog fields the uploader chose (see `build`)."""

    handle: CatalogHandle
    owner: str
    description: str | None = None
    tags: tuple[str, ...] = ()
    private: bool | None = None  # None: public when new, unchanged otherwise
    alias: str = "latest"
    message: str = ""
    license: str | None = None
    # `namespace/name` of the preset this one was tuned from; None: the card's
    # `base_model`, else the preset's own (see `publish`).
    base_model: str | None = None

    @classmethod
    def build(
        cls,
        handle: CatalogHandle,
        *,
        owner: str,
        description: str | None = None,
        tags: Iterable[str] = (),
        private: bool | None = None,
        alias: str = "latest",
        message: str = "",
        license: str | None = None,
        base_model: str | None = None,
    ) -> UploadRequest:
        """Check and normalise an upload's target and fields (tags lowercased; a
        bare `base_model` in the default namespace).

        Raises:
            InvalidNameError: a name, tag or alias breaks the naming rules, or
                a text field is too long.
        """
        if handle.ref is not None:
            raise InvalidNameError(
                f"{handle} names a revision; upload to the preset's name ({handle.full_name}) "
                "and choose the alias with `alias`."
            )
        check_preset_name(handle.namespace, handle.name)
        check_name("alias", alias, ALIAS)
        for field, value in (("description", description), ("message", message),
                             ("license", license)):  # fmt: skip
            if value is not None and len(value) > _MAX_TEXT[field]:
                raise InvalidNameError(
                    f"The {field} is {len(value):,} characters long; at most "
                    f"{_MAX_TEXT[field]:,} are kept. Shorten it."
                )
        return cls(
            handle=handle,
            owner=owner,
            description=description,
            tags=normalize_tags(tags),
            private=private,
            alias=alias,
            message=message,
            license=license or None,
            base_model=(
                check_base_model(base_model, of=handle.full_name)
                if base_model not in (None, "")
                else None
            ),
        )
