"""Run one contender in this process: `python -m benchmarks.child NAME TASK_JSON RESULT_PATH`.

The harness starts one such process per contender run and measures it from outside. Only the
contender's own module is imported, so each process holds only what its contender needs.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.common import Task

CONTENDERS: dict[str, str] = {
    "pipeline": "benchmarks.ours:full_sync",
    "resync": "benchmarks.ours:resync",
    "download_floor": "benchmarks.floors:download_floor",
    "parse_floor": "benchmarks.floors:parse_floor",
    "naive": "benchmarks.naive:naive",
    "dlt_default": "benchmarks.dlt_rest:dlt_default",
    "dlt_tuned": "benchmarks.dlt_rest:dlt_tuned",
}
"""Contender name -> `module:function` taking a `Task` and returning an `Outcome`. A name
`adaptive:<concurrency>:<requests/s or none>` is a sync with those ceilings (`benchmarks.rate`)."""


def main(argv: list[str]) -> None:
    """Run the named contender on the task and write its outcome as JSON."""
    name, task_json, result_path = argv
    if name.startswith("adaptive:"):  # a sync with these ceilings (benchmarks/rate.py)
        contender = importlib.import_module("benchmarks.rate").contender(name)
    else:
        module_name, function_name = CONTENDERS[name].split(":")
        contender = getattr(importlib.import_module(module_name), function_name)
    outcome = contender(Task.from_json(task_json))
    Path(result_path).write_text(json.dumps(asdict(outcome)))


if __name__ == "__main__":
    main(sys.argv[1:])
