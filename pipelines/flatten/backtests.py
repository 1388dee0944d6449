"""`backtests/list`'s summaries and `backtests/read`'s statistics map → the backtests tables."""

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from pipelines.flatten.records import Notes, Record, records_to_arrow
from pipelines.schema.backtests import BACKTEST_STATISTICS, BACKTESTS
from pipelines.schema.values import parse_statistic_currency, parse_statistic_value


def backtests_to_arrow(
    project_id: int, backtests: Sequence[Record], notes: Notes | None = None
) -> pa.Table:
    """The `backtests` rows of one project from `backtests/list`'s summaries: listed, so not
    deleted upstream (`deleted_upstream_at` NULL)."""
    return records_to_arrow(
        BACKTESTS, backtests, {"project_id": project_id, "deleted_upstream_at": None}, notes
    )


def statistics_to_arrow(project_id: int, backtest_id: str, statistics: Any) -> pa.Table:
    """The `backtest_statistics` rows of one backtest.

    The API sends `[]` instead of `{}` while statistics are not ready (reference §2); that
    gives no rows.
    """
    items = list(statistics.items()) if isinstance(statistics, Mapping) else []
    texts = [None if value is None else str(value) for _, value in items]
    return records_to_arrow(
        BACKTEST_STATISTICS,
        [{}] * len(items),
        {
            "project_id": project_id,
            "backtest_id": backtest_id,
            "statistic": [str(name) for name, _ in items],
            "value_text": texts,
            "value": [parse_statistic_value(text) for text in texts],
            "currency": [parse_statistic_currency(text) for text in texts],
        },
    )
