"""What each target module provides, and the shared steps every backend takes.

A target module (solvers/minizinc.py, milp.py, smt.py, cpsat.py) defines:
  NAME: str                                   # "minizinc" | "milp" | "smt" | "cpsat"
  def unsupported(model) -> list[str]         # why this target cannot express the model ([] = it can)
  def render(model) -> str                    # the model text a person reads (`modelwright render`)
  def solve(model, *, time_limit, explain) -> SolveResult   # runs in-process; the caller isolates it
  def stops_at_limit(model) -> bool  # solve(explain=False) ends by itself near time_limit: no fork needed
  EXPLAIN_STOPS_AT_LIMIT: bool       # the same with explain=True
Solver libraries are imported inside those functions, so a missing solver never breaks `import`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from formalizers.semantics import CompiledModel
from solvers.result import ConflictItem, SolveResult, Status


class TargetUnsupported(ValueError):
    """The target cannot express this model (e.g. a product of variables into MILP)."""

    def __init__(self, target: str, reasons: list[str]) -> None:
        self.target = target
        self.reasons = reasons
        super().__init__(f"the {target} target cannot express this model: " + "; ".join(reasons[:6]))


def conflict_items(model: CompiledModel, instances: list[str]) -> tuple[list[str], list[ConflictItem]]:
    """Group conflicting instance labels ("cover[mon]") by IR constraint, in model order.

    Only IR constraints make a conflict (formalizers/IR.md): a label that names none ("bounds of x")
    is left out here; a backend that has such entries reports them in `SolveResult.conflict_bounds`.
    """
    by_name: dict[str, list[str]] = {}
    for label in instances:
        by_name.setdefault(label.split("[", 1)[0], []).append(label)
    names, items = [], []
    for c in model.constraints:
        if c.name in by_name:
            names.append(c.name)
            items.append(ConflictItem(name=c.name, label=c.ir.label, source=c.ir.source,
                                      instances=sorted(set(by_name[c.name]))))
    return names, items


class Stopwatch:
    """Named wall-clock timings for SolveResult.timings."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.start = time.perf_counter()

    @contextmanager
    def lap(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start


def error_result(target: str, message: str, status: Status = Status.ERROR) -> SolveResult:
    return SolveResult(status=status, target=target, message=message)
