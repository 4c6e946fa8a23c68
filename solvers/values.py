"""Conversion between solver values keyed by (variable, index tuple) and the nested JSON users see."""

from __future__ import annotations

from typing import Any

from formalizers.semantics import CompiledModel


class SolutionError(ValueError):
    """A solution file that does not fit the model."""


def nest_values(model: CompiledModel, flat: dict[tuple[str, tuple], float]) -> dict[str, Any]:
    """{("x", ("a", 1)): 3.0} -> {"x": {"a": {"1": 3}}}; integral values become ints, labels names."""
    out: dict[str, Any] = {}
    for name, var in model.variables.items():
        for key in var.keys:
            if (name, key) not in flat:
                continue
            value = _present(model, name, flat[(name, key)])
            if not key:
                out[name] = value
                continue
            node = out.setdefault(name, {})
            for k in key[:-1]:
                node = node.setdefault(str(k), {})
            node[str(key[-1])] = value
    return out


def _present(model: CompiledModel, name: str, value: float) -> Any:
    var = model.variables[name]
    if var.label_set:
        return model.label_of(var.label_set, round(value))
    if var.ir.domain == "boolean":
        return bool(round(value))
    if var.integral:
        return int(round(value))
    value = float(value)
    return 0.0 if value == 0 else value


def flatten_values(model: CompiledModel, values: dict[str, Any]) -> tuple[dict[tuple[str, tuple], float],
                                                                          list[str]]:
    """Nested JSON -> {(name, key): number}; also returns what is missing or unknown."""
    if not isinstance(values, dict):
        raise SolutionError("values must be a JSON object keyed by variable name")
    problems: list[str] = []
    flat: dict[tuple[str, tuple], float] = {}
    for name in values:
        if name not in model.variables:
            problems.append(f"unknown variable '{name}' in the solution")
    for name, var in model.variables.items():
        if name not in values:
            problems.append(f"variable '{name}' has no value")
            continue
        for key in var.keys:
            node: Any = values[name]
            for k in key:
                node = node.get(str(k)) if isinstance(node, dict) else None
            if node is None:
                problems.append(f"{name}[{', '.join(map(str, key))}] has no value")
                continue
            try:
                flat[(name, key)] = _number(model, name, node)
            except SolutionError as e:
                problems.append(f"{name}{list(key) if key else ''}: {e}")
    return flat, problems


def _number(model: CompiledModel, name: str, value: Any) -> float:
    var = model.variables[name]
    if var.label_set:
        elements = model.sets[var.label_set]
        match = [e for e in elements if str(e) == str(value)]
        if not match:
            raise SolutionError(f"{value!r} is not an element of '{var.label_set}'")
        return float(model.label_code(var.label_set, match[0]))
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        raise SolutionError(f"expected a number, got {value!r}"[:200])
    if value != value or value in (float("inf"), float("-inf")):
        raise SolutionError("value is not finite")
    return float(value)
