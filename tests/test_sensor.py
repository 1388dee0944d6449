"""The sensor of newly finished backtests, evaluated against the sandbox and a real warehouse
(a DuckDB file, or a DuckLake)."""

import dagster as dg

from assets.sensors import new_finished_backtests
from pipelines.definitions import defs
from pipelines.sandbox import SandboxServer
from pipelines.warehouse import Target
from tests.helpers import make_resources

ORDERS = "backtests/orders/read"


def evaluate(sandbox: SandboxServer, path: Target, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources=make_resources(sandbox, path))
    return new_finished_backtests(context)


def test_the_sensor_is_stopped_until_turned_on_and_runs_the_sync():
    sensor = defs.resolve_sensor_def("new_finished_backtests")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "sync_quantconnect"


def test_it_requests_a_sync_once_for_newly_finished_backtests(
    sandbox: SandboxServer, target: Target
):
    first = evaluate(sandbox, target, None)  # no warehouse yet: a first sync
    assert isinstance(first, dg.SensorResult) and len(first.run_requests) == 1

    job = defs.resolve_job_def("sync_quantconnect")
    assert job.execute_in_process(resources=make_resources(sandbox, target)).success
    sandbox.reset_stats()
    idle = evaluate(sandbox, target, first.cursor)
    assert isinstance(idle, dg.SkipReason)
    requests = sandbox.stats()["requests"]
    assert ORDERS not in requests and set(requests) == {"projects/read", "backtests/list"}

    sandbox.account.add_backtests(count=2)
    new = evaluate(sandbox, target, first.cursor)
    assert isinstance(new, dg.SensorResult)
    (request,) = new.run_requests
    assert request.tags["new_backtests"] == "2" and request.run_key == new.cursor
    again = evaluate(sandbox, target, new.cursor)
    assert isinstance(again, dg.SkipReason) and "requested already" in again.skip_message

    assert job.execute_in_process(resources=make_resources(sandbox, target)).success
    assert isinstance(evaluate(sandbox, target, new.cursor), dg.SkipReason)
