"""Every example of datasets/examples on every target, with the real solvers (no mocks).

For each example and each target of `solvers.TARGETS`:

* a target the example lists in NAME.expected.json "targets" must be applicable, and solving there
  must give the expected status; an optimum must equal the expected objective to 1e-6 (relative:
  |a - b| <= 1e-6 * max(1, |b|)), every value listed in "values" (unique over all optimal solutions,
  see test_examples_independent.py) must come back, and the independent checker must accept the
  returned solution with the same objective;
* for an infeasible example, the conflict must be exactly the known minimal set of IR constraints
  (test_examples_independent.py proves it is the only minimal one), claimed minimal, with variable
  bounds only in `conflict_bounds` (formalizers/IR.md);
* a target the example does not list must refuse it up front with reasons that say where (a named
  constraint, variable, parameter or the objective) and why.

`--target all` (solvers.solve_all + solvers.agreement) is checked on the same results: the targets
agree, and on an infeasible example they name the same conflict.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import pytest

import solvers
from formalizers.ir import load_ir
from formalizers.semantics import CompiledModel
from solvers.backend import TargetUnsupported
from solvers.checker import check_solution
from solvers.result import SolveResult, Status

EXAMPLES = Path(__file__).resolve().parent.parent / "datasets" / "examples"
TIME_LIMIT = 60.0
STATUS = {"optimal": Status.OPTIMAL, "satisfiable": Status.FEASIBLE, "infeasible": Status.INFEASIBLE}
WHERE = ("constraint '", "variable '", "parameter '", "objective")
WHY = ("not linear", "continuous", "fractional", "not integral", "string labels")


def names() -> list[str]:
    return sorted(p.name.removesuffix(".ir.json") for p in EXAMPLES.glob("*.ir.json"))


def expected(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.expected.json").read_text(encoding="utf-8"))


@functools.cache
def model(name: str) -> CompiledModel:
    return load_ir(EXAMPLES / f"{name}.ir.json").compile()


@functools.cache
def results(name: str) -> dict[str, SolveResult]:
    """`--target all`: every applicable target, each with its hard time limit (solved once per run)."""
    return solvers.solve_all(model(name), time_limit=TIME_LIMIT, explain=True)


def close(a: float | None, b: float, tol: float = 1e-6) -> bool:
    return a is not None and math.isfinite(a) and abs(a - b) <= tol * max(1.0, abs(b))


def leaves(tree: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in leaves(v, path + (k,))]
    return [(path, tree)]


def lookup(tree: Any, path: tuple) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def test_every_example_has_expectations() -> None:
    assert len(names()) >= 17
    for name in names():
        exp = expected(name)
        assert exp["status"] in STATUS and exp["targets"], name
        assert set(exp["targets"]) <= set(solvers.TARGETS), name


@pytest.mark.parametrize("name", names())
def test_applicable_targets_are_the_expected_ones(name: str) -> None:
    exp = expected(name)
    assert solvers.applicable_targets(model(name)) == [t for t in solvers.TARGETS if t in exp["targets"]]


@pytest.mark.parametrize("target", solvers.TARGETS)
@pytest.mark.parametrize("name", names())
def test_example_on_target(name: str, target: str) -> None:
    exp, m = expected(name), model(name)
    if target not in exp["targets"]:
        reasons = solvers.unsupported(m, target)
        assert reasons, f"{target} should refuse {name}"
        for reason in reasons:
            assert any(w in reason for w in WHERE) and any(w in reason for w in WHY), reason
        with pytest.raises(TargetUnsupported) as refused:
            solvers.solve(m, target, time_limit=TIME_LIMIT)
        assert refused.value.target == target and reasons[0] in str(refused.value)
        return

    r = results(name)[target]
    assert r.target == target
    assert r.status == STATUS[exp["status"]], (r.status, r.message)
    if exp["status"] == "infeasible":
        assert r.objective is None and not r.values
        assert set(r.conflict) == set(exp["conflict"]), (r.conflict, r.conflict_method, r.message)
        assert r.conflict_minimal is True, r.message
        assert [c.name for c in r.conflict_detail] == r.conflict
        for item in r.conflict_detail:  # every named instance belongs to its constraint
            assert item.instances and all(i == item.name or i.startswith(item.name + "[") for i in item.instances)
        assert all(b.startswith(("bounds of ", "domain of ", "variable ")) for b in r.conflict_bounds)
        return

    if exp["status"] == "optimal":
        assert close(r.objective, exp["objective"]), (r.objective, exp["objective"])
    else:
        assert r.objective is None
    report = check_solution(m, r.values, claimed_objective=r.objective)
    assert report.ok, report.describe()
    if exp["status"] == "optimal":
        assert close(report.objective, exp["objective"])
    for var, tree in exp.get("values", {}).items():
        integral = m.variables[var].integral
        for path, value in leaves(tree):
            got = lookup(r.values[var], path)
            if integral:
                assert got == value, (var, path, got, value)
            else:
                assert close(got, value), (var, path, got, value)
    if exp["status"] == "satisfiable":  # the puzzle: its unique solution is all of it
        assert set(r.values) == set(exp["values"]) == set(m.variables)


@pytest.mark.parametrize("name", names())
def test_target_all_agrees(name: str) -> None:
    exp = expected(name)
    got = results(name)
    assert list(got) == [t for t in solvers.TARGETS if t in exp["targets"]]
    agree, why = solvers.agreement(got)
    assert agree, why
    if exp["status"] == "optimal":
        assert all(close(r.objective, exp["objective"]) for r in got.values()), why
    if exp["status"] == "infeasible":
        assert {frozenset(r.conflict) for r in got.values()} == {frozenset(exp["conflict"])}


def test_agreement_notices_a_disagreement() -> None:
    """The agreement check itself must fail on differing objectives or statuses (it is not vacuous)."""
    a = SolveResult(status=Status.OPTIMAL, objective=10.0, target="milp")
    b = SolveResult(status=Status.OPTIMAL, objective=10.0 + 2e-5, target="smt")
    c = SolveResult(status=Status.INFEASIBLE, target="cpsat")
    assert solvers.agreement({"milp": a, "smt": a.model_copy(update={"target": "smt"})})[0]
    assert not solvers.agreement({"milp": a, "smt": b})[0]
    assert not solvers.agreement({"milp": a, "cpsat": c})[0]
