"""The registry's records, defined once: what the catalog's queries return, what
the JSON API sends (and documents in its OpenAPI schema), and what the client
reads back from a server.

Each is a frozen pydantic model. The server serialises the same object the
catalog built (`model_dump_json`); the client validates a response into the
same class (`model_validate`), so a field added here reaches the catalog, the
API, its schema and the client at once. Derived fields (`id`, `size`, `pages`,
`aliases`) are computed properties: sent, documented, and ignored on the way in.

```python
page = registry.search("gpt2")          # a SearchPage, embedded or remote alike
page.items[0].id, page.items[0].private, page.items[0].downloads
```
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from registry.preset.manifest import FileEntry


class Record(BaseModel):
    """A frozen record; unknown fields of a newer server are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class PresetSummary(Record):
    """A preset as the catalog lists it."""

    namespace: str
    name: str
    architecture: str = Field(description="The backbone class, e.g. `GPT2Backbone`.")
    parameter_count: int | None
    description: str
    tags: tuple[str, ...]
    source: str | None = Field(description="The handle it syncs from; null for uploads.")
    source_kind: str = Field(description="kaggle, hf, local, upload or bundled.")
    license: str | None
    private: bool = Field(description="Visible only to its owner.")
    owner: str | None
    downloads: int
    created_at: dt.datetime
    updated_at: dt.datetime
    latest_revision: str | None = Field(description="The revision `latest` points at.")
    base_model: str | None = Field(
        None, description="`namespace/name` of the preset it was fine-tuned from."
    )

    @computed_field(description="`namespace/name`")  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def full_name(self) -> str:
        return self.id

    @property
    def synced(self) -> bool:
        return self.latest_revision is not None


class RevisionInfo(Record):
    """An immutable revision: its digest is the sha256 of its canonical manifest."""

    digest: str
    created_at: dt.datetime
    uploader: str | None
    message: str
    aliases: tuple[str, ...]
    files: tuple[FileEntry, ...] = ()

    @computed_field(description="Total bytes of its files.")  # type: ignore[prop-decorator]
    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class PresetDetail(PresetSummary):
    """A preset with its revisions (newest first) and their files."""

    revisions: tuple[RevisionInfo, ...] = Field(description="Newest first.")

    @computed_field(description="Alias name -> revision digest.")  # type: ignore[prop-decorator]
    @property
    def aliases(self) -> dict[str, str]:
        return {alias: r.digest for r in self.revisions for alias in r.aliases}

    def revision(self, digest: str) -> RevisionInfo | None:
        return next((r for r in self.revisions if r.digest == digest), None)


SortKey = Literal["relevance", "name", "parameters", "downloads", "updated"]
SORT_KEYS: tuple[str, ...] = ("relevance", "name", "parameters", "downloads", "updated")
SourceKind = Literal["kaggle", "hf", "local", "upload", "bundled"]
MAX_PER_PAGE = 100


@dataclasses.dataclass(frozen=True)
class SearchFilters:
    """Filters of a search; None means "any"."""

    architecture: str | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    source_kind: str | None = None
    tag: str | None = None
    synced: bool | None = None
    namespace: str | None = None
    base_model: str | None = None  # fine-tuned from this `namespace/name` (bare: keras/)


class SearchRequest(Record):
    """A search as the JSON API takes it (its query parameters) and the client
    sends it."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    q: str = Field("", max_length=200, description="Words of names, descriptions, tags.")
    architecture: str | None = Field(None, max_length=64)
    min_parameters: int | None = Field(None, ge=0, le=10**13)
    max_parameters: int | None = Field(None, ge=0, le=10**13)
    source_kind: SourceKind | None = Field(
        None, alias="source", description="Where presets come from."
    )
    tag: str | None = Field(None, max_length=64)
    synced: bool | None = Field(None, description="Only presets with files here.")
    namespace: str | None = Field(None, max_length=128)
    base_model: str | None = Field(
        None, max_length=256, description="Only presets fine-tuned from this `namespace/name`."
    )
    sort: SortKey = "relevance"
    order: Literal["asc", "desc"] | None = Field(None, description="Reverse the sort's own.")
    page: int = Field(1, ge=1, le=10_000)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)

    def filters(self) -> SearchFilters:
        names = {field.name for field in dataclasses.fields(SearchFilters)}
        return SearchFilters(**self.model_dump(include=names))

    def descending(self) -> bool | None:
        return None if self.order is None else self.order == "desc"

    def query_parameters(self) -> dict[str, Any]:
        """The parameters a client sends (only those set)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


class SearchPage(Record):
    """One page of search results, and how many matched in all."""

    items: tuple[PresetSummary, ...]
    total: int = Field(description="Matches, counted up to a cap (see `total_is_exact`).")
    page: int
    per_page: int
    total_is_exact: bool = Field(default=True, description="False: at least `total` match.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class Uploaded(Record):
    """What an upload became: a revision of `preset` (`created` False when the
    same files had been uploaded before)."""

    preset: str
    revision: RevisionInfo
    created: bool = Field(description="False when identical files were uploaded before.")
    architecture: str
    parameter_count: int
    alias: str

    @property
    def digest(self) -> str:
        return self.revision.digest


class AliasIn(Record):
    revision: str = Field(description="A revision digest (or a unique prefix) or another alias.")


class AliasOut(Record):
    preset: str
    alias: str
    revision: str


class UploadOptions(Record):
    """How the server takes an upload's body (`POST .../revisions`)."""

    announce_sha256_from: int | None = Field(
        description="A tar upload's files of at least this many bytes whose sha256 its PAX "
        "header `REGISTRY.sha256` names go straight to the server's bucket, with no copy; "
        "null when the server keeps blobs on its own disk (announcing would only cost the "
        "client a read of each file)."
    )


class WhoAmI(Record):
    owner: str | None = Field(description="The token's owner; null when anonymous.")
    scope: str | None = Field(description="`read` or `write`; null when anonymous.")
    token_name: str | None = None


class TokenInfo(Record):
    """An API token, never its secret (only its hash is stored)."""

    id: int
    owner: str
    scope: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class NewToken(Record):
    """A token just created, with its secret: shown once."""

    token: TokenInfo
    secret: str


class SignatureIn(Record):
    """A signature to attach to a revision: made where the private key lives
    (`registry sign`); only the bundle and the public key travel."""

    bundle: str = Field(
        max_length=4 << 20,
        description="The OpenSSF model-signing bundle (sigstore format, JSON), as "
        "`model_signing sign key` writes to `model.sig`.",
    )
    public_key: str = Field(
        max_length=16_384, description="The signer's elliptic-curve public key, PEM."
    )


class SignatureInfo(Record):
    """A signature of a revision by one key, and whether it verifies now."""

    revision: str = Field(description="The digest of the revision it signs.")
    fingerprint: str = Field(description="sha256 of the key's PEM (the bundle's key hint).")
    key_name: str | None = Field(None, description="The key's registered name, if any.")
    key_owner: str | None = Field(None, description="Who registered the key's name.")
    signer: str | None = Field(description="Who attached the signature.")
    created_at: dt.datetime
    verified: bool = Field(description="Valid for its key and covers exactly the files.")
    problems: tuple[str, ...] = Field((), description="Why it does not verify.")
    public_key: str = Field(description="The key's PEM.")
    bundle: str = Field(description="The bundle: `model.sig` of an exported revision.")

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:16]


class SigningKeyIn(Record):
    """A public key to register under a name, so pages say who signed."""

    name: str = Field(min_length=1, max_length=128)
    public_key: str = Field(max_length=16_384, description="Elliptic-curve public key, PEM.")


class SigningKeyInfo(Record):
    fingerprint: str
    name: str
    owner: str | None
    created_at: dt.datetime


class ErrorDetail(Record):
    code: str = Field(description="A stable machine-readable code, e.g. `not_found`.")
    message: str = Field(description="What went wrong and how to fix it.")


class ErrorBody(Record):
    error: ErrorDetail


# === Comparing two revisions (`GET /api/v1/presets/{ns}/{name}/compare`) ===


class TensorOut(Record):
    dtype: str
    shape: tuple[int, ...]
    sha256: str = Field(description="sha256 of the tensor's bytes as stored.")


class TensorChangeOut(Record):
    name: str
    what: Literal["shape", "dtype", "values"] = Field(description="The first that differs.")
    before: TensorOut
    after: TensorOut


class WeightsDiff(Record):
    """What changed inside one weights file (`.h5`, `.safetensors`) kept at one path."""

    path: str
    added: dict[str, TensorOut]
    removed: dict[str, TensorOut]
    changed: tuple[TensorChangeOut, ...]
    unchanged: int


class FileChange(Record):
    path: str
    before: FileEntry | None = Field(description="null: the file is new.")
    after: FileEntry | None = Field(description="null: the file was removed.")


class RevisionComparison(Record):
    """Which files and which tensors differ from `base` to `head`."""

    base: str
    head: str
    files: tuple[FileChange, ...] = Field(description="Added, removed and changed files.")
    unchanged_files: int
    weights: tuple[WeightsDiff, ...] = Field(
        description="For each changed weights file at the same path, its tensors."
    )
