"""The repair loop as a LangGraph StateGraph: formalize -> validate -> solve -> check -> repair.

Each attempt ends in one of three outcomes (the vocabulary of Logic.py): SUCCESS (a model that
solves and whose solution the independent checker confirms), RETRY (something precise went wrong
and goes back to the model as a repair prompt), FATAL (nothing more to try: the model backend
failed or the repair budget is spent). Every step is appended to one trace a person can read.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, TypedDict

from agent.figures import (
    OBJECTIVE,
    borrowed_figures,
    constraint_findings,
    data_comparison,
    describe,
    goal_words,
    linear_terms,
    objective_findings,
)
from agent.formalize import (
    NUMBER_TOKEN,
    assignment_rows_missing,
    bound_on_wrong_variable,
    check_problem_text,
    choose_layout,
    comparison_direction,
    conditional_choices,
    constant_of,
    constraints_about,
    copied_example,
    count_numbers,
    coverage_rows_misread,
    digits_stated,
    direction_conflict,
    expression_numbers,
    formalize_messages,
    goal_conflict,
    hinted_problem_message,
    implication_turned_around,
    invented_numbers,
    inverted_fraction,
    limit_sides,
    listed_limits_as_total,
    measures_a_divisible_unit,
    number_counts,
    numbers_used_twice,
    objective_cap,
    objective_floor,
    objective_offset,
    output_schema,
    own_words,
    parse_model_output,
    per_item_limit_as_total,
    percent_as_whole,
    percents_as_shares,
    ratio_direction,
    repair_message,
    rounded_fractions,
    sentence_quantities,
    sentences,
    share_of_itself,
    share_of_the_other,
    share_on_wrong_variable,
    stated_direction,
    stated_range,
    suggest_coefficients,
    swapped_ratio,
    text_scales,
    total_split_per_item,
    unstated_bound,
    unused_numbers,
    word_stems,
)
from agent.layouts import LAYOUTS
from agent.llm import LLM, LLMError
from agent.llm.base import DEFAULT_LLM_TIMEOUT, timeout_before
from agent.trace import Trace
from formalizers.ground import GroundError
from formalizers.ir import Constraint, IRError, ModelIR
from formalizers.semantics import (
    CompiledModel,
    constant_objective,
    same_left_sides,
    unreachable_limits,
    vacuous_constraints,
)
from solvers.checker import CheckReport, check_solution
from solvers.result import SolveResult, Status

Outcome = Literal["SUCCESS", "RETRY", "FATAL"]


@dataclass
class LoopConfig:
    target: str = "auto"
    max_repairs: int = 3
    time_limit: float = 20.0  # per solver call
    llm_timeout: float = DEFAULT_LLM_TIMEOUT  # per model call
    max_tokens: int | None = None  # per model call; None: the layout's own (agent.layouts.LAYOUTS)
    temperature: float = 0.0  # first attempt; repairs sample above 0 so they do not repeat themselves
    repair_temperature: float = 0.5
    seed: int | None = 0
    check_zero: bool = True
    check_numbers: bool = True  # doubt an answer whose model leaves numbers of the text unused
    examples: bool = True  # worked examples in the prompt (off only for the ablation baseline)
    # The output format: one of agent.layouts.LAYOUTS, or "auto" (indexed for a problem stating many
    # numbers, and after a flat answer ran out of tokens).
    layout: str = "auto"
    deadline: float | None = None  # time.monotonic() at which the problem's time budget ends (--time-budget)

    def call_timeout(self) -> float:
        """Seconds the next model call may take: the per-call limit, or less where the budget ends first."""
        return timeout_before(self.deadline, self.llm_timeout, "the problem's time budget")

    def solve_limit(self) -> float:
        """Seconds the next solver call may take: the per-call limit, or what is left of the budget. A model
        already written still gets a second past the budget, so an answer in hand is solved, not thrown away."""
        if self.deadline is None:
            return self.time_limit
        return min(self.time_limit, max(1.0, self.deadline - time.monotonic()))


@dataclass
class Attempt:
    """What one formalization attempt produced and how it ended."""

    index: int
    outcome: Outcome
    stage: str  # where it ended: formalize | validate | solve | check | done
    feedback: str = ""
    ir: dict[str, Any] | None = None
    status: str | None = None
    objective: float | None = None
    conflict: list[str] = field(default_factory=list)


class LoopState(TypedDict, total=False):
    problem: str
    messages: list[dict[str, str]]
    base_messages: int  # how many of `messages` are the prompt itself (system, examples, problem)
    attempt: int
    raw: str
    ir: ModelIR | None
    compiled: CompiledModel | None
    result: SolveResult | None
    check: CheckReport | None
    feedback: str
    outcome: Outcome
    stage: str
    attempts: list[Attempt]
    fatal: str
    cores: list[tuple[str, ...]]
    fallback: dict[str, Any]
    doubts: list[str]  # what still looks wrong about the accepted answer (see RepairLoop._doubts)
    fresh: bool  # the next attempt starts from the prompt alone (the last answer was cut off or a copy)
    hint: str  # the next attempt starts from the prompt, these doubts appended to the problem
    hinted: bool  # a hinted fresh draw was already spent
    cut: bool  # the model's answer stopped at the token limit
    layout: str  # the output format of the current prompt (agent.layouts.LAYOUTS, never "auto")
    relayout: bool  # the next attempt starts from the prompt in the indexed layout (a flat answer was cut)
    repeated: bool  # this attempt's answer is the previous one word for word


@dataclass
class LoopResult:
    """The loop's answer: the last model and its solution, with every attempt."""

    problem: str
    success: bool
    status: str  # optimal | feasible | infeasible | unbounded | error | ...
    objective: float | None
    values: dict[str, Any]
    ir: ModelIR | None
    compiled: CompiledModel | None
    result: SolveResult | None
    check: CheckReport | None
    attempts: list[Attempt]
    repairs: int
    seconds: float
    message: str = ""
    infeasible_confirmed: bool = False
    trace: Trace | None = None
    confidence: float = 1.0  # vote share of the chosen answer (self-consistency); 1.0 for one sample
    kind: str = "numeric"
    samples: list[dict[str, Any]] = field(default_factory=list)  # one summary per sample when voting
    first_sample: LoopResult | None = None  # with voting: the greedy sample after its repairs, before the vote
    doubts: list[str] = field(default_factory=list)  # what still looks wrong about the answer, or about the
    # infeasible model (none: clean)
    strategy: str = ""

    @property
    def failure_stage(self) -> str | None:
        return None if self.success else (self.attempts[-1].stage if self.attempts else "formalize")


def _solve(compiled: CompiledModel, target: str, time_limit: float) -> SolveResult:
    import solvers

    chosen = solvers.choose_target(compiled) if target == "auto" else target
    return solvers.solve(compiled, chosen, time_limit=time_limit, explain=True)


def _describe_conflict(result: SolveResult) -> str:
    lines = []
    for item in result.conflict_detail:
        source = f' (from: "{item.source}")' if item.source else ""
        lines.append(f"- {item.name}{source}")
    return "\n".join(lines)


def _constraint_exprs(ir: ModelIR, names: list[str]) -> str:
    by_name = {c.name: c for c in ir.constraints}
    return "\n".join(f"- {n}: {by_name[n].expr}" + (f'   (from: "{by_name[n].source}")' if by_name[n].source
                                                      else "") for n in names if n in by_name)


class RepairLoop:
    """Build once per LLM and config; `run(problem)` per problem."""

    def __init__(self, llm: LLM, config: LoopConfig | None = None) -> None:
        self.llm = llm
        self.config = config or LoopConfig()
        self.graph = self._build()

    # Nodes ---------------------------------------------------------------------------------
    def _formalize(self, state: LoopState) -> LoopState:
        cfg = self.config
        attempt = state.get("attempt", 0) + 1
        temperature = cfg.temperature if attempt == 1 else cfg.repair_temperature
        seed = None if cfg.seed is None else cfg.seed + attempt
        self.trace.step("formalize", attempt=attempt, temperature=temperature)
        try:
            layout = state.get("layout", "lean")
            completion = self.llm.complete(state["messages"], json_schema=output_schema(layout),
                                           temperature=temperature,
                                           max_tokens=cfg.max_tokens or LAYOUTS[layout].max_tokens,
                                           timeout=cfg.call_timeout(), seed=seed)
        except LLMError as e:
            return {"attempt": attempt, "outcome": "FATAL", "stage": "formalize",
                    "fatal": f"language model failed: {e}", "feedback": ""}
        messages = state["messages"] + [{"role": "assistant", "content": completion.text}]
        return {"attempt": attempt, "raw": completion.text, "messages": messages, "stage": "formalize",
                "feedback": "",  # this attempt's own findings only, not the last one's
                "fresh": False, "hint": "", "cut": completion.finish_reason == "length",
                "repeated": attempt > 1 and completion.text == state.get("raw")}

    def _validate(self, state: LoopState) -> LoopState:
        try:
            notes: list[str] = []
            ir = parse_model_output(state["raw"], state["problem"], notes)
            compiled = ir.compile()
        except IRError as e:
            feedback = "\n".join(e.problems[:8])
            self.trace.step("validate", ok=False, problems=e.problems, cut=state.get("cut", False))
            if state.get("cut") or feedback.startswith("the output is not valid JSON"):
                # Cut off (the schema's grammar keeps anything complete valid): a broken half-answer in
                # the context only confuses the next try, so it starts afresh; a flat answer that ran
                # out of tokens starts afresh in the indexed layout when the layout is the loop's choice.
                relayout = (state.get("cut", False) and self.config.layout == "auto"
                            and state.get("layout") != "indexed")
                return {"ir": None, "compiled": None, "outcome": "RETRY", "stage": "validate", "fresh": True,
                        "relayout": relayout, "feedback": "The answer was cut off before it was complete."}
            return {"ir": None, "compiled": None, "outcome": "RETRY", "stage": "validate",
                    "feedback": f"It could not be read:\n{feedback}"}
        origin = copied_example(ir)
        if origin is not None:
            self.trace.step("validate", ok=False, problems=[f"a copy of the worked example ({origin})"])
            return {"ir": None, "compiled": None, "outcome": "RETRY", "stage": "validate", "fresh": True,
                    "feedback": "The answer repeated a worked example instead of modelling this problem."}
        self.trace.step("validate", ok=True, ir=json.loads(ir.model_dump_json(exclude_defaults=True)),
                        **({"notes": notes} if notes else {}))
        goal = goal_words(state["problem"], set())
        if constant_objective(compiled) and goal is not None:
            # nl4opt_test_050: "1 + 1" for "the total number of teachers" solved, checked and won the vote
            return {"ir": ir, "compiled": compiled, "outcome": "RETRY", "stage": "validate",
                    "feedback": f'The objective ({ir.objective.expr}) uses no variable, so every plan scores the same '
                                f'and the answer says nothing about the goal. The problem asks for "{goal[2]}": '
                                "write that quantity with the variables."}
        return {"ir": ir, "compiled": compiled, "stage": "validate", "outcome": "SUCCESS"}

    def _solve_node(self, state: LoopState) -> LoopState:
        import solvers

        compiled, ir = state["compiled"], state["ir"]
        assert compiled is not None and ir is not None
        try:
            result = _solve(compiled, self.config.target, self.config.solve_limit())
        except solvers.TargetUnsupported as e:
            self.trace.step("solve", ok=False, error=str(e))
            return {"outcome": "RETRY", "stage": "solve", "result": None,
                    "feedback": f"{e}. Write every constraint as a linear comparison."}
        except GroundError as e:
            self.trace.step("solve", ok=False, error=str(e))
            return {"outcome": "RETRY", "stage": "solve", "result": None, "feedback": str(e)}
        self.trace.step("solve", target=result.target, status=result.status.value, objective=result.objective,
                        seconds=round(result.seconds, 4), conflict=result.conflict, message=result.message)
        cores = list(state.get("cores", []))
        if result.status == Status.INFEASIBLE:
            changed, _ = self._rewritten({**state, "result": result}, None)
            if changed:  # an invented cap on the objective, or a ratio turned round, made it infeasible
                return {**changed, "outcome": "SUCCESS", "stage": "solve"}
            detail = _constraint_exprs(ir, result.conflict) or _describe_conflict(result)
            detail += "".join("\n" + line for line in _unreachable_lines(compiled, result.conflict))
            unused = _constraint_doubt_lines(ir, state["problem"])
            unused += _unused_number_lines(ir, state["problem"]) if self.config.check_numbers else []
            cores.append(tuple(sorted(result.conflict)))
            feedback = ("The solver says these constraints cannot all hold at the same time:\n"
                        f"{detail}\nCheck each one against its sentence: the direction (<= or >=), the numbers, "
                        "and whether a limit applies to a total or to each item."
                        + "".join("\n" + line for line in unused))
            update: LoopState = {"result": result, "outcome": "RETRY", "stage": "solve", "cores": cores,
                                 "feedback": feedback, "doubts": unused}
            previous = state.get("attempts") or []
            if (unused and previous and not state.get("hinted") and previous[-1].ir is not None
                    and _same_model(ir, previous[-1].ir)):
                # The repair repeated a doubted model word for word: the same core twice proves nothing then
                # (nl4opt_test_083: "4*four_wheelers" from the name "4-wheeler", 60 and 40 unused, twice).
                # One fresh draw with the doubts under the problem before the request is called infeasible.
                update.update(hint=feedback, hinted=True)
            return update
        if result.status == Status.UNBOUNDED:
            return {"result": result, "outcome": "RETRY", "stage": "solve",
                    "feedback": "The objective can grow without limit: a stated limit is missing or has the "
                                "wrong direction (<= vs >=), or a variable lacks \"lower\": 0."}
        if not result.status.has_solution:
            return {"result": result, "outcome": "FATAL" if result.status == Status.TIMEOUT else "RETRY",
                    "stage": "solve", "feedback": f"The solver failed: {result.message[:500]}"}
        return {"result": result, "outcome": "SUCCESS", "stage": "solve"}

    def _check(self, state: LoopState) -> LoopState:
        compiled, result = state["compiled"], state["result"]
        assert compiled is not None and result is not None
        report = check_solution(compiled, result.values, claimed_objective=result.objective)
        self.trace.step("check", ok=report.ok, violations=[v.model_dump() for v in report.violations[:10]],
                        problems=report.problems[:10], objective=report.objective)
        if not report.ok:
            return {"check": report, "outcome": "RETRY", "stage": "check",
                    "feedback": f"The solution does not satisfy the model:\n{report.describe()}"}
        doubts = self._doubts(state)
        changed, rewritten_doubts = self._rewritten(state, doubts) if doubts else ({}, None)
        if changed and rewritten_doubts is not None:
            state = {**state, **changed}
            compiled, result, report = changed["compiled"], changed["result"], changed["check"]
            doubts = rewritten_doubts
        fallback = state.get("fallback")
        if doubts and not fallback:
            # Soft doubts get one repair; the answer is kept as the fallback in case the repair does worse.
            self.trace.step("sanity", ok=False, doubts=doubts)
            return {**changed, "check": report, "outcome": "RETRY", "stage": "check", "feedback": "\n".join(doubts),
                    "fallback": {"ir": state["ir"], "compiled": compiled, "result": result, "check": report,
                                 "doubts": doubts}}
        if fallback and doubt_weight(doubts) >= doubt_weight(fallback["doubts"]):
            if (not state.get("hinted") and state.get("attempt", 0) <= self.config.max_repairs
                    and _same_model(state["ir"], fallback["ir"])):
                # The repair copied the doubted answer word for word (a small model keeps what is in its
                # context): one fresh draw, the doubts written under the problem instead.
                self.trace.step("sanity", ok=False, doubts=doubts, repeated=True)
                return {**changed, "check": report, "outcome": "RETRY", "stage": "check",
                        "feedback": "\n".join(doubts), "hint": "\n".join(doubts), "hinted": True}
            # The repair raised as many doubts as the answer it was asked to fix: keep that one.
            self.trace.step("sanity", ok=False, doubts=doubts, kept="the answer before this repair")
            return {**{k: fallback[k] for k in ("ir", "compiled", "result", "check", "doubts")},
                    "outcome": "SUCCESS", "stage": "done"}
        return {**changed, "check": report, "outcome": "SUCCESS", "stage": "done", "doubts": doubts}

    def _rewritten(self, state: LoopState, doubts: list[str] | None) -> tuple[LoopState, list[str] | None]:
        """The answer with the exact rewrites of its doubts applied (`exact_rewrites`), when that model
        solves, passes the check and is doubted less than the answer (`doubts`; None for an infeasible
        answer, which any checked solution improves on), with its own doubts when they were weighed; else
        nothing.

        Why: the 1.5B model often ignores or garbles a rewrite it is given word for word (nl4opt_test_160:
        "so it reads small_bouquets >= 2*large_bouquets" came back as 2*small_bouquets <= large_bouquets).
        """
        import solvers

        ir = state["ir"]
        assert ir is not None
        rewritten, rewrites = rewrite_rounds(ir, state["problem"])
        if not rewrites:
            return {}, None
        try:
            compiled = rewritten.compile()
            result = _solve(compiled, self.config.target, self.config.solve_limit())
        except (IRError, GroundError, solvers.TargetUnsupported):
            return {}, None
        if not result.status.has_solution:
            return {}, None
        report = check_solution(compiled, result.values, claimed_objective=result.objective)
        changed: LoopState = {"ir": rewritten, "compiled": compiled, "result": result, "check": report}
        if not report.ok:
            return {}, None
        after = self._doubts({**state, **changed}) if doubts is not None else None
        if after is not None and doubts is not None and doubt_weight(after) >= doubt_weight(doubts):
            return {}, None
        before = {c.name: c.expr for c in ir.constraints} | ({OBJECTIVE: ir.objective.expr} if ir.objective else {})
        self.trace.step("rewrite", rewrites={name: [before[name], *(f"{n}: {e}" if n != name else e for n, e in new)]
                                             for name, new in rewrites.items()},
                        status=result.status.value, objective=result.objective)
        return changed, after

    def _doubts(self, state: LoopState) -> list[str]:
        """Answers that solve the model but look wrong for the text: nothing done, fractional counts,
        numbers of the text used nowhere. Each doubt is one line; fewer is better."""
        compiled, result, ir = state["compiled"], state["result"], state["ir"]
        assert compiled is not None and result is not None and ir is not None
        doubts = []
        if self.config.check_zero and result.objective == 0 and _all_zero(result.values):
            if compiled.sense == "maximize":
                doubts.append(NOTHING_DONE[0] + " (every variable is 0, objective 0). A constraint probably has "
                              "the wrong direction or a wrong number.")
            elif compiled.sense == "minimize":  # a stated requirement ("at least", "must meet") should force some
                doubts.append(NOTHING_DONE[1] + " (every variable is 0, objective 0), so no requirement forces "
                              "anything: a requirement (at least, must meet, needs) is probably missing or has the "
                              "wrong direction.")
        for v in ir.variables:
            found = _fractional_entry(v.name, result.values.get(v.name))
            if v.domain == "continuous" and found is not None and _counts_things(v.name, v.description or "",
                                                                                       state["problem"]):
                entry, value = found
                doubts.append(f'{entry} = {value:g}, but "{v.description or v.name}" counts whole things: if they '
                              'cannot be split, make it "integer".')
        asked = goal_conflict(state["problem"], compiled.sense) if compiled.sense in ("minimize", "maximize") else None
        if asked is not None:
            other = "minimize" if compiled.sense == "maximize" else "maximize"
            doubts.append(f'The objective is to {compiled.sense}, but the question asks "{asked}": {other} that '
                          "quantity; the other sentences state limits and data, not the goal.")
        doubts += _objective_floor_lines(ir, state["problem"], result.objective)
        doubts += _same_left_side_lines(compiled, ir, state["problem"])
        doubts += _vacuous_lines(compiled)
        doubts += _unused_parameter_lines(ir)
        doubts += _constraint_doubt_lines(ir, state["problem"])
        for c in ir.constraints:
            if not c.source and not c.forall:
                doubts.append(f"{c.name} ({c.expr}) matches no sentence of the problem: remove it unless the "
                              "text states it.")
        if self.config.check_numbers:
            doubts += _unused_number_lines(ir, state["problem"])
        return doubts

    def _record(self, state: LoopState) -> LoopState:
        """Close the attempt: append it, and prepare the repair prompt if another try follows."""
        ir = state.get("ir")
        result = state.get("result") if state.get("stage") in ("solve", "check", "done") else None
        attempt = Attempt(index=state.get("attempt", 0), outcome=state.get("outcome", "FATAL"),
                          stage=state.get("stage", "formalize"),
                          feedback=state.get("feedback") or state.get("fatal", ""),
                          ir=json.loads(ir.model_dump_json(exclude_defaults=True)) if ir else None,
                          status=result.status.value if result else None,
                          objective=result.objective if result else None,
                          conflict=list(result.conflict) if result else [])
        attempts = state.get("attempts", []) + [attempt]
        self.trace.step("attempt", index=attempt.index, outcome=attempt.outcome, stage=attempt.stage,
                        feedback=attempt.feedback)
        update: LoopState = {"attempts": attempts}
        hint = state.get("hint", "")
        if (not hint and attempt.stage == "validate" and state.get("repeated") and not state.get("hinted")
                and not state.get("fresh")):
            # Asked to fix an answer that could not be read, the model wrote it again word for word
            # (inventory_planning: the same 427 tokens three times at temperature 0.5): in that conversation
            # it copies. One fresh draw, the finding written under the problem instead.
            hint = attempt.feedback
            update["hinted"] = True
        if attempt.outcome == "RETRY" and attempt.index <= self.config.max_repairs:
            # Only the latest attempt and what is wrong with it: older rounds would overflow a small
            # model's context by the third repair and mostly distract it.
            messages = state["messages"]
            prompt = messages[:state.get("base_messages", len(messages) - 1)]
            if state.get("relayout"):
                update["messages"] = formalize_messages(state["problem"], examples=self.config.examples,
                                                        layout="indexed")
                update.update(layout="indexed", base_messages=len(update["messages"]), relayout=False)
                self.trace.step("layout", layout="indexed", reason="the flat answer ran out of tokens")
            elif hint:
                update["messages"] = prompt[:-1] + [hinted_problem_message(state["problem"], hint)]
            elif state.get("fresh"):
                update["messages"] = prompt  # a new draw (at the repair temperature), nothing to correct
            else:
                update["messages"] = prompt + messages[len(prompt):][-1:] + [repair_message(attempt.feedback)]
        return update

    # Graph -----------------------------------------------------------------------------------
    def _build(self):
        from langgraph.graph import END, StateGraph

        g = StateGraph(LoopState)
        g.add_node("formalize", self._formalize)
        g.add_node("validate", self._validate)
        g.add_node("solve", self._solve_node)
        g.add_node("check", self._check)
        g.add_node("record", self._record)
        g.set_entry_point("formalize")
        g.add_conditional_edges("formalize", lambda s: "record" if s.get("outcome") == "FATAL" else "validate")
        g.add_conditional_edges("validate", lambda s: "solve" if s["outcome"] == "SUCCESS" else "record")
        g.add_conditional_edges("solve", lambda s: "check" if s["outcome"] == "SUCCESS" else "record")
        g.add_edge("check", "record")

        def after_record(s: LoopState) -> str:
            last = s["attempts"][-1]
            if last.outcome == "RETRY" and last.index <= self.config.max_repairs:
                if _same_core_twice(s.get("cores", [])) and not s.get("hint"):
                    return END  # the same requirements conflict whatever the model writes
                return "formalize"
            return END

        g.add_conditional_edges("record", after_record)
        return g.compile()

    def review(self, problem: str, raw: str) -> tuple[LoopState, LoopState]:
        """One answer of the model through the loop's validate, solve and check nodes, as a first attempt:
        (the answer solved as written, what the loop makes of it: its rewrites applied, the doubts it
        would send back). For auditing the checks on recorded answers (`modelwright doubts`)."""
        self.trace = Trace(problem=problem)
        state: LoopState = {"problem": problem, "raw": raw, "attempt": 1, "attempts": [], "cores": []}
        state = {**state, **self._validate(state)}
        if state["outcome"] != "SUCCESS":
            return state, state
        as_written = {**state, "result": _solve(state["compiled"], self.config.target, self.config.solve_limit())}
        state = {**state, **self._solve_node(state)}
        if state["outcome"] == "SUCCESS" and state.get("stage") == "solve":
            state = {**state, **self._check(state)}
        return as_written, state

    def run(self, problem: str, trace: Trace | None = None) -> LoopResult:
        """Formalize, solve, check and repair until success or the budget is spent."""
        t0 = time.perf_counter()
        problem = check_problem_text(problem)
        self.trace = trace or Trace(problem=problem)
        self.llm.trace = self.trace.record_llm
        layout = choose_layout(problem, self.config.layout)
        self.trace.step("layout", layout=layout, numbers=count_numbers(problem))
        messages = formalize_messages(problem, examples=self.config.examples, layout=layout)
        state: LoopState = {"problem": problem, "messages": messages, "base_messages": len(messages),
                            "attempt": 0, "attempts": [], "cores": [], "layout": layout}
        limit = 6 * (self.config.max_repairs + 1) + 10
        final: LoopState = self.graph.invoke(state, {"recursion_limit": limit})
        return self._result(problem, final, time.perf_counter() - t0)

    def _result(self, problem: str, s: LoopState, seconds: float) -> LoopResult:
        attempts = s.get("attempts", [])
        last = attempts[-1] if attempts else None
        success = bool(last and last.outcome == "SUCCESS")
        fallback = s.get("fallback")
        if not success and fallback:
            # The repair asked for by a soft doubt did not give a better answer: keep the checked one.
            s = {**s, **{k: fallback[k] for k in ("ir", "compiled", "result", "check", "doubts")},
                 "fatal": "kept an earlier answer despite: " + " ".join(fallback["doubts"])}
            success = True
        result = s.get("result") if success or (last and last.stage in ("solve", "check", "done")) else None
        infeasible_confirmed = bool(result and result.status == Status.INFEASIBLE
                                    and _same_core_twice(s.get("cores", [])))
        if success and result is not None:
            status = result.status.value
        elif result is not None and result.status in (Status.INFEASIBLE, Status.UNBOUNDED):
            status = result.status.value
        else:
            status = "error"
        message = s.get("fatal", "") or (last.feedback if last and not success else "")
        self.trace.finish(status=status, success=success, seconds=round(seconds, 3))
        return LoopResult(problem=problem, success=success, status=status,
                          objective=result.objective if result and result.status.has_solution else None,
                          values=result.values if result and result.status.has_solution else {},
                          ir=s.get("ir"), compiled=s.get("compiled"), result=result, check=s.get("check"),
                          attempts=attempts, repairs=max(0, len(attempts) - 1), seconds=seconds,
                          message=message, infeasible_confirmed=infeasible_confirmed, trace=self.trace,
                          doubts=list(s.get("doubts") or []) if success or status == "infeasible" else [])


NOTHING_DONE = ("The best solution makes nothing at all", "Doing nothing at all is optimal")


def doubt_weight(doubts: list[str]) -> int:
    """How bad a set of doubts is: an answer that does nothing at all is worse than any handful of
    unused numbers (nl4opt_test_257: a repair that zeroed the rate must not beat two unused numbers)."""
    return sum(10 if d.startswith(NOTHING_DONE) else 1 for d in doubts)


def _constraint_doubt_lines(ir: ModelIR, problem: str = "") -> list[str]:
    """One line per constraint that reads wrong against the text, each with what to write instead where it can
    be known: a number the problem never states; a sum where the sentence caps each item, or the reverse, a total
    split per item; a ratio or share on the wrong variable; a variable's own coefficient taken for its bound; a
    limit in the opposite direction of its sentence ("requires 1000" under a <=); a number stated once but used
    in two places. The checks live in agent.formalize; each comes from a real answer of the embedded model."""
    lines = []
    names = [v.name for v in ir.variables if not v.index]
    described = {v.name: v.description or "" for v in ir.variables if not v.index}
    twice = _written_twice(ir)
    for c in ir.constraints:
        made_up = invented_numbers(problem, c.expr) if problem and not c.forall else []
        if made_up:
            lines.append(f"{c.name} ({c.expr}) uses {' and '.join(made_up)}, which the problem never states: take "
                         "each number from its sentence.")
        each = per_item_limit_as_total(c.expr, c.source, names) if c.source and not c.forall else None
        if each is not None:
            terms, op, limit = each
            lines.append(f'{c.name} ({c.expr}) limits the sum, but its sentence is about each one on its own '
                         f'("{c.source}"): write one constraint per variable, '
                         f"{', '.join(f'{t} {op} {limit}' for t in terms)}.")
        listed = (listed_limits_as_total(c.expr, c.source, described, problem)
                  if c.source and not c.forall and c.name not in twice else None)
        if listed is not None:
            lines.append(f'{c.name} ({c.expr}) limits the sum, but its sentence gives each its own limit '
                         f'("{c.source}"): write one constraint per variable, '
                         f"{', '.join(f'{t} {op} {limit}' for t, op, limit in listed)}.")
        other_end = _range_end(c, ir)
        if other_end is not None:
            lines.append(f'{c.name} ({c.expr}) keeps one end of the range its sentence states ("{c.source}"): add '
                         f"{other_end}.")
        lines += [line for line, _ in _ratio_findings(c, described)]
        if _data_comparison(c, described, problem):
            lines.append(f"{c.name} ({c.expr}) compares the two by their own figures of the text, but no sentence "
                         "compares them: remove it.")
        cap = _objective_cap(c, ir, problem)
        if cap is not None:
            lines.append(f"{c.name} ({c.expr}) caps the objective's own expression with {cap}, which no sentence "
                         f"states for it: the problem asks to {ir.objective.sense if ir.objective else 'optimize'} it, "
                         "so remove this constraint.")
        repeated = _coefficient_as_bound(c.expr, ir, c.name, problem) if not c.forall else None
        if repeated is not None:
            var, number, where = repeated
            lines.append(f"{c.name} ({c.expr}) bounds {var} by {number}, which is {var}'s own coefficient in {where}: "
                         f"an amount per unit, not a limit. Remove it unless the text limits {var} to {number}.")
            continue  # its sentence's "requires 10 units of wood" says nothing of a direction then
        for number, words in rounded_fractions(problem, c.expr, c.source) if problem else []:
            lines.append(f'{c.name} ({c.expr}) uses {number} for "{words}" in the text: write the exact fraction, '
                         f"as a division (x/3), not a rounded decimal.")
        for number, sentence in percent_as_whole(problem, c.expr) if problem and not c.forall else []:
            lines.append(f'{c.name} ({c.expr}) uses {number} where the text says {number}% ("{sentence}"): as a '
                         f"share of a quantity that is {float(number) / 100:g}, e.g. {float(number) / 100:g}*x.")
        flipped = direction_conflict(c.expr, c.source) if c.source and not c.forall else None
        if flipped is not None:
            words, want = flipped
            how = "is an equality" if "=" in c.expr and not re.search(r"<|>", c.expr) else "points the wrong way"
            lines.append(f'{c.name} ({c.expr}) {how}: its sentence says "{words}" ("{c.source}"), '
                         f"which needs {want}.")
    if problem:
        offset = _objective_offset(ir, problem)
        if offset is not None and ir.objective is not None:
            lines.append(f"The objective ({ir.objective.expr}) adds {offset[0]:g}, which the text never states: a "
                         f"constant cannot change the best plan, only the value reported; write {offset[1]}.")
        lines += [line for line, _ in _figure_findings(ir, problem).values()]
        lines += _borrowed_figure_lines(ir, problem)
        flat = [(c.name, c.expr) for c in ir.constraints if not c.forall]
        split = total_split_per_item(flat, problem)
        for names_, total, sentence in split:
            lines.append(f'{" and ".join(names_)} each take the whole limit of "{sentence}": a limit stated once is '
                         f"a total, so write one constraint, {total}.")
        bounding = _objective_bounds(ir)
        places = [(name, expr) for name, expr in flat if name not in bounding]
        places += [("the objective", ir.objective.expr)] if ir.objective else []
        exprs = dict(places)
        for number, sentence, users in numbers_used_twice(problem, places):
            if any(set(users) == set(names_) for names_, _, _ in split):
                continue  # said above, with the one constraint to write instead
            shown = " and ".join(f"{u} ({exprs[u]})" if u != "the objective" else u for u in users)
            lines.append(f'{number} is stated once ("{sentence}"), but it is used by {shown}: a number of the text '
                         "belongs to one requirement, so one of them took it from the wrong sentence.")
        choices = {v.name: v.description or "" for v in ir.variables if v.domain == "binary" and not v.index}
        stated = [(c.name, c.expr, c.source) for c in ir.constraints if not c.forall]
        for name, expr, sentence in conditional_choices(problem, stated, choices) if len(choices) > 1 else []:
            what = (f'{name} ({expr}) is an equality, but its sentence is a condition ("{sentence}")' if name
                    else f'No constraint states "{sentence}"')
            lines.append(f'{what}: between yes/no choices, "if A then B" reads A <= B and "A only if B or C" '
                         "reads A <= B + C; an equality makes them happen together or exactly one of them.")
        lines += [line for line, _ in _choice_findings(ir, problem).values()]
    return lines


def _choice_findings(ir: ModelIR, problem: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Constraint name -> (doubt line, the rows it reads) for the yes/no choices: a condition written the wrong
    way round (`implication_turned_around`), a coverage row with other sites than the text lists
    (`coverage_rows_misread`), and one side of an assignment left out (`assignment_rows_missing`,
    its rows added after the last row of the side that was written). Both rewrites are exact."""
    choices = {v.name: v.description or "" for v in ir.variables if v.domain == "binary" and not v.index}
    if len(choices) < 2:
        return {}
    found: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    flat = [c for c in ir.constraints if not c.forall]
    for c in flat:
        turned = implication_turned_around(c.expr, c.source, choices)
        if turned is not None:
            found[c.name] = (f'{c.name} ({c.expr}) turns its condition around ("{c.source}"): "if A then B" reads '
                             f'A <= B and "A only if B" reads A <= B, so it reads {turned}.', [(c.name, turned)])
    for name, expr, fixed in coverage_rows_misread(problem, choices, [(c.name, c.expr) for c in flat]):
        found[name] = (f"{name} ({expr}) names other sites than the text: each site's own sentence lists what it "
                       f"covers, and those that cover this one make {fixed}.", [(name, fixed)])
    missing = assignment_rows_missing(choices, [(c.name, c.expr) for c in flat], problem)
    if missing:
        last = [c for c in flat if re.fullmatch(r"[\w\s+]+(==|<=|>=)\s*1\s*", c.expr)][-1]
        found[last.name] = ("Each row of the assignment says one side takes exactly one, but no row says it of "
                            f"the other side, which the text also states: add {'; '.join(e for _, e in missing)}.",
                            [(last.name, last.expr), *missing])
    return found


# Readings of one constraint whose rewrite is a single expression: (check, what the doubt says is wrong).
_READINGS = {
    "swapped": (swapped_ratio, 'multiplies the wrong one: its sentence ("{source}") names first the one that is '
                "compared with a multiple of the other"),
    "share": (share_on_wrong_variable, 'gives the share to the wrong one: its sentence ("{source}") names the part '
              "after its percentage"),
    "whole": (share_of_itself, 'takes the share of the variable itself, which only allows 0: its sentence '
              '("{source}") means a share of the total'),
    "other": (share_of_the_other, 'takes the share of the other one: its sentence ("{source}") names a share '
              "of the total"),
    "counted": (bound_on_wrong_variable, 'bounds the wrong one: its sentence ("{source}") counts the one named after '
                "its number"),
}


def _ratio_findings(c: Constraint, described: dict[str, str]) -> list[tuple[str, str]]:
    """(doubt line, the expression its sentence reads) for each way a comparison of two variables misreads
    its sentence's ratio or share: on the wrong variable, a fraction turned around, the wrong direction, a
    share of itself; and a bound on the wrong one. These rewrites are exact, so the loop applies them itself
    when the model's repair does not."""
    if not c.source or c.forall:
        return []
    found = []

    def reading(kind: str) -> None:
        check, what = _READINGS[kind]
        fixed = check(c.expr, c.source, described)
        if fixed is not None:
            found.append((f"{c.name} ({c.expr}) {what.format(source=c.source)}, so it reads {fixed}.", fixed))

    reading("swapped")
    inverted = inverted_fraction(c.expr, c.source, described)
    if inverted is not None:
        words, fixed = inverted
        found.append((f'{c.name} ({c.expr}) turns "{words}" around: its sentence ("{c.source}") makes the one '
                      f"named first {words} of the other, so it reads {fixed}.", fixed))
    compared = comparison_direction(c.expr, c.source, described)
    if compared is not None:
        words, fixed = compared
        found.append((f'{c.name} ({c.expr}) points the wrong way for "{words}" in its sentence ("{c.source}"), '
                      f"so it reads {fixed}.", fixed))
    turned = ratio_direction(c.expr, c.source, described)
    if turned is not None:
        words, fixed = turned
        found.append((f'{c.name} ({c.expr}) points the wrong way: its sentence says "{words}" before the ratio '
                      f'("{c.source}"), so it reads {fixed}.', fixed))
    for kind in ("share", "whole", "other", "counted"):
        reading(kind)
    return found


def _figure_findings(ir: ModelIR, problem: str) -> dict[str, tuple[str, str | None]]:
    """Row name (`OBJECTIVE` for the objective) -> (doubt lines, the row its figures say, or None) for each
    row whose coefficients disagree with the per-item figures of the text (agent.figures): a coefficient from
    the wrong column (nl4opt_test_010), a variable left out of a row its figure belongs to (124), a count
    weighed by minutes (148). Flat models only: an indexed one keeps its figures in tables."""
    if any(v.index for v in ir.variables):
        return {}
    described = {v.name: v.description or "" for v in ir.variables}
    found: dict[str, tuple[str, str | None]] = {}
    for c in ir.constraints:
        findings, fixed = constraint_findings(c.expr, c.source, c.name, problem, described,
                                              limit_alone=_limit_alone(c, ir)) if not c.forall else ([], None)
        if findings:
            found[c.name] = (" ".join(describe(f, f"{c.name} ({c.expr})") for f in findings), fixed)
    if ir.objective is not None:
        findings, fixed, _ = objective_findings(ir.objective.expr, problem, described)
        if findings:
            found[OBJECTIVE] = (" ".join(describe(f, f"The objective ({ir.objective.expr})") for f in findings),
                                fixed)
    return found


def _objective_offset(ir: ModelIR, problem: str) -> tuple[float, str] | None:
    """`objective_offset` of a flat model's objective: in an indexed one a constant may be a sum of the fixed
    costs its tables list one by one."""
    if ir.objective is None or any(v.index for v in ir.variables):
        return None
    return objective_offset(ir.objective.expr, problem)


def _linear_limit(expr: str) -> tuple[dict[str, float], str, float, str] | None:
    """(terms, operator, limit value, limit as written) of a plain sum of `k*x` against a constant, else None."""
    sides = limit_sides(expr)
    terms = linear_terms(sides[0]) if sides else None
    value = constant_of(sides[2]) if sides else None
    if sides is None or terms is None or value is None:
        return None
    return terms, sides[1], value, sides[2].strip()


def _loose_unstated_rows(ir: ModelIR, problem: str) -> list[str]:
    """Rows that limit the same sum in the same direction as a tighter row whose limit the text states in
    digits, while their own limit is no number of the text (a product, a made-up one): nl4opt_test_269's right
    answer wrote "at most 200 total hours" and beside it 4*runners + 2*canoes <= 330 (33 times 10). The loose
    row can never bind, so removing it leaves the optimum as it is; kept, its same-sum doubt cost that answer
    the vote."""
    stated = digits_stated(problem)
    groups: dict[tuple[frozenset[tuple[str, float]], str], list[tuple[str, float, bool]]] = {}
    for c in ir.constraints:
        row = None if c.forall else _linear_limit(c.expr)
        if row is None or row[1] not in ("<=", ">="):
            continue
        terms, op, value, written = row
        plain = re.fullmatch(r"\d[\d,]*(?:\.\d+)?", written) is not None
        groups.setdefault((frozenset(terms.items()), op), []).append((c.name, value, plain and value in stated))
    loose = []
    for (_, op), rows in groups.items():
        told = [r for r in rows if r[2]]
        if len(rows) < 2 or len(told) != 1:
            continue
        tight = told[0][1]
        if all((value >= tight if op == "<=" else value <= tight) for name, value, _ in rows if name != told[0][0]):
            loose += [name for name, _, _ in rows if name != told[0][0]]
    return loose


def _nonnegative_sums(ir: ModelIR) -> list[str]:
    """Rows that say a sum of non-negative variables with positive coefficients is at least 0: the model
    restating a sentence of data ("The cost per pill for pill A is $4 ..." as `4*pill_A + 5*pill_B >= 0`,
    nl4opt_test_035, 046, 208, 257, 259: right answers, each doubted as a row that requires nothing and sent to
    a repair). Such a row holds for every value within the bounds, so removing it changes nothing."""
    lower = {v.name: v.lower for v in ir.variables if not v.index}
    found = []
    for c in ir.constraints:
        row = None if c.forall else _linear_limit(c.expr)
        if row is None or row[1] != ">=" or row[2] != 0:
            continue
        if all(coef > 0 and isinstance(lower.get(v), int | float) and lower[v] >= 0 for v, coef in row[0].items()):
            found.append(c.name)
    return found


def _fresh_name(name: str, ir: ModelIR) -> str:
    """`name`, or it with a number, so that no constraint of `ir` has it."""
    taken = {c.name for c in ir.constraints}
    return name if name not in taken else next(f"{name}_{k}" for k in range(2, len(taken) + 3)
                                               if f"{name}_{k}" not in taken)


def _range_end(c: Constraint, ir: ModelIR) -> str | None:
    """`stated_range` of a flat constraint, when no row of the model writes that end already."""
    if c.forall or not c.source:
        return None
    other = stated_range(c.expr, c.source)
    written = {re.sub(r"\s+", "", o.expr) for o in ir.constraints}
    return other if other is not None and re.sub(r"\s+", "", other) not in written else None


def _limit_alone(c: Constraint, ir: ModelIR) -> bool:
    """Whether no other row of the model uses the number `c` is limited by (nl4opt_test_111's fat row took
    vitamin C's 100, which the vitamin C row also uses: which of them the sentence is about is not known)."""
    sides = limit_sides(c.expr)
    limit = expression_numbers(sides[2]) - {0.0, 1.0} if sides else set()
    others = [o.expr for o in ir.constraints if o.name != c.name]
    return bool(limit) and not any(limit & expression_numbers(expr) for expr in others)


def _borrowed_figure_lines(ir: ModelIR, problem: str) -> list[str]:
    """`borrowed_figures` of a flat model, one doubt each: a question for the model, since which item the
    figures belong to is what went wrong."""
    if any(v.index for v in ir.variables):
        return []
    described = {v.name: v.description or "" for v in ir.variables}
    rows = [sides[0] for c in ir.constraints if not c.forall and (sides := limit_sides(c.expr)) is not None]
    rows += [ir.objective.expr] if ir.objective else []
    return [f"{name} has no figure in the text, yet its coefficients ({', '.join(f'{c:g}' for c in used)}) are "
            f"{owner}'s: each item's figures belong to that item; a variable for something the text gives no "
            "data is not one of the decisions."
            for name, owner, used in borrowed_figures(rows, problem, described)]


def _data_comparison(c: Constraint, described: dict[str, str], problem: str) -> bool:
    return bool(problem) and not c.forall and data_comparison(c.expr, c.source, problem, described)


def _objective_bounds(ir: ModelIR) -> set[str]:
    """The rows that bound a variable the objective is made of alone (max-min: `share <= north / 400`;
    min-max: `finish >= 6*a + 4*b`). Such rows restate the data by design, beside the rows that limit the
    amounts (`north <= 400`), so a number they share with another row was not taken from the wrong sentence."""
    goal = ir.objective.expr.strip() if ir.objective else ""
    if not re.fullmatch(r"[A-Za-z_]\w*", goal):
        return set()
    return {c.name for c in ir.constraints if re.search(rf"\b{goal}\b", c.expr)}


def _written_twice(ir: ModelIR) -> set[str]:
    """Names of constraints whose row is written more than once: each belongs to its own sentence, and which
    is which is a guess (nl4opt_test_222: demand and staff limits both as the sum <= 100), so no rewrite."""
    written = Counter(re.sub(r"\s+", "", c.expr) for c in ir.constraints)
    return {c.name for c in ir.constraints if written[re.sub(r"\s+", "", c.expr)] > 1}


def _objective_floor_lines(ir: ModelIR, problem: str, optimum: float | None) -> list[str]:
    """`objective_floor` for the rows that decide the optimum: the best value found is the floor's number
    (a floor far from the optimum, `paste <= 1000` where 950 is best, changes nothing and is left alone)."""
    if ir.objective is None or optimum is None or not problem:
        return []
    lines = []
    for c in ir.constraints:
        floor = None if c.forall else objective_floor(c.expr, ir.objective.expr, ir.objective.sense, problem)
        value = constant_of(floor) if floor is not None else None
        if value is not None and abs(optimum - value) <= 1e-6 * max(1.0, abs(optimum)):
            lines.append(f"{c.name} ({c.expr}) holds the objective's own expression at {floor}, which the text never "
                         f"states, and the best value found is that number: the problem asks to "
                         f"{ir.objective.sense} it, so write the requirements of the text instead.")
    return lines


def _objective_cap(c: Constraint, ir: ModelIR, problem: str) -> str | None:
    """`objective_cap` for one constraint of the model (None without a problem text or an objective); a
    number stated once that another row of the model uses is borrowed."""
    if c.forall or not problem or ir.objective is None:
        return None
    cap = objective_cap(c.expr, ir.objective.expr, ir.objective.sense, problem)
    if cap is not None or objective_cap(c.expr, ir.objective.expr, ir.objective.sense, "") is None:
        return cap
    flat = [(o.name, o.expr) for o in ir.constraints if not o.forall]
    borrowed = frozenset(float(re.sub(r"[^\d.]", "", number)) for number, _, users in numbers_used_twice(problem, flat)
                         if c.name in users and any(u != c.name for u in users))
    return objective_cap(c.expr, ir.objective.expr, ir.objective.sense, problem, borrowed)


def exact_rewrites(ir: ModelIR, problem: str) -> dict[str, list[tuple[str, str]]]:
    """Constraint name -> the (name, expression) rows its doubt says it reads, where that reading is exact: a
    ratio or share between two variables (`_ratio_findings`), a rounded third written as the fraction, a limit
    on each item (or limits listed one per item) written on their sum, split into one row per item, an
    invented cap on the objective, removed (no rows), a row of percentages written as whole numbers, as
    shares, one limit stated once and taken whole by each item, as the limit of their sum
    (`total_split_per_item`), a row looser than a stated one of the same sum or a non-negative sum `>= 0`,
    removed, a figure the text denies, dropped, the other end of a stated range, and a limit the model left
    out whose words name one variable (`unstated_bound`). A limit's direction only where `stated_direction`
    finds it exact (list words, or a need written as an equality): "requires 10 units of wood" also describes
    coefficients, so that doubt stays a question for the model."""
    described = {v.name: v.description or "" for v in ir.variables if not v.index}
    names = list(described)
    rewrites: dict[str, list[tuple[str, str]]] = {}
    twice = _written_twice(ir)
    flat = [(c.name, c.expr) for c in ir.constraints if not c.forall]
    bounding = _objective_bounds(ir)
    unbounding = [(name, expr) for name, expr in flat if name not in bounding]
    shared = {u for _, _, users in numbers_used_twice(problem, unbounding) for u in users} if problem else set()
    for c in ir.constraints:
        if c.forall or c.name in twice:
            continue
        found = _ratio_findings(c, described)
        rounded = rounded_fractions(problem, c.expr, c.source) if problem else []
        each = per_item_limit_as_total(c.expr, c.source, names) if c.source else None
        per_item = listed_limits_as_total(c.expr, c.source, described, problem) if c.source else None
        if each is not None:
            per_item = [(t, each[1], each[2]) for t in each[0]]
        if _objective_cap(c, ir, problem) is not None or _data_comparison(c, described, problem):
            rewrites[c.name] = []  # an invented cap cannot change a feasible optimum; a comparison of data states
            # no requirement of the text
        elif found:
            rewrites[c.name] = [(c.name, found[0][1])]
        elif (shares := percents_as_shares(problem, c.expr) if problem else None) is not None:
            rewrites[c.name] = [(c.name, shares)]
        elif rounded:
            expr = c.expr
            for digits, _ in rounded:
                exact = Fraction(float(digits)).limit_denominator(6)
                expr = re.sub(rf"(?<![\w.]){re.escape(digits)}(?![\w.])", f"({exact})", expr)
            rewrites[c.name] = [(c.name, expr)]
        elif per_item is not None:
            rewrites[c.name] = [(f"{c.name}_{t}", f"{t} {op} {limit}") for t, op, limit in per_item]
        elif (other_end := _range_end(c, ir)) is not None:
            rewrites[c.name] = [(c.name, c.expr), (_fresh_name(f"{c.name}_other_end", ir), other_end)]
        elif c.source and c.name not in shared and (turned := stated_direction(c.expr, c.source)) is not None:
            rewrites[c.name] = [(c.name, turned)]  # not a row whose limit another row uses: which one took it
            # from the wrong sentence is a guess (nl4opt_test_111: the fat row with vitamin C's "at least 100")
    for name in [*(_loose_unstated_rows(ir, problem) if problem else []), *_nonnegative_sums(ir)]:
        rewrites.setdefault(name, [])
    for names_, total, _ in total_split_per_item(flat, problem) if problem else ():
        if not any(n in rewrites for n in names_):  # one limit stated once, taken whole by each item: the sum's
            rewrites.update({names_[0]: [(names_[0], total)], **{n: [] for n in names_[1:]}})  # (231's prizes)
    flat_rows = [c for c in ir.constraints if not c.forall]
    unused = unused_numbers(problem, _model_texts(ir)) if problem and flat_rows else []
    for bound, sentence in _unstated_bounds(ir, unused):
        host = next((c for c in flat_rows if c.source == sentence), flat_rows[-1])
        variable = bound.split()[0]
        rows = rewrites.get(host.name, [(host.name, host.expr)])
        rewrites[host.name] = [*rows, (_fresh_name(f"{variable}_limit", ir), bound)]
    for name, (_, rows) in _choice_findings(ir, problem).items() if problem else ():
        if name not in rewrites:
            rewrites[name] = rows
    offset = _objective_offset(ir, problem) if problem else None
    if offset is not None:
        rewrites[OBJECTIVE] = [(OBJECTIVE, offset[1])]
    for name, (_, fixed) in _figure_findings(ir, problem).items() if problem else ():
        if fixed is not None and name not in rewrites and name not in twice:
            rewrites[name] = [(name, fixed)]
    return rewrites


def apply_rewrites(ir: ModelIR, rewrites: dict[str, list[tuple[str, str]]]) -> ModelIR:
    """The model with each rewritten constraint replaced by its rows, in place, sentences kept, and the
    objective's expression replaced when `OBJECTIVE` is among them."""
    rows = [c.model_copy(update={"name": name, "expr": expr})
            for c in ir.constraints for name, expr in rewrites.get(c.name, [(c.name, c.expr)])]
    objective = ir.objective
    if objective is not None and rewrites.get(OBJECTIVE):
        objective = objective.model_copy(update={"expr": rewrites[OBJECTIVE][0][1]})
    return ir.model_copy(update={"constraints": rows, "objective": objective})


def rewrite_rounds(ir: ModelIR, problem: str, rounds: int = 3) -> tuple[ModelIR, dict[str, list[tuple[str, str]]]]:
    """`exact_rewrites` applied until none is left (at most `rounds` times), and what each changed row of `ir`
    became. One rewrite can show the next: nl4opt_test_115's "at least 50 units of fertilizer" written as
    `seeds_units <= 50` is first moved to its item (`fertilizer_units <= 50`), and only then is its direction
    seen to be the sentence's opposite (`fertilizer_units >= 50`, right); after one round the rewrite was
    doubted and the answer stayed 0."""
    origin = {c.name: c.name for c in ir.constraints}
    touched: set[str] = set()
    current = ir
    for _ in range(rounds):
        step = exact_rewrites(current, problem)
        if not step:
            break
        current = apply_rewrites(current, step)
        for name, rows in step.items():
            first = origin.get(name, name)
            touched.add(first)
            origin.update({row: first for row, _ in rows})
    composed = {first: ([(OBJECTIVE, current.objective.expr)] if first == OBJECTIVE and current.objective else
                        [(c.name, c.expr) for c in current.constraints if origin.get(c.name) == first])
                for first in touched}
    return current, composed


_BOUND = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:<=|>=|<|>|==)\s*(\d+(?:\.\d+)?)\s*$")


def _coefficient_as_bound(expr: str, ir: ModelIR, own: str, problem: str) -> tuple[str, str, str] | None:
    """(variable, number, where) when `expr` bounds a variable by a number that multiplies that same variable
    in another constraint or the objective, and the text never writes that number before a word of the
    variable: nl4opt_test_074's "catalyst_process <= 10" next to "10*catalyst_process + 15*no_catalyst_process
    <= 300", the wood a process uses taken for a limit (while "at least 5 trips" is one)."""
    m = _BOUND.match(expr)
    if m is None:
        return None
    var, number = m.groups()
    described = next((v.description or "" for v in ir.variables if v.name == var), None)
    if described is None or number_counts(number, var, described, problem):
        return None
    times = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?)\s*\*\s*{re.escape(var)}\b")
    others = [(c.name, c.expr) for c in ir.constraints if c.name != own and not c.forall]
    others += [("the objective", ir.objective.expr)] if ir.objective else []
    for name, text in others:
        if any(float(k) == float(number) for k in times.findall(text)):
            return var, number, name
    return None


def _unused_parameter_lines(ir: ModelIR) -> list[str]:
    """One line per parameter that no constraint and not the objective uses: in the indexed layout the
    model copies a table and then forgets it (warehouse_location: the opening costs, never in the sum)."""
    used = set()
    for text in [c.expr for c in ir.constraints] + [c.forall for c in ir.constraints] + \
            [ir.objective.expr if ir.objective else ""]:
        used.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return [f"{p.name} ({json.dumps(p.value)[:80]}) is a parameter that no constraint and not the objective uses: "
            "the requirement or cost it stands for is missing." for p in ir.parameters if p.name not in used]


def _same_model(a: ModelIR, b: ModelIR | dict[str, Any]) -> bool:
    """The model answered the same thing again (b: another IR, or an attempt's recorded IR dict)."""
    as_dict = json.loads(a.model_dump_json(exclude_defaults=True))
    return as_dict == (b if isinstance(b, dict) else json.loads(b.model_dump_json(exclude_defaults=True)))


def _same_left_side_lines(compiled: CompiledModel, ir: ModelIR | None = None, problem: str = "") -> list[str]:
    """One line per group of constraints that limit the same sum in the same direction (a 1.5B model
    writes each city's demand as the total over every route, for instance). Not the bounds of one variable
    that the text states about it, each in a sentence naming it ("North needs 400 thousand", "the canal to
    North can carry at most 350 thousand": water_allocation_maximin's right answer was doubted for them)."""
    lines = []
    own = own_words({v.name: v.description or "" for v in ir.variables if not v.index}) if ir else {}
    for group in same_left_sides(compiled):
        names = {n for c in group for n in re.findall(r"[A-Za-z_]\w*", c.ir.expr)}
        if len(names) == 1 and _bounds_stated_about(names.pop(), [c.ir.expr for c in group], own, problem):
            continue
        if problem and _proportional_data([c.ir.expr for c in group], problem):
            continue
        shown = "; ".join(f"{c.name} ({c.ir.expr})" for c in group)
        lines.append(f"{shown}: these limit the same expression in the same direction, so only the tightest "
                     "can ever matter. Each requirement is about its own quantity (its own city, product, "
                     "period or resource): write each with the variables that quantity is made of.")
    return lines


def _proportional_data(exprs: list[str], problem: str) -> bool:
    """Whether rows that limit the same sum up to a factor are each written with the text's own numbers and no
    two alike: the data happen to be proportional ("6 units of special liquid ... 4 units of waste" and "3 ...
    2" of nl4opt_test_102; 192's `buses <= 10` beside `3*buses <= 120`), and the right answers were doubted for it."""
    stated = digits_stated(problem) | {1.0}
    rows = [_linear_limit(e) for e in exprs]
    shapes = [tuple(sorted(row[0].items())) for row in rows if row is not None]
    return len(shapes) == len(rows) == len(set(shapes)) and all(c in stated for t in shapes for _, c in t)


def _bounds_stated_about(name: str, exprs: list[str], own: dict[str, set[str]], problem: str) -> bool:
    """Whether the text states each limit of these bounds of one variable in a clause naming it ("East needs
    300", not "South needs 500" of the same sentence), as many times as they use it (in units or scaled: "400
    thousand" for 400000)."""
    if not own.get(name) or not problem:
        return False
    scales = text_scales(problem)
    stated: Counter[float] = Counter()
    for clause in (c for sentence in sentences(problem) for c in re.split(r"[,;:]|\band\b", sentence)):
        if own[name] & word_stems(clause):
            stated.update(float(d.replace(",", "")) * k for d, _ in NUMBER_TOKEN.findall(clause) for k in scales)
    wanted = Counter(float(m.group(1)) for e in exprs if (m := re.search(r"(?:<=|>=|==)\s*(\d+(?:\.\d+)?)\s*$", e)))
    return sum(wanted.values()) == len(exprs) and all(stated[v] >= n for v, n in wanted.items())


def _vacuous_lines(compiled: CompiledModel) -> list[str]:
    """One line per constraint that any values within the variables' bounds satisfy (it requires nothing)."""
    lines = []
    for c in vacuous_constraints(compiled):
        sentence = f' Its sentence: "{c.ir.source}".' if c.ir.source else ""
        lines.append(f"{c.name} ({c.ir.expr}) holds for any values within the variables' bounds, so it requires "
                     "nothing: a requirement compares a quantity with its own limit from the text, not with "
                     f"another variable's term.{sentence}")
    return lines


def _unreachable_lines(compiled: CompiledModel, conflict: list[str]) -> list[str]:
    """One line per constraint of the conflict that fails on its own, whatever the values within the bounds."""
    lines = []
    for c, best, limit in unreachable_limits(compiled):
        if c.name not in conflict:
            continue
        most = "at most" if c.body.op in (">=", ">") else "at least"
        lines.append(f"{c.name} ({c.ir.expr}) can never hold: with every variable within its bounds, its variables "
                     f"come to {best:g} {most}, against {limit:g}. If {limit:g} counts other things (districts, "
                     "products, periods), the requirement is one constraint for each of them, each with the "
                     "variables that serve it.")
    return lines


def _model_texts(ir: ModelIR) -> list[str]:
    """Every text of a model that may hold a number of the problem: rows, objective, bounds, tables."""
    texts = [c.expr for c in ir.constraints] + [c.forall or "" for c in ir.constraints]
    texts += [ir.objective.expr if ir.objective else ""]
    texts += [f"{v.lower} {v.upper}" for v in ir.variables]
    return texts + [json.dumps(p.value) for p in ir.parameters] + [json.dumps(st.elements) for st in ir.sets]


def _unstated_bounds(ir: ModelIR, unused: list[tuple[list[str], str]]) -> list[tuple[str, str]]:
    """(bound, sentence) for each number the model uses nowhere (`unused`, from `unused_numbers`) that its
    sentence makes a limit on one variable (`unstated_bound`); flat models only."""
    if any(v.index for v in ir.variables):
        return []
    described = {v.name: v.description or "" for v in ir.variables}
    return [(bound, sentence) for numbers, sentence in unused for number in numbers if not number.endswith("%")
            if (bound := unstated_bound(sentence, number, described)) is not None]


def _unused_number_lines(ir: ModelIR, problem: str) -> list[str]:
    """One line per sentence whose digits the model uses nowhere (see `unused_numbers`)."""
    pairs = [(c.name, c.expr) for c in ir.constraints]
    exprs = dict(pairs)
    variables = [v.name for v in ir.variables]
    lines = []
    about: dict[str, list[tuple[list[str], str]]] = {}
    unused = unused_numbers(problem, _model_texts(ir))
    bounds = {sentence: bound for bound, sentence in _unstated_bounds(ir, unused)}
    for numbers, sentence in unused:
        line = (f'{" and ".join(numbers)} in "{sentence}" {"is" if len(numbers) == 1 else "are"} used nowhere in '
                "the model: a coefficient or a limit is probably missing or taken from another sentence.")
        if sentence in bounds:
            line += f" The sentence states {bounds[sentence]}."
        suspects = constraints_about(sentence, pairs, variables, numbers)
        stated = sentence_quantities(sentence)
        blind = [name for name in suspects if not expression_numbers(exprs[name]) & stated]
        if blind:  # point at the constraint that seems to state this sentence with other numbers
            line += " " + "; ".join(f"{name} ({exprs[name]})" for name in blind)
            line += (" is about this sentence but uses" if len(blind) == 1 else
                     " are about this sentence but use") + " none of its numbers."
        for name in suspects:
            if name not in blind:  # it took another number of the sentence ("4" of "4-wheeler", a price)
                line += f" {name} ({exprs[name]}) is about this sentence but does not use {' and '.join(numbers)}."
            about.setdefault(name, []).append((numbers, sentence))
        lines.append(line)
    described = {v.name: v.description or "" for v in ir.variables if not v.index}
    for name, found in about.items():
        suggestion = suggest_coefficients(found, name, exprs[name], described)
        if suggestion is not None:
            lines.append(f"With those numbers {name} would read: {suggestion}")
    return lines


_COUNTING = re.compile(r"\b(number of|how many|count of)\b|^(num|n)_", re.I)


_ASKS_HOW_MANY = re.compile(r"\bhow many\s+([a-z]+)", re.I)


def _counts_things(name: str, description: str, problem: str = "") -> bool:
    """Whether the variable counts whole things: "number of ..." in its words, or the question asks how many of
    what it measures ("how many servings of each should he eat", nl4opt_test_114: servings left continuous
    answered 55.6). Of the 29 problems of `in_orlm245` that ask "how many <noun>" and whose official
    formulation has different LP and ILP optima, 23 are labelled with the ILP one. Divisible units (kg, acres,
    hours) are not counts."""
    if _COUNTING.search(description) or _COUNTING.search(name):
        return True
    if not problem or measures_a_divisible_unit(name, description):
        return False
    asked = {w.lower() for w in _ASKS_HOW_MANY.findall(problem)} - {"of", "each", "more", "units", "times"}
    return bool(asked) and bool(word_stems(" ".join(asked)) & word_stems(f"{name} {description}"))


def _fractional_entry(name: str, value: Any, keys: tuple[str, ...] = ()) -> tuple[str, float] | None:
    """The first entry of a variable's value that is not a whole number, as `x[a, b]` with its value."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = _fractional_entry(name, item, (*keys, str(key)))
            if found is not None:
                return found
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value - round(value)) > 1e-6:
        return (f"{name}[{', '.join(keys)}]" if keys else name), float(value)
    return None


def _all_zero(values: dict[str, Any]) -> bool:
    def zero(v: Any) -> bool:
        if isinstance(v, dict):
            return all(zero(x) for x in v.values())
        return isinstance(v, int | float) and v == 0

    return zero(values)


def _same_core_twice(cores: list[tuple[str, ...]]) -> bool:
    """Two attempts in a row hit the same conflict: the request itself is infeasible, most likely."""
    return len(cores) >= 2 and cores[-1] == cores[-2] and bool(cores[-1])
