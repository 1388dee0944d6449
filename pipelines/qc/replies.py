"""The API's replies: the `success` envelope, lenient JSON, and orders pages left undecoded.

Every fact about the replies here comes from `../shared/reference/quantconnect-api.md`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from pipelines.qc.errors import (
    CREDENTIAL_HINT,
    QuantConnectAuthError,
    QuantConnectError,
    RetryableError,
)


def _error_text(payload: Mapping[str, Any]) -> str:
    """The error of a `success:false` body: `errors`, `messages` or `Message` (reference §2)."""
    for key in ("errors", "messages", "Message", "message"):
        value = payload.get(key)
        if value:
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            return html.unescape(text)  # errors may be HTML-entity encoded (reference §9.9)
    return "the API answered success:false without an error message"


def _is_auth_error(text: str) -> bool:
    return text.startswith("Hash doesn't match") or text.startswith("UserID not valid")


def _is_try_again(text: str) -> bool:
    return "try again" in text.lower()


def _number_or_text(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def decode_lenient_json(content: bytes) -> Any:
    """JSON that strict decoders refuse, as .NET serializers can write it: `NaN`, `Infinity`
    and numbers beyond a double (`1e400`) are kept as their text, for the columns' parsers
    to store as NULL and count. Raises `ValueError` for anything else that is not JSON."""
    return json.loads(content, parse_constant=str, parse_float=_number_or_text)


def parse_reply(endpoint: str, body: Mapping[str, Any], content: bytes) -> dict[str, Any]:
    """A reply body as JSON, if its `success` is true; otherwise the error it describes.

    Always check `success`, not only the HTTP status (reference §2).
    """
    try:
        payload = msgspec.json.decode(content)
    except msgspec.DecodeError:
        try:
            payload = decode_lenient_json(content)
        except ValueError:
            # An HTML error page or a cut body from a proxy is usually transient.
            snippet = content[:80].decode("utf-8", "replace")
            raise RetryableError(endpoint, body, f"the reply is not JSON: {snippet!r}") from None
    if not isinstance(payload, dict):
        raise QuantConnectError(endpoint, body, "the reply is not a JSON object")
    if payload.get("success") is True:
        return payload
    if str(payload.get("status", "")).lower() == "loading":
        raise RetryableError(endpoint, body, "the API is still loading the result")
    text = _error_text(payload)
    if _is_auth_error(text):
        raise QuantConnectAuthError(endpoint, body, f"{text}. {CREDENTIAL_HINT}")
    if _is_try_again(text):
        raise RetryableError(endpoint, body, text)
    raise QuantConnectError(endpoint, body, text)


class _BacktestReply(msgspec.Struct):
    success: Any = None
    backtest: dict[str, msgspec.Raw] | None = None


_BACKTEST_REPLY = msgspec.json.Decoder(_BacktestReply)
_WINDOWS = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_ROLLING_WINDOW = "rollingwindow"
_TRADES = "closedtrades"


def _windows_without_trades(raw: msgspec.Raw) -> Any:
    """`rollingWindow` decoded but for each window's `closedTrades`, which repeat the
    backtest's own for the window's period: 23 times the trades in all (reference-results §2.1)."""
    try:
        windows = _WINDOWS.decode(raw)
    except msgspec.ValidationError:
        return msgspec.json.decode(raw)  # `[]`, or not windows of sections: as sent
    return {
        key: {
            name: msgspec.json.decode(section)
            for name, section in sections.items()
            if name.lower() != _TRADES
        }
        for key, sections in windows.items()
    }


_SECTIONS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_TOTAL_PERFORMANCE = "totalperformance"


def _performance_with_raw_trades(raw: msgspec.Raw) -> Any:
    """`totalPerformance` decoded but for its closed trades, each left as its JSON text
    (`msgspec.Raw`), for the flattener to read in bulk as it reads orders."""
    try:
        sections = _SECTIONS.decode(raw)
    except msgspec.ValidationError:
        return msgspec.json.decode(raw)  # null, or not a map: as sent
    decoded: dict[str, Any] = {}
    for name, section in sections.items():
        try:
            # Copied: a Raw would otherwise keep the whole reply alive until the trades are read.
            items = _ITEMS.decode(section) if name.lower() == _TRADES else None
            decoded[name] = None if items is None else [item.copy() for item in items]
        except msgspec.ValidationError:
            decoded[name] = None
        if decoded[name] is None:
            decoded[name] = msgspec.json.decode(section)
    return decoded


def _backtest_field(key: str, raw: msgspec.Raw) -> Any:
    if key.lower() == _ROLLING_WINDOW:
        return _windows_without_trades(raw)
    if key.lower() == _TOTAL_PERFORMANCE:
        return _performance_with_raw_trades(raw)
    return msgspec.json.decode(raw)


def parse_backtest_reply(endpoint: str, body: Mapping[str, Any], content: bytes) -> dict[str, Any]:
    """A `backtests/read` reply as `parse_reply` gives it, but that its rolling windows'
    closed trades are skipped undecoded (most of a large reply, and never stored), and its
    own closed trades are left as their JSON texts."""
    try:
        reply: _BacktestReply | None = _BACKTEST_REPLY.decode(content)
    except (msgspec.ValidationError, msgspec.DecodeError):
        reply = None  # not the usual shape, or lenient JSON: `parse_reply` reads it
    if reply is None or reply.success is not True or reply.backtest is None:
        return parse_reply(endpoint, body, content)
    backtest = {key: _backtest_field(key, raw) for key, raw in reply.backtest.items()}
    return {"success": True, "backtest": backtest}


@dataclass(frozen=True)
class OrdersPage:
    """One `backtests/orders/read` reply: each order as the JSON text the API sent, undecoded
    (the flattener parses them in bulk), and `length`."""

    orders: list[msgspec.Raw]
    length: int | None


class _OrdersReply(msgspec.Struct):
    success: Any = None
    orders: list[msgspec.Raw] | None = None
    length: Any = None


_ORDERS_REPLY = msgspec.json.Decoder(_OrdersReply)


def parse_orders_page(endpoint: str, body: Mapping[str, Any], content: bytes) -> OrdersPage:
    """An orders reply split into its orders' JSON texts, after the checks of `parse_reply`."""
    try:
        reply: _OrdersReply | None = _ORDERS_REPLY.decode(content)
    except msgspec.ValidationError:
        reply = None  # `orders` is not a list: the old doc page shows an object (reference §6)
    except msgspec.DecodeError:
        reply = None  # not JSON: `parse_reply` says so
    if reply is None or reply.success is not True:
        payload = parse_reply(endpoint, body, content)  # raises unless `success` is true
        orders = payload.get("orders")
        if isinstance(orders, list):  # lenient JSON: NaN, Infinity, 1e400 (now text)
            texts = [msgspec.Raw(msgspec.json.encode(order)) for order in orders]
            reply = _OrdersReply(True, texts, payload.get("length"))
        else:
            kind = type(orders).__name__
            raise QuantConnectError(endpoint, body, f"`orders` is a {kind}, not a list")
    orders = reply.orders or []
    stray = next((i for i, order in enumerate(orders) if memoryview(order)[:1] != b"{"), None)
    if stray is not None:
        text = bytes(memoryview(orders[stray])[:80]).decode("utf-8", "replace")
        raise QuantConnectError(endpoint, body, f"order {stray} is not a JSON object: {text!r}")
    length = reply.length
    return OrdersPage(
        orders,
        length if isinstance(length, int) and not isinstance(length, bool) else None,
    )
