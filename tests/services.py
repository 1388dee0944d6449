"""Real services for the lake's tests, on 127.0.0.1 in temp dirs, started and stopped here:
a throwaway PostgreSQL cluster (Debian's `postgresql`, through `initdb` and `pg_ctl`) and an
S3 endpoint (moto's server mode)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

S3_KEY, S3_SECRET, S3_REGION = "test", "test", "us-east-1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server binaries (the newest installed)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    return found[-1].parent


@dataclass(frozen=True)
class Postgres:
    """A running cluster: `dsn(database)` is a libpq connection string for DuckDB."""

    port: int
    socket_dir: Path

    def dsn(self, database: str) -> str:
        """A libpq keyword string for `database` on this cluster."""
        return f"dbname={database} host=127.0.0.1 port={self.port} user=postgres"

    def create_database(self, name: str) -> None:
        """Create database `name`."""
        psql = postgres_bin() / "psql"
        command = [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run([*command, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)


def _as_postgres(command: list[str]) -> list[str]:
    """`command` run as the `postgres` user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A PostgreSQL cluster in a temp dir of its own (pytest's are private to root, which the
    server may not be) on a free port of 127.0.0.1, trusting local users; stopped (fast) and
    removed when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="qcw-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    binaries = postgres_bin()
    initdb = [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    start = [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log")]
    subprocess.run(_as_postgres([*start, "-w", "start"]), check=True, capture_output=True)
    try:
        yield Postgres(port, folder)
    finally:
        stop = [str(binaries / "pg_ctl"), "-D", str(data), "stop", "-m", "fast"]
        subprocess.run(_as_postgres(stop), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class S3:
    """A running S3 endpoint: `endpoint` is host:port, as DuckDB's S3 secret takes it."""

    endpoint: str

    def create_bucket(self, name: str) -> None:
        """Create bucket `name`."""
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://{self.endpoint}",
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name=S3_REGION,
        ).create_bucket(Bucket=name)

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point a client (and a `Lake`) at this endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_REGION": S3_REGION,
            "AWS_ENDPOINT_URL_S3": f"http://{self.endpoint}",
        }

    def secret_sql(self) -> str:
        """The DuckDB statement that points S3 at this endpoint."""
        return (
            f"CREATE OR REPLACE SECRET s3_test (TYPE s3, KEY_ID '{S3_KEY}', SECRET '{S3_SECRET}', "
            f"REGION '{S3_REGION}', ENDPOINT '{self.endpoint}', URL_STYLE 'path', USE_SSL false)"
        )


@contextmanager
def moto_s3() -> Iterator[S3]:
    """moto's S3 server on a free port of 127.0.0.1, stopped when the block ends."""
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield S3(f"127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
