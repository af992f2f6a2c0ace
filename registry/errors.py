"""One exception hierarchy for the whole registry.

Every class also inherits the built-in exception a caller would naturally
catch (as huggingface_hub's errors do), so ``except FileNotFoundError`` and
``except RegistryError`` both work. Messages say what happened, to which preset
or file, and what to do about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self


class RegistryError(Exception):
    """Base class of every error raised on purpose by this project."""

    @classmethod
    def from_message(cls, message: str) -> Self:
        """The error again, from the message a server sent with its code."""
        return cls(message)


class PresetNotFoundError(RegistryError, LookupError):
    """A preset name or handle does not lead to any preset."""


class RevisionNotFoundError(PresetNotFoundError):
    """The preset is there (and visible); the revision, branch or tag asked for is not."""


class EntryNotFoundError(PresetNotFoundError):
    """A revision has no file (or folder) at the path asked for."""


class PresetFormatError(RegistryError, ValueError):
    """A preset directory is malformed: a file is missing, unreadable or wrong."""

    def __init__(self, path: str | Path, problem: str, fix: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {problem} {fix}")

    @classmethod
    def from_message(cls, message: str) -> Self:
        error = cls.__new__(cls)
        error.path, error.problem, error.fix = "", message, ""
        Exception.__init__(error, message)
        return error


class PresetFileMissingError(PresetFormatError, FileNotFoundError):
    """A file every preset of its kind must have is absent."""


class UnsafePresetError(PresetFormatError):
    """A preset asks for something that would run code or escape its data.

    Raised for configs naming classes outside the allow-list and for pickle
    checkpoints; the preset is refused without importing or unpickling anything.
    """


class WeightsMismatchError(PresetFormatError):
    """A weights file does not fit the architecture its config describes."""


class UnsupportedArchitectureError(RegistryError, ValueError):
    """A preset's architecture is not one this registry knows how to build."""


class ChecksumMismatchError(RegistryError, ValueError):
    """A file's bytes differ from the digest recorded for it."""

    def __init__(
        self, path: str, expected: str, actual: str, fix: str = "Fetch the preset again."
    ) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        found = actual if actual.startswith(("size", "missing")) else f"sha256 {actual}"
        super().__init__(
            f"{path}: expected sha256 {expected}, found {found}: the file was changed "
            f"or corrupted after it was recorded. {fix}"
        )

    @classmethod
    def from_message(cls, message: str) -> Self:
        error = cls.__new__(cls)
        error.path, error.expected, error.actual = "", "", ""
        Exception.__init__(error, message)
        return error


class CatalogError(RegistryError):
    """The catalog database refused or could not perform an operation."""


class CatalogSchemaError(CatalogError, RuntimeError):
    """The catalog database's schema is not one this release can use."""


class CatalogUnavailableError(CatalogError, ConnectionError):
    """The catalog database cannot be reached or opened."""


class PresetExistsError(CatalogError, FileExistsError):
    """A preset with this namespace and name already exists."""


class AliasExistsError(CatalogError, FileExistsError):
    """The preset already has an alias of this name."""


class InvalidNameError(CatalogError, ValueError):
    """A namespace, preset, alias or tag name breaks the naming rules."""


class InvalidHandleError(RegistryError, ValueError):
    """A string is none of the handle forms a preset may be named by."""


class StoreError(RegistryError, OSError):
    """The content-addressed store could not complete an operation."""


class BlobStoreUnavailableError(StoreError, ConnectionError):
    """The object store that holds a server's blobs (`REGISTRY_BLOB_URL`) failed
    to answer; nothing was recorded, and trying again later succeeds."""


class OfflineError(RegistryError, ConnectionError):
    """Offline mode asked for something the store does not hold."""


class SourceError(RegistryError, ConnectionError):
    """A source (Kaggle, Hugging Face, another registry) failed to deliver a preset."""


class UpstreamUnavailableError(SourceError):
    """A mirror's upstream Hub could not be reached, or failed, for something the
    mirror does not hold."""


class PermissionDeniedError(RegistryError, PermissionError):
    """The caller may not do this: no token, a read-only token, or not the owner."""


class AuthenticationError(RegistryError, PermissionError):
    """A token was given but is unknown or revoked."""


class UploadTooLargeError(UnsafePresetError):
    """An upload, a file of it or an archive's expansion passed a size limit."""


class SignatureError(RegistryError, ValueError):
    """A key or a signature cannot be used: not an EC key, not a bundle, a bad
    signature, or one that does not cover exactly a revision's files."""


class SignatureRequiredError(SignatureError, PermissionError):
    """An upload into a namespace that requires signed revisions
    (`REGISTRY_REQUIRE_SIGNED`) carries no valid signature by a trusted key."""


class XetFormatError(RegistryError, ValueError):
    """A xorb, a shard or a hash sent through the Xet protocol is malformed, or
    does not match what it claims (a hash, a size, a xorb it references)."""


class GenerationRequestError(RegistryError, ValueError):
    """A request to generate text asks for what the preset or the limits do not allow:
    an empty or too long prompt, too many tokens, an unknown sampler, a preset that
    is not a causal LM or has no tokenizer."""


class TooManyRequestsError(RegistryError):
    """The server is busy (its generation queue is full) or the client sent more
    requests than its rate allows; `retry_after_s` says when to try again."""

    def __init__(self, message: str, retry_after_s: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GenerationUnavailableError(RegistryError, RuntimeError):
    """This server does not generate text (no workers), or its workers failed."""


# The one table of error codes. A server answers each error with its HTTP status
# and code (`{"error": {"code", "message"}}`); a client raises the same class
# again from the code. Most specific first: the first class an error is an
# instance of decides, and the first class listed for a code is what it becomes.
ERROR_CODES: tuple[tuple[type[RegistryError], int, str], ...] = (
    (UploadTooLargeError, 413, "too_large"),
    (UnsafePresetError, 422, "unsafe_preset"),
    (WeightsMismatchError, 422, "weights_mismatch"),
    (PresetFormatError, 422, "invalid_preset"),
    (ChecksumMismatchError, 422, "checksum_mismatch"),
    (PresetNotFoundError, 404, "not_found"),
    (AuthenticationError, 401, "unauthorized"),
    (PermissionDeniedError, 403, "forbidden"),
    (PresetExistsError, 409, "conflict"),
    (AliasExistsError, 409, "conflict"),
    (InvalidNameError, 422, "invalid_name"),
    (SignatureRequiredError, 403, "signature_required"),
    (SignatureError, 422, "signature_invalid"),
    (InvalidHandleError, 422, "invalid_name"),
    (XetFormatError, 400, "invalid_xet_object"),
    (GenerationRequestError, 422, "invalid_generation_request"),
    (TooManyRequestsError, 429, "too_many_requests"),
    (GenerationUnavailableError, 503, "generation_unavailable"),
    (OfflineError, 503, "offline"),
    (UpstreamUnavailableError, 504, "upstream_unavailable"),
    (SourceError, 502, "source_unavailable"),
    (CatalogUnavailableError, 503, "catalog_unavailable"),
    (BlobStoreUnavailableError, 503, "blob_store_unavailable"),
    (StoreError, 507, "storage_error"),  # the server's disk, not the request
    (RegistryError, 400, "bad_request"),
)


def status_of(error: BaseException) -> tuple[int, str]:
    """The HTTP status and code a server answers `error` with (500 if unplanned)."""
    for kind, status, code in ERROR_CODES:
        if isinstance(error, kind):
            return status, code
    return 500, "internal"


def error_from(code: str, message: str) -> RegistryError:
    """The error a server's `code` stands for, to raise on the client's side.

    A server's own trouble (a 5xx code, or one this release does not know) is a
    `SourceError`: the server could not deliver, whatever its reason.
    """
    for kind, status, known in ERROR_CODES:
        if known == code:
            return kind.from_message(message) if status < 500 else SourceError(message)
    return SourceError(message)
