"""Scoring rules: strict, the papers' loose protocol, logic grids, taxonomy and aggregation."""

from __future__ import annotations

import math

import pytest

from agent.metrics import (
    DEFAULT_TOL,
    GroundTruthKind,
    Outcome,
    UnscorableError,
    aggregate,
    classify,
    grid_score,
    ground_truth_kind,
    loose_correct,
    normalize_label,
    score_grid,
    score_numeric,
    strict_correct,
)

# ----------------------------------------------------------------------------- strict


def test_exact_match_is_correct() -> None:
    assert strict_correct(3000.0, 3000.0)
    assert strict_correct(3000, 3000.0)  # ints are numbers too


@pytest.mark.parametrize(
    ("gt", "inside", "outside"),
    [
        (0.0, 0.9e-6, 1.1e-6),  # absolute 1e-6 near zero
        (0.5, 0.9e-6, 1.1e-6),  # |gt| < 1: still absolute 1e-6
        (1000.0, 0.9e-3, 1.1e-3),  # relative: 1e-6 * 1000
        (-250.0, 240e-6, 260e-6),  # negative objectives use |gt|
        (1e12, 0.9e6, 1.1e6),  # huge: 1e-6 * 1e12 = 1e6
    ],
)
def test_tolerance_boundary(gt: float, inside: float, outside: float) -> None:
    for sign in (1, -1):
        assert strict_correct(gt + sign * inside, gt), (gt, sign, "inside")
        assert not strict_correct(gt + sign * outside, gt), (gt, sign, "outside")


def test_zero_objective() -> None:
    assert strict_correct(0.0, 0.0)
    assert strict_correct(-0.0, 0.0)
    assert not strict_correct(0.01, 0.0)


def test_negative_objective_sign_matters() -> None:
    assert strict_correct(-42.0, -42.0)
    assert not strict_correct(42.0, -42.0)


def test_huge_objective() -> None:
    assert strict_correct(1e12, 1e12)
    assert strict_correct(1e12 + 1.0, 1e12)  # 1e-12 relative: a float-noise difference
    assert not strict_correct(1.01e12, 1e12)


def test_tolerance_is_configurable() -> None:
    assert not strict_correct(104.0, 100.0)
    assert strict_correct(104.0, 100.0, tol=0.05)
    assert not strict_correct(100.0 + 1e-9, 100.0, tol=0.0)
    with pytest.raises(ValueError):
        strict_correct(1.0, 1.0, tol=-1e-6)
    with pytest.raises(ValueError):
        strict_correct(1.0, 1.0, tol=math.nan)


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, "3000", True, [3000.0], object()])
def test_unusable_predictions_are_wrong_never_raise(bad: object) -> None:
    assert strict_correct(bad, 3000.0) is False
    assert loose_correct(bad, 3000.0) is False
    assert strict_correct(bad, 1.0, tol=1e300) is False


def test_infeasible_ground_truth() -> None:
    # the benchmark files encode "infeasible" as answer null + answer_status "infeasible"
    assert strict_correct(None, None, gt_status="infeasible", pred_status="infeasible")
    assert strict_correct(None, None, gt_status="Infeasible", pred_status="INFEASIBLE")
    assert not strict_correct(None, None, gt_status="infeasible", pred_status="unbounded")
    assert not strict_correct(None, None, gt_status="infeasible", pred_status="infeasible_or_unbounded")
    assert not strict_correct(0.0, None, gt_status="infeasible", pred_status="optimal")
    assert not strict_correct(None, None, gt_status="infeasible")  # no prediction at all


def test_unbounded_ground_truth() -> None:
    assert strict_correct(None, None, gt_status="unbounded", pred_status="unbounded")
    assert not strict_correct(None, None, gt_status="unbounded", pred_status="infeasible")
    assert not strict_correct(1e30, None, gt_status="unbounded", pred_status="optimal")


def test_reporting_infeasible_on_a_feasible_problem_is_wrong() -> None:
    assert not strict_correct(None, 3000.0, pred_status="infeasible")
    # a stale number alongside an infeasible status is still an infeasible report
    assert not strict_correct(3000.0, 3000.0, pred_status="infeasible")


@pytest.mark.parametrize(
    ("answer", "status", "kind"),
    [
        (3000.0, "optimal", GroundTruthKind.VALUE),
        (None, "infeasible", GroundTruthKind.INFEASIBLE),
        (None, "unbounded", GroundTruthKind.UNBOUNDED),
        (None, "unlabeled", GroundTruthKind.UNSCORED),
        (None, "removed_by_sirl", GroundTruthKind.UNSCORED),
        (None, "infeasible_or_unsolved (empty solution.json)", GroundTruthKind.UNSCORED),
        (None, "satisfiable_reference_solution", GroundTruthKind.UNSCORED),
        (None, "non_numeric: see solution_rows", GroundTruthKind.UNSCORED),
        (math.nan, "optimal", GroundTruthKind.UNSCORED),
    ],
)
def test_ground_truth_kinds(answer: float | None, status: str, kind: GroundTruthKind) -> None:
    assert ground_truth_kind(answer, status) is kind


def test_unscorable_ground_truth_raises() -> None:
    with pytest.raises(UnscorableError):
        strict_correct(1.0, None, gt_status="unlabeled")
    with pytest.raises(UnscorableError):
        loose_correct(1.0, None, gt_status="removed_by_sirl")


# ----------------------------------------------------------------------------- loose (ORLM / OptMATH)


@pytest.mark.parametrize(
    ("pred", "gt", "strict", "loose"),
    [
        (104.0, 100.0, False, True),  # 4 % off: papers accept, we do not
        (106.0, 100.0, False, False),  # 6 % off
        (105.0, 100.0, False, True),  # exactly 5 %: <= in the papers
        (-104.0, -100.0, False, True),  # negative objectives
        (0.4, 0.0, False, True),  # both round to 0
        (0.6, 0.0, False, False),  # rounds to 1, gt 0: |1| > 0.05
        (7.5, 7.5, True, True),
        (7.4, 7.0, False, True),  # rounding to integers hides the LP/ILP gap
        (2.5, 3.0, False, False),  # round-half-to-even: round(2.5) == 2, 1/3 off
        (3.5, 4.0, False, True),  # round(3.5) == 4
        (11666.666667, 11666.67, True, True),  # 2-decimal labels pass both
        (1e12 * 1.03, 1e12, False, True),
    ],
)
def test_loose_differs_from_strict(pred: float, gt: float, strict: bool, loose: bool) -> None:
    assert strict_correct(pred, gt) is strict
    assert loose_correct(pred, gt) is loose


def test_loose_infeasible_matches_any_no_best_solution() -> None:
    # their harness prints "No Best Solution" for every non-OPTIMAL status
    for status in ("infeasible", "unbounded", "infeasible_or_unbounded"):
        assert loose_correct(None, None, gt_status="infeasible", pred_status=status)
    assert not loose_correct(5.0, None, gt_status="infeasible", pred_status="optimal")
    assert not loose_correct(None, 5.0, pred_status="infeasible")


def test_loose_does_not_mutate_inputs() -> None:
    pred, gt = [104.4], [100.2]
    loose_correct(pred[0], gt[0])
    assert pred == [104.4] and gt == [100.2]


def test_loose_extremes_never_raise() -> None:
    assert loose_correct(1.7e308, 1.0) is False
    assert loose_correct(-1.7e308, 1.0) is False
    assert loose_correct(4.0799999550000226e35, 4.0799999550000226e35) is True


# ----------------------------------------------------------------------------- logic grids

GT = [
    ["chianti", "24", "priscilla"],
    ["port", "27", "robin"],
    ["riesling", "26", "kurt"],
    ["shiraz", "25", "isabel"],
]


def test_grid_exact_and_row_order_free() -> None:
    s = grid_score(list(reversed(GT)), GT)
    assert s.puzzle_correct and s.cells_correct == s.cells_total == 8 and s.cell_accuracy == 1.0


def test_grid_normalises_case_and_whitespace_only() -> None:
    pred = [
        ["Chianti", " 24", "PRISCILLA"],
        ["port", "27", "robin"],
        ["Riesling", "26", "Kurt"],
        ["shiraz", "25", "isabel  "],
    ]
    assert grid_score(pred, GT).puzzle_correct
    assert normalize_label("  Sales   Rep ") == "sales rep"
    dollars = [["chianti", "$24", "priscilla"], *GT[1:]]
    s = grid_score(dollars, GT)
    assert not s.puzzle_correct and s.cells_correct == 7  # "$24" is not "24": no lenient matching


def test_grid_partial_cells() -> None:
    pred = [
        ["chianti", "24", "robin"],
        ["port", "27", "priscilla"],
        ["riesling", "26", "kurt"],
        ["shiraz", "25", "isabel"],
    ]
    s = grid_score(pred, GT)
    assert not s.puzzle_correct
    assert (s.cells_correct, s.cells_total) == (6, 8)
    assert s.cell_accuracy == 0.75


@pytest.mark.parametrize("bad", [None, [], "grid", [["chianti"]], [["x", "y", "z"]] * 4, 42])
def test_grid_malformed_prediction_scores_zero(bad: object) -> None:
    s = grid_score(bad, GT)
    assert not s.puzzle_correct
    assert s.cells_correct == 0 and s.cells_total == 8


def test_grid_extra_rows_not_correct() -> None:
    s = grid_score([*GT, ["merlot", "28", "zed"]], GT)
    assert not s.puzzle_correct and s.cell_accuracy == 1.0


def test_grid_accepts_objects_with_rows() -> None:
    class Ans:
        rows = GT

    assert grid_score(Ans(), Ans()).puzzle_correct


# ----------------------------------------------------------------------------- taxonomy


def test_outcome_vocabulary() -> None:
    assert {o.value for o in Outcome} == {
        "correct", "no_parse", "invalid_ir", "render_error", "solver_error",
        "infeasible", "unbounded", "wrong_answer", "timeout", "llm_error",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"failure": "no_parse", "pred": 3000.0, "gt": 3000.0}, Outcome.NO_PARSE),
        ({"failure": Outcome.LLM_ERROR, "gt": 3000.0}, Outcome.LLM_ERROR),
        ({"pred": 3000.0, "gt": 3000.0}, Outcome.CORRECT),
        ({"pred": 2999.0, "gt": 3000.0}, Outcome.WRONG_ANSWER),
        ({"pred": None, "pred_status": "infeasible", "gt": 3000.0}, Outcome.INFEASIBLE),
        ({"pred": None, "pred_status": "unbounded", "gt": 3000.0}, Outcome.UNBOUNDED),
        ({"pred": None, "pred_status": "infeasible", "gt": None, "gt_status": "infeasible"}, Outcome.CORRECT),
        ({"pred": 5.0, "gt": None, "gt_status": "infeasible"}, Outcome.WRONG_ANSWER),
        ({"pred": None, "pred_status": "time_limit", "gt": 3.0}, Outcome.TIMEOUT),
        ({"pred": math.nan, "pred_status": "optimal", "gt": 3.0}, Outcome.SOLVER_ERROR),
        ({"pred": None, "gt": 3.0}, Outcome.SOLVER_ERROR),
        ({"pred": 3.0, "gt": None, "gt_status": "unlabeled"}, None),
    ],
)
def test_classify(kwargs: dict, expected: Outcome | None) -> None:
    assert classify(**kwargs) is expected


def test_classify_rejects_unknown_failure() -> None:
    with pytest.raises(ValueError):
        classify(failure="exploded")


# ----------------------------------------------------------------------------- aggregation


def test_score_numeric_fields() -> None:
    r = score_numeric(pred=104.0, gt=100.0)
    assert r == {
        "outcome": "wrong_answer", "strict": False, "loose": True, "executed": True,
        "tolerance": DEFAULT_TOL, "loose_rel_tol": 0.05,
    }  # fmt: skip
    r = score_numeric(pred=None, gt=None, gt_status="unlabeled")
    assert r["strict"] is None and r["loose"] is None and r["outcome"] == "solver_error"
    r = score_numeric(pred=100.0, gt=100.0, failure="render_error")
    assert r["strict"] is False and r["loose"] is False and not r["executed"] and r["outcome"] == "render_error"
    r = score_numeric(pred=None, gt=None, gt_status="infeasible", pred_status="infeasible")
    assert r["strict"] and r["executed"] and r["outcome"] == "correct"


def test_score_grid_fields() -> None:
    assert score_grid(pred=GT, gt=GT) == {
        "outcome": "correct", "strict": True, "loose": None, "executed": True, "cell_accuracy": 1.0,
    }  # fmt: skip
    r = score_grid(pred=None, gt=GT, failure="no_parse")
    assert r["outcome"] == "no_parse" and r["strict"] is False and r["cell_accuracy"] == 0.0


def test_aggregate_run() -> None:
    results = [
        {**score_numeric(pred=100.0, gt=100.0), "repairs": 0, "seconds": 1.0, "tokens": 100},
        {**score_numeric(pred=104.0, gt=100.0), "repairs": 2, "seconds": 3.0, "tokens": 300},
        {
            **score_numeric(pred=None, gt=None, gt_status="infeasible", pred_status="infeasible"),
            "seconds": 2.0,
        },
        {**score_numeric(pred=None, gt=5.0, failure="no_parse"), "repairs": 1, "prompt_tokens": 50},
        {**score_numeric(pred=7.0, gt=None, gt_status="unlabeled"), "seconds": 10.0},
    ]
    agg = aggregate(results, config={"sample_count": 1, "answer_version": "sirl_fixed@8e85194b8f25"})
    assert agg["n"] == 5 and agg["n_scored"] == 4 and agg["n_unscored"] == 1
    assert agg["strict_correct"] == 2 and agg["strict_accuracy"] == 0.5
    assert agg["loose_correct"] == 3 and agg["loose_accuracy"] == 0.75
    assert agg["executed"] == 4 and agg["execution_rate"] == 0.8
    assert agg["mean_repairs"] == 3 / 5
    assert agg["median_seconds"] == 2.5 and agg["mean_seconds"] == 4.0
    assert agg["total_tokens"] == 450 and agg["tokens_per_problem"] == 150.0
    assert agg["outcomes"]["correct"] == 2 and agg["outcomes"]["wrong_answer"] == 1
    assert agg["outcomes"]["no_parse"] == 1 and sum(agg["outcomes"].values()) == 4
    assert set(agg["outcomes"]) == {o.value for o in Outcome}
    assert agg["config"] == {
        "sample_count": 1, "answer_version": "sirl_fixed@8e85194b8f25",
        "tolerance": DEFAULT_TOL, "loose_rel_tol": 0.05,
    }  # fmt: skip
    assert "orlm" in agg["loose_protocol"]


def test_aggregate_empty_and_minimal() -> None:
    agg = aggregate([])
    assert agg["n"] == 0 and agg["strict_accuracy"] is None and agg["execution_rate"] is None
    agg = aggregate([{"outcome": "correct"}, {"outcome": "timeout"}])
    assert agg["strict_accuracy"] == 0.5 and agg["loose_accuracy"] is None and agg["executed"] == 1


def test_aggregate_grid_cells() -> None:
    half = [
        ["chianti", "24", "robin"],
        ["port", "27", "priscilla"],
        ["riesling", "26", "isabel"],
        ["shiraz", "25", "kurt"],
    ]
    agg = aggregate([score_grid(pred=GT, gt=GT), score_grid(pred=half, gt=GT)])
    assert agg["strict_accuracy"] == 0.5 and agg["mean_cell_accuracy"] == 0.75


def test_aggregate_refuses_mixed_config() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        aggregate([score_numeric(pred=1.0, gt=1.0), score_numeric(pred=1.0, gt=1.0, tol=1e-4)])
    with pytest.raises(ValueError, match="tolerance"):
        aggregate([score_numeric(pred=1.0, gt=1.0)], config={"tolerance": 1e-4})
    with pytest.raises(ValueError, match="unknown outcome"):
        aggregate([{"outcome": "kaboom"}])
