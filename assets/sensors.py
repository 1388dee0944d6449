"""The sensor that starts a sync when backtests finish upstream."""

import hashlib

import dagster as dg

from assets.names import SYNC_JOB
from pipelines.resources import QuantConnectResource, WarehouseResource
from pipelines.sync.steps.orders import finished_backtests_without_orders
from pipelines.warehouse import NoWarehouseError, WarehouseBusyError

SENSOR_INTERVAL_SECONDS = 300


@dg.sensor(
    name="new_finished_backtests",
    job_name=SYNC_JOB,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Every 5 minutes: one projects/read and one backtests/list per project. When "
        "finished backtests without loaded orders appear, runs the sync for them. The "
        "cursor holds a digest of the backtests last requested, so they are asked for once."
    ),
)
def new_finished_backtests(
    context: dg.SensorEvaluationContext,
    quantconnect: QuantConnectResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult | dg.SkipReason:
    """Polls `backtests/list`; runs the sync when finished backtests lack their orders."""
    try:
        with warehouse.reader() as store, quantconnect.client() as client:
            backtest_ids = finished_backtests_without_orders(client, store)
    except NoWarehouseError:
        return _request(["(no warehouse yet: everything)"], context.cursor)
    except WarehouseBusyError:
        return dg.SkipReason("a sync is writing the warehouse; looking again next tick")
    if not backtest_ids:
        return dg.SkipReason("no finished backtest is missing its orders")
    return _request(backtest_ids, context.cursor)


def _request(backtest_ids: list[str], cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    """A run for these backtests, unless the cursor says they were requested last time."""
    digest = hashlib.sha256("\n".join(backtest_ids).encode()).hexdigest()[:16]
    if digest == cursor:
        return dg.SkipReason(f"{len(backtest_ids)} backtest(s) requested already")
    tags = {"new_backtests": str(len(backtest_ids))}
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=digest, tags=tags)], cursor=digest)
