"""The MiniZinc target against the real binaries: Debian's minizinc (Gecode) and the npm WebAssembly
MiniZinc (HiGHS) for continuous models. Optima are computed by hand or by enumeration here, and every
solution goes through the independent checker."""

from __future__ import annotations

import itertools
import shutil
import time
from typing import Any

import pytest

from formalizers.ir import parse_ir
from formalizers.semantics import CompiledModel
from solvers import minizinc as mz
from solvers.checker import check_solution
from solvers.result import SolveResult, Status

pytestmark = pytest.mark.skipif(shutil.which("minizinc") is None,
                                reason="the minizinc binary is not installed (apt-get install minizinc)")

needs_wasm = pytest.mark.skipif(
    not mz.wasm_available(),
    reason=f"the WebAssembly MiniZinc (HiGHS) is not installed: {mz.WASM_INSTALL}")


def compile_ir(data: dict[str, Any]) -> CompiledModel:
    return parse_ir(data).compile()


def solved(model: CompiledModel, *, time_limit: float = 20.0, explain: bool = True) -> SolveResult:
    """Solve, and check that any solution satisfies the IR and its claimed objective."""
    text = mz.render(model)
    for c in model.constraints:
        assert f'"{c.name}"' in text
    result = mz.solve(model, time_limit=time_limit, explain=explain)
    assert result.target == "minizinc"
    if result.status.has_solution:
        report = check_solution(model, result.values, claimed_objective=result.objective)
        assert report.ok, report.describe()
    return result


PRODUCTION = {
    "name": "furniture",
    "sets": [{"name": "Products", "elements": ["chair", "table"]}],
    "parameters": [
        {"name": "profit", "index": ["Products"], "value": {"chair": 30, "table": 50}},
        {"name": "wood_use", "index": ["Products"], "value": [2, 5]},
        {"name": "labour_use", "index": ["Products"], "value": [3, 2]},
        {"name": "wood_stock", "value": 40},
        {"name": "labour_hours", "value": 30},
    ],
    "variables": [{"name": "make", "index": ["Products"], "domain": "integer", "lower": 0}],
    "constraints": [
        {"name": "wood", "label": "wood available", "source": "There are 40 board-feet of wood.",
         "expr": "sum(p in Products)(wood_use[p] * make[p]) <= wood_stock"},
        {"name": "labour", "expr": "sum(p in Products)(labour_use[p] * make[p]) <= labour_hours"},
    ],
    "objective": {"sense": "maximize", "expr": "sum(p in Products)(profit[p] * make[p])"},
}


def test_integer_production_plan() -> None:
    model = compile_ir(PRODUCTION)
    text = mz.render(model)
    assert "enum Products = {chair, table};" in text
    assert 'constraint :: "wood"' in text and "% wood available — There are 40" in text
    result = solved(model)
    assert result.status == Status.OPTIMAL
    # 30c + 50t with 2c + 5t <= 40, 3c + 2t <= 30: the LP vertex (6.4, 5.5) rounds to (5, 6) -> 450.
    assert result.objective == pytest.approx(450)
    assert result.values == {"make": {"chair": 5, "table": 6}}
    # A pure integer program goes to HiGHS when the WebAssembly MiniZinc is there, else to Gecode.
    if mz.wasm_available():
        assert result.solver == "highs (wasm)" and "HiGHS 1." in result.solver_version
    else:
        assert result.solver == "gecode (native)" and "Gecode" in result.solver_version


def test_integer_program_with_logic_goes_to_gecode() -> None:
    data = dict(PRODUCTION, constraints=PRODUCTION["constraints"] + [
        {"name": "some_tables", "expr": "make[\"chair\"] >= 5 -> make[\"table\"] >= 1"}])
    result = solved(compile_ir(data))
    assert result.status == Status.OPTIMAL and result.objective == pytest.approx(450)
    assert result.solver == "gecode (native)" and "MiniZinc 2.6" in result.solver_version


@needs_wasm
def test_continuous_lp_goes_to_highs() -> None:
    model = compile_ir({
        "name": "paint",
        "parameters": [{"name": "cap", "value": 24.0}],
        "variables": [{"name": "x", "lower": 0}, {"name": "y", "lower": 0}],
        "constraints": [
            {"name": "m1", "expr": "6 * x + 4 * y <= cap"},
            {"name": "m2", "expr": "x + 2 * y < 6"},  # strict on continuous: means <=
            {"name": "demand", "expr": "-x + y <= 1"},
            {"name": "limit", "expr": "y <= 2"},
        ],
        "objective": {"sense": "max", "expr": "5 * x + 4 * y"},
    })
    assert "x + 2 * y <= 6" in mz.render(model)
    result = solved(model)
    assert result.status == Status.OPTIMAL and result.solver == "highs (wasm)"
    # The vertex of 6x + 4y = 24 and x + 2y = 6: x = 3, y = 1.5, 5x + 4y = 21.
    assert result.objective == pytest.approx(21, abs=1e-6)
    assert result.values["x"] == pytest.approx(3, abs=1e-6)
    assert result.values["y"] == pytest.approx(1.5, abs=1e-6)
    assert "HiGHS" in result.solver_version


def test_transportation_with_a_two_dimensional_parameter() -> None:
    model = compile_ir({
        "name": "transport",
        "sets": [{"name": "S", "elements": ["north", "south"]},
                 {"name": "D", "elements": ["d1", "d2", "d3"]}],
        "parameters": [
            {"name": "supply", "index": ["S"], "value": [20, 30]},
            {"name": "demand", "index": ["D"], "value": [10, 25, 15]},
            {"name": "cost", "index": ["S", "D"], "value": {"north": {"d1": 8, "d2": 6, "d3": 10},
                                                             "south": {"d1": 9, "d2": 12, "d3": 13}}},
        ],
        "variables": [{"name": "ship", "index": ["S", "D"], "domain": "integer", "lower": 0, "upper": 40}],
        "constraints": [
            {"name": "supply_used", "forall": "s in S", "expr": "sum(d in D)(ship[s, d]) == supply[s]"},
            {"name": "demand_met", "forall": "d in D", "expr": "sum(s in S)(ship[s, d]) >= demand[d]"},
        ],
        "objective": {"sense": "minimize", "expr": "sum(s in S, d in D)(cost[s, d] * ship[s, d])"},
    })
    text = mz.render(model)
    assert "array[S, D] of int: cost =" in text and "| north: 8, 6, 10" in text
    result = solved(model)
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(465)  # enumerated over the two free shipments
    assert set(result.values["ship"]) == {"north", "south"}


PUZZLE = {
    "name": "houses",
    "sets": [{"name": "Houses", "elements": [1, 2, 3]},
             {"name": "Colors", "elements": ["red", "green", "light blue"]},
             {"name": "Pets", "elements": ["dog", "cat", "fish"]}],
    "variables": [
        {"name": "color", "index": ["Houses"], "domain": "labels", "labels": "Colors"},
        {"name": "pet", "index": ["Houses"], "domain": "labels", "labels": "Pets"},
        {"name": "fish_house", "domain": "labels", "labels": "Houses"},
    ],
    "constraints": [
        {"name": "colors_differ", "expr": "alldifferent(color)"},
        {"name": "pets_differ", "expr": "alldifferent(h in Houses)(pet[h])"},
        {"name": "red_first", "expr": "color[1] == \"red\""},
        {"name": "fish_blue", "forall": "h in Houses",
         "expr": "color[h] == \"light blue\" <-> pet[h] == \"fish\""},
        {"name": "no_cat_first", "expr": "pet[1] != \"cat\""},
        {"name": "green_not_middle", "expr": "color[2] != \"green\""},
        {"name": "cat_after", "forall": "h in Houses where h > 1",
         "expr": "pet[h] == \"cat\" -> color[h - 1] != \"red\""},
        {"name": "where_fish", "forall": "h in Houses", "expr": "pet[h] == \"fish\" <-> fish_house == h"},
    ],
}


def test_logic_grid_puzzle_with_string_labels_has_one_solution() -> None:
    model = compile_ir(PUZZLE)
    text = mz.render(model)
    assert "enum Colors = {red, green, 'light blue'};" in text
    assert "alldifferent(color)" in text and "forall(h in Houses where h > 1)" in text
    result = solved(model)
    assert result.status == Status.FEASIBLE
    assert result.values == {"color": {"1": "red", "2": "light blue", "3": "green"},
                             "pet": {"1": "dog", "2": "fish", "3": "cat"}, "fish_house": 2}
    # No second solution: excluding this one leaves the puzzle infeasible.
    other = dict(PUZZLE, constraints=PUZZLE["constraints"] + [
        {"name": "another", "expr": "color[2] != \"light blue\" or pet[1] != \"dog\""}])
    assert solved(compile_ir(other), explain=False).status == Status.INFEASIBLE


def test_lagged_index_with_where_filter() -> None:
    model = compile_ir({
        "name": "inventory",
        "sets": [{"name": "T", "elements": [1, 2, 3, 4]}],
        "parameters": [{"name": "demand", "index": ["T"], "value": [3, 5, 2, 4]},
                       {"name": "unit_cost", "index": ["T"], "value": [1, 3, 2, 5]}],
        "variables": [
            {"name": "prod", "index": ["T"], "domain": "integer", "lower": 0, "upper": 4},
            {"name": "inv", "index": ["T"], "domain": "integer", "lower": 0},
        ],
        "constraints": [
            {"name": "first", "expr": "inv[1] == prod[1] - demand[1]"},
            {"name": "balance", "forall": "t in T where t > 1",
             "expr": "inv[t] == inv[t-1] + prod[t] - demand[t]"},
        ],
        "objective": {"sense": "min", "expr": "sum(t in T)(unit_cost[t] * prod[t] + inv[t])"},
    })
    assert "inv[t] = inv[t - 1] + prod[t] - demand[t]" in mz.render(model)
    result = solved(model)
    assert result.status == Status.OPTIMAL
    best = min(sum(c * p for c, p in zip([1, 3, 2, 5], ps, strict=True)) + sum(invs)
               for ps in itertools.product(range(5), repeat=4)
               for invs in [list(itertools.accumulate(p - d for p, d in zip(ps, [3, 5, 2, 4], strict=True)))]
               if min(invs) >= 0)
    assert best == 37
    assert result.objective == pytest.approx(best)


def test_non_contiguous_integer_set_indexes_padded_arrays() -> None:
    model = compile_ir({
        "name": "years",
        "sets": [{"name": "Y", "elements": [2020, 2022, 2025]}],
        "parameters": [{"name": "cap", "index": ["Y"], "value": [4, 6, 9]}],
        "variables": [{"name": "build", "index": ["Y"], "domain": "integer", "lower": 0}],
        "constraints": [
            {"name": "cap_ok", "forall": "y in Y", "expr": "build[y] <= cap[y]"},
            {"name": "grow", "forall": "y in Y where y > 2020", "expr": "build[y] >= build[2020] + 1"},
            {"name": "all_differ", "expr": "alldifferent(build)"},
        ],
        "objective": {"sense": "max", "expr": "sum(y in Y)(build[y]) - 2 * build[2022]"},
    })
    text = mz.render(model)
    assert "set of int: Y = {2020, 2022, 2025};" in text and "array[2020..2025] of int: cap" in text
    result = solved(model)
    assert result.status == Status.OPTIMAL
    # build[2020] = 0, build[2022] = 1 (>= 1, cheapest), build[2025] = 9: 0 + 1 + 9 - 2 = 8.
    assert result.objective == pytest.approx(8)
    assert result.values == {"build": {"2020": 0, "2022": 1, "2025": 9}}


def test_implications_abs_min_max() -> None:
    model = compile_ir({
        "name": "logic",
        "variables": [
            {"name": "x", "domain": "integer", "lower": -5, "upper": 5},
            {"name": "y", "domain": "integer", "lower": -5, "upper": 5},
            {"name": "b", "domain": "binary"},
            {"name": "z", "domain": "binary"},
        ],
        "constraints": [
            {"name": "when_b", "expr": "b == 1 -> x >= 3"},
            {"name": "when_not_b", "expr": "not (b == 1) -> y <= -2"},
            {"name": "close", "expr": "abs(x - y) <= 4"},
            {"name": "top", "expr": "max(x, y) >= 2 or z == 1"},
            {"name": "bottom", "expr": "min(x, y, 0) <= -1"},
            {"name": "strict", "expr": "x + y < 5"},
            {"name": "flag", "expr": "z == 1 <-> x > y"},
        ],
        "objective": {"sense": "maximize", "expr": "3 * x + 2 * y - 4 * z + x^2"},
    })
    assert "x * x" in mz.render(model)
    result = solved(model)
    assert result.status == Status.OPTIMAL
    best = None
    for x, y, b, z in itertools.product(range(-5, 6), range(-5, 6), (0, 1), (0, 1)):
        ok = ((not b or x >= 3) and (b or y <= -2) and abs(x - y) <= 4 and (max(x, y) >= 2 or z == 1)
              and min(x, y, 0) <= -1 and x + y <= 4 and ((z == 1) == (x > y)))
        if ok:
            value = 3 * x + 2 * y - 4 * z + x * x
            best = value if best is None else max(best, value)
    assert result.objective == pytest.approx(best)


def test_boolean_variables_in_logic() -> None:
    model = compile_ir({
        "name": "switches",
        "sets": [{"name": "S", "elements": ["a", "b", "c"]}],
        "variables": [{"name": "on", "index": ["S"], "domain": "boolean"},
                      {"name": "n", "domain": "integer", "lower": 0, "upper": 3}],
        "constraints": [
            {"name": "a_or_b", "expr": "on[\"a\"] or on[\"b\"]"},
            {"name": "not_both", "expr": "not (on[\"a\"] and on[\"b\"])"},
            {"name": "c_follows", "expr": "on[\"c\"] == on[\"a\"]"},
            {"name": "count", "expr": "exists(s in S)(on[s]) -> n >= 2"},
        ],
        "objective": {"sense": "min", "expr": "n"},
    })
    result = mz.solve(model, time_limit=10)
    # (solvers/checker.py cannot evaluate boolean variables yet: it hands them to `not` as 0/1.)
    assert result.status == Status.OPTIMAL and result.objective == 2
    on = result.values["on"]
    assert all(isinstance(v, bool) for v in on.values())
    assert (on["a"] or on["b"]) and not (on["a"] and on["b"]) and on["c"] == on["a"]


def test_infeasible_model_gives_the_minimal_conflict() -> None:
    model = compile_ir({
        "name": "clash",
        "sets": [{"name": "I", "elements": ["a", "b"]}],
        "variables": [{"name": "x", "domain": "integer", "lower": 0, "upper": 10},
                      {"name": "y", "domain": "integer", "lower": 0, "upper": 10},
                      {"name": "w", "index": ["I"], "domain": "integer", "lower": 0, "upper": 3}],
        "constraints": [
            {"name": "pos_x", "label": "some x", "expr": "x >= 1"},
            {"name": "total", "label": "at least 15 in all", "source": "Make at least 15.",
             "expr": "x + y >= 15"},
            {"name": "w_sum", "forall": "i in I", "expr": "w[i] <= x"},
            {"name": "cap_x", "label": "x capacity", "expr": "x <= 5"},
            {"name": "not_three", "expr": "y != 3"},
            {"name": "cap_y", "label": "y capacity", "expr": "y <= 6"},
        ],
        "objective": {"sense": "max", "expr": "x + sum(i in I)(w[i])"},
    })
    result = solved(model)
    assert result.status == Status.INFEASIBLE
    assert result.conflict == ["total", "cap_x", "cap_y"]
    assert result.conflict_method == "quickxplain" and result.conflict_minimal is True
    assert [c.label for c in result.conflict_detail] == ["at least 15 in all", "x capacity", "y capacity"]
    assert result.conflict_detail[0].source == "Make at least 15."


@needs_wasm
@pytest.mark.slow
def test_continuous_infeasible_conflict_through_highs() -> None:
    model = compile_ir({
        "name": "blend",
        "variables": [{"name": "a", "lower": 0}, {"name": "b", "lower": 0}],
        "constraints": [
            {"name": "mix", "expr": "a + b == 1"},
            {"name": "harmless", "expr": "a <= 0.9"},
            {"name": "much_b", "expr": "b >= 0.75"},
            {"name": "much_a", "expr": "a >= 0.5"},
        ],
        "objective": {"sense": "min", "expr": "2.5 * a + b"},
    })
    result = solved(model)
    assert result.status == Status.INFEASIBLE and result.solver == "highs (wasm)"
    assert result.conflict == ["mix", "much_b", "much_a"] and result.conflict_minimal is True


@needs_wasm
def test_logic_on_unbounded_continuous_model_gets_artificial_bounds() -> None:
    model = compile_ir({
        "name": "open_or_not",
        "variables": [{"name": "make", "domain": "integer", "lower": 0},
                      {"name": "stock", "lower": 0},
                      {"name": "open", "domain": "binary"}],
        "constraints": [
            {"name": "wood", "expr": "2 * make + 0.5 * stock <= 40"},
            {"name": "opened", "expr": "open == 1 -> make >= 3"},
            {"name": "stock_min", "expr": "stock >= 1.5"},
        ],
        "objective": {"sense": "maximize", "expr": "30 * make + 1.5 * stock + open"},
    })
    result = solved(model)
    # make = 19, stock = 4 (2 * 19 + 0.5 * 4 = 40): 570 + 6 + 1 = 577.
    assert result.status == Status.OPTIMAL and result.objective == pytest.approx(577, abs=1e-6)
    assert "artificial bounds" in result.message


def test_nonlinear_continuous_model_goes_to_gecode_float() -> None:
    model = compile_ir({
        "name": "nearest",
        "variables": [{"name": "x", "lower": 0, "upper": 10}, {"name": "y", "lower": 0, "upper": 10}],
        "constraints": [{"name": "far", "expr": "x + y >= 5"}, {"name": "hyperbola", "expr": "x * y <= 5"}],
        "objective": {"sense": "min", "expr": "(x - 3)^2 + (y - 1)^2"},
    })
    result = solved(model)
    # Both constraints bind: x + y = 5, xy = 5 at x = (5 + sqrt 5) / 2, y = (5 - sqrt 5) / 2, where
    # (x - 3)^2 + (y - 1)^2 = (3 - sqrt 5) / 2 + (7 - 3 sqrt 5) / 2 = 5 - 2 sqrt 5.
    assert result.status == Status.FEASIBLE and result.solver == "gecode (native)"
    assert result.objective == pytest.approx(5 - 2 * 5**0.5, abs=1e-3)
    assert "float" in result.message


def test_without_the_webassembly_minizinc_continuous_models_fall_back_to_gecode() -> None:
    plans = mz._plans(compile_ir({
        "name": "lp", "variables": [{"name": "x", "lower": 0}],
        "constraints": [{"name": "c", "expr": "x <= 4.5"}],
        "objective": {"sense": "max", "expr": "x"}}), wasm=False)
    assert [(p.runner, p.solver) for p in plans] == [("native", "gecode")]
    assert plans[0].bound == mz.ARTIFICIAL_BOUND and mz.WASM_INSTALL in plans[0].note


KEYWORDS = {
    "name": "keywords",
    "sets": [{"name": "int", "elements": ["sum", "var", "max", "chair"]},
             {"name": "of", "elements": ["chair", "x y"]}],
    "parameters": [{"name": "solve", "index": ["int"], "value": [1, 2, 3, 4]}],
    "variables": [
        {"name": "var", "index": ["int"], "domain": "integer", "lower": 0, "upper": 5},
        {"name": "constraint", "domain": "labels", "labels": "int"},
        {"name": "_x", "index": ["of"], "domain": "labels", "labels": "of"},
    ],
    "constraints": [
        {"name": "output", "forall": "div in int", "expr": "var[div] <= solve[div] + 1"},
        {"name": "array", "expr": "constraint != \"sum\" and constraint != \"chair\""},
        {"name": "enum", "expr": "sum(div in int where div != \"max\")(var[div]) <= 6"},
        {"name": "include", "expr": "_x[\"chair\"] == \"x y\" and var[\"max\"] >= 2"},
        {"name": "predicate", "expr": "alldifferent(_x)"},
    ],
    "objective": {"sense": "maximize", "expr": "sum(div in int)(solve[div] * var[div])"},
}


def test_names_that_are_minizinc_keywords() -> None:
    model = compile_ir(KEYWORDS)
    text = mz.render(model)
    assert "enum int_ = {int_sum, int_var, int_max, chair};" in text
    assert "enum of_ = {of_chair, 'x y'};" in text
    assert "array[int_] of var 0..5: var_;" in text and "var int_: constraint_;" in text
    assert "array[of_] of var of_: u_x;" in text and "forall(div_ in int_)" in text
    result = solved(model)
    assert result.status == Status.OPTIMAL
    # var[d] <= solve[d] + 1, var[max] >= 2 and the others sum to at most 6: enumerate.
    best = max(1 * a + 2 * b + 3 * c + 4 * d
               for a, b, c, d in itertools.product(range(6), repeat=4)
               if a <= 2 and b <= 3 and c <= 4 and d <= 5 and a + b + d <= 6 and c >= 2)
    assert result.objective == pytest.approx(best)
    assert set(result.values) == {"var", "constraint", "_x"}
    assert result.values["_x"] == {"chair": "x y", "x y": "chair"}
    assert result.values["constraint"] in ("var", "max")


def test_index_outside_its_set_is_an_error_at_the_constraint() -> None:
    # MiniZinc makes an undefined x[0] false (and the model infeasible); in the IR it is an error.
    model = compile_ir({
        "name": "oops",
        "sets": [{"name": "T", "elements": [1, 2, 3]}],
        "variables": [{"name": "x", "index": ["T"], "domain": "integer", "lower": 0, "upper": 9}],
        "constraints": [
            {"name": "fine", "forall": "t in T", "expr": "x[t] >= 1"},
            {"name": "lagged", "forall": "t in T", "expr": "x[t] >= x[t-1]"},
        ],
    })
    result = mz.solve(model, time_limit=10)
    assert result.status == Status.ERROR
    assert "constraint 'lagged'" in result.message and "t = 1" in result.message


def test_compiler_errors_are_mapped_to_the_constraint() -> None:
    model = compile_ir(PRODUCTION)
    rendered = mz._Renderer(model).render()
    broken = rendered.text.replace("<= wood_stock;", "<= wood_stok;")
    out = mz._run(broken, mz._Plan("native", "gecode"), 10)
    message = mz._error_message(out, rendered)
    assert "constraint 'wood'" in message and "wood_stok" in message


def test_explanation_that_runs_out_of_time_is_not_minimal() -> None:
    # The clash alone is the core, but QuickXplain first asks about the pigeonhole part alone, which
    # Gecode cannot decide within the limit: the answer is the whole (inconsistent) set, not minimal.
    model = compile_ir({
        "name": "pigeons_and_clash",
        "sets": [{"name": "P", "elements": list(range(1, 14))}],
        "variables": [{"name": "hole", "index": ["P"], "domain": "integer", "lower": 1, "upper": 12}],
        "constraints": [
            {"name": "apart", "forall": "i in P, j in P where i < j", "expr": "hole[i] != hole[j]"},
            {"name": "clash", "expr": "hole[1] == 1 and hole[1] == 2"},
        ],
    })
    t0 = time.perf_counter()
    result = mz.solve(model, time_limit=1.0, explain=True)
    assert time.perf_counter() - t0 < 15
    assert result.status == Status.INFEASIBLE
    assert result.conflict == ["apart", "clash"] and result.conflict_minimal is False
    assert "not minimized" in result.message


def test_time_limit_without_a_solution_is_a_timeout() -> None:
    # 13 pigeons, 12 holes, pairwise !=: Gecode cannot refute it in a second.
    model = compile_ir({
        "name": "pigeons",
        "sets": [{"name": "P", "elements": list(range(1, 14))}],
        "variables": [{"name": "hole", "index": ["P"], "domain": "integer", "lower": 1, "upper": 12}],
        "constraints": [{"name": "apart", "forall": "i in P, j in P where i < j",
                         "expr": "hole[i] != hole[j]"}],
    })
    t0 = time.perf_counter()
    result = mz.solve(model, time_limit=1.0, explain=True)
    assert time.perf_counter() - t0 < 15
    assert result.status == Status.TIMEOUT


def test_time_limit_with_a_solution_is_feasible() -> None:
    n = 40
    model = compile_ir({
        "name": "knapsack",
        "sets": [{"name": "I", "elements": list(range(1, n + 1))}],
        "parameters": [
            {"name": "w", "index": ["I"], "value": [(i * 37 + 11) % 97 + 20 for i in range(1, n + 1)]},
            {"name": "u", "index": ["I"], "value": [(i * 41 + 5) % 89 + 20 for i in range(1, n + 1)]},
            {"name": "v", "index": ["I"], "value": [(i * 53 + 7) % 89 + 10 for i in range(1, n + 1)]},
        ],
        "variables": [{"name": "x", "index": ["I"], "domain": "integer", "lower": 0, "upper": 3}],
        "constraints": [{"name": "weight", "expr": "sum(i in I)(w[i] * x[i]) <= 1501"},
                        {"name": "volume", "expr": "sum(i in I)(u[i] * x[i]) <= 1703"},
                        {"name": "not_equal", "expr": "x[1] != x[2]"}],  # keeps it on Gecode
        "objective": {"sense": "maximize", "expr": "sum(i in I)(v[i] * x[i])"},
    })
    t0 = time.perf_counter()
    result = solved(model, time_limit=1.0)
    assert time.perf_counter() - t0 < 15
    assert result.status in (Status.FEASIBLE, Status.OPTIMAL)
    if result.status == Status.FEASIBLE:
        assert "time limit" in result.message


@pytest.mark.parametrize("extra", ["x >= 5", "x != 7"])
def test_unbounded_integer_objective(extra: str) -> None:
    # Linear: HiGHS says "infeasible or unbounded" and a feasibility run decides. With != the model
    # goes to Gecode, whose objective stops at its integer limit.
    model = compile_ir({
        "name": "free",
        "variables": [{"name": "x", "domain": "integer", "lower": 0}],
        "constraints": [{"name": "some", "expr": extra}],
        "objective": {"sense": "maximize", "expr": "x"},
    })
    assert mz.solve(model, time_limit=10).status == Status.UNBOUNDED


def test_unsupported_is_empty_for_ordinary_models() -> None:
    assert mz.unsupported(compile_ir(PRODUCTION)) == []
    assert mz.unsupported(compile_ir(PUZZLE)) == []


def test_a_minizinc_text_gecode_rejects_is_an_error_not_a_timeout(monkeypatch) -> None:
    """The mzn-oneshot baseline's answer to nl4opt_test_282 (run of 2026-12-07), on Gecode: `pH_tests <= 1.5 *
    salinity_tests` over `var int` makes Gecode stop at once with "Float::linear: Number out of limits" on
    stderr, status ERROR and exit code 1. It was scored as a timeout; it is a solver error, with the message."""
    from agent.mzn_direct import run_minizinc_text

    monkeypatch.setattr(mz, "wasm_available", lambda: False)
    model = ("var int: salinity_tests;\nvar int: pH_tests;\nconstraint salinity_tests >= 0;\n"
             "constraint pH_tests >= 0;\nconstraint salinity_tests * 3 + pH_tests * 2 >= 400;\n"
             "constraint pH_tests <= 1.5 * salinity_tests;\nsolve minimize salinity_tests * 3 + pH_tests * 2;\n")
    result = run_minizinc_text(model, 20)
    assert result.status == Status.ERROR
    assert "Number out of limits" in result.message and result.seconds < 10
