"""An account's optimizations with their state (`OptimizationDesk`): the `optimizations/*`
endpoints and the changes they make to the optimizations and to the account's backtests.

A planned optimization (`optimization_plans`) changes only through the admin endpoints
(`complete_running`, `complete_optimizations`: a running one completes, a new one keeps
waiting), as planned backtests do; one created through `optimizations/create` starts `new` and
advances one step per `optimizations/read` (new -> running with every backtest launched -> one
round of backtests completed per read -> completed), and is dated minutes after the fixed
`records.NOW`, never by the wall clock.

Choices where the sources are silent: aborting (or deleting) a running optimization withdraws
its unfinished backtests from `backtests/list`; a created optimization whose `targetValue` is
reached completes early, as Lean's `Target.Reached` ends it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pipelines.sandbox.instruments import JsonDict
from pipelines.sandbox.optimization_model import Optimization, Run, grid, reached
from pipelines.sandbox.optimization_replies import read_json, summary_json
from pipelines.sandbox.optimization_requests import (
    OptimizationError,
    Request,
    nested_form,
    parse_request,
)
from pipelines.sandbox.records import NOW, Backtest, hex_id

if TYPE_CHECKING:
    from pipelines.sandbox.account import SandboxAccount


class OptimizationDesk:
    """An account's optimizations: the `optimizations/*` replies and their changes.

    Changes take the account's lock and replace records whole (optimizations here, backtests
    in the account), so readers see consistent snapshots; statistics are computed outside it.
    """

    def __init__(self, account: SandboxAccount) -> None:
        self._account = account
        self._optimizations: dict[str, Optimization] = {}
        self._by_project: dict[int, tuple[str, ...]] = {}
        self._created = 0

    # -- planning --

    def register(self, optimization: Optimization) -> None:
        """Add a planned or created optimization (under the account's lock, or while planning)."""
        self._optimizations[optimization.optimization_id] = optimization
        project = self._by_project.get(optimization.project_id, ())
        self._by_project[optimization.project_id] = (*project, optimization.optimization_id)

    # -- reads --

    def summaries(self, project_id: int) -> list[JsonDict]:
        """`optimizations/list` of a project."""
        self._project(project_id)
        found = (self._optimizations.get(o) for o in self._by_project.get(project_id, ()))
        return [summary_json(o, self._runs(o)) for o in found if o is not None]

    def read(self, optimization_id: str) -> JsonDict:
        """`optimizations/read`: one created through the API advances one step first."""
        optimization = self._get(optimization_id)
        if optimization.progresses_on_read and optimization.status in ("new", "running"):
            self._step(optimization_id)
            optimization = self._get(optimization_id)
        return read_json(optimization, self._runs(optimization))

    def all(self) -> list[Optimization]:
        """Every optimization, in the order they were planned or created."""
        return list(self._optimizations.values())

    def _project(self, project_id: int) -> None:
        if not self._account.has_project(project_id):
            raise OptimizationError(f"Project not found: {project_id}")

    def _get(self, optimization_id: str) -> Optimization:
        found = self._optimizations.get(optimization_id)
        if found is None:
            raise OptimizationError(f"Optimization not found: {optimization_id}")
        return found

    def _runs(self, optimization: Optimization, unfinished_too: bool = False) -> list[Run]:
        """Its started backtests, with the performance of the finished ones (and of the
        unfinished ones too with `unfinished_too`)."""
        runs = []
        for point, backtest_id in optimization.launched:
            backtest = self._account.record(backtest_id)
            wanted = backtest.finished or (unfinished_too and backtest.state == "running")
            perf = self._account.performance(backtest_id) if wanted else None
            runs.append(Run(point, backtest, perf))
        return runs

    # -- changes --

    def create(self, params: Mapping[str, Any]) -> JsonDict:
        """`optimizations/create`: a new optimization of the project, as its summary."""
        request = parse_request(params)
        self._project(request.project_id)
        with self._account.lock:
            sequence = self._created = self._created + 1
            number = len(self._by_project.get(request.project_id, ())) + 1
            optimization = self._new(request, sequence, number)
            self.register(optimization)
        return summary_json(optimization, [])

    def _new(self, request: Request, sequence: int, number: int) -> Optimization:
        account = self._account
        identity = f"O-{hex_id(account.seed, account.size.key, 'created', sequence)}"
        rng = random.Random(f"{account.seed}:{identity}")
        created = NOW + timedelta(minutes=5 * sequence)
        tradeable_dates = rng.choice([126, 252, 504])
        weeks, days = divmod(tradeable_dates - 1, 5)
        end = created.date() - timedelta(days=rng.randint(1, 200))
        start = end - timedelta(weeks=weeks, days=days)
        return Optimization(
            optimization_id=identity,
            project_id=request.project_id,
            number=number,
            name=request.name,
            status="new",
            node_type=request.node_type,
            parallel_nodes=request.parallel_nodes,
            criterion=request.criterion,
            constraints=request.constraints,
            parameters=request.parameters,
            grid=tuple(grid(request.parameters)),
            created=created,
            snapshot_id=13_000_000 + int(identity[2:8], 16) % 9_000_000,
            backtest_length=timedelta(seconds=rng.randint(60, 300)),
            start=start - timedelta(days=start.weekday()),
            tradeable_dates=tradeable_dates,
            backtest_ids=(None,) * request.grid_size,
            progresses_on_read=True,
        )

    def estimate(self, params: Mapping[str, Any]) -> JsonDict:
        """`optimizations/estimate`: its id, seconds and the account's QCC balance."""
        request = parse_request(params, estimate=True)
        self._project(request.project_id)
        canonical = json.dumps(dict(sorted(nested_form(params).items())), default=str)
        rounds = math.ceil(request.grid_size / request.parallel_nodes)
        return {
            "estimateId": hex_id(self._account.seed, "estimate", canonical),
            "time": rounds * 180,
            "balance": 5_000 + int(hex_id(self._account.seed, "balance")[:4], 16) % 5_000,
        }

    def abort(self, optimization_id: str) -> None:
        """A new or running optimization ends `aborted`; its unfinished backtests never run."""
        with self._account.lock:
            optimization = self._get(optimization_id)
            if optimization.status not in ("new", "running"):
                raise OptimizationError(
                    f"Optimization {optimization_id} is {optimization.status}: only a new or"
                    " running optimization can be aborted"
                )
            self._end(optimization, "aborted")

    def update(self, optimization_id: str, name: str) -> None:
        """Rename an optimization."""
        with self._account.lock:
            optimization = self._get(optimization_id)
            self._optimizations[optimization_id] = dataclasses.replace(optimization, name=name)

    def delete(self, optimization_id: str) -> None:
        """Remove an optimization (aborting it first); its finished backtests stay listed."""
        with self._account.lock:
            optimization = self._get(optimization_id)
            if optimization.status in ("new", "running"):
                self._end(optimization, "aborted")
            project = self._by_project[optimization.project_id]
            self._by_project[optimization.project_id] = tuple(
                o for o in project if o != optimization_id
            )
            del self._optimizations[optimization_id]

    def complete_running(self) -> list[str]:
        """Run every running optimization to its end (a new one waits). Returns their ids."""
        running = [o.optimization_id for o in self.all() if o.status == "running"]
        for optimization_id in running:
            while self._running(optimization_id):
                self._step(optimization_id)
        return running

    def _running(self, optimization_id: str) -> bool:
        found = self._optimizations.get(optimization_id)
        return found is not None and found.status == "running"

    def settle(self) -> None:
        """After the account finished every running backtest (under its lock): running
        optimizations whose backtests all finished are completed."""
        for optimization in self.all():
            if optimization.status != "running":
                continue
            states = [self._account.record(b).state for _, b in optimization.launched]
            if all(state in ("completed", "error") for state in states):
                rounds = math.ceil(len(states) / optimization.parallel_nodes)
                self._optimizations[optimization.optimization_id] = dataclasses.replace(
                    optimization, status="completed", rounds=rounds
                )

    def _step(self, optimization_id: str) -> None:
        """One step: a new optimization launches every backtest (the first round running, the
        rest queued); a running one finishes its running round and starts the next, or ends
        (completed, early if `targetValue` is reached)."""
        while True:
            optimization = self._get(optimization_id)
            runs: list[Run] = []
            goal = optimization.criterion.target_value
            if optimization.status == "running" and goal is not None:
                runs = self._runs(optimization, unfinished_too=True)  # outside the lock
            with self._account.lock:
                if self._optimizations.get(optimization_id) is not optimization:
                    continue  # changed meanwhile: look again
                if optimization.status == "new":
                    self._launch(optimization)
                elif optimization.status == "running":
                    self._finish_round(optimization, runs)
                return

    def _launch(self, optimization: Optimization) -> None:
        account, parallel = self._account, optimization.parallel_nodes
        launched = optimization.created + timedelta(seconds=20)
        indices = account.allocate_indices(optimization.project_id, len(optimization.grid))
        records = [
            optimization.dress(
                account.generate_backtest(
                    optimization.project_id,
                    index,
                    launched + timedelta(seconds=point),
                    "running" if point < parallel else "queued",
                ),
                point,
            )
            for point, index in enumerate(indices)
        ]
        account.append_backtests(optimization.project_id, records)
        self._optimizations[optimization.optimization_id] = dataclasses.replace(
            optimization, status="running", backtest_ids=tuple(r.backtest_id for r in records)
        )

    def _finish_round(self, optimization: Optimization, runs: Sequence[Run]) -> None:
        account = self._account
        records = [account.record(b) for _, b in optimization.launched]
        running = [r for r in records if r.state == "running"]
        account.replace_backtests(
            [dataclasses.replace(r, state="completed", progress=1.0) for r in running]
        )
        done = dataclasses.replace(optimization, rounds=optimization.rounds + 1)
        finished = {r.backtest_id for r in running}
        settled = [
            dataclasses.replace(run, backtest=account.record(run.backtest.backtest_id))
            for run in runs
            if run.backtest.finished or run.backtest.backtest_id in finished
        ]
        queued = [r for r in records if r.state == "queued"]
        if not queued or reached(done, settled):
            self._optimizations[done.optimization_id] = done
            self._end(done, "completed")
            return
        account.replace_backtests(
            [
                dataclasses.replace(r, state="running", progress=_progress(account.seed, r))
                for r in queued[: optimization.parallel_nodes]
            ]
        )
        self._optimizations[done.optimization_id] = done

    def _end(self, optimization: Optimization, status: str) -> None:
        """End an optimization (under the lock): its unfinished backtests are withdrawn."""
        account = self._account
        unfinished = {b for _, b in optimization.launched if not account.record(b).finished}
        account.withdraw_backtests(optimization.project_id, unfinished)
        ids = tuple(None if b in unfinished else b for b in optimization.backtest_ids)
        self._optimizations[optimization.optimization_id] = dataclasses.replace(
            optimization, status=status, backtest_ids=ids
        )


def _progress(seed: int, backtest: Backtest) -> float:
    """Where a backtest that just started running is shown to have got to."""
    return round(random.Random(f"{seed}:progress:{backtest.backtest_id}").uniform(0.1, 0.9), 2)
