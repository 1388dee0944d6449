"""lean-cli (PyPI `lean`), QuantConnect's own client, reads the sandbox: its API client sends
GET with a query string, and its pydantic models (`lean.models.api`) validate every project of
`projects/read` and every `backtests/read` reply it gets, for every size preset; its
optimization client posts form data, and its models hold every optimization summary and the
legacy statistics arrays, but not the object format (lean-cli#570)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.sandbox import (
    SANDBOX_API_TOKEN,
    SANDBOX_USER_ID,
    SIZES,
    SandboxAccount,
    SandboxServer,
)

SAMPLE = 12  # backtests read per big preset (each read simulates the backtest)


def _lean_modules_file() -> None:
    """lean-cli's models package reads a modules file at import, downloaded from QuantConnect's
    CDN into the `lean` package's folder (lean/models/__init__.py: `file_name`), and fails
    without it; offline, an empty module list stands in."""
    spec = importlib.util.find_spec("lean")
    assert spec is not None and spec.origin is not None, "pip install lean (the dev extra)"
    package = Path(spec.origin).parent
    source = (package / "models" / "__init__.py").read_text()
    match = re.search(r'file_name = "([^"]+)"', source)
    assert match, "lean-cli no longer names its modules file the same way"
    target = package / match.group(1)
    if not target.exists():
        target.write_text('{"modules": []}')


_lean_modules_file()
from lean.components.api import api_client  # noqa: E402 (needs the modules file)
from lean.components.api.api_client import APIClient  # noqa: E402
from lean.components.util.http_client import HTTPClient  # noqa: E402
from lean.components.util.logger import Logger  # noqa: E402
from lean.models.api import (  # noqa: E402
    QCBacktest,
    QCOptimization,
    QCOptimizationEstimate,
    QCProject,
)
from lean.models.optimizer import (  # noqa: E402
    OptimizationConstraint,
    OptimizationConstraintOperator,
    OptimizationExtremum,
    OptimizationParameter,
    OptimizationTarget,
)
from pydantic import ValidationError  # noqa: E402


@pytest.fixture(params=list(SIZES))
def lean_client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, APIClient]]:
    """lean-cli's API client pointed at a sandbox of one preset."""
    with SandboxServer(SandboxAccount(SIZES[request.param])) as server:
        monkeypatch.setattr(api_client, "API_BASE_URL", server.url)
        logger = Logger()
        yield (
            request.param,
            APIClient(logger, HTTPClient(logger), SANDBOX_USER_ID, SANDBOX_API_TOKEN),
        )


def _sample(preset: str, backtests: list[dict]) -> list[dict]:
    """Every backtest of the small presets; of the big ones a sample holding every status."""
    if preset in ("demo", "small"):
        return backtests
    by_status = {b["status"].split(":")[0]: b for b in backtests}
    return list(by_status.values()) + backtests[:: max(1, len(backtests) // SAMPLE)][:SAMPLE]


def test_lean_cli_reads_every_project_and_backtest(lean_client: tuple[str, APIClient]) -> None:
    preset, client = lean_client
    projects = client.projects.get_all(None)
    assert len(projects) == SIZES[preset].projects
    assert all(isinstance(project, QCProject) for project in projects)
    listed = [(p.projectId, b) for p in projects for b in client.backtests.list(p.projectId)]
    chosen = {b["backtestId"] for b in _sample(preset, [b for _, b in listed])}
    statuses = set()
    for project_id, summary in listed:
        if summary["backtestId"] not in chosen:
            continue
        backtest = client.backtests.get(project_id, summary["backtestId"])
        assert isinstance(backtest, QCBacktest)
        finished = summary["status"] in ("Completed.", "Runtime Error")
        assert backtest.is_complete() == finished, backtest
        statuses.add(summary["status"].split(":")[0])
    assert {"Completed.", "Running", "Runtime Error"} <= statuses


@pytest.fixture
def demo_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[APIClient]:
    """lean-cli's API client pointed at a demo sandbox."""
    with SandboxServer(SandboxAccount(SIZES["demo"])) as server:
        monkeypatch.setattr(api_client, "API_BASE_URL", server.url)
        logger = Logger()
        yield APIClient(logger, HTTPClient(logger), SANDBOX_USER_ID, SANDBOX_API_TOKEN)


def _object_statistics(read: dict) -> bool:
    entries = read["backtests"].values() if read["backtests"] else []
    return any(isinstance(e.get("statistics"), dict) for e in entries)


def test_lean_cli_models_hold_summaries_and_legacy_arrays_only(demo_client: APIClient) -> None:
    formats = set()
    for project in demo_client.projects.get_all(None):
        listed = demo_client.post("optimizations/list", {"projectId": project.projectId})
        for summary in listed["optimizations"]:
            assert QCOptimization(**summary).status == summary["status"]
            optimization_id = summary["optimizationId"]
            read = demo_client.post("optimizations/read", {"optimizationId": optimization_id})
            if _object_statistics(read["optimization"]):  # lean-cli types them List[float]
                formats.add("object")
                with pytest.raises(ValidationError):
                    demo_client.optimizations.get(optimization_id)
                continue
            formats.add("array")
            optimization = demo_client.optimizations.get(optimization_id)
            runtime = read["optimization"]["runtimeStatistics"] or {"Total": "1"}
            ended = int(runtime.get("Completed", 0)) + int(runtime.get("Failed", 0))
            assert optimization.get_progress() == ended / int(runtime["Total"])
    assert formats == {"array", "object"}


def test_lean_cli_creates_estimates_and_aborts_an_optimization(demo_client: APIClient) -> None:
    project_id = demo_client.projects.get_all(None)[0].projectId
    target = "TotalPerformance.PortfolioStatistics.SharpeRatio"
    form = {  # lean-cli posts these as form fields (parameters[0][key], ...)
        "project_id": project_id,
        "compile_id": "c0edc6-49048b",
        "name": "From lean-cli",
        "strategy": "QuantConnect.Optimizer.Strategies.GridSearchOptimizationStrategy",
        "target": OptimizationTarget(target=target, extremum=OptimizationExtremum.Maximum),
        "parameters": [OptimizationParameter(name="lookback", min=10, max=30, step=10)],
        "constraints": [
            OptimizationConstraint(
                target=target,
                operator=OptimizationConstraintOperator.GreaterOrEqual,
                **{"target-value": 0.5},
            )
        ],
        "node_type": "O2-8",
        "parallel_nodes": 2,
    }
    estimate = demo_client.optimizations.estimate(**form)
    assert isinstance(estimate, QCOptimizationEstimate) and estimate.time > 0
    created = demo_client.optimizations.create(**form)
    assert created.status == "new"
    running = demo_client.optimizations.get(created.optimizationId)  # launched, none done yet
    assert running.status == "running" and running.get_progress() == 0
    assert len(running.backtests) == 3
    with pytest.raises(ValidationError):  # a round done: object statistics (lean-cli#570)
        demo_client.optimizations.get(created.optimizationId)
    demo_client.optimizations.abort(created.optimizationId)
    listed = demo_client.post("optimizations/list", {"projectId": project_id})["optimizations"]
    assert listed[-1]["status"] == "aborted"
    demo_client.optimizations.delete(created.optimizationId)
    listed = demo_client.post("optimizations/list", {"projectId": project_id})["optimizations"]
    assert created.optimizationId not in {o["optimizationId"] for o in listed}
