"""The Python API for notebooks and scripts: one object per thing a user looks at, each displaying itself.

    from agent import Modelwright
    mw = Modelwright(llm="embedded", strategy="pipeline")
    sol = mw.solve(text)            # Solution: decisions, objective, binding constraints, .trace, .explain()
    sol.formulation                 # Formulation: the IR as math; .render("minizinc"), .solve(target=...)

Why wrappers and not the agent's own types: `LoopResult`, `ModelIR` and `Trace` are built for the loop
and the CLI; here each gets `_repr_html_` / `_repr_markdown_` (agent/views.py) and the few verbs a user
needs, while the JSON stays the CLI's (`Solution.to_dict()` is `answer_dict`). Heavy modules (solvers,
the model backends, langgraph) load on first use, so `import agent` stays light.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import views

if TYPE_CHECKING:
    from agent.explain import InfeasibilityExplanation
    from agent.llm import LLM
    from agent.loop import LoopResult
    from agent.trace import Trace
    from formalizers.ir import ModelIR
    from formalizers.semantics import CompiledModel

__all__ = ["EvalRun", "Explanation", "FormalizationError", "Formulation", "ModelText", "Modelwright", "Solution",
           "Timeline", "load_run"]


class FormalizationError(ValueError):
    """The model gave no valid formalization within its repair budget; `trace` shows every attempt."""

    def __init__(self, message: str, trace: Timeline | None = None) -> None:
        super().__init__(message)
        self.trace = trace


# ----------------------------------------------------------------------------- traces


class Timeline:
    """A run's trace as a table of steps; model prompts and responses fold open in the HTML view."""

    def __init__(self, data: dict[str, Any] | Trace | None = None) -> None:
        if data is not None and not isinstance(data, dict):
            data = data.to_dict()
        self.data: dict[str, Any] = data or {"events": []}

    @classmethod
    def from_file(cls, path: str | Path) -> Timeline:
        """Open a saved trace (`modelwright solve --trace`, or an eval run's traces/<id>.json)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a trace (expected a JSON object)")
        return cls(data)

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.data.get("events") or [])

    @property
    def problem(self) -> str:
        return str(self.data.get("problem") or "")

    @property
    def llm_calls(self) -> list[dict[str, Any]]:
        """Every model call: messages, response, tokens, seconds."""
        return [e for e in self.events if e.get("kind") == "llm_call"]

    @property
    def totals(self) -> dict[str, Any]:
        if self.data.get("totals"):
            return dict(self.data["totals"])
        calls = self.llm_calls
        return {"llm_calls": len(calls), "prompt_tokens": sum(e.get("prompt_tokens") or 0 for e in calls),
                "completion_tokens": sum(e.get("completion_tokens") or 0 for e in calls),
                "llm_seconds": round(sum(e.get("seconds") or 0 for e in calls), 3)}

    def rows(self) -> list[dict[str, Any]]:
        """step, t, kind, seconds, tokens, outcome, detail: one dict per event."""
        return views.timeline_rows(self.events)

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (pandas is optional)."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        t = self.totals
        return f"Timeline({len(self)} steps, {t.get('llm_calls', 0)} model calls)"

    def _title(self) -> str:
        eval_rec = self.data.get("eval") or {}
        return f"Trace of {eval_rec['id']}" if eval_rec.get("id") else "Trace"

    def _repr_html_(self) -> str:
        return views.timeline_html(self.data, self._title())

    def _repr_markdown_(self) -> str:
        return views.timeline_markdown(self.data, self._title())


# ----------------------------------------------------------------------------- formulations


class ModelText:
    """A model written for one solver target; shows as a code block, `str()` is the text itself."""

    def __init__(self, text: str, target: str) -> None:
        self.text = text
        self.target = target

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"ModelText({self.target!r}, {len(self.text)} characters)"

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.text.rstrip() + "\n", encoding="utf-8")
        return p

    def _repr_html_(self) -> str:
        return views.model_text_html(self.text, self.target)

    def _repr_markdown_(self) -> str:
        return views.model_text_markdown(self.text, self.target)


class Formulation:
    """One IR model: shows as math (sets, parameters, variables, objective, constraints with their sentences)."""

    def __init__(self, ir: ModelIR | dict[str, Any] | str, *, problem: str = "",
                 trace: Timeline | None = None) -> None:
        from formalizers.ir import ModelIR, parse_ir, parse_ir_text

        if isinstance(ir, ModelIR):
            self.ir = ir
        elif isinstance(ir, str):
            self.ir = parse_ir_text(ir)
        else:
            self.ir = parse_ir(ir)
        self.problem = problem
        self.trace = trace

    @classmethod
    def from_file(cls, path: str | Path) -> Formulation:
        """Read an IR JSON file (`*.ir.json`); `IRError` says what is wrong and where."""
        from formalizers.ir import load_ir

        return cls(load_ir(path))

    @property
    def name(self) -> str:
        return self.ir.name

    @cached_property
    def compiled(self) -> CompiledModel:
        """The parsed and type-checked model (raises `IRError` listing every problem)."""
        return self.ir.compile()

    @property
    def targets(self) -> list[str]:
        """The solver targets that can express this model."""
        import solvers

        return solvers.applicable_targets(self.compiled)

    def render(self, target: str = "minizinc") -> ModelText:
        """The model as MiniZinc, MILP (LP file written by Pyomo), SMT-LIB or CP-SAT text."""
        import solvers

        if target == "auto":
            target = solvers.choose_target(self.compiled)
        return ModelText(solvers.render(self.compiled, target), target)

    def solve(self, target: str = "auto", *, time_limit: float = 20.0) -> Solution:
        """Solve this model as it stands (no language model) and check the answer independently."""
        import solvers
        from agent.loop import LoopResult
        from agent.trace import Trace
        from solvers.checker import check_solution
        from solvers.result import Status

        compiled = self.compiled
        chosen = solvers.choose_target(compiled) if target == "auto" else target
        trace = Trace(problem=self.problem, model=self.name, target=chosen)
        res = solvers.solve(compiled, chosen, time_limit=time_limit, explain=True)
        trace.step("solve", target=res.target, status=res.status.value, objective=res.objective,
                   seconds=round(res.seconds, 4), conflict=res.conflict, message=res.message)
        check = None
        success = False
        message = res.message if not res.status.has_solution else ""
        if res.status.has_solution:
            check = check_solution(compiled, res.values, claimed_objective=res.objective)
            trace.step("check", ok=check.ok, violations=[v.model_dump() for v in check.violations[:10]],
                       problems=check.problems[:10], objective=check.objective)
            success = check.ok
            message = "" if check.ok else f"The solution does not satisfy the model:\n{check.describe()}"
        trace.finish(status=res.status.value, success=success, seconds=round(res.seconds, 3))
        result = LoopResult(problem=self.problem, success=success, status=res.status.value,
                            objective=res.objective if res.status.has_solution else None,
                            values=res.values if res.status.has_solution else {}, ir=self.ir, compiled=compiled,
                            result=res, check=check, attempts=[], repairs=0, seconds=res.seconds, message=message,
                            infeasible_confirmed=res.status == Status.INFEASIBLE, trace=trace)
        return Solution(result, time_limit=time_limit)

    def explain(self, *, time_limit: float = 20.0) -> Explanation:
        """Why this model has no solution and the smallest relaxation (see `Solution.explain`)."""
        return self.solve(time_limit=time_limit).explain(time_limit=time_limit)

    def to_dict(self) -> dict[str, Any]:
        return self.ir.model_dump(mode="json", exclude_defaults=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json() + "\n", encoding="utf-8")
        return p

    def _compiled_or_none(self) -> CompiledModel | None:
        try:
            return self.compiled
        except Exception:  # noqa: BLE001 - a model that does not compile still shows as written
            return None

    def __repr__(self) -> str:
        ir = self.ir
        return (f"Formulation({ir.name!r}: {len(ir.variables)} variables, {len(ir.constraints)} constraints, "
                f"{ir.objective.sense if ir.objective else 'satisfy'})")

    def _repr_html_(self) -> str:
        return views.formulation_html(self.ir, self._compiled_or_none())

    def _repr_markdown_(self) -> str:
        return views.formulation_markdown(self.ir, self._compiled_or_none())


# ----------------------------------------------------------------------------- solutions


class Explanation:
    """Why a request has no solution: the conflict in the problem's words and the smallest relaxation."""

    def __init__(self, raw: InfeasibilityExplanation, problem: str = "") -> None:
        self.raw = raw
        self.problem = problem

    @property
    def summary(self) -> str:
        return self.raw.summary()

    @property
    def conflict(self) -> list[dict[str, Any]]:
        """The conflicting requirements: name, label, source sentence, expression, instances."""
        return self.to_dict()["conflict"]

    @property
    def relaxation(self) -> dict[str, Any] | None:
        return self.to_dict()["relaxation"]

    @property
    def relaxed(self) -> Formulation | None:
        """The model with the smallest relaxation written in: solve it to see what the change buys."""
        r = self.raw.relaxation
        return None if r is None else Formulation(r.relaxed_ir, problem=self.problem)

    def describe(self) -> str:
        return self.raw.describe()

    def to_dict(self) -> dict[str, Any]:
        return self.raw.to_dict()

    def __repr__(self) -> str:
        return f"Explanation({self.summary!r})"

    def _view_data(self) -> dict[str, Any]:
        return {**self.to_dict(), "objective_description": self.raw.objective_description}

    def _repr_html_(self) -> str:
        return views.explanation_html(self._view_data())

    def _repr_markdown_(self) -> str:
        return views.explanation_markdown(self._view_data())


class Solution:
    """The answer to one request: status, objective, decisions with their meaning, and how it was found."""

    def __init__(self, result: LoopResult, *, llm: str = "", time_limit: float = 20.0) -> None:
        self.result = result
        self.llm = llm
        self.time_limit = time_limit
        self._explanation: Explanation | None = None

    status = property(lambda self: self.result.status, doc="optimal | feasible | infeasible | unbounded | error")
    success = property(lambda self: self.result.success, doc="solved and confirmed by the independent checker")
    objective = property(lambda self: self.result.objective)
    values = property(lambda self: self.result.values, doc="keyed by IR variable, nested by index")
    confidence = property(lambda self: self.result.confidence, doc="vote share of the answer over samples")
    message = property(lambda self: self.result.message)

    @cached_property
    def formulation(self) -> Formulation | None:
        """The IR the answer comes from (None when the model never produced a valid one)."""
        r = self.result
        return None if r.ir is None else Formulation(r.ir, problem=r.problem, trace=self.trace)

    @cached_property
    def trace(self) -> Timeline:
        return Timeline(self.result.trace.to_dict() if self.result.trace is not None else None)

    @property
    def decisions(self) -> list[dict[str, Any]]:
        from agent.answer import decisions

        return decisions(self.result)

    @cached_property
    def binding(self) -> list[dict[str, Any]]:
        """Constraint instances at their limit: the ones that decide the optimum."""
        from agent.answer import binding_constraints

        return binding_constraints(self.result)

    @property
    def conflict(self) -> list[dict[str, Any]]:
        """The solver's conflict (infeasible models): IR constraint names with their sentences."""
        res = self.result.result
        return [c.model_dump() for c in res.conflict_detail] if res is not None else []

    def explain(self, *, time_limit: float | None = None) -> Explanation:
        """For an infeasible request: the conflicting requirements and the smallest relaxation, re-solved."""
        if self._explanation is not None:
            return self._explanation
        r = self.result
        if r.ir is None:
            raise ValueError(f"there is no model to explain (status {r.status}): {r.message[:300]}")
        if r.status != "infeasible":
            raise ValueError(f"the request is not infeasible (status {r.status}); there is nothing to explain")
        from agent.explain import explain_infeasibility

        raw = explain_infeasibility(r.ir, r.result, time_limit=time_limit or self.time_limit)
        self._explanation = Explanation(raw, problem=r.problem)
        return self._explanation

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `modelwright solve --json` (with the explanation once `explain()` ran)."""
        from agent.answer import answer_dict

        explanation = None
        if self._explanation is not None:
            explanation = self._explanation.to_dict() | {"text": self._explanation.describe()}
        return answer_dict(self.result, llm=self.llm, explanation=explanation)

    def __repr__(self) -> str:
        obj = "" if self.objective is None else f", objective {self.objective:.10g}"
        return f"Solution({self.status}{obj})"

    def _payload(self) -> dict[str, Any]:
        return self.to_dict()

    def _repr_html_(self) -> str:
        return views.solution_html(self._payload(), self.binding, self.conflict)

    def _repr_markdown_(self) -> str:
        return views.solution_markdown(self._payload(), self.binding, self.conflict)


# ----------------------------------------------------------------------------- the agent


def _problem_text(problem: str | os.PathLike[str]) -> str:
    """A problem statement given as text, or as a path object to a text file."""
    if isinstance(problem, os.PathLike):
        return Path(problem).read_text(encoding="utf-8")
    if not isinstance(problem, str):
        raise TypeError(f"the problem must be text (or a pathlib.Path), got {type(problem).__name__}")
    return problem


class Modelwright:
    """English problem -> formalization -> solver -> checker -> repair, with notebook-friendly answers.

    `llm`: a backend spec (`embedded`, `gguf:PATH`, `openai:MODEL`, `hf:NAME`, `replay:FILE.jsonl`) or an LLM.
    `record`: append every model call to this JSONL, for `replay:` later (tests, demos without the model).
    `layout`: the IR output format, overriding the strategy's (auto | lean | indexed | quoted).
    """

    def __init__(self, llm: str | LLM = "embedded", strategy: str = "pipeline", target: str = "auto",
                 time_limit: float = 20.0, samples: int | None = None, *, max_repairs: int | None = None,
                 seed: int = 0, llm_timeout: float = 1200.0, record: str | Path | None = None,
                 pull: bool = True, layout: str | None = None) -> None:
        from agent.strategies import get_strategy, with_layout

        with_layout(get_strategy(strategy), layout)  # an unknown name fails here, not after the first model call
        if target not in ("auto", "minizinc", "milp", "smt", "cpsat"):
            raise ValueError(f"unknown target '{target}'; choose one of auto, minizinc, milp, smt, cpsat")
        self.strategy = strategy
        self.layout = layout
        self.target = target
        self.time_limit = time_limit
        self.samples = samples
        self.max_repairs = max_repairs
        self.seed = seed
        self.llm_timeout = llm_timeout
        self.record = record
        self.pull = pull
        if isinstance(llm, str):
            from agent.llm import parse_spec

            parse_spec(llm)  # a malformed spec fails now
            self.llm_spec = llm
            self._llm: LLM | None = None
        else:
            self.llm_spec = f"{type(llm).__name__}:{getattr(llm, 'model', '')}"
            self._llm = llm

    @property
    def llm(self) -> LLM:
        """The backend, built on first use (the embedded model is fetched once if it is not cached)."""
        if self._llm is None:
            from agent.llm import ModelUnavailable, make_llm, parse_spec

            try:
                self._llm = make_llm(self.llm_spec, record=self.record)
            except ModelUnavailable:
                if not (self.pull and parse_spec(self.llm_spec)[0] == "embedded"):
                    raise
                from agent.llm import pull_embedded_model

                pull_embedded_model(progress=True)
                self._llm = make_llm(self.llm_spec, record=self.record)
        return self._llm

    def solve(self, problem: str | os.PathLike[str]) -> Solution:
        """Formalize, solve, check and repair (voting over samples with `pipeline`)."""
        from agent.strategies import solve_problem

        result = solve_problem(_problem_text(problem), self.llm, self.strategy, samples=self.samples, seed=self.seed,
                               time_limit=self.time_limit, target=self.target, max_repairs=self.max_repairs,
                               llm_timeout=self.llm_timeout, layout=self.layout)
        return Solution(result, llm=self.llm_spec, time_limit=self.time_limit)

    def formalize(self, problem: str | os.PathLike[str]) -> Formulation:
        """The first valid formalization (parses and type-checks), without solving or voting.

        Invalid output goes back to the model with the problems found, as in the repair loop, up to the
        strategy's repair budget; `FormalizationError` (with the trace) when none is valid.
        """
        from agent.formalize import (
            check_problem_text,
            choose_layout,
            formalize_messages,
            output_schema,
            parse_model_output,
            repair_message,
        )
        from agent.layouts import LAYOUTS
        from agent.loop import LoopConfig
        from agent.strategies import get_strategy, with_layout
        from agent.trace import Trace
        from formalizers.ir import IRError

        strat = with_layout(get_strategy(self.strategy), self.layout)
        if strat.language != "ir":
            raise ValueError(f"strategy '{strat.name}' writes MiniZinc text, not an IR; formalize with an IR "
                             "strategy (ir-repair, pipeline, ...)")
        text = check_problem_text(_problem_text(problem))
        cfg = LoopConfig(seed=self.seed, llm_timeout=self.llm_timeout)
        budget = strat.max_repairs if self.max_repairs is None else self.max_repairs
        trace = Trace(problem=text, strategy=strat.name, step="formalize")
        llm = self.llm
        llm.trace = trace.record_llm
        layout = choose_layout(text, strat.layout)
        messages = formalize_messages(text, examples=strat.examples, layout=layout)
        problems: list[str] = []
        for attempt in range(1, budget + 2):
            temperature = cfg.temperature if attempt == 1 else cfg.repair_temperature
            trace.step("formalize", attempt=attempt, temperature=temperature)
            completion = llm.complete(messages, json_schema=output_schema(layout), temperature=temperature,
                                      max_tokens=cfg.max_tokens or LAYOUTS[layout].max_tokens, timeout=cfg.llm_timeout,
                                      seed=None if cfg.seed is None else cfg.seed + attempt)
            messages = messages + [{"role": "assistant", "content": completion.text}]
            try:
                ir = parse_model_output(completion.text, text)
                ir.compile()
            except IRError as e:
                problems = e.problems
                trace.step("validate", ok=False, problems=e.problems)
                messages.append(repair_message("It could not be read:\n" + "\n".join(e.problems[:8])))
                continue
            trace.step("validate", ok=True, ir=ir.model_dump(mode="json", exclude_defaults=True))
            trace.finish(status="formalized", success=True, attempts=attempt)
            return Formulation(ir, problem=text, trace=Timeline(trace))
        trace.finish(status="error", success=False, attempts=budget + 1)
        raise FormalizationError(f"no valid formalization in {budget + 1} attempts; last problems: "
                                 + "; ".join(problems[:5]), trace=Timeline(trace))

    def __repr__(self) -> str:
        return (f"Modelwright(llm={self.llm_spec!r}, strategy={self.strategy!r}, target={self.target!r}, "
                f"time_limit={self.time_limit}, samples={self.samples})")


# ----------------------------------------------------------------------------- eval runs


class EvalRun:
    """A folder written by `modelwright eval`: configuration, per-problem results, metrics, traces."""

    def __init__(self, path: Path, config: dict[str, Any], records: list[dict[str, Any]],
                 metrics: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        self.records = records
        self.metrics = metrics

    @property
    def results(self) -> Any:
        """One row per problem: a pandas DataFrame when pandas is installed, else a list of dicts."""
        try:
            import pandas as pd
        except ImportError:
            return [dict(r) for r in self.records]
        return pd.DataFrame(self.records)

    @property
    def ids(self) -> list[str]:
        return [str(r.get("id")) for r in self.records]

    @property
    def scored(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("strict") is not None]

    @property
    def accuracy(self) -> float | None:
        """Strict accuracy over the scored problems (the headline number)."""
        scored = self.scored
        return sum(bool(r["strict"]) for r in scored) / len(scored) if scored else None

    def outcomes(self) -> dict[str, int]:
        """How many problems ended in each outcome (correct, wrong_answer, infeasible, invalid_ir, ...)."""
        return dict(Counter(str(r.get("outcome") or "unscored") for r in self.records))

    def failures(self) -> list[dict[str, Any]]:
        """The scored problems the run got wrong."""
        return [r for r in self.scored if not r["strict"]]

    def record(self, problem_id: str) -> dict[str, Any]:
        for r in self.records:
            if str(r.get("id")) == problem_id:
                return r
        raise KeyError(f"no problem '{problem_id}' in {self.path}")

    def trace(self, problem_id: str) -> Timeline:
        """The trace of one problem: every prompt, response and step."""
        from agent.evaluate import trace_name

        rel = self.record(problem_id).get("trace") or f"traces/{trace_name(problem_id)}"
        path = (self.path / rel).resolve()
        if not path.is_relative_to(self.path.resolve()):
            raise ValueError(f"trace path {rel!r} points outside the run folder")
        return Timeline.from_file(path)

    def summary(self) -> dict[str, Any]:
        cfg = self.config
        acc = self.accuracy
        return {"benchmark": cfg.get("benchmark") or cfg.get("bench_path"), "llm": cfg.get("llm"),
                "strategy": cfg.get("strategy"), "samples": cfg.get("samples"), "problems": len(self.records),
                "scored": len(self.scored), "strict accuracy": "—" if acc is None else f"{acc:.1%}",
                "repairs": sum(int(r.get("repairs") or 0) for r in self.records),
                "model calls": sum(int(r.get("llm_calls") or 0) for r in self.records)}

    def __repr__(self) -> str:
        acc = self.accuracy
        shown = "-" if acc is None else f"{acc:.1%}"
        return f"EvalRun({str(self.path)!r}, {len(self.records)} problems, accuracy {shown})"

    def _repr_html_(self) -> str:
        return views.run_html(self.summary(), self.outcomes(), str(self.path))

    def _repr_markdown_(self) -> str:
        return views.run_markdown(self.summary(), self.outcomes(), str(self.path))


def load_run(path: str | Path) -> EvalRun:
    """Read an eval run folder (config.json, results.jsonl, metrics.json if present, traces/)."""
    from agent.evaluate import CONFIG_FILE, METRICS_FILE, RESULTS_FILE, EvalError, read_results

    p = Path(path)
    if not (p / CONFIG_FILE).is_file() or not (p / RESULTS_FILE).is_file():
        raise EvalError(f"{p}: not an eval run folder (needs {CONFIG_FILE} and {RESULTS_FILE})")
    raw = json.loads((p / CONFIG_FILE).read_text(encoding="utf-8"))
    config = raw.get("config", raw) if isinstance(raw, dict) else {}
    by_id: dict[str, dict[str, Any]] = {}
    for rec in read_results(p / RESULTS_FILE):
        by_id[str(rec.get("id"))] = rec  # a resumed run may hold a problem twice: the last record counts
    metrics: dict[str, Any] = {}
    if (p / METRICS_FILE).is_file():
        metrics = json.loads((p / METRICS_FILE).read_text(encoding="utf-8"))
    return EvalRun(p, config, list(by_id.values()), metrics)
