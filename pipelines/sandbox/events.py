"""Orders and their events as the API serves them (ref §6): LEAN's keys, their order and
their omissions. ("ref §N" is section N of `/work/shared/reference/quantconnect-api.md`.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.sandbox.instruments import Contract, JsonDict
from pipelines.sandbox.records import Backtest
from pipelines.sandbox.wire import iso_epoch


@dataclass
class Draft:
    """An order being built; `finish` turns it into the API's JSON."""

    id: int
    type: int  # ref §6 order type enum
    contract: Contract
    quantity: float
    created: int  # epoch seconds
    status: int = 1
    price: float = 0.0
    before_type: JsonDict = field(default_factory=dict)  # Json.NET writes subclass keys first
    after_type: JsonDict = field(default_factory=dict)
    event_prices: JsonDict = field(default_factory=dict)  # stopPrice/limitPrice on events
    events: list[JsonDict] = field(default_factory=list)
    tag: str = ""
    tif: JsonDict = field(default_factory=dict)  # GoodTilCanceled: {}
    submission: JsonDict | None = None
    marketable: bool = False
    group: JsonDict | None = None
    last_fill: float | None = None
    last_update: float | None = None
    canceled: float | None = None


def new_event(
    backtest: Backtest,
    draft: Draft,
    status: str,
    moment: float,
    *,
    fill_price: float = 0.0,
    fill_qty: float = 0.0,
    fee: tuple[float, str] | None = None,
    message: str = "",
    assigned: bool = False,
    itm: bool | None = None,
    contract: Contract | None = None,
    quantity: float | None = None,
) -> JsonDict:
    """An order event with SerializedOrderEvent's keys and omissions (ref §6)."""
    contract = contract or draft.contract
    backtest_id = backtest.backtest_id
    number = len(draft.events) + 1
    event: JsonDict = {
        "id": f"{backtest_id}-{draft.id}-{number}",
        "algorithmId": backtest_id,
        "orderId": draft.id,
        "orderEventId": number,
        "symbol": contract.sid,
        "symbolValue": contract.value,
        "symbolPermtick": contract.event_permtick,
        "time": float(moment),
        "status": status,
    }
    if fee is not None and fee[0]:
        event["orderFeeAmount"], event["orderFeeCurrency"] = fee
    event["fillPrice"] = fill_price
    event["fillPriceCurrency"] = contract.currency
    event["fillQuantity"] = fill_qty
    event["direction"] = "buy" if (quantity or draft.quantity) > 0 else "sell"
    if message or backtest.null_messages:
        event["message"] = message or None
    event["isAssignment"] = assigned
    event["quantity"] = draft.quantity if quantity is None else quantity
    event.update(draft.event_prices)
    if contract.is_option:
        event["isInTheMoney"] = bool(itm) if itm is not None else _in_the_money(contract, moment)
    return event


def _in_the_money(option: Contract, moment: float) -> bool:
    assert option.underlying is not None
    return option.intrinsic(option.underlying.mid(moment)) > 0


def finish(draft: Draft, adjustment_mode: int) -> JsonDict:
    """The order in Lean's key order; optional keys only when set (ref §6)."""
    contract = draft.contract
    order: JsonDict = {**draft.before_type, "type": draft.type, **draft.after_type}
    order["id"] = draft.id
    order["contingentId"] = 0
    order["brokerId"] = [] if draft.status == 7 else [str(draft.id)]
    order["symbol"] = contract.as_json
    order["price"] = draft.price
    order["priceCurrency"] = contract.currency
    order["time"] = order["createdTime"] = iso_epoch(draft.created)
    for key, moment in (
        ("lastFillTime", draft.last_fill),
        ("lastUpdateTime", draft.last_update),
        ("canceledTime", draft.canceled),
    ):
        if moment is not None:
            order[key] = iso_epoch(moment)
    if "quantity" not in order:
        order["quantity"] = draft.quantity
    order["status"] = draft.status
    if draft.tag:
        order["tag"] = draft.tag
    order["properties"] = {"timeInForce": draft.tif}
    order["securityType"] = contract.type_code
    order["direction"] = 0 if draft.quantity > 0 else 1
    order["value"] = round(draft.quantity * draft.price, 9)
    if draft.submission is not None:
        order["orderSubmissionData"] = draft.submission
    order["isMarketable"] = draft.marketable
    if draft.group is not None:
        order["groupOrderManager"] = draft.group
    order["priceAdjustmentMode"] = adjustment_mode
    order["events"] = draft.events
    return order
