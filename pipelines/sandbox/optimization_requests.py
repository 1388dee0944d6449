"""Checked `optimizations/create` and `estimate` requests (§1.1), as JSON or as lean-cli's
form-encoded body with bracketed names; a request the sandbox cannot run raises
`OptimizationError`. ("§N" is a section of `/work/shared/reference/quantconnect-api-results.md`.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pipelines.sandbox.optimization_model import (
    GRID_SEARCH,
    METRICS,
    NODE_TYPES,
    OPERATORS,
    TARGET_PREFIX,
    Constraint,
    Criterion,
    Parameter,
    StaticParameter,
    StepParameter,
    grid,
)

MAX_GRID = 1_000
"""The most parameter sets the sandbox runs in one optimization."""
MAX_PARALLEL_NODES = 24


class OptimizationError(ValueError):
    """A request the API answers with `success: false` and this message."""


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def nested_form(params: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields with bracketed names as nested values: lean-cli posts `parameters[0][key]`,
    `constraints[0][target-value]` (lean/components/api/optimization_client.py)."""
    nested: dict[str, Any] = {}
    for key, value in params.items():
        head, bracket, _ = key.partition("[")
        if not bracket:
            nested[key] = value
            continue
        node = nested
        path = [head, *_BRACKETS.findall(key[len(head) :])]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return {key: _as_list(value) for key, value in nested.items()}


def _as_list(value: Any) -> Any:
    """`{"0": a, "1": b}` as `[a, b]`, recursively."""
    if not isinstance(value, dict):
        return value
    items = {key: _as_list(item) for key, item in value.items()}
    if items and all(str(key).isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _required(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "" or value == []:
        raise OptimizationError(f"Missing required parameter: {name}")
    return value


def _decimal(raw: Any, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise OptimizationError(f"Invalid value for {name}: {raw!r}")
    try:
        value = Decimal(repr(raw) if isinstance(raw, float) else str(raw).strip())
    except InvalidOperation:
        raise OptimizationError(f"Invalid value for {name}: {raw!r}") from None
    if not value.is_finite():
        raise OptimizationError(f"Invalid value for {name}: {raw!r}")
    return value


def _integer(raw: Any, name: str) -> int:
    value = _decimal(raw, name)
    if value != value.to_integral_value():
        raise OptimizationError(f"Invalid value for {name}: {raw!r}")
    return int(value)


def _target(raw: Any, name: str) -> str:
    """A target path as written, checked to be one the sandbox can evaluate."""
    if not isinstance(raw, str) or not raw.strip():
        raise OptimizationError(f"Missing required parameter: {name}")
    plain = raw.replace("['", "").replace("']", "").strip()
    field = plain[len(TARGET_PREFIX) :] if plain.startswith(TARGET_PREFIX) else None
    if field not in METRICS:
        known = ", ".join(TARGET_PREFIX + m for m in METRICS)
        raise OptimizationError(f"Invalid optimization target {raw!r}; expected one of {known}")
    return plain


def parse_parameter(raw: Any) -> Parameter:
    """One optimization parameter: a step one `{name|key, min, max, step?, minStep|min-step?}`
    or a static one `{name, value}` (Lean OptimizationParameterJsonConverter)."""
    if not isinstance(raw, Mapping):
        raise OptimizationError(f"Invalid optimization parameter: {raw!r}")
    name = raw.get("name") or raw.get("key")
    if not isinstance(name, str) or not name:
        raise OptimizationError("Optimization parameter name is not specified")
    if "min" in raw and "max" in raw:
        minimum, maximum = _decimal(raw["min"], "min"), _decimal(raw["max"], "max")
        if minimum > maximum:
            raise OptimizationError(f"{name}: min ({minimum}) must not exceed max ({maximum})")
        if raw.get("step") in (None, ""):
            raise OptimizationError(f"{name}: a grid search needs a step")
        step = _decimal(raw["step"], "step")
        min_step_raw = raw.get("minStep", raw.get("min-step"))
        min_step = None if min_step_raw in (None, "") else _decimal(min_step_raw, "minStep")
        if step <= 0 or (min_step is not None and min_step <= 0):
            raise OptimizationError(f"{name}: step and minStep must be positive")
        if min_step is not None and step < min_step:
            raise OptimizationError(f"{name}: step must not be less than minStep")
        return StepParameter(name, minimum, maximum, step, min_step)
    if "value" in raw:
        return StaticParameter(name, raw["value"])
    raise OptimizationError(f"{name}: a parameter needs min, max and step, or a value")


def parse_constraint(raw: Any) -> Constraint:
    """One constraint `{target, operator, targetValue}` (`target-value`, Lean's legacy key)."""
    if not isinstance(raw, Mapping):
        raise OptimizationError(f"Invalid optimization constraint: {raw!r}")
    target = _target(raw.get("target"), "constraints.target")
    operator = raw.get("operator")
    if not isinstance(operator, str) or operator.lower() not in OPERATORS:
        raise OptimizationError(f"Invalid constraint operator: {operator!r}")
    value = raw.get("targetValue", raw.get("target-value"))
    if value in (None, ""):
        raise OptimizationError("Constraint target value is not specified")
    return Constraint(target, operator, _decimal(value, "targetValue"))


@dataclass(frozen=True)
class Request:
    """A checked `optimizations/create` or `estimate` request."""

    project_id: int
    name: str
    criterion: Criterion
    constraints: tuple[Constraint, ...]
    parameters: tuple[Parameter, ...]
    node_type: str
    parallel_nodes: int

    @property
    def grid_size(self) -> int:
        """Its parameter sets."""
        return len(grid(self.parameters))


def parse_request(params: Mapping[str, Any], estimate: bool = False) -> Request:
    """The create fields (§1.1), as JSON or lean-cli's form; an estimate needs no
    `estimatedCost`, `nodeType` or `parallelNodes`."""
    params = nested_form(params)
    project_id = _integer(_required(params, "projectId"), "projectId")
    name = _required(params, "name")
    target = _target(_required(params, "target"), "target")
    extremum = str(_required(params, "targetTo")).lower()
    if extremum not in ("min", "max"):
        raise OptimizationError(f"Invalid value for targetTo: {extremum!r}; expected min or max")
    strategy = _required(params, "strategy")
    if strategy != GRID_SEARCH:
        raise OptimizationError(
            f"Invalid optimization strategy {strategy!r}; expected {GRID_SEARCH}"
        )
    _required(params, "compileId")
    goal_raw = params.get("targetValue")
    goal = None if goal_raw in (None, "") else _decimal(goal_raw, "targetValue")
    raw_parameters = _required(params, "parameters")
    if not isinstance(raw_parameters, list):
        raise OptimizationError("parameters must be a list")
    parameters = tuple(parse_parameter(raw) for raw in raw_parameters)
    if len({p.name for p in parameters}) != len(parameters):
        raise OptimizationError("Optimization parameters must have distinct names")
    raw_constraints = params.get("constraints") or []
    if not isinstance(raw_constraints, list):
        raise OptimizationError("constraints must be a list")
    node_type, parallel = NODE_TYPES[0], 1
    if not estimate or params.get("nodeType") is not None:
        node_type = _required(params, "nodeType")
        if node_type not in NODE_TYPES:
            raise OptimizationError(f"Invalid node type {node_type!r}; expected {NODE_TYPES}")
    if not estimate or params.get("parallelNodes") is not None:
        parallel = _integer(_required(params, "parallelNodes"), "parallelNodes")
        if not 1 <= parallel <= MAX_PARALLEL_NODES:
            raise OptimizationError(f"parallelNodes must be within 1..{MAX_PARALLEL_NODES}")
    if not estimate and _decimal(_required(params, "estimatedCost"), "estimatedCost") < 0:
        raise OptimizationError("estimatedCost must not be negative")
    request = Request(
        project_id,
        str(name),
        Criterion(target, extremum, goal),
        tuple(parse_constraint(raw) for raw in raw_constraints),
        parameters,
        node_type,
        parallel,
    )
    if request.grid_size > MAX_GRID:
        raise OptimizationError(
            f"The optimization has {request.grid_size} parameter sets; at most {MAX_GRID} run"
        )
    return request
