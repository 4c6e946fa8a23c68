"""Tests of the logic-grid puzzle pipeline (agent/puzzles.py): the deterministic parser on every
benchmark puzzle, clue translation, the IR skeleton solved by real solvers with hand-written clues,
the repair loop with a scripted model, a replay of recorded real model responses, and, marked
`model`, the real embedded model end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.benchdata import load_benchmark
from agent.llm import LLM, Completion, LLMError, ModelUnavailable, ReplayLLM
from agent.metrics import grid_score
from agent.puzzles import (
    ClueError,
    PuzzleFormatError,
    check_clues,
    clue_draft,
    clue_form,
    clue_mentions,
    clue_schema,
    describe_puzzle,
    match_labels,
    numeric_values,
    parse_puzzle,
    puzzle_examples,
    puzzle_messages,
    relabel,
    skeleton_ir,
    solve_puzzle,
    translate_clue,
)
from agent.trace import Trace

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "puzzles"
ALL = load_benchmark("logic_grid", subset="all")
BY_ID = {p.id: p for p in ALL}


def _rows(pid: str) -> list[list[str]]:
    return BY_ID[pid].answer.rows  # type: ignore[union-attr]


def _labels(pid: str) -> list[list[str]]:
    return BY_ID[pid].answer.items  # type: ignore[union-attr]


# --------------------------------------------------------------------------- parsing


def test_parser_reads_every_benchmark_puzzle() -> None:
    assert len(ALL) == 149
    for prob in ALL:
        p = parse_puzzle(prob.problem)
        rows = _rows(prob.id)
        assert len(p.categories) == len(rows[0]), prob.id
        assert all(len(c.items) == len(rows) for c in p.categories), prob.id
        assert p.clues == prob.extras["clues"], prob.id
        header = prob.extras["entities_raw"].splitlines()[0]
        assert [c.name for c in p.categories] == [h.strip() for h in header.split(",")], prob.id
        ids = p.item_ids()
        assert len({i.casefold() for i in ids}) == len(ids), prob.id
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", i) for i in ids), prob.id
        for c in p.numeric:
            assert c.values is not None and len(set(c.values)) == len(c.items), prob.id
        # the solution's vocabulary is the puzzle's items, up to the upstream relabelling
        for c, labels in zip(p.categories, _labels(prob.id), strict=True):
            mapping = match_labels(c.items, labels)
            assert sorted(mapping.values()) == sorted(labels), (prob.id, c.name)


def test_numeric_categories() -> None:
    assert numeric_values(["$2,000", "$4,000", "$5,000", "$20,000"]) == ([2000, 4000, 5000, 20000], "")
    assert numeric_values(["January", "February", "March", "April"])[0] == [1, 2, 3, 4]  # type: ignore[index]
    assert numeric_values(["7:00am", "7:30am", "8:00am", "8:30am"])[0] == [420, 450, 480, 510]  # type: ignore[index]
    assert numeric_values(["8:00am", "9:00am", "10:00am", "11:00am"])[0] == [8, 9, 10, 11]  # type: ignore[index]
    assert numeric_values(["3rd", "4th", "7th", "8th"])[0] == [3, 4, 7, 8]  # type: ignore[index]
    assert numeric_values(["second", "fourth", "sixth", "seventh"])[0] == [2, 4, 6, 7]  # type: ignore[index]
    assert numeric_values(["August 20th", "August 21st", "August 22nd", "August 23rd"])[0] == [20, 21, 22, 23]  # type: ignore[index]
    assert numeric_values(["DM-5000", "FC-520", "MX-827", "Zenix 2C"]) is None
    assert numeric_values(["Lectra 4C", "Egert Facility", "ISON-X42", "Zynga"]) is None
    assert numeric_values(["Ann", "Bo"]) is None


def test_label_matching_handles_upstream_relabelling() -> None:
    assert match_labels(["$24", "$25"], ["24", "25"]) == {"$24": "24", "$25": "25"}
    assert match_labels(["7:00am", "7:30am", "8:00am"], ["7:30am", "7am", "8am"]) == {
        "7:00am": "7am", "7:30am": "7:30am", "8:00am": "8am"}
    assert match_labels(["8", "10"], ["10 years", "8 years"]) == {"8": "8 years", "10": "10 years"}
    assert match_labels(["$2,000", "$20,000"], ["20000", "2000"]) == {"$2,000": "2000", "$20,000": "20000"}


def test_parser_rejects_free_text() -> None:
    with pytest.raises(PuzzleFormatError):
        parse_puzzle("Four houses stand in a row. Who lives where?")
    with pytest.raises(PuzzleFormatError, match="different numbers"):
        parse_puzzle("Categories and items:\na, b\n\nx, y\np, q, r\n\nClues:\nx is p.")


def test_prompt_prefix_is_fixed_and_examples_come_from_train() -> None:
    a = puzzle_messages(parse_puzzle(BY_ID["lgp_test_puzzle_1"].problem))
    b = puzzle_messages(parse_puzzle(BY_ID["lgp_test_puzzle_2"].problem))
    assert a[:-1] == b[:-1] and a[-1] != b[-1]
    for ex in puzzle_examples():
        assert BY_ID[ex["id"]].extras["split"] == "train"
        assert ex["problem"] == BY_ID[ex["id"]].problem
    schema = clue_schema(["A is B.", "C is D."], ["A == B", "A == B"])
    assert schema["properties"]["clues"]["minItems"] == 2
    assert "Clues:\n1. " in describe_puzzle(parse_puzzle(BY_ID["lgp_test_puzzle_1"].problem))


# --------------------------------------------------------------------------- clue translation


@pytest.fixture
def wines() -> Any:
    return parse_puzzle(BY_ID["lgp_test_puzzle_1"].problem)  # wines, prices ($24-$27), names


@pytest.mark.parametrize("expr, expected", [
    ("Isabel == port", 'row["Isabel"] == row["port"]'),
    ("price[port] == price[Kurt] + 1", 'price["port"] == price["Kurt"] + 1'),
    ("Isabel == price_25", 'row["Isabel"] == row["price_25"]'),
    # slips a small model makes, repaired without asking it again
    ("Isabel == 25", 'price["Isabel"] == 25'),
    ("port == Kurt + 1", 'price["port"] == price["Kurt"] + 1'),
    ("isabel = $25", 'price["Isabel"] == 25'),
    ("prices[Isabel] > prices[kurt]", 'price["Isabel"] > price["Kurt"]'),
    ('Isabel != "$24"', 'row["Isabel"] != row["price_24"]'),
    ("price[Isabel] == price_25", 'price["Isabel"] == price["price_25"]'),
    ("alldifferent(Isabel, port, price_24)", 'alldifferent(row["Isabel"], row["port"], row["price_24"])'),
])
def test_translate_clue(wines: Any, expr: str, expected: str) -> None:
    assert translate_clue(expr, wines) == expected


@pytest.mark.parametrize("expr, message", [
    ("Isabel is port", "cannot be parsed"),
    ("Isabell == Kurtt", "did you mean Isabel"),
    ("true", "not a translation"),
    ("name[Isabel] == 1", "are names, not numbers"),
    ("price == 3", "needs an item"),
    ("sum(i in Items)(price[i]) > 0", "not needed"),
    ("", "empty"),
])
def test_translate_clue_errors_are_written_for_the_model(wines: Any, expr: str, message: str) -> None:
    with pytest.raises(ClueError, match=message):
        translate_clue(expr, wines)


def test_skeleton_compiles_for_every_puzzle() -> None:
    for prob in ALL[::10]:
        p = parse_puzzle(prob.problem)
        compiled = skeleton_ir(p).compile()
        assert "row" in compiled.variables


@pytest.mark.parametrize("clue, form, names", [
    ("Freda paid 20 dollars more than Lynda's client.", "price[A] == price[B] + 20", ["Freda", "Lynda"]),
    ("Hannah paid 10 dollars less than Nancy's client.", "price[A] == price[B] - 10", ["Hannah", "Nancy"]),
    ("Hannah paid more than Teri's client.", "price[A] > price[B]", ["Hannah", "Teri"]),
    ("Hannah was either the person who paid $180 or Lynda's client.", "(X == A or X == B) and A != B",
     ["Hannah", "price_180", "Lynda"]),
    ("Nancy's client, Hannah and Ginger were all different clients.", "alldifferent(A, B, C)",
     ["Nancy", "Hannah", "Ginger"]),
    ("Of Hannah and Freda, one paid $150 and the other paid $170.",
     "A != B and ((A == C and B == D) or (A == D and B == C))", ["Hannah", "Freda", "price_150", "price_170"]),
    ("Teri's client did not pay $160.", "A != B", ["Teri", "price_160"]),
    ("Aimee paid $150.", "A == B", ["Aimee", "price_150"]),
])
def test_clue_forms_and_mentions(clue: str, form: str, names: list[str]) -> None:
    p = parse_puzzle(puzzle_examples()[0]["problem"])  # clients, prices $150-$180, masseuses
    assert clue_form(clue, p) == form
    assert clue_mentions(clue, p) == names


def test_forms_pick_the_compared_category_or_leave_it_open() -> None:
    trees = parse_puzzle(BY_ID["lgp_train_puzzle_47"].problem)  # heights (feet) and ages
    assert clue_form("The 96 years old tree is 3 feet shorter than the 79 years old tree.", trees) == \
        "height[A] == height[B] - 3"
    assert clue_mentions("The 96 years old tree is 3 feet shorter than the 79 years old tree.", trees) == \
        ["age_96", "age_79"]
    assert clue_form("The 96 years old tree is taller than Zeke's Spruce.", trees) == "height[A] > height[B]"
    cars = parse_puzzle(BY_ID["lgp_train_puzzle_9"].problem)  # distances and speeds
    assert clue_form("The Awick drove somewhat less than the automobile with a high speed of 81 MPH.", cars) \
        == "distance[A] < distance[B] | speed[A] < speed[B]"
    books = parse_puzzle(BY_ID["lgp_train_puzzle_45"].problem)  # due dates in one month
    assert clue_form("Sherrie's book was due 2 weeks before Stars Below.", books) == \
        "due_date[A] == due_date[B] - 14"


# --------------------------------------------------------------------------- real solvers


# Correct hand translations of a train puzzle that is not a prompt example (months, "sometime").
TRAIN_2 = [
    "month[Vasquez] > month[Macdonald]",
    "month[Vasquez] == month[duration_5] - 1",
    "(Gilbert == January or Gilbert == duration_4) and January != duration_4",
    "month[Macdonald] == month[duration_4] - 1",
    "month[duration_4] < month[duration_9]",
]


@pytest.mark.parametrize("pid, exprs", [(ex["id"], ex["exprs"]) for ex in puzzle_examples()]
                         + [("lgp_train_puzzle_2", TRAIN_2)])
def test_hand_written_clues_solve_to_the_known_grid(pid: str, exprs: list[str]) -> None:
    p = parse_puzzle(BY_ID[pid].problem)
    check = check_clues(p, exprs, time_limit=10)
    assert check.status == "unique" and not check.errors
    assert check.grid is not None and [r[0] for r in check.grid] == p.categories[0].items
    score = grid_score(relabel(check.grid, p, _labels(pid)), BY_ID[pid].answer)
    assert score.puzzle_correct, check.grid


def test_weak_clue_is_reported_as_several_grids() -> None:
    p = parse_puzzle(BY_ID["lgp_train_puzzle_2"].problem)
    check = check_clues(p, [*TRAIN_2[:4], "month[duration_4] != month[duration_9]"], time_limit=10)
    assert check.status == "multiple" and check.other is not None and check.grid != check.other


def test_conflicting_clues_are_named_by_the_core() -> None:
    p = parse_puzzle(BY_ID["lgp_train_puzzle_2"].problem)
    bad = [*TRAIN_2[:4], "month[duration_4] > month[duration_9] + 2"]
    check = check_clues(p, bad, time_limit=10)
    assert check.status == "infeasible" and 5 in check.core


# --------------------------------------------------------------------------- the loop with a scripted model


class ScriptedLLM(LLM):
    """Answers the first call with a script, and repairs from `fixes` (clue text -> expression),
    reading which clues are asked from the schema's fixed clue texts; keeps what it was asked."""

    backend = "scripted"

    def __init__(self, answers: list[str], fixes: dict[str, str] | None = None) -> None:
        super().__init__("scripted")
        self.answers = list(answers)
        self.fixes = fixes or {}
        self.asked: list[list[dict[str, Any]]] = []

    def _complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
        self.asked.append(messages)
        if self.answers:
            text = self.answers.pop(0)
        elif self.fixes and kwargs.get("json_schema"):
            clues = [e["properties"]["clue"]["const"]
                     for e in kwargs["json_schema"]["properties"]["clues"]["prefixItems"]]
            text = _answer(clues, [self.fixes.get(c, "true") for c in clues])
        else:
            raise LLMError("the script has no more answers")
        return Completion(text, 10, 10, 0.01, "scripted", "scripted", "stop")


def _answer(clues: list[str], exprs: list[str]) -> str:
    return json.dumps({"clues": [{"clue": c, "expr": e} for c, e in zip(clues, exprs, strict=True)]})


def test_solve_puzzle_repairs_bad_and_weak_clues() -> None:
    prob = BY_ID["lgp_train_puzzle_2"]
    clues = prob.extras["clues"]
    first = [TRAIN_2[0], "Vasquez is 1 month before duration_5", *TRAIN_2[2:4],
             "month[duration_4] != month[duration_9]"]
    # repair 1 asks for the unparsable clue 2; repair 2 for clue 5, too weak (several grids), and others
    llm = ScriptedLLM([_answer(clues, first)], fixes=dict(zip(clues, TRAIN_2, strict=True)))
    trace = Trace()
    res = solve_puzzle(prob.problem, llm, trace=trace, answer_labels=_labels(prob.id), time_limit=10, hints="form")
    assert res.success and res.status == "unique" and res.repairs == 2, res.message
    assert grid_score(res.rows, prob.answer).puzzle_correct
    assert "Clue 2: cannot be parsed" in llm.asked[1][-1]["content"]
    assert "More than one grid" in llm.asked[2][-1]["content"] and "Clue 5" in llm.asked[2][-1]["content"]
    assert llm.asked[0][:-1] == llm.asked[1][:len(llm.asked[0]) - 1]  # repairs extend the conversation
    kinds = [e["kind"] for e in trace.events]
    assert kinds.count("llm_call") == 3 and "repair" in kinds and trace.data["result"]["success"]


def test_broken_copy_of_a_draft_falls_back_to_the_draft() -> None:
    prob = BY_ID["lgp_train_puzzle_2"]
    clues = prob.extras["clues"]
    p = parse_puzzle(prob.problem)
    drafts = [clue_draft(c, p) for c in clues]
    assert drafts == [*TRAIN_2[:2], "(Gilbert == January or Gilbert == duration_4) and January != duration_4",
                      *TRAIN_2[3:]]
    broken = drafts[2].replace("(", "", 1)  # a dropped bracket, as the 1.5B model does
    llm = ScriptedLLM([_answer(clues, [*TRAIN_2[:2], broken, *TRAIN_2[3:]])])
    trace = Trace()
    res = solve_puzzle(prob.problem, llm, trace=trace, answer_labels=_labels(prob.id), time_limit=10)
    assert res.success and res.repairs == 0 and len(llm.asked) == 1
    assert [e for e in trace.events if e["kind"] == "draft_used"][0]["clue"] == 3


def test_solve_puzzle_out_of_repairs_still_answers() -> None:
    prob = BY_ID["lgp_train_puzzle_2"]
    clues = prob.extras["clues"]
    bad = [*TRAIN_2[:4], "month[duration_4] > month[duration_9] + 2"]  # conflicts with clues 1-4
    llm = ScriptedLLM([_answer(clues, bad)])
    res = solve_puzzle(prob.problem, llm, max_repairs=0, time_limit=10)
    assert not res.success and res.status == "infeasible" and res.rows is not None
    assert "dropped clue" in res.message


def test_solve_puzzle_reports_unreadable_text_and_model_failure() -> None:
    res = solve_puzzle("no puzzle here", ScriptedLLM([]))
    assert res.status == "error" and res.rows is None and "cannot read puzzle" in res.message
    res = solve_puzzle(BY_ID["lgp_train_puzzle_2"].problem, ScriptedLLM([]))
    assert res.status == "error" and res.rows is None and "language model failed" in res.message


# --------------------------------------------------------------------------- recorded real responses


REPLAY = FIXTURES / "lgp_train_puzzle_2.jsonl"


@pytest.mark.skipif(not REPLAY.exists(), reason="recording missing")
def test_replay_of_recorded_real_model() -> None:
    """The full loop on real embedded-model answers. The recording goes stale when the prompt files
    change; re-record with `make_llm("embedded", record=REPLAY)` passed to `solve_puzzle` (the
    expected file holds what that run returned), or `python -m agent.puzzles --ids
    lgp_train_puzzle_2 --record REPLAY`."""
    prob = BY_ID["lgp_train_puzzle_2"]
    expected = json.loads((FIXTURES / "lgp_train_puzzle_2.expected.json").read_text())
    res = solve_puzzle(prob.problem, ReplayLLM(REPLAY), answer_labels=_labels(prob.id), time_limit=10)
    assert res.status == expected["status"] and res.repairs == expected["repairs"]
    assert res.rows == expected["rows"]
    assert grid_score(res.rows, prob.answer).puzzle_correct == expected["puzzle_correct"]


# --------------------------------------------------------------------------- the real model


@pytest.mark.model
def test_real_model_end_to_end() -> None:
    from agent.llm import make_llm
    from agent.llm.model_store import embedded_model_path

    try:
        embedded_model_path()
    except ModelUnavailable as exc:
        pytest.skip(f"embedded model not cached: {exc}")
    prob = BY_ID["lgp_train_puzzle_2"]
    res = solve_puzzle(prob.problem, make_llm("embedded"), answer_labels=_labels(prob.id), llm_timeout=600)
    assert res.trace is not None and res.trace.llm_totals()["llm_calls"] >= 1
    assert res.rows is not None and len(res.rows) == 4
    assert grid_score(res.rows, prob.answer).cell_accuracy > 0
