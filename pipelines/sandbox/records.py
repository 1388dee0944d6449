"""Project and backtest records: what the account's projects and backtests are, generated.

The immutable `Backtest` record; how a project's JSON and a backtest are drawn from a seed
(names, tags, owners, parameters, runtime errors); ids; the API's time formats; and the fixed
`NOW` they are all dated against. ("ref §N" is section N of
`/work/shared/reference/quantconnect-api.md`.)
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipelines.sandbox.instruments import JsonDict

NOW = datetime(2025, 10, 31, 15, 0, 0, tzinfo=UTC)
"""The sandbox's fixed "now": the newest backtests were created just before it."""

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "USDT": "₮"}
"""Account currencies and the symbols statistics print them with (LEAN `Currencies`)."""
CAMEL_CASE_ORDERS = datetime(2024, 4, 1, tzinfo=UTC)
LEGACY_PROJECT = 2
"""The third project's backtests from before `CAMEL_CASE_ORDERS` serve their orders in the 2024
dialect (PascalCase orders, kebab-case events), as the real 2024-03 capture has them; Lean PR
#7877 (2024-04) wrote camelCase. (Accounts of one or two projects serve camelCase only.)"""


@dataclass(frozen=True)
class Backtest:
    """One backtest's identity and state. Replaced, never mutated, so readers see a snapshot."""

    project_id: int
    backtest_id: str
    name: str
    created: datetime
    iso_created: bool  # ref §4: "yyyy-MM-dd HH:mm:ss", or ISO "...Z" since Aug 2025
    state: str  # "completed" | "running" | "queued" | "error"
    progress: float
    order_count: int  # orders once finished; an errored backtest's count stops at the error
    start: date  # a Monday
    tradeable_dates: int
    equity_mode: int  # priceAdjustmentMode of equities
    null_messages: bool  # older Lean wrote "message": null on events without a message
    account: str  # the account currency
    fractional_times: bool  # event times with a fraction of a second
    pascal_orders: bool  # orders served in the 2024 dialect
    parameter_set: JsonDict
    tags: tuple[str, ...]
    optimization_id: str | None
    snapshot_id: int
    note: str | None
    node_name: str
    language: str
    out_of_sample_days: int = 0  # set by an optimization run out of sample
    out_of_sample_max_end: date | None = None

    @property
    def finished(self) -> bool:
        """Completed or stopped on a runtime error: statistics and orders are final."""
        return self.state in ("completed", "error")

    @property
    def served_orders(self) -> int:
        """How many orders the API serves now: a running backtest's orders so far."""
        if self.finished:
            return self.order_count
        return int(self.order_count * self.progress) if self.state == "running" else 0

    @property
    def end(self) -> date:
        weeks, days = divmod(self.tradeable_dates - 1, 5)
        return self.start + timedelta(weeks=weeks, days=days)

    @property
    def last_day(self) -> date:
        """The last day simulated: the end, or where a runtime error stopped the run."""
        if self.state != "error":
            return self.end
        return self.start + timedelta(days=int((self.end - self.start).days * self.progress))

    @property
    def currency(self) -> str:
        """The account currency's symbol, as statistics print it."""
        return CURRENCY_SYMBOLS[self.account]

    @property
    def status(self) -> str:
        return {
            "completed": "Completed.",
            "running": f"Running: {int(self.progress * 100)}%",
            "queued": "In Queue...",
            "error": "Runtime Error",
        }[self.state]


def hex_id(*parts: object) -> str:
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()


def format_created(moment: datetime, iso: bool) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S")


def iso(moment: datetime | date) -> str:
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_ADJECTIVES = ("Smooth", "Geeky", "Calm", "Fierce", "Muscular", "Swimming", "Crawling", "Dancing")
_COLORS = ("Yellow", "Red Orange", "Blue", "Sky Blue", "Apricot", "Violet", "Tan", "Fluorescent")
_ANIMALS = ("Badger", "Lion", "Falcon", "Gull", "Jackal", "Alpaca", "Hornet", "Koala", "Beaver")
_CUSTOM_NAMES = ("Baseline", "v2 with stop loss", "Réglage : lookback 60", "No hedge ⚠", "回测 #3")
_TAGS = ("baseline", "wip", "live-candidate", "hedged", "v2", "paper", "regime-filter")
_NODES = ("B-MICRO", "B2-8", "B4-12", "B8-16")
_PROFILE_IMAGE = "https://cdn.quantconnect.com/web/i/users/profile/default.png"
_OWNER = {
    "uid": 100001,
    "liveControl": True,
    "permission": "write",
    "publicId": "sandbox-quant",
    "profileImage": _PROFILE_IMAGE,
    "email": "sandbox@example.com",
    "name": "Sandbox Quant",
    "bio": "",
    "owner": True,
}
_COLLABORATOR = {
    **_OWNER,
    "uid": 100117,
    "liveControl": False,
    "permission": "read",
    "publicId": "jane-doe",
    "email": "jane@example.com",
    "name": "Jane Doe",
    "bio": "Options researcher",
    "owner": False,
}
_GRID_ITEM = {
    "chartName": "Strategy Equity",
    "width": 12,
    "height": 6,
    "row": 0,
    "column": 0,
    "sort": 0,
}
PARAMETER_NAMES = ("lookback", "threshold", "rebalance", "universe_size", "stop_loss")
_ERRORS = {
    "Py": (
        (
            "Runtime Error: 'NoneType' object has no attribute 'close'",
            "  at on_data\n    bar = data.bars[self._symbol].close\n in main.py: line 48\n"
            " AttributeError : 'NoneType' object has no attribute 'close'",
        ),
        (
            # Error strings may arrive HTML-entity encoded (ref §9.9).
            "Runtime Error: The given key &#039;AAPL R735QTJ8XC9X&#039; was not present in the"
            " dictionary.",
            "  at rebalance\n    price = self.securities[symbol].price\n in main.py: line 112\n"
            " KeyError : 'AAPL R735QTJ8XC9X'",
        ),
        (
            "Runtime Error: division by zero",
            "  at rebalance\n    weight = 1 / len(self._active)\n in main.py: line 87\n"
            " ZeroDivisionError : division by zero",
        ),
    ),
    "C#": (
        (
            "Runtime Error: Object reference not set to an instance of an object.",
            "System.NullReferenceException: Object reference not set to an instance of an object."
            "\n   at QuantConnect.Algorithm.CSharp.MomentumRotation.OnData(Slice slice) in"
            " Main.cs:line 64",
        ),
        (
            "Runtime Error: Index was outside the bounds of the array.",
            "System.IndexOutOfRangeException: Index was outside the bounds of the array.\n   at"
            " QuantConnect.Algorithm.CSharp.PairsTrading.Rebalance() in Main.cs:line 131",
        ),
    ),
}


def _backtest_name(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(_CUSTOM_NAMES)
    return f"{rng.choice(_ADJECTIVES)} {rng.choice(_COLORS)} {rng.choice(_ANIMALS)}"


def _parameter_set(rng: random.Random, names: tuple[str, ...]) -> JsonDict:
    """Mixed string and number values, like the live-tested `{'a': 0, 'b': 0.0, 'c': 'foo'}`."""
    values: list[Any] = [rng.choice([10, 20, 60]), "0.5", rng.choice(["weekly", "daily"]), 0.0]
    return {name: values[i % len(values)] for i, name in enumerate(names)}


def _monday_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


def new_backtest(
    seed: int,
    size_key: str,
    orders_per_backtest: int,
    project_id: int,
    index: int,
    created: datetime,
    state: str,
    language: str,
    project_index: int | None = None,
) -> Backtest:
    """A project's `index`th backtest, created at `created` in `state` (see `Backtest.state`).

    `project_index` is given for the account's planned backtests: the first project's first
    two are edge cases of paging (a whole number of pages, and no orders at all). Ids derive
    from the seed and the account's size (`size_key`), so accounts of other sizes never share
    an id.
    """
    backtest_id = hex_id(seed, size_key, project_id, index)
    rng = random.Random(f"{seed}:backtest:{backtest_id}")
    order_count = round(orders_per_backtest * rng.uniform(0.3, 1.7))
    progress = 1.0
    if state == "running":
        progress = round(rng.uniform(0.1, 0.9), 2)
    elif state == "queued":
        progress = 0.0
    elif state == "error":
        progress = round(rng.uniform(0.1, 0.9), 2)
        order_count = int(order_count * progress)
    if project_index == 0 and index == 0:  # paging edge case: a whole number of pages
        order_count = max(100, round(order_count / 100) * 100)
    if project_index == 0 and index == 1:  # edge case: a backtest without orders
        order_count = 0
    end = created.date() - timedelta(days=rng.randint(1, 400))
    tradeable_dates = rng.choice([63, 126, 252, 504, 756, 1260])
    weeks, days = divmod(tradeable_dates - 1, 5)
    start = _monday_before(end - timedelta(weeks=weeks, days=days))
    parameter_names = tuple(rng.sample(PARAMETER_NAMES, rng.randint(1, 3)))
    return Backtest(
        project_id=project_id,
        backtest_id=backtest_id,
        name=_backtest_name(rng),
        created=created.replace(microsecond=0),
        iso_created=rng.random() < 0.15,
        state=state,
        progress=progress,
        order_count=order_count,
        start=start,
        tradeable_dates=tradeable_dates,
        equity_mode=rng.choices([1, 0, 2, 3], [60, 30, 6, 4])[0],
        null_messages=rng.random() < 0.5,
        account=rng.choices(list(CURRENCY_SYMBOLS), [90, 5, 5])[0],
        fractional_times=rng.random() < 0.5,
        pascal_orders=project_index == LEGACY_PROJECT and created < CAMEL_CASE_ORDERS,
        parameter_set=_parameter_set(rng, parameter_names) if rng.random() < 0.65 else {},
        tags=tuple(rng.sample(_TAGS, rng.choice([0, 0, 1, 2]))),
        optimization_id=None,  # an optimization's backtests are dressed by it
        snapshot_id=13_000_000 + int(backtest_id[:6], 16) % 9_000_000,
        note=rng.choice([None, None, None, "Compare with the baseline", "20-day lookback"]),
        node_name=rng.choice(_NODES),
        language=language,
    )


def project_json(
    rng: random.Random,
    organization_id: str,
    project_id: int,
    index: int,
    created: datetime,
    language: str,
    parameter_names: tuple[str, ...],
) -> JsonDict:
    """A project object with the polymorphic fields of ref §3."""
    folder = rng.choice(["", "", "Research/", "/Live/", "Crypto/"])
    names = ("Momentum Rotation", "Mean Reversion SPY", "Pairs Trading", "Volatility Carry")
    name = f"{folder}{names[index % len(names)]}" + (
        f" {index // len(names) + 1}" if index >= 4 else ""
    )
    # The real reply's shape: `[{key, value, min, max, step}]` (real_projects_read_2024-03).
    parameters = (
        [
            {
                "key": k,
                "value": rng.choice(["20", "0.5", "weekly"]),
                "min": None,
                "max": None,
                "step": None,
            }
            for k in parameter_names
        ]
        if rng.random() < 0.7
        else []
    )
    collaborators = [_OWNER, _COLLABORATOR] if rng.random() < 0.4 else [_OWNER]
    modified = created + timedelta(days=rng.randint(1, 700))
    return {
        "projectId": project_id,
        "organizationId": organization_id,
        "name": name,
        "modified": format_created(min(modified, NOW), False),
        "created": format_created(created, rng.random() < 0.3),
        "ownerId": _OWNER["uid"],
        "language": language,
        "collaborators": collaborators,
        "leanVersionId": rng.choice([16542, 16873, 17020]),
        "leanPinnedToMaster": rng.random() < 0.8,
        "owner": True,
        "description": rng.choice(
            ["", "Monthly rotation across sector ETFs.", "WIP, ne pas déployer"]
        ),
        "channelId": hex_id(project_id, "channel"),
        "parameters": parameters,
        "libraries": (
            [
                {
                    "projectId": project_id + 17,
                    "libraryName": "Risk Library",
                    "ownerName": "Sandbox Quant",
                    "access": True,
                }
            ]
            if rng.random() < 0.3
            else []
        ),
        "grid": {"xs": [], "sm": [], "md": [], "lg": [_GRID_ITEM], "xl": []},
        "liveGrid": {"xs": [], "sm": [], "md": [], "lg": [], "xl": []},
        "paperEquity": rng.choice([None, 100000.0]),
        "lastLiveDeployment": rng.choice([None, format_created(min(modified, NOW), False)]),
        "liveForm": [],  # empty map serialized as [] (ref §2)
        "encrypted": False,
        "codeRunning": False,
        "leanEnvironment": 0,
        "encryptionKey": None,
        "isPinned": rng.random() < 0.2,
    }


def runtime_error(seed: int, backtest: Backtest) -> tuple[str, str]:
    """The error message and stack trace of a backtest that stopped on a runtime error."""
    rng = random.Random(f"{seed}:error:{backtest.backtest_id}")
    return rng.choice(_ERRORS[backtest.language])
