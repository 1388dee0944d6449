"""The QuantConnect API side: the signed client, its replies and errors, credentials, paging
through a backtest's orders, and downloading many backtests' orders at once.

Nothing here knows about storage: a sync hands the download plain values to fetch.
"""
