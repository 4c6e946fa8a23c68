"""The CP-SAT target on small models with answers worked out by hand (or by brute force), no mocks.

Every solution is plugged back into the IR by the independent checker.
"""

from __future__ import annotations

import itertools
import time

import pytest

import solvers
from formalizers.ir import parse_ir
from formalizers.semantics import CompiledModel
from solvers import cpsat
from solvers.backend import TargetUnsupported
from solvers.checker import check_solution
from solvers.result import SolveResult, Status


def compile_ir(data: dict) -> CompiledModel:
    return parse_ir(data).compile()


def assert_checked(model: CompiledModel, r: SolveResult) -> None:
    report = check_solution(model, r.values, claimed_objective=r.objective)
    assert report.ok, report.describe()


# 6x + 4y <= 24 and x + 2y <= 6 over non-negative integers; 5x + 4y is largest at (4, 0): 20.
# (The LP optimum is (3, 1.5) = 21; the integer points (3, 1) and (2, 2) give 19 and 18.)
# The machine capacity is written 24.0 and 2.4e1: integral floats must reach CP-SAT as integers.
PRODUCTION = {
    "name": "production",
    "sets": [{"name": "P", "elements": ["x", "y"]}, {"name": "R", "elements": ["machine", "labour"]}],
    "parameters": [
        {"name": "profit", "index": ["P"], "value": {"x": 5, "y": 4}},
        {"name": "use", "index": ["R", "P"], "value": [[6, 4], [1, 2]]},
        {"name": "cap", "index": ["R"], "value": {"machine": 24.0, "labour": 6}},
    ],
    "variables": [{"name": "make", "index": ["P"], "domain": "integer", "lower": 0}],
    "constraints": [{"name": "capacity", "label": "resource capacity", "forall": "r in R",
                     "source": "Each resource has a capacity.",
                     "expr": "sum(p in P)(use[r, p] * make[p]) <= cap[r]"},
                    {"name": "machine_again", "expr": "6 * make[\"x\"] + 4.0 * make[\"y\"] <= 2.4e1"}],
    "objective": {"sense": "maximize", "expr": "sum(p in P)(profit[p] * make[p])"},
}

# Ann is not red and Cid is green, so Ann is blue and Bob red; the cat lives in the blue house (Ann);
# Cid has no fish, so Cid has the dog and Bob the fish. Exactly one solution.
PUZZLE = {
    "name": "puzzle",
    "sets": [{"name": "People", "elements": ["Ann", "Bob", "Cid"]},
             {"name": "Colors", "elements": ["red", "green", "blue"]},
             {"name": "Pets", "elements": ["cat", "dog", "fish"]}],
    "variables": [
        {"name": "color", "index": ["People"], "domain": "labels", "labels": "Colors"},
        {"name": "pet", "index": ["People"], "domain": "labels", "labels": "Pets"},
    ],
    "constraints": [
        {"name": "colors_differ", "expr": "alldifferent(color)"},
        {"name": "pets_differ", "expr": "alldifferent(p in People)(pet[p])"},
        {"name": "ann_not_red", "expr": "color[\"Ann\"] != \"red\""},
        {"name": "cid_green", "expr": "color[\"Cid\"] = \"green\""},
        {"name": "cat_blue", "forall": "p in People", "expr": "pet[p] == \"cat\" <-> color[p] == \"blue\""},
        {"name": "cid_no_fish", "expr": "not (pet[\"Cid\"] == \"fish\")"},
    ],
}
PUZZLE_ANSWER = {"color": {"Ann": "blue", "Bob": "red", "Cid": "green"},
                 "pet": {"Ann": "cat", "Bob": "fish", "Cid": "dog"}}

LOGIC = {
    "name": "logic",
    "variables": [
        {"name": "x", "domain": "integer", "lower": -5, "upper": 5},
        {"name": "y", "domain": "integer", "lower": -5, "upper": 5},
        {"name": "b", "domain": "binary"},
        {"name": "z", "domain": "binary"},
    ],
    "constraints": [
        {"name": "b_iff", "expr": "b == 1 <-> x >= 2"},
        {"name": "b_then", "expr": "b = 1 -> y <= -3"},
        {"name": "spread", "expr": "abs(x - y) >= 4 or (b == 0 and y > x)"},
        {"name": "caps", "expr": "max(x, y) <= 4 and min(x, y, 3) >= -4"},
        {"name": "z_iff", "expr": "z == 1 <-> x + y >= 0"},
        {"name": "not_both", "expr": "not (x == 4 and y == -4)"},
        {"name": "some", "expr": "x > y implies z = 1"},
        {"name": "nested", "expr": "(x >= 0 -> y != 0) <-> not (z == 0 or x <= -5)"},
    ],
    "objective": {"sense": "maximize", "expr": "3 * x + y + 2 * z - abs(y)"},
}

# p <-> x >= 3, q -> not p, p or q, q -> x <= 1: the largest x is 5 (p), the smallest 0 (q).
BOOLEANS = {
    "name": "booleans",
    "variables": [{"name": "p", "domain": "boolean"}, {"name": "q", "domain": "boolean"},
                  {"name": "x", "domain": "integer", "lower": 0, "upper": 5}],
    "constraints": [{"name": "p_iff", "expr": "p <-> x >= 3"}, {"name": "exclusive", "expr": "q -> not p"},
                    {"name": "one", "expr": "p or q"}, {"name": "q_small", "expr": "q == true -> x <= 1"}],
    "objective": {"sense": "maximize", "expr": "x"},
}

# need: 2 days of work >= 15, but each day is capped at 7 (14 in all); a day cap of 8 would do.
# "mon_cap" repeats cap[mon] and must not survive shrinking; the other two are harmless.
CONFLICT = {
    "name": "conflict",
    "sets": [{"name": "Days", "elements": ["mon", "tue"]}],
    "variables": [{"name": "work", "index": ["Days"], "domain": "integer", "lower": 0, "upper": 8}],
    "constraints": [
        {"name": "some_work", "forall": "d in Days", "expr": "work[d] >= 1"},
        {"name": "mon_cap", "expr": "work[\"mon\"] <= 7"},
        {"name": "need", "label": "enough work", "source": "At least 15 hours are needed.",
         "expr": "sum(d in Days)(work[d]) >= 15"},
        {"name": "cap", "forall": "d in Days", "expr": "work[d] <= 7"},
        {"name": "loose", "expr": "work[\"mon\"] + work[\"tue\"] <= 40"},
    ],
    "objective": {"sense": "minimize", "expr": "work[\"mon\"]"},
}

UNBOUNDED = {
    "name": "unbounded",
    "variables": [{"name": "x", "domain": "integer", "lower": 0}, {"name": "y", "domain": "integer", "lower": 0}],
    "constraints": [{"name": "gap", "expr": "x - y <= 3"}],
    "objective": {"sense": "maximize", "expr": "x + y"},
}

# A label over integers with a gap: 3 <= s <= 7 leaves only the size 4.
SATISFACTION = {
    "name": "sizes",
    "sets": [{"name": "Sizes", "elements": [2, 4, 8]}],
    "variables": [{"name": "s", "domain": "labels", "labels": "Sizes"},
                  {"name": "n", "domain": "integer", "lower": 0, "upper": 10}],
    "constraints": [{"name": "window", "expr": "3 <= s <= 7"}, {"name": "link", "expr": "n == s + 1"}],
}

# a * b >= 36 with a + b smallest: a + b >= 2 sqrt(ab) = 12, reached only at a = b = 6.
NONLINEAR = {
    "name": "product",
    "variables": [{"name": "a", "domain": "integer", "lower": 1, "upper": 20},
                  {"name": "b", "domain": "integer", "lower": 1, "upper": 20}],
    "constraints": [{"name": "area", "expr": "a * b >= 36"}, {"name": "square", "expr": "(a - b)^2 <= 100"}],
    "objective": {"sense": "minimize", "expr": "a + b"},
}

CONTINUOUS = {
    "name": "lp",
    "variables": [{"name": "x", "domain": "continuous", "lower": 0}],
    "constraints": [{"name": "c", "expr": "x <= 4"}],
    "objective": {"sense": "maximize", "expr": "x"},
}


def golomb(marks: int, length: int) -> dict:
    """A Golomb ruler: hard enough that a fraction of a second proves nothing."""
    return {
        "name": "golomb",
        "sets": [{"name": "I", "elements": list(range(1, marks + 1))}],
        "variables": [{"name": "m", "index": ["I"], "domain": "integer", "lower": 0, "upper": length}],
        "constraints": [
            {"name": "first", "expr": "m[1] == 0"},
            {"name": "increasing", "forall": f"i in I where i < {marks}", "expr": "m[i] < m[i + 1]"},
            {"name": "distinct", "expr": "alldifferent(i in I, j in I where i < j)(m[j] - m[i])"},
        ],
        "objective": {"sense": "minimize", "expr": f"m[{marks}]"},
    }


# exists/forall inside an implication, a negated implication, a negated alldifferent and an iff.
QUANTIFIERS = {
    "name": "quantifiers",
    "sets": [{"name": "S", "elements": [1, 2, 3]}],
    "variables": [{"name": "x", "index": ["S"], "domain": "integer", "lower": 0, "upper": 4}],
    "constraints": [
        {"name": "c", "expr": "exists(i in S)(x[i] >= 3) -> forall(i in S)(x[i] >= 1)"},
        {"name": "d", "expr": "not (x[1] >= 2 -> x[2] >= 2)"},
        {"name": "e", "expr": "not alldifferent(i in S)(x[i]) or x[3] == 4"},
        {"name": "f", "expr": "(x[1] + x[2] >= 4) <-> not (x[3] <= 1)"},
    ],
    "objective": {"sense": "maximize", "expr": "x[1] - x[2] + 2 * x[3]"},
}


@pytest.mark.parametrize("sense", ["minimize", "maximize"])
def test_quantifiers_and_negations_match_brute_force(sense: str) -> None:
    model = compile_ir({**QUANTIFIERS, "objective": {**QUANTIFIERS["objective"], "sense": sense}})
    sign = 1 if sense == "maximize" else -1
    best = max(sign * r.objective for v in itertools.product(range(5), repeat=3)
               if (r := check_solution(model, {"x": {"1": v[0], "2": v[1], "3": v[2]}})).ok)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(sign * best)
    assert_checked(model, r)


# ----------------------------------------------------------------------------- tests

def test_production_plan_optimum() -> None:
    model = compile_ir(PRODUCTION)
    assert cpsat.unsupported(model) == []
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(20)
    assert r.values == {"make": {"x": 4, "y": 0}}
    assert r.solver == "cp-sat" and r.solver_version.startswith("9.")
    assert "OPTIMAL" in r.log_tail
    assert_checked(model, r)


def test_puzzle_has_its_unique_solution() -> None:
    model = compile_ir(PUZZLE)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.FEASIBLE
    assert r.values == PUZZLE_ANSWER
    assert_checked(model, r)
    other = {**PUZZLE, "constraints": PUZZLE["constraints"] + [
        {"name": "another", "expr": "not (color[\"Ann\"] == \"blue\" and color[\"Bob\"] == \"red\" and "
         "pet[\"Ann\"] == \"cat\" and pet[\"Bob\"] == \"fish\")"}]}
    r = cpsat.solve(compile_ir(other), time_limit=10)
    assert r.status == Status.INFEASIBLE and "another" in r.conflict and r.conflict_minimal


def brute_force_logic() -> float:
    model = compile_ir(LOGIC)
    best = None
    for x, y, b, z in itertools.product(range(-5, 6), range(-5, 6), (0, 1), (0, 1)):
        report = check_solution(model, {"x": x, "y": y, "b": b, "z": z})
        if report.ok and (best is None or report.objective > best):
            best = report.objective
    assert best is not None
    return best


def test_logic_abs_min_max_match_brute_force() -> None:
    model = compile_ir(LOGIC)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(brute_force_logic())
    assert_checked(model, r)


@pytest.mark.parametrize(("sense", "expected"), [
    ("maximize", {"p": True, "q": False, "x": 5}), ("minimize", {"p": False, "q": True, "x": 0})])
def test_boolean_variables(sense: str, expected: dict) -> None:
    # checked by hand: solvers.checker cannot evaluate Boolean variables under logic (they come back as 0/1)
    model = compile_ir({**BOOLEANS, "objective": {"sense": sense, "expr": "x"}})
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL and r.values == expected and r.objective == expected["x"]


def test_infeasible_gives_minimal_named_conflict() -> None:
    model = compile_ir(CONFLICT)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.INFEASIBLE
    assert r.conflict == ["need", "cap"]
    assert r.conflict_minimal is True
    assert r.conflict_detail[0].source == "At least 15 hours are needed."
    assert r.conflict_detail[1].instances == ["cap[mon]", "cap[tue]"]
    assert "QuickXplain" in r.conflict_method


def test_infeasible_without_explanation() -> None:
    r = cpsat.solve(compile_ir(CONFLICT), time_limit=10, explain=False)
    assert r.status == Status.INFEASIBLE and r.conflict == [] and r.conflict_minimal is None


def test_constant_false_instance_is_named_in_the_conflict() -> None:
    data = {"name": "const", "sets": [{"name": "S", "elements": [1, 2]}],
            "variables": [{"name": "x", "domain": "integer", "lower": 0, "upper": 5}],
            "constraints": [{"name": "fine", "expr": "x >= 1"},
                            {"name": "never", "forall": "i in S", "expr": "i >= 2"}]}
    r = cpsat.solve(compile_ir(data), time_limit=10)
    assert r.status == Status.INFEASIBLE
    assert r.conflict == ["never"] and r.conflict_detail[0].instances == ["never[1]"]


def test_unbounded_is_detected_past_the_artificial_bound() -> None:
    r = cpsat.solve(compile_ir(UNBOUNDED), time_limit=10)
    assert r.status == Status.UNBOUNDED and r.values == {} and "unbounded" in r.message
    minimize = {**UNBOUNDED, "objective": {"sense": "minimize", "expr": "y - 2 * x"}}
    assert cpsat.solve(compile_ir(minimize), time_limit=10).status == Status.UNBOUNDED


def test_optimum_beyond_the_artificial_bound_is_found() -> None:
    data = {"name": "far", "variables": [{"name": "x", "domain": "integer", "lower": 0}],
            "constraints": [{"name": "c", "expr": "x <= 5000000000"}],
            "objective": {"sense": "maximize", "expr": "x"}}
    model = compile_ir(data)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL and r.objective == 5_000_000_000
    assert_checked(model, r)
    # infeasible within the first artificial bound, feasible beyond it
    data = {**data, "constraints": [{"name": "c", "expr": "x >= 5000000000"}],
            "objective": {"sense": "minimize", "expr": "x"}}
    model = compile_ir(data)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL and r.objective == 5_000_000_000
    assert_checked(model, r)


def test_free_variable_on_the_bound_is_not_unbounded() -> None:
    # y is free and does not matter: wherever CP-SAT puts it, the optimum stays 3
    data = {"name": "free", "variables": [{"name": "x", "domain": "integer", "lower": 0},
                                          {"name": "y", "domain": "integer"}],
            "constraints": [{"name": "c", "expr": "x >= 3"}, {"name": "d", "expr": "y <= 7 or y >= 10"}],
            "objective": {"sense": "minimize", "expr": "x"}}
    model = compile_ir(data)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.OPTIMAL and r.objective == 3
    assert_checked(model, r)


def test_satisfaction_is_feasible_and_label_set_is_respected() -> None:
    model = compile_ir(SATISFACTION)
    r = cpsat.solve(model, time_limit=10)
    assert r.status == Status.FEASIBLE and r.objective is None
    assert r.values == {"s": 4, "n": 5}
    assert_checked(model, r)


def test_products_of_variables_are_supported() -> None:
    model = compile_ir(NONLINEAR)
    assert cpsat.unsupported(model) == []
    r = cpsat.solve(model, time_limit=20)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(12) and r.values == {"a": 6, "b": 6}
    assert_checked(model, r)


def test_continuous_and_division_are_unsupported() -> None:
    model = compile_ir(CONTINUOUS)
    assert cpsat.unsupported(model) == ["variable 'x' is continuous"]
    with pytest.raises(TargetUnsupported):
        solvers.solve(model, "cpsat", time_limit=5)
    assert cpsat.solve(model, time_limit=5).status == Status.ERROR
    division = {"name": "div", "variables": [{"name": "k", "domain": "integer", "lower": 0, "upper": 9}],
                "constraints": [{"name": "c", "expr": "k / 2 >= 1"}]}
    assert any("division is not integral" in r for r in cpsat.unsupported(compile_ir(division)))


def test_overflow_is_an_error_with_the_reason() -> None:
    data = {"name": "huge", "variables": [{"name": "x", "domain": "integer", "lower": 0}],
            "constraints": [{"name": "c", "expr": "10000000000000 * x >= 5"}],
            "objective": {"sense": "minimize", "expr": "x"}}
    r = cpsat.solve(compile_ir(data), time_limit=5)
    assert r.status == Status.ERROR and "overflow" in r.message


def test_through_the_registry_in_a_child_process() -> None:
    model = compile_ir(PRODUCTION)
    r = solvers.solve(model, "cpsat", time_limit=10)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(20) and r.target == "cpsat"
    assert_checked(model, r)
    infeasible = solvers.solve(compile_ir(CONFLICT), "cpsat", time_limit=10)
    assert infeasible.conflict == ["need", "cap"] and infeasible.conflict_minimal


def test_timeout_never_hangs() -> None:
    model = compile_ir(golomb(11, 80))
    t0 = time.perf_counter()
    r = solvers.solve(model, "cpsat", time_limit=0.5)
    assert time.perf_counter() - t0 < 10
    assert r.status in (Status.TIMEOUT, Status.FEASIBLE), r.message
    if r.status == Status.FEASIBLE:
        assert_checked(model, r)


def test_render_names_constraints_and_is_deterministic() -> None:
    model = compile_ir(CONFLICT)
    text = cpsat.render(model)
    assert text == cpsat.render(model)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "#   cap: 2" in header and "#   need: 1" in header and "#   some_work: 2" in header
    assert 'name: "cap[tue]"' in text and 'name: "work[mon]"' in text
