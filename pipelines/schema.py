"""The QuantConnect warehouse schema: the one home of every table, column and enum map.

Each `Column` names its warehouse column, its SQL type, where its value sits in the API's JSON
and how a raw value becomes a column value. `arrow_schema` and `create_table_sql` both derive
from these definitions; `python -m pipelines.schema` writes the DDL to `sql/tables.sql`, and a
test keeps that file equal to what this module generates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

SQL_TO_ARROW: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "JSON": pa.string(),
    "VARCHAR[]": pa.list_(pa.string()),
    "BIGINT[]": pa.list_(pa.int64()),
}

# --- Enums (reference §6: integers on orders, camelCase strings on events) ---------------------

ORDER_TYPES = (
    "Market",
    "Limit",
    "StopMarket",
    "StopLimit",
    "MarketOnOpen",
    "MarketOnClose",
    "OptionExercise",
    "LimitIfTouched",
    "ComboMarket",
    "ComboLimit",
    "ComboLegLimit",
    "TrailingStop",
)
SECURITY_TYPES = (
    "Base",
    "Equity",
    "Option",
    "Commodity",
    "Forex",
    "Future",
    "Cfd",
    "Crypto",
    "FutureOption",
    "Index",
    "IndexOption",
    "CryptoFuture",
)
# Lean's OrderStatus has no code 4.
ORDER_STATUSES = {
    0: "New",
    1: "Submitted",
    2: "PartiallyFilled",
    3: "Filled",
    5: "Canceled",
    6: "None",
    7: "Invalid",
    8: "CancelPending",
    9: "UpdateSubmitted",
}
DIRECTIONS = ("Buy", "Sell", "Hold")
PRICE_ADJUSTMENT_MODES = (
    "Raw",
    "Adjusted",
    "SplitAdjusted",
    "TotalReturn",
    "ForwardPanamaCanal",
    "BackwardsPanamaCanal",
    "BackwardsRatio",
    "ScaledRaw",
)


def _name_map(names: Mapping[int, str] | tuple[str, ...]) -> dict[Any, str]:
    """Map integer codes, and names in any letter case, onto the canonical enum name."""
    by_code = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
    mapping: dict[Any, str] = dict(by_code)
    for name in by_code.values():
        mapping[name] = name
        mapping[name.lower()] = name
        mapping[name[0].lower() + name[1:]] = name  # camelCase, as order events send it
    return mapping


def enum_name(names: Mapping[int, str] | tuple[str, ...]) -> Callable[[Any], str]:
    """A parser that turns an integer code or a (camelCase) name into the enum's name.

    A code nobody knows is kept as its raw text rather than dropped.
    """
    mapping = _name_map(names)

    def parse(raw: Any) -> str:
        found = mapping.get(raw)
        if found is None and isinstance(raw, str):
            found = mapping.get(raw.lower())
        return found if found is not None else str(raw)

    return parse


# --- Value parsers -----------------------------------------------------------------------------


def parse_timestamp(raw: Any) -> datetime | None:
    """Parse a QuantConnect time as a UTC instant.

    Accepts ISO strings with or without `Z` (order times), `yyyy-MM-dd HH:mm:ss` (backtest
    `created`, UTC with no zone) and epoch seconds as a number (order event `time`); reference §9.5.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, UTC) if math.isfinite(raw) else None
    parsed = datetime.fromisoformat(str(raw))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_float(raw: Any) -> float | None:
    """A finite float, or None for absent, non-numeric, NaN or infinite values."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_int(raw: Any) -> int | None:
    """An integer, or None when the value is absent or not a whole number."""
    value = parse_float(raw)
    return int(value) if value is not None and value.is_integer() else None


def parse_bool(raw: Any) -> bool | None:
    """A boolean, or None when absent."""
    return None if raw is None else bool(raw)


def parse_text(raw: Any) -> str | None:
    """Text, or None when absent. Empty strings stay empty: the API sent them."""
    return None if raw is None else str(raw)


def to_json_text(raw: Any) -> str | None:
    """Serialise a nested value as JSON text; empty maps the API sends as `[]` stay `[]`."""
    return None if raw is None else msgspec.json.encode(raw, order="sorted").decode()


def parse_text_list(raw: Any) -> list[str] | None:
    """A list of strings, or None when absent."""
    return None if raw is None else [str(item) for item in raw]


def parse_int_list(raw: Any) -> list[int | None] | None:
    """A list of integers, or None when absent."""
    return None if raw is None else [parse_int(item) for item in raw]


# Statistics are formatted strings (reference §5): "1.692%", "$3.44", "$100,670.36", "-$24.70",
# "$-4.94", "0.57 %", "1,234". A leading currency symbol is any non-word character.
_STATISTIC_NUMBER = re.compile(
    r"([+-]?)\s*[^\w\s.+-]*\s*([+-]?)(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?\s*%?"
)


def parse_statistic_value(text: str | None) -> float | None:
    """Parse a formatted statistic ("$100,670.36", "1.692%", "-$24.70") into a float.

    `"-"`, `""` and values that are not numbers (such as a symbol id) give None.
    """
    if text is None:
        return None
    match = _STATISTIC_NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    outer_sign, inner_sign, digits, exponent = match.groups()
    value = float(digits.replace(",", "") + (exponent or ""))
    if (outer_sign == "-") != (inner_sign == "-"):
        value = -value
    return value if math.isfinite(value) else None


def is_backtest_finished(backtest: Mapping[str, Any]) -> bool:
    """True when a backtest's results are final: it completed, or it stopped on an error.

    `backtests/list` has no `completed` flag, so its `status` text is read (reference §4).
    """
    if backtest.get("completed") is True or backtest.get("error"):
        return True
    status = str(backtest.get("status") or "")
    return status.startswith("Completed") or status in {"Runtime Error", "Aborted"}


def time_in_force(properties: Any) -> str | None:
    """Lean serialises GoodTilCanceled as `{}`; GoodTilDate carries an expiry (reference §6)."""
    if not isinstance(properties, Mapping) or "timeInForce" not in properties:
        return None
    tif = properties["timeInForce"]
    if isinstance(tif, Mapping) and tif:
        return "GoodTilDate" if "expiry" in tif else to_json_text(tif)
    return "GoodTilCanceled"


def time_in_force_expiry(properties: Any) -> datetime | None:
    """The expiry of a GoodTilDate order, or None."""
    if isinstance(properties, Mapping):
        tif = properties.get("timeInForce")
        if isinstance(tif, Mapping):
            return parse_timestamp(tif.get("expiry"))
    return None


def trailing_as_percentage(order: Mapping[str, Any]) -> bool | None:
    """Lean writes `trailingAsPercentage`; the OAS says `trailingPercentage`. Accept both (§6)."""
    return parse_bool(order.get("trailingAsPercentage", order.get("trailingPercentage")))


STANDARD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "BIGINT": parse_int,
    "DOUBLE": parse_float,
    "VARCHAR": parse_text,
    "BOOLEAN": parse_bool,
    "TIMESTAMPTZ": parse_timestamp,
    "JSON": to_json_text,
    "VARCHAR[]": parse_text_list,
    "BIGINT[]": parse_int_list,
}

# --- Tables ------------------------------------------------------------------------------------

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class Column:
    """One warehouse column and where its value comes from.

    `source` is a key path into the API record; an empty path hands the parser the whole
    record; None means the loader supplies the value (a parent key such as `backtest_id`).
    `parse` turns one raw value into the column's value; None means the standard conversion
    of the SQL type (`STANDARD_PARSERS`), which the flattener may apply a column at a time.
    """

    name: str
    sql_type: str
    source: Path_ | None
    parse: Callable[[Any], Any] | None = None
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type that carries this column."""
        return SQL_TO_ARROW[self.sql_type]

    @property
    def parse_value(self) -> Callable[[Any], Any]:
        """The parser of one raw value: the column's own, or its type's standard one."""
        return self.parse or STANDARD_PARSERS[self.sql_type]


@dataclass(frozen=True)
class Table:
    """A warehouse table: its columns and its unique key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str

    @property
    def arrow_schema(self) -> pa.Schema:
        """The explicit Arrow schema that flattened rows are built against."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        """The column names, in table order."""
        return [c.name for c in self.columns]


def _c(
    name: str,
    sql_type: str,
    *source: str,
    parse: Callable[[Any], Any] | None = None,
    description: str = "",
) -> Column:
    return Column(name, sql_type, tuple(source), parse, description)


def _parent(name: str, sql_type: str, description: str) -> Column:
    return Column(name, sql_type, None, description=description)


PROJECTS = Table(
    name="projects",
    key=("project_id",),
    description="One row per QuantConnect project (`projects/read`).",
    columns=(
        _c("project_id", "BIGINT", "projectId"),
        _c("organization_id", "VARCHAR", "organizationId"),
        _c("name", "VARCHAR", "name"),
        _c("language", "VARCHAR", "language"),
        _c("created_at", "TIMESTAMPTZ", "created"),
        _c("modified_at", "TIMESTAMPTZ", "modified"),
        _c("owner_id", "BIGINT", "ownerId"),
        _c("description", "VARCHAR", "description"),
        _c("lean_version_id", "BIGINT", "leanVersionId"),
        _c("lean_pinned_to_master", "BOOLEAN", "leanPinnedToMaster"),
        _c("last_live_deployment", "TIMESTAMPTZ", "lastLiveDeployment"),
        _c("paper_equity", "DOUBLE", "paperEquity"),
        _c("parameters", "JSON", "parameters", description="A list or a map, as the API sent it"),
        _c("libraries", "JSON", "libraries"),
        _c("collaborator_count", "BIGINT", "collaborators", parse=lambda v: len(v) if v else 0),
    ),
)

BACKTESTS = Table(
    name="backtests",
    key=("backtest_id",),
    description="One row per backtest of every project (`backtests/list`), running ones included.",
    columns=(
        _parent("project_id", "BIGINT", "The project the backtest belongs to"),
        _c("backtest_id", "VARCHAR", "backtestId"),
        _c("name", "VARCHAR", "name"),
        _c("status", "VARCHAR", "status", description='"Completed.", "Running: NN%", …'),
        _c("completed", "BOOLEAN", parse=is_backtest_finished, description="Results are final"),
        _c("created_at", "TIMESTAMPTZ", "created"),
        _c("progress", "DOUBLE", "progress"),
        _c("error", "VARCHAR", "error"),
        _c("stacktrace", "VARCHAR", "stacktrace"),
        _c("tags", "VARCHAR[]", "tags"),
        _c("note", "VARCHAR", "note"),
        _c("optimization_id", "VARCHAR", "optimizationId"),
        _c("snapshot_id", "BIGINT", "snapshotId"),
        _c("tradeable_dates", "BIGINT", "tradeableDates"),
        _c("parameter_set", "JSON", "parameterSet"),
        _c("sharpe_ratio", "DOUBLE", "sharpeRatio"),
        _c("alpha", "DOUBLE", "alpha"),
        _c("beta", "DOUBLE", "beta"),
        _c("compounding_annual_return", "DOUBLE", "compoundingAnnualReturn"),
        _c("drawdown", "DOUBLE", "drawdown"),
        _c("loss_rate", "DOUBLE", "lossRate"),
        _c("net_profit", "DOUBLE", "netProfit"),
        _c("psr", "DOUBLE", "psr"),
        _c("sortino_ratio", "DOUBLE", "sortinoRatio"),
        _c("treynor_ratio", "DOUBLE", "treynorRatio"),
        _c("win_rate", "DOUBLE", "winRate"),
        _c("trades", "BIGINT", "trades"),
        _c("parameters", "BIGINT", "parameters"),
        _c("security_types", "VARCHAR", "securityTypes"),
    ),
)

BACKTEST_STATISTICS = Table(
    name="backtest_statistics",
    key=("backtest_id", "statistic"),
    description="One row per entry of a finished backtest's `statistics` map (`backtests/read`).",
    columns=(
        _parent("project_id", "BIGINT", "The backtest's project"),
        _parent("backtest_id", "VARCHAR", "The backtest"),
        _parent("statistic", "VARCHAR", 'The statistic\'s name, e.g. "Sharpe Ratio"'),
        _parent("value_text", "VARCHAR", 'The raw formatted string, e.g. "$100,670.36"'),
        _parent("value", "DOUBLE", "The parsed number; NULL for '-', '' or non-numbers"),
    ),
)

ORDERS = Table(
    name="orders",
    key=("backtest_id", "order_id"),
    description="One row per order of every finished backtest (`backtests/orders/read`).",
    columns=(
        _parent("project_id", "BIGINT", "The backtest's project"),
        _parent("backtest_id", "VARCHAR", "The backtest"),
        _c("order_id", "BIGINT", "id"),
        _c("symbol", "VARCHAR", "symbol", "value", description="The ticker value"),
        _c("symbol_id", "VARCHAR", "symbol", "id"),
        _c("symbol_permtick", "VARCHAR", "symbol", "permtick"),
        _c("underlying_symbol", "VARCHAR", "symbol", "underlying", "value"),
        _c("underlying_symbol_id", "VARCHAR", "symbol", "underlying", "id"),
        _c("security_type", "VARCHAR", "securityType", parse=enum_name(SECURITY_TYPES)),
        _c("order_type", "VARCHAR", "type", parse=enum_name(ORDER_TYPES)),
        _c("status", "VARCHAR", "status", parse=enum_name(ORDER_STATUSES)),
        _c("direction", "VARCHAR", "direction", parse=enum_name(DIRECTIONS)),
        _c("quantity", "DOUBLE", "quantity"),
        _c("price", "DOUBLE", "price"),
        _c("price_currency", "VARCHAR", "priceCurrency"),
        _c("limit_price", "DOUBLE", "limitPrice"),
        _c("stop_price", "DOUBLE", "stopPrice"),
        _c("stop_triggered", "BOOLEAN", "stopTriggered"),
        _c("trigger_price", "DOUBLE", "triggerPrice"),
        _c("trigger_touched", "BOOLEAN", "triggerTouched"),
        _c("trailing_amount", "DOUBLE", "trailingAmount"),
        _c("trailing_as_percentage", "BOOLEAN", parse=trailing_as_percentage),
        _c("value", "DOUBLE", "value"),
        _c("tag", "VARCHAR", "tag"),
        _c("time", "TIMESTAMPTZ", "time"),
        _c("created_time", "TIMESTAMPTZ", "createdTime"),
        _c("last_fill_time", "TIMESTAMPTZ", "lastFillTime"),
        _c("last_update_time", "TIMESTAMPTZ", "lastUpdateTime"),
        _c("canceled_time", "TIMESTAMPTZ", "canceledTime"),
        _c("time_in_force", "VARCHAR", "properties", parse=time_in_force),
        _c("time_in_force_expiry", "TIMESTAMPTZ", "properties", parse=time_in_force_expiry),
        _c("properties", "JSON", "properties"),
        _c("submission_bid_price", "DOUBLE", "orderSubmissionData", "bidPrice"),
        _c("submission_ask_price", "DOUBLE", "orderSubmissionData", "askPrice"),
        _c("submission_last_price", "DOUBLE", "orderSubmissionData", "lastPrice"),
        _c("is_marketable", "BOOLEAN", "isMarketable"),
        _c(
            "price_adjustment_mode",
            "VARCHAR",
            "priceAdjustmentMode",
            parse=enum_name(PRICE_ADJUSTMENT_MODES),
        ),
        _c("contingent_id", "BIGINT", "contingentId"),
        _c("broker_ids", "VARCHAR[]", "brokerId"),
        _c("group_order_manager_id", "BIGINT", "groupOrderManager", "id"),
        _c("group_quantity", "DOUBLE", "groupOrderManager", "quantity"),
        _c("group_count", "BIGINT", "groupOrderManager", "count"),
        _c("group_limit_price", "DOUBLE", "groupOrderManager", "limitPrice"),
        _c("group_order_ids", "BIGINT[]", "groupOrderManager", "orderIds"),
        _c(
            "group_direction",
            "VARCHAR",
            "groupOrderManager",
            "direction",
            parse=enum_name(DIRECTIONS),
        ),
    ),
)

ORDER_EVENTS = Table(
    name="order_events",
    key=("backtest_id", "order_id", "order_event_id"),
    description="One row per event of every loaded order (the order's nested `events`).",
    columns=(
        _parent("project_id", "BIGINT", "The backtest's project"),
        _parent("backtest_id", "VARCHAR", "The backtest"),
        _parent("order_id", "BIGINT", "The order the event belongs to"),
        _c("order_event_id", "BIGINT", "orderEventId"),
        _c("event_id", "VARCHAR", "id", description='"{backtestId}-{orderId}-{orderEventId}"'),
        _c("status", "VARCHAR", "status", parse=enum_name(ORDER_STATUSES)),
        _c("direction", "VARCHAR", "direction", parse=enum_name(DIRECTIONS)),
        _c("symbol", "VARCHAR", "symbolValue"),
        _c("symbol_id", "VARCHAR", "symbol"),
        _c("symbol_permtick", "VARCHAR", "symbolPermtick"),
        _c("fill_price", "DOUBLE", "fillPrice"),
        _c("fill_price_currency", "VARCHAR", "fillPriceCurrency"),
        _c("fill_quantity", "DOUBLE", "fillQuantity"),
        _c("quantity", "DOUBLE", "quantity"),
        _c("order_fee_amount", "DOUBLE", "orderFeeAmount"),
        _c("order_fee_currency", "VARCHAR", "orderFeeCurrency"),
        _c("limit_price", "DOUBLE", "limitPrice"),
        _c("stop_price", "DOUBLE", "stopPrice"),
        _c("is_assignment", "BOOLEAN", "isAssignment"),
        _c("is_in_the_money", "BOOLEAN", "isInTheMoney"),
        _c("message", "VARCHAR", "message"),
        _c("event_time", "TIMESTAMPTZ", "time", description="Sent as epoch seconds"),
    ),
)

TABLES: tuple[Table, ...] = (PROJECTS, BACKTESTS, BACKTEST_STATISTICS, ORDERS, ORDER_EVENTS)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
TABLES_SQL = SQL_DIR / "tables.sql"


def create_table_sql(table: Table) -> str:
    """The `CREATE TABLE IF NOT EXISTS` statement for a table, its key as the primary key."""
    columns = [f"    {c.name} {c.sql_type}" for c in table.columns]
    columns.append(f"    PRIMARY KEY ({', '.join(table.key)})")
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n" + ",\n".join(columns) + "\n);\n"


def add_column_sql(table: Table, column: Column) -> str:
    """The `ALTER TABLE` that adds a column a newer schema introduced to an existing table."""
    return f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.sql_type};"


def render_tables_sql() -> str:
    """The whole of `sql/tables.sql`, as generated from `TABLES`."""
    header = "-- Generated by `python -m pipelines.schema` from pipelines/schema.py: edit that.\n"
    return header + "\n".join(
        f"-- {table.description}\n{create_table_sql(table)}" for table in TABLES
    )


if __name__ == "__main__":
    TABLES_SQL.write_text(render_tables_sql())
    print(f"wrote {TABLES_SQL}")
