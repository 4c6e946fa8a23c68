"""The one result type every backend returns, so the agent and the CLI never parse solver output."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Status(StrEnum):
    OPTIMAL = "optimal"  # proven optimal (optimization)
    FEASIBLE = "feasible"  # a solution satisfying every constraint; not proven optimal, or no objective
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIMEOUT = "timeout"  # the time limit ended the search before any solution or proof
    ERROR = "error"  # the target cannot express the model, or the solver failed

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class ConflictItem(BaseModel):
    """One IR constraint in an infeasible core, in the words of the problem."""

    name: str
    label: str = ""
    source: str = ""
    instances: list[str] = Field(default_factory=list)  # e.g. ["cover[mon]", "cover[tue]"]


class SolveResult(BaseModel):
    status: Status
    objective: float | None = None
    values: dict[str, Any] = Field(default_factory=dict)  # keyed by IR variable, nested by index
    target: str
    solver: str = ""
    solver_version: str = ""
    seconds: float = 0.0  # wall time of render + solve (+ explanation)
    timings: dict[str, float] = Field(default_factory=dict)
    log_tail: str = ""
    message: str = ""
    # IR constraint names of the IIS / MUS / core: only IR constraints, minimal over them when
    # conflict_minimal (variable bounds and domains are never dropped; see formalizers/IR.md).
    conflict: list[str] = Field(default_factory=list)
    conflict_detail: list[ConflictItem] = Field(default_factory=list)
    # Variable bounds and domains that a solver's IIS used ("bounds of x[k]", "domain of w[a]"):
    # information only, not part of `conflict`.
    conflict_bounds: list[str] = Field(default_factory=list)
    conflict_method: str = ""
    conflict_minimal: bool | None = None

    def summary(self) -> dict[str, Any]:
        """The `--json` object of the CLI."""
        return {
            "status": self.status.value,
            "objective": self.objective,
            "values": self.values,
            "conflict": self.conflict,
            "conflict_bounds": self.conflict_bounds,
            "target": self.target,
            "solver": f"{self.solver} {self.solver_version}".strip(),
            "seconds": round(self.seconds, 4),
            "message": self.message,
        }


def tail(text: str, lines: int = 40, chars: int = 4000) -> str:
    """The end of a solver log: enough to diagnose, small enough for a trace or a prompt."""
    return "\n".join(text.splitlines()[-lines:])[-chars:]
