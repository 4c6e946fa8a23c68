"""The SMT target: z3, for everything the IR can say (non-linear arithmetic, logic, labels).

Every ground constraint instance is asserted behind a Boolean named by its label ("cover[mon]"),
so an infeasible model comes back as the IR constraints that clash, not as solver internals.
z3's arithmetic is exact: integer variables are `Int`, continuous ones `Real`, and `/` is always
real division (z3's `Int / Int` would truncate, the checker's 7/2 is 3.5).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from formalizers.expr import BinOp
from formalizers.ground import Grounder, GroundError, is_const
from formalizers.semantics import CompiledModel
from solvers.backend import Stopwatch, conflict_items, error_result
from solvers.mus import ExplainAborted, deletion_filter
from solvers.result import SolveResult, Status, tail
from solvers.values import nest_values

NAME = "smt"
# z3's `timeout` is not honoured by every tactic (non-linear arithmetic can overrun it): always a
# forked, hard-limited child.
EXPLAIN_STOPS_AT_LIMIT = False


def stops_at_limit(model: CompiledModel) -> bool:
    """Never trusted to stop by itself (see above): solvers.solve forks."""
    return False
CONFLICT_METHOD = "z3 unsat core (core.minimize) checked by a deletion filter over IR names"


def unsupported(model: CompiledModel) -> list[str]:
    """z3 takes every construct of the IR (non-linear and logical ones included)."""
    return []


# ----------------------------------------------------------------------------- algebra

class _Z3Algebra:
    """z3 terms for the grounder: operators do the arithmetic, this does the rest."""

    def __init__(self, model: CompiledModel) -> None:
        import z3

        self.z3 = z3
        self.vars: dict[tuple[str, tuple], Any] = {}
        self.domain: list[Any] = []  # hard: bounds and label sets
        for name, var in model.variables.items():
            domain = var.ir.domain
            for key in var.keys:
                label = f"{name}[{', '.join(map(str, key))}]" if key else name
                if domain == "boolean":
                    v = z3.Bool(label)
                elif domain == "continuous":
                    v = z3.Real(label)
                else:
                    v = z3.Int(label)
                self.vars[(name, key)] = v
                if domain == "boolean":
                    continue
                lower, upper = model.var_bounds(var)
                if var.label_set:
                    codes = sorted(model.label_code(var.label_set, e) for e in model.sets[var.label_set])
                    if codes != list(range(codes[0], codes[-1] + 1)):
                        self.domain.append(z3.Or([v == c for c in codes]))
                if lower is not None:
                    self.domain.append(v >= _const(lower))
                if upper is not None:
                    self.domain.append(v <= _const(upper))

    # Conversions -------------------------------------------------------------
    def num(self, a: Any) -> Any:
        """An arithmetic term: a Boolean counts as 0/1 (as the checker reads it)."""
        z3 = self.z3
        if isinstance(a, bool):
            return z3.IntVal(int(a))
        if z3.is_bool(a):
            return z3.If(a, z3.IntVal(1), z3.IntVal(0))
        return a

    def real(self, a: Any) -> Any:
        z3 = self.z3
        if is_const(a):
            return z3.RealVal(_const(a))
        a = self.num(a)
        return z3.ToReal(a) if z3.is_int(a) else a

    def terms(self, items: list) -> list:
        """z3 terms of one sort; z3.Sum/Distinct would otherwise cast 2.5 to an Int 2."""
        z3 = self.z3
        real = any((isinstance(i, float) and not i.is_integer())
                   or (not is_const(i) and z3.is_real(i)) for i in items)
        if real:
            return [self.real(i) for i in items]
        return [z3.IntVal(int(i)) if is_const(i) else self.num(i) for i in items]

    # Algebra -----------------------------------------------------------------
    def var(self, name: str, key: tuple) -> Any:
        return self.vars[(name, key)]

    def and_(self, items: list) -> Any:
        return self.z3.And(*items)

    def or_(self, items: list) -> Any:
        return self.z3.Or(*items)

    def not_(self, item: Any) -> Any:
        return self.z3.Not(item)

    def implies(self, a: Any, b: Any) -> Any:
        return self.z3.Implies(a, b)

    def iff(self, a: Any, b: Any) -> Any:
        return a == b

    def compare(self, op: str, a: Any, b: Any) -> Any:
        z3 = self.z3
        boolean = [isinstance(x, bool) or (not is_const(x) and z3.is_bool(x)) for x in (a, b)]
        if all(boolean):
            a = z3.BoolVal(a) if isinstance(a, bool) else a
            return (a == b) if op == "==" else z3.Not(a == b)
        if any(boolean):  # a Boolean compared with a number counts as 0/1
            a, b = self.terms([a, b])
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
        if op == "==":
            return a == b
        return a != b

    def abs_(self, a: Any) -> Any:
        a = self.num(a)
        return self.z3.If(a >= 0, a, -a)

    def min_(self, items: list) -> Any:
        return self._fold(items, lambda x, y: x <= y)

    def max_(self, items: list) -> Any:
        return self._fold(items, lambda x, y: x >= y)

    def _fold(self, items: list, keep_left: Any) -> Any:
        terms = self.terms(items)
        out = terms[0]
        for t in terms[1:]:
            out = self.z3.If(keep_left(out, t), out, t)
        return out

    def alldifferent(self, items: list) -> Any:
        terms = self.terms(items)
        return self.z3.Distinct(*terms) if len(terms) > 1 else self.z3.BoolVal(True)


class _Z3Grounder(Grounder):
    """The grounder with z3's division fixed to real division, and its denominators kept non-zero."""

    def __init__(self, model: CompiledModel, algebra: _Z3Algebra) -> None:
        super().__init__(model, algebra)
        self.z3alg = algebra
        self.side: list[Any] = []  # conditions the last evaluations need (denominator != 0)

    def _arith(self, node: BinOp, a: Any, b: Any) -> Any:
        if node.op == "/" and not (is_const(a) and is_const(b)):
            if is_const(b):
                if b == 0:
                    raise GroundError(f"column {node.col}: division by zero")
            else:
                # z3 leaves x/0 unspecified; the checker rejects a zero denominator outright.
                self.side.append(self.z3alg.num(b) != 0)
            return self.z3alg.real(a) / self.z3alg.real(b)
        return super()._arith(node, a, b)


# ----------------------------------------------------------------------------- building

@dataclass
class _Built:
    algebra: _Z3Algebra
    instances: list[tuple[str, Any]]  # (label, z3 Boolean) in model order
    objective: Any = None  # z3 term, a constant, or None
    hard: list[Any] = field(default_factory=list)  # bounds, domains, objective side conditions


def _build(model: CompiledModel) -> _Built:
    import z3

    alg = _Z3Algebra(model)
    g = _Z3Grounder(model, alg)
    by_label: dict[str, list[Any]] = {}  # a split conjunction ("a <= x <= b") shares one label
    for inst in g.all_instances():
        g.side = []
        value = g.eval(inst.node, inst.env)
        if isinstance(value, bool):
            if value and not g.side:
                continue  # holds whatever the variables are
            value = z3.BoolVal(value)
        by_label.setdefault(inst.label, []).extend([value, *g.side])
    # z3 refuses a second assertion tracked by the same name, so each label gets one conjunction
    instances = [(label, parts[0] if len(parts) == 1 else z3.And(*parts)) for label, parts in by_label.items()]
    built = _Built(alg, instances, hard=list(alg.domain))
    if model.objective is not None:
        g.side = []
        built.objective = g.eval(model.objective, {})
        built.hard += g.side
    return built


def _make_solver(model: CompiledModel, built: _Built, *, optimize: bool) -> tuple[Any, Any]:
    """A z3 Optimize/Solver with hard bounds and each instance tracked by its label.

    Returns the solver and the objective handle (None without an objective)."""
    import z3

    s = z3.Optimize() if optimize else z3.Solver()
    for h in built.hard:
        s.add(h)
    for label, expr in built.instances:
        s.assert_and_track(expr, z3.Bool(label))
    handle = None
    if optimize and not is_const(built.objective):
        obj = built.algebra.num(built.objective)
        handle = s.minimize(obj) if model.sense == "minimize" else s.maximize(obj)
    return s, handle


def render(model: CompiledModel) -> str:
    """SMT-LIB2 text; each instance is `(assert (=> |label| ...))` so names stay visible."""
    import z3

    built = _build(model)
    optimize = model.objective is not None and not is_const(built.objective)
    s, _ = _make_solver(model, built, optimize=optimize)
    counts: dict[str, int] = {}
    for label, _ in built.instances:
        name = label.split("[", 1)[0]
        counts[name] = counts.get(name, 0) + 1
    header = [
        f"; modelwright: '{model.ir.name}' for z3 {z3.get_version_string()} (SMT-LIB2)",
        "; each constraint instance is asserted behind a Boolean named by its label;",
        "; check-sat-assuming all of them; get-unsat-core names the clashing ones",
    ]
    header += [f";   {c.name}: {counts.get(c.name, 0)} tracked instance(s)" for c in model.constraints]
    if model.objective is not None:
        header.append(f"; objective: {model.sense} {model.ir.objective.expr if model.ir.objective else ''}")
    text = s.sexpr().replace("(check-sat)\n", "")
    names = [z3.Bool(label).sexpr() for label, _ in built.instances]
    lines = [" ".join(names[i:i + 8]) for i in range(0, len(names), 8)]
    text += "(check-sat-assuming (" + "\n                     ".join(lines) + "))\n"
    return ("\n".join(header) + "\n(set-option :produce-unsat-cores true)\n" + text
            + "(get-model)\n; after unsat: (get-unsat-core)\n")


# ----------------------------------------------------------------------------- values

def _number(value: Any) -> float:
    """A z3 numeral (integer, rational, algebraic or Boolean) as a float."""
    import z3

    if z3.is_true(value):
        return 1.0
    if z3.is_false(value):
        return 0.0
    if z3.is_int_value(value):
        return float(value.as_long())
    if z3.is_rational_value(value):
        return float(Fraction(value.numerator_as_long(), value.denominator_as_long()))
    if z3.is_algebraic_value(value):
        return _number(value.approx(20))
    raise ValueError(f"z3 returned a non-numeric value {value}")


def _infinite(value: Any) -> bool:
    """Is an objective bound of z3's Optimize infinite (`oo`, `(* (- 1) oo)`, `(+ oo epsilon)`)?"""
    import z3

    if z3.is_int_value(value) or z3.is_rational_value(value) or z3.is_algebraic_value(value):
        return False  # the sexpr of an algebraic number, (root-obj ...), also contains "oo"
    return "oo" in re.findall(r"[\w.-]+", value.sexpr())


def _read(model: CompiledModel, built: _Built, zmodel: Any) -> tuple[dict[str, Any], float | None]:
    flat = {k: _number(zmodel.eval(v, model_completion=True)) for k, v in built.algebra.vars.items()}
    objective = None
    if model.objective is not None:
        obj = built.objective
        objective = float(obj) if is_const(obj) else _number(
            zmodel.eval(built.algebra.num(obj), model_completion=True))
    return nest_values(model, flat), objective


# ----------------------------------------------------------------------------- solving

def solve(model: CompiledModel, *, time_limit: float = 30.0, explain: bool = True) -> SolveResult:
    """Optimize (or check) with z3; an unsat model comes back with its minimal named conflict."""
    import z3

    sw = Stopwatch()
    result = SolveResult(status=Status.ERROR, target=NAME, solver="z3",
                         solver_version=z3.get_version_string())
    try:
        with sw.lap("build"):
            built = _build(model)
    except GroundError as e:
        out = error_result(NAME, f"grounding failed: {e}")
        out.solver, out.solver_version = result.solver, result.solver_version
        return out
    optimize = model.objective is not None and not is_const(built.objective)
    s, handle = _make_solver(model, built, optimize=optimize)
    s.set("timeout", max(1, int(time_limit * 1000)))
    with sw.lap("solve"):
        answer = s.check()
    try:
        result.log_tail = tail(str(s.statistics()))
    except z3.Z3Exception:
        pass

    if answer == z3.sat:
        zmodel = s.model()
        if handle is not None:
            bound = s.upper(handle) if model.sense == "maximize" else s.lower(handle)
            if _infinite(bound):
                result.status = Status.UNBOUNDED
                way = "large" if model.sense == "maximize" else "small"
                result.message = f"the objective can be made arbitrarily {way}"
                result.seconds, result.timings = sw.total, sw.timings
                return result
        result.values, result.objective = _read(model, built, zmodel)
        result.status = Status.OPTIMAL if model.objective is not None else Status.FEASIBLE
    elif answer == z3.unsat:
        result.status = Status.INFEASIBLE
        if explain:
            with sw.lap("explain"):
                _explain(model, built, result, deadline=time.monotonic() + 2 * time_limit)
    else:
        reason = s.reason_unknown()
        result.status, result.message = _unknown(model, built, s, reason, result)
    result.seconds, result.timings = sw.total, sw.timings
    return result


def _unknown(model: CompiledModel, built: _Built, s: Any, reason: str,
             result: SolveResult) -> tuple[Status, str]:
    """z3 gave up: keep an incumbent of Optimize that satisfies everything as FEASIBLE, else
    TIMEOUT (the time ran out) or ERROR (z3 is incomplete here, e.g. non-linear real arithmetic)."""
    import z3

    timed_out = any(w in reason for w in ("timeout", "canceled", "cancelled", "resource"))
    try:
        zmodel = s.model()
        everything = [*built.hard, *(expr for _, expr in built.instances)]
        holds = len(zmodel) > 0 and all(z3.is_true(zmodel.eval(e, model_completion=True)) for e in everything)
        if holds:
            result.values, result.objective = _read(model, built, zmodel)
            return Status.FEASIBLE, f"z3 stopped ({reason}) with a solution not proven optimal"
    except (z3.Z3Exception, ValueError):
        pass
    if timed_out:
        return Status.TIMEOUT, f"z3 stopped: {reason}"
    return Status.ERROR, f"z3 returned unknown: {reason}"


def _explain(model: CompiledModel, built: _Built, result: SolveResult, *, deadline: float) -> None:
    """Unsat core over instance labels, then a deletion filter so no IR name in it is superfluous."""
    import z3

    s = z3.Solver()
    s.set("core.minimize", True)
    for h in built.hard:
        s.add(h)
    lits: dict[str, Any] = {}
    by_name: dict[str, list[str]] = {}
    for label, expr in built.instances:
        lits[label] = z3.Bool(label)
        by_name.setdefault(label.split("[", 1)[0], []).append(label)
        s.add(z3.Implies(lits[label], expr))
    by_lit = {str(p.decl().name()): label for label, p in lits.items()}

    def check(labels: list[str]) -> Any:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ExplainAborted("the explanation ran out of time")
        s.set("timeout", max(1, int(left * 1000)))
        return s.check(*[lits[lb] for lb in labels])

    def consistent(names: list[str]) -> bool:
        answer = check([lb for n in names for lb in by_name[n]])
        if answer == z3.unknown:
            raise ExplainAborted(f"z3: {s.reason_unknown()}")
        return answer == z3.sat

    result.conflict_method = CONFLICT_METHOD
    try:
        if check(list(lits)) != z3.unsat:
            result.message = "the unsat core could not be computed: " + s.reason_unknown()
            return
        core = [by_lit[p.decl().name()] for p in s.unsat_core()]
    except ExplainAborted as e:
        result.message = f"no conflict: {e}"
        return
    names, _ = conflict_items(model, core)
    if not names:  # bounds or domains alone are contradictory
        result.conflict_minimal = True
        result.message = "the variable bounds or label sets alone are contradictory"
        return
    try:
        minimal = deletion_filter(names, consistent)
        if minimal != names and check([lb for n in minimal for lb in by_name[n]]) == z3.unsat:
            core = [by_lit[p.decl().name()] for p in s.unsat_core()]  # instances within the kept names
        result.conflict_minimal = True
        names = minimal
    except ExplainAborted as e:
        result.conflict_minimal = False
        result.message = f"the conflict may not be minimal: {e}"
    keep = set(names)
    result.conflict, result.conflict_detail = conflict_items(
        model, [lb for lb in core if lb.split("[", 1)[0] in keep])


def _const(x: float) -> int | float:
    return int(x) if float(x).is_integer() and math.isfinite(x) else x
