"""A real S3 API on loopback: moto's server, started in this process on a free port.

Each test gets its own bucket and read-cache directory and the settings that select the S3
store (``DICOM_STORAGE=s3``), so the code under test builds its boto3 client from settings
exactly as in production and talks HTTP to the server.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.peers.ports import free_port

ACCESS_KEY = "moto-access-key"
SECRET_KEY = "moto-secret-key"
REGION = "us-east-1"


@dataclass
class MotoServer:
    """A ThreadedMotoServer that can be stopped and started again on the same port.

    Objects outlive a restart (moto keeps them in process memory), as a real bucket
    outlives its endpoint's outage.
    """

    port: int = 0
    _server: object = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        for _ in range(5):  # the free port can be taken before we bind it
            port = self.port or free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            try:
                server.start()
            except OSError:
                if self.port:
                    raise
                continue
            self._server, self.port = server, port
            return
        raise RuntimeError("no free port for the S3 server")

    def stop(self) -> None:
        server = self._server
        server.stop()
        # stop() only ends serve_forever: close the listening socket too, so a client meets
        # a refused connection (an endpoint that is down), not a silent backlog.
        server._server.server_close()


@pytest.fixture(scope="module")
def moto_server():
    # One line per request otherwise, in every failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Bucket:
    name: str
    client: object
    cache_dir: Path
    prefix: str = "dicom"

    def key(self, relative_path: str) -> str:
        return f"{self.prefix}/{relative_path}"

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, relative_path: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=self.key(relative_path))["Body"].read()


@pytest.fixture
def s3_archive(settings, moto_server, tmp_path) -> Bucket:
    """Settings that put the archive in a fresh bucket of the moto server."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )
    name = f"archive-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    settings.DICOM_STORAGE = "s3"
    settings.AWS_STORAGE_BUCKET_NAME = name
    settings.AWS_S3_ENDPOINT_URL = moto_server.endpoint
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.AWS_S3_SECRET_ACCESS_KEY = SECRET_KEY
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.DICOM_S3_PREFIX = "dicom"
    settings.DICOM_S3_CACHE_DIR = tmp_path / "s3-cache"
    settings.DICOM_S3_CACHE_BYTES = 64 * 1024**2
    # One attempt, short timeouts: a stopped endpoint fails the test's ingest at once.
    settings.DICOM_S3_TIMEOUT_SECONDS = 2
    settings.DICOM_S3_MAX_ATTEMPTS = 1
    return Bucket(name, client, tmp_path / "s3-cache")
