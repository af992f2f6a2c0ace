"""Fetching presets with the field's own clients, into a staging directory of the store.

Each source downloads with the real client (`kagglehub`, `huggingface_hub`)
into `store/tmp/<staging>`, on the store's file system, so the bytes are then
hashed and linked into the store without a second copy. The clients' own
integrity checks run (kagglehub compares md5s from `x-goog-hash`); the
registry's digests are computed while the files land in the store.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import (
    ChecksumMismatchError,
    OfflineError,
    PresetNotFoundError,
    SourceError,
    UnsafePresetError,
)
from registry.preset.format import PICKLE_SUFFIXES
from registry.resolver.handles import HfHandle, KaggleHandle

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
HF_METADATA_DIR = Path(".cache") / "huggingface"


@dataclass(frozen=True)
class Download:
    """Files a client fetched, and the sha256 the source published for some of them."""

    path: Path
    expected_sha256: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _quiet_kaggle_env() -> Iterator[None]:
    # kagglehub picks notebook-specific resolvers from these; a registry never
    # runs as a notebook cell.
    saved = {
        k: os.environ.pop(k)
        for k in ("KAGGLE_KERNEL_RUN_TYPE", "TBE_RUNTIME_ADDR")
        if k in os.environ
    }
    try:
        yield
    finally:
        os.environ.update(saved)


def _unreachable(error: BaseException) -> str | None:
    """Why a source could not be reached at all, if that is what `error` (or an
    error it was raised from) says; None for any other failure."""
    import socket

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{type(current).__name__}: {current}"
        if (
            isinstance(current, socket.gaierror)
            or "NameResolution" in text
            or ("Name or service not known" in text or "nodename nor servname" in text)
        ):
            return "its host name does not resolve"
        if isinstance(current, ConnectionRefusedError) or "Connection refused" in text:
            return "the connection was refused"
        if isinstance(current, TimeoutError) or "ConnectTimeout" in text:
            return "the connection timed out"
        current = current.__cause__ or current.__context__
    return None


def _failed(source: str, handle: object, error: BaseException) -> SourceError:
    """One line for a failed download; the chain stays for `--debug`."""
    reason = _unreachable(error)
    if reason is not None:
        return SourceError(
            f"{source} could not be reached to download {handle} ({reason}). Check the "
            "network, or set REGISTRY_OFFLINE=1 to use only what the store holds."
        )
    first = " ".join(str(error).split())[:300]
    return SourceError(f"Downloading {handle} from {source} failed: {first}")


def fetch_kaggle(handle: KaggleHandle, staging: Path) -> Download:
    """Download a Kaggle Models variation into `staging` with kagglehub.

    Honours KAGGLE_USERNAME/KAGGLE_KEY (or KAGGLE_API_TOKEN) and
    KAGGLE_API_ENVIRONMENT, as kagglehub does.

    Raises:
        PresetNotFoundError: Kaggle has no such model, variation or version.
        ChecksumMismatchError: a file's md5 differs from the one Kaggle sent.
        SourceError: any other failure of the download.
    """
    import kagglehub
    import requests
    from kagglehub.exceptions import DataCorruptionError, KaggleApiHTTPError

    try:
        with _quiet_kaggle_env():
            path = kagglehub.model_download(
                handle.kagglehub_handle, output_dir=str(staging), force_download=True
            )
    except DataCorruptionError as error:
        raise ChecksumMismatchError(str(handle), "the md5 Kaggle sent", str(error)) from error
    except KaggleApiHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 404:
            raise PresetNotFoundError(
                f"Kaggle has no {handle} (HTTP 404). Check the owner, model, framework, "
                "variation and version on kaggle.com/models."
            ) from error
        if status in (401, 403):
            raise SourceError(
                f"Kaggle refused {handle} (HTTP {status}). Set KAGGLE_USERNAME and "
                "KAGGLE_KEY (or KAGGLE_API_TOKEN) for a private model."
            ) from error
        raise SourceError(f"Kaggle failed to serve {handle}: {error}") from error
    except (requests.RequestException, ValueError, OSError) as error:
        raise _failed("Kaggle", handle, error) from error
    result = Path(path)
    if not result.is_dir():
        raise SourceError(f"Kaggle returned no files for {handle}.")
    shutil.rmtree(result / ".complete", ignore_errors=True)  # kagglehub's own markers
    return Download(result)


def _hub_etags(staging: Path) -> dict[str, str]:
    """sha256 of each LFS file, from the `X-Linked-Etag` the Hub sent.

    huggingface_hub keeps each file's etag on the second line of
    `.cache/huggingface/download/<path>.metadata` in local_dir mode; for LFS
    files (all weights) it is the file's sha256.
    """
    root = staging / HF_METADATA_DIR / "download"
    expected = {}
    for metadata in root.rglob("*.metadata"):
        lines = metadata.read_text(encoding="utf-8").splitlines()
        if len(lines) >= 2 and _HEX64.match(lines[1].strip()):
            expected[metadata.relative_to(root).as_posix().removesuffix(".metadata")] = lines[
                1
            ].strip()
    return expected


def fetch_hf(handle: HfHandle, staging: Path) -> Download:
    """Download a Hub model repository into `staging` with huggingface_hub.

    Honours HF_ENDPOINT (read at each call, so a test or a private mirror can
    set it late) and HF_TOKEN, as huggingface_hub does.

    Raises:
        PresetNotFoundError: the Hub has no such repository or revision.
        OfflineError: huggingface_hub is in offline mode.
        SourceError: any other failure of the download.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        snapshot_download(
            handle.repo_id,
            revision=handle.revision,
            local_dir=staging,
            endpoint=os.environ.get("HF_ENDPOINT") or None,
            # Only files a preset holds: a model repository's pickles, ONNX, TFLite
            # or Flax copies are never downloaded.
            allow_patterns=list(HUB_PRESET_PATTERNS),
        )
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise PresetNotFoundError(
            f"The Hub has no {handle} ({type(error).__name__}). Check the repository id "
            "and revision, and HF_TOKEN for a private repository."
        ) from error
    except OfflineModeIsEnabled as error:
        raise OfflineError(f"{handle} cannot be fetched: HF_HUB_OFFLINE is set.") from error
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        raise _failed("the Hub", handle, error) from error
    expected = _hub_etags(staging)
    shutil.rmtree(staging / HF_METADATA_DIR.parts[0], ignore_errors=True)
    if not any((staging / name).is_file() for name in _WEIGHTS):
        _refuse_pickle_only(handle)
    return Download(staging, expected)


# What `fetch_hf` downloads of a repository: the files a preset may hold.
HUB_PRESET_PATTERNS = (
    "*.json",
    "*.txt",
    "*.md",
    "*.model",
    "*.vocab",
    "*.spm",  # keras-hub's SentencePiece vocabularies (Gemma, Llama 2)
    "model.weights.h5",
    "model.safetensors",
    "model-*-of-*.safetensors",
)
_WEIGHTS = ("model.weights.h5", "model.safetensors", "model.safetensors.index.json")


def _refuse_pickle_only(handle: HfHandle) -> None:
    """A repository without safe weights: say why when it holds pickles."""
    from huggingface_hub import HfApi

    try:
        files = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).list_repo_files(
            handle.repo_id, revision=handle.revision
        )
    except Exception:
        files = []
    pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise UnsafePresetError(
            str(handle),
            f"holds its weights only as pickles ({pickles[0]}); loading a pickle can run "
            "arbitrary code, so they are not downloaded.",
            "Ask for (or push) a safetensors copy: transformers' "
            "`model.save_pretrained(dir, safe_serialization=True)`.",
        )
