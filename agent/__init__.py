"""modelwright's agent: English problem -> IR -> solvers -> checker -> repair.

The notebook API (`Modelwright`, `Formulation`, `Solution`, `load_run`, ...) lives in `agent.api` and is
exported here lazily (PEP 562), so `import agent` loads neither solvers nor model backends nor pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["EvalRun", "Explanation", "FormalizationError", "Formulation", "ModelText", "Modelwright", "Solution",
           "Timeline", "load_run"]
_API = frozenset(__all__)

if TYPE_CHECKING:
    from agent.api import (
        EvalRun,
        Explanation,
        FormalizationError,
        Formulation,
        ModelText,
        Modelwright,
        Solution,
        Timeline,
        load_run,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from agent import api

        return getattr(api, name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
