"""API JSON → Arrow tables against the explicit schema: `records.py` for records decoded to
Python, `keys.py` for legacy spellings and unknown fields, and one module per table group
(`projects.py`, `backtests.py`, `orders.py`, whose raw-JSON reader is the fast path)."""
