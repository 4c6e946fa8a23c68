"""Named strategies (the ablation ladder) and self-consistency voting over samples.

The ladder, each step adding one thing, so the evaluation harness can show where accuracy comes from:
  mzn-oneshot   MiniZinc text, one call, no worked examples, no repair (Text2Zinc-style baseline)
  ir-oneshot    schema-constrained IR JSON, one call, no worked examples, no repair
  ir-examples   + worked examples in the prompt
  ir-repair     + the repair loop (parse errors, infeasible cores, checker violations fed back)
  pipeline      + self-consistency voting over samples, skipped when the greedy sample is clean
and `pipeline-vote-all` (always at least two samples), `mzn-repair`: MiniZinc text with worked examples
and compiler errors fed back, and
`ir-repair-quoted`: ir-repair with the model copying each constraint's sentence into the JSON (the
earlier format; the IR strategies now attach sentences themselves, see agent.layouts.LEAN_SCHEMA).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from agent.layouts import LAYOUTS
from agent.llm.base import DEFAULT_LLM_TIMEOUT

if TYPE_CHECKING:  # the loop pulls in solvers and LangGraph: the CLI's help needs only the table below
    from agent.llm import LLM
    from agent.loop import LoopConfig, LoopResult
    from agent.trace import Trace


@dataclass(frozen=True)
class Strategy:
    name: str
    language: Literal["ir", "minizinc"] = "ir"
    examples: bool = True
    max_repairs: int = 3
    samples: int = 1
    layout: str = "auto"  # IR output format (LAYOUT_CHOICES): auto picks lean or indexed per problem
    # Voting stops after the greedy sample when it passed every check on its first attempt with no doubt
    # (adaptive self-consistency): in the 14d2a17 run on the seeded NL4Opt 30, 19 greedy samples, 16 right.
    stop_when_clean: bool = True
    description: str = ""


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("mzn-oneshot", "minizinc", examples=False, max_repairs=0,
             description="MiniZinc text, one call, no examples, no repair"),
    Strategy("mzn-repair", "minizinc", examples=True, max_repairs=3,
             description="MiniZinc text with worked examples; compiler and solver errors fed back"),
    Strategy("ir-oneshot", examples=False, max_repairs=0, description="IR JSON, one call, no examples"),
    Strategy("ir-examples", examples=True, max_repairs=0, description="IR JSON with worked examples, one call"),
    Strategy("ir-repair", examples=True, max_repairs=3, description="IR JSON with examples and the repair loop"),
    Strategy("pipeline", examples=True, max_repairs=3, samples=3,
             description="IR with examples, repair, and voting over samples unless the first is clean"),
    Strategy("pipeline-vote-all", examples=True, max_repairs=3, samples=3, stop_when_clean=False,
             description="pipeline that votes even when the first sample is clean (until a majority agrees)"),
    Strategy("ir-repair-quoted", examples=True, max_repairs=3, layout="quoted",
             description="ir-repair with the model quoting each constraint's sentence (45% more tokens)"),
)}
DEFAULT_STRATEGY = "pipeline"
# Seconds one problem may take, model and solver calls together: `eval`'s per-problem limit and `solve`'s
# default budget, so that no input (garbage that passes the text checks included) runs for hours.
DEFAULT_PROBLEM_TIMEOUT = 900.0
# IR output formats: those of agent.layouts.LAYOUTS, or auto: indexed for a problem that states many
# numbers (agent.formalize.choose_layout).
LAYOUT_CHOICES = ("auto", *LAYOUTS)
LAYOUT_HELP = ("the IR output format: auto (indexed for a problem stating many numbers, else lean) | "
               + " | ".join(f"{name} ({spec.summary})" for name, spec in LAYOUTS.items())
               + "; default: the strategy's, auto")
STRATEGY_HELP = " | ".join(STRATEGIES)


def get_strategy(strategy: Strategy | str) -> Strategy:
    if isinstance(strategy, Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[strategy]


def with_layout(strategy: Strategy, layout: str | None) -> Strategy:
    """The strategy with another IR output format (None: unchanged)."""
    if layout is None or layout == strategy.layout:
        return strategy
    return replace(strategy, layout=check_layout(layout))


def check_layout(layout: str) -> str:
    if layout not in LAYOUT_CHOICES:
        raise ValueError(f"unknown layout '{layout}'; choose one of {', '.join(LAYOUT_CHOICES)}")
    return layout


def _loop(llm: LLM, strategy: Strategy, config: LoopConfig):
    if strategy.language == "minizinc":
        from agent.mzn_direct import MiniZincLoop

        return MiniZincLoop(llm, config)
    from agent.loop import RepairLoop

    return RepairLoop(llm, config)


def solve_problem(problem: str, llm: LLM, strategy: Strategy | str = DEFAULT_STRATEGY, *,
                  samples: int | None = None, seed: int = 0, time_limit: float = 20.0, target: str = "auto",
                  max_repairs: int | None = None, llm_timeout: float = DEFAULT_LLM_TIMEOUT,
                  trace: Trace | None = None, layout: str | None = None, time_budget: float | None = None,
                  finished: list[LoopResult] | None = None) -> LoopResult:
    """Solve one English problem with a strategy; with samples > 1, vote over independent formalizations.

    `layout` overrides the strategy's output format (LAYOUT_CHOICES). `time_budget` (seconds for the whole
    problem) bounds every model call by the time left, and stops the vote before a sample once one has an
    answer and less time is left than a model call took.
    `finished` receives each sample as it ends, so a caller that gives up on the problem (a hard wall-clock
    limit) can still `conclude` over the samples that did end.

    Raises `ProblemTextError` when the text cannot be a problem statement.
    """
    from agent.loop import LoopConfig
    from agent.trace import Trace

    strat = with_layout(get_strategy(strategy), layout)
    k = max(1, samples if samples is not None else strat.samples)
    deadline = None if time_budget is None else time.monotonic() + time_budget
    config = LoopConfig(target=target, time_limit=time_limit, seed=seed, examples=strat.examples, layout=strat.layout,
                        llm_timeout=llm_timeout, deadline=deadline,
                        max_repairs=strat.max_repairs if max_repairs is None else max_repairs)
    trace = trace or Trace(problem=problem)
    trace.data["meta"].update(strategy=strat.name, samples=k, seed=seed, target=target, layout=strat.layout)
    if k == 1:
        result = _loop(llm, strat, config).run(problem, trace=trace)
        result.strategy = strat.name
        return result
    return _vote(problem, llm, strat, config, k, trace, deadline=deadline,
                 finished=finished if finished is not None else [])


# Self-consistency ------------------------------------------------------------------------------

def answer_key(result: LoopResult, tol: float = 1e-6) -> str | None:
    """What two samples must share to count as the same answer (None: the sample has no answer)."""
    if result.success and result.objective is not None:
        return f"objective:{result.objective:.12g}"
    if result.success:
        return "feasible"
    if result.status == "infeasible" and result.infeasible_confirmed:
        return "infeasible"
    return None


def same_answer(a: LoopResult, b: LoopResult, tol: float = 1e-6) -> bool:
    ka, kb = answer_key(a), answer_key(b)
    if ka is None or kb is None:
        return False
    if a.success and b.success and a.objective is not None and b.objective is not None:
        return math.isclose(a.objective, b.objective, rel_tol=tol, abs_tol=tol)
    return ka == kb


def structure(result: LoopResult) -> tuple[Any, ...] | None:
    """The shape of a formalization: objective sense and the multiset of variable domains."""
    if result.ir is None:
        return None
    sense = result.ir.objective.sense if result.ir.objective else "satisfy"
    return (sense, tuple(sorted(v.domain for v in result.ir.variables)))


def vote(results: list[LoopResult], tol: float = 1e-6) -> tuple[int, float, list[list[int]]]:
    """Cluster answers within `tol` and pick the heaviest cluster.

    Each sample weighs 1, plus up to 1 for how many other samples share its structure (sense and
    variable types), so an answer backed by formalizations that agree on the model's shape beats a
    coincidence; divided by 1 + the weight of the doubts its answer still raises (`doubt_weight`).
    Returns (index of the representative, vote share, clusters as index lists).
    """
    clusters: list[list[int]] = []
    for i, r in enumerate(results):
        if answer_key(r, tol) is None:
            continue
        for c in clusters:
            if same_answer(results[c[0]], r, tol):
                c.append(i)
                break
        else:
            clusters.append([i])
    if not clusters:
        return 0, 0.0, []
    shapes = [structure(r) for r in results]
    n = len(results)

    from agent.loop import doubt_weight

    def weight(i: int) -> float:
        # A sample whose answer still raises doubts (numbers unused, a limit pointing the wrong way, nothing
        # made) counts for less: two infeasibility claims by models that left 60 and 40 unused must not
        # outvote one clean, checked solution (nl4opt_test_083).
        alike = sum(1 for j in range(n) if j != i and shapes[i] is not None and shapes[j] == shapes[i])
        base = 1.0 + (alike / (n - 1) if n > 1 else 0.0)
        return base / (1 + doubt_weight(getattr(results[i], "doubts", None) or []))

    total = sum(weight(i) for i in range(n))
    # Ties go to a cluster with a checked solution (a sample that solved and validated is more evidence
    # than one whose model stayed infeasible through its repairs), then to the one whose best answer
    # raises the fewest doubts (nothing made, unused numbers...), then to one clean on its first attempt,
    # then to the earliest (greedy) sample.
    def cleanest(c: list[int]) -> int:
        return -min(doubt_weight(getattr(results[i], "doubts", None) or []) for i in c)

    def doubted_claims(c: list[int]) -> bool:
        # Infeasibility claims whose every model still raises doubts say "I could not model it" more often
        # than "it cannot be done": they never outrank a solution that solved and checked (gasoline_blending:
        # two such claims with one shape outweighed the greedy sample's clean, right 70400 by weight).
        return all(not results[i].success and getattr(results[i], "doubts", None) for i in c)

    def clean_first_time(c: list[int]) -> bool:
        # An answer that solved on its first attempt with no doubt is better evidence than one reached after
        # repairs (on NL4Opt 15 of 18 clean greedy answers were right, far fewer of the repaired ones):
        # nl4opt_test_115's clean 62.5 tied with a repaired 100 and lost to it on sample order alone. Between
        # doubted answers the number of repairs says little (nl4opt_test_257: the right 98 took three).
        return any(is_clean(results[i]) for i in c)

    scored = sorted(clusters, key=lambda c: (not doubted_claims(c), sum(weight(i) for i in c),
                                             any(results[i].success for i in c), cleanest(c), clean_first_time(c),
                                             -c[0]),
                    reverse=True)
    best = scored[0]
    return best[0], sum(weight(i) for i in best) / total, clusters


def is_clean(result: LoopResult) -> bool:
    """A solved answer that needed no repair and raises no doubt: another sample would rarely overturn it."""
    return (result.success and result.repairs == 0 and not result.doubts
            and result.status in ("optimal", "feasible"))


# Between 18 numbers (auto's threshold for the indexed layout) and this many, either layout may be the
# one the model gets right: gasoline_blending (19 numbers, four components) was right flat and lost in
# the indexed layout, transportation (19, a 3x4 cost table) the other way round. Votes there alternate.
BOTH_LAYOUTS_BELOW = 40


def sample_layouts(problem: str, layout: str) -> list[str]:
    """The layout of each sample in turn: in the band where neither is clearly better, greedy indexed then
    flat, so that agreement across two formalizations decides; otherwise the one layout throughout."""
    from agent.formalize import INDEXED_FROM_NUMBERS, count_numbers

    if layout == "auto" and INDEXED_FROM_NUMBERS <= count_numbers(problem) < BOTH_LAYOUTS_BELOW:
        return ["indexed", "lean"]
    return [layout]


def _vote(problem: str, llm: LLM, strat: Strategy, config: LoopConfig, k: int, trace: Trace, *,
          deadline: float | None, finished: list[LoopResult]) -> LoopResult:
    """Draw samples one by one; stop early once a majority of k already agrees, after a clean greedy
    sample when the strategy says so (saves model time), or when another sample would overrun `deadline`."""
    results = finished
    layouts = sample_layouts(problem, config.layout)
    for i in range(k):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and results and _no_time_for_another(results, left, trace):
            trace.step("stop", reason=f"the time budget: {max(left, 0):.0f} s left, less than the slowest "
                                      f"model call so far ({_slowest_call(trace):.0f} s)")
            break
        # The first sample is greedy; the others sample above temperature 0 with their own seeds.
        cfg = replace(config, temperature=0.0 if i == 0 else 0.7, layout=layouts[i % len(layouts)],
                      seed=None if config.seed is None else config.seed + 1000 * i)
        trace.step("sample", index=i + 1, of=k, temperature=cfg.temperature)
        results.append(_loop(llm, strat, cfg).run(problem, trace=trace))
        if i == 0 and strat.stop_when_clean and is_clean(results[0]):
            trace.step("stop", reason="the greedy sample is clean: solved on its first attempt, no doubts")
            break
        best, _, clusters = vote(results)
        if clusters and max(len(c) for c in clusters) > k // 2:
            break
    return conclude(results, strat, trace)


def _no_time_for_another(results: list[LoopResult], left: float, trace: Trace) -> bool:
    """An answer is in hand and less time is left than the slowest model call so far took: such a sample
    would be cut off before it could answer. One that may still answer in a call is worth starting: its
    calls end at the budget (the eval harness cuts them at the problem's limit) and the samples that ended
    are voted on either way (warehouse_location, 2026-12-07: a doubted first sample took 173 s of 300, and
    waiting for "a whole sample's time" left 122 s unused)."""
    return any(answer_key(r) is not None for r in results) and left < _slowest_call(trace)


def _slowest_call(trace: Trace) -> float:
    return max((e.get("seconds") or 0.0 for e in trace.events if e.get("kind") == "llm_call"), default=0.0)


def conclude(results: list[LoopResult], strat: Strategy | str, trace: Trace) -> LoopResult:
    """The vote over finished samples, with the run's totals on the chosen one (mutates it)."""
    strat = get_strategy(strat)
    best, share, clusters = vote(results)
    samples = [{"index": i + 1, "success": r.success, "status": r.status, "objective": r.objective,
                "repairs": r.repairs, "seconds": round(r.seconds, 3), "doubts": len(r.doubts),
                "cluster": next((j for j, c in enumerate(clusters) if i in c), None)}
               for i, r in enumerate(results)]  # each sample's own figures, before the totals below
    greedy = replace(results[0])  # a copy: the chosen sample's figures become the totals below
    chosen = results[best]
    chosen.confidence = round(share, 4)
    chosen.strategy = strat.name
    chosen.seconds = sum(r.seconds for r in results)
    chosen.repairs = sum(r.repairs for r in results)
    chosen.samples = samples
    chosen.first_sample = greedy
    trace.step("vote", samples=chosen.samples, chosen=best + 1, confidence=chosen.confidence)
    trace.finish(status=chosen.status, success=chosen.success, objective=chosen.objective,
                 confidence=chosen.confidence, seconds=round(chosen.seconds, 3))
    return chosen
