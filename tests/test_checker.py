"""The independent checker catches planted violations, by name and amount."""

from __future__ import annotations

import pytest

from formalizers.ir import parse_ir
from solvers.checker import check_solution

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
