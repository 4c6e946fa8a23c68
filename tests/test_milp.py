"""The MILP target against the real HiGHS: statuses, values, LP text and conflicts by IR name.

Expected objectives were worked out by hand (noted next to each model)."""

from __future__ import annotations

import copy
import random

import pytest

import solvers
from formalizers.ir import parse_ir
from formalizers.semantics import CompiledModel
from solvers import milp
from solvers.backend import TargetUnsupported
from solvers.checker import check_solution
from solvers.result import SolveResult, Status


def compile_ir(data: dict) -> CompiledModel:
    return parse_ir(data).compile()


def solve(data: dict, **kw) -> SolveResult:
    return milp.solve(compile_ir(data), time_limit=kw.pop("time_limit", 20.0), **kw)


def assert_checked(data: dict, result: SolveResult) -> None:
    report = check_solution(compile_ir(data), result.values, claimed_objective=result.objective)
    assert report.ok, report.describe()


# max 3x + 2y, x + y <= 4, x + 3y <= 6, x <= 3: vertices (0,0) (3,0) (3,1) (1.5,1.5) (0,2);
# objective 0, 9, 11, 7.5, 4 -> optimum 11 at (3, 1).
LP = {
    "name": "lp",
    "variables": [{"name": "x", "lower": 0}, {"name": "y", "lower": 0}],
    "constraints": [
        {"name": "total", "label": "total", "expr": "x + y <= 4"},
        {"name": "mix", "expr": "x + 3 * y <= 6"},
        {"name": "cap_x", "expr": "x <= 3"},
    ],
    "objective": {"sense": "maximize", "expr": "3 * x + 2 * y"},
}

# 2c + 5t <= 40, c, t >= 2 integer, max 30c + 50t: t = 2 -> c = 15 -> 550; t = 3 -> c = 12 -> 510;
# t = 4 -> c = 10 -> 500; each extra t costs 2.5 chairs (75) for 50. Optimum 550 at (15, 2).
# The inventory balance (inv[t] = inv[t-1] + 1) is a feasible side constraint without objective.
FURNITURE = {
    "name": "furniture",
    "sets": [{"name": "Products", "elements": ["chair", "table"]}, {"name": "T", "elements": [1, 2, 3]}],
    "parameters": [
        {"name": "profit", "index": ["Products"], "value": {"chair": 30, "table": 50}},
        {"name": "wood_use", "index": ["Products"], "value": [2, 5]},
        {"name": "wood_stock", "value": 40},
    ],
    "variables": [
        {"name": "make", "index": ["Products"], "domain": "integer", "lower": 0},
        {"name": "inv", "index": ["T"], "domain": "continuous", "lower": 0},
        {"name": "open", "domain": "binary"},
    ],
    "constraints": [
        {"name": "wood", "label": "wood available", "source": "There are 40 units of wood.",
         "expr": "sum(p in Products)(wood_use[p] * make[p]) <= wood_stock"},
        {"name": "min_make", "forall": "p in Products", "expr": "make[p] >= 2"},
        {"name": "balance", "forall": "t in T where t > 1", "expr": "inv[t] == inv[t-1] + 1"},
    ],
    "objective": {"sense": "maximize", "expr": "sum(p in Products)(profit[p] * make[p])"},
}


def test_lp_optimum_by_hand() -> None:
    r = solve(LP)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(11)
    assert r.values["x"] == pytest.approx(3) and r.values["y"] == pytest.approx(1)
    assert r.solver == "highs" and r.solver_version == "1.12.0"
    assert {"build", "solve"} <= set(r.timings) and r.seconds > 0
    assert "Optimal" in r.log_tail
    assert_checked(LP, r)


def test_milp_optimum_by_hand() -> None:
    r = solve(FURNITURE)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(550)
    assert r.values["make"] == {"chair": 15, "table": 2}
    assert r.values["inv"]["3"] == pytest.approx(r.values["inv"]["1"] + 2)
    assert r.values["open"] in (0, 1)  # in no row: given a value within its domain anyway
    assert_checked(FURNITURE, r)


def test_milp_integrality_matters() -> None:
    # 2x + 2y <= 5 over the integers: the LP relaxation gives 2.5, the MILP 2.
    data = {"name": "round", "variables": [{"name": "x", "domain": "integer", "lower": 0},
                                           {"name": "y", "domain": "integer", "lower": 0}],
            "constraints": [{"name": "half", "expr": "2 * x + 2 * y <= 5"}],
            "objective": {"sense": "maximize", "expr": "x + y"}}
    r = solve(data)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(2)
    assert_checked(data, r)


def test_minimize_with_chain_and_conjunction() -> None:
    # 1 <= x[i] <= 4 and x[i] + x[j] >= 3 for i < j, min sum: x = (1, 2, 2)-like, sum(x) >= 4.5 -> with
    # three pairs summing to >= 9 over pairs each counted twice: 2 sum >= 9, sum = 4.5 (x = 1.5 each).
    data = {"name": "chain", "sets": [{"name": "I", "elements": [1, 2, 3]}],
            "variables": [{"name": "x", "index": ["I"]}],
            "constraints": [
                {"name": "range", "forall": "i in I", "expr": "1 <= x[i] <= 4"},
                {"name": "pairs", "forall": "i, j in I where i < j", "expr": "x[i] + x[j] >= 3 and x[i] >= 0"},
            ],
            "objective": {"sense": "minimize", "expr": "sum(i in I)(x[i])"}}
    r = solve(data)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(4.5)
    assert_checked(data, r)
    text = milp.render(compile_ir(data))
    assert "range(1_1)" in text and "range(1_2)" in text  # two rows share key 1: numbered


def test_no_objective_is_feasible() -> None:
    data = copy.deepcopy(FURNITURE)
    data["objective"] = None
    r = solve(data)
    assert r.status == Status.FEASIBLE and r.objective is None
    assert_checked(data, r)


def test_everything_folds_away() -> None:
    data = {"name": "empty", "variables": [{"name": "x", "domain": "integer", "lower": 2, "upper": 5}],
            "constraints": [{"name": "trivial", "expr": "1 <= 2"}],
            "objective": {"sense": "minimize", "expr": "7"}}
    r = solve(data)
    assert r.status == Status.OPTIMAL and r.objective == 7 and r.values == {"x": 2}


def test_integer_labels_with_gaps() -> None:
    # w[i] takes one of 1, 3, 7 and must lie in [2, 6]: only 3; total = 6.
    data = {"name": "odd", "sets": [{"name": "Odd", "elements": [1, 3, 7]}, {"name": "I", "elements": ["a", "b"]}],
            "variables": [{"name": "w", "index": ["I"], "domain": "labels", "labels": "Odd"},
                          {"name": "total"}],
            "constraints": [{"name": "band", "forall": "i in I", "expr": "2 <= w[i] <= 6"},
                            {"name": "sum_w", "expr": "total == sum(i in I)(w[i])"}],
            "objective": {"sense": "maximize", "expr": "total"}}
    r = solve(data)
    assert r.status == Status.OPTIMAL and r.values["w"] == {"a": 3, "b": 3} and r.objective == 6
    assert_checked(data, r)
    data["constraints"][0]["expr"] = "4 <= w[i] <= 6"  # no element of Odd there
    r = solve(data)
    assert r.status == Status.INFEASIBLE and r.conflict == ["band"] and r.conflict_minimal


def test_reserved_pyomo_names() -> None:
    # "name", "doc", "model" are reserved on a Pyomo block and "write" is a method of it.
    data = {"name": "reserved", "variables": [{"name": "model", "lower": 0}, {"name": "write", "lower": 0}],
            "constraints": [{"name": "name", "expr": "model + write <= 3"},
                            {"name": "doc", "expr": "model >= 1"}],
            "objective": {"sense": "maximize", "expr": "model + 2 * write"}}
    r = solve(data)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(5)  # model 1, write 2
    text = milp.render(compile_ir(data))
    assert "name" in text and "doc" in text


def test_render_lp_text() -> None:
    text = milp.render(compile_ir(FURNITURE))
    assert text.startswith("\\ modelwright MILP model 'furniture'")
    for name in ("wood", "min_make", "balance"):
        assert name in text
    assert "make(chair)" in text and "max" in text and "general" in text
    assert solvers.render(compile_ir(FURNITURE), "milp") == text


# ------------------------------------------------------------------ infeasibility

INFEASIBLE_LP = {
    "name": "short",
    "variables": [{"name": "x", "lower": 0}, {"name": "y", "lower": 0}, {"name": "z", "lower": 0}],
    "constraints": [
        {"name": "demand", "label": "meet demand", "source": "At least 10 units are needed.",
         "expr": "x + y >= 10"},
        {"name": "cap_x", "expr": "x <= 3"},
        {"name": "cap_y", "expr": "y <= 4"},
        {"name": "spread", "expr": "x - y <= 100"},  # harmless
        {"name": "z_cap", "expr": "z <= 5"},  # harmless
    ],
    "objective": {"sense": "minimize", "expr": "x + y + z"},
}


def test_infeasible_lp_iis() -> None:
    r = solve(INFEASIBLE_LP)
    assert r.status == Status.INFEASIBLE
    assert r.conflict == ["demand", "cap_x", "cap_y"]
    assert r.conflict_method == "highs-iis" and r.conflict_minimal is True
    detail = {c.name: c for c in r.conflict_detail}
    assert detail["demand"].label == "meet demand" and detail["demand"].source.startswith("At least")
    assert "explain" in r.timings


def test_infeasible_lp_with_variable_bounds() -> None:
    data = {"name": "neg", "variables": [{"name": "x", "lower": 0}, {"name": "y", "lower": 0}],
            "constraints": [{"name": "negative", "expr": "x + y <= -1"}, {"name": "ok", "expr": "x <= 9"}]}
    r = solve(data)
    assert r.status == Status.INFEASIBLE and r.conflict_minimal
    assert r.conflict == ["negative"]  # IR constraints only; the bounds the IIS used are listed apart
    assert r.conflict_bounds == ["bounds of x", "bounds of y"]


def test_infeasible_indexed_instances() -> None:
    data = copy.deepcopy(FURNITURE)
    data["constraints"].append({"name": "many_chairs", "expr": "make[\"chair\"] >= 20"})
    r = solve(data)
    assert r.status == Status.INFEASIBLE
    assert r.conflict == ["wood", "min_make", "many_chairs"] and r.conflict_minimal
    assert {c.name: c.instances for c in r.conflict_detail}["min_make"] == ["min_make[table]"]


def test_infeasible_milp_with_feasible_relaxation() -> None:
    # x integer in [0.5, 0.7]: the LP relaxation (x = 0.6) is feasible, so there is no LP IIS.
    data = {"name": "gap", "variables": [{"name": "x", "domain": "integer"}, {"name": "y", "lower": 0}],
            "constraints": [{"name": "lo", "expr": "x >= 0.5"}, {"name": "hi", "expr": "x <= 0.7"},
                            {"name": "link", "expr": "y >= x"}, {"name": "cap", "expr": "y <= 5"}],
            "objective": {"sense": "maximize", "expr": "y"}}
    r = solve(data)
    assert r.status == Status.INFEASIBLE
    assert r.conflict == ["lo", "hi"]
    assert r.conflict_method == "quickxplain" and r.conflict_minimal is True


def test_constant_false_instance() -> None:
    data = copy.deepcopy(LP)
    data["parameters"] = [{"name": "budget", "value": 5}]
    data["constraints"].append({"name": "silly", "expr": "budget >= 6"})
    r = solve(data)
    assert r.status == Status.INFEASIBLE and r.conflict == ["silly"] and r.conflict_method == "constant"


def test_explain_false_gives_no_conflict() -> None:
    r = solve(INFEASIBLE_LP, explain=False)
    assert r.status == Status.INFEASIBLE and r.conflict == [] and "explain" not in r.timings


def test_unbounded() -> None:
    data = {"name": "open", "variables": [{"name": "x", "lower": 0}, {"name": "y", "lower": 0}],
            "constraints": [{"name": "diff", "expr": "x - y <= 1"}],
            "objective": {"sense": "maximize", "expr": "x + y"}}
    assert solve(data).status == Status.UNBOUNDED
    for v in data["variables"]:
        v["domain"] = "integer"
    assert solve(data).status == Status.UNBOUNDED


def test_infeasible_with_unbounded_direction() -> None:
    # max x with x >= 5 and x <= 3: infeasible, though the objective also points to infinity.
    data = {"name": "both", "variables": [{"name": "x"}, {"name": "y"}],
            "constraints": [{"name": "low", "expr": "x >= 5"}, {"name": "high", "expr": "x <= 3"}],
            "objective": {"sense": "maximize", "expr": "x + y"}}
    r = solve(data)
    assert r.status == Status.INFEASIBLE and r.conflict == ["low", "high"]


# ------------------------------------------------------------------ not linear

def test_nonlinear_models_are_unsupported(furniture_ir: dict) -> None:
    logical = compile_ir(furniture_ir)  # has an implication
    assert milp.unsupported(logical)
    with pytest.raises(TargetUnsupported):
        solvers.solve(logical, "milp")
    product = compile_ir({"name": "prod", "variables": [{"name": "x"}, {"name": "y"}],
                          "constraints": [{"name": "p", "expr": "x * y >= 1"}]})
    assert any("product" in r for r in milp.unsupported(product))
    strings = compile_ir({"name": "s", "sets": [{"name": "C", "elements": ["red", "blue"]}],
                          "variables": [{"name": "c", "domain": "labels", "labels": "C"}],
                          "constraints": [{"name": "k", "expr": "c == \"red\""}]})
    assert milp.unsupported(strings)


# ------------------------------------------------------------------ larger generated models

def generated_rows(n_rows: int = 200, n_vars: int = 60, seed: int = 1) -> dict:
    """cap[r]: random sparse rows over x in [0, 10]; need: sum(x) >= 200 cannot hold with them."""
    rng = random.Random(seed)
    cols, rows = list(range(1, n_vars + 1)), list(range(1, n_rows + 1))
    a = {str(r): {str(j): (rng.randint(1, 9) if rng.random() < 0.1 else 0) for j in cols} for r in rows}
    b = {str(r): rng.randint(20, 60) for r in rows}
    return {
        "name": "generated", "sets": [{"name": "J", "elements": cols}, {"name": "R", "elements": rows}],
        "parameters": [{"name": "a", "index": ["R", "J"], "value": a}, {"name": "b", "index": ["R"], "value": b}],
        "variables": [{"name": "x", "index": ["J"], "lower": 0, "upper": 10}],
        "constraints": [{"name": "cap", "forall": "r in R", "expr": "sum(j in J)(a[r, j] * x[j]) <= b[r]"},
                        {"name": "need", "expr": "sum(j in J)(x[j]) >= 200"}],
        "objective": {"sense": "maximize", "expr": "sum(j in J)(x[j])"},
    }


def generated_named(n: int = 200, seed: int = 2) -> dict:
    """n separately named harmless rows plus a three-constraint conflict hidden among them."""
    rng = random.Random(seed)
    cons = [{"name": f"r{i}", "expr": f"x[{rng.randint(1, 50)}] - {rng.randint(1, 3)} * x[{rng.randint(1, 50)}] "
             f"<= {rng.randint(10, 30)}"} for i in range(1, n - 2)]
    at = rng.randint(0, len(cons))
    cons[at:at] = [{"name": "k_need", "expr": "x[7] + x[8] >= 15"}, {"name": "k_cap7", "expr": "x[7] <= 5"}]
    cons.append({"name": "k_cap8", "expr": "x[8] <= 5"})
    return {"name": "named", "sets": [{"name": "J", "elements": list(range(1, 51))}],
            "variables": [{"name": "x", "index": ["J"], "lower": 0, "upper": 10}], "constraints": cons,
            "objective": {"sense": "maximize", "expr": "sum(j in J)(x[j])"}}


def only(data: dict, names: list[str]) -> dict:
    out = copy.deepcopy(data)
    out["constraints"] = [c for c in out["constraints"] if c["name"] in names]
    return out


def test_generated_200_named_constraints() -> None:
    data = generated_named()
    assert len(data["constraints"]) == 200
    r = solve(data)
    assert r.status == Status.INFEASIBLE
    assert r.conflict == ["k_need", "k_cap7", "k_cap8"] and r.conflict_minimal


def test_generated_200_row_conflict_is_correct() -> None:
    data = generated_rows()
    r = solve(data)
    assert r.status == Status.INFEASIBLE and r.conflict_minimal is True
    names = r.conflict
    assert all(b.startswith("bounds of x[") for b in r.conflict_bounds)
    assert "need" in names and set(names) <= {"cap", "need"}
    assert solve(only(data, names), explain=False).status == Status.INFEASIBLE  # the core is infeasible
    for dropped in names:  # and minimal at the IR-name level
        assert solve(only(data, [n for n in names if n != dropped]), explain=False).status.has_solution
    # The listed instances alone (not all 200 caps) are infeasible too.
    caps = {c.name: c.instances for c in r.conflict_detail}["cap"]
    assert 0 < len(caps) < 200
    data["constraints"][0]["forall"] = "r in R where " + " or ".join(
        f"r == {lab[4:-1]}" for lab in caps)
    assert solve(data, explain=False).status == Status.INFEASIBLE


# ------------------------------------------------------------------ through the registry

def test_solve_through_registry_isolated() -> None:
    model = compile_ir(FURNITURE)
    r = solvers.solve(model, "milp", time_limit=20)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(550) and r.target == "milp"
    assert_checked(FURNITURE, r)
    assert solvers.choose_target(model) == "milp"
    bad = solvers.solve(compile_ir(INFEASIBLE_LP), "milp", time_limit=20)
    assert bad.status == Status.INFEASIBLE and bad.conflict == ["demand", "cap_x", "cap_y"]


# ------------------------------------------------------------------ time limits

def big_grounding(rows: int = 3000, cols: int = 100) -> dict:
    """rows x cols terms with no data table: grounding takes about a second."""
    return {"name": "big", "sets": [{"name": "J", "elements": list(range(1, cols + 1))}],
            "parameters": [{"name": "n", "value": rows}],
            "variables": [{"name": "x", "index": ["J"], "lower": 0, "upper": 1}],
            "constraints": [{"name": "cap", "forall": "r in 1..n", "expr": "sum(j in J)(x[j]) <= r + 50"}],
            "objective": {"sense": "maximize", "expr": "sum(j in J)(x[j])"}}


def test_grounding_stops_at_the_time_limit() -> None:
    import time

    model = compile_ir(big_grounding())
    t0 = time.perf_counter()
    r = milp.solve(model, time_limit=0.05, explain=False)
    assert r.status == Status.TIMEOUT and "grounding stopped" in r.message
    assert time.perf_counter() - t0 < 1.0


def test_in_process_only_for_moderate_groundings() -> None:
    assert milp.stops_at_limit(compile_ir(FURNITURE))
    big = compile_ir(big_grounding())
    assert milp.estimated_terms(big) > milp.IN_PROCESS_MAX_TERMS and not milp.stops_at_limit(big)
    r = solvers.solve(big, "milp", time_limit=0.05, explain=False)  # in a forked child, hard-limited
    assert r.status == Status.TIMEOUT


def test_explanation_runs_in_a_killed_on_timeout_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process solve decides infeasibility; the explanation's re-solve goes to a forked child
    (limits.call_with_hard_limit), whose result replaces the first one."""
    from solvers import limits

    calls = []
    real = limits.call_with_hard_limit

    def spy(fn, *args, seconds, **kwargs):  # noqa: ANN001, ANN202 - a pass-through
        calls.append((fn.__module__, kwargs.get("explain"), seconds))
        return real(fn, *args, seconds=seconds, **kwargs)

    monkeypatch.setattr(solvers, "call_with_hard_limit", spy)
    feasible = solvers.solve(compile_ir(LP), "milp", time_limit=5)
    assert feasible.status == Status.OPTIMAL and calls == []
    bad = solvers.solve(compile_ir(INFEASIBLE_LP), "milp", time_limit=5)
    assert bad.status == Status.INFEASIBLE and bad.conflict == ["demand", "cap_x", "cap_y"]
    assert calls == [("solvers.milp", True, 5 * 3 + 5)]
