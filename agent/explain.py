"""Explain an infeasible model to the user: which stated requirements conflict, and the smallest change
that makes the problem solvable.

In the spirit of unsat-core-guided repair (Hao et al.): the solver's conflict (IIS / MUS / unsat core, by
IR constraint name) is turned back into the sentences of the problem, and a relaxation model is built *in
the IR* — so one formulation serves MILP, CP-SAT and SMT alike — to find the fewest requirements to
change and, among those, the smallest total change. That change is written back as an ordinary IR (new
right-hand sides, fixed shifts, or dropped instances) and solved again to show that it works.

Design decisions (and why):
- Every constraint not named `hard` may be relaxed, not only those of the reported conflict: a model can
  hold several independent conflicts and the solver reports one, so relaxing only its members may not
  restore feasibility, and the fewest changes may lie in another part of the model.
- Quantified constraints get one slack per instance but one indicator per constraint: the user stated one
  sentence, so changing it counts once however many instances move, while per-instance slacks report
  exactly which instance moves and by how much (one slack per constraint would move every instance by the
  largest amount needed, overstating the change).
- Comparisons (<=, >=, ==, strict forms, conjunctions and chains of them) are relaxed by nonnegative slacks
  (== by two); anything else (implications, or, !=, alldifferent, labels) can only be dropped, per
  instance, at a cost of 1 per instance (as the checker counts a false condition).
- The count is minimised first with binary indicators and big-M bounds taken from the variables' bounds by
  interval arithmetic, or, when those are infinite, from the magnitude of the model's numbers; then the
  total amount with the count fixed. Variable bounds and domains are never relaxed (they usually state
  physics: "cannot be negative", "whole cases"), only explained.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from formalizers.expr import (
    Aggregate,
    BinOp,
    BoolConst,
    Call,
    Compare,
    Generator,
    Implies,
    Logic,
    Name,
    Node,
    Num,
    RangeSet,
    SetRef,
    Str,
    Unary,
    walk,
)
from formalizers.ground import Grounder, is_const
from formalizers.ir import IRError, ModelIR, parse_ir
from formalizers.semantics import CompiledConstraint, CompiledModel, integral_problems
from formalizers.unparse import generator_text, number_text, to_text
from solvers.result import SolveResult, Status

TOL = 1e-6  # slack values below this are solver noise, not a relaxation
BIG_M_FACTOR = 100.0  # fallback big-M: this many times the largest number in the model...
BIG_M_FLOOR = 1000.0  # ...and never less than this
DEFAULT_TIME_LIMIT = 20.0

Mode = Literal["shift", "drop"]


# ----------------------------------------------------------------------------- public results


@dataclass
class ConflictEntry:
    """One member of the solver's conflict, in the words of the problem."""

    name: str  # IR constraint name, or "bounds of x" / "variable domains" for variable bounds and domains
    kind: str  # "constraint" | "bounds" | "domains"
    label: str = ""
    source: str = ""  # the sentence of the problem it came from
    expr: str = ""
    forall: str = ""
    instances: list[str] = field(default_factory=list)  # e.g. ["fill_orders[stout]"]
    explanation: str = ""  # one readable line


@dataclass
class Change:
    """How one instance (and comparison) of a requirement must move."""

    instance: str  # "tank_limit", "fill_orders[stout]", with " (part 2)" for the 2nd comparison of a chain
    key: list[Any]  # the instance's index elements ([] for a scalar constraint)
    action: str  # "raise" | "lower" | "change" | "exceed" | "fall short" | "differ" | "drop"
    amount: float  # >= 0: by how much the requirement moves (1 per dropped instance)
    delta: float | None = None  # signed change of the right-hand side (None when dropped)
    old_value: float | None = None  # the constant side as stated, when the comparison has one
    new_value: float | None = None
    side: str = ""  # expression text of the side that moves
    text: str = ""  # "raise the limit tank_capacity from 600 to 650 (+50)"


@dataclass
class RelaxedRequirement:
    """One stated requirement the smallest relaxation changes."""

    name: str
    label: str
    source: str
    expr: str  # as stated
    forall: str
    mode: Mode  # "shift": numbers move; "drop": instances are left out
    in_conflict: bool
    changes: list[Change] = field(default_factory=list)
    total: float = 0.0
    new_expr: str | None = None  # in the relaxed IR; None when the whole constraint is dropped
    new_forall: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # per-instance shifts new_expr refers to


@dataclass
class Relaxation:
    """The fewest requirements to change, the smallest total change among those, and its re-solve."""

    count: int
    total: float
    count_minimal: bool  # the solver proved no smaller number of requirements works
    total_minimal: bool  # ... and no smaller total change with that number
    requirements: list[RelaxedRequirement]
    relaxed_ir: ModelIR  # the original model with the changes written in: runnable as is
    target: str  # the target that solved the relaxation model
    status: str  # of re-solving relaxed_ir
    objective: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    check_ok: bool | None = None  # the independent checker's verdict on that solution
    big_m: dict[str, float] = field(default_factory=dict)  # the largest move considered, per slack
    notes: list[str] = field(default_factory=list)
    slack_ir: ModelIR | None = None  # the stage-2 relaxation model (for debugging)


@dataclass
class InfeasibilityExplanation:
    """Why a model has no solution, and what would give it one."""

    model: str
    status: str  # of the original model
    conflict: list[ConflictEntry]
    conflict_method: str = ""
    conflict_minimal: bool | None = None
    relaxation: Relaxation | None = None
    objective_description: str = ""
    message: str = ""
    seconds: float = 0.0

    @property
    def infeasible(self) -> bool:
        return self.status == Status.INFEASIBLE.value

    def summary(self) -> str:
        """One sentence naming the conflicting sentences of the problem."""
        if not self.infeasible:
            return f"The model is not infeasible (status: {self.status}); there is nothing to explain."
        said = _dedupe(_quote(e) for e in self.conflict if e.kind == "constraint")
        if not said:
            if self.conflict:
                return "The variables' bounds and domains alone cannot be met: " + \
                    "; ".join(e.explanation for e in self.conflict) + "."
            return "The model is infeasible, but the solver named no conflicting requirements."
        if len(said) == 1:
            head = f"This stated requirement cannot be met: {said[0]}"
        else:
            head = f"These stated requirements conflict: {_join(said)}"
        bounds = [e.explanation for e in self.conflict if e.kind != "constraint" and e.explanation]
        return head + (f" (given that {'; '.join(bounds)})" if bounds else "") + "."

    def describe(self) -> str:
        """Plain text for a person: the conflict, the smallest relaxation and what it gives."""
        lines = [f"Model '{self.model}': {self.status}."]
        if self.message:
            lines.append(self.message)
        if not self.infeasible:
            return "\n".join(lines)
        lines.append(self.summary())
        for e in self.conflict:
            if e.kind == "constraint":
                where = f" for each {e.forall}" if e.forall else ""
                inst = f" [instances: {', '.join(e.instances)}]" if e.forall and e.instances else ""
                lines.append(f"  - {e.name} ({e.label or 'no label'}): {e.expr}{where}{inst}")
            else:
                lines.append(f"  - {e.explanation}")
        if self.conflict_method:
            minimal = {True: "minimal", False: "not proven minimal", None: "minimality unknown"}
            lines.append(f"  (found by {self.conflict_method}; {minimal[self.conflict_minimal]})")
        r = self.relaxation
        if r is None:
            return "\n".join(lines)
        what = "requirement" if r.count == 1 else "requirements"
        lines.append("")
        lines.append(f"Smallest relaxation: change {r.count} {what}, total change {_fmt(r.total)}"
                     + ("" if r.count_minimal and r.total_minimal else " (not proven minimal)") + ":")
        for req in r.requirements:
            tag = "" if req.in_conflict else " (not in the reported conflict)"
            lines.append(f"  - {req.name} ({req.label or 'no label'}){tag}: {_quote_text(req.source) or req.expr}")
            for ch in req.changes:
                lines.append(f"      {ch.instance}: {ch.text}")
            if req.new_expr is None:
                lines.append("      the requirement is left out entirely")
            else:
                where = f" for each {req.new_forall}" if req.new_forall else ""
                lines.append(f"      now: {req.new_expr}{where}")
            for name, table in req.parameters.items():
                lines.append(f"      where {name} = {_table_text(table)}")
        verdict = {"optimal": "solves to optimality", "feasible": "has a solution"}.get(r.status)
        if verdict:
            obj = ""
            if r.objective is not None:
                desc = f" ({self.objective_description})" if self.objective_description else ""
                best = "optimal objective" if r.status == "optimal" else "objective (not proven optimal)"
                obj = f"; new {best} {_fmt(r.objective)}{desc}"
            checked = {True: ", confirmed by the independent checker", False: ", but the checker disagrees",
                       None: ""}[r.check_ok]
            lines.append(f"With these changes the model {verdict}{obj}{checked}.")
        else:
            lines.append(f"Re-solving the relaxed model ended: {r.status}.")
        lines += [f"Note: {n}" for n in r.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: everything but the IR objects, which become their JSON dicts."""
        out: dict[str, Any] = {
            "model": self.model,
            "status": self.status,
            "summary": self.summary(),
            "conflict": [asdict(e) for e in self.conflict],
            "conflict_method": self.conflict_method,
            "conflict_minimal": self.conflict_minimal,
            "message": self.message,
            "seconds": round(self.seconds, 4),
            "relaxation": None,
        }
        r = self.relaxation
        if r is not None:
            out["relaxation"] = {
                "count": r.count, "total": r.total, "count_minimal": r.count_minimal,
                "total_minimal": r.total_minimal,
                "requirements": [asdict(q) for q in r.requirements],
                "target": r.target, "status": r.status, "objective": r.objective, "values": r.values,
                "check_ok": r.check_ok, "big_m": r.big_m, "notes": r.notes,
                "relaxed_ir": r.relaxed_ir.model_dump(mode="json"),
            }
        return out


# ----------------------------------------------------------------------------- entry point


def explain_infeasibility(ir: ModelIR | CompiledModel, result: SolveResult | None = None, *,
                          time_limit: float = DEFAULT_TIME_LIMIT, hard: Collection[str] = (),
                          relax: bool = True, tie_break: bool = True,
                          target: str = "auto") -> InfeasibilityExplanation:
    """Name the conflicting requirements and find the smallest relaxation that restores feasibility.

    `result`: the model's SolveResult with its conflict (solved here with explain=True when None).
    `time_limit`: seconds per solver call (conflict, two relaxation stages, re-solve).
    `hard`: constraint names that must not be relaxed. `relax=False` explains the conflict only.
    `tie_break`: among equally small relaxations, take the one best for the objective (one more solve).
    `target`: for solving the model when `result` is None; the relaxation picks its own with choose_target.
    """
    import solvers

    t0 = time.perf_counter()
    model = ir if isinstance(ir, CompiledModel) else ir.compile()
    ir = model.ir
    unknown = sorted(set(hard) - {c.name for c in ir.constraints})
    if unknown:
        raise ValueError(f"hard names no constraint of the model: {', '.join(unknown)}")
    if result is None:
        chosen = solvers.choose_target(model) if target == "auto" else target
        result = solvers.solve(model, chosen, time_limit=time_limit, explain=True)
    out = InfeasibilityExplanation(
        model=ir.name, status=result.status.value, conflict=_conflict_entries(model, result),
        conflict_method=result.conflict_method, conflict_minimal=result.conflict_minimal,
        objective_description=ir.objective.description if ir.objective else "", message=result.message)
    if result.status == Status.INFEASIBLE and relax:
        try:
            out.relaxation = _relax(model, set(result.conflict), set(hard), time_limit, tie_break)
        except _NoRelaxation as e:
            out.message = "; ".join(m for m in (out.message, str(e)) if m)
    out.seconds = time.perf_counter() - t0
    return out


class _NoRelaxation(RuntimeError):
    """The relaxation could not be built or solved; the reason goes to the user."""


# ----------------------------------------------------------------------------- the conflict


def _conflict_entries(model: CompiledModel, result: SolveResult) -> list[ConflictEntry]:
    """The conflict's constraints with their sentences, then the variable bounds and domains it used."""
    by_name = {c.name: c for c in model.constraints}
    detail = {d.name: d for d in result.conflict_detail}
    names = list(result.conflict) or [d.name for d in result.conflict_detail]
    out, bound_labels = [], list(getattr(result, "conflict_bounds", []) or [])
    for name in names:
        if name in by_name:
            c = by_name[name].ir
            instances = list(detail[name].instances) if name in detail else []
            out.append(ConflictEntry(name=name, kind="constraint", label=c.label, source=c.source, expr=c.expr,
                                     forall=c.forall, instances=instances, explanation=_quote(c)))
        elif name in detail and detail[name].instances:  # older backends listed bounds as conflict names
            bound_labels += detail[name].instances
        else:
            bound_labels.append(name)
    groups: dict[str, list[str]] = {}
    for label in bound_labels:
        groups.setdefault(label.split("[", 1)[0].strip(), []).append(label)
    for group, labels in groups.items():
        if group.startswith(("bounds of ", "domain of ")):
            kind = "bounds" if group.startswith("bounds of ") else "domains"
            out.append(ConflictEntry(name=group, kind=kind, instances=_dedupe(labels),
                                     explanation=explain_bounds(model, group, labels)))
        else:
            out.append(ConflictEntry(name=group, kind="domains", instances=_dedupe(labels),
                                     explanation="the variables' bounds and domains (whole numbers, signs) "
                                                 "are part of the conflict"))
    return out


def explain_bounds(model: CompiledModel, name: str, instances: Iterable[str] = ()) -> str:
    """'bounds of spend' with instances ['bounds of spend[tv]'] -> 'spend[tv] cannot be negative';
    'domain of x' says what values x may take."""
    prefix = "domain of " if name.startswith("domain of ") else "bounds of "
    var_name = name.removeprefix(prefix).split("[", 1)[0].strip()
    which = _dedupe(i.removeprefix("bounds of ").removeprefix("domain of ").strip() for i in instances)
    var = model.variables.get(var_name)
    subject = _join(which or [var_name])
    if var is None:
        return f"the {prefix.strip()} {subject}"
    v = var.ir
    lower, upper = model.var_bounds(var)
    if v.domain in ("binary", "boolean"):
        rule = "can only be 0 or 1" if v.domain == "binary" else "can only be true or false"
    elif v.domain == "labels":
        rule = f"must be one of the elements of {v.labels}"
    else:
        if lower is not None and upper is not None:
            rule = f"must be between {_fmt(lower)} and {_fmt(upper)}"
        elif lower == 0:
            rule = "cannot be negative"
        elif lower is not None:
            rule = f"must be at least {_fmt(lower)}"
        elif upper is not None:
            rule = f"must be at most {_fmt(upper)}"
        else:
            rule = ""
        if v.domain == "integer":
            rule = f"must be a whole number and {rule}" if rule else "must be a whole number"
        rule = rule or "is unrestricted"
    desc = f" ({v.description})" if v.description else ""
    return f"{subject}{desc} {rule}"


# ----------------------------------------------------------------------------- interval bounds


class _Iv:
    """A closed interval [lo, hi] (possibly infinite): the range of an expression over the variables' box."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    @staticmethod
    def of(v: Any) -> _Iv:
        return v if isinstance(v, _Iv) else _Iv(float(v), float(v))

    def __add__(self, o: Any) -> _Iv:
        o = _Iv.of(o)
        return _Iv(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __neg__(self) -> _Iv:
        return _Iv(-self.hi, -self.lo)

    def __sub__(self, o: Any) -> _Iv:
        return self + (-_Iv.of(o))

    def __rsub__(self, o: Any) -> _Iv:
        return _Iv.of(o) + (-self)

    def __mul__(self, o: Any) -> _Iv:
        o = _Iv.of(o)
        products = [_times(a, b) for a in (self.lo, self.hi) for b in (o.lo, o.hi)]
        return _Iv(min(products), max(products))

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> _Iv:
        o = _Iv.of(o)
        if o.lo <= 0 <= o.hi:
            return _Iv(-math.inf, math.inf)
        return self * _Iv(1 / o.hi, 1 / o.lo)

    def __rtruediv__(self, o: Any) -> _Iv:
        return _Iv.of(o) / self

    def __abs__(self) -> _Iv:
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return -self
        return _Iv(0.0, max(-self.lo, self.hi))


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0 or b == 0 else a * b  # 0 * inf is 0 here: a zero coefficient bounds nothing


class _IntervalAlgebra:
    """The grounder's algebra for interval bounds: variables are their bound intervals."""

    def __init__(self, model: CompiledModel) -> None:
        self.m = model

    def var(self, name: str, key: tuple) -> _Iv:
        lo, hi = self.m.var_bounds(self.m.variables[name])
        return _Iv(-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))

    def abs_(self, a: Any) -> _Iv:
        return abs(_Iv.of(a))

    def min_(self, items: list) -> _Iv:
        ivs = [_Iv.of(i) for i in items]
        return _Iv(min(i.lo for i in ivs), min(i.hi for i in ivs))

    def max_(self, items: list) -> _Iv:
        ivs = [_Iv.of(i) for i in items]
        return _Iv(max(i.lo for i in ivs), max(i.hi for i in ivs))

    def _logic(self, *args: Any) -> Any:
        raise TypeError("numeric sides only")

    and_ = or_ = not_ = implies = iff = compare = alldifferent = _logic


def _upper(value: Any) -> float:
    return value.hi if isinstance(value, _Iv) else float(value)


# ----------------------------------------------------------------------------- planning the relaxation


@dataclass
class _Part:
    """One comparison of a relaxable constraint, with its slack variable(s) in the relaxation model."""

    orig: Compare  # as written
    norm: Compare  # strict forms made non-strict (integral: shifted by one)
    slacks: list[str] = field(default_factory=list)  # [s] for <= and >=; [up, down] for ==
    big_m: list[float] = field(default_factory=list)
    assumed: list[bool] = field(default_factory=list)  # big-M is the fallback guess, not a proven bound


@dataclass
class _Plan:
    """How one constraint is relaxed."""

    c: CompiledConstraint
    mode: Mode
    gen: Generator | None  # the instances' generator (a top-level forall in the body merged in)
    index: list[str] | None  # sets indexing the per-instance variables; None: one variable for all
    keys: list[tuple]
    envs: list[dict]
    parts: list[_Part] = field(default_factory=list)
    drop: str | None = None  # per-instance drop indicator (drop mode with an index)

    @property
    def name(self) -> str:
        return self.c.name

    def ref(self, var: str) -> str:
        """Reference text of a per-instance variable inside the constraint's generator."""
        if self.index is None or self.gen is None:
            return var
        return f"{var}[{', '.join(b.var for b in self.gen.bindings)}]"

    def over(self, body: str) -> str:
        """sum of `body` over the instances (body itself when one variable serves all)."""
        if self.index is None or self.gen is None:
            return body
        return f"sum({generator_text(self.gen)})({body})"


class _Names:
    """Fresh identifiers that clash with nothing in the model, loop variables included."""

    def __init__(self, ir: ModelIR) -> None:
        texts = [c.expr + " " + c.forall for c in ir.constraints] + ([ir.objective.expr] if ir.objective else [])
        self.taken = {x.name for x in (*ir.sets, *ir.parameters, *ir.variables, *ir.constraints)}
        self.taken |= {w for t in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t)}

    def fresh(self, base: str, limit: int = 60) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", base)[:limit] or "x"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def _merge_forall(c: CompiledConstraint) -> tuple[Generator | None, Node]:
    """The constraint's instances as one generator: `forall` plus any forall(...)(...) wrapping the body."""
    bindings = list(c.gen.bindings) if c.gen else []
    wheres = [c.gen.where] if c.gen and c.gen.where is not None else []
    body = c.body
    while isinstance(body, Aggregate) and body.func == "forall":
        outer = {b.var for b in bindings}
        ranges = [n for b in body.gen.bindings if isinstance(b.domain, RangeSet) for n in walk(b.domain)]
        if {b.var for b in body.gen.bindings} & outer or any(isinstance(n, Name) and n.id in outer for n in ranges):
            break  # a forall's range cannot depend on another loop variable (IR.md): keep it nested
        bindings += body.gen.bindings
        if body.gen.where is not None:
            wheres.append(body.gen.where)
        body = body.body
    if not bindings:
        return None, body
    where = None if not wheres else wheres[0] if len(wheres) == 1 else Logic("and", tuple(wheres))
    return Generator(tuple(bindings), where), body


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Logic) and node.op == "and":
        return [n for item in node.items for n in _conjuncts(item)]
    return [node]


def _numeric(node: Node, model: CompiledModel) -> bool:
    """True when `node` is a number-valued expression (so a slack can be added to it)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Str | BoolConst | Compare | Logic | Implies) or (isinstance(n, Unary) and n.op == "not"):
            return False
        if isinstance(n, Aggregate):
            if n.func not in ("sum", "min", "max"):
                return False
            stack.append(n.body)  # the generator's filter is data, not the value
            continue
        if isinstance(n, Call):
            if n.func == "alldifferent":
                return False
            stack.extend(n.args)
            continue
        if isinstance(n, Name):
            var = model.variables.get(n.id)
            if var is not None and (var.ir.domain == "boolean"
                                    or (var.label_set and not model.set_integer[var.label_set])):
                return False
            continue  # indices are elements, not values
        if isinstance(n, Unary):
            stack.append(n.operand)
        elif isinstance(n, BinOp):
            stack += [n.left, n.right]
    return True


def _has_variables(node: Node, model: CompiledModel) -> bool:
    return any(isinstance(n, Name) and n.id in model.variables for n in walk(node))


def _index_sets(gen: Generator, grounder: Grounder, names: _Names, new_sets: list[dict]) -> list[str] | None:
    """Sets indexing a generator's instances; a constant range gets a set of its own; None when a range
    depends on another loop variable (then one variable serves every instance)."""
    out = []
    for b in gen.bindings:
        if isinstance(b.domain, SetRef):
            out.append(b.domain.name)
            continue
        try:
            lo, hi = grounder.eval(b.domain.low, {}), grounder.eval(b.domain.high, {})
        except Exception:  # noqa: BLE001 - a bound that needs a loop variable
            return None
        if not (is_const(lo) and is_const(hi)) or int(hi) < int(lo):
            return None
        name = names.fresh(f"range_{b.var}")
        new_sets.append({"name": name, "elements": list(range(int(lo), int(hi) + 1)),
                         "description": f"the range {to_text(b.domain)} of a relaxed constraint"})
        out.append(name)
    return out


def _plan(model: CompiledModel, c: CompiledConstraint, grounder: Grounder, names: _Names,
          new_sets: list[dict], integral: bool, fallback_m: float) -> _Plan | None:
    """How to relax one constraint; None when it has no instances."""
    gen, body = _merge_forall(c)
    parts = _conjuncts(body)
    numeric = all(isinstance(p, Compare) and p.op in ("<=", ">=", "<", ">", "==")
                  and _numeric(p.left, model) and _numeric(p.right, model) for p in parts)
    if not numeric:
        gen = c.gen
    envs = list(grounder.bind(gen, {})) if gen is not None else [{}]
    if not envs:
        return None
    keys = [tuple(env[b.var] for b in gen.bindings) if gen else () for env in envs]
    index = _index_sets(gen, grounder, names, new_sets) if gen is not None else None
    plan = _Plan(c, "shift" if numeric else "drop", gen, index, keys, envs)
    if not numeric:
        if index is not None:
            plan.drop = names.fresh(f"drop_{c.name}")
        return plan
    several = len(parts) > 1
    for k, p in enumerate(parts, 1):
        assert isinstance(p, Compare)
        norm = _non_strict(p, grounder, envs[0])
        stem = f"slack_{c.name}" + (f"_{k}" if several else "")
        part = _Part(p, norm)
        if norm.op == "==":
            part.slacks = [names.fresh(f"{stem}_up"), names.fresh(f"{stem}_down")]
            diffs = [BinOp("-", norm.left, norm.right), BinOp("-", norm.right, norm.left)]
        else:
            part.slacks = [names.fresh(stem)]
            diffs = [BinOp("-", norm.left, norm.right) if norm.op == "<=" else BinOp("-", norm.right, norm.left)]
        for diff in diffs:  # the largest violation over the variables' box bounds the slack
            try:
                worst = max(_upper(grounder.eval(diff, env)) for env in envs)
            except Exception:  # noqa: BLE001 - e.g. a division whose divisor may be zero
                worst = math.inf
            m = fallback_m if not math.isfinite(worst) else max(0.0, worst)
            part.big_m.append(float(math.ceil(m - 1e-9)) if integral else m)
            part.assumed.append(not math.isfinite(worst))
        plan.parts.append(part)
    return plan


def _non_strict(p: Compare, grounder: Grounder, env: dict) -> Compare:
    """`a < b` is `a <= b - 1` between integral sides and `a <= b` otherwise (IR.md): make it explicit,
    because adding a continuous slack would otherwise turn the integral reading into the continuous one."""
    if p.op not in ("<", ">"):
        return p
    integral = grounder.integral(p.left, env) and grounder.integral(p.right, env)
    op = "<=" if p.op == "<" else ">="
    if not integral:
        return Compare(op, p.left, p.right)
    return Compare(op, p.left, BinOp("-" if p.op == "<" else "+", p.right, Num(1)))


def _fallback_big_m(model: CompiledModel) -> float:
    """A move no sane relaxation needs: BIG_M_FACTOR times the largest number the constraints use (the
    objective's numbers are left out: a large price must not loosen big-M and with it the MIP tolerance)."""
    nodes = [c.body for c in model.constraints] + [c.gen.where for c in model.constraints
                                                   if c.gen is not None and c.gen.where is not None]
    used = {n.id for node in nodes for n in walk(node) if isinstance(n, Name)}
    numbers: list[float] = [n.value for node in nodes for n in walk(node) if isinstance(n, Num)]
    for p in model.params.values():
        if p.name in used:
            numbers += list(p.values.values()) if isinstance(p.values, dict) else [p.values]
    for v in model.variables.values():
        numbers += [b for b in model.var_bounds(v) if b is not None]
    return max(BIG_M_FLOOR, BIG_M_FACTOR * max((abs(float(x)) for x in numbers), default=0.0))


# ----------------------------------------------------------------------------- the relaxation model


@dataclass
class _SlackModel:
    data: dict[str, Any]
    plans: list[_Plan]
    rel_set: str
    relax: str
    amount: str
    count_name: str
    total_name: str
    integral: bool


def _build_slack_model(model: CompiledModel, hard: set[str]) -> _SlackModel:
    ir = model.ir
    names = _Names(ir)
    integral = not integral_problems(model)
    grounder = Grounder(model, _IntervalAlgebra(model))
    fallback_m = float(math.ceil(_fallback_big_m(model))) if integral else _fallback_big_m(model)
    new_sets: list[dict] = []
    plans = []
    for c in model.constraints:
        if c.name in hard:
            continue
        plan = _plan(model, c, grounder, names, new_sets, integral, fallback_m)
        if plan is not None:
            plans.append(plan)
    if not plans:
        raise _NoRelaxation("no constraint may be relaxed (all are hard or have no instances)")
    top = sum(_most(p) for p in plans)
    rel_set, relax, amount = names.fresh("Relaxable"), names.fresh("relax"), names.fresh("relax_amount")
    count_name, total_name = names.fresh("relax_count"), names.fresh("relax_total")
    dom = "integer" if integral else "continuous"
    data = ir.model_dump()
    data["sets"] += new_sets + [{"name": rel_set, "elements": [p.name for p in plans],
                                 "description": "constraints that may be relaxed"}]
    data["variables"] += [
        {"name": relax, "index": [rel_set], "domain": "binary", "description": "1 if the constraint is relaxed"},
        {"name": amount, "index": [rel_set], "domain": dom, "lower": 0, "upper": top,
         "description": "total relaxation"},
    ]
    by_name = {p.name: p for p in plans}
    constraints = []
    for c in ir.constraints:
        plan = by_name.get(c.name)
        if plan is None:
            constraints.append(c.model_dump())
            continue
        z = f'{relax}["{plan.name}"]'
        forall = generator_text(plan.gen) if plan.gen is not None else ""
        if plan.mode == "drop":
            flag = plan.ref(plan.drop) if plan.drop else z
            body = Logic("or", (Compare("==", _parse(flag), Num(1)), plan.c.body))
            constraints.append({**c.model_dump(), "expr": to_text(body)})
            if plan.drop:
                data["variables"].append({"name": plan.drop, "index": plan.index, "domain": "binary",
                                          "description": f"1 if this instance of {plan.name} is dropped"})
                constraints.append({"name": names.fresh(f"link_{plan.name}"), "forall": forall,
                                    "expr": f"{flag} <= {z}"})
            constraints.append({"name": names.fresh(f"amount_{plan.name}"),
                                "expr": f"{amount}[\"{plan.name}\"] == {plan.over(flag)}"})
            continue
        relaxed, links = [], []
        for part in plan.parts:
            refs = [_parse(plan.ref(s)) for s in part.slacks]
            for s, m in zip(part.slacks, part.big_m, strict=True):
                data["variables"].append({"name": s, "index": plan.index or [], "domain": dom, "lower": 0,
                                          "upper": m, "description": f"relaxation of {plan.name}"})
                links.append({"name": names.fresh(f"link_{s}"), "forall": forall if plan.index else "",
                              "expr": f"{plan.ref(s)} <= {number_text(m)} * {z}"})
            n = part.norm
            if n.op == "<=":
                rhs: Node = BinOp("+", n.right, refs[0])
            elif n.op == ">=":
                rhs = BinOp("-", n.right, refs[0])
            else:
                rhs = BinOp("-", BinOp("+", n.right, refs[0]), refs[1])
            relaxed.append(Compare(n.op, n.left, rhs))
        expr = relaxed[0] if len(relaxed) == 1 else Logic("and", tuple(relaxed))
        constraints.append({**c.model_dump(), "forall": forall, "expr": to_text(expr)})
        constraints += links
        total = " + ".join(plan.ref(s) for part in plan.parts for s in part.slacks)
        constraints.append({"name": names.fresh(f"amount_{plan.name}"),
                            "expr": f"{amount}[\"{plan.name}\"] == {plan.over(total)}"})
    data["constraints"] = constraints
    data["objective"] = {"sense": "minimize", "expr": f"sum(r in {rel_set})({relax}[r])",
                         "description": "number of relaxed requirements"}
    return _SlackModel(data, plans, rel_set, relax, amount, count_name, total_name, integral)


def _most(plan: _Plan) -> float:
    """The largest total relaxation of one constraint (an upper bound for its amount variable)."""
    copies = len(plan.keys) if plan.index is not None else 1
    if plan.mode == "drop":
        return float(copies)
    return copies * sum(m for part in plan.parts for m in part.big_m)


def _parse(text: str) -> Node:
    from formalizers.expr import parse_expr

    return parse_expr(text)


# ----------------------------------------------------------------------------- solving it


def _solve_ir(data: dict[str, Any], time_limit: float) -> tuple[CompiledModel, SolveResult]:
    import solvers

    try:
        compiled = parse_ir(data).compile()
    except IRError as e:  # a bug here, not the user's: say so instead of failing the explanation
        raise _NoRelaxation(f"the relaxation model did not compile: {e}") from None
    target = solvers.choose_target(compiled)
    try:
        return compiled, solvers.solve(compiled, target, time_limit=time_limit, explain=False)
    except solvers.TargetUnsupported as e:
        raise _NoRelaxation(f"no solver target can take the relaxation model: {e}") from None


def _relax(model: CompiledModel, conflict: set[str], hard: set[str], time_limit: float,
           tie_break: bool) -> Relaxation:
    """Stage 1: fewest relaxed constraints; stage 2: least total change with that count; stage 3 (when
    `tie_break` and the model has an objective): the best objective among those smallest relaxations, so
    a tie is settled in the user's favour instead of by the solver's search order."""
    from solvers.values import flatten_values

    sm = _build_slack_model(model, hard)
    compiled, first = _solve_ir(sm.data, time_limit)
    if not first.status.has_solution:
        why = ("the variables' bounds or domains or the hard constraints conflict by themselves, or a move "
               "larger than the assumed bound is needed" if first.status == Status.INFEASIBLE
               else f"the solver ended {first.status.value}: {first.message}")
        raise _NoRelaxation(f"no relaxation of the constraints was found ({why})")
    count = round(first.objective if first.objective is not None else 0)
    notes = []
    count_row = {"name": sm.count_name, "expr": f"sum(r in {sm.rel_set})({sm.relax}[r]) <= {count}"}
    total_expr = f"sum(r in {sm.rel_set})({sm.amount}[r])"
    second_data = {**sm.data, "constraints": [*sm.data["constraints"], count_row],
                   "objective": {"sense": "minimize", "expr": total_expr, "description": "total relaxation"}}
    compiled2, second = _solve_ir(second_data, time_limit)
    best, best_model, best_data = (second, compiled2, second_data) if second.status.has_solution \
        else (first, compiled, sm.data)
    if not second.status.has_solution:
        notes.append(f"minimizing the total change ended {second.status.value}; the amounts are not minimal")
    elif tie_break and model.ir.objective is not None and second.objective is not None:
        total = second.objective
        limit = total if sm.integral else total + 1e-9 * max(1.0, abs(total))
        third_data = {**second_data, "objective": model.ir.objective.model_dump(),
                      "constraints": [*second_data["constraints"], {
                          "name": sm.total_name, "expr": f"{total_expr} <= {number_text(limit)}"}]}
        compiled3, third = _solve_ir(third_data, time_limit)
        if third.status.has_solution:
            best, best_model, best_data = third, compiled3, third_data
    flat, _ = flatten_values(best_model, best.values)

    requirements: list[RelaxedRequirement] = []
    big_m: dict[str, float] = {}
    final = model.ir.model_dump()
    names = _Names(model.ir)
    names.taken |= {s["name"] for s in sm.data["sets"]}  # range sets may be copied into the relaxed IR
    grounder = Grounder(model, _IntervalAlgebra(model))
    for plan in sm.plans:
        req = _read_plan(plan, flat, sm, model, grounder, final, names, big_m, notes)
        if req is not None:
            req.in_conflict = plan.name in conflict
            requirements.append(req)
    final["constraints"] = [c for c in final["constraints"] if c is not None]
    try:
        relaxed_ir = parse_ir(final)
        relaxed_model = relaxed_ir.compile()
    except IRError as e:
        raise _NoRelaxation(f"the relaxed model did not compile: {e}") from None
    if len(requirements) != count:
        notes.append(f"the solver's count ({count}) and the requirements that moved ({len(requirements)}) "
                     "differ by numerical tolerance")

    import solvers
    from solvers.checker import check_solution

    verify = solvers.solve(relaxed_model, solvers.choose_target(relaxed_model), time_limit=time_limit,
                           explain=False)
    check_ok = None
    if verify.status.has_solution:
        check_ok = check_solution(relaxed_model, verify.values, claimed_objective=verify.objective).ok
    return Relaxation(
        count=len(requirements), total=_clean(sum(r.total for r in requirements)),
        count_minimal=first.status == Status.OPTIMAL,
        total_minimal=first.status == Status.OPTIMAL and second.status == Status.OPTIMAL,
        requirements=requirements, relaxed_ir=relaxed_ir, target=best.target, status=verify.status.value,
        objective=verify.objective, values=verify.values, check_ok=check_ok, big_m=big_m, notes=notes,
        slack_ir=parse_ir(best_data))


def _read_plan(plan: _Plan, flat: dict, sm: _SlackModel, model: CompiledModel, grounder: Grounder,
               final: dict, names: _Names, big_m: dict[str, float],
               notes: list[str]) -> RelaxedRequirement | None:
    """Turn one constraint's slack values into changes and write them into the final IR (in place)."""
    c = plan.c.ir
    pos = next(i for i, x in enumerate(final["constraints"]) if x is not None and x["name"] == c.name)
    req = RelaxedRequirement(name=c.name, label=c.label, source=c.source, expr=c.expr, forall=c.forall,
                             mode=plan.mode, in_conflict=False)

    def value(var: str, key: tuple) -> float:
        v = float(flat.get((var, key if plan.index is not None else ()), 0.0))
        return 0.0 if abs(v) <= TOL else v

    if plan.mode == "drop":
        if plan.drop is None:  # one indicator for every instance: the constraint's own
            dropped = list(plan.keys) if flat.get((sm.relax, (plan.name,)), 0) > 0.5 else []
        else:
            dropped = [k for k in plan.keys if value(plan.drop, k) > 0.5]
        if not dropped:
            return None
        for key in dropped:
            req.changes.append(Change(instance=_label(c.name, key), key=list(key), action="drop", amount=1.0,
                                      text="drop this requirement" if not key else "leave this instance out"))
        req.total = float(len(dropped))
        if len(dropped) == len(plan.keys):
            final["constraints"][pos] = None
        else:
            assert plan.gen is not None
            keep = [_exclude(plan.gen, k) for k in dropped]
            where = (plan.gen.where,) if plan.gen.where is not None else ()
            gen = Generator(plan.gen.bindings, Logic("and", (*where, *keep)) if len(where) + len(keep) > 1
                            else keep[0])
            req.new_forall = generator_text(gen)
            req.new_expr = c.expr
            final["constraints"][pos] = {**final["constraints"][pos], "forall": req.new_forall}
        return req

    rewritten: list[Node] = []
    several = len(plan.parts) > 1
    for k, part in enumerate(plan.parts, 1):
        for s, m in zip(part.slacks, part.big_m, strict=True):
            big_m[s] = m
        deltas = []
        for key, env in zip(plan.keys, plan.envs, strict=True):
            vals = [value(s, key) for s in part.slacks]
            for v, m, assumed in zip(vals, part.big_m, part.assumed, strict=True):
                if assumed and v >= m * (1 - 1e-9):
                    notes.append(f"{_label(c.name, key)} moved by the largest amount considered ({_fmt(m)}); "
                                 "larger moves were not explored")
            if part.norm.op == "<=":
                delta = vals[0]
            elif part.norm.op == ">=":
                delta = -vals[0]
            else:
                delta = vals[0] - vals[1]
            delta = _clean(delta)
            deltas.append(delta)
            if delta == 0:
                continue
            suffix = f" (part {k})" if several else ""
            label = _label(c.name, key) if plan.index is not None else c.name + (" (every instance)" if key else "")
            req.changes.append(_change(part.orig, delta, key, env, model, grounder, label + suffix))
            if plan.index is None:
                break  # one slack serves every instance: report it once
        rewritten.append(_rewrite(plan, part, deltas, model, grounder, final, names, sm.data["sets"], req,
                                  f"_{k}" if several else ""))
    if not req.changes:
        return None
    req.total = _clean(sum(ch.amount for ch in req.changes))
    expr = rewritten[0] if len(rewritten) == 1 else Logic("and", tuple(rewritten))
    req.new_expr = to_text(expr)
    req.new_forall = generator_text(plan.gen) if plan.gen is not None else ""
    final["constraints"][pos] = {**final["constraints"][pos], "forall": req.new_forall, "expr": req.new_expr}
    return req


def _exclude(gen: Generator, key: tuple) -> Node:
    """The filter that leaves the instance `key` out."""
    tests = [Compare("==", Name(b.var), Str(k) if isinstance(k, str) else Num(k))
             for b, k in zip(gen.bindings, key, strict=True)]
    if len(tests) == 1:
        return Compare("!=", tests[0].left, tests[0].right)
    return Unary("not", Logic("and", tuple(tests)))


def _rewrite(plan: _Plan, part: _Part, deltas: list[float], model: CompiledModel, grounder: Grounder,
             final: dict, names: _Names, made_sets: list[dict], req: RelaxedRequirement, suffix: str) -> Node:
    """The part as the relaxed IR states it: new constant sides where there is one, else fixed shifts."""
    p = part.orig
    if not any(deltas):
        return p
    left_const, right_const = not _has_variables(p.left, model), not _has_variables(p.right, model)
    uniform = plan.index is None or len(plan.keys) == 1
    if uniform:
        delta = deltas[0]
        env = plan.envs[0]
        if right_const and (plan.gen is None or not _uses_loop_vars(p.right, plan.gen)):
            return Compare(p.op, p.left, _number(grounder.eval(p.right, env) + delta))
        if left_const and not right_const and (plan.gen is None or not _uses_loop_vars(p.left, plan.gen)):
            return Compare(p.op, _number(grounder.eval(p.left, env) - delta), p.right)
        return Compare(p.op, p.left, BinOp("+" if delta > 0 else "-", p.right, _number(abs(delta))))
    # One number per instance: a new parameter holding the shifts (0 where nothing moves).
    assert plan.gen is not None and plan.index is not None
    param = names.fresh(f"{plan.name}_shift{suffix}")
    made = {x["name"]: x for x in made_sets}
    for s in plan.index:
        if s not in {x["name"] for x in final["sets"]}:
            final["sets"].append(made[s])
    elements = {x["name"]: x["elements"] for x in final["sets"]}
    table: dict = {}
    for key in itertools.product(*(elements[s] for s in plan.index)):
        _put(table, key, 0)
    for key, d in zip(plan.keys, deltas, strict=True):
        _put(table, key, d)
    final["parameters"].append({"name": param, "index": plan.index, "value": table,
                                "description": f"how far the right-hand side of {plan.name} moves"})
    req.parameters[param] = table
    ref = _parse(plan.ref(param))
    return Compare(p.op, p.left, BinOp("+", p.right, ref))


def _put(table: dict, key: tuple, value: float) -> None:
    node = table
    for k in key[:-1]:
        node = node.setdefault(str(k), {})
    node[str(key[-1])] = value


def _uses_loop_vars(node: Node, gen: Generator) -> bool:
    loop = {b.var for b in gen.bindings}
    return any(isinstance(n, Name) and n.id in loop for n in walk(node))


def _change(p: Compare, delta: float, key: tuple, env: dict, model: CompiledModel, grounder: Grounder,
            instance: str) -> Change:
    """Words for one move: the right-hand side of `p` moves by `delta` (positive: up)."""
    left_const, right_const = not _has_variables(p.left, model), not _has_variables(p.right, model)
    amount = abs(delta)
    sign = f"{'+' if delta > 0 else '-'}{_fmt(amount)}"
    ch = Change(instance=instance, key=list(key), action="", amount=amount, delta=delta)
    op = p.op.rstrip("=") or "=="
    if right_const or left_const:
        side = p.right if right_const else p.left
        old = float(grounder.eval(side, env))
        new = _clean(old + delta if right_const else old - delta)
        ch.old_value, ch.new_value, ch.side = _clean(old), new, to_text(_substitute(side, env))
        # A constant on the right of <= (or the left of >=) caps the other side: a limit, raised; on the
        # other side it is a minimum, lowered.
        limit = (op == "<") == right_const
        if op == "==":
            ch.action, what = "change", "the required value"
        elif limit:
            ch.action, what = "raise", "the limit"
        else:
            ch.action, what = "lower", "the minimum"
        named = "" if isinstance(side, Num) else f" {ch.side}"
        verb = {"change": "change", "raise": "raise", "lower": "lower"}[ch.action]
        ch.text = f"{verb} {what}{named} from {_fmt(old)} to {_fmt(new)} ({sign})"
        return ch
    left, right = to_text(_substitute(p.left, env)), to_text(_substitute(p.right, env))
    ch.side = right
    if op == "<":
        ch.action, ch.text = "exceed", f"allow {left} to exceed {right} by {_fmt(amount)}"
    elif op == ">":
        ch.action, ch.text = "fall short", f"allow {left} to fall short of {right} by {_fmt(amount)}"
    else:
        ch.action, ch.text = "differ", f"let {left} equal {right} {sign[0]} {_fmt(amount)}"
    return ch


# ----------------------------------------------------------------------------- small helpers


def _table_text(table: dict, prefix: str = "") -> str:
    """Only the nonzero entries of a shift table: 'stout: -50'."""
    items = []
    for k, v in table.items():
        if isinstance(v, dict):
            inner = _table_text(v, f"{prefix}{k}, ")
            if inner != "0 everywhere":
                items.append(inner)
        elif v:
            items.append(f"{prefix}{k}: {_fmt(v)}")
    return "; ".join(items) or "0 everywhere"


def _substitute(node: Node, env: dict) -> Node:
    """The expression with loop variables replaced by this instance's elements, to show one instance."""
    if isinstance(node, Name) and not node.indices and node.id in env:
        v = env[node.id]
        return Str(v) if isinstance(v, str) else Num(v)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        val = getattr(node, f.name)
        if isinstance(val, Node):
            changes[f.name] = _substitute(val, env)
        elif isinstance(val, tuple):
            changes[f.name] = tuple(_substitute(x, env) if isinstance(x, Node) else x for x in val)
    return dataclasses.replace(node, **changes) if changes else node


def _label(name: str, key: tuple) -> str:
    return f"{name}[{', '.join(str(k) for k in key)}]" if key else name


def _clean(x: float) -> float:
    """Solver noise off (HiGHS's feasibility tolerance is 1e-7): 19.99999999 -> 20, 37.50000001 -> 37.5."""
    x = float(x)
    tol = 1e-7 * max(1.0, abs(x))
    if abs(x - round(x)) <= tol:
        return float(round(x))
    r = round(x, 6)
    return r if abs(x - r) <= tol else x


def _number(x: float) -> Num:
    x = _clean(x)
    return Num(int(x) if x.is_integer() and abs(x) < 1e15 else x)


def _fmt(x: float) -> str:
    x = _clean(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.8g}"


def _quote_text(text: str) -> str:
    return f"«{text.strip()}»" if text.strip() else ""


def _quote(c: Any, fallback: bool = True) -> str:
    """The sentence a constraint came from; its label or name when it has none."""
    if _quote_text(c.source):
        return _quote_text(c.source)
    return f"«{c.label or c.name}»" if fallback else ""


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for i in items:
        if i and i not in seen:
            seen.append(i)
    return seen


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


__all__ = ["Change", "ConflictEntry", "InfeasibilityExplanation", "RelaxedRequirement", "Relaxation",
           "explain_bounds", "explain_infeasibility"]
