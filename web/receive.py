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
A tar (raw or as a form's file) is unpacked while it arrives, on a thread of
its own (`ReceivedArchive`); a zip is received whole first. With a bucket, each
large file also streams into it as it lands (`registry.bucket.BlobTee`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

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
_PIPE_BATCHES = 8  # batches waiting for the unpacking thread: 8 MiB
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
        self.archive: ReceivedArchive | None = None
        self.fields: dict[str, str] = {}
        self._headers: dict[bytes, bytes] = {}
        self._field_name = b""
        self._header_value = b""
        self._target: StagedFile | ReceivedArchive | None = None
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
            self.archive = ReceivedArchive(self.archive_path, self.staging, path)
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
        """Stop writing (blocking: on a worker thread)."""
        if isinstance(self._target, StagedFile):
            self._target.abort()
        if self.archive is not None:
            self.archive.abort()


class ReceivedArchive:
    """An archive taken in as its bytes arrive. A tar (.tar, .tar.gz: read front
    to back) is unpacked meanwhile, member by member, on a thread of its own
    (`Staging.unpack_stream`), so each member lands, and with a bucket streams
    into it, while the next bytes are still coming. A zip, whose index is at
    its end, is spooled to `path` and unpacked by `finish`. Which it is, its
    first bytes say (a zip starts `PK`), not its name or Content-Type.
    """

    def __init__(self, path: Path, staging: Staging, name: str) -> None:
        self.path = path
        self.name = name
        self.staging = staging
        self.size = 0
        self._start = b""
        self._spool: BinaryIO | None = None
        self._pipe: _Pipe | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.staging.limits.max_upload_bytes:
            raise UploadTooLargeError(
                self.name,
                f"is larger than the {self.staging.limits.max_upload_bytes}-byte upload limit.",
                "Raise REGISTRY_MAX_UPLOAD_BYTES on the server to accept larger presets.",
            )
        if self._spool is None and self._pipe is None:
            self._start += chunk
            if len(self._start) < 4:
                return
            chunk, self._start = self._start, b""
            self._begin(chunk)
        self._deliver(chunk)

    def _begin(self, start: bytes) -> None:
        if start.startswith(b"PK") or len(start) < 4:  # a zip (or too short for any)
            self._spool = open(self.path, "wb")  # noqa: SIM115 (closed in finish / abort)
            return
        pipe = self._pipe = _Pipe()

        def unpack() -> None:
            try:
                self.staging.unpack_stream(pipe, self.name)
            except BaseException as error:
                self._error = error
            finally:
                pipe.stop()

        self._thread = threading.Thread(target=unpack, name="unpack", daemon=True)
        self._thread.start()

    def _deliver(self, chunk: bytes) -> None:
        if self._spool is not None:
            self._spool.write(chunk)
        elif self._pipe is not None and not self._pipe.feed(chunk) and self._error is not None:
            raise self._error  # refused while unpacking: stop reading the body

    def finish(self) -> None:
        """The body ended: finish unpacking it (blocking; on a worker thread)."""
        if self._spool is None and self._pipe is None:
            start, self._start = self._start, b""
            self._begin(start)
            self._deliver(start)
        if self._spool is not None:
            self._spool.close()
            self.staging.unpack(self.path, name=self.name)
            return
        assert self._pipe is not None and self._thread is not None
        self._pipe.end()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """The upload failed: stop unpacking (blocking until the thread has
        cleaned up what it was writing)."""
        if self._spool is not None:
            self._spool.close()
        if self._pipe is not None and self._thread is not None:
            self._pipe.end(ReceiveAbortedError("The upload was abandoned."))
            self._thread.join()


class ReceiveAbortedError(RegistryError):
    """The body of an upload stopped before its end (the sender left, or failed)."""


class _Pipe:
    """Bytes handed from the request to the thread unpacking them, with at most
    `_PIPE_BATCHES` batches waiting: the request's side blocks (on a worker
    thread) while the unpacking side lags behind (its disk, its bucket), so
    memory stays flat and the sender is slowed rather than buffered."""

    def __init__(self) -> None:
        self.consumed = 0  # bytes given to the reader (the archive's size so far)
        self._batches: deque[bytes] = deque()
        self._current = b""
        self._offset = 0
        self._cond = threading.Condition()
        self._ended = False
        self._failure: BaseException | None = None
        self._stopped = False

    # The request's side.
    def feed(self, batch: bytes) -> bool:
        """Queue `batch`; False once the reader has stopped (done, or failed)."""
        with self._cond:
            while len(self._batches) >= _PIPE_BATCHES and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return False
            self._batches.append(batch)
            self._cond.notify_all()
            return True

    def end(self, failure: BaseException | None = None) -> None:
        """No more bytes: the body ended, or (`failure`) it never will."""
        with self._cond:
            self._ended, self._failure = True, failure
            self._cond.notify_all()

    # The unpacking thread's side.
    def read(self, size: int = -1, /) -> bytes:
        with self._cond:
            while self._offset >= len(self._current):
                if self._failure is not None:
                    raise self._failure
                if self._batches:
                    self._current, self._offset = self._batches.popleft(), 0
                    self._cond.notify_all()
                elif self._ended:
                    return b""
                else:
                    self._cond.wait()
            start = self._offset
            end = len(self._current) if size < 0 else min(len(self._current), start + size)
            self._offset = end
            self.consumed += end - start
            if start == 0 and end == len(self._current):
                return self._current  # the whole batch, not copied
            return self._current[start:end]

    def stop(self) -> None:
        """The reader wants no more (the archive ended, or unpacking failed)."""
        with self._cond:
            self._stopped = True
            self._batches.clear()
            self._cond.notify_all()


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
            archive = ReceivedArchive(archive_path, staging, "the uploaded archive")
            try:
                async for batch in body_batches(request):
                    await run_in_threadpool(archive.write, batch)
                await run_in_threadpool(archive.finish)
            except BaseException:
                await run_in_threadpool(archive.abort)
                raise
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
        if receiver.archive is not None:
            await run_in_threadpool(receiver.archive.finish)
    except MultipartParseError as error:
        await run_in_threadpool(receiver.abort)
        raise UnsupportedUploadError(f"The multipart body is malformed ({error}).") from error
    except BaseException:
        await run_in_threadpool(receiver.abort)
        raise
    if receiver.archive is None:
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
