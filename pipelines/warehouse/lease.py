"""The DuckDB file held open only while it is used: `FileLease`.

While a process has a DuckDB file open read-write, no other process can open it, not even to
read (https://duckdb.org/docs/stable/connect/concurrency). A sync that kept its connection
for its whole run would lock `qcw sql`, notebooks and the sensor out for as long as it waits
for the API. A lease opens the file when an operation needs it, and closes it once no
operation has needed it for `idle_seconds`: operations that follow each other closely share
one opening, and readers get in whenever the sync waits for the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipelines.warehouse.connection import Connection

# How long a writer keeps the file open with nothing to do: longer than the gaps between the
# operations of a step on loopback (so a re-sync opens the file a few times, not per
# statement), far shorter than a reader will wait.
IDLE_SECONDS = 0.2


class FileLease:
    """A DuckDB connection that `open_file` opens when `held()` needs it (`opened`: open
    already). Once nothing holds it, it closes after `idle_seconds` (on a timer thread; DuckDB
    checkpoints there), or at once with `release()`. A lease `of` a connection one already has
    never closes it."""

    def __init__(
        self,
        open_file: Callable[[], Connection] | None,
        idle_seconds: float = IDLE_SECONDS,
        opened: Connection | None = None,
    ) -> None:
        self._open_file = open_file
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._conn: Connection | None = opened
        self._holds = 0
        self._timer: threading.Timer | None = None

    @classmethod
    def of(cls, conn: Connection) -> FileLease:
        """A lease of a connection that stays open for the lease's life."""
        return cls(None, opened=conn)

    @property
    def conn(self) -> Connection:
        """The open connection, while something holds it (or for a lease `of` one)."""
        if self._conn is None or (self._holds == 0 and self._open_file is not None):
            raise RuntimeError("the warehouse file is open only while held: use `holding()`")
        return self._conn

    @property
    def is_open(self) -> bool:
        """Whether the file is open now."""
        return self._conn is not None

    @contextmanager
    def held(self) -> Iterator[Connection]:
        """The connection, open for the block (opening the file if it is closed)."""
        with self._lock:
            self._cancel_timer()
            if self._conn is None:
                assert self._open_file is not None  # a lease `of` a connection never closes
                self._conn = self._open_file()
            self._holds += 1
            conn = self._conn
        try:
            yield conn
        finally:
            with self._lock:
                self._holds -= 1
                if self._holds == 0 and self._open_file is not None:
                    self._timer = threading.Timer(self._idle_seconds, self.release)
                    self._timer.daemon = True
                    self._timer.start()

    def release(self) -> None:
        """Close the file now, unless something holds it."""
        with self._lock:
            self._cancel_timer()
            if self._holds or self._conn is None or self._open_file is None:
                return
            conn, self._conn = self._conn, None
            conn.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
