"""Self-consistency voting and the strategy ladder, on loop results built from real solves."""

from __future__ import annotations

from pathlib import Path

import pytest

import solvers
from agent.loop import Attempt, LoopResult
from agent.strategies import STRATEGIES, get_strategy, is_clean, same_answer, structure, vote
from formalizers.ir import parse_ir


def _result(objective: float | None, *, sense: str = "maximize", domain: str = "integer", success: bool = True,
            status: str = "optimal", confirmed: bool = False) -> LoopResult:
    """A loop result around a real one-variable model solved by a real solver."""
    ir = parse_ir({"variables": [{"name": "x", "domain": domain, "lower": 0, "upper": 1000}],
                   "constraints": [{"name": "cap", "expr": f"x <= {objective if objective is not None else 0}"}],
                   "objective": {"sense": sense, "expr": "x"}})
    compiled = ir.compile()
    solved = solvers.solve(compiled, "milp", time_limit=5, explain=False)
    assert solved.status.has_solution
    return LoopResult(problem="p", success=success, status=status, objective=solved.objective if success else None,
                      values=solved.values, ir=ir, compiled=compiled, result=solved, check=None,
                      attempts=[Attempt(index=1, outcome="SUCCESS" if success else "FATAL", stage="done")],
                      repairs=0, seconds=1.0, infeasible_confirmed=confirmed)


def test_majority_wins() -> None:
    results = [_result(10), _result(12), _result(12)]
    best, share, clusters = vote(results)
    assert results[best].objective == 12
    assert share == pytest.approx(2 / 3)
    assert sorted(map(len, clusters)) == [1, 2]


def test_tolerance_clusters_close_answers() -> None:
    a, b = _result(100), _result(100)
    b.objective = 100 * (1 + 1e-9)
    assert same_answer(a, b)
    b.objective = 100.01
    assert not same_answer(a, b)


def test_structure_breaks_ties() -> None:
    # Two answers with one vote each: the one whose formalization shares its shape with a third,
    # failed sample (same sense and variable types) wins.
    results = [_result(5, domain="continuous"), _result(7), _result(9, success=False, status="error")]
    best, share, _ = vote(results)
    assert results[best].objective == 7
    assert structure(results[1]) == structure(results[2]) != structure(results[0])
    assert 0 < share < 0.5


def test_failed_samples_never_win_and_no_answer_is_share_zero() -> None:
    failed = [_result(3, success=False, status="error") for _ in range(3)]
    assert vote(failed)[1] == 0.0
    best, share, _ = vote(failed + [_result(4)])
    assert best == 3 and share > 0


def test_confirmed_infeasible_is_an_answer() -> None:
    inf = _result(1, success=False, status="infeasible", confirmed=True)
    inf2 = _result(1, success=False, status="infeasible", confirmed=True)
    best, share, _ = vote([inf, inf2, _result(8)])
    assert best in (0, 1) and share > 0.5


def test_a_checked_solution_wins_a_tie_against_an_unrepaired_infeasible_sample() -> None:
    inf = _result(1, success=False, status="infeasible", confirmed=True)
    best, share, _ = vote([inf, _result(8)])
    assert best == 1 and share == pytest.approx(0.5)


def test_doubted_infeasibility_claims_never_outrank_a_checked_solution() -> None:
    """gasoline_blending (examples run of 2026-12-02): the greedy sample solved and checked clean (continuous
    blend); two sampled models of another shape stayed infeasible with unused numbers. By weight alone
    (1 against 0.75 + 0.5) the claims won."""
    clean = _result(70400, domain="continuous")
    claims = [_result(1, success=False, status="infeasible", confirmed=True) for _ in range(2)]
    claims[0].doubts, claims[1].doubts = ["400 unused"], ["400 unused", "600 unused"]
    best, share, clusters = vote([clean, *claims])
    assert best == 0 and len(clusters) == 2 and share < 0.5  # chosen, with the weight it really has
    claims_clean = [_result(1, success=False, status="infeasible", confirmed=True) for _ in range(2)]
    assert vote([clean, *claims_clean])[0] in (1, 2)  # undoubted claims still count as an answer


def test_doubts_weigh_a_sample_down_and_break_ties() -> None:
    doubted, clean = _result(10), _result(12)
    doubted.doubts = ['5 in "..." is used nowhere in the model']
    assert vote([doubted, clean])[0] == 1  # one doubt halves a vote
    nothing = _result(0)
    nothing.doubts = ["The best solution makes nothing at all (every variable is 0, objective 0)."]
    two = _result(7)
    two.doubts = ["a", "b"]
    best, share, _ = vote([nothing, two])
    assert best == 1 and share == pytest.approx((1 / 3) / (1 / 3 + 1 / 11))  # doing nothing weighs 10


def test_a_tie_goes_to_the_answer_clean_on_its_first_attempt() -> None:
    """nl4opt_test_115 (2026-12-07): three samples, three answers; the repaired 100 and the first-attempt 62.5
    (right, no doubt) weighed the same, and sample order gave it to the repaired one. Between two answers
    that are not clean, sample order still decides (nl4opt_test_257: the right 98 took more repairs)."""
    repaired, first_time = _result(100), _result(62)
    repaired.repairs = 1
    assert vote([_result(0, domain="continuous"), repaired, first_time])[0] == 2
    first_time.repairs = 1
    assert vote([_result(0, domain="continuous"), repaired, first_time])[0] == 1  # else the earlier sample
    repaired.repairs, first_time.repairs = 3, 1
    repaired.doubts, first_time.doubts = ["a"], ["b"]
    assert vote([repaired, first_time])[0] == 0


def test_ladder() -> None:
    assert list(STRATEGIES) == ["mzn-oneshot", "mzn-repair", "ir-oneshot", "ir-examples", "ir-repair", "pipeline",
                                "pipeline-vote-all", "ir-repair-quoted"]
    assert get_strategy("pipeline").stop_when_clean and not get_strategy("pipeline-vote-all").stop_when_clean
    assert get_strategy("ir-repair").layout == "auto" and get_strategy("ir-repair-quoted").layout == "quoted"
    assert get_strategy("pipeline").samples > 1 and get_strategy("ir-oneshot").max_repairs == 0
    assert not get_strategy("ir-oneshot").examples and get_strategy("ir-examples").examples
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("magic")


def test_only_a_first_time_doubt_free_solution_is_clean() -> None:
    assert is_clean(_result(10))
    repaired = _result(10)
    repaired.repairs = 1
    doubted = _result(10)
    doubted.doubts = ["7 in \"...\" is used nowhere in the model"]
    claimed = _result(None, success=True, status="infeasible", confirmed=True)
    failed = _result(None, success=False, status="error")
    assert not any(is_clean(r) for r in (repaired, doubted, claimed, failed))


def test_votes_in_the_band_between_layouts_alternate_them() -> None:
    """gasoline_blending (19 numbers) was right flat and wrong indexed, transportation (19) the other way:
    there the greedy sample is indexed and the next flat; far above or below, one layout throughout."""
    from agent.strategies import sample_layouts

    examples = Path(__file__).parents[1] / "datasets" / "examples"
    for name in ("gasoline_blending", "transportation", "warehouse_location"):
        assert sample_layouts((examples / f"{name}.txt").read_text(), "auto") == ["indexed", "lean"]
    assert sample_layouts((examples / "help_desk_shifts.txt").read_text(), "auto") == ["auto"]  # 53 numbers
    assert sample_layouts((examples / "bakery_integer.txt").read_text(), "auto") == ["auto"]
    assert sample_layouts((examples / "transportation.txt").read_text(), "lean") == ["lean"]  # the user's choice
