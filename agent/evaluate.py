"""The benchmark harness: run a strategy over a benchmark, score each answer, and never lose a result.

A run lives in one folder ``OUT``:

* ``config.json``  -- what was run (benchmark + sha256, subset, LLM spec + model sha, strategy, samples,
  seed, tolerance, answer version, selection) and the environment (package versions, git commit).
  A rerun into the same folder resumes it, and refuses when the configuration differs, so one folder
  never mixes two experiments.
* ``results.jsonl`` -- one JSON object per finished problem, appended, flushed and fsynced as soon as
  the problem ends, so a killed run loses at most the problems that were still running. On resume a
  partial last line (a kill during the write) is dropped and that problem is run again.
* ``traces/<id>.json`` -- every prompt, response and step of that problem.
* ``metrics.json`` -- :func:`agent.metrics.aggregate` over the results, rewritten at the end.

Why threads: one LLM object (one loaded model) is shared by every worker; a per-problem proxy gives
each problem its own trace sink. llama.cpp serialises calls behind a lock, so with the embedded
model ``jobs > 1`` only overlaps solver time with model time; remote backends gain more.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from agent.benchdata import (
    BenchmarkDataError,
    BenchmarkInfo,
    GridAnswer,
    Problem,
    examples_dir,
    file_sha256,
    folder_sha256,
    list_benchmarks,
    load_benchmark,
)
from agent.llm.base import DEFAULT_LLM_TIMEOUT, LLM, Completion, Message, timeout_before
from agent.llm.errors import LLMTimeout
from agent.metrics import (
    DEFAULT_TOL,
    LOOSE_PROTOCOL,
    LOOSE_REL_TOL,
    Outcome,
    aggregate,
    score_grid,
    score_numeric,
)
from agent.strategies import DEFAULT_PROBLEM_TIMEOUT
from agent.trace import Trace

RESULTS_FILE = "results.jsonl"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
TRACES_DIR = "traces"
LOCK_FILE = ".lock"
CONFIG_SCHEMA = 1
MAX_MESSAGE = 2000
# Keys of config.json["config"] that define the experiment: a resume must match all of them.
IDENTITY_KEYS = (
    "benchmark", "bench_sha256", "subset", "answer_version", "answer_field", "llm", "llm_model_sha256",
    "strategy", "samples", "seed", "tolerance", "loose_rel_tol", "time_limit", "llm_timeout", "target",
    "problem_timeout", "limit", "ids", "layout",
)
# What a config.json written before a key existed meant by it. Runs before the layout option always
# wrote the flat lean layout, which is what "auto" still picks for a problem stating fewer than 18
# numbers (every NL4Opt problem); an older run over longer problems resumed now mixes the two.
IDENTITY_DEFAULTS = {"layout": "auto"}
_PACKAGES = (
    "modelwright", "pydantic", "ortools", "highspy", "pyomo", "z3-solver", "minizinc", "langgraph",
    "llama_cpp_python", "openai", "typer", "rich",
)
_NO_OPTIMUM = ("infeasible", "unbounded", "infeasible_or_unbounded")


class EvalError(ValueError):
    """A user-caused problem with a run (bad options, a folder holding another run); the message says what."""


class ProblemTimeout(Exception):
    """The wall-clock limit of one problem passed; its worker thread is abandoned."""


# ----------------------------------------------------------------------------- the shared LLM


class ProblemLLM(LLM):
    """One problem's view of the shared backend: its own ``trace`` sink, so parallel problems never mix
    their records, and its wall-clock limit (`deadline`, a `time.monotonic()` value) on every call: a call
    may run only until the problem's limit, and none starts after it. Why: a problem past its limit is
    abandoned, not killed, and its thread went on drawing samples beside the next problems, on the same
    two cores (examples run of 2026-12-07: help_desk_shifts' repairs slowed the next four problems).
    Anything else (``count_tokens``, ``load``...) is forwarded to the real backend."""

    def __init__(self, inner: LLM, deadline: float | None = None) -> None:
        super().__init__(str(getattr(inner, "model", type(inner).__name__)))
        self.inner = inner
        self.deadline = deadline
        self.backend = getattr(inner, "backend", "unknown")  # type: ignore[misc]  # shadows the ClassVar

    def _complete(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None,
        temperature: float,
        max_tokens: int,
        timeout: float,
        seed: int | None,
    ) -> Completion:
        timeout = timeout_before(self.deadline, timeout, "the problem's wall-clock limit")
        return self.inner.complete(messages, json_schema=json_schema, temperature=temperature,
                                   max_tokens=max_tokens, timeout=timeout, seed=seed)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not yet set (during copy/pickle): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def default_jobs(llm_spec: str) -> int:
    """1 for local models (llama.cpp and transformers run one call at a time); 4 for remote APIs."""
    from agent.llm.base import parse_spec

    kind, _ = parse_spec(llm_spec)
    return 4 if kind == "openai" else 1


# ----------------------------------------------------------------------------- selection and config


@dataclass
class BenchSelection:
    """The resolved benchmark: where it comes from, which subset, and the problems to run, in order."""

    name: str | None  # registry name, None for a user file
    path: Path
    sha256: str
    subset: str | None
    answer_version: str
    kind: str
    problems: list[Problem]
    info: BenchmarkInfo | None = None


def resolve_bench(bench: str | Path, subset: str | None) -> tuple[str, str | None, BenchmarkInfo | None]:
    """Split ``name:subset``, and find the registry entry (None for a file path)."""
    text = str(bench)
    registered = {b.name: b for b in list_benchmarks()}
    if text in registered:
        return text, subset, registered[text]
    if ":" in text and not Path(text).exists():
        name, _, sub = text.rpartition(":")
        if name in registered:
            if subset is not None and subset != sub:
                raise EvalError(f"benchmark {text!r} names subset {sub!r} but --subset is {subset!r}")
            return name, sub or None, registered[name]
    return text, subset, None


def select_problems(
    bench: str | Path,
    *,
    subset: str | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
    seed: int = 0,
) -> BenchSelection:
    """Load the benchmark and pick problems: subset, ``ids``, seeded shuffle, then ``limit``.

    The shuffle happens even without ``limit`` so that the running accuracy shown while a run
    progresses is an unbiased estimate, not the score of the file's first section.
    """
    name, sub, info = resolve_bench(bench, subset)
    problems = load_benchmark(name, subset=sub, limit=limit, ids=ids, seed=seed)
    if info is not None:
        effective = sub if sub is not None else info.default_subset
        return BenchSelection(info.name, info.path.resolve(), info.sha256, effective or "all",
                              info.answer_version or f"file-sha256:{info.sha256[:12]}", info.kind, problems, info)
    if name == "examples" or Path(name).expanduser().is_dir():
        path = (examples_dir() if name == "examples" else Path(name).expanduser()).resolve()
        sha = folder_sha256(path)
        return BenchSelection("examples" if name == "examples" else None, path, sha, sub or "all",
                              f"folder-sha256:{sha[:12]}", "examples", problems)
    path = Path(name).expanduser().resolve()
    sha = file_sha256(path)
    return BenchSelection(None, path, sha, sub or "all", f"file-sha256:{sha[:12]}", "user", problems)


def llm_model_sha256(llm_spec: str) -> str | None:
    """The weights' identity: the pinned sha for ``embedded``, the file hash for gguf and replay files."""
    from agent.llm.base import parse_spec

    kind, arg = parse_spec(llm_spec)
    if kind == "embedded":
        from agent.llm.model_store import MODEL_SHA256

        return MODEL_SHA256
    if kind in ("gguf", "replay"):
        path = Path(arg).expanduser()
        if not path.is_file():
            raise EvalError(f"--llm {llm_spec}: no such file {path}")
        return file_sha256(path)
    return None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the source tree that ran, so a number can be traced to code."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=False).stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(dirty) if commit else None}


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "packages": package_versions(), **git_state()}


def config_diff(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two run identities (empty: same experiment)."""
    diffs = []
    for key in IDENTITY_KEYS:
        before = recorded.get(key, IDENTITY_DEFAULTS.get(key))
        if before != current.get(key):
            diffs.append(f"{key}: recorded {before!r}, now {current.get(key)!r}")
    return diffs


# ----------------------------------------------------------------------------- results file


def read_results(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The records of a results.jsonl. A partial last line (a kill during the write) is ignored, and
    with ``repair`` cut from the file so that the next append starts on a clean line. A bad line
    elsewhere means the file was edited or damaged: :class:`EvalError`."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records: list[dict[str, Any]] = []
    good_end = 0
    offset = 0
    for i, raw in enumerate(lines):
        end = offset + len(raw) + (1 if i < len(lines) - 1 else 0)
        last = all(not x.strip() for x in lines[i + 1:])
        if raw.strip():
            try:
                rec = json.loads(raw.decode("utf-8"))
                if not isinstance(rec, dict) or "id" not in rec:
                    raise ValueError("not a result record")
            except (ValueError, UnicodeDecodeError) as exc:
                if last:  # a write cut short by a kill: redo that problem
                    break
                raise EvalError(f"{path}: line {i + 1} is not a result record ({exc}); the file was edited "
                                "or damaged. Remove that line to resume, or use a new --out.") from None
            if i == len(lines) - 1:  # valid JSON but no newline: written whole, finish the line
                if repair:
                    with path.open("ab") as fh:
                        fh.write(b"\n")
                        fh.flush()
                        os.fsync(fh.fileno())
                end += 1
            records.append(rec)
        good_end = end
        offset = end
    if repair and good_end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return records


def _append_line(path: Path, record: Mapping[str, Any]) -> None:
    """One whole line per write, then fsync: a finished problem survives a kill or a power cut."""
    data = (json.dumps(record, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file then rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return str(obj)


def trace_name(problem_id: str) -> str:
    """A file name for an id: unsafe characters replaced, plus a hash when anything was replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", problem_id)[:100]
    if safe != problem_id or safe.startswith("."):
        safe = f"{safe}-{hashlib.sha256(problem_id.encode()).hexdigest()[:10]}"
    return f"{safe}.json"


# ----------------------------------------------------------------------------- scoring one result


_STAGE_ALIASES = {
    "parse": Outcome.NO_PARSE,
    "validate": Outcome.INVALID_IR,
    "render": Outcome.RENDER_ERROR,
    "llm": Outcome.LLM_ERROR,
    "timeout": Outcome.TIMEOUT,
}


def _norm(status: Any) -> str:
    return "_".join(str(status or "").strip().lower().replace("-", " ").split())


def _llm_timed_out(trace: Trace | None) -> bool:
    if trace is None:
        return False
    calls = [e for e in trace.events if e.get("kind") == "llm_call" and e.get("error")]
    return bool(calls) and str(calls[-1]["error"]).startswith("LLMTimeout")


def numeric_verdict(res: Any) -> tuple[Any, str | None, Outcome | None, str | None]:
    """(prediction, prediction status, failure, stage) of a LoopResult-like answer.

    The system's answer is its objective when it reports success, or a no-optimum status when its
    solver proved one. Anything else is a failure at the stage where the last attempt stopped:
    formalize (model error or timeout), validate (unparsable or invalid IR), solve (render errors,
    solver errors, timeouts), check (the independent checker rejected the solution: solver_error;
    the all-zero sanity check: wrong_answer).
    """
    status = _norm(getattr(res, "status", None))
    stage = getattr(res, "failure_stage", None)
    if getattr(res, "success", False):
        return getattr(res, "objective", None), status or "optimal", None, None
    if status in _NO_OPTIMUM:
        return None, status, None, None
    if status in ("timeout", "time_limit"):
        return None, status, Outcome.TIMEOUT, stage
    message = str(getattr(res, "message", "") or "")
    solved = getattr(res, "result", None)
    solved_status = _norm(getattr(getattr(solved, "status", None), "value", getattr(solved, "status", None)))
    direct_text = getattr(res, "ir", None) is None and getattr(res, "compiled", None) is None
    if stage == "formalize":
        if _llm_timed_out(getattr(res, "trace", None)) or "LLMTimeout" in message:
            return None, status, Outcome.TIMEOUT, stage
        if "language model" in message or "ReplayMiss" in message:
            return None, status, Outcome.LLM_ERROR, stage
        return None, status, Outcome.NO_PARSE, stage
    if stage == "validate":
        failure = Outcome.NO_PARSE if "not valid JSON" in message else Outcome.INVALID_IR
        return None, status, failure, stage
    if stage == "solve":
        if solved_status in ("timeout", "time_limit"):
            return None, status, Outcome.TIMEOUT, stage
        if solved is None:
            return None, status, Outcome.RENDER_ERROR, stage
        if direct_text and getattr(solved, "target", None) == "minizinc" and solved_status == "error":
            # the model wrote MiniZinc itself: a compile error is its output failing to parse / check
            text = str(getattr(solved, "message", "") or "")
            return None, status, Outcome.NO_PARSE if text.startswith("syntax error") else Outcome.INVALID_IR, stage
        return None, status, Outcome.SOLVER_ERROR, stage
    if stage == "check":
        check = getattr(res, "check", None)
        failure = Outcome.SOLVER_ERROR if check is not None and not getattr(check, "ok", True) else Outcome.WRONG_ANSWER
        return None, status, failure, stage
    if stage in _STAGE_ALIASES:
        return None, status, _STAGE_ALIASES[stage], stage
    with contextlib.suppress(ValueError):
        return None, status, Outcome(stage), stage
    return None, status, Outcome.SOLVER_ERROR, stage


def first_attempt_verdict(res: Any) -> tuple[Any, str | None, Outcome | None] | None:
    """What the first attempt alone would have answered (no repair), or None when unknown."""
    attempts = getattr(res, "attempts", None) or []
    if not attempts:
        return None
    a = attempts[0]
    status = _norm(getattr(a, "status", None))
    if getattr(a, "outcome", None) == "SUCCESS":
        return getattr(a, "objective", None), status or "optimal", None
    if status in _NO_OPTIMUM:
        return None, status, None
    return None, status or None, Outcome.SOLVER_ERROR  # no answer; the kind of failure does not matter here


def first_attempt_from_events(events: list[dict[str, Any]]) -> tuple[Any, str | None, Outcome | None] | None:
    """The first attempt's answer read from a trace: with voting, the greedy first sample's first try.

    The attempt ends at its ``attempt`` event (the IR loop writes one for every attempt, the MiniZinc
    loop only for failed ones) or where the next attempt or sample starts; its answer is the last
    ``solve`` event before that point. None when the trace holds no attempt at all.
    """
    solve: dict[str, Any] | None = None
    started = False
    for ev in events:
        kind = ev.get("kind")
        if kind == "formalize":
            if started and int(ev.get("attempt") or 1) > 1:
                break
            started = True
        elif kind == "sample" and int(ev.get("index") or 1) > 1:
            break
        elif kind == "solve":
            solve = ev
        elif kind == "attempt":
            status = _norm((solve or {}).get("status"))
            if ev.get("outcome") == "SUCCESS":
                return (solve or {}).get("objective"), status or "optimal", None
            if status in _NO_OPTIMUM:
                return None, status, None
            return None, status or None, Outcome.SOLVER_ERROR
    if not started:
        return None
    status = _norm((solve or {}).get("status"))
    if status in ("optimal", "feasible"):
        return (solve or {}).get("objective"), status, None
    if status in _NO_OPTIMUM:
        return None, status, None
    return None, status or None, Outcome.SOLVER_ERROR


def exception_outcome(exc: BaseException) -> Outcome:
    """Where an exception escaping the solver most likely belongs in the taxonomy."""
    from agent.llm.errors import LLMError

    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, ProblemTimeout | LLMTimeout | TimeoutError):
        return Outcome.TIMEOUT
    if isinstance(exc, LLMError):
        return Outcome.LLM_ERROR
    if "ProblemTextError" in names or "JSONDecodeError" in names:
        return Outcome.NO_PARSE
    if "IRError" in names:
        return Outcome.INVALID_IR
    if "GroundError" in names or "TargetUnsupported" in names:
        return Outcome.RENDER_ERROR
    return Outcome.SOLVER_ERROR


# ----------------------------------------------------------------------------- running one problem


@dataclass
class RunContext:
    """What every worker needs; built once per run."""

    llm: LLM
    config: dict[str, Any]
    out: Path
    strategy: Any
    numeric_solver: Callable[..., Any] | None = None
    grid_solver: Callable[..., Any] | None = None
    abandoned: list[str] = field(default_factory=list)


def _call_with_deadline(fn: Callable[[], Any], seconds: float, name: str) -> Any:
    """Run ``fn`` in a daemon thread and give up after ``seconds``: Python cannot kill a thread, so a
    problem past its limit is recorded as a timeout and its thread left to end on its own limits."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name=f"eval-{name}", daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise ProblemTimeout(f"no result within the problem's wall-clock limit of {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


# Seconds of a problem's wall-clock limit kept back from its model calls and the strategy's own budget (at
# most a tenth of the limit): a sample whose call the limit cuts still ends, and is voted on, in time.
BUDGET_MARGIN = 5.0


def usable_seconds(problem_timeout: float) -> float:
    """The part of a problem's limit its model calls and samples may use."""
    return problem_timeout - min(BUDGET_MARGIN, problem_timeout / 10)


def _answer_so_far(finished: list[Any], strategy: Any, trace: Trace) -> Any:
    """The vote over the samples that ended before a problem's limit, when one of them has an answer.

    Why: the limit is the user's time budget, not a verdict; a confirmed infeasibility or a checked solution
    found by the first sample is the answer the strategy would have given had it stopped there."""
    from agent.strategies import answer_key, conclude

    done = list(finished)  # the abandoned thread may still append
    if not any(answer_key(r) is not None for r in done):
        return None
    return conclude(done, strategy, trace)


def _base_record(problem: Problem, cfg: Mapping[str, Any], grid: bool) -> dict[str, Any]:
    gt: Any = problem.answer.rows if isinstance(problem.answer, GridAnswer) else problem.answer
    return {
        "id": problem.id,
        "benchmark": problem.benchmark or cfg.get("benchmark") or Path(cfg["bench_path"]).stem,
        "strategy": "puzzle" if grid else cfg["strategy"],
        "kind": "grid" if grid else "numeric",
        "gt": gt,
        "gt_status": problem.answer_status,
        "answer_version": cfg["answer_version"],
        "sample_count": None if grid else cfg["samples"],
    }


def _snapshot(trace: Trace) -> dict[str, Any]:
    """A copy of a trace that a still-running (abandoned) thread may be appending to."""
    for _ in range(5):
        try:
            return json.loads(json.dumps(trace.to_dict(), default=_json_default, ensure_ascii=False))
        except RuntimeError:  # changed size during iteration
            time.sleep(0.01)
    return {"problem": trace.data.get("problem"), "events": [], "note": "trace changed while being saved"}


def run_problem(problem: Problem, ctx: RunContext) -> dict[str, Any]:
    """Solve and score one problem; never raises (an exception is recorded as that problem's outcome)."""
    try:
        return _run_problem(problem, ctx)
    except Exception as exc:  # noqa: BLE001 - a bug in scoring or saving must not end the run either
        return last_resort_record(problem.id, problem.benchmark, exc)


def last_resort_record(problem_id: str, benchmark: str | None, exc: BaseException) -> dict[str, Any]:
    """The record of a problem whose evaluation itself failed: counted wrong, with the error kept."""
    return {"id": problem_id, "benchmark": benchmark, "status": "error", "outcome": Outcome.SOLVER_ERROR.value,
            "strict": False, "loose": None, "executed": False, "stage": "harness", "exception": type(exc).__name__,
            "error": f"evaluation failed: {type(exc).__name__}: {exc}"[:MAX_MESSAGE], "trace": None,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _run_problem(problem: Problem, ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config
    grid = isinstance(problem.answer, GridAnswer)
    rec = _base_record(problem, cfg, grid)
    trace = Trace(problem=problem.problem, id=problem.id, benchmark=rec["benchmark"])
    t0 = time.monotonic()
    res: Any = None
    try:
        proxy = ProblemLLM(ctx.llm, deadline=t0 + usable_seconds(cfg["problem_timeout"]))
        proxy.trace = trace.record_llm  # a strategy may rewire it; either way the calls land in this trace
        if grid:
            solver = ctx.grid_solver or _default_grid_solver()
            extra = {"llm_timeout": cfg["llm_timeout"]} if _accepts(solver, "llm_timeout") else {}
            res = _call_with_deadline(
                lambda: solver(problem, proxy, time_limit=cfg["time_limit"], trace=trace, seed=cfg["seed"], **extra),
                cfg["problem_timeout"], problem.id)
        else:
            solver = ctx.numeric_solver or _default_numeric_solver()
            extra = {"llm_timeout": cfg["llm_timeout"]} if _accepts(solver, "llm_timeout") else {}
            finished: list[Any] = []  # the samples that ended, for an answer when the limit cuts the vote
            if _accepts(solver, "time_budget"):
                extra.update(time_budget=usable_seconds(cfg["problem_timeout"]), finished=finished)
            try:
                res = _call_with_deadline(
                    lambda: solver(problem.problem, proxy, ctx.strategy, samples=cfg["samples"], seed=cfg["seed"],
                                   time_limit=cfg["time_limit"], target=cfg["target"], trace=trace, **extra),
                    cfg["problem_timeout"], problem.id)
            except ProblemTimeout:
                res = _answer_so_far(finished, ctx.strategy, trace)
                if res is None:
                    raise
                ctx.abandoned.append(problem.id)
                rec["cut_off"] = True  # the limit passed during a later sample: scored on the vote so far
        rec.update(_score(problem, res, cfg, grid))
    except Exception as exc:  # noqa: BLE001 - one bad problem never ends the run
        if isinstance(exc, ProblemTimeout):
            ctx.abandoned.append(problem.id)
        rec.update(_score_exception(problem, exc, cfg, grid))
    rec["seconds"] = round(time.monotonic() - t0, 3)
    used = getattr(res, "trace", None) if isinstance(getattr(res, "trace", None), Trace) else trace
    totals = used.llm_totals()
    rec.update(llm_calls=totals["llm_calls"], prompt_tokens=int(totals["prompt_tokens"]),
               completion_tokens=int(totals["completion_tokens"]),
               tokens=int(totals["prompt_tokens"] + totals["completion_tokens"]), llm_seconds=totals["llm_seconds"])
    rec["trace"] = f"{TRACES_DIR}/{trace_name(problem.id)}"
    rec["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        data = _snapshot(used)
        data["eval"] = rec
        write_json_atomic(ctx.out / rec["trace"], data)
    except OSError as exc:
        rec["trace"] = None
        rec["error"] = (rec.get("error") or "") + f" [trace not saved: {exc}]"
    return rec


def _score(problem: Problem, res: Any, cfg: Mapping[str, Any], grid: bool) -> dict[str, Any]:
    repairs = int(getattr(res, "repairs", 0) or 0)
    status = getattr(res, "status", None)
    message = str(getattr(res, "message", "") or "")[:MAX_MESSAGE] or None
    common = {"status": None if status is None else str(getattr(status, "value", status)), "repairs": repairs,
              "solve_seconds": _round(getattr(res, "seconds", None)), "confidence": getattr(res, "confidence", 1.0)}
    if grid:
        rows = getattr(res, "rows", None)
        if rows is None and getattr(res, "kind", None) == "grid":
            rows = getattr(res, "grid", None)
        # The grid is the answer whenever there is one: out of repairs, the puzzle solver still answers
        # with its best grid (status multiple / infeasible-with-dropped-clues), and cells earn credit.
        failure = None if rows is not None else _grid_failure(common["status"], message)
        fields = score_grid(pred=rows, gt=problem.answer, failure=failure)
        first = fields["strict"] if repairs == 0 else None
        return {**common, "pred_rows": rows, "objective": None, "stage": None, "success": bool(getattr(
                res, "success", rows is not None)), "error": message, **fields, "first_attempt_strict": first}
    pred, pred_status, failure, stage = numeric_verdict(res)
    fields = score_numeric(pred=pred, gt=problem.answer, gt_status=problem.answer_status, pred_status=pred_status,
                           failure=failure, tol=cfg["tolerance"], loose_rel_tol=cfg["loose_rel_tol"])
    if fields["strict"] is None and failure is None:
        fields["outcome"] = None  # an answer with nothing to judge it against (unscored ground truth)
    voted = len(getattr(res, "samples", None) or []) > 1
    trace = getattr(res, "trace", None)
    if voted and isinstance(trace, Trace):
        first = first_attempt_from_events(trace.events)  # the greedy sample's first try, not the winner's
    else:
        first = first_attempt_verdict(res)
    first_strict = first_loose = None
    if fields["strict"] is not None:
        if repairs == 0 and not voted:
            first_strict, first_loose = fields["strict"], fields["loose"]
        elif first is not None:
            f = score_numeric(pred=first[0], gt=problem.answer, gt_status=problem.answer_status,
                              pred_status=first[1], failure=first[2], tol=cfg["tolerance"],
                              loose_rel_tol=cfg["loose_rel_tol"])
            first_strict, first_loose = f["strict"], f["loose"]
    # A voting strategy that stopped after a clean greedy sample ran one sample: that one is the greedy one.
    greedy = getattr(res, "first_sample", None) if getattr(res, "samples", None) else None
    greedy_strict = None
    if greedy is not None and fields["strict"] is not None:
        # The ablation's "+ repair" step measured inside a voting run: the greedy sample, repaired, alone.
        g_pred, g_status, g_failure, _ = numeric_verdict(greedy)
        greedy_strict = score_numeric(pred=g_pred, gt=problem.answer, gt_status=problem.answer_status,
                                      pred_status=g_status, failure=g_failure, tol=cfg["tolerance"],
                                      loose_rel_tol=cfg["loose_rel_tol"])["strict"]
    objective = getattr(res, "objective", None)
    return {**common, "objective": objective if _finite(objective) else None, "pred_status": pred_status,
            "stage": stage, "error": message if failure is not None else None, **fields,
            "first_attempt_strict": first_strict, "first_attempt_loose": first_loose,
            **({"greedy_sample_strict": greedy_strict} if greedy is not None else {})}


def _grid_failure(status: str | None, message: str | None) -> Outcome | None:
    """Why a puzzle produced no grid at all."""
    s = _norm(status)
    text = message or ""
    if s in ("timeout", "time_limit") or "LLMTimeout" in text:
        return Outcome.TIMEOUT
    if "language model failed" in text:
        return Outcome.LLM_ERROR
    if "cannot read puzzle" in text:
        return Outcome.NO_PARSE
    if s in ("infeasible", "unbounded", "infeasible_or_unbounded"):
        return Outcome.INFEASIBLE
    with contextlib.suppress(ValueError):
        o = Outcome(s)
        return None if o is Outcome.CORRECT else o
    return None  # score_grid: no rows -> solver_error


def _score_exception(problem: Problem, exc: BaseException, cfg: Mapping[str, Any], grid: bool) -> dict[str, Any]:
    failure = exception_outcome(exc)
    if grid:
        fields = score_grid(pred=None, gt=problem.answer, failure=failure)
    else:
        fields = score_numeric(pred=None, gt=problem.answer, gt_status=problem.answer_status, failure=failure,
                               tol=cfg["tolerance"], loose_rel_tol=cfg["loose_rel_tol"])
    return {"status": "error", "objective": None, "repairs": 0, "confidence": None, "stage": "exception",
            "error": f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE], "exception": type(exc).__name__, **fields,
            "first_attempt_strict": fields["strict"], "first_attempt_loose": fields.get("loose")}


def _default_numeric_solver() -> Callable[..., Any]:
    from agent.strategies import solve_problem

    return solve_problem


def _default_grid_solver() -> Callable[..., Any]:
    """`agent.puzzles.solve_puzzle` adapted to (problem, llm, *, time_limit, trace, seed).

    It takes the puzzle text, and optionally the benchmark's label spelling per category
    (``GridAnswer.items``: the vocabulary, not the assignment), which the grid scorer compares against.
    """
    import inspect

    from agent.puzzles import solve_puzzle

    params = inspect.signature(solve_puzzle).parameters
    takes_problem = next(iter(params)) == "problem"

    def solve(problem: Problem, llm: LLM, *, time_limit: float, trace: Trace, seed: int = 0,
              llm_timeout: float = DEFAULT_LLM_TIMEOUT) -> Any:
        kwargs: dict[str, Any] = {"time_limit": time_limit, "trace": trace}
        if "llm_timeout" in params:
            kwargs["llm_timeout"] = llm_timeout
        if "answer_labels" in params and isinstance(problem.answer, GridAnswer):
            kwargs["answer_labels"] = problem.answer.items
        if "seed" in params:
            kwargs["seed"] = seed
        return solve_puzzle(problem if takes_problem else problem.problem, llm, **kwargs)

    return solve


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _round(x: Any) -> float | None:
    return round(float(x), 3) if _finite(x) else None


# ----------------------------------------------------------------------------- the run


def summarize(records: list[dict[str, Any]], config: Mapping[str, Any]) -> dict[str, Any]:
    """metrics.json: :func:`aggregate` plus first-attempt accuracy (repair effect) and the run config."""
    m = aggregate(records, config={"tolerance": config.get("tolerance"),
                                   "loose_rel_tol": config.get("loose_rel_tol"),
                                   "answer_version": config.get("answer_version")})
    firsts = [bool(r["first_attempt_strict"]) for r in records if r.get("first_attempt_strict") is not None]
    m["first_attempt_correct"] = sum(firsts)
    m["first_attempt_n"] = len(firsts)
    m["first_attempt_accuracy"] = sum(firsts) / len(firsts) if firsts else None
    greedy = [bool(r["greedy_sample_strict"]) for r in records if r.get("greedy_sample_strict") is not None]
    m["greedy_sample_correct"] = sum(greedy)
    m["greedy_sample_n"] = len(greedy)
    grids = [r for r in records if r.get("kind") == "grid" and r.get("strict") is not None]
    m["grid_puzzles"] = len(grids)
    m["grid_puzzle_correct"] = sum(bool(r["strict"]) for r in grids)
    m["grid_puzzle_accuracy"] = sum(bool(r["strict"]) for r in grids) / len(grids) if grids else None
    m["exceptions"] = sum(1 for r in records if r.get("exception"))
    m["run"] = {k: config.get(k) for k in ("benchmark", "bench_path", "subset", "llm", "strategy", "samples",
                                           "seed", "tolerance", "answer_version", "limit")}
    return m


def run_eval(
    bench: str | Path,
    *,
    llm_spec: str = "embedded",
    strategy: str = "pipeline",
    layout: str | None = None,
    samples: int | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
    seed: int = 0,
    jobs: int | None = None,
    out_dir: str | Path | None = None,
    tolerance: float = DEFAULT_TOL,
    subset: str | None = None,
    time_limit: float = 20.0,
    llm_timeout: float = DEFAULT_LLM_TIMEOUT,
    target: str = "auto",
    problem_timeout: float = DEFAULT_PROBLEM_TIMEOUT,
    progress: bool = True,
    console: Any = None,
    llm: LLM | None = None,
    record: str | Path | None = None,
    numeric_solver: Callable[..., Any] | None = None,
    grid_solver: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Run ``strategy`` over a benchmark into ``out_dir`` (resuming it) and return metrics.json's content.

    ``record=FILE`` appends every model call to a JSONL that ``--llm replay:FILE`` answers from later.
    ``llm`` (an already built backend) and the two solver hooks exist for tests and notebooks; the
    recorded ``llm`` spec is then still ``llm_spec``. Raises :class:`EvalError` or
    ``BenchmarkDataError`` for bad input, before any problem runs.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise EvalError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    if samples is not None and samples < 1:
        raise EvalError(f"samples must be >= 1, got {samples}")
    if jobs is not None and jobs < 1:
        raise EvalError(f"jobs must be >= 1, got {jobs}")
    if problem_timeout <= 0 or time_limit <= 0 or llm_timeout <= 0:
        raise EvalError("time limits must be > 0")
    sel = select_problems(bench, subset=subset, limit=limit, ids=ids, seed=seed)
    has_numeric = any(not isinstance(p.answer, GridAnswer) for p in sel.problems)
    strat, strategy_name, k = _resolve_strategy(strategy, samples, needed=has_numeric and numeric_solver is None)
    if layout is not None and not isinstance(strat, str):
        from agent.strategies import with_layout

        try:
            strat = with_layout(strat, layout)
        except ValueError as exc:
            raise EvalError(str(exc)) from None
    if not has_numeric:  # logic grids only: the puzzle solver runs, whatever --strategy says, with one sample
        strategy_name, k = "puzzle", 1
    try:
        model_sha = llm_model_sha256(llm_spec)
    except ValueError as exc:
        raise EvalError(str(exc)) from None
    jobs = jobs or default_jobs(llm_spec)
    config = {
        "benchmark": sel.name, "bench_path": str(sel.path), "bench_sha256": sel.sha256, "bench_kind": sel.kind,
        "subset": sel.subset, "answer_version": sel.answer_version, "answer_field": "answer",
        "llm": llm_spec, "llm_model_sha256": model_sha, "strategy": strategy_name, "samples": k, "seed": seed,
        "tolerance": float(tolerance), "loose_rel_tol": LOOSE_REL_TOL, "loose_protocol": LOOSE_PROTOCOL,
        "time_limit": float(time_limit), "llm_timeout": float(llm_timeout), "target": target,
        "problem_timeout": float(problem_timeout), "layout": getattr(strat, "layout", None),
        "limit": limit, "ids": list(ids) if ids is not None else None, "n_selected": len(sel.problems),
    }
    out = Path(out_dir) if out_dir is not None else _default_out(sel, strategy_name)
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(out):
        done = _prepare_out(out, config, jobs)
        selected = {p.id for p in sel.problems}
        records: list[dict[str, Any]] = []
        seen: set[str] = set()
        for r in done:  # a record per selected id, the first one if a file was ever appended twice
            if r["id"] in selected and r["id"] not in seen:
                seen.add(r["id"])
                records.append(r)
        todo = [p for p in sel.problems if p.id not in seen]
        if done:
            console.print(f"resuming {out}: {len(records)} done, {len(todo)} to run", highlight=False)
        if jobs > 1 and _is_local(llm_spec):
            console.print(f"[yellow]note:[/] --jobs {jobs} with a local model: model calls run one at a time "
                          "(llama.cpp lock); extra jobs only overlap solver time", highlight=False)
        (out / TRACES_DIR).mkdir(exist_ok=True)
        backend = llm
        if backend is None and todo:
            from agent.llm import make_llm
            from agent.llm.errors import LLMError

            try:
                backend = make_llm(llm_spec, record=record)
                loader = getattr(getattr(backend, "inner", backend), "load", None)
                if callable(loader):  # a local model: fail here, once, rather than in every problem
                    loader()
            except (ValueError, OSError, LLMError) as exc:
                raise EvalError(f"--llm {llm_spec}: {exc}") from None
        ctx = RunContext(llm=backend, config=config, out=out, strategy=strat,  # type: ignore[arg-type]
                         numeric_solver=numeric_solver, grid_solver=grid_solver)
        try:
            _run_all(todo, ctx, records, len(sel.problems), jobs, progress, console)
        finally:
            metrics = summarize(records, config)
            metrics["complete"] = len(records) == len(sel.problems)
            write_json_atomic(out / METRICS_FILE, metrics)
            if backend is not None and llm is None:
                with contextlib.suppress(Exception):
                    backend.close()
    print_summary(metrics, config, out, console=None)
    return metrics


def _resolve_strategy(strategy: str, samples: int | None, *, needed: bool) -> tuple[Any, str, int]:
    try:
        from agent.strategies import STRATEGIES
    except ImportError as exc:
        if needed:
            raise EvalError(f"agent.strategies is not available: {exc}") from None
        return strategy, strategy, samples or 1
    if strategy not in STRATEGIES:
        raise EvalError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    strat = STRATEGIES[strategy]
    return strat, strategy, int(samples if samples is not None else getattr(strat, "samples", 1) or 1)


def _is_local(llm_spec: str) -> bool:
    from agent.llm.base import parse_spec

    return parse_spec(llm_spec)[0] in ("embedded", "gguf", "hf")


def _default_out(sel: BenchSelection, strategy: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = sel.name or sel.path.stem
    return Path("runs") / f"{name}-{strategy}-{stamp}"


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[None]:
    """One eval per folder at a time; the OS drops the lock when the process dies, even by SIGKILL."""
    fh = (out / LOCK_FILE).open("a")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EvalError(f"{out}: another eval is running in this folder") from None
        yield
    finally:
        fh.close()


def _prepare_out(out: Path, config: dict[str, Any], jobs: int) -> list[dict[str, Any]]:
    """Write config.json for a new run, or check it for a resume; return the records already there."""
    cfg_path, res_path = out / CONFIG_FILE, out / RESULTS_FILE
    now = datetime.now(UTC).isoformat(timespec="seconds")
    env = environment()
    session = {"started_at": now, "jobs": jobs, "pid": os.getpid(), "argv": sys.argv, **env}
    if cfg_path.is_file():
        try:
            recorded = json.loads(cfg_path.read_text(encoding="utf-8"))
            old = recorded["config"]
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{cfg_path}: not a run configuration ({exc}); use a new --out") from None
        diffs = config_diff(old, config)
        if diffs:
            raise EvalError(f"{out} holds a run with a different configuration; resume it with the same options "
                            "or choose another --out. Differences:\n  " + "\n  ".join(diffs))
        records = read_results(res_path, repair=True)
        recorded["sessions"] = [*recorded.get("sessions", []), session]
        write_json_atomic(cfg_path, recorded)
        return records
    leftovers = [p.name for p in out.iterdir() if not p.name.startswith(".")]  # our lock and temporary files
    if leftovers:
        raise EvalError(f"{out} is not empty and has no {CONFIG_FILE} (found {', '.join(sorted(leftovers)[:5])}); "
                        "choose an empty or new --out")
    write_json_atomic(cfg_path, {"schema": CONFIG_SCHEMA, "created_at": now, "config": config,
                                 "environment": env, "sessions": [session]})
    return []


def _run_all(todo: list[Problem], ctx: RunContext, records: list[dict[str, Any]], total: int, jobs: int,
             progress: bool, console: Any) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def acc_text() -> str:
        scored = [r["strict"] for r in records if r.get("strict") is not None]
        if not scored:
            return "strict —"
        return f"strict {sum(scored)}/{len(scored)} = {100 * sum(scored) / len(scored):.1f}%"

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[acc]}"), TimeElapsedColumn())
    res_path = ctx.out / RESULTS_FILE
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task(ctx.config.get("benchmark") or Path(ctx.config["bench_path"]).name,
                            total=total, completed=len(records), acc=acc_text())
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="eval")
        pending: set[Future[dict[str, Any]]] = set()
        futures: dict[Future[dict[str, Any]], str] = {}
        queue = list(reversed(todo))
        try:
            while queue or pending:
                while queue and len(pending) < jobs:  # submit lazily so Ctrl-C leaves little queued work
                    problem = queue.pop()
                    fut = pool.submit(run_problem, problem, ctx)
                    futures[fut] = problem.id
                    pending.add(fut)
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        rec = fut.result()  # run_problem never raises; this is a second net
                    except Exception as exc:  # noqa: BLE001
                        rec = last_resort_record(futures[fut], ctx.config.get("benchmark"), exc)
                    _append_line(res_path, rec)
                    records.append(rec)
                    bar.update(task, advance=1, acc=acc_text())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


# ----------------------------------------------------------------------------- printing


def _pct(num: int, den: int) -> str:
    return f"{num}/{den} = {100 * num / den:.1f}%" if den else "n/a (nothing scored)"


def figures(metrics: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, basis) rows of the final summary; the basis names tolerance, answers and samples."""
    tol = config.get("tolerance")
    answers = config.get("answer_version")
    samples = config.get("samples")
    basis = f"tol {tol:g} · answers {answers} · samples {samples}"
    rel = config.get("loose_rel_tol", LOOSE_REL_TOL)
    loose_basis = f"rounded, rel ≤ {rel:g} · answers {answers} · samples {samples}"
    rows = [
        ("strict accuracy", _pct(metrics["strict_correct"], metrics["n_scored"]), basis),
        ("loose accuracy (ORLM/OptMATH protocol)", _pct(metrics["loose_correct"], metrics["loose_n"]), loose_basis),
        ("first attempt, strict (no repair)", _pct(metrics.get("first_attempt_correct", 0),
                                                    metrics.get("first_attempt_n", 0)), basis),
        ("executed", _pct(metrics["executed"], metrics["n"]), f"samples {samples}"),
    ]
    if metrics.get("greedy_sample_n"):
        rows.insert(3, ("greedy sample with its repairs, before the vote, strict",
                        _pct(metrics["greedy_sample_correct"], metrics["greedy_sample_n"]), basis))
    if metrics.get("grid_puzzles"):
        cell = metrics.get("mean_cell_accuracy")
        rows.append(("grid puzzle accuracy", _pct(metrics["grid_puzzle_correct"], metrics["grid_puzzles"]),
                     f"answers {answers}"))
        rows.append(("grid cell accuracy", "n/a" if cell is None else f"{100 * cell:.1f}%", f"answers {answers}"))
    med = metrics.get("median_seconds")
    rows.append(("median seconds / problem", "n/a" if med is None else f"{med:.1f}", f"samples {samples}"))
    mr = metrics.get("mean_repairs")
    rows.append(("mean repairs / problem", "n/a" if mr is None else f"{mr:.2f}", f"samples {samples}"))
    tpp = metrics.get("tokens_per_problem")
    rows.append(("tokens / problem", "n/a" if tpp is None else f"{tpp:.0f}", f"samples {samples}"))
    return rows


def print_summary(metrics: Mapping[str, Any], config: Mapping[str, Any], out: Path, *, console: Any = None) -> None:
    """The final figures, each with the scoring basis beside it."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    name = config.get("benchmark") or config.get("bench_path")
    done = "" if metrics.get("complete", True) else " [yellow](incomplete: rerun the same command to resume)[/]"
    layout = f" (layout {config['layout']})" if config.get("layout") not in (None, "auto") else ""
    console.print(f"[bold]{name}[/] subset {config.get('subset')} · strategy {config.get('strategy')}{layout} · llm "
                  f"{config.get('llm')} · {metrics['n']} problems, {metrics['n_scored']} scored{done}",
                  highlight=False)
    table = Table(show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("basis")
    for label, value, basis in figures(metrics, config):
        table.add_row(label, value, basis)
    console.print(table)
    outcomes = {k: v for k, v in metrics["outcomes"].items() if v}
    if outcomes:
        console.print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])),
                      highlight=False)
    console.print(f"results: {out / RESULTS_FILE}  metrics: {out / METRICS_FILE}", highlight=False)


__all__ = [
    "BenchSelection",
    "BenchmarkDataError",
    "EvalError",
    "ProblemLLM",
    "default_jobs",
    "first_attempt_verdict",
    "numeric_verdict",
    "read_results",
    "run_eval",
    "select_problems",
    "summarize",
]
