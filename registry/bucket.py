"""Blobs in an S3-compatible bucket (`REGISTRY_BLOB_URL=s3://bucket/prefix`).

The bucket holds what every server of one registry shares: the blobs, under the
same content-addressed keys as a local store (`blobs/sha256/ab/<digest>`), and
the xorbs of Xet uploads (`xet/xorbs/ab/<hash>`). An object is written once:
one that exists is never rewritten. Each server's own store is then a cache of
the bucket, which any server can refill.

Transfers use obstore (Rust's `object_store`). Measured against boto3's
transfer manager on this machine (`bench/s3.py`, SeaweedFS on loopback, 1.4 GB):
the same speed both ways (the S3 server sets the pace), with three quarters of
boto3's client CPU on uploads and a fraction of its user CPU on downloads; and
it presigns, reads ranges, lists and streams a multipart upload from the
bytes as they arrive (`BucketWriter`: an LFS PUT's, and an upload's large files
while they are received, `BlobTee`) with no Python thread pool. It has no
call for listing or aborting the multipart uploads a killed process left
behind, so `abort_stale_uploads` uses boto3 for those two requests.

Settings are the standard ones (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`), read once by
`registry.config`; AWS S3, MinIO, SeaweedFS, R2 and GCS's S3 interface all take
path-style requests when an endpoint is given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from registry.errors import BlobStoreUnavailableError, StoreError

PART_BYTES = 8 << 20  # multipart part size: 175 parts for a 1.4 GB blob, 80 GB at most
PARTS_IN_FLIGHT = 4  # parts in flight: bounds memory to 32 MiB per upload
# Files put at once by one process (`Bucket.put_file`): hf_xet sends a
# preset's xorbs many at a time, and each put holds its parts in flight. A Xet
# upload of the 1.42 GB preset peaked at 485-590 MB of server RSS with no
# bound, 230-255 MB with 2 and 184-212 MB with 1, in the same time.
PUTS_IN_FLIGHT = 1
_PUTS = threading.BoundedSemaphore(PUTS_IN_FLIGHT)
READ_BYTES = 10 << 20  # obstore's own default: 1.3x the throughput of 4 MiB pieces here

BLOB_PREFIX = "blobs/sha256"
XORB_PREFIX = "xet/xorbs"
UPLOAD_PREFIX = "uploads"  # temporary objects of uploads in flight (`BlobTee`)
COPY_MAX_BYTES = 5 * 10**9  # S3's CopyObject copies at most 5 GB in one request
PENDING_TAILS = 4  # deferred completions one upload may hold (< 8 MiB of tail each)


@dataclass(frozen=True)
class BucketObject:
    key: str
    size: int
    modified: dt.datetime


def blob_key(sha256: str) -> str:
    return f"{BLOB_PREFIX}/{sha256[:2]}/{sha256}"


def xorb_key(hex_hash: str) -> str:
    return f"{XORB_PREFIX}/{hex_hash[:2]}/{hex_hash}"


def parse_blob_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix without slashes)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"REGISTRY_BLOB_URL={url!r} is not an S3 URL; write s3://BUCKET or "
            "s3://BUCKET/PREFIX (the endpoint goes in AWS_ENDPOINT_URL)."
        )
    return parts.netloc, parts.path.strip("/")


class Bucket:
    """One bucket (and key prefix) of content-addressed objects."""

    def __init__(self, url: str, aws: dict[str, str] | None = None) -> None:
        from obstore.store import S3Store

        self.url = url
        self.name, self.prefix = parse_blob_url(url)
        self.aws = dict(aws or {})
        endpoint = self.aws.get("AWS_ENDPOINT_URL_S3") or self.aws.get("AWS_ENDPOINT_URL")
        region = self.aws.get("AWS_REGION") or self.aws.get("AWS_DEFAULT_REGION")
        self.region = region or "us-east-1"
        config: dict[str, Any] = {"region": self.region}
        for variable, key in (
            ("AWS_ACCESS_KEY_ID", "access_key_id"),
            ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
            ("AWS_SESSION_TOKEN", "session_token"),
        ):
            if self.aws.get(variable):
                config[key] = self.aws[variable]
        if endpoint:
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = False
        self.endpoint = endpoint
        # Fail in seconds, not minutes: a request waits for an answer while the
        # bucket is down (the client sees a 503 and retries).
        retry = {
            "max_retries": 2,
            "retry_timeout": dt.timedelta(seconds=10),
            "backoff": {
                "init_backoff": dt.timedelta(milliseconds=100),
                "max_backoff": dt.timedelta(seconds=2),
                "base": 2,
            },
        }
        client = {
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "connect_timeout": dt.timedelta(seconds=5),
            "timeout": dt.timedelta(minutes=10),
        }
        self.store = S3Store(
            self.name,
            prefix=self.prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options=client,  # type: ignore[arg-type]
            retry_config=retry,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return f"Bucket({self.url!r})"

    def _unavailable(self, action: str, error: Exception) -> BlobStoreUnavailableError:
        return BlobStoreUnavailableError(
            f"The blob store {self.url} ({self.endpoint or 'AWS S3'}) failed to {action} "
            f"({type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}). "
            "Nothing was recorded; try again when it is reachable. If it never is, check "
            "AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (without them the "
            "client asks the cloud's instance metadata) and that the bucket exists."
        )

    # === Objects ===

    def head(self, key: str) -> int | None:
        """The size of object `key`, or None if there is none."""
        import obstore

        try:
            return int(obstore.head(self.store, key)["size"])
        except FileNotFoundError:
            return None
        except Exception as error:
            raise self._unavailable(f"look up {key}", error) from error

    def has_blob(self, sha256: str) -> bool:
        return self.head(blob_key(sha256)) is not None

    def put_file(self, key: str, path: Path) -> bool:
        """Upload a local file as `key` unless it exists; True if it was uploaded.

        Large files go up as a multipart upload of 8 MiB parts, four in flight,
        at most `PUTS_IN_FLIGHT` files at once per process; a failure aborts
        the multipart upload, so no object and no parts remain.
        """
        import obstore

        if self.head(key) is not None:
            return False
        try:
            with _PUTS, open(path, "rb") as reader:
                obstore.put(
                    self.store,
                    key,
                    reader,
                    chunk_size=PART_BYTES,
                    max_concurrency=PARTS_IN_FLIGHT,
                )
        except Exception as error:
            raise self._unavailable(f"store {key}", error) from error
        return True

    def writer(self, key: str) -> BucketWriter | None:
        """A writer of the new object `key`, or None if it exists already (see
        `BucketWriter`)."""
        if self.head(key) is not None:
            return None
        return BucketWriter(self, key)

    def put_blob(self, sha256: str, path: Path) -> bool:
        return self.put_file(blob_key(sha256), path)

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
        """The bytes of `key` from `start` to `end` (exclusive; None: the end), in
        pieces of a few MiB.

        Raises:
            StoreError: no such object.
            BlobStoreUnavailableError: the bucket did not answer.
        """
        import obstore

        options: dict[str, Any] = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        try:
            result = obstore.get(self.store, key, options=options or None)  # type: ignore[arg-type]
            stream = result.stream(min_chunk_size=READ_BYTES)
        except FileNotFoundError as error:
            raise StoreError(
                f"{key} is missing from {self.url}: it was deleted behind the registry's "
                "back. Upload the preset again, or restore the object."
            ) from error
        except Exception as error:
            raise self._unavailable(f"read {key}", error) from error
        return _guarded(stream, lambda error: self._unavailable(f"read {key}", error))

    def download(self, sha256: str, target: Path) -> int:
        """Copy blob `sha256` into the new file `target`, checking its sha256.

        Raises:
            StoreError: no such object, or its bytes do not hash to its name.
        """
        digest = hashlib.sha256()
        size = 0
        with open(target, "xb") as writer:
            for piece in self.read(blob_key(sha256)):
                digest.update(piece)
                writer.write(piece)
                size += len(piece)
        if not hmac.compare_digest(digest.hexdigest(), sha256):
            raise StoreError(
                f"{blob_key(sha256)} in {self.url} hashes to {digest.hexdigest()}: it was "
                "altered behind the registry's back. `registry verify --full` lists every "
                "such object; upload the preset again."
            )
        return size

    def check_blob(self, sha256: str) -> str | None:
        """Rehash blob `sha256` in the bucket: None if it matches its name, else
        what is wrong ("missing", or the sha256 it has)."""
        digest = hashlib.sha256()
        try:
            for piece in self.read(blob_key(sha256)):
                digest.update(piece)
        except BlobStoreUnavailableError:
            raise
        except StoreError:
            return "missing"
        actual = digest.hexdigest()
        return None if hmac.compare_digest(actual, sha256) else actual

    def sign(self, key: str, ttl: dt.timedelta) -> str:
        """A presigned GET URL of `key`, valid for `ttl`."""
        import obstore

        try:
            return obstore.sign(self.store, "GET", key, ttl)
        except Exception as error:
            raise self._unavailable(f"sign a URL of {key}", error) from error

    def copy(self, source: str, target: str) -> None:
        """Copy object `source` to `target` inside the bucket (S3's CopyObject: the
        bytes do not pass through this process; at most `COPY_MAX_BYTES`)."""
        import obstore

        try:
            obstore.copy(self.store, source, target)
        except Exception as error:
            raise self._unavailable(f"copy {source} to {target}", error) from error

    def delete(self, key: str) -> None:
        import obstore

        try:
            obstore.delete(self.store, key)
        except FileNotFoundError:
            pass
        except Exception as error:
            raise self._unavailable(f"delete {key}", error) from error

    def objects(self, prefix: str) -> Iterator[BucketObject]:
        """Every object under `prefix` (keys relative to the bucket's prefix)."""
        import obstore

        try:
            for batch in obstore.list(self.store, prefix=prefix, chunk_size=1000):
                for meta in batch:
                    yield BucketObject(meta["path"], int(meta["size"]), meta["last_modified"])
        except Exception as error:
            raise self._unavailable(f"list {prefix}", error) from error

    # === Housekeeping ===

    def abort_stale_uploads(self, older_than: dt.timedelta) -> int:
        """Abort multipart uploads under the prefix started more than
        `older_than` ago (a killed server's); the number aborted."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.aws.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.aws.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=self.aws.get("AWS_SESSION_TOKEN"),
            region_name=self.region,
        )
        cutoff = dt.datetime.now(dt.timezone.utc) - older_than
        aborted = 0
        try:
            paginator = client.get_paginator("list_multipart_uploads")
            prefix = f"{self.prefix}/" if self.prefix else ""
            for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        client.abort_multipart_upload(
                            Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        except Exception as error:
            raise self._unavailable("list its multipart uploads", error) from error
        finally:
            client.close()
        return aborted


class BucketWriter:
    """Bytes streamed into a multipart upload as they arrive (8 MiB parts, four
    in flight), which becomes the object only at `commit`; `abort` (or any
    failure) aborts the multipart upload, leaving no object and no parts."""

    def __init__(self, bucket: Bucket, key: str) -> None:
        import obstore

        self.bucket = bucket
        self.key = key
        self._done = False
        try:
            self._file = obstore.open_writer(
                bucket.store, key, buffer_size=PART_BYTES, max_concurrency=PARTS_IN_FLIGHT
            )
        except Exception as error:
            raise bucket._unavailable(f"start storing {key}", error) from error

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._file.write(data)
        except Exception as error:
            self.abort()
            raise self.bucket._unavailable(f"store {self.key}", error) from error

    def commit(self) -> None:
        try:
            self._file.close()
        except Exception as error:
            self.abort()
            raise self.bucket._unavailable(f"store {self.key}", error) from error
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        aborted = RuntimeError("aborted")
        with contextlib.suppress(Exception):  # leaving an upload for gc is the worst case
            self._file.__exit__(RuntimeError, aborted, None)


class BlobTee:
    """One received file's bytes streamed into the bucket while they land on
    disk (`registry.preset.upload.StagedFile`), so that an upload to a bucket
    costs about max(receiving it, putting it) rather than the sum.

    - With the sha256 announced before the bytes (the CLI's tar names it in
      each large member's PAX header), they stream straight to the blob's key,
      and the multipart upload is completed only by `settle`, once the file
      hashed to that name and the whole upload was validated: a refused upload
      never creates the object (which another upload of the same bytes could
      otherwise have found and counted on). Meanwhile at most the last part's
      bytes (< 8 MiB) wait in memory. Nothing is copied.
    - Without it, they stream to a temporary key (`uploads/<uuid>`), completed
      when the file ends; `settle` copies it to the blob's key (CopyObject: the
      bytes stay in the S3 server) and deletes it. S3 copies at most 5 GB in
      one request: past that the tee stops, its multipart upload is aborted,
      and the file is pushed from disk after validation as before (copying in
      parts with UploadPartCopy would need boto3 in the server, 50 MB of RSS,
      for files over 5 GB only).

    `discard` (a refused or failed upload) aborts the multipart upload or
    deletes the temporary object: nothing stays in the bucket. A process killed
    meanwhile leaves a multipart upload or an `uploads/` object; `registry gc`
    removes both once older than its grace period.
    """

    def __init__(self, bucket: Bucket, sha256: str | None = None) -> None:
        self.bucket = bucket
        self.announced = sha256
        self.key = blob_key(sha256) if sha256 else f"{UPLOAD_PREFIX}/{uuid.uuid4().hex}"
        self.sha256: str | None = None  # what the bytes hash to, once the file ended
        self.size = 0
        self._writer = BucketWriter(bucket, self.key)
        self._lock = threading.Lock()
        self._state = "open"  # -> closed -> settled | discarded; dropped: past 5 GB

    @property
    def pending(self) -> bool:
        """Whether the file ended with its upload awaiting `settle` or `discard`."""
        return self._state == "closed"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._state != "open":
            return
        self.size += len(data)
        if self.announced is None and self.size > COPY_MAX_BYTES:
            self._state = "dropped"
            self._writer.abort()
            return
        self._writer.write(data)

    def close(self, sha256: str) -> None:
        """The file ended, its bytes hashing to `sha256`."""
        self.sha256 = sha256
        if self._state != "open":
            return
        if self.announced is None:
            self._writer.commit()  # the temporary object
        self._state = "closed"

    def settle(self) -> bool:
        """Make the blob the file hashed to an object of the bucket: True once it
        is; False if this tee did not carry it (the caller pushes the file).

        Raises:
            BlobStoreUnavailableError: the bucket failed (the tee is discarded).
        """
        with self._lock:
            if self._state != "closed" or self.sha256 is None:
                return self._state == "settled"
            try:
                if self.announced is not None:
                    if not hmac.compare_digest(self.announced, self.sha256):
                        self._discard()
                        return False
                    if self.bucket.head(self.key) is None:
                        self._writer.commit()
                    else:  # another upload stored these bytes meanwhile: written once
                        self._writer.abort()
                else:
                    target = blob_key(self.sha256)
                    if self.bucket.head(target) is None:
                        self.bucket.copy(self.key, target)
                    self.bucket.delete(self.key)
            except BlobStoreUnavailableError:
                self._discard()
                raise
            self._state = "settled"
            return True

    def discard(self) -> None:
        """Leave nothing of this tee in the bucket (best effort: what a failing
        bucket keeps, `registry gc` removes later)."""
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        state, self._state = self._state, "discarded"
        if state in ("open", "dropped") or (state == "closed" and self.announced is not None):
            self._writer.abort()
        elif state == "closed":
            with contextlib.suppress(BlobStoreUnavailableError):
                self.bucket.delete(self.key)


def _guarded(stream: Any, failed: Any) -> Iterator[memoryview]:
    try:
        for piece in stream:
            yield memoryview(piece)  # obstore's buffer, not copied
    except Exception as error:
        raise failed(error) from error
