"""Minimal conflicting subsets by solver calls, for backends without a native IIS/MUS.

QuickXplain (U. Junker, "QUICKXPLAIN: Preferred Explanations and Relaxations for
Over-Constrained Problems", AAAI 2004) finds a minimal subset with O(k·log(n/k)) consistency checks
(k = core size) instead of the deletion filter's n, which matters when each check is a MiniZinc
compile. The deletion filter stays as the simple, obviously-correct reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
Oracle = Callable[[list], bool]  # True when the constraints (plus the hard ones) are satisfiable


class ExplainAborted(RuntimeError):
    """A consistency check could not decide (timeout or error): no minimal set can be claimed."""


def quickxplain(soft: Sequence[T], consistent: Oracle) -> list[T]:
    """A minimal subset of `soft` that is inconsistent; `consistent([])` must be True."""
    items = list(soft)
    if consistent(items):
        return []

    def qx(background: list, delta_added: bool, candidates: list) -> list:
        if delta_added and not consistent(background):
            return []
        if len(candidates) == 1:
            return candidates
        half = len(candidates) // 2
        c1, c2 = candidates[:half], candidates[half:]
        d2 = qx(background + c1, bool(c1), c2)
        d1 = qx(background + d2, bool(d2), c1)
        return d1 + d2

    core = qx([], False, items)
    order = {id(x): i for i, x in enumerate(items)}
    return sorted(core, key=lambda x: order[id(x)])


def deletion_filter(soft: Sequence[T], consistent: Oracle) -> list[T]:
    """Drop each element whose removal keeps the set inconsistent; what remains is minimal."""
    core = list(soft)
    if consistent(core):
        return []
    for item in list(core):
        trial = [x for x in core if x is not item]
        if not consistent(trial):
            core = trial
    return core
