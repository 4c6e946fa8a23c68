"""The per-item figures of a problem and the rows that disagree with them, on the embedded model's real answers.

Each fixture in tests/fixtures/figures is the greedy sample's first answer to an NL4Opt test problem, as the
loop validated it in runs/nl4opt-pipeline-245-rest-b (commit e842812); the problem text and its answer come
from the vendored benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.benchdata import load_benchmark
from agent.figures import OBJECTIVE, borrowed_figures, constraint_findings, data_comparison, figures, objective_findings
from agent.formalize import (
    bound_on_wrong_variable,
    direction_conflict,
    parse_model_output,
    share_of_itself,
    share_on_wrong_variable,
    stated_direction,
)
from agent.loop import _constraint_doubt_lines, apply_rewrites, exact_rewrites
from formalizers.ir import ModelIR
from solvers import solve

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "figures"


def _answer(number: str) -> tuple[ModelIR, str, float | None]:
    """(the recorded answer, the problem, its ground truth)."""
    fixture = json.loads((FIXTURES / f"nl4opt_test_{number}.json").read_text(encoding="utf-8"))
    problem = next(iter(load_benchmark("nl4opt", subset="all", ids=[fixture["id"]])))
    return ModelIR.model_validate(fixture["ir"]), problem.problem, problem.answer


def _objective(ir: ModelIR) -> float | None:
    return solve(ir.compile(), "milp", time_limit=10).objective


def _described(ir: ModelIR) -> dict[str, str]:
    return {v.name: v.description for v in ir.variables}


def test_the_figures_of_a_nutrient_table_name_their_column() -> None:
    ir, problem, _ = _answer("010")
    found = {(f.variable, f.value, f.words) for f in figures(problem, _described(ir))}
    assert ("fertilizer_A", 6.0, "units of vitamin A") in found
    assert ("fertilizer_A", 5.0, "units of vitamin D") in found
    assert ("fertilizer_B", 9.0, "units of vitamin D") in found
    assert not any(f.value in (220, 160, 350) for f in figures(problem, _described(ir)))  # limits, not figures


def test_a_coefficient_from_the_wrong_column_is_rewritten_in_a_row_and_the_objective() -> None:
    """nl4opt_test_010: vitamin A took fertilizer A's phosphoric acid (5 for 6), and the objective, "minimize
    the amount of vitamin D", took the vitamin A figures (6 for 5): 138.17 for 125.49, and every check passed."""
    ir, problem, answer = _answer("010")
    assert abs(_objective(ir) - answer) > 1  # type: ignore[operator]
    rewrites = exact_rewrites(ir, problem)
    assert rewrites[OBJECTIVE] == [(OBJECTIVE, "5*fertilizer_A + 9*fertilizer_B")]
    vitamin = next(c for c in ir.constraints if "<=" in c.expr)
    assert rewrites[vitamin.name] == [(vitamin.name, "6*fertilizer_A + 6*fertilizer_B <= 350")]
    assert _objective(apply_rewrites(ir, rewrites)) == pytest.approx(answer, rel=1e-9)
    lines = _constraint_doubt_lines(ir, problem)
    assert any("gives fertilizer_A 5, but the text gives it 6 units of vitamin A" in line for line in lines)


def test_a_variable_left_out_of_the_goal_is_added_with_its_figure() -> None:
    """nl4opt_test_124: "maximize his zinc intake" written 5*pills, the gummies' 4 units of zinc left out."""
    ir, problem, answer = _answer("124")
    findings, fixed, _ = objective_findings(ir.objective.expr, problem, _described(ir))  # type: ignore[union-attr]
    assert [(f.kind, f.variable) for f in findings] == [("missing", "gummies")]
    assert fixed == "5*pills + 4*gummies"
    assert _objective(apply_rewrites(ir, exact_rewrites(ir, problem))) == answer


def test_a_goal_that_counts_is_not_weighed_by_minutes() -> None:
    """nl4opt_test_148: "maximize the number of patients that can be vaccinated" written with the minutes each
    vaccine takes (10000 for 571)."""
    ir, problem, answer = _answer("148")
    findings, fixed, goal = objective_findings(ir.objective.expr, problem, _described(ir))  # type: ignore[union-attr]
    assert {f.kind for f in findings} == {"counted"} and goal == "the number of patients that can be vaccinated"
    assert fixed == "pill_vaccines + shot_vaccines"
    assert _objective(apply_rewrites(ir, exact_rewrites(ir, problem))) == answer


def test_a_coefficient_from_another_items_other_column_is_wrong() -> None:
    """nl4opt_test_130's greedy answer (run of 2026-12-07): the legs row gave pain killer 2 the 0.8 that pain
    killer 1 delivers to the back; no figure of pain killer 2 is 0.8, and its legs figure is 0.7."""
    raw = (FIXTURES.parent / "pain_killers_figure_of_another_column.json").read_text(encoding="utf-8")
    problem = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_130"]))).problem
    ir = parse_model_output(raw, problem)
    legs = next(c for c in ir.constraints if c.name == "medicine_legs")
    findings, fixed = constraint_findings(legs.expr, legs.source, legs.name, problem, _described(ir))
    assert [(f.kind, f.variable, f.used) for f in findings] == [("wrong", "killer_2_doses", 0.8)]
    assert fixed == "0.5*killer_1_doses + 0.7*killer_2_doses >= 4"


def test_a_figure_the_text_denies_is_dropped_from_its_row() -> None:
    """nl4opt_test_048: factory 2 makes "(but no brown ones)", the brown row gave it 10 (its black and white):
    the text says none, so the rewrite leaves it out, and the optimum is the label's."""
    ir, problem, answer = _answer("048")
    brown = next(c for c in ir.constraints if c.expr.startswith("3*"))
    findings, fixed = constraint_findings(brown.expr, brown.source, brown.name, problem, _described(ir))
    assert [(f.kind, f.variable, f.key) for f in findings] == [("denied", "factory_2_hours", "no brown ones")]
    assert fixed == "3*factory_1_hours >= 15"
    assert _objective(apply_rewrites(ir, exact_rewrites(ir, problem))) == answer
    assert 1.0 not in {f.value for f in figures(problem, _described(ir))}  # "for 1 hour": the rates' basis


def test_a_figure_the_text_does_not_give_is_doubted_but_not_rewritten() -> None:
    """The same row where the text only leaves factory 2's brown bears unsaid: a doubt, no rewrite (which
    figure was meant is not known)."""
    ir, problem, _ = _answer("048")
    problem = problem.replace(" (but no brown ones).", "")
    brown = next(c for c in ir.constraints if c.expr.startswith("3*"))
    findings, fixed = constraint_findings(brown.expr, brown.source, brown.name, problem, _described(ir))
    assert [(f.kind, f.variable) for f in findings] == [("none", "factory_2_hours")] and fixed is None
    assert brown.name not in exact_rewrites(ir, problem)


def test_a_bound_on_the_wrong_dog_and_a_comparison_of_data_are_mended() -> None:
    """nl4opt_test_185: "at least 50 golden retrievers" as labradors >= 50, and the newspapers each dog delivers
    turned into a row no sentence states (7*labradors >= 10*golden_retrievers): 2281 for 2500."""
    ir, problem, answer = _answer("185")
    described = _described(ir)
    bound = next(c for c in ir.constraints if c.expr == "labradors >= 50")
    assert bound_on_wrong_variable(bound.expr, bound.source, described) == "golden_retrievers >= 50"
    data = next(c for c in ir.constraints if c.expr == "7*labradors >= 10*golden_retrievers")
    assert data_comparison(data.expr, data.source, problem, described)
    rewrites = exact_rewrites(ir, problem)
    assert rewrites[data.name] == [] and rewrites[bound.name] == [(bound.name, "golden_retrievers >= 50")]
    assert _objective(apply_rewrites(ir, rewrites)) == answer


def test_a_share_of_itself_and_a_limit_word_over_a_list() -> None:
    """nl4opt_test_101: "at most 35% of the drink should be omega" as omega <= 0.35*omega, and "at least 100
    grams of protein and 2000 calories" with calories <= 2000."""
    ir, problem, answer = _answer("101")
    share = next(c for c in ir.constraints if "0.35" in c.expr)
    assert share_of_itself(share.expr, share.source, _described(ir)) == \
        "omega_bottles <= 0.35*(alpha_bottles + omega_bottles)"
    calories = next(c for c in ir.constraints if "2000" in c.expr)
    assert direction_conflict(calories.expr, calories.source) == ("at least 100 grams of protein and 2000", ">=")
    rewrites = exact_rewrites(ir, problem)  # "at least" states nothing but a limit: the turn is exact
    assert rewrites[calories.name] == [(calories.name, "350*alpha_bottles + 300*omega_bottles >= 2000")]
    assert _objective(apply_rewrites(ir, rewrites)) == answer


def test_a_limit_another_row_also_uses_is_not_turned() -> None:
    """nl4opt_test_111's first answer writes the fat row with vitamin C's "at least 100" (4*crab_cakes +
    6*lobster_rolls <= 100): turning it would keep the wrong number. The row is the minimized objective's own
    expression and the vitamin C row uses the 100 too, so it is a cap borrowed from another sentence and is
    removed, which cannot change a feasible optimum."""
    ir, problem, _ = _answer("111")
    fat = next(c for c in ir.constraints if c.expr.startswith("4*crab_cakes"))
    assert direction_conflict(fat.expr, fat.source) is not None
    assert exact_rewrites(ir, problem)[fat.name] == []


@pytest.mark.parametrize("number", ["192", "075", "221", "287", "215"])
def test_right_answers_raise_no_figure_doubt(number: str) -> None:
    """Right answers of problems whose figures tempt a misreading: a goal of time against figures in hours
    (192), a plain count of acres (075), a profit written before its number (221), a cost "every shift"
    beside "15 patients" (287), a limit whose subject is the repairman (215)."""
    ir, problem, answer = _answer(number)
    assert _objective(ir) == pytest.approx(answer, rel=1e-9)
    described = _described(ir)
    for c in ir.constraints:
        assert constraint_findings(c.expr, c.source, c.name, problem, described) == ([], None)
        assert not data_comparison(c.expr, c.source, problem, described)
    assert objective_findings(ir.objective.expr, problem, described)[:2] == ([], None)  # type: ignore[union-attr]
    assert exact_rewrites(ir, problem) == {}


def test_a_plain_sum_is_read_only_against_a_figure_of_its_own_unit() -> None:
    """nl4opt_test_264 (run of 2026-12-03): "at least 10,000 images" written on the hours, hours + hours >=
    10000, beside "60 images per hour"; nl4opt_test_075's "500 acres of land", a plain sum of acres, is a
    count and stays (its figures name land only before their numbers)."""
    problem = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_264"]))).problem
    described = {"specialized_hours": "hours allocated to the specialized company",
                 "common_hours": "hours allocated to the common company"}
    source = "The researcher has deadlines to meet and must complete a dataset of at least 10,000 images."
    findings, fixed = constraint_findings("specialized_hours + common_hours >= 10000", source, "total_images",
                                          problem, described)
    assert [(f.kind, f.variable) for f in findings] == [("wrong", "specialized_hours"), ("wrong", "common_hours")]
    assert fixed == "60*specialized_hours + 40*common_hours >= 10000"
    ir, text, _ = _answer("075")
    land = next(c for c in ir.constraints if c.expr == "traditional_acres + modern_acres <= 500")
    assert constraint_findings(land.expr, land.source, land.name, text, _described(ir)) == ([], None)


def _problem(number: str) -> str:
    return next(iter(load_benchmark("nl4opt", subset="all", ids=[f"nl4opt_test_{number}"]))).problem


def test_misreadings_seen_in_the_run_of_2026_12_03_are_left_alone() -> None:
    """Right answers the first version of these checks rewrote wrong in runs/nl4opt-pipeline-245-first-b:
    a goal that counts trips against "$300 per trip" (159: the trip is the basis of the cost, and a count's 1s
    are no slip); "at least 300 units of chemicals can be used" (105: "can" reads as a capacity, the turn is
    left to the model); "at most 40% of his concerts as R&B because he likes pop songs more" (237: the reason
    names pop, not the share); a limit that is also an item's figure in its sentence (229: "uses 250 units of
    electricity" beside "at least 250 housing units")."""
    trips = {"trucks": "number of truck trips", "vans": "number of van trips"}
    assert objective_findings("trucks + vans", _problem("159"), trips)[:2] == ([], None)
    assert stated_direction("cleansing_units + odor_units <= 300",
                            "In total, at least 300 units of chemicals can be used per house.") is None
    assert stated_direction("x + y <= 300", "In total, at least 300 units of chemicals must be used.") == \
        "x + y >= 300"
    concerts = {"pop_concerts": "number of pop concerts", "rnb_concerts": "number of R&B concerts"}
    assert share_on_wrong_variable(
        "rnb_concerts <= 0.4*(pop_concerts + rnb_concerts)",
        "If he can at most perform 40% of his concerts as R&B because he likes pop songs more, how many of each "
        "type of concert should be created to minimize the total number of concerts?", concerts) is None
    models = {"low_power": "low-powered models bought", "high_power": "high-powered models bought"}
    source = "A high-power model can cool down 17 housing units and uses 250 units of electricity every day."
    assert constraint_findings("12*low_power + 17*high_power >= 250", source, "units", _problem("229"),
                               models) == ([], None)


def test_a_rate_keeps_what_follows_its_basis() -> None:
    """nl4opt_test_120: "0.8 units of medicine per minute to the brain" measures medicine to the brain; cutting
    the phrase at "per minute" lost the organ and raised a false doubt on a right answer."""
    machines = {"machine_1_time": "minutes machine 1 is used", "machine_2_time": "minutes machine 2 is used"}
    found = {(f.variable, f.value): f.stems for f in figures(_problem("120"), machines)}
    assert {"medic", "brain"} <= found[("machine_1_time", 0.8)]
    assert {"medic", "heart"} <= found[("machine_2_time", 0.3)]
    assert "minut" not in found[("machine_1_time", 0.8)]


def test_an_item_the_text_gives_no_data_cannot_own_another_items_figures() -> None:
    """nl4opt_test_141's second sample: `prepared_meals` with the turkey dinner's figures, all shifted one
    item along. The gold rows of the same problem, with the two items the text names, raise nothing."""
    text = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_141"]))).problem
    three = {"prepared_meals": "number of pre prepared meals", "turkey_dinner": "number of turkey dinners",
             "tuna_salad": "number of tuna salads"}
    rows = ["20*prepared_meals + 30*turkey_dinner + 18*tuna_salad", "30*prepared_meals + 25*turkey_dinner + "
            "25*tuna_salad", "12*prepared_meals + 8*turkey_dinner + 8*tuna_salad"]
    assert borrowed_figures(rows, text, three) == [("prepared_meals", "turkey_dinner", [20.0, 30.0, 12.0])]
    two = {"turkey_dinner": "turkey dinner", "tuna_salad": "tuna salad sandwich"}
    gold = ["20*turkey_dinner + 18*tuna_salad", "30*turkey_dinner + 25*tuna_salad", "12*turkey_dinner + 8*tuna_salad"]
    assert borrowed_figures(gold, text, two) == []


def test_a_limit_no_other_row_uses_is_read_by_its_sentence_over_the_rows_name() -> None:
    """nl4opt_test_114's greedy answer: `fat: 2*apple_servings + 4*carrot_servings <= 100`, the only 100 of the
    text, "at most 100 units of folate", on the fat figures. Name and sentence name two columns; the sentence
    is the text's, so the row is read as folate. Where another row also uses the limit (111's vitamin C row,
    192's patients row, tested above), nothing changes."""
    text = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_114"]))).problem
    variables = {"apple_servings": "servings of apple flavored baby food",
                 "carrot_servings": "servings of carrot flavored baby food"}
    sentence = next(s for s in text.split(". ") if "100 units of folate" in s)
    row = "2*apple_servings + 4*carrot_servings <= 100"
    assert constraint_findings(row, sentence, "fat", text, variables) == ([], None)
    findings, fixed = constraint_findings(row, sentence, "fat", text, variables, limit_alone=True)
    assert {(f.kind, f.variable, f.used, f.want.value if f.want else None) for f in findings} == {
        ("wrong", "apple_servings", 2.0, 5.0), ("wrong", "carrot_servings", 4.0, 3.0)}
    assert fixed == "5*apple_servings + 3*carrot_servings <= 100"


def test_a_hyphenated_item_is_named_only_by_its_compound() -> None:
    """nl4opt_test_257: a palladium-heavy and a platinum-heavy catalyst, each needing "15 units of platinum and
    25 units of palladium". Word by word, every resource was a mention of an item (the 25 went to the other
    catalyst, the 15 was taken for a count). Read by the compounds, each catalyst has its own three figures,
    and the second sample's rows (`palladium_heavy*20 + platinum_heavy*14 <= 450`: each item given the other's
    or another column's figure) are rewritten to the official formulation, whose optimum is the label."""
    ir, problem, answer = _answer("257")
    read = {(f.variable, f.value, f.words) for f in figures(problem, _described(ir))}
    assert {("palladium_heavy", 15.0, "units of platinum"), ("palladium_heavy", 25.0, "units of palladium"),
            ("platinum_heavy", 20.0, "units of platinum"), ("platinum_heavy", 14.0, "units of palladium")} <= read
    assert _objective(ir) == pytest.approx(113.0)
    fixed = apply_rewrites(ir, exact_rewrites(ir, problem))
    assert [c.expr for c in fixed.constraints] == ["15*palladium_heavy + 20*platinum_heavy <= 450",
                                                   "25*palladium_heavy + 14*platinum_heavy <= 390"]
    assert _objective(fixed) == answer == 98.0


def test_items_named_by_a_word_numbered_twice_have_figures() -> None:
    """nl4opt_test_140 (run of 2026-12-07 at 8be2f6c): "Beam 1 delivers ... 0.3 units of medicine per minute to
    the benign area of the pancreas and 0.2 units ... to the benign area of the skin". "Beam" is no label word,
    so no figure was read: the greedy answer gave the skin's limit the pancreas' figures, was doubted for the
    unused 0.1, and its repair wrote 0.1 into the objective (0.75 for 1.5) with no doubt. A word the problem
    numbers twice names its items, and the column's word (pancreas, skin) is read up to the clause's end."""
    text = _problem("140")
    beams = {"beam1_minutes": "minutes of beam 1", "beam2_minutes": "minutes of beam 2"}
    read = {(f.variable, f.value, f.words.split()[-1]) for f in figures(text, beams)}
    assert {("beam1_minutes", 0.3, "pancreas"), ("beam1_minutes", 0.2, "skin"), ("beam2_minutes", 0.2, "pancreas"),
            ("beam2_minutes", 0.1, "skin")} <= read
    assert objective_findings("0.3*beam1_minutes + 0.1*beam2_minutes", text, beams)[1] == \
        "0.3*beam1_minutes + 0.2*beam2_minutes"
    assert objective_findings("0.3*beam1_minutes + 0.2*beam2_minutes", text, beams)[:2] == ([], None)
