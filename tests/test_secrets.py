"""The API token appears nowhere: not in logs, errors, run config, the event log, the resource's
repr, the DuckDB file or the sandbox's access log, after a good sync and two failed ones."""

import json
import logging
import secrets
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from pipelines.sandbox import SANDBOX_USER_ID, SandboxAccount, SandboxServer
from tests.helpers import TEST_SIZE, make_resources

ORDERS = "backtests/orders/read"


def files_containing(directory: Path, needle: bytes) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_token_leaks_nowhere_after_a_sync_and_two_failures(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    token = f"qc-token-{secrets.token_hex(16)}"
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QC_USER_ID", SANDBOX_USER_ID)
    monkeypatch.setenv("QC_API_TOKEN", token)
    warehouse, home = tmp_path / "warehouse" / "w.duckdb", tmp_path / "dagster_home"
    home.mkdir()
    job = defs.resolve_job_def("sync_quantconnect")
    account = SandboxAccount(TEST_SIZE, seed=11)
    texts: list[str] = []
    with (
        SandboxServer(account, api_token=token, quiet=False) as sandbox,
        dg.instance_for_test(temp_dir=str(home)) as instance,
    ):
        run = make_resources(sandbox, warehouse, api_token=None)  # from the environment
        texts.append(repr(run["quantconnect"]))
        assert job.execute_in_process(resources=run, instance=instance).success

        sandbox.set_faults([{"kind": "500", "endpoint": ORDERS}])  # a persistent failure
        sandbox.account.add_backtests()
        failed = job.execute_in_process(resources=run, instance=instance, raise_on_error=False)
        sandbox.clear_faults()
        sandbox.account.add_backtests()
        monkeypatch.setenv("QC_USER_ID", "999")  # the token now belongs to no one
        rejected = job.execute_in_process(resources=run, instance=instance, raise_on_error=False)
        assert not failed.success and not rejected.success
        for result in (failed, rejected):
            texts += [str(e.step_failure_data.error) for e in result.get_step_failure_events()]

        for record in instance.get_run_records():
            texts.append(json.dumps(record.dagster_run.run_config))
            texts += [str(entry) for entry in instance.all_logs(record.dagster_run.run_id)]
        assert len(instance.get_run_records()) == 3
    out, err = capfd.readouterr()
    texts += [out, err, caplog.text]
    assert f"POST /api/v2/{ORDERS} 500" in err  # the access log was on
    assert "UserID not valid" in " ".join(texts)
    assert not [t for t in texts if token in t]
    assert files_containing(tmp_path, token.encode()) == []
    assert files_containing(warehouse.parent, b"orders")  # the grep does read the warehouse
