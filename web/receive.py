"""Streaming an upload's body into a staging area: memory stays flat at any size.

Two encodings are accepted on the same routes:
- `multipart/form-data`: the preset's files (their names are relative paths;
  a browser's folder upload sends `folder/config.json`), or one archive, plus
  small text fields;
- a raw `.tar`, `.tar.gz` or `.zip` body (`Content-Type: application/x-tar`,
  `application/gzip` or `application/zip`), as the CLI sends it.

Before the first byte of a file is written, `prepare` is called once with the
text fields received so far (none for a raw archive, whose fields are the URL's
query): it checks the upload's target and fields, so a refused upload is refused
before its files are read. Form fields therefore come before the files, as a
browser sends a form whose fields precede its file input.

File parts are written to disk as they arrive, hashed and counted against the
upload's limits chunk by chunk (`registry.preset.upload.Staging`); parsing runs
on a worker thread in batches so the event loop keeps serving other requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from registry.errors import PresetFormatError, RegistryError, UploadTooLargeError
from registry.preset.upload import ARCHIVE_SUFFIXES, StagedFile, Staging

ARCHIVE_TYPES = frozenset(
    {
        "application/x-tar",
        "application/tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-compressed-tar",
        "application/zip",
        "application/x-zip-compressed",
    }
)
_BATCH = 1 << 20
_MAX_FIELDS = 32
_MAX_FIELD_BYTES = 64 << 10
Prepare = Callable[[dict[str, str]], None]


class UnsupportedUploadError(RegistryError, ValueError):
    """The body is neither multipart form data nor an archive."""


class _Receiver:
    """python-multipart callbacks writing file parts into the staging area."""

    def __init__(self, staging: Staging, archive_path: Path, prepare: Prepare) -> None:
        self.staging = staging
        self.archive_path = archive_path
        self.prepare = prepare
        self.prepared = False
        self.archive: StagedArchive | None = None
        self.fields: dict[str, str] = {}
        self._headers: dict[bytes, bytes] = {}
        self._field_name = b""
        self._header_value = b""
        self._target: StagedFile | StagedArchive | None = None
        self._field: bytearray | None = None
        self._current_name = ""

    # Headers of one part.
    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field_name.lower()] = self._header_value
        self._field_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            if self.prepared:
                raise UnsupportedUploadError(
                    f"The form field {name!r} follows the files; send the form's fields "
                    "before its files."
                )
            if len(self.fields) >= _MAX_FIELDS:
                raise UploadTooLargeError(name, "is one form field too many.", "Send fewer.")
            self._current_name = name
            self._field = bytearray()
            return
        self.prepared_once()
        path = filename.decode("utf-8", "replace")
        if not path:  # an empty file input
            self._target = None
            return
        if path.lower().endswith(ARCHIVE_SUFFIXES):
            if self.archive is not None or self.staging.entries:
                raise PresetFormatError(
                    path,
                    "is an archive sent alongside other files.",
                    "Upload either the preset's files or one archive of its directory.",
                )
            self.archive = StagedArchive(self.archive_path, self.staging, path)
            self._target = self.archive
            return
        if self.archive is not None:
            raise PresetFormatError(
                path,
                "follows an archive in the same upload.",
                "Upload either the preset's files or one archive of its directory.",
            )
        self._target = self.staging.open(path)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field is not None:
            self._field += data[start:end]
            if len(self._field) > _MAX_FIELD_BYTES:
                raise UploadTooLargeError(
                    self._current_name, "is a form field over 64 KiB.", "Shorten it."
                )
        elif self._target is not None:
            self._target.write(data[start:end])

    def on_part_end(self) -> None:
        if self._field is not None:
            self.fields[self._current_name] = self._field.decode("utf-8", "replace")
            self._field = None
        elif isinstance(self._target, StagedFile):
            self._target.close()
        self._target = None

    def prepared_once(self) -> None:
        if not self.prepared:
            self.prepared = True
            self.prepare(dict(self.fields))

    def abort(self) -> None:
        if isinstance(self._target, StagedFile):
            self._target.abort()
        if self.archive is not None:
            self.archive.close()


class StagedArchive:
    """An archive received whole before it is unpacked (its index is at the end)."""

    def __init__(self, path: Path, staging: Staging, name: str) -> None:
        self.path = path
        self.name = name
        self.staging = staging
        self.size = 0
        self._file = open(path, "wb")  # noqa: SIM115 (closed in close())

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.staging.limits.max_upload_bytes:
            raise UploadTooLargeError(
                self.name,
                f"is larger than the {self.staging.limits.max_upload_bytes}-byte upload limit.",
                "Raise REGISTRY_MAX_UPLOAD_BYTES on the server to accept larger presets.",
            )
        self._file.write(chunk)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _content_type(request: Request) -> tuple[str, dict[bytes, bytes]]:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    return kind.decode("latin-1").lower(), options


def check_declared_size(request: Request, staging: Staging) -> None:
    """Refuse at once a body whose Content-Length is over the upload limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > staging.limits.max_upload_bytes + (1 << 20):
        raise UploadTooLargeError(
            "the upload",
            f"declares {declared} bytes, over the {staging.limits.max_upload_bytes}-byte limit.",
            "Raise REGISTRY_MAX_UPLOAD_BYTES on the server to accept larger presets.",
        )


async def body_batches(request: Request) -> AsyncIterator[bytes]:
    """A request's body in 1 MiB batches (a worker-thread hop per batch, not per packet)."""
    batch = bytearray()
    async for chunk in request.stream():
        batch += chunk
        if len(batch) >= _BATCH:
            yield bytes(batch)
            batch.clear()
    if batch:
        yield bytes(batch)


async def receive(request: Request, staging: Staging, prepare: Prepare) -> dict[str, str]:
    """Stream the request body into `staging`; return the form's text fields.

    `prepare(fields)` runs once, before any file is written (see above), on a
    worker thread: it may read the catalog.

    Raises:
        UnsupportedUploadError: neither multipart nor an archive.
        UnsafePresetError, UploadTooLargeError, PresetFormatError: from the
            staging area's checks, as soon as the offending bytes arrive.
    """
    check_declared_size(request, staging)
    kind, options = _content_type(request)
    archive_path = staging.directory.with_name(staging.directory.name + ".archive")
    try:
        if kind == "multipart/form-data":
            fields = await _receive_multipart(request, staging, options, archive_path, prepare)
        elif kind in ARCHIVE_TYPES:
            await run_in_threadpool(prepare, {})
            archive = StagedArchive(archive_path, staging, "the request body")
            try:
                async for batch in body_batches(request):
                    await run_in_threadpool(archive.write, batch)
            finally:
                archive.close()
            await run_in_threadpool(staging.unpack, archive_path, name="the uploaded archive")
            fields = {}
        else:
            raise UnsupportedUploadError(
                "Uploads are multipart/form-data or an archive "
                f"({', '.join(sorted(ARCHIVE_TYPES))}), not {kind or 'an untyped body'}."
            )
    finally:
        archive_path.unlink(missing_ok=True)
    if not staging.entries:
        raise PresetFormatError(
            "the upload", "holds no files.", "Send the preset's files or an archive of them."
        )
    return fields


async def _receive_multipart(
    request: Request,
    staging: Staging,
    options: dict[bytes, bytes],
    archive_path: Path,
    prepare: Prepare,
) -> dict[str, str]:
    boundary = options.get(b"boundary")
    if not boundary:
        raise UnsupportedUploadError("The multipart body has no boundary in its Content-Type.")
    receiver = _Receiver(staging, archive_path, prepare)
    parser = MultipartParser(boundary, _callbacks(receiver))  # type: ignore[arg-type]
    try:
        async for batch in body_batches(request):
            await run_in_threadpool(parser.write, batch)
        parser.finalize()
        await run_in_threadpool(receiver.prepared_once)  # a form without files
    except MultipartParseError as error:
        receiver.abort()
        raise UnsupportedUploadError(f"The multipart body is malformed ({error}).") from error
    except BaseException:
        receiver.abort()
        raise
    if receiver.archive is not None:
        receiver.archive.close()
        await run_in_threadpool(staging.unpack, archive_path, name=receiver.archive.name)
    else:
        staging.strip_common_directory()
    return receiver.fields


def _callbacks(receiver: _Receiver) -> dict[str, object]:
    return {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
