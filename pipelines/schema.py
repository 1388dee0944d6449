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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

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


class EnumMap:
    """An enum's canonical names, from integer codes (as orders send them) or from names in
    any letter case (as events send them, camelCase). A code nobody knows is kept as its raw
    text rather than dropped."""

    def __init__(self, names: Mapping[int, str] | tuple[str, ...]) -> None:
        self._by_code = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
        self._by_lower_name = {name.lower(): name for name in self._by_code.values()}
        codes = range(max(self._by_code) + 1)
        self._code_names = pa.array([self._by_code.get(code) for code in codes], pa.string())
        self._lower_names = pa.array(list(self._by_lower_name), pa.string())
        self._names = pa.array(list(self._by_lower_name.values()), pa.string())

    def __call__(self, raw: Any) -> str:
        """The name of one raw value."""
        try:
            found = (
                self._by_lower_name.get(raw.lower())
                if isinstance(raw, str)
                else self._by_code.get(raw)
            )
        except TypeError:  # unhashable: a list or a map
            found = None
        return found if found is not None else str(raw)

    def knows(self, raw: Any) -> bool:
        """Whether `raw` is one of the enum's codes or names."""
        try:
            if isinstance(raw, str):
                return raw.lower() in self._by_lower_name
            return raw in self._by_code and not isinstance(raw, bool)
        except TypeError:  # unhashable: a list or a map
            return False

    def names_of(self, raw: pa.Array) -> tuple[pa.Array, int]:
        """The names of a whole array of integer codes or of names, as `__call__` gives them,
        and how many values were not the enum's (kept as their raw text)."""
        if pa.types.is_integer(raw.type):
            known = pc.and_(pc.greater_equal(raw, 0), pc.less(raw, len(self._code_names)))
            names = self._code_names.take(pc.if_else(known, raw, pa.scalar(None, raw.type)))
        else:
            names = self._names.take(pc.index_in(pc.utf8_lower(raw), self._lower_names))
        return pc.coalesce(names, raw.cast(pa.string())), names.null_count - raw.null_count


# --- Value parsers -----------------------------------------------------------------------------


def parse_timestamp(raw: Any) -> datetime | None:
    """Parse a QuantConnect time as a UTC instant.

    Accepts ISO strings with or without `Z` (order times), `yyyy-MM-dd HH:mm:ss` (backtest
    `created`, UTC with no zone) and epoch seconds as a number (order event `time`); reference §9.5.
    Anything else gives None.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, UTC) if math.isfinite(raw) else None
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        return None  # not a time at all
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
    """A 64-bit integer, or None when the value is absent, not a whole number or too big."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value: int | None = raw
    else:
        number = parse_float(raw)
        value = int(number) if number is not None and number.is_integer() else None
    return value if value is not None and -(2**63) <= value < 2**63 else None


def parse_bool(raw: Any) -> bool | None:
    """A boolean, or None when absent."""
    return None if raw is None else bool(raw)


def parse_text(raw: Any) -> str | None:
    """Text, or None when absent. Empty strings stay empty: the API sent them. A map or a
    list where text was expected is kept as its JSON."""
    if isinstance(raw, dict | list):
        return to_json_text(raw)
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
    tif = properties.get("timeInForce") if isinstance(properties, Mapping) else None
    if tif is None:
        return None
    if isinstance(tif, Mapping) and tif:
        return "GoodTilDate" if tif.get("expiry") is not None else to_json_text(tif)
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


# --- The same parsers over whole Arrow arrays, for order pages read by pyarrow's JSON reader ----
# Each takes the wire array at its column's source path (see `Column.parse_array`).

# `properties` as orders send it: `{"timeInForce": {}}` or `{"timeInForce": {"expiry": ...}}`.
PROPERTIES_WIRE = pa.struct([("timeInForce", pa.struct([("expiry", pa.string())]))])


def _time_in_force_parts(properties: pa.StructArray) -> tuple[pa.Array, pa.Array]:
    tif = pc.struct_field(properties, "timeInForce")
    return tif, pc.struct_field(tif, "expiry")


def time_in_force_array(properties: pa.StructArray) -> pa.Array:
    """`time_in_force` over an array of `PROPERTIES_WIRE`."""
    tif, expiry = _time_in_force_parts(properties)
    named = pc.if_else(pc.is_valid(expiry), "GoodTilDate", "GoodTilCanceled")
    return pc.if_else(pc.is_valid(tif), named, pa.scalar(None, pa.string()))


def time_in_force_expiry_array(properties: pa.StructArray) -> pa.Array:
    """`time_in_force_expiry` over an array of `PROPERTIES_WIRE`."""
    return timestamps_from_text(_time_in_force_parts(properties)[1])


def properties_json_array(properties: pa.StructArray) -> pa.Array:
    """`to_json_text` over an array of `PROPERTIES_WIRE`: the same JSON text, key for key."""
    tif, expiry = _time_in_force_parts(properties)
    if pc.any(pc.match_substring_regex(expiry, r'["\\\x00-\x1f]')).as_py():
        raise ValueError("an expiry that needs JSON escaping")  # the reader's caller falls back
    with_expiry = pc.binary_join_element_wise('{"timeInForce":{"expiry":"', expiry, '"}}', "")
    text = pc.if_else(pc.is_valid(expiry), with_expiry, '{"timeInForce":{}}')
    text = pc.if_else(pc.is_valid(tif), text, "{}")
    return pc.if_else(pc.is_valid(properties), text, pa.scalar(None, pa.string()))


def trailing_as_percentage_array(orders: pa.StructArray) -> pa.Array:
    """`trailing_as_percentage` over an array of whole orders."""
    return pc.coalesce(
        pc.struct_field(orders, "trailingAsPercentage"),
        pc.struct_field(orders, "trailingPercentage"),
    )


_TIMESTAMP = pa.timestamp("us", tz="UTC")


def timestamps_from_text(text: pa.Array) -> pa.Array:
    """ISO strings, with a zone or without one (read as UTC), as UTC instants (reference §9.5)."""
    try:
        return text.cast(_TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text.cast(pa.timestamp("us")).cast(_TIMESTAMP)


def timestamps_from_epoch(seconds: pa.Array) -> pa.Array:
    """Epoch seconds (order event `time`) as UTC instants, rounded to the microsecond."""
    micros = pc.round(pc.multiply(seconds.cast(pa.float64()), 1_000_000))
    return micros.cast(pa.int64()).cast(_TIMESTAMP)


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

    For tables read from raw pages by pyarrow's JSON reader (orders and events), `wire` is
    the JSON value's Arrow type at `source` when it is not the column's own (enum codes, epoch
    seconds, nested objects), and `parse_array` is `parse` over a whole array of wire values,
    for columns whose `parse` is neither standard nor an `EnumMap`.
    """

    name: str
    sql_type: str
    source: Path_ | None
    parse: Callable[[Any], Any] | None = None
    description: str = ""
    wire: pa.DataType | None = None
    parse_array: Callable[[pa.Array], pa.Array] | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type that carries this column."""
        return SQL_TO_ARROW[self.sql_type]

    @property
    def wire_type(self) -> pa.DataType:
        """The Arrow type of the JSON value at `source` on the wire."""
        return self.wire or self.arrow_type

    @property
    def parse_value(self) -> Callable[[Any], Any]:
        """The parser of one raw value: the column's own, or its type's standard one."""
        return self.parse or STANDARD_PARSERS[self.sql_type]


@dataclass(frozen=True)
class Table:
    """A warehouse table: its columns and its unique key.

    `key_constraint` False leaves the key out of the DDL: for the bulk-loaded order tables the
    loader deduplicates instead, and asset checks verify it (a DuckDB PRIMARY KEY slows their
    loads and holds an index in memory; docs/benchmarks.md).
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    key_constraint: bool = True
    read_keys: tuple[str, ...] = ()  # top-level keys read or dropped on purpose, not by path
    object_lists: tuple[str, ...] = ()  # read keys that hold a list of objects

    @cached_property
    def shape(self) -> KeyShape:
        """Every key of a record that some column reads, or that is read or dropped on purpose:
        the keys `conform_record` keeps; any other key goes to the `extra` column."""
        paths = {(k,): None for k in self.read_keys}
        paths |= {c.source: c.wire for c in self.columns if c.source}
        return replace(KeyShape.of(paths), object_lists=frozenset(self.object_lists))

    @property
    def has_extra(self) -> bool:
        """Whether the table keeps unknown fields in an `extra` column."""
        return any(c.name == EXTRA for c in self.columns)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The explicit Arrow schema that flattened rows are built against."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        """The column names, in table order."""
        return [c.name for c in self.columns]


EXTRA = "extra"


def _fold(key: str) -> str:
    """A key with case, `-` and `_` ignored: `OrderEventId`, `order-event-id` → `ordereventid`."""
    return key.replace("-", "").replace("_", "").lower()


@dataclass(frozen=True)
class KeyShape:
    """The known keys of a JSON object, spelled as the API spells them now: each maps to the
    shape of its own keys, or to None when its value is read whole. A `whole` shape is a value
    read whole whose known keys are still respelled (`properties`); it keeps unknown keys."""

    keys: Mapping[str, KeyShape | None]
    whole: bool = False
    object_lists: frozenset[str] = frozenset()  # keys holding a list of objects (`events`)

    @classmethod
    def of(cls, paths: Mapping[Path_, pa.DataType | None]) -> KeyShape:
        """The shape that holds every key path; a path read whole wins over its sub-paths,
        and its wire type, when a struct, gives the spelling of its keys."""
        whole = {path[0]: wire for path, wire in paths.items() if len(path) == 1}
        nested: dict[str, dict[Path_, pa.DataType | None]] = {}
        for path, wire in paths.items():
            if path[0] not in whole:
                nested.setdefault(path[0], {})[path[1:]] = wire
        return cls(
            {
                **{key: cls.of_struct(wire) for key, wire in whole.items()},
                **{key: cls.of(inner) for key, inner in nested.items()},
            }
        )

    @classmethod
    def of_struct(cls, wire: pa.DataType | None) -> KeyShape | None:
        """The `whole` shape of a value whose wire type is a struct; None for other types."""
        if not isinstance(wire, pa.StructType):
            return None
        return cls({f.name: cls.of_struct(f.type) for f in wire.fields}, whole=True)

    @cached_property
    def folded(self) -> dict[str, str]:
        """Known keys by their `_fold`ed spelling."""
        return {_fold(key): key for key in self.keys}


def conform_record(record: Any, shape: KeyShape) -> tuple[Any, dict[str, Any] | None, int]:
    """`record` with its keys spelled as `shape` spells them, the fields `shape` does not know
    (nested ones under their parent's key; None when there are none), and the keys renamed.

    Legacy PascalCase order keys and kebab-case event keys (`Symbol`, `fill-price`) are renamed
    when the current spelling is not also present (reference §6).
    """
    if not isinstance(record, Mapping):
        return record, None, 0
    conformed: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    renamed = 0
    for key, value in record.items():
        name = key
        if key not in shape.keys:
            name = shape.folded.get(_fold(key), key)
            if name == key or name in record or name in conformed:
                if shape.whole:
                    conformed[key] = value
                else:
                    extra[key] = value
                continue
            renamed += 1
        inner = shape.keys[name]
        if inner is not None and not inner.whole and not isinstance(value, Mapping | None):
            extra[key] = value  # a map was expected (`symbol` as text): kept, its columns NULL
            continue
        if name in shape.object_lists and value is not None:
            strays = (
                [v for v in value if not isinstance(v, Mapping)]
                if isinstance(value, list)
                else value
            )
            if strays:  # not a list, or items that are not objects: kept, never a NULL row
                extra[key] = strays
                value = (
                    [v for v in value if isinstance(v, Mapping)]
                    if isinstance(value, list)
                    else None
                )
        if inner is not None and isinstance(value, Mapping):
            value, inner_extra, inner_renamed = conform_record(value, inner)
            renamed += inner_renamed
            if inner_extra:
                extra[key] = inner_extra
        conformed[name] = value
    return conformed, extra or None, renamed


def _extra() -> Column:
    return Column(
        EXTRA,
        "JSON",
        None,
        description="Fields the API sent that no column holds (schema drift), as JSON; or NULL",
    )


def _c(
    name: str,
    sql_type: str,
    *source: str,
    parse: Callable[[Any], Any] | None = None,
    description: str = "",
    wire: pa.DataType | None = None,
    parse_array: Callable[[pa.Array], pa.Array] | None = None,
) -> Column:
    return Column(name, sql_type, tuple(source), parse, description, wire, parse_array)


def _enum(name: str, *source: str, names: EnumMap, wire: pa.DataType) -> Column:
    return _c(name, "VARCHAR", *source, parse=names, wire=wire)


# Enums: integer codes on orders, camelCase strings on events (reference §6).
SECURITY_TYPE = EnumMap(SECURITY_TYPES)
ORDER_TYPE = EnumMap(ORDER_TYPES)
ORDER_STATUS = EnumMap(ORDER_STATUSES)
DIRECTION = EnumMap(DIRECTIONS)
PRICE_ADJUSTMENT_MODE = EnumMap(PRICE_ADJUSTMENT_MODES)
CODE, NAME, EPOCH = pa.int64(), pa.string(), pa.float64()  # wire types


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
        _c("owner", "BOOLEAN", "owner", description="The user owns the project"),
        _c("encrypted", "BOOLEAN", "encrypted"),
        _c("code_running", "BOOLEAN", "codeRunning"),
        _c("channel_id", "VARCHAR", "channelId"),
        _c("lean_environment", "BIGINT", "leanEnvironment"),
        _c("is_pinned", "BOOLEAN", "isPinned"),
        _c("max_file_size", "BIGINT", "maxFileSize"),
        _c("encryption_key", "JSON", "encryptionKey", description="{id, name}, or NULL"),
        _extra(),
    ),
    # Dropped on purpose (reference §3): `liveForm` holds brokerage form data ("do not
    # store"), `sharingTokenBacktest` is a secret, `grid`/`liveGrid` are the IDE's layout.
    read_keys=("liveForm", "sharingTokenBacktest", "grid", "liveGrid"),
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
        _extra(),
    ),
    read_keys=("completed",),  # read by `is_backtest_finished`
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
    key_constraint=False,
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
        _c("underlying_symbol_permtick", "VARCHAR", "symbol", "underlying", "permtick"),
        _enum("security_type", "securityType", names=SECURITY_TYPE, wire=CODE),
        _enum("order_type", "type", names=ORDER_TYPE, wire=CODE),
        _enum("status", "status", names=ORDER_STATUS, wire=CODE),
        _enum("direction", "direction", names=DIRECTION, wire=CODE),
        _c("quantity", "DOUBLE", "quantity"),
        _c("price", "DOUBLE", "price"),
        _c("price_currency", "VARCHAR", "priceCurrency"),
        _c("limit_price", "DOUBLE", "limitPrice"),
        _c("stop_price", "DOUBLE", "stopPrice"),
        _c("stop_triggered", "BOOLEAN", "stopTriggered"),
        _c("trigger_price", "DOUBLE", "triggerPrice"),
        _c("trigger_touched", "BOOLEAN", "triggerTouched"),
        _c("trailing_amount", "DOUBLE", "trailingAmount"),
        _c(
            "trailing_as_percentage",
            "BOOLEAN",
            parse=trailing_as_percentage,
            parse_array=trailing_as_percentage_array,
        ),
        _c("value", "DOUBLE", "value"),
        _c("tag", "VARCHAR", "tag"),
        _c("time", "TIMESTAMPTZ", "time"),
        _c("created_time", "TIMESTAMPTZ", "createdTime"),
        _c("last_fill_time", "TIMESTAMPTZ", "lastFillTime"),
        _c("last_update_time", "TIMESTAMPTZ", "lastUpdateTime"),
        _c("canceled_time", "TIMESTAMPTZ", "canceledTime"),
        _c(
            "time_in_force",
            "VARCHAR",
            "properties",
            parse=time_in_force,
            wire=PROPERTIES_WIRE,
            parse_array=time_in_force_array,
        ),
        _c(
            "time_in_force_expiry",
            "TIMESTAMPTZ",
            "properties",
            parse=time_in_force_expiry,
            wire=PROPERTIES_WIRE,
            parse_array=time_in_force_expiry_array,
        ),
        _c(
            "properties",
            "JSON",
            "properties",
            wire=PROPERTIES_WIRE,
            parse_array=properties_json_array,
        ),
        _c("submission_bid_price", "DOUBLE", "orderSubmissionData", "bidPrice"),
        _c("submission_ask_price", "DOUBLE", "orderSubmissionData", "askPrice"),
        _c("submission_last_price", "DOUBLE", "orderSubmissionData", "lastPrice"),
        _c("is_marketable", "BOOLEAN", "isMarketable"),
        _enum(
            "price_adjustment_mode", "priceAdjustmentMode", names=PRICE_ADJUSTMENT_MODE, wire=CODE
        ),
        _c("contingent_id", "BIGINT", "contingentId"),
        _c("broker_ids", "VARCHAR[]", "brokerId"),
        _c("group_order_manager_id", "BIGINT", "groupOrderManager", "id"),
        _c("group_quantity", "DOUBLE", "groupOrderManager", "quantity"),
        _c("group_count", "BIGINT", "groupOrderManager", "count"),
        _c("group_limit_price", "DOUBLE", "groupOrderManager", "limitPrice"),
        _c("group_order_ids", "BIGINT[]", "groupOrderManager", "orderIds"),
        _enum("group_direction", "groupOrderManager", "direction", names=DIRECTION, wire=CODE),
        _extra(),
    ),
    # `events` fill `order_events`; `trailing_as_percentage` reads both spellings.
    read_keys=("events", "trailingAsPercentage", "trailingPercentage"),
    object_lists=("events",),
)

ORDER_EVENTS = Table(
    name="order_events",
    key=("backtest_id", "order_id", "order_event_id"),
    key_constraint=False,
    description="One row per event of every loaded order (the order's nested `events`).",
    columns=(
        _parent("project_id", "BIGINT", "The backtest's project"),
        _parent("backtest_id", "VARCHAR", "The backtest"),
        _parent("order_id", "BIGINT", "The order the event belongs to"),
        _c("order_event_id", "BIGINT", "orderEventId"),
        _c("event_id", "VARCHAR", "id", description='"{backtestId}-{orderId}-{orderEventId}"'),
        _enum("status", "status", names=ORDER_STATUS, wire=NAME),
        _enum("direction", "direction", names=DIRECTION, wire=NAME),
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
        _c("event_time", "TIMESTAMPTZ", "time", description="Sent as epoch seconds", wire=EPOCH),
        _extra(),
    ),
    read_keys=("algorithmId", "orderId"),  # the backtest and the order: parent columns
)


def wire_struct(table: Table, extra: Mapping[Path_, pa.DataType]) -> pa.StructType:
    """The JSON shape of one record of `table` as an Arrow struct: every column's source path
    with its wire type, plus `extra` keys that no column reads by path."""
    leaves = {c.source: c.wire_type for c in table.columns if c.source} | dict(extra)

    def level(prefix: Path_) -> pa.StructType:
        keys = dict.fromkeys(path[len(prefix)] for path in leaves if path[: len(prefix)] == prefix)
        return pa.struct(
            [(key, leaves.get((*prefix, key)) or level((*prefix, key))) for key in keys]
        )

    return level(())


# Every key an order sends, with its JSON type (reference §6): what pyarrow's JSON reader
# expects of each order of a page. A key or a type outside it sends the page down the slow path.
ORDER_EVENT_WIRE = wire_struct(
    ORDER_EVENTS, {("algorithmId",): pa.string(), ("orderId",): pa.int64()}
)
ORDER_WIRE = wire_struct(
    ORDERS,
    {
        ("trailingAsPercentage",): pa.bool_(),  # both read by `trailing_as_percentage`
        ("trailingPercentage",): pa.bool_(),
        ("events",): pa.list_(ORDER_EVENT_WIRE),
    },
)

TABLES: tuple[Table, ...] = (PROJECTS, BACKTESTS, BACKTEST_STATISTICS, ORDERS, ORDER_EVENTS)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
TABLES_SQL = SQL_DIR / "tables.sql"


def create_table_sql(table: Table) -> str:
    """The `CREATE TABLE IF NOT EXISTS` statement for a table, its key as the primary key
    (or, without `key_constraint`, as a comment)."""
    key = ", ".join(table.key)
    columns = [f"    {c.name} {c.sql_type}" for c in table.columns]
    if table.key_constraint:
        columns.append(f"    PRIMARY KEY ({key})")
    else:
        columns[-1] += f"\n    -- unique on ({key}): the loader deduplicates, asset checks verify"
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
