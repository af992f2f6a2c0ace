"""The JSON API's bodies: pydantic models, so OpenAPI documents every field."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from registry.catalog.queries import PresetDetail, PresetSummary, RevisionInfo, SearchPage
from registry.preset.manifest import FileEntry


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable machine-readable code, e.g. `not_found`.")
    message: str = Field(description="What went wrong and how to fix it.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class FileOut(BaseModel):
    path: str
    size: int
    sha256: str

    @classmethod
    def of(cls, entry: FileEntry) -> FileOut:
        return cls(path=entry.path, size=entry.size, sha256=entry.sha256)


class PresetOut(BaseModel):
    """A preset as the catalog lists it."""

    id: str = Field(description="`namespace/name`")
    namespace: str
    name: str
    architecture: str
    parameter_count: int | None
    description: str
    tags: list[str]
    source: str | None = Field(description="The handle it syncs from; null for uploads.")
    source_kind: str
    license: str | None
    private: bool
    owner: str | None
    downloads: int
    created_at: dt.datetime
    updated_at: dt.datetime
    latest_revision: str | None = Field(description="The revision `latest` points at.")

    @classmethod
    def of(cls, summary: PresetSummary) -> PresetOut:
        return cls(
            id=summary.full_name,
            namespace=summary.namespace,
            name=summary.name,
            architecture=summary.architecture,
            parameter_count=summary.parameter_count,
            description=summary.description,
            tags=list(summary.tags),
            source=summary.source,
            source_kind=summary.source_kind,
            license=summary.license,
            private=summary.visibility == "private",
            owner=summary.owner,
            downloads=summary.download_count,
            created_at=summary.created_at,
            updated_at=summary.updated_at,
            latest_revision=summary.latest_revision,
        )


class RevisionOut(BaseModel):
    """An immutable revision: its id is the sha256 of its canonical manifest."""

    digest: str
    created_at: dt.datetime
    uploader: str | None
    message: str
    aliases: list[str]
    files: list[FileOut]
    size: int = Field(description="Total bytes of its files.")

    @classmethod
    def of(cls, revision: RevisionInfo) -> RevisionOut:
        return cls(
            digest=revision.digest,
            created_at=revision.created_at,
            uploader=revision.uploader,
            message=revision.message,
            aliases=list(revision.aliases),
            files=[FileOut.of(f) for f in revision.files],
            size=sum(f.size for f in revision.files),
        )


class PresetDetailOut(PresetOut):
    aliases: dict[str, str] = Field(description="Alias name -> revision digest.")
    revisions: list[RevisionOut] = Field(description="Newest first.")

    @classmethod
    def of_detail(cls, detail: PresetDetail) -> PresetDetailOut:
        base = PresetOut.of(detail.summary).model_dump()
        aliases = {alias: r.digest for r in detail.revisions for alias in r.aliases}
        return cls(
            **base,
            aliases=aliases,
            revisions=[RevisionOut.of(r) for r in detail.revisions],
        )


class SearchOut(BaseModel):
    items: list[PresetOut]
    total: int = Field(description="Matches, counted up to a cap (see `total_is_exact`).")
    total_is_exact: bool
    page: int
    per_page: int
    pages: int

    @classmethod
    def of(cls, page: SearchPage) -> SearchOut:
        return cls(
            items=[PresetOut.of(p) for p in page.items],
            total=page.total,
            total_is_exact=page.total_is_exact,
            page=page.page,
            per_page=page.per_page,
            pages=page.pages,
        )


class UploadOut(BaseModel):
    preset: str
    revision: RevisionOut
    created: bool = Field(description="False when identical files were uploaded before.")
    parameter_count: int
    architecture: str
    alias: str


class AliasIn(BaseModel):
    revision: str = Field(description="A revision digest (or a unique prefix) or another alias.")


class AliasOut(BaseModel):
    preset: str
    alias: str
    revision: str


class WhoAmI(BaseModel):
    owner: str | None = Field(description="The token's owner; null when anonymous.")
    scope: str | None = Field(description="`read` or `write`; null when anonymous.")
    token_name: str | None = None
