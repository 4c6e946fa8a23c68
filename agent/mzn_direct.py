"""The second strategy: the model writes MiniZinc text directly (Text2Zinc-style), compiler errors fed back.

There is no IR here, so no independent checker: what validates an attempt is that MiniZinc compiles
it and a solver proves it optimal. The text is declarative and runs in the MiniZinc compiler, never in
Python; `include` is limited to the standard library's files so a model cannot read the disk.
"""

from __future__ import annotations

import re
import time
from typing import Any

from agent.formalize import check_problem_text, prompt_text, worked_examples
from agent.llm import LLM, LLMError
from agent.loop import Attempt, LoopConfig, LoopResult
from agent.trace import Trace
from solvers.result import SolveResult, Status

MAX_MODEL_CHARS = 20_000
MAX_TOKENS = 1024  # per model call: a MiniZinc model of a word problem is about as long as a flat IR
_FENCE = re.compile(r"```[a-zA-Z]*\n?(.*?)```", re.S)
_INCLUDE = re.compile(r'^\s*include\s+"([^"]*)"\s*;', re.M)
_STD_INCLUDE = re.compile(r"^[A-Za-z0-9_]+\.mzn$")
_MZN_STATUS = {
    "OPTIMAL_SOLUTION": Status.OPTIMAL,
    "ALL_SOLUTIONS": Status.OPTIMAL,
    "SATISFIED": Status.FEASIBLE,
    "UNSATISFIABLE": Status.INFEASIBLE,
    "UNBOUNDED": Status.UNBOUNDED,
    "UNSAT_OR_UNBOUNDED": Status.INFEASIBLE,
}


def mzn_messages(problem: str, *, examples: bool = True) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": prompt_text("mzn_system.md").strip()}]
    for ex in worked_examples() if examples else []:
        if "mzn" in ex:
            messages.append({"role": "user", "content": ex["problem"]})
            messages.append({"role": "assistant", "content": ex["mzn"]})
    messages.append({"role": "user", "content": problem})
    return messages


def extract_model(text: str) -> str:
    """The MiniZinc text inside the answer: the first fenced block if there is one, else all of it."""
    found = _FENCE.search(text)
    return (found.group(1) if found else text).strip()


def unsafe_reason(model: str) -> str | None:
    """Why this text must not go to the compiler (None when it may)."""
    if len(model) > MAX_MODEL_CHARS:
        return f"the model has {len(model):,} characters (limit {MAX_MODEL_CHARS:,})"
    for name in _INCLUDE.findall(model):
        if not _STD_INCLUDE.match(name):
            return f'include "{name}" is not a MiniZinc library file'
    return None


def run_minizinc_text(model: str, time_limit: float) -> SolveResult:
    """Compile and solve MiniZinc text: HiGHS (WebAssembly MiniZinc) when present, else Gecode."""
    from solvers import minizinc as mzn

    plan = mzn._Plan("wasm", "highs") if mzn.wasm_available() else mzn._Plan("native", "gecode")
    out = mzn._run(model, plan, time_limit)
    log = "\n".join(out.log[-40:])
    if out.errors:
        first = out.errors[0]
        loc = first.get("location") or {}
        where = f"line {loc.get('firstLine')}, column {loc.get('firstColumn')}: " if loc.get("firstLine") else ""
        message = f"{first.get('what', 'error')}: {where}{str(first.get('message', '')).strip()}"
        return SolveResult(status=Status.ERROR, target="minizinc", seconds=out.seconds, message=message, log_tail=log)
    if out.killed:
        return SolveResult(status=Status.TIMEOUT, target="minizinc", seconds=out.seconds, log_tail=log,
                           message=f"no answer within {time_limit:g} s")
    if out.status == "ERROR" or (out.rc not in (0, None) and out.status in (None, "UNKNOWN") and not out.solution):
        # a failure, not a timeout: Gecode's "Float::linear: Number out of limits" says =====ERROR===== and exits 1
        return SolveResult(status=Status.ERROR, target="minizinc", seconds=out.seconds, log_tail=log,
                           message=mzn.failure_text(out))
    status = _MZN_STATUS.get(out.status or "", Status.FEASIBLE if out.solution else Status.TIMEOUT)
    values: dict[str, Any] = {k: v for k, v in (out.solution or {}).items() if not k.startswith("_")}
    objective = (out.solution or {}).get("_objective")
    return SolveResult(status=status, target="minizinc", seconds=out.seconds, log_tail=log,
                       objective=float(objective) if isinstance(objective, int | float) else None,
                       values=values, solver=mzn._solver_version(plan))


def _feedback(result: SolveResult) -> str:
    if result.status == Status.ERROR:
        return f"MiniZinc rejects it: {result.message[:600]}"
    if result.status == Status.INFEASIBLE:
        return ("The solver says the constraints cannot all hold at the same time. Check each constraint against "
                "its sentence: the direction (<= or >=), the numbers, and whether a limit applies to a total.")
    if result.status == Status.UNBOUNDED:
        return ("The objective can grow without limit: a stated limit is missing or has the wrong direction, or "
                "a variable lacks its `>= 0` constraint.")
    return f"The solver failed: {result.message[:300]}"


class MiniZincLoop:
    """Write MiniZinc, compile and solve it, feed the compiler's or solver's complaint back."""

    def __init__(self, llm: LLM, config: LoopConfig | None = None) -> None:
        self.llm = llm
        self.config = config or LoopConfig()

    def run(self, problem: str, trace: Trace | None = None) -> LoopResult:
        cfg = self.config
        t0 = time.perf_counter()
        problem = check_problem_text(problem)
        trace = trace or Trace(problem=problem)
        self.llm.trace = trace.record_llm
        prompt = mzn_messages(problem, examples=cfg.examples)
        messages = prompt
        attempts: list[Attempt] = []
        result: SolveResult | None = None
        fatal = ""
        for index in range(1, cfg.max_repairs + 2):
            temperature = cfg.temperature if index == 1 else cfg.repair_temperature
            seed = None if cfg.seed is None else cfg.seed + index
            trace.step("formalize", attempt=index, temperature=temperature, language="minizinc")
            try:
                completion = self.llm.complete(messages, temperature=temperature,
                                               max_tokens=cfg.max_tokens or MAX_TOKENS,
                                               timeout=cfg.call_timeout(), seed=seed)
            except LLMError as e:
                fatal = f"language model failed: {e}"
                attempts.append(Attempt(index=index, outcome="FATAL", stage="formalize", feedback=fatal))
                break
            model = extract_model(completion.text)
            # The prompt plus only the latest attempt: older rounds would overflow a small context.
            messages = prompt + [{"role": "assistant", "content": completion.text}]
            reason = unsafe_reason(model)
            if reason:
                result = SolveResult(status=Status.ERROR, target="minizinc", message=reason)
            else:
                result = run_minizinc_text(model, cfg.solve_limit())
            trace.step("solve", target="minizinc", status=result.status.value, objective=result.objective,
                       seconds=round(result.seconds, 4), message=result.message)
            if result.status.has_solution:
                attempts.append(Attempt(index=index, outcome="SUCCESS", stage="done", status=result.status.value,
                                        objective=result.objective))
                break
            feedback = _feedback(result)
            outcome = "RETRY" if index <= cfg.max_repairs else "FATAL"
            attempts.append(Attempt(index=index, outcome=outcome, stage="solve", feedback=feedback,
                                    status=result.status.value))
            trace.step("attempt", index=index, outcome=outcome, stage="solve", feedback=feedback)
            if outcome == "RETRY":
                messages = messages + [{"role": "user",
                                        "content": prompt_text("mzn_repair.md").format(problem=feedback).strip()}]
        success = bool(attempts and attempts[-1].outcome == "SUCCESS")
        seconds = time.perf_counter() - t0
        status = result.status.value if result and (success or result.status in (Status.INFEASIBLE,
                                                                                  Status.UNBOUNDED)) else "error"
        trace.finish(status=status, success=success, seconds=round(seconds, 3))
        return LoopResult(problem=problem, success=success, status=status,
                          objective=result.objective if success and result else None,
                          values=result.values if success and result else {}, ir=None, compiled=None,
                          result=result, check=None, attempts=attempts, repairs=max(0, len(attempts) - 1),
                          seconds=seconds, message=fatal or (attempts[-1].feedback if attempts and not success
                                                              else ""), trace=trace)
