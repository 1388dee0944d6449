"""Currencies as LEAN writes them in formatted statistics: a symbol before the amount, or the
currency's code when it has none (LEAN's `Currencies.CurrencySymbols` and
`GetCurrencySymbol`)."""

from __future__ import annotations

# LEAN's symbol of each currency. Several share a symbol; the one a formatted amount is read
# as comes first (a "$" amount is in US dollars: QuantConnect accounts' default).
CURRENCY_SYMBOLS = {
    "USD": "$",
    "NZD": "$",
    "AUD": "$",
    "CAD": "$",
    "HKD": "$",
    "SGD": "$",
    "MXN": "$",
    "USDC": "$",
    "GBP": "₤",
    "JPY": "¥",
    "CNH": "¥",
    "CNY": "¥",
    "EUR": "€",
    "CHF": "Fr",
    "GNF": "Fr",
    "XAG": "Ag",
    "XAU": "Au",
    "CZK": "Kč",
    "DKK": "kr",
    "NOK": "kr",
    "SEK": "kr",
    "HUF": "Ft",
    "INR": "₹",
    "PLN": "zł",
    "SAR": "﷼",
    "THB": "฿",
    "TRY": "₺",
    "TWD": "NT$",
    "ZAR": "R",
    "RUB": "₽",
    "BRL": "R$",
    "IDR": "Rp",
    "BTC": "₿",
    "BCH": "Ƀ",
    "BSV": "Ɓ",
    "LTC": "Ł",
    "ETH": "Ξ",
    "EOS": "ε",
    "XRP": "✕",
    "ETC": "ξ",
    "USDT": "₮",
    "ADA": "₳",
    "SOL": "◎",
    "DOT": "●",
    "DOGE": "Ð",
    "DAI": "◈",
    "ALGO": "Ⱥ",
    "XMR": "ɱ",
    "XTZ": "ꜩ",
    "MKR": "\u039c",  # Greek capital mu
    "ZEC": "ⓩ",
    "DASH": "Đ",
}
_BY_SYMBOL: dict[str, str] = {}
for _code, _symbol in CURRENCY_SYMBOLS.items():
    _BY_SYMBOL.setdefault(_symbol, _code)
# Shared by currencies of the same weight: which one is meant cannot be told.
_AMBIGUOUS = {"kr"}


def currency_of(prefix: str) -> str | None:
    """The currency a formatted amount's prefix names: a symbol ("€" → EUR, "$" → USD) or a
    code ("BUSD"); None for no prefix or one shared by several currencies ("kr")."""
    if not prefix or prefix in _AMBIGUOUS:
        return None
    if prefix in _BY_SYMBOL:
        return _BY_SYMBOL[prefix]
    return prefix if prefix.isalpha() and prefix.isupper() and len(prefix) >= 3 else None
