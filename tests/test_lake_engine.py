"""The engine a DuckLake warehouse runs on, offline: DuckDB's extensions load from their PyPI
wheels (never DuckDB's host); a lake on a SQLite catalog and a local folder takes commits from
one process that another reads, as of any snapshot; and a lake on PostgreSQL and S3 (real
services: a throwaway cluster and moto) takes four writer processes at once."""

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.warehouse.extensions import (
    LAKE_EXTENSIONS,
    MissingExtensionError,
    extension_file,
    load_extensions,
)
from tests.helpers import REPO_ROOT
from tests.services import S3, Postgres


def offline_connection(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A connection that may not download anything, with its own extension directory."""
    config = {"autoinstall_known_extensions": False, "extension_directory": str(tmp_path / "ext")}
    return duckdb.connect(config=config)


def test_the_lake_extensions_load_from_their_wheels(tmp_path: Path):
    conn = offline_connection(tmp_path)
    load_extensions(conn)
    rows = conn.execute(
        "SELECT extension_name, loaded, install_mode FROM duckdb_extensions() WHERE installed"
        " AND install_mode = 'CUSTOM_PATH'"
    ).fetchall()
    assert {name for name, _, _ in rows} == {
        "ducklake",
        "postgres_scanner",
        "sqlite_scanner",
        "httpfs",
    }
    assert all(loaded for _, loaded, _ in rows)
    load_extensions(offline_connection(tmp_path))  # installed once: the second only loads


def test_an_extension_without_its_wheel_is_a_clear_error():
    with pytest.raises(MissingExtensionError, match="duckdb-extension-nosuch"):
        extension_file("nosuch")
    assert all(extension_file(name).name.endswith(".duckdb_extension") for name in LAKE_EXTENSIONS)


READ_LAKE = """
import sys, duckdb
from pipelines.warehouse.extensions import load_extensions
extensions, catalog, data = sys.argv[1:]
conn = duckdb.connect(
    config={"autoinstall_known_extensions": False, "extension_directory": extensions}
)
load_extensions(conn, ["ducklake", "sqlite"])
conn.execute(f"ATTACH 'ducklake:sqlite:{catalog}' AS lake (DATA_PATH '{data}', READ_ONLY)")
print(conn.execute("SELECT count(*), sum(quantity) FROM lake.orders").fetchone())
"""


def test_a_lake_on_sqlite_and_a_folder_commits_snapshots_another_process_reads(tmp_path: Path):
    catalog, data = tmp_path / "catalog.sqlite", tmp_path / "data"
    conn = offline_connection(tmp_path)
    load_extensions(conn, ["ducklake", "sqlite"])
    conn.execute(f"ATTACH 'ducklake:sqlite:{catalog}' AS lake (DATA_PATH '{data}/')")
    conn.execute("CREATE TABLE lake.orders (backtest_id VARCHAR, order_id INT, quantity INT)")
    for backtest, quantity in (("a", 10), ("b", 5)):
        conn.execute("BEGIN")
        conn.execute("DELETE FROM lake.orders WHERE backtest_id = ?", [backtest])
        conn.execute(
            "INSERT INTO lake.orders SELECT ?, range, ? FROM range(1000)", [backtest, quantity]
        )
        conn.execute("COMMIT")
    command = [sys.executable, "-c", READ_LAKE, str(tmp_path / "ext"), str(catalog), f"{data}/"]
    read = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "(2000, 15000)"
    snapshots = [
        row[0] for row in conn.execute("SELECT snapshot_id FROM lake.snapshots()").fetchall()
    ]
    before_b = snapshots[-2]  # the commit that loaded backtest a only
    as_of = conn.execute(f"SELECT count(*) FROM lake.orders AT (VERSION => {before_b})").fetchone()
    assert as_of == (1000,)
    assert list(data.rglob("*.parquet"))  # more than DuckLake inlines into its catalog


LOAD_BACKTEST = """
import sys, duckdb
from pipelines.warehouse.extensions import load_extensions
extensions, catalog, data, secret, backtest = sys.argv[1:]
conn = duckdb.connect(
    config={"autoinstall_known_extensions": False, "extension_directory": extensions}
)
load_extensions(conn)
conn.execute(secret)
conn.execute(f"ATTACH 'ducklake:postgres:{catalog}' AS lake (DATA_PATH '{data}')")
conn.execute("BEGIN")
conn.execute("INSERT INTO lake.orders SELECT ?, range, 1 FROM range(20000)", [backtest])
conn.execute("COMMIT")
"""


def test_writers_in_four_processes_commit_at_once_to_a_lake_on_postgres_and_s3(
    tmp_path: Path, postgres: Postgres, s3: S3
):
    postgres.create_database("lake_writers")
    s3.create_bucket("lake-writers")
    catalog, data = postgres.dsn("lake_writers"), "s3://lake-writers/warehouse/"
    conn = offline_connection(tmp_path)
    load_extensions(conn)
    conn.execute(s3.secret_sql())
    # The lake is created once, before the writers fan out: first attachments race otherwise.
    conn.execute(f"ATTACH 'ducklake:postgres:{catalog}' AS lake (DATA_PATH '{data}')")
    conn.execute("CREATE TABLE lake.orders (backtest_id VARCHAR, order_id INT, quantity INT)")
    args = [str(tmp_path / "ext"), catalog, data, s3.secret_sql()]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", LOAD_BACKTEST, *args, f"bt{n}"],
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0] * 4, errors
    counts = conn.execute("SELECT backtest_id, count(*) FROM lake.orders GROUP BY 1 ORDER BY 1")
    assert counts.fetchall() == [(f"bt{n}", 20000) for n in range(4)]
    files = conn.execute("SELECT data_file FROM ducklake_list_files('lake', 'orders')").fetchall()
    assert files and all(path.startswith(data) for (path,) in files)
