"""IR validation: every mistake reported with where it is; hostile JSON never crashes the loader."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formalizers.ir import IRError, ir_json_schema, parse_ir, parse_ir_text


def compile_ir(data: dict):
    return parse_ir(data).compile()


def test_furniture_compiles(furniture_ir: dict) -> None:
    model = compile_ir(furniture_ir)
    assert [c.name for c in model.constraints] == ["wood", "min_make", "balance", "logic"]
    assert model.params["profit"].values == {("chair",): 30, ("table",): 50}
    assert model.params["wood_use"].values == {("chair",): 2, ("table",): 5}  # list form, in set order


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["constraints"][0].update(expr="sum(p in Products)(wood_us[p] * make[p]) <= 4"),
     "unknown name 'wood_us' (did you mean 'wood_use'?)"),
    (lambda d: d["constraints"][0].update(expr="make[p] <= 4"), "unknown name 'p'"),
    (lambda d: d["constraints"][1].update(expr="make[p, p] >= 2"), "takes 1 index(es)"),
    (lambda d: d["constraints"][1].update(expr="make[\"sofa\"] >= 2"), "not an element of set 'Products'"),
    (lambda d: d["constraints"][1].update(expr="make[p] + 2"), "must be a condition"),
    (lambda d: d["constraints"][1].update(forall="p in Prods"), "unknown set 'Prods'"),
    (lambda d: d["objective"].update(expr="make[\"chair\"] >= 1"), "objective must be a number"),
    (lambda d: d["parameters"][0].update(value={"chair": 30}), "missing entries for table"),
    (lambda d: d["parameters"][1].update(value=[2, 5, 7]), "3 entries for set 'Products'"),
    (lambda d: d["parameters"][0].update(value={"chair": 30, "table": "fifty"}), "expected a number"),
    (lambda d: d["variables"][0].update(domain="natural"), "variables[0].domain"),
    (lambda d: d["variables"].append({"name": "make"}), "name 'make' is used"),
    (lambda d: d["constraints"].append({"name": "wood", "expr": "1 <= 2"}), "must be unique"),
    (lambda d: d["constraints"][0].update(name="bad name"), "constraints[0].name"),
    (lambda d: d["constraints"][0].update(expr="make.__class__ <= 1"), "attribute access"),
    (lambda d: d["constraints"][0].update(extra=1), "Extra inputs"),
    (lambda d: d["variables"][0].update(lower=5, upper=1), "exceeds upper"),
])
def test_errors_point_at_the_element(furniture_ir: dict, mutate, fragment: str) -> None:
    data = copy.deepcopy(furniture_ir)
    mutate(data)
    with pytest.raises(IRError) as info:
        compile_ir(data)
    assert fragment in str(info.value)


def test_a_scalar_used_with_indices_is_reported_once_per_expression_with_its_rewrite() -> None:
    """depot_location_abs as the embedded model wrote it: one scalar `delivery_distances` used as a table five
    times in one constraint; one finding that names the rewrite, not five that fill the repair prompt."""
    data = {"variables": [{"name": "center", "domain": "integer"}, {"name": "d", "lower": 0}],
            "constraints": [{"name": "total", "expr": "d[5] + d[20] + d[45] <= 100"},
                            {"name": "near", "expr": "center <= 50"}],
            "objective": {"sense": "minimize", "expr": "5*d[5] + 2*d[20]"}}
    with pytest.raises(IRError) as info:
        compile_ir(data)
    problems = info.value.problems
    assert len(problems) == 2 and problems[0].startswith("constraints[0] 'total'") and "objective" in problems[1]
    assert "'d' is a single value (declared without an index)" in problems[0]
    assert "declare one variable per item (d_5, ...)" in problems[0]


def test_all_problems_reported_at_once(furniture_ir: dict) -> None:
    data = copy.deepcopy(furniture_ir)
    data["constraints"][0]["expr"] = "nope <= 1"
    data["constraints"][1]["expr"] = "make[p] >= nada"
    with pytest.raises(IRError) as info:
        compile_ir(data)
    assert len(info.value.problems) == 2
    assert "constraints[0] 'wood' expr" in info.value.problems[0]
    assert "constraints[1] 'min_make' expr" in info.value.problems[1]


@pytest.mark.parametrize("text", ['{"variables": [{"name": "x", "lower": NaN}]}',
                                  '{"variables": [{"name": "x", "upper": Infinity}]}',
                                  '{"variables": [{"name": "x"}], "parameters": [{"name": "p", "value": NaN}]}'])
def test_non_finite_numbers_rejected(text: str) -> None:
    with pytest.raises(IRError, match="non-finite"):
        parse_ir_text(text).compile()


@pytest.mark.parametrize("text, fragment", [("", "not valid JSON"), ("[1, 2]", "JSON object"),
                                            ("{" * 100_000, "JSON"), ("null", "JSON object"),
                                            ('{"variables": []}', "at least 1")])
def test_broken_json(text: str, fragment: str) -> None:
    with pytest.raises(IRError) as info:
        parse_ir_text(text)
    assert fragment in str(info.value)


def test_schema_exports() -> None:
    schema = ir_json_schema()
    assert set(schema["properties"]) >= {"sets", "parameters", "variables", "constraints", "objective"}
    json.dumps(schema)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                       max_size=4),
    max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_arbitrary_json_never_crashes(data) -> None:
    try:
        parse_ir(data).compile()
    except IRError:
        pass


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())  # the fixture is deep-copied per input, never mutated
def test_fuzz_mutated_ir_never_crashes(furniture_ir: dict, data) -> None:
    doc = copy.deepcopy(furniture_ir)
    section = data.draw(st.sampled_from(["sets", "parameters", "variables", "constraints"]))
    i = data.draw(st.integers(0, len(doc[section]) - 1))
    key = data.draw(st.sampled_from(sorted(doc[section][i])))
    doc[section][i][key] = data.draw(json_values)
    try:
        parse_ir(doc).compile()
    except IRError:
        pass


@pytest.mark.parametrize(("exprs", "groups"), [
    (["x + y >= 30", "x + y >= 25", "x <= 10"], [["a", "b"]]),
    (["2*x + 2*y <= 10", "x + y <= 4"], [["a", "b"]]),  # a multiple of the same side
    (["x >= 2", "x <= 10"], []),  # a range: opposite directions
    (["x + y >= 30", "30 <= x + y"], [["a", "b"]]),  # written either way round
    (["x + y >= 30", "x + 2*y >= 30"], []),
    (["6*x + 3*y >= 5*x + 3*y", "x >= 0.5"], [["a", "b"]]),  # both reduce to a bound on x
])
def test_same_left_sides(exprs: list[str], groups: list[list[str]]) -> None:
    from formalizers.semantics import same_left_sides

    ir = {"variables": [{"name": "x", "domain": "continuous", "lower": 0},
                        {"name": "y", "domain": "continuous", "lower": 0}],
          "constraints": [{"name": n, "expr": e} for n, e in zip("abc", exprs, strict=False)],
          "objective": {"sense": "minimize", "expr": "x + y"}}
    found = same_left_sides(parse_ir(ir).compile())
    assert [[c.name for c in g] for g in found] == groups


def test_a_loop_variable_used_outside_its_sum_says_where_to_bind_it() -> None:
    """help_desk_shifts, indexed, as the embedded model wrote it: forall over starts, then need[p] outside
    the sum that binds p. "unknown name 'p'" alone got the same row back; the message says what to move."""
    data = {"sets": [{"name": "Periods", "elements": [1, 2, 3]}, {"name": "Starts", "elements": [1, 2]}],
            "parameters": [{"name": "need", "index": ["Periods"], "value": [4, 7, 9]}],
            "variables": [{"name": "start", "index": ["Starts"], "domain": "integer", "lower": 0}],
            "constraints": [{"name": "shift_capacity", "forall": "s in Starts",
                             "expr": "sum(p in Periods where p <= s)(start[s]) >= need[p]"}],
            "objective": {"sense": "minimize", "expr": "sum(s in Starts)(start[s])"}}
    with pytest.raises(IRError) as err:
        parse_ir(data).compile()
    assert "'p' is bound by 'p in Periods' only inside" in err.value.problems[0]
    assert "bind 'p in Periods' in forall instead" in err.value.problems[0]
