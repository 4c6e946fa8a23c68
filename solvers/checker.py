"""The independent checker: plug a solution back into the IR, in pure Python.

It shares only the grounder with the renderers (the meaning of the language), never a solver, so a
renderer bug or a solver's tolerance shows up as a named violation with its amount.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from formalizers.expr import Compare
from formalizers.ground import Grounder, GroundError
from formalizers.semantics import CompiledModel
from solvers.values import flatten_values

DEFAULT_TOL = 1e-6


class Violation(BaseModel):
    constraint: str  # IR name
    instance: str  # e.g. "cover[mon]"
    label: str = ""
    source: str = ""
    amount: float  # how far from holding (1.0 for a false logical condition)
    detail: str = ""


class CheckReport(BaseModel):
    ok: bool
    violations: list[Violation] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # missing values, domain or bound breaches
    objective: float | None = None  # recomputed from the values
    claimed_objective: float | None = None
    objective_matches: bool | None = None

    def describe(self, limit: int = 10) -> str:
        lines = list(self.problems[:limit])
        for v in self.violations[:limit]:
            lines.append(f"{v.instance} ({v.label or v.constraint}) is violated by {v.amount:g}: {v.detail}")
        if self.objective_matches is False:
            lines.append(f"objective recomputes to {self.objective:g}, not {self.claimed_objective:g}")
        more = len(self.violations) + len(self.problems) - 2 * limit
        if more > 0:
            lines.append(f"... and {more} more")
        return "\n".join(lines) if lines else "all constraints hold"


class _Values:
    """Algebra whose variables are numbers: every expression folds to a constant."""

    def __init__(self, model: CompiledModel, flat: dict[tuple[str, tuple], float]) -> None:
        self.flat = flat
        self.boolean = {name for name, v in model.variables.items() if v.ir.domain == "boolean"}

    def var(self, name: str, key: tuple) -> float | bool:
        value = self.flat[(name, key)]
        if name in self.boolean:
            # The grounder folds logic only over Python bools: a solver's 0/1 (or 1e-9) for a boolean
            # variable must become one, or `b and c` would reach the algebra. A value that is not 0/1
            # is reported by the domain check.
            return bool(round(value))
        return int(value) if float(value).is_integer() else value

    def _never(self, *args: Any) -> Any:
        raise AssertionError("a fully valued expression folds before reaching the algebra")

    and_ = or_ = not_ = implies = iff = compare = abs_ = min_ = max_ = alldifferent = _never


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def check_solution(model: CompiledModel, values: dict[str, Any], *, claimed_objective: float | None = None,
                   tol: float = DEFAULT_TOL) -> CheckReport:
    """Report each violated constraint instance by name with its amount, and recompute the objective."""
    flat, problems = flatten_values(model, values)
    if problems:
        return CheckReport(ok=False, problems=problems, claimed_objective=claimed_objective)
    problems += _domain_problems(model, flat, tol)
    grounder = Grounder(model, _Values(model, flat))
    violations: list[Violation] = []
    try:
        for inst in grounder.all_instances():
            amount, detail = _violation(grounder, inst.node, inst.env, tol)
            if amount > 0:
                c = inst.constraint.ir
                violations.append(Violation(constraint=c.name, instance=inst.label, label=c.label,
                                            source=c.source, amount=amount, detail=detail))
        objective = None
        if model.objective is not None:
            objective = float(grounder.eval(model.objective, {}))
    except GroundError as e:
        return CheckReport(ok=False, problems=problems + [str(e)], claimed_objective=claimed_objective)
    matches = None
    if claimed_objective is not None and objective is not None:
        matches = _close(objective, claimed_objective, max(tol, 1e-6))
    ok = not violations and not problems and matches is not False
    return CheckReport(ok=ok, violations=violations, problems=problems, objective=objective,
                       claimed_objective=claimed_objective, objective_matches=matches)


def _violation(g: Grounder, node: Any, env: dict, tol: float) -> tuple[float, str]:
    if isinstance(node, Compare):
        a, b = g.eval(node.left, env), g.eval(node.right, env)
        holds = g.eval(node, env)
        if isinstance(a, str) or isinstance(b, str):
            return (0.0, "") if holds else (1.0, f"{a} {node.op} {b} is false")
        op = node.op
        if op in ("<", "<="):
            gap = a - b
        elif op in (">", ">="):
            gap = b - a
        elif op == "==":
            gap = abs(a - b)
        else:
            gap = 1.0 if a == b else 0.0
        if holds or gap <= tol * max(1.0, abs(a), abs(b)):
            return 0.0, ""
        return float(max(gap, tol)), f"{a:g} {op} {b:g} does not hold"
    holds = g.eval(node, env)
    return (0.0, "") if holds else (1.0, "the condition is false")


def _domain_problems(model: CompiledModel, flat: dict, tol: float) -> list[str]:
    out = []
    for (name, key), value in flat.items():
        var = model.variables[name]
        where = f"{name}[{', '.join(map(str, key))}]" if key else name
        if var.integral and abs(value - round(value)) > tol:
            out.append(f"{where} = {value:g} should be {var.ir.domain}")
        lower, upper = model.var_bounds(var)
        if lower is not None and value < lower - tol * max(1, abs(lower)):
            out.append(f"{where} = {value:g} is below its lower bound {lower:g}")
        if upper is not None and value > upper + tol * max(1, abs(upper)):
            out.append(f"{where} = {value:g} is above its upper bound {upper:g}")
    return out


class Tightness(BaseModel):
    """How close one constraint instance is to its limit at a solution (binding when slack ~ 0)."""

    constraint: str
    instance: str
    label: str = ""
    source: str = ""
    slack: float


def tightness(model: CompiledModel, values: dict[str, Any], tol: float = DEFAULT_TOL) -> list[Tightness]:
    """Slack of every inequality/equality instance at a solution; the binding ones explain the optimum."""
    flat, problems = flatten_values(model, values)
    if problems:
        return []
    grounder = Grounder(model, _Values(model, flat))
    out: list[Tightness] = []
    for inst in grounder.all_instances():
        node = inst.node
        if not isinstance(node, Compare) or node.op not in ("<", "<=", ">", ">=", "=="):
            continue
        a, b = grounder.eval(node.left, inst.env), grounder.eval(node.right, inst.env)
        if isinstance(a, str) or isinstance(b, str) or isinstance(a, bool) or isinstance(b, bool):
            continue
        slack = abs(a - b) if node.op == "==" else (b - a if node.op in ("<", "<=") else a - b)
        c = inst.constraint.ir
        out.append(Tightness(constraint=c.name, instance=inst.label, label=c.label, source=c.source,
                             slack=float(slack)))
    return out
