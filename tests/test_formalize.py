"""Formalization parsing: lean output, sentence attachment, the two prompt formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.formalize import (
    attach_sources,
    choose_layout,
    constraints_about,
    copied_example,
    formalize_messages,
    output_schema,
    parse_model_output,
    sentences,
    unused_numbers,
    worked_examples,
)
from agent.layouts import FLAT_SCHEMA, INDEXED_SCHEMA, LEAN_SCHEMA

BAKERY = ("A bakery makes muffins and cakes. A muffin needs 0.2 kg of flour and a cake needs 1.5 kg; the bakery has "
          "60 kg of flour per day. Each muffin takes 5 minutes of oven time and each cake 30 minutes, and the oven "
          "is available for at most 900 minutes a day. The bakery must make at least 20 cakes, and at least three "
          "times as many muffins as cakes. At most 40% of the products may be cakes. A muffin earns $2 and a cake "
          "earns $9. How many of each should be made to maximize profit?")


def test_sentences_do_not_split_decimals_or_money() -> None:
    parts = sentences(BAKERY)
    assert parts[1] == "A muffin needs 0.2 kg of flour and a cake needs 1.5 kg; the bakery has 60 kg of flour per day."
    assert parts[-1] == "How many of each should be made to maximize profit?"
    assert len(parts) == 7


@pytest.mark.parametrize(("expr", "sentence_index"), [
    ("0.2*muffins + 1.5*cakes <= 60", 1),
    ("5*muffins + 30*cakes <= 900", 2),
    ("cakes >= 20", 3),
    ("muffins >= 3*cakes", 3),  # "three times", in words
    ("cakes <= 0.4*(muffins + cakes)", 4),  # "40%" as a fraction
])
def test_attach_sources_finds_the_stating_sentence(expr: str, sentence_index: int) -> None:
    data = {"variables": [{"name": "muffins", "description": "muffins made"},
                          {"name": "cakes", "description": "cakes made"}],
            "constraints": [{"name": "c", "expr": expr}]}
    attach_sources(data, BAKERY)
    assert data["constraints"][0]["source"] == sentences(BAKERY)[sentence_index]


WATER = ("During a drought, a reservoir can release at most 900 thousand cubic meters of water this month. North "
         "needs 400 thousand cubic meters, East needs 300 and South needs 500. The canal to North can carry at most "
         "350 thousand cubic meters, the canal to East at most 300 and the canal to South at most 400.")


@pytest.mark.parametrize(("expr", "sentence_index"), [
    ("south <= 400", 2), ("400 >= south", 2), ("north >= 400", 1), ("east >= 300", 1), ("east <= 300", 2),
])
def test_attach_sources_breaks_a_tie_of_numbers_by_the_limits_direction(expr: str, sentence_index: int) -> None:
    """400 is North's demand in one sentence and South's canal in the next: "<=" reads as the capacity."""
    data = {"variables": [{"name": "north", "description": "water to North"},
                          {"name": "east", "description": "water to East"},
                          {"name": "south", "description": "water to South"}],
            "constraints": [{"name": "c", "expr": expr}]}
    attach_sources(data, WATER)
    assert data["constraints"][0]["source"] == sentences(WATER)[sentence_index]


def test_attach_sources_keeps_a_given_source_and_leaves_no_evidence_alone() -> None:
    data = {"variables": [{"name": "x", "description": "something"}],
            "constraints": [{"name": "a", "expr": "x <= 60", "source": "given"},
                            {"name": "zz", "expr": "x >= 0"}]}
    attach_sources(data, BAKERY)
    assert data["constraints"][0]["source"] == "given"
    assert "source" not in data["constraints"][1]  # no number or word in common: no guess


def test_worked_examples_recover_their_sentences() -> None:
    """The lean examples are the quoted ones minus the quotes: attachment must give the quotes back."""
    for quoted in worked_examples("quoted"):
        lean = json.loads(json.dumps(quoted["model"]))
        for c in lean["constraints"]:
            c.pop("source")
        attach_sources(lean, quoted["problem"])
        assert [c["source"] for c in lean["constraints"]] == [c["source"] for c in quoted["model"]["constraints"]]


def test_lean_output_parses_into_the_ir_with_sources_and_goal() -> None:
    text = json.dumps({
        "variables": [{"name": "muffins", "description": "muffins made", "domain": "integer", "lower": 0},
                      {"name": "cakes", "description": "cakes made", "domain": "integer", "lower": 0}],
        "constraints": [{"name": "flour", "expr": "0.2*muffins + 1.5*cakes <= 60"}],
        "objective": {"goal": "profit", "sense": "maximize", "expr": "2*muffins + 9*cakes"}})
    ir = parse_model_output(text, BAKERY)
    assert ir.objective is not None and ir.objective.description == "profit"
    assert ir.constraints[0].source == sentences(BAKERY)[1]


def test_lean_and_quoted_prompts_match_their_schemas() -> None:
    assert output_schema("lean") is LEAN_SCHEMA and output_schema("quoted") is FLAT_SCHEMA
    lean = formalize_messages("problem text", layout="lean")
    quoted = formalize_messages("problem text")
    assert len(lean) == len(quoted) == 2 * len(worked_examples("lean")) + 2
    for message in lean[2:-1:2]:  # the worked answers follow the lean schema's keys
        model = json.loads(message["content"])
        assert set(model["objective"]) == {"goal", "sense", "expr"}
        assert all(set(c) == {"name", "expr"} for c in model["constraints"])
    assert '"source"' in quoted[2]["content"] and '"source"' not in lean[2]["content"]


WINDROWER = ("A farmer has 200 acres of land on which he must process hay using either a windrower or hay harvester. "
             "For each acre of land, the windrower can process 10 kg of hay while the hay harvester can process 8 kg "
             "of hay. Per acre, the windrower produces 5 kg of methane gas and requires 2 kg of fuel. On the other "
             "hand, the hay harvester produces 3 kg of methane gas per acre and requires 1 kg of fuel. There are 300 "
             "kg of fuel available and the farmer can produce at most 800 kg of methane gas.")


def test_unused_numbers_points_at_the_sentence_whose_coefficients_were_swapped() -> None:
    """nl4opt_test_055 as the embedded model wrote it: the methane limit took the hay coefficients."""
    wrong = ["w + h <= 200", "2*w + h <= 300", "10*w + 8*h <= 800", "10*w + 8*h"]
    missing = unused_numbers(WINDROWER, wrong)
    # "requires 1 kg of fuel" is used: `2*w + h` has the coefficient 1 implicitly
    assert missing == [(["5"], sentences(WINDROWER)[2]), (["3"], sentences(WINDROWER)[3])]
    right = ["w + h <= 200", "2*w + h <= 300", "5*w + 3*h <= 800", "10*w + 8*h"]
    assert unused_numbers(WINDROWER, right) == []
    assert unused_numbers(WINDROWER, ["200 >= 2*w", "2*w <= 300", "5*w + 3*w <= 800", "10*w + 8*w"]) == [
        (["1"], sentences(WINDROWER)[3])]  # no bare variable anywhere: the stated 1 is unused


def test_the_constraint_written_with_another_sentences_numbers_is_named() -> None:
    """The methane limit shares the word "methane" with the sentences whose numbers it lacks; the fuel
    limit uses those sentences' fuel numbers (2, and 1 implicitly) and is left alone."""
    constraints = [("land", "w + h <= 200"), ("fuel", "2*w + h <= 300"), ("methane", "10*w + 8*h <= 800"),
                   ("windrower_ratio", "windrower <= harvester")]
    variables = ["w", "h", "windrower", "harvester"]
    assert constraints_about(sentences(WINDROWER)[2], constraints, variables) == ["methane"]
    assert constraints_about(sentences(WINDROWER)[3], constraints, variables) == ["methane"]
    assert constraints_about(sentences(WINDROWER)[3], [("methane", "3*w + 5*h <= 800")], variables) == []


def test_unused_numbers_accepts_percent_as_fraction_and_thousands() -> None:
    text = "At most 40% of the $1,200 budget goes to ads. There are 0 free slots and 12 items."
    assert unused_numbers(text, ["ads <= 0.4*1200", "items == 12"]) == []
    assert unused_numbers(text, ["ads <= 40"]) == [(["1,200"], sentences(text)[0]), (["12"], sentences(text)[1])]


def test_a_repeated_worked_example_is_recognised() -> None:
    """Seen on help_desk_shifts: after a cut-off answer the model wrote the coconut example verbatim."""
    coconut = worked_examples("lean")[0]
    ir = parse_model_output(json.dumps(coconut["model"]), "An unrelated problem with 3 numbers, 4 and 5 in it.")
    assert copied_example(ir) == coconut["origin"]
    other = json.loads(json.dumps(coconut["model"]))
    other["constraints"][0]["expr"] = "10*rickshaws + 8*ox_carts <= 300"
    assert copied_example(parse_model_output(json.dumps(other))) is None


def test_set_elements_written_as_bare_names_are_read_as_quoted_elements() -> None:
    """weekend_rota_infeasible (2026-12-07): `work[e, Saturday]` was "unknown name 'Saturday'" through every
    repair. A bare name that is a set's element and no model name or loop variable means that element."""
    model = {"sets": [{"name": "Staff", "elements": ["Ann", "Bob", "e"]},
                      {"name": "Days", "elements": ["Sat", "need"]}],
             "parameters": [{"name": "need", "index": ["Days"], "value": [1, 1]}],
             "variables": [{"name": "work", "index": ["Staff", "Days"], "domain": "binary", "lower": 0}],
             "constraints": [{"name": "cover", "forall": "d in Days", "expr": "sum(e in Staff)(work[e, d]) >= need[d]"},
                             {"name": "keys", "forall": "", "expr": "work[Ann, Sat] + work['Bob', \"Sat\"] == 1"}],
             "objective": {"sense": "minimize", "expr": "sum(e in Staff)(work[e, Sat])"}}
    notes: list[str] = []
    ir = parse_model_output(json.dumps(model), None, notes)
    exprs = {c.name: c.expr for c in ir.constraints}
    assert exprs["keys"] == "work['Ann', 'Sat'] + work['Bob', \"Sat\"] == 1"
    assert exprs["cover"] == "sum(e in Staff)(work[e, d]) >= need[d]"  # a loop variable and a parameter stay
    assert ir.objective.expr == "sum(e in Staff)(work[e, 'Sat'])"
    assert notes == ["constraint keys: set elements written as bare names read as quoted elements"]
    ir.compile()


def test_the_same_indexed_constraints_over_other_data_are_no_copy() -> None:
    """fuel_network_flow (2026-12-07): the answer wrote the flow pattern's two constraints, as a right model
    of any network does, over its own six nodes and pipes; it was rejected twice as a copy."""
    from agent.formalize import _patterns

    flow = next(p for p in _patterns() if p["name"] == "network_flow")
    assert copied_example(parse_model_output(json.dumps(flow["model"]), flow["problem"])) == flow["origin"]
    fuel = json.loads(json.dumps(flow["model"]))
    fuel["parameters"][0]["value"] = [55, 0, 0, -30, -25]
    assert copied_example(parse_model_output(json.dumps(fuel), flow["problem"])) is None


def test_clock_times_years_and_labels_are_not_unused_quantities() -> None:
    text = "The desk opens from 6:00 to 22:00 in 2024. Period 1, 2 and 3 need 4, 7 and 9 agents."
    assert unused_numbers(text, ["x >= 4", "x + y >= 7", "y >= 9"]) == []
    assert unused_numbers(text, ["x >= 4"]) == [(["7", "9"], sentences(text)[1])]
    # nl4opt_test_110: a word the problem numbers twice in a row names things, in every sentence
    syrups = ("A patient can drink two syrups, syrup 1 and syrup 2. Per serving, syrup 1 delivers 0.5 units to "
              "the throat. Syrup 2 delivers 0.2 units.")
    assert unused_numbers(syrups, ["0.5*a + 0.2*b <= 5"]) == []
    stores = "Stores 1, 2, 3 and 4 need exactly 30, 40, 25 and 35 pallets per week."  # warehouse_location
    assert unused_numbers(stores, ["a >= 30", "b >= 40", "c >= 25", "d >= 35"]) == []
    # nl4opt_test_130: a name of two words, "pain killer 1 and pain killer 2", is numbered twice in a row too
    killers = ("A patient can take two pain killers, pain killer 1 and pain killer 2. Per dose, pain killer 1 "
               "delivers 0.5 units of medicine to the legs and pain killer 2 delivers 0.7 units.")
    assert unused_numbers(killers, ["0.5*a + 0.7*b >= 4"]) == []
    two_kinds = "Machine 1 takes 3 hours and labor 2 hours."  # not one word numbered twice
    assert unused_numbers(two_kinds, ["3*x <= 9"]) == [(["2"], two_kinds)]
    once = "Mix syrup 3 with 4 kg of sugar."  # numbered once: a quantity as far as this rule knows
    assert unused_numbers(once, ["x <= 4"]) == [(["3"], once)]
    # nl4opt_test_013: enumerators in parentheses name the options ("(1) radio ads and (2) social media ads")
    ads = "The company spends on two forms of advertising: (1) radio ads and (2) social media ads."
    assert unused_numbers(ads, ["radio + social <= 5"]) == []
    assert unused_numbers("Buy (at most 2) boxes.", ["x <= 5"]) == [(["2"], "Buy (at most 2) boxes.")]


def test_a_constraint_that_only_repeats_the_objective_is_dropped_and_noted() -> None:
    """satellite_knapsack as the embedded model wrote it (greedy, 2026-12-01): the objective's sum listed as a
    constraint "science_value" with no comparison; three repairs brought the same answer back. It states no
    requirement, so it is dropped (and said), while an expression without a comparison that is not the
    objective stays an error."""
    from formalizers.ir import IRError

    raw = json.loads((Path(__file__).parent / "fixtures" / "satellite_objective_copy.json").read_text())
    notes: list[str] = []
    ir = parse_model_output(json.dumps(raw), None, notes)
    assert [c.name for c in ir.constraints] == ["weight"]
    assert notes == ["constraint science_value dropped: it only repeats the objective's expression"]
    ir.compile()
    raw["constraints"][1]["expr"] = "24*camera + 13*spectrometer"  # not the objective: still an error
    with pytest.raises(IRError, match="a constraint must be a condition"):
        parse_model_output(json.dumps(raw)).compile()


def test_a_named_expression_without_a_comparison_is_written_where_it_is_used() -> None:
    """nl4opt_test_030, the greedy answer of the pipeline run of 2026-12-02 (commit 1141529), copied verbatim:
    "phone_revenue": "50*phone_space" as a constraint and "phone_revenue + laptop_revenue" as the objective;
    all twelve calls of that problem answered the same way and it ended unread. A name that nothing uses
    stays a constraint, and so stays an error."""
    import solvers
    from agent.benchdata import load_benchmark
    from formalizers.ir import IRError

    problem = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_030"])))
    raw = (Path(__file__).parent / "fixtures" / "factory_revenue_definitions.json").read_text()
    notes: list[str] = []
    ir = parse_model_output(raw, problem.problem, notes)
    assert ir.objective is not None and ir.objective.expr == "(50*phone_space) + (70*laptop_space)"
    assert [c.name for c in ir.constraints] == ["space", "labor", "cost"]
    assert len(notes) == 2 and all("a definition without a comparison" in n for n in notes)
    assert solvers.solve(ir.compile(), "milp").objective == pytest.approx(problem.answer)
    unused = json.loads(raw)
    unused["objective"]["expr"] = "50*phone_space + 70*laptop_space"
    with pytest.raises(IRError, match="a constraint must be a condition"):
        parse_model_output(json.dumps(unused), problem.problem).compile()


def test_more_than_is_read_as_at_least_unless_the_text_says_strictly() -> None:
    """nl4opt_test_128, the greedy answer of the pipeline run of 2026-12-02 (commit 1141529), copied verbatim:
    "more foam than liquid" written as ">", which over whole numbers the IR reads as a difference of one
    (970 against the labelled 1000); word problems mean >= (the NL4Opt annotation has no strict operator)."""
    import solvers
    from agent.benchdata import load_benchmark

    problem = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_128"])))
    raw = (Path(__file__).parent / "fixtures" / "sanitizers_more_than_strict.json").read_text()
    notes: list[str] = []
    ir = parse_model_output(raw, problem.problem, notes)
    assert "foam_hand_sanitizers >= liquid_hand_sanitizers" in [c.expr for c in ir.constraints]
    assert notes == ["constraint foam_ratio: < or > read as <= or >= (the text never says strictly)"]
    assert solvers.solve(ir.compile(), "milp").objective == pytest.approx(problem.answer)
    # "strictly" keeps the strict comparison; a comparison inside a sum's filter is left as written.
    text = "A shop sells x and y. It must sell strictly more x than y. At most 10 items in all can be sold."
    model = {"variables": [{"name": "x", "domain": "integer", "lower": 0}, {"name": "y", "domain": "integer",
                                                                            "lower": 0}],
             "constraints": [{"name": "more_x", "expr": "x > y"}, {"name": "total", "expr": "x + y <= 10"}],
             "objective": {"goal": "items", "sense": "maximize", "expr": "y"}}
    assert [c.expr for c in parse_model_output(json.dumps(model), text).constraints][0] == "x > y"
    model["constraints"][0]["expr"] = "sum(i in S where i > 1)(z[i]) <= 3"
    assert parse_model_output(json.dumps(model), "Items z are sold. At most 3 of them.").constraints[0].expr == \
        "sum(i in S where i > 1)(z[i]) <= 3"


def test_an_amount_of_a_divisible_unit_in_an_lp_is_continuous_unless_the_text_asks_for_whole_numbers() -> None:
    """nl4opt_test_045, the greedy answer of the pipeline run of 2026-12-02 (commit 1141529), copied verbatim:
    "acres planted with blueberries" as an integer in a text that says "Formulate an LP problem" (14,325 for
    the LP's 14,375)."""
    import solvers
    from agent.benchdata import load_benchmark
    from agent.formalize import measures_a_divisible_unit

    problem = next(iter(load_benchmark("nl4opt", subset="all", ids=["nl4opt_test_045"])))
    raw = (Path(__file__).parent / "fixtures" / "berry_farm_integer_acres.json").read_text()
    notes: list[str] = []
    ir = parse_model_output(raw, problem.problem, notes)
    assert [v.domain for v in ir.variables] == ["continuous", "continuous"]
    assert notes == [f"variable {n}: continuous, an amount of a divisible unit in a problem that calls itself an LP"
                     for n in ("blueberries", "raspberries")]
    assert solvers.solve(ir.compile(), "milp").objective == pytest.approx(problem.answer)
    assert [v.domain for v in parse_model_output(raw, problem.problem + " Plant whole acres only.").variables] \
        == ["integer", "integer"]
    # Not called an LP: the model's choice stands (nl4opt_test_106 labels whole hours of a factory, 37).
    not_lp = problem.problem.replace(" Formulate an LP problem in order to maximize profit.", " Maximize profit.")
    assert not_lp != problem.problem
    assert [v.domain for v in parse_model_output(raw, not_lp).variables] == ["integer", "integer"]
    for name, description, divisible in [
            ("x", "number of hours machine A runs", True), ("fertilizer", "kg of fertilizer", True),
            ("machine_1_minutes", "", True), ("bags", "number of 5 kg bags", False),
            ("ads", "number of 30-minute ads", False), ("trucks", "number of trucks per hour", False),
            ("servings", "servings of apple baby food", False), ("square_tables", "number of square tables", False),
            ("liter_bottles", "number of 1-liter bottles", False)]:
        assert measures_a_divisible_unit(name, description) is divisible, (name, description)


@pytest.mark.parametrize(("found", "expr", "expected"), [
    # two sentences, one per variable, one unused number each
    ([(["5"], "The windrower produces 5 kg of methane."), (["3"], "The harvester produces 3 kg of methane.")],
     "10*w + 8*h <= 800", "5*w + 3*h <= 800"),
    # several unused numbers: the one next to the constraint's word; the limit written first stays put
    ([(["150", "5"], "Oats give 150 calories and 5 g of protein."), (["120", "8"], "Milk gives 120 calories and 8 g "
      "of protein.")], "1600 <= 0.21*w + 0.35*h", "150*w + 120*h >= 1600"),
    # a variable no sentence names: no suggestion rather than a guess
    ([(["5"], "The windrower produces 5 kg of methane.")], "10*w + 8*h <= 800", None),
    # two numbers and none next to the word: no suggestion
    ([(["5", "7"], "The windrower makes 5 or 7 units."), (["3"], "The harvester produces 3 kg of methane.")],
     "10*w + 8*h <= 800", None),
])
def test_suggest_coefficients(found: list, expr: str, expected: str | None) -> None:
    from agent.formalize import suggest_coefficients

    name = "calories" if "calories" in found[0][1] else "methane"
    variables = {"w": "acres for the windrower" if name == "methane" else "servings of oats",
                 "h": "acres for the harvester" if name == "methane" else "servings of milk"}
    assert suggest_coefficients(found, name, expr, variables) == expected


@pytest.mark.parametrize(("expr", "sentence", "expected"), [
    ("6*s + 3*t <= 1000", "For the summer term, the school requires 1000 hours of teaching availability.",
     ("requires 1000", ">=")),
    ("x + y >= 40000", "They can spend no more than $40,000 on ads.", ("no more than $40,000", "<=")),
    ("40000 <= x", "They can spend no more than $40,000 on ads.", ("no more than $40,000", "<=")),
    ("x + y <= 40000", "They can spend no more than $40,000 on ads.", None),  # agrees
    # "needs" describing a coefficient, not followed by the limit
    ("20*a + 25*b <= 20000", "Each hectoliter needs 20 kg of malt for lager, 25 kg for ale, and 20,000 kg is in "
     "stock.", None),
    ("x >= 2*y", "There must be at least twice as many x as y.", None),  # variables on both sides
    ("x <= 10", "At least 2 and at most 10 vans are used.", None),  # the limit's own words agree
    ("x >= 10", "At least 2 and at most 10 vans are used.", ("at most 10", "<=")),
    # a bound written as an equality (nl4opt_test_050's greedy answer), unless the text says "exactly"
    ("s + t == 1000", "For the summer term, the school requires 1000 hours of teaching availability.",
     ("requires 1000", ">=")),
    ("s + t = 1000", "The school requires exactly 1000 hours of teaching.", None),
    ("s + t == 1000", "The school has 1000 hours of teaching.", None),
    ("s + t != 1000", "The school requires 1000 hours of teaching.", None),
    # a negated comparative is the opposite limit (nl4opt_test_221: its right `<=` was doubted, then flipped)
    ("550*p + 2000*c <= 400000", "If the company does not want to spend more than $400000, how many of each "
     "software package should they produce to maximize the profits.", None),
    ("550*p + 2000*c >= 400000", "If the company does not want to spend more than $400000, how many of each "
     "software package should they produce?", ("more than $400000,", "<=")),
    ("x >= 50", "The farm doesn't have more than 50 acres.", ("more than 50", "<=")),
    ("x <= 50", "They must make more than 50 units.", ("more than 50", ">=")),  # no negation: as before
    ("x <= 50", "It is not the case here; they must make more than 50 units.", ("more than 50", ">=")),
    # a requirement said after its number (nl4opt_test_167's greedy answer, 30 wagons for 67)
    ("20*s + 50*l <= 2000", "If 2000 units of ore need to taken to the surface, minimize the total number of "
     "wagons needed.", ("2000 units of ore need to", ">=")),
    ("20*s + 50*l >= 2000", "If 2000 units of ore need to be taken to the surface, minimize the wagons.", None),
    ("x + y <= 2000", "2000 units of ore need not be moved.", None),
    # a limit word over a list (nl4opt_test_101); "requires" lists an item's figures, not limits
    ("350*a + 300*o <= 2000", "The man wants to get at least 100 grams of protein and 2000 calories.",
     ("at least 100 grams of protein and 2000", ">=")),
    ("15*a + 25*b <= 25", "A catalyst requires 15 units of platinum and 25 units of palladium.", None),
])
def test_direction_conflict(expr: str, sentence: str, expected: tuple[str, str] | None) -> None:
    from agent.formalize import direction_conflict

    assert direction_conflict(expr, sentence) == expected


@pytest.mark.parametrize(("problem", "expr", "expected"), [
    ("A ship takes 40 containers and uses 500 liters; a plane takes 20 and uses 300 liters. At least 500 "
     "containers must go.", "500*ships + 300*planes <= 1000", ["1000"]),  # nl4opt_test_151's made-up limit
    ("At most 40% of the machines can be manual.", "manual <= 0.4*(manual + motion)", []),  # a percentage
    ("Each batch takes 2 hours; the oven runs 8 hours a day.", "2*x <= 8*60", []),  # a product of two numbers
    ("There must be at least twice as many small as large.", "small >= 2*large", []),  # a number word
    ("Four houses stand in a row, numbered 1 to 4.", "house_3 == 3", []),  # inside a stated range
    ("Four houses stand in a row, numbered 1 to 4.", "house_3 == 5", ["5"]),
])
def test_invented_numbers(problem: str, expr: str, expected: list[str]) -> None:
    from agent.formalize import invented_numbers

    assert invented_numbers(problem, expr) == expected


@pytest.mark.parametrize("layout", ["quoted", "lean", "indexed"])
def test_every_worked_example_follows_its_schema_and_solves(layout: str) -> None:
    """The worked answers are what the grammar lets the model write, and each is a model that solves."""
    import jsonschema

    import solvers

    for ex in worked_examples(layout):
        jsonschema.validate(ex["model"], output_schema(layout))
        ir = parse_model_output(json.dumps(ex["model"]), ex["problem"])
        compiled = ir.compile()
        assert solvers.solve(compiled, solvers.choose_target(compiled), time_limit=10).status.value == "optimal"


def test_indexed_prompt_shows_tables_and_forall() -> None:
    messages = formalize_messages("problem text", layout="indexed")
    assert output_schema("indexed") is INDEXED_SCHEMA
    assert "index sets" in messages[0]["content"]
    answers = [json.loads(m["content"]) for m in messages[2:-1:2]]
    assert all(a["sets"] and a["parameters"] for a in answers)
    assert any(c["forall"] and "sum(" in c["expr"] for a in answers for c in a["constraints"])
    assert any("t-1" in c["expr"] for a in answers for c in a["constraints"])  # the multi-period pattern


def _bench_problem(name: str, problem_id: str) -> str:
    path = Path(__file__).parents[1] / "datasets" / "benchmarks" / name
    return next(row["problem"] for row in map(json.loads, path.open()) if row["id"] == problem_id)


def test_auto_layout_keeps_word_problems_flat_and_indexes_tables() -> None:
    examples = Path(__file__).parents[1] / "datasets" / "examples"
    # nl4opt_test_... with 17 numbers, the most of any NL4Opt test problem, stays flat
    most = max((json.loads(line)["problem"] for line in (examples.parent / "benchmarks" / "nl4opt.jsonl").open()),
               key=lambda text: len(re.findall(r"\d", text)))
    assert choose_layout(BAKERY) == "lean" and choose_layout(most) == "lean"
    assert choose_layout((examples / "help_desk_shifts.txt").read_text()) == "indexed"
    assert choose_layout(_bench_problem("optmath.jsonl", "optmath_141")) == "indexed"
    assert choose_layout(BAKERY, "indexed") == "indexed" and choose_layout(BAKERY, "quoted") == "quoted"


TRANSPORT = ("A cement company has three plants, Ashford, Belmont and Cedar, and serves two cities: Northfield and "
             "Southport. Each week Ashford can ship up to 40 truckloads, Belmont up to 55 and Cedar up to 35. The "
             "customers need at least 30 truckloads in Northfield and 25 in Southport. Shipping one truckload costs "
             "$80 or $60 from Ashford, $90 or $120 from Belmont and $140 or $100 from Cedar, to Northfield or "
             "Southport. Minimize the shipping cost.")


def test_indexed_constraints_get_the_sentence_of_their_parameter_table() -> None:
    """A `forall` row names no number itself: its parameters' numbers and names find the sentence."""
    data = {"sets": [{"name": "Plants", "elements": ["Ashford", "Belmont", "Cedar"]},
                     {"name": "Cities", "elements": ["Northfield", "Southport"]}],
            "parameters": [{"name": "capacity", "index": ["Plants"], "value": [40, 55, 35]},
                           {"name": "need", "index": ["Cities"], "value": [30, 25]}],
            "variables": [{"name": "ship", "description": "truckloads", "index": ["Plants", "Cities"],
                           "domain": "integer", "lower": 0}],
            "constraints": [{"name": "supply", "forall": "plant in Plants",
                             "expr": "sum(c in Cities)(ship[plant, c]) <= capacity[plant]"},
                            {"name": "demand", "forall": "c in Cities",
                             "expr": "sum(p in Plants)(ship[p, c]) >= need[c]"}]}
    attach_sources(data, TRANSPORT)
    parts = sentences(TRANSPORT)
    assert [c["source"] for c in data["constraints"]] == [parts[1], parts[2]]


def test_the_one_of_for_1_hour_is_not_an_unused_number() -> None:
    """nl4opt_test_048's greedy answer: "Running factory 1 for 1 hour costs $300" is written 300*factory_1_hours,
    the 1 hour being the basis of the rates; doubting it twice sent the repairs after the wrong sentence."""
    text = "Running factory 1 for 1 hour costs $300 and produces 5 black teddy bears. A bar needs 1 kg and 12 units."
    used = ["5*factory_1_hours >= 20", "300*factory_1_hours", "12*bars <= 50"]
    assert unused_numbers(text, used) == [(["1"], sentences(text)[1])]  # a stated 1 elsewhere still counts
    assert unused_numbers(text, [*used, "1*bars <= 3"]) == []


def _pattern_list() -> list[dict]:
    from agent.formalize import prompt_text

    return json.loads(prompt_text("patterns.json"))


@pytest.mark.parametrize("pattern", _pattern_list(), ids=lambda p: p["name"])
def test_every_pattern_example_follows_its_schema_solves_and_raises_no_doubt(pattern: dict) -> None:
    """A worked pattern is what the grammar lets the model write, solves, and passes the loop's own checks: a
    doubt on it would have the loop repair the very answer the prompt teaches (the max-min rows restate each
    request, `share <= meals / 30000`, which the "used twice" check once took for a misplaced number)."""
    import jsonschema

    import solvers
    from agent.llm import make_llm
    from agent.loop import RepairLoop

    jsonschema.validate(pattern["model"], output_schema(pattern["layout"]))
    ir = parse_model_output(json.dumps(pattern["model"]), pattern["problem"])
    compiled = ir.compile()
    result = solvers.solve(compiled, solvers.choose_target(compiled), time_limit=10)
    assert result.status.value == "optimal"
    loop = RepairLoop(make_llm(f"replay:{Path(__file__).parent / 'fixtures' / 'loop' / 'validate_repaired.jsonl'}"))
    assert loop._doubts({"problem": pattern["problem"], "ir": ir, "compiled": compiled, "result": result}) == []


def test_a_pattern_is_shown_only_where_its_cues_occur() -> None:
    from agent.benchdata import load_benchmark
    from agent.formalize import pattern_examples

    for pattern in _pattern_list():
        assert pattern_examples(pattern["problem"], pattern["layout"])[0]["name"] == pattern["name"]
    assert pattern_examples(BAKERY, "lean") == []
    examples = Path(__file__).resolve().parents[1] / "datasets" / "examples"
    cover = (examples / "ambulance_set_cover.txt").read_text().strip()
    messages = formalize_messages(cover, layout="lean")
    assert len(messages) == 2 * len(worked_examples("lean")) + 4  # the coverage example, then the problem
    assert "served by at least one box" in messages[-3]["content"] and messages[-1]["content"] == cover
    # A product mix, a diet or a staffing problem keeps the fixed prompt: no NL4Opt test problem of the 245 that
    # papers use matches a pattern, so its prompt (and its stored prompt state) is unchanged.
    problems = load_benchmark("nl4opt")
    assert problems and not [p.id for p in problems if pattern_examples(p.problem, choose_layout(p.problem))]


PROJECTS = {"erp": "1 if the ERP upgrade is chosen", "data_warehouse": "1 if the data warehouse is chosen",
            "ai": "1 if the AI pilot is chosen", "web": "1 if the web portal is chosen",
            "security": "1 if the security audit is chosen"}


@pytest.mark.parametrize(("expr", "sentence", "expected"), [
    ("data_warehouse <= erp", "If the ERP upgrade is chosen, the data warehouse must be chosen too.",
     "erp <= data_warehouse"),
    ("erp <= data_warehouse", "If the ERP upgrade is chosen, the data warehouse must be chosen too.", None),
    ("erp <= ai", "The AI pilot can only be done if the ERP upgrade or the data warehouse is chosen.",
     "ai <= erp + data_warehouse"),  # the whole condition, not only the choice the row named
    ("ai <= erp + data_warehouse", "The AI pilot can only be done if the ERP upgrade or the data warehouse is chosen.",
     None),
    ("security <= web", "If the web portal is chosen, the security audit must also be done.", "web <= security"),
    ("security <= web", "The web portal and the security audit are both popular.", None),  # no condition
    ("2*security <= web", "If the web portal is chosen, the security audit must also be done.", None),
])
def test_a_condition_between_choices_written_backwards(expr: str, sentence: str, expected: str | None) -> None:
    from agent.formalize import implication_turned_around

    assert implication_turned_around(expr, sentence, PROJECTS) == expected


def test_the_missing_side_of_an_assignment_needs_exactly_one_said_twice() -> None:
    from agent.formalize import assignment_rows_missing

    crews = {f"{c}_{j}": "" for c in ("red", "blue") for j in ("office", "flat")}
    rows = [("red_one", "red_office + red_flat == 1"), ("blue_one", "blue_office + blue_flat == 1")]
    both = "Each crew takes exactly one job and each job gets exactly one crew."
    assert assignment_rows_missing(crews, rows, both) == [("office_exactly_one", "red_office + blue_office == 1"),
                                                          ("flat_exactly_one", "red_flat + blue_flat == 1")]
    assert assignment_rows_missing(crews, rows, "Each crew takes exactly one job.") == []  # a job may go unmanned
    columns = [("office_one", "red_office + blue_office == 1"), ("flat_one", "red_flat + blue_flat == 1")]
    assert assignment_rows_missing(crews, rows + columns, both) == []


def test_coverage_rows_are_read_from_each_sites_own_sentence() -> None:
    from agent.formalize import coverage_rows_misread

    text = ("A box at the station costs $900 and serves Elm and Harbor. A box at the school costs $700 and serves "
            "Harbor and Mill. Every neighbourhood must be served by at least one box.")
    sites = {"station": "1 if a box is placed at the station", "school": "1 if a box is placed at the school"}
    right = [("elm_served", "station >= 1"), ("harbor_served", "station + school >= 1"), ("mill_served", "school >= 1")]
    assert coverage_rows_misread(text, sites, right) == []
    wrong = [("elm_served", "station + school >= 1"), ("mill_served", "station >= 1")]
    assert coverage_rows_misread(text, sites, wrong) == [("elm_served", "station + school >= 1", "station >= 1"),
                                                         ("mill_served", "station >= 1", "school >= 1")]
    assert coverage_rows_misread(text.replace("at least one", "a"), sites, wrong) == []  # not a coverage text
