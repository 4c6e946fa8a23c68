"""The independent checker catches planted violations, by name and amount."""

from __future__ import annotations

import math

import pytest

import solvers
from formalizers.expr import Compare
from formalizers.ground import Grounder
from formalizers.ir import load_ir, parse_ir
from solvers.checker import check_solution
from solvers.milp import _HighsAlgebra, build_lp
from solvers.values import flatten_values, nest_values
from tests.conftest import EXAMPLES, example_names, load_expected

GOOD = {"make": {"chair": 2, "table": 7}, "inv": {"1": 0.5, "2": 1.5, "3": 2.5}, "open": 0}


@pytest.fixture
def model(furniture_ir: dict):
    return parse_ir(furniture_ir).compile()


def test_valid_solution_holds(model) -> None:
    report = check_solution(model, GOOD, claimed_objective=410)
    assert report.ok, report.describe()
    assert report.objective == 410 and report.objective_matches


def test_capacity_violation_named_with_amount(model) -> None:
    values = {**GOOD, "make": {"chair": 2, "table": 8}}  # wood 2*2 + 5*8 = 44 > 40
    report = check_solution(model, values)
    assert [v.instance for v in report.violations] == ["wood"]
    assert report.violations[0].amount == pytest.approx(4)
    assert report.violations[0].source == "There are 40 units of wood."


def test_indexed_instance_violation(model) -> None:
    values = {**GOOD, "inv": {"1": 0.5, "2": 1.5, "3": 3.0}}
    report = check_solution(model, values)
    assert [(v.instance, v.amount) for v in report.violations] == [("balance[3]", pytest.approx(0.5))]


def test_logical_violation(model) -> None:
    report = check_solution(model, {**GOOD, "open": 1})
    assert [v.constraint for v in report.violations] == ["logic"]


def test_wrong_claimed_objective(model) -> None:
    report = check_solution(model, GOOD, claimed_objective=400)
    assert not report.ok and report.objective_matches is False


def test_domain_and_bound_breaches(model) -> None:
    report = check_solution(model, {**GOOD, "make": {"chair": 2.5, "table": -1}, "open": 0})
    assert any("should be integer" in p for p in report.problems)
    assert any("below its lower bound" in p for p in report.problems)


def test_missing_and_unknown_values(model) -> None:
    report = check_solution(model, {"make": {"chair": 2}, "ghost": 1})
    assert not report.ok
    text = " ".join(report.problems)
    assert "unknown variable 'ghost'" in text and "make[table] has no value" in text and "'inv'" in text


def test_tolerance_boundary(model) -> None:
    inside = {**GOOD, "inv": {"1": 0.5, "2": 1.5, "3": 2.5 + 1e-7}}
    outside = {**GOOD, "inv": {"1": 0.5, "2": 1.5, "3": 2.5 + 1e-4}}
    assert check_solution(model, inside).ok
    assert not check_solution(model, outside).ok


def test_labels_puzzle() -> None:
    ir = {
        "sets": [{"name": "Pets", "elements": ["dog", "cat", "fish"]}, {"name": "Houses", "elements": [1, 2, 3]},
                 {"name": "Colors", "elements": ["red", "green", "blue"]}],
        "variables": [{"name": "pet_house", "index": ["Pets"], "domain": "labels", "labels": "Houses"},
                      {"name": "color", "index": ["Houses"], "domain": "labels", "labels": "Colors"}],
        "constraints": [
            {"name": "distinct_pets", "expr": "alldifferent(pet_house)"},
            {"name": "distinct_colors", "expr": "alldifferent(h in Houses)(color[h])"},
            {"name": "dog_next_to_cat", "expr": "abs(pet_house[\"dog\"] - pet_house[\"cat\"]) == 1"},
            {"name": "fish_red", "expr": "forall(h in Houses)(pet_house[\"fish\"] == h -> color[h] == \"red\")"},
        ],
    }
    model = parse_ir(ir).compile()
    good = {"pet_house": {"dog": 1, "cat": 2, "fish": 3}, "color": {"1": "blue", "2": "green", "3": "red"}}
    assert check_solution(model, good).ok
    bad = {"pet_house": {"dog": 1, "cat": 3, "fish": 3}, "color": {"1": "red", "2": "green", "3": "blue"}}
    names = {v.constraint for v in check_solution(model, bad).violations}
    assert names == {"distinct_pets", "dog_next_to_cat", "fish_red"}
    report = check_solution(model, {**good, "color": {"1": "pink", "2": "green", "3": "red"}})
    assert any("'pink' is not an element" in p for p in report.problems)


def test_boolean_values_from_a_solver() -> None:
    """Solvers return booleans as 0/1 (or 1.0, 1e-9): the checker must fold logic over them."""
    ir = {"name": "flags", "variables": [{"name": "a", "domain": "boolean"}, {"name": "b", "domain": "boolean"},
                                         {"name": "x", "domain": "integer", "lower": 0, "upper": 9}],
          "constraints": [{"name": "both", "expr": "a and b -> x >= 5"}, {"name": "one", "expr": "a or b"}]}
    model = parse_ir(ir).compile()
    for a, b in ((1, 1), (1.0, 1.0), (True, True), (1 - 1e-9, 1e-9 + 1)):
        assert check_solution(model, {"a": a, "b": b, "x": 5}).ok
        report = check_solution(model, {"a": a, "b": b, "x": 4})
        assert [v.instance for v in report.violations] == ["both"]
    report = check_solution(model, {"a": 0, "b": 0.0, "x": 0})
    assert [v.instance for v in report.violations] == ["one"]


# ------------------------------------------------------------- planted violations in real solutions

def _milp_examples() -> list[str]:
    return [n for n in example_names()
            if "milp" in load_expected(n)["targets"] and load_expected(n)["status"] == "optimal"]


@pytest.mark.parametrize("name", _milp_examples())
def test_planted_violations_match_the_milp_rows(name: str) -> None:
    """Shift each variable entry of an optimal solution by +1 and by -1 in turn: the instances the
    checker names as violated, and by how much, must be those whose HiGHS row (the MILP renderer's
    coefficients: a different algebra over the same grounding) is violated, by the same amount."""
    model = load_ir(EXAMPLES / f"{name}.ir.json").compile()
    result = solvers.solve(model, "milp", explain=False)
    assert check_solution(model, result.values, claimed_objective=result.objective).ok
    lp = build_lp(model)
    column = {var: j for j, var in enumerate(lp.col_var) if var is not None}
    strict = {inst.label for inst in Grounder(model, _HighsAlgebra(column)).all_instances()
              if isinstance(inst.node, Compare) and inst.node.op in ("<", ">")}
    base, _ = flatten_values(model, result.values)
    planted = 0
    for (var_name, key), value in base.items():
        if model.variables[var_name].ir.domain in ("boolean", "labels"):
            continue  # +1 is not a value of theirs (a boolean 2 reads back as true)
        for delta in (1, -1):
            planted += _plant(model, lp, base, (var_name, key), value + delta, result.objective, strict)
    assert planted > 0, "no shift was caught: the plant is too weak to test anything"


def _plant(model, lp, base: dict, entry: tuple, new: float, objective: float | None, strict: set[str]) -> int:
    """Check one shifted solution against the rows; 1 when the checker flagged something."""
    flat = dict(base)
    flat[entry] = new
    x = [flat[v] if v is not None else 0.0 for v in lp.col_var]
    expected: dict[str, float] = {}
    clear: set[str] = set()
    for r in range(len(lp.row_lower)):
        activity = sum(lp.value[k] * x[lp.index[k]] for k in range(lp.starts[r], lp.starts[r + 1]))
        gap = max(lp.row_lower[r] - activity, activity - lp.row_upper[r], 0.0)
        if gap > 0:
            bound = lp.row_upper[r] if activity > lp.row_upper[r] else lp.row_lower[r]
            expected[lp.row_label(r)] = max(expected.get(lp.row_label(r), 0.0), gap)
            if gap > 1e-3 * max(1.0, abs(activity), abs(bound)):
                clear.add(lp.row_label(r))
    report = check_solution(model, _nest(model, flat), claimed_objective=objective)
    got = {v.instance: v.amount for v in report.violations}
    assert clear <= set(got), (entry, new, clear, got)
    assert set(got) <= set(expected), (entry, new, got, expected)
    for label in clear - strict:
        assert math.isclose(got[label], expected[label], rel_tol=1e-9, abs_tol=1e-9), (label, got, expected)
    lower, upper = model.var_bounds(model.variables[entry[0]])
    assert (upper is not None and new > upper + 1e-6) == any("above its upper bound" in p for p in report.problems)
    assert (lower is not None and new < lower - 1e-6) == any("below its lower bound" in p for p in report.problems)
    if got or report.problems:
        assert not report.ok
        return 1
    return 0


def _nest(model, flat: dict) -> dict:
    return nest_values(model, {k: float(v) for k, v in flat.items()})
