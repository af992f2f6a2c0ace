"""One exception hierarchy for the whole registry.

Every class also inherits the built-in exception a caller would naturally
catch (as huggingface_hub's errors do), so ``except FileNotFoundError`` and
``except RegistryError`` both work. Messages say what happened, to which preset
or file, and what to do about it.
"""

from __future__ import annotations

from pathlib import Path


class RegistryError(Exception):
    """Base class of every error raised on purpose by this project."""


class PresetNotFoundError(RegistryError, LookupError):
    """A preset name or handle does not lead to any preset."""


class PresetFormatError(RegistryError, ValueError):
    """A preset directory is malformed: a file is missing, unreadable or wrong."""

    def __init__(self, path: str | Path, problem: str, fix: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {problem} {fix}")


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


class OfflineError(RegistryError, ConnectionError):
    """Offline mode asked for something the store does not hold."""


class SourceError(RegistryError, ConnectionError):
    """A source (Kaggle, Hugging Face, another registry) failed to deliver a preset."""


class PermissionDeniedError(RegistryError, PermissionError):
    """The caller may not do this: no token, a read-only token, or not the owner."""


class AuthenticationError(RegistryError, PermissionError):
    """A token was given but is unknown or revoked."""


class UploadTooLargeError(UnsafePresetError):
    """An upload, a file of it or an archive's expansion passed a size limit."""
