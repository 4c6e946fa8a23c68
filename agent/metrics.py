"""Scoring rules for benchmark runs: pure functions, no I/O, answers never modified.

Two numeric protocols are reported side by side and never merged:

* **strict** (ours, the headline number): ``|pred - gt| <= tol * max(1, |gt|)`` with ``tol = 1e-6``.
  Relative for large objectives, absolute near zero, tight enough that a wrong integer rounding or
  an LP relaxation of an ILP does not pass.
* **loose** (the ORLM / OptMATH papers' protocol, for comparability with published numbers only):
  both values rounded to integers, then relative error <= 5 %. See :func:`loose_correct`.

Ground truth comes as ``(answer, answer_status)`` exactly as in the benchmark files: a number with
status ``optimal``; ``answer`` null with status ``infeasible`` (or ``unbounded``) for problems whose
correct report is "no optimum"; any other status with a null answer is not scorable here.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DEFAULT_TOL = 1e-6
LOOSE_REL_TOL = 0.05
LOOSE_PROTOCOL = "orlm_optmath: round(pred), round(gt) to integers; |p-g|/|g| <= 0.05, or |p| <= 0.05 if g == 0"


class Outcome(StrEnum):
    """Where a run ended: ``correct`` or the first thing that went wrong.

    Pipeline stages, in order: the LLM call (``llm_error``), parsing its output (``no_parse``),
    validating the typed IR (``invalid_ir``), rendering solver input (``render_error``), solving
    (``solver_error``, ``timeout``), then judging the answer (``infeasible`` / ``unbounded`` when we
    reported that and the ground truth disagrees, ``wrong_answer`` for a wrong value).
    """

    CORRECT = "correct"
    NO_PARSE = "no_parse"
    INVALID_IR = "invalid_ir"
    RENDER_ERROR = "render_error"
    SOLVER_ERROR = "solver_error"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    WRONG_ANSWER = "wrong_answer"
    TIMEOUT = "timeout"
    LLM_ERROR = "llm_error"


class GroundTruthKind(StrEnum):
    VALUE = "value"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    UNSCORED = "unscored"


class UnscorableError(ValueError):
    """The ground truth cannot judge a numeric answer (unlabeled, removed, non-numeric...)."""


# Prediction statuses meaning "the solver proved there is no optimum". The papers' "No Best
# Solution" covers all three; strict scoring needs the exact one.
_NO_OPTIMUM = frozenset({"infeasible", "unbounded", "infeasible_or_unbounded"})
_TIMEOUT = frozenset({"timeout", "time_limit"})


def ground_truth_kind(answer: Any, answer_status: str | None) -> GroundTruthKind:
    """Classify a ground-truth label.

    ``infeasible`` / ``unbounded`` statuses win over any number; a finite number otherwise is a
    value. Everything else (``unlabeled``, ``removed_by_sirl``, NLP4LP's ambiguous
    ``infeasible_or_unsolved (empty solution.json)``, satisfaction references, grids) is unscored
    by the numeric rules: guessing a meaning for an ambiguous label would corrupt the score.
    """
    status = _norm_status(answer_status)
    if status == "infeasible":
        return GroundTruthKind.INFEASIBLE
    if status == "unbounded":
        return GroundTruthKind.UNBOUNDED
    if _finite(answer) is not None:
        return GroundTruthKind.VALUE
    return GroundTruthKind.UNSCORED


def is_scorable(answer: Any, answer_status: str | None) -> bool:
    return ground_truth_kind(answer, answer_status) is not GroundTruthKind.UNSCORED


def strict_correct(
    pred: Any,
    gt: Any,
    *,
    gt_status: str | None = "optimal",
    pred_status: str | None = None,
    tol: float = DEFAULT_TOL,
) -> bool:
    """Strict rule: ``|pred - gt| <= tol * max(1, |gt|)``; infeasible/unbounded must match exactly.

    ``pred_status`` is what the solver reported (``optimal``, ``infeasible``, ``unbounded``,
    ``infeasible_or_unbounded``, ...). A None, NaN, infinite or non-numeric ``pred`` is wrong, and
    never raises. Raises :class:`UnscorableError` when the ground truth cannot judge.
    """
    _check_tol(tol)
    kind = _kind_or_raise(gt, gt_status)
    status = _norm_status(pred_status)
    if kind is GroundTruthKind.INFEASIBLE:
        return status == "infeasible"
    if kind is GroundTruthKind.UNBOUNDED:
        return status == "unbounded"
    if status in _NO_OPTIMUM:
        return False
    p = _finite(pred)
    if p is None:
        return False
    g = float(gt)
    diff = abs(p - g)
    return math.isfinite(diff) and diff <= tol * max(1.0, abs(g))


def loose_correct(
    pred: Any,
    gt: Any,
    *,
    gt_status: str | None = "optimal",
    pred_status: str | None = None,
    rel_tol: float = LOOSE_REL_TOL,
) -> bool:
    """The ORLM / OptMATH papers' comparison, reproduced exactly; reported beside strict only.

    Source: Cardinal-Operations/ORLM ``eval/execute.py`` (commit 38712c9ff688; default
    ``--numerical_err_tolerance 0.05``, which its eval scripts do not override) and
    optsuite/OptMATH ``eval/executor.py`` ``ResultEvaluator.evaluate_result`` (commit b7971497806a;
    ``numerical_tolerance = 0.05``). Both do:

    * ground truth "No Best Solution" (our ``infeasible`` / ``unbounded`` labels) is matched only by
      a "No Best Solution" prediction, which their harness prints whenever the solver status is not
      OPTIMAL; so here any of ``infeasible``, ``unbounded``, ``infeasible_or_unbounded`` matches.
    * otherwise ``g = round(gt)``, ``p = round(pred)`` with Python's ``round`` (half to even:
      ``round(2.5) == 2``), then ``|p| <= 0.05`` if ``g == 0`` else ``|(p - g) / g| <= 0.05``.

    It accepts LP-relaxation answers, 2-decimal rounding and small modelling slips, which is why it
    is never the headline number. OptMATH's ``execute_with_fallback`` (re-running a wrong program
    with integrality/sense flipped until it matches) is deliberately not reproduced.
    """
    if not (math.isfinite(rel_tol) and rel_tol >= 0):
        raise ValueError(f"rel_tol must be finite and >= 0, got {rel_tol!r}")
    kind = _kind_or_raise(gt, gt_status)
    status = _norm_status(pred_status)
    if kind in (GroundTruthKind.INFEASIBLE, GroundTruthKind.UNBOUNDED):
        return status in _NO_OPTIMUM
    if status in _NO_OPTIMUM:
        return False
    p = _finite(pred)
    if p is None:
        return False
    g_round = round(float(gt))
    p_round = round(p)
    if g_round == 0:
        return abs(p_round) <= rel_tol
    try:
        return abs((p_round - g_round) / g_round) <= rel_tol
    except OverflowError:  # |p| near float max, |g| tiny: the ratio exceeds any tolerance
        return False


# ----------------------------------------------------------------------------- logic grids


@dataclass(frozen=True)
class GridScore:
    """Puzzle accuracy (whole grid right) and cell accuracy for one logic grid puzzle."""

    puzzle_correct: bool
    cells_correct: int
    cells_total: int

    @property
    def cell_accuracy(self) -> float:
        return self.cells_correct / self.cells_total if self.cells_total else 0.0


def normalize_label(label: Any) -> str:
    """Case and whitespace only: anything more lenient would start accepting wrong entities."""
    return " ".join(str(label).split()).casefold()


def grid_score(pred: Any, gt: Any) -> GridScore:
    """Score a predicted grid against the solution grid.

    Both are row lists (or objects with a ``rows`` attribute, e.g. ``benchdata.GridAnswer``); a row
    names one item per category, in category order. Rows are unordered, so they are matched by
    their first-category label. A cell is one (row, other category) assignment, so the total is
    ``rows * (categories - 1)`` (all ``rows`` cells for a one-category grid). The puzzle is correct
    when the normalised row sets are equal. A malformed prediction scores 0 and never raises.
    """
    gt_rows = [[normalize_label(c) for c in r] for r in _rows(gt) or []]
    if not gt_rows:
        raise ValueError("ground-truth grid is empty")
    width = len(gt_rows[0])
    total = len(gt_rows) * (width - 1) if width > 1 else len(gt_rows)
    pred_rows = _rows(pred)
    if pred_rows is None:
        return GridScore(False, 0, total)
    prows = [[normalize_label(c) for c in r] for r in pred_rows]
    by_key: dict[str, list[str]] = {}
    for r in prows:
        if r:
            by_key.setdefault(r[0], r)
    correct = 0
    for r in gt_rows:
        pr = by_key.get(r[0])
        if pr is None:
            continue
        if width == 1:
            correct += 1
        else:
            correct += sum(1 for j in range(1, width) if j < len(pr) and pr[j] == r[j])
    puzzle = len(prows) == len(gt_rows) and sorted(map(tuple, prows)) == sorted(map(tuple, gt_rows))
    return GridScore(puzzle, correct, total)


# ----------------------------------------------------------------------------- one result


def classify(
    *,
    failure: Outcome | str | None = None,
    pred: Any = None,
    pred_status: str | None = None,
    gt: Any = None,
    gt_status: str | None = "optimal",
    tol: float = DEFAULT_TOL,
) -> Outcome | None:
    """The taxonomy outcome of one numeric run (strict rule).

    ``failure`` is the pipeline stage that failed, if any, and wins. Otherwise: a reported
    infeasible / unbounded status that the ground truth does not share is ``infeasible`` /
    ``unbounded`` (``infeasible_or_unbounded`` counts as ``infeasible``); neither such a status
    nor a usable number (None, NaN, inf) is ``solver_error``; a number is ``correct`` or
    ``wrong_answer``. Returns None when the ground truth is unscored and the run gave an answer:
    there is nothing to judge it against.
    """
    if failure is not None:
        return Outcome(failure)
    status = _norm_status(pred_status)
    if status in _TIMEOUT:
        return Outcome.TIMEOUT
    if status not in _NO_OPTIMUM and _finite(pred) is None:
        return Outcome.SOLVER_ERROR
    if ground_truth_kind(gt, gt_status) is GroundTruthKind.UNSCORED:
        return None
    if strict_correct(pred, gt, gt_status=gt_status, pred_status=pred_status, tol=tol):
        return Outcome.CORRECT
    if status in ("infeasible", "infeasible_or_unbounded"):
        return Outcome.INFEASIBLE
    if status == "unbounded":
        return Outcome.UNBOUNDED
    return Outcome.WRONG_ANSWER


def score_numeric(
    *,
    pred: Any,
    gt: Any,
    gt_status: str | None = "optimal",
    pred_status: str | None = None,
    failure: Outcome | str | None = None,
    tol: float = DEFAULT_TOL,
    loose_rel_tol: float = LOOSE_REL_TOL,
) -> dict[str, Any]:
    """The scoring fields of one result record, ready for :func:`aggregate`.

    ``strict`` / ``loose`` are None when the ground truth is unscored. ``executed`` means the
    pipeline reached the solver and it gave an answer: a finite number or a proof of no optimum.
    """
    scored = is_scorable(gt, gt_status)
    failed = failure is not None
    executed = not failed and (_norm_status(pred_status) in _NO_OPTIMUM or _finite(pred) is not None)
    statuses = {"gt_status": gt_status, "pred_status": pred_status}
    strict = loose = None
    if scored:
        strict = not failed and strict_correct(pred, gt, tol=tol, **statuses)
        loose = not failed and loose_correct(pred, gt, rel_tol=loose_rel_tol, **statuses)
    outcome = classify(failure=failure, pred=pred, gt=gt, tol=tol, **statuses)
    return {
        "outcome": None if outcome is None else outcome.value,
        "strict": strict,
        "loose": loose,
        "executed": executed,
        "tolerance": tol,
        "loose_rel_tol": loose_rel_tol,
    }


def score_grid(*, pred: Any, gt: Any, failure: Outcome | str | None = None) -> dict[str, Any]:
    """The scoring fields of one logic-grid result: strict = whole-grid match; no loose rule."""
    answered = failure is None and _rows(pred) is not None
    gs = grid_score(pred if answered else None, gt)
    if failure is not None:
        outcome = Outcome(failure)
    elif not answered:
        outcome = Outcome.SOLVER_ERROR
    else:
        outcome = Outcome.CORRECT if gs.puzzle_correct else Outcome.WRONG_ANSWER
    return {
        "outcome": outcome.value,
        "strict": gs.puzzle_correct,
        "loose": None,
        "executed": answered,
        "cell_accuracy": gs.cell_accuracy,
    }


# ----------------------------------------------------------------------------- a run


_CONFIG_KEYS = ("tolerance", "loose_rel_tol", "sample_count", "answer_version")


def aggregate(results: Sequence[Mapping[str, Any]], *, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Summarise a run. Accuracies are over scored results (``strict`` not None) only.

    Each result may hold: ``outcome`` (an :class:`Outcome` value, or None when unscored),
    ``strict`` / ``loose`` (bool, None = unscored; ``strict`` defaults to ``outcome == correct``),
    ``executed`` (defaults from the outcome), ``repairs``, ``seconds``, ``tokens`` (or
    ``prompt_tokens`` + ``completion_tokens``), ``cell_accuracy``, and the config keys
    ``tolerance``, ``loose_rel_tol``, ``sample_count``, ``answer_version``. Config values found in
    results must agree with each other and with ``config``: one summary, one scoring rule.
    """
    cfg = _merge_config(results, config)
    n = len(results)
    counts = {o.value: 0 for o in Outcome}
    strict_vals: list[bool] = []
    loose_vals: list[bool] = []
    executed = 0
    repairs = 0
    seconds: list[float] = []
    tokens: list[int] = []
    cells: list[float] = []
    for i, r in enumerate(results):
        raw = r.get("outcome")
        outcome = None if raw is None else _outcome(raw, i)
        if outcome is not None:
            counts[outcome.value] += 1
        strict = r["strict"] if "strict" in r else (None if outcome is None else outcome is Outcome.CORRECT)
        if strict is not None:
            strict_vals.append(bool(strict))
        if r.get("loose") is not None:
            loose_vals.append(bool(r["loose"]))
        ran = r.get("executed")
        if ran is None:
            ran = outcome in (Outcome.CORRECT, Outcome.WRONG_ANSWER, Outcome.INFEASIBLE, Outcome.UNBOUNDED)
        executed += bool(ran)
        repairs += int(r.get("repairs") or 0)
        sec = _finite(r.get("seconds"))
        if sec is not None:
            seconds.append(sec)
        tok = r.get("tokens")
        if tok is None and (r.get("prompt_tokens") is not None or r.get("completion_tokens") is not None):
            tok = int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0)
        if tok is not None:
            tokens.append(int(tok))
        cell = _finite(r.get("cell_accuracy"))
        if cell is not None:
            cells.append(cell)
    return {
        "n": n,
        "n_scored": len(strict_vals),
        "n_unscored": n - len(strict_vals),
        "strict_correct": sum(strict_vals),
        "strict_accuracy": _ratio(sum(strict_vals), len(strict_vals)),
        "loose_correct": sum(loose_vals),
        "loose_n": len(loose_vals),
        "loose_accuracy": _ratio(sum(loose_vals), len(loose_vals)),
        "loose_protocol": LOOSE_PROTOCOL,
        "executed": executed,
        "execution_rate": _ratio(executed, n),
        "mean_repairs": _ratio(repairs, n),
        "median_seconds": statistics.median(seconds) if seconds else None,
        "mean_seconds": statistics.fmean(seconds) if seconds else None,
        "total_tokens": sum(tokens) if tokens else None,
        "tokens_per_problem": _ratio(sum(tokens), len(tokens)),
        "mean_cell_accuracy": statistics.fmean(cells) if cells else None,
        "outcomes": counts,
        "config": cfg,
    }


def _merge_config(results: Sequence[Mapping[str, Any]], config: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(config or {})
    for key in _CONFIG_KEYS:
        seen = {repr(r[key]): r[key] for r in results if r.get(key) is not None}
        if len(seen) > 1:
            raise ValueError(f"results disagree on {key!r}: {sorted(seen)}; aggregate each configuration separately")
        if seen:
            (value,) = seen.values()
            if merged.get(key) is not None and merged[key] != value:
                raise ValueError(f"config {key}={merged[key]!r} but results were scored with {value!r}")
            merged[key] = value
        merged.setdefault(key, None)
    return merged


# ----------------------------------------------------------------------------- helpers


def _outcome(raw: Any, index: int) -> Outcome:
    try:
        return Outcome(raw)
    except ValueError:
        known = [o.value for o in Outcome]
        raise ValueError(f"result {index}: unknown outcome {raw!r}; expected one of {known}") from None


def _finite(x: Any) -> float | None:
    """``x`` as a finite float, or None for None / bool / NaN / inf / non-numbers (never raises)."""
    if x is None or isinstance(x, bool) or not isinstance(x, numbers.Real):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _norm_status(status: str | None) -> str | None:
    if status is None:
        return None
    return "_".join(str(status).strip().lower().replace("-", " ").split())


def _kind_or_raise(gt: Any, gt_status: str | None) -> GroundTruthKind:
    kind = ground_truth_kind(gt, gt_status)
    if kind is GroundTruthKind.UNSCORED:
        raise UnscorableError(f"ground truth {gt!r} with status {gt_status!r} cannot judge a numeric answer")
    return kind


def _check_tol(tol: float) -> None:
    if not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be finite and >= 0, got {tol!r}")


def _rows(x: Any) -> list[Any] | None:
    rows = getattr(x, "rows", x)
    if isinstance(rows, list | tuple) and all(isinstance(r, list | tuple) for r in rows):
        return list(rows)
    return None


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None
