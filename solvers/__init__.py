"""Run a compiled IR on a target and get one uniform `SolveResult`.

Targets are found through one registry (as CPMpy's SolverLookup does) and imported lazily, so a
missing solver never breaks `import solvers`.
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType

from formalizers.semantics import CompiledModel
from solvers.backend import TargetUnsupported
from solvers.limits import HardTimeout, call_with_hard_limit
from solvers.result import SolveResult, Status

TARGETS = ("milp", "cpsat", "smt", "minizinc")
_MODULES = {"minizinc": "solvers.minizinc", "milp": "solvers.milp", "smt": "solvers.smt",
            "cpsat": "solvers.cpsat"}


def backend(target: str) -> ModuleType:
    if target not in _MODULES:
        raise ValueError(f"unknown target '{target}'; choose one of {', '.join(TARGETS)}")
    return importlib.import_module(_MODULES[target])


def unsupported(model: CompiledModel, target: str) -> list[str]:
    """Why `target` cannot express `model` ([] when it can)."""
    return backend(target).unsupported(model)


def applicable_targets(model: CompiledModel) -> list[str]:
    return [t for t in TARGETS if not unsupported(model, t)]


def choose_target(model: CompiledModel) -> str:
    """MILP for linear models (HiGHS proves optimality fastest), CP-SAT for integral ones, else SMT."""
    for t in ("milp", "cpsat", "smt", "minizinc"):
        if not unsupported(model, t):
            return t
    return "smt"


def render(model: CompiledModel, target: str) -> str:
    reasons = unsupported(model, target)
    if reasons:
        raise TargetUnsupported(target, reasons)
    return backend(target).render(model)


def solve(model: CompiledModel, target: str = "auto", *, time_limit: float = 30.0, explain: bool = True,
          isolate: bool = True) -> SolveResult:
    """Solve with a hard wall-clock limit; never raises for solver trouble, returns status ERROR.

    With `isolate`, whatever might not stop by itself runs in a forked child killed at the limit
    (`limits.call_with_hard_limit`). Who stops by itself (each backend's `stops_at_limit(model)` and
    EXPLAIN_STOPS_AT_LIMIT):
      minizinc: always (every run is a subprocess killed at its limit);
      milp: HiGHS honours time_limit and the grounding checks it between instances, so a model of
        moderate size (milp.IN_PROCESS_MAX_TERMS) is solved in-process; an explanation (HiGHS's IIS
        does not bound its total time) re-solves in a forked child;
      cpsat, smt: never trusted (Python model building; z3 tactics that overrun `timeout`): forked.
    """
    if target == "auto":
        target = choose_target(model)
    reasons = unsupported(model, target)
    if reasons:
        raise TargetUnsupported(target, reasons)
    module = backend(target)
    t0 = time.perf_counter()
    # Explanations re-solve the model several times: give them their own share of the budget.
    budget = time_limit * (3 if explain else 1) + 5
    try:
        in_process = module.stops_at_limit(model)
        if not isolate or (in_process and (not explain or module.EXPLAIN_STOPS_AT_LIMIT)):
            result = module.solve(model, time_limit=time_limit, explain=explain)
        elif in_process:
            # Decide in-process; only an infeasible model needs the explanation, in a forked child.
            result = module.solve(model, time_limit=time_limit, explain=False)
            if result.status == Status.INFEASIBLE:
                result = call_with_hard_limit(module.solve, model, seconds=budget, time_limit=time_limit,
                                              explain=True)
        else:
            result = call_with_hard_limit(module.solve, model, seconds=budget, time_limit=time_limit,
                                          explain=explain)
    except HardTimeout as e:
        return SolveResult(status=Status.TIMEOUT, target=target, seconds=time.perf_counter() - t0,
                           message=f"hard time limit: {e}")
    except TargetUnsupported:
        raise
    except Exception as e:  # noqa: BLE001 - a solver failure is a result, not a crash
        return SolveResult(status=Status.ERROR, target=target, seconds=time.perf_counter() - t0,
                           message=f"{type(e).__name__}: {e}"[:2000])
    result.seconds = max(result.seconds, time.perf_counter() - t0) if isolate else result.seconds
    return result


def solve_all(model: CompiledModel, *, time_limit: float = 30.0, explain: bool = True,
              targets: list[str] | None = None) -> dict[str, SolveResult]:
    """Solve with every applicable target (for cross-checking)."""
    return {t: solve(model, t, time_limit=time_limit, explain=explain)
            for t in (targets or applicable_targets(model))}


def agreement(results: dict[str, SolveResult], tol: float = 1e-6) -> tuple[bool, str]:
    """Do the targets agree on status and objective? Returns (agree, one-line explanation)."""
    decided = {t: r for t, r in results.items() if r.status not in (Status.TIMEOUT, Status.ERROR)}
    if not decided:
        return False, "no target reached a decision"
    kinds = {t: ("solved" if r.status.has_solution else r.status.value) for t, r in decided.items()}
    if len(set(kinds.values())) > 1:
        return False, "targets disagree on status: " + ", ".join(f"{t}={k}" for t, k in kinds.items())
    objs = {t: r.objective for t, r in decided.items() if r.objective is not None}
    if objs:
        lo, hi = min(objs.values()), max(objs.values())
        if hi - lo > tol * max(1.0, abs(lo), abs(hi)):
            return False, "objectives differ: " + ", ".join(f"{t}={v:.9g}" for t, v in objs.items())
        return True, f"{len(decided)} targets agree: objective {lo:.9g}"
    return True, f"{len(decided)} targets agree: {next(iter(kinds.values()))}"


__all__ = ["TARGETS", "SolveResult", "Status", "TargetUnsupported", "solve", "solve_all", "render",
           "unsupported", "applicable_targets", "choose_target", "agreement"]
