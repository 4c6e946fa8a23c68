"""The CP-SAT target: OR-Tools' integer solver, for integral models with logic and global constraints.

Logic is compiled to literals: a comparison under `or`/`->`/`not` is reified into a Boolean, and
a top-level instance is added directly, enforced by a literal when an explanation is wanted. Each
instance's literal is an assumption named by its label ("cover[mon]"), so an infeasible model
comes back as the IR constraints that clash, shrunk with QuickXplain to a minimal set.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from formalizers.expr import BinOp
from formalizers.ground import Grounder, GroundError, is_const
from formalizers.semantics import CompiledModel, integral_problems
from solvers.backend import Stopwatch, conflict_items
from solvers.mus import ExplainAborted, quickxplain
from solvers.result import SolveResult, Status, tail
from solvers.values import nest_values

NAME = "cpsat"
# CP-SAT honours max_time_in_seconds in its search, but building the model (and the re-solves that
# widen artificial bounds) is Python with no deadline: solvers.solve runs it in a forked child.
EXPLAIN_STOPS_AT_LIMIT = False


def stops_at_limit(model: CompiledModel) -> bool:
    """Never trusted to stop by itself (see above): solvers.solve forks."""
    return False
# CP-SAT needs finite domains: a variable with no bound gets this one instead. Unboundedness is then
# detected by re-solving with wider artificial bounds (see _widen), since CP-SAT cannot prove it.
BIG = 10**9
WIDER = (10**12, 10**15)
CAP = 4 * 10**18  # domains of helper variables stay inside int64
CONFLICT_METHOD = "CP-SAT sufficient assumptions, shrunk by QuickXplain over IR names"


def unsupported(model: CompiledModel) -> list[str]:
    """Continuous variables, fractional data and division; products of variables are supported."""
    return integral_problems(model)


# ----------------------------------------------------------------------------- formulas

class _F:
    """A Boolean formula waiting for its context: enforced at top level, or reified into a literal.

    op: "lit" (a CP-SAT literal), "cmp" (op, lhs, rhs), "and"/"or" (items), "not" (item),
    "implies"/"iff" (a, b), "alldiff" (expressions).
    """

    __slots__ = ("op", "args")

    def __init__(self, op: str, *args: Any) -> None:
        self.op = op
        self.args = args

    def __repr__(self) -> str:
        return f"_F({self.op}, {self.args!r})"


_NEGATED_CMP = {"<=": ">=", ">=": "<=", "==": "!=", "!=": "=="}


class _CpAlgebra:
    """CP-SAT terms for the grounder, and the compilation of formulas into constraints."""

    def __init__(self, model: CompiledModel, cp: Any, big: int) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp
        self.vars: dict[tuple[str, tuple], Any] = {}
        self.boolean: set[tuple[str, tuple]] = set()
        # (lower is artificial, upper is artificial) for variables without a declared bound
        self.artificial: dict[tuple[str, tuple], tuple[bool, bool]] = {}
        self._domains: dict[int, tuple[int, int]] = {}
        self._reified: dict[int, tuple[_F, Any]] = {}
        for name, var in model.variables.items():
            domain = var.ir.domain
            for key in var.keys:
                label = f"{name}[{', '.join(map(str, key))}]" if key else name
                if domain in ("binary", "boolean"):
                    v = cp.new_bool_var(label)
                    if domain == "boolean":
                        self.boolean.add((name, key))
                elif var.label_set:
                    codes = [model.label_code(var.label_set, e) for e in model.sets[var.label_set]]
                    v = cp.new_int_var_from_domain(cp_model.Domain.from_values(codes), label)
                else:
                    v = self._int_var(name, key, label, var.lower, var.upper, big)
                self.vars[(name, key)] = v

    @property
    def has_artificial(self) -> bool:
        return any(lo or hi for lo, hi in self.artificial.values())

    def _int_var(self, name: str, key: tuple, label: str, lower: float | None, upper: float | None,
                 big: int) -> Any:
        lo = math.ceil(lower) if lower is not None else None
        hi = math.floor(upper) if upper is not None else None
        self.artificial[(name, key)] = (lo is None, hi is None)
        if lo is None:
            lo = min(hi if hi is not None else 0, 0) - big
        if hi is None:
            hi = max(lo, 0) + big
        if lo > hi:  # integer bounds with no integer between them, e.g. [0.2, 0.8]
            v = self.cp.new_int_var(lo, lo, label)
            self.cp.add_bool_or([]).with_name(f"bounds of {label}")
            return v
        return self.cp.new_int_var(lo, hi, label)

    # Terms -------------------------------------------------------------------
    def num(self, a: Any) -> Any:
        """A linear term; a formula used as a number is its 0/1 literal."""
        if isinstance(a, bool):
            return int(a)
        if isinstance(a, _F):
            return self.reify(a)
        return a

    def bounds(self, e: Any) -> tuple[int, int]:
        """Interval bounds of a linear expression from its variables' domains."""
        if isinstance(e, int):
            return e, e
        from ortools.sat.python import cp_model_helper

        flat = cp_model_helper.FlatIntExpr(e)
        lo = hi = flat.offset
        for v, c in zip(flat.vars, flat.coeffs, strict=True):
            vlo, vhi = self.domain(v)
            lo += min(c * vlo, c * vhi)
            hi += max(c * vlo, c * vhi)
        return lo, hi

    def domain(self, v: Any) -> tuple[int, int]:
        if v.index not in self._domains:
            d = list(v.proto.domain)
            self._domains[v.index] = (d[0], d[-1])
        return self._domains[v.index]

    def aux(self, lo: int, hi: int) -> Any:
        return self.cp.new_int_var(max(-CAP, lo), min(CAP, hi), "")

    # Algebra -----------------------------------------------------------------
    def var(self, name: str, key: tuple) -> Any:
        v = self.vars[(name, key)]
        return _F("lit", v) if (name, key) in self.boolean else v

    def and_(self, items: list) -> _F:
        return _F("and", *items)

    def or_(self, items: list) -> _F:
        return _F("or", *items)

    def not_(self, item: Any) -> _F:
        return _F("not", item)

    def implies(self, a: Any, b: Any) -> _F:
        return _F("implies", a, b)

    def iff(self, a: Any, b: Any) -> _F:
        return _F("iff", a, b)

    def compare(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, _F) or isinstance(b, _F):  # truth values: only == and != type-check
            if isinstance(a, bool):
                a, b = b, a
            if isinstance(b, bool):
                return a if (op == "==") == b else _F("not", a)
            f = _F("iff", a, b)
            return f if op == "==" else _F("not", f)
        a, b = self.num(a), self.num(b)
        if is_const(a) and is_const(b):
            return {"<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b}[op]
        return _F("cmp", op, a, b)

    def abs_(self, a: Any) -> Any:
        a = self.num(a)
        lo, hi = self.bounds(a)
        t = self.aux(0 if lo <= 0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
        self.cp.add_abs_equality(t, a)
        return t

    def min_(self, items: list) -> Any:
        exprs = [self.num(i) for i in items]
        bs = [self.bounds(e) for e in exprs]
        t = self.aux(min(b[0] for b in bs), min(b[1] for b in bs))
        self.cp.add_min_equality(t, exprs)
        return t

    def max_(self, items: list) -> Any:
        exprs = [self.num(i) for i in items]
        bs = [self.bounds(e) for e in exprs]
        t = self.aux(max(b[0] for b in bs), max(b[1] for b in bs))
        self.cp.add_max_equality(t, exprs)
        return t

    def product(self, a: Any, b: Any) -> Any:
        """x * y through a helper variable: CP-SAT's linear API has no products of variables."""
        a, b = self.num(a), self.num(b)
        (alo, ahi), (blo, bhi) = self.bounds(a), self.bounds(b)
        corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
        t = self.aux(min(corners), max(corners))
        self.cp.add_multiplication_equality(t, [a, b])
        return t

    def alldifferent(self, items: list) -> _F:
        return _F("alldiff", *[self.num(i) for i in items])

    # Formulas into constraints --------------------------------------------------
    def enforce(self, f: Any, enforced_by: list) -> None:
        """Add `f` so that it must hold whenever every literal of `enforced_by` is true."""
        cp = self.cp
        if isinstance(f, bool):
            if not f:
                self._when(cp.add_bool_or([]), enforced_by)
            return
        op, args = f.op, f.args
        if op == "lit":
            self._when(cp.add_bool_or([args[0]]), enforced_by)
        elif op == "cmp":
            self._when(cp.add(_linear(*args)), enforced_by)
        elif op == "and":
            for item in args:
                self.enforce(item, enforced_by)
        elif op == "or":
            self._when(cp.add_bool_or([self.implied(i) for i in args]), enforced_by)
        elif op == "not":
            self.enforce(self.negate(args[0]), enforced_by)
        elif op == "implies":
            # a literal that a implies: the negation of one that implies not-a
            self.enforce(args[1], enforced_by + [~self.implied(self.negate(args[0]))])
        elif op == "iff":
            la, lb = self.reify(args[0]), self.reify(args[1])
            self._when(cp.add_bool_or([~la, lb]), enforced_by)
            self._when(cp.add_bool_or([la, ~lb]), enforced_by)
        elif op == "alldiff":
            self._when(cp.add_all_different(list(args)), enforced_by)
        else:  # pragma: no cover - the algebra builds no other kind
            raise ValueError(f"unknown formula {op}")

    @staticmethod
    def _when(constraint: Any, enforced_by: list) -> None:
        if enforced_by:
            constraint.only_enforce_if(enforced_by)

    def implied(self, f: Any) -> Any:
        """A literal that implies `f` (half reification: enough in a positive context)."""
        if isinstance(f, bool):
            return self.cp.new_constant(int(f))
        if f.op == "lit":
            return f.args[0]
        if id(f) in self._reified:
            return self._reified[id(f)][1]
        b = self.cp.new_bool_var("")
        self.enforce(f, [b])
        return b

    def reify(self, f: Any) -> Any:
        """A literal equivalent to `f`."""
        if isinstance(f, bool):
            return self.cp.new_constant(int(f))
        if f.op == "lit":
            return f.args[0]
        if f.op == "not":
            return ~self.reify(f.args[0])
        if id(f) not in self._reified:
            b = self.cp.new_bool_var("")
            self.enforce(f, [b])
            self.enforce(self.negate(f), [~b])
            self._reified[id(f)] = (f, b)  # keep f alive so its id stays unique
        return self._reified[id(f)][1]

    def negate(self, f: Any) -> Any:
        if isinstance(f, bool):
            return not f
        op, args = f.op, f.args
        if op == "lit":
            return _F("lit", ~args[0])
        if op == "cmp":
            cmp, lhs, rhs = args
            if cmp == "<=":
                return _F("cmp", ">=", lhs, rhs + 1)
            if cmp == ">=":
                return _F("cmp", "<=", lhs, rhs - 1)
            return _F("cmp", _NEGATED_CMP[cmp], lhs, rhs)
        if op == "and":
            return _F("or", *[self.negate(i) for i in args])
        if op == "or":
            return _F("and", *[self.negate(i) for i in args])
        if op == "not":
            return args[0]
        if op == "implies":
            return _F("and", args[0], self.negate(args[1]))
        if op == "iff":
            return _F("iff", args[0], self.negate(args[1]))
        if op == "alldiff":
            return _F("or", *[_F("cmp", "==", x, y) for i, x in enumerate(args) for y in args[i + 1:]])
        raise ValueError(f"unknown formula {op}")  # pragma: no cover


def _linear(op: str, lhs: Any, rhs: Any) -> Any:
    if op == "<=":
        return lhs <= rhs
    if op == ">=":
        return lhs >= rhs
    if op == "==":
        return lhs == rhs
    return lhs != rhs


class _CpGrounder(Grounder):
    """The grounder with products of variables as helper variables and integral floats as ints."""

    def __init__(self, model: CompiledModel, algebra: _CpAlgebra) -> None:
        super().__init__(model, algebra)
        self.cpalg = algebra

    def post_eval(self, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)  # CP-SAT takes integer coefficients only (1e+06 parses as a float)
        return value

    def _arith(self, node: BinOp, a: Any, b: Any) -> Any:
        if node.op == "*" and not is_const(a) and not is_const(b):
            return self.cpalg.product(a, b)
        if node.op == "^" and not is_const(a):
            k = int(b)
            if k == 0:
                return 1
            out = a
            for _ in range(k - 1):
                out = self.cpalg.product(out, a)
            return out
        return super()._arith(node, a, b)


# ----------------------------------------------------------------------------- building

@dataclass
class _Built:
    cp: Any
    alg: _CpAlgebra
    objective: Any = None  # linear expression, a constant, or None
    literals: dict[str, Any] = field(default_factory=dict)  # label -> assumption literal
    counts: dict[str, int] = field(default_factory=dict)  # IR name -> ground instances


def _build(model: CompiledModel, *, big: int = BIG, assume: bool = False, objective: bool = True) -> _Built:
    """The CP-SAT model; with `assume`, each instance is enforced by a literal named by its label."""
    from ortools.sat.python import cp_model

    cp = cp_model.CpModel()
    alg = _CpAlgebra(model, cp, big)
    g = _CpGrounder(model, alg)
    built = _Built(cp, alg, counts={c.name: 0 for c in model.constraints})
    for inst in g.all_instances():
        built.counts[inst.name] += 1
        first = len(cp.proto.constraints)
        value = g.eval(inst.node, inst.env)
        enforced_by = []
        if assume:
            if inst.label not in built.literals:
                built.literals[inst.label] = cp.new_bool_var(inst.label)
            enforced_by = [built.literals[inst.label]]
        alg.enforce(value, enforced_by)
        for i in range(first, len(cp.proto.constraints)):
            cp.proto.constraints[i].name = inst.label
    if objective and model.objective is not None:
        obj = alg.num(g.eval(model.objective, {}))
        built.objective = obj
        if not is_const(obj):
            if model.sense == "minimize":
                cp.minimize(obj)
            else:
                cp.maximize(obj)
    return built


def render(model: CompiledModel) -> str:
    """CP-SAT's model proto as text, after a header naming each IR constraint and its instances."""
    import ortools

    built = _build(model)
    lines = [f"# modelwright: '{model.ir.name}' for CP-SAT (OR-Tools {ortools.__version__})",
             "# constraints carry the label of the IR instance they come from",
             "# IR constraint: ground instances"]
    lines += [f"#   {name}: {n}" for name, n in built.counts.items()]
    free = [k for k, (lo, hi) in built.alg.artificial.items() if lo or hi]
    if free:
        lines.append(f"# {len(free)} integer variable(s) lack a bound: CP-SAT gets one {BIG:.0e} beyond "
                     "the other bound (or zero)")
    if model.objective is not None:
        lines.append(f"# objective: {model.sense} {model.ir.objective.expr if model.ir.objective else ''}")
    return "\n".join(lines) + "\n" + str(built.cp.proto)


# ----------------------------------------------------------------------------- solving

def _solver(seconds: float, workers: int, log: list[str] | None = None) -> Any:
    from ortools.sat.python import cp_model

    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = max(0.01, seconds)
    s.parameters.num_workers = workers
    if log is not None:
        s.parameters.log_search_progress = True
        s.parameters.log_to_stdout = False
        s.log_callback = log.append
    return s


def _read(model: CompiledModel, built: _Built, s: Any) -> tuple[dict[str, Any], float | None]:
    flat = {k: float(s.value(v)) for k, v in built.alg.vars.items()}
    objective = None
    if model.objective is not None:
        obj = built.objective
        objective = float(obj) if is_const(obj) else float(s.value(obj))
    return nest_values(model, flat), objective


def _at_artificial_bound(built: _Built, s: Any) -> list[str]:
    out = []
    for (name, key), (lo_art, hi_art) in built.alg.artificial.items():
        v = built.alg.vars[(name, key)]
        lo, hi = built.alg.domain(v)
        value = s.value(v)
        if (lo_art and value == lo) or (hi_art and value == hi):
            out.append(f"{name}[{', '.join(map(str, key))}]" if key else name)
    return out


def solve(model: CompiledModel, *, time_limit: float = 30.0, explain: bool = True) -> SolveResult:
    """Solve with CP-SAT (2 workers); an infeasible model comes back with a minimal named conflict."""
    import ortools
    from ortools.sat.python import cp_model

    sw = Stopwatch()
    base = {"target": NAME, "solver": "cp-sat", "solver_version": ortools.__version__}
    reasons = unsupported(model)
    if reasons:
        return SolveResult(status=Status.ERROR, message="CP-SAT cannot take this model: "
                           + "; ".join(reasons[:6]), **base)
    result = SolveResult(status=Status.ERROR, **base)
    log: list[str] = []
    deadline = time.monotonic() + time_limit
    bigs = (BIG, *WIDER)
    level = 0
    s: Any = None
    # Infeasible with artificial bounds may only mean "needs a value beyond ±BIG": try wider ones.
    for i, big in enumerate(bigs):
        try:
            with sw.lap("build"):
                candidate = _build(model, big=big)
        except GroundError as e:
            return SolveResult(status=Status.ERROR, message=f"grounding failed: {e}", **base)
        invalid = candidate.cp.validate()
        if invalid:
            if i == 0:
                return SolveResult(status=Status.ERROR, message=f"CP-SAT rejected the model: {invalid}", **base)
            break  # wider domains would overflow int64: keep the verdict of the last valid bound
        cs = _solver(time_limit if i == 0 else deadline - time.monotonic(), workers=2, log=log)
        with sw.lap("solve"):
            status = cs.solve(candidate.cp)
        built, s, level = candidate, cs, i
        if status != cp_model.INFEASIBLE or not candidate.alg.has_artificial or time.monotonic() >= deadline:
            break
    result.log_tail = tail("\n".join(log))

    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        result.values, result.objective = _read(model, built, s)
        proven = status == cp_model.OPTIMAL and model.objective is not None
        result.status = Status.OPTIMAL if proven else Status.FEASIBLE
        if proven and _at_artificial_bound(built, s):
            with sw.lap("unbounded check"):
                _widen(model, built, s, result, bigs[level + 1:],
                       deadline=time.monotonic() + max(1.0, time_limit - sw.total))
    elif status == cp_model.INFEASIBLE:
        result.status = Status.INFEASIBLE
        if built.alg.has_artificial:
            result.message = f"integer variables lacking a bound were given one {bigs[level]:.0e} away"
        if explain:
            with sw.lap("explain"):
                _explain(model, result, big=bigs[level], deadline=time.monotonic() + 2 * time_limit)
    elif status == cp_model.MODEL_INVALID:
        result.message = f"CP-SAT rejected the model: {built.cp.validate() or s.solution_info()}"
    else:
        result.status = Status.TIMEOUT
        result.message = f"CP-SAT found no solution within {time_limit:g} s"
    result.seconds, result.timings = sw.total, sw.timings
    return result


def _widen(model: CompiledModel, built: _Built, s: Any, result: SolveResult, wider: tuple[int, ...], *,
           deadline: float) -> None:
    """The optimum sits on an artificial bound: re-solve with wider ones to tell a far optimum from
    an unbounded objective (CP-SAT cannot prove unboundedness itself)."""
    from ortools.sat.python import cp_model

    sign = 1 if model.sense == "maximize" else -1
    best = result.objective
    stuck = _at_artificial_bound(built, s)
    improved = False
    for big in wider:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wide = _build(model, big=big)
        if wide.cp.validate():
            break  # the wider domains would overflow int64
        ws = _solver(left, workers=2)
        if ws.solve(wide.cp) != cp_model.OPTIMAL:
            break
        _, objective = _read(model, wide, ws)
        if objective is None or best is None or sign * (objective - best) <= 0:
            return  # wider bounds do not help: the variables on the bound do not matter
        improved = True
        stuck = _at_artificial_bound(wide, ws)
        if not stuck:  # a genuine optimum beyond the first artificial bound
            result.values, result.objective = _read(model, wide, ws)
            return
        best = objective
    if improved:
        result.status = Status.UNBOUNDED
        result.values, result.objective = {}, None
        result.message = (f"the objective keeps improving as the artificial bounds of unbounded variables "
                          f"widen ({', '.join(stuck[:5])} at the bound): unbounded")
    else:
        result.message = (f"{', '.join(stuck[:5])} sit at the artificial bound of an unbounded "
                          "variable; the model may be unbounded")


def _explain(model: CompiledModel, result: SolveResult, *, big: int, deadline: float) -> None:
    """Sufficient assumptions from CP-SAT, then QuickXplain over IR names to make them minimal."""
    from ortools.sat.python import cp_model

    built = _build(model, big=big, assume=True, objective=False)
    cp, lits = built.cp, built.literals
    label_of = {lit.index: label for label, lit in lits.items()}
    by_name: dict[str, list[str]] = {}
    for label in lits:
        by_name.setdefault(label.split("[", 1)[0], []).append(label)
    holder: dict[str, Any] = {}

    def run(labels: list[str]) -> Any:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ExplainAborted("the explanation ran out of time")
        cp.clear_assumptions()
        cp.add_assumptions([lits[lb] for lb in labels])
        s = _solver(left, workers=1)  # cores come from the single-worker search
        holder["solver"] = s
        return s.solve(cp)

    def core() -> list[str]:
        return [label_of[i] for i in holder["solver"].sufficient_assumptions_for_infeasibility()
                if i in label_of]

    def consistent(names: list[str]) -> bool:
        status = run([lb for n in names for lb in by_name[n]])
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return True
        if status == cp_model.INFEASIBLE:
            return False
        raise ExplainAborted(f"a check ended {cp_model.CpSolver().status_name(status)}")

    result.conflict_method = CONFLICT_METHOD
    try:
        if run(list(lits)) != cp_model.INFEASIBLE:
            result.message = "the conflict could not be computed within the time limit"
            return
        labels = core()
    except ExplainAborted as e:
        result.message = f"no conflict: {e}"
        return
    names, _ = conflict_items(model, labels)
    if not names:
        result.conflict_minimal = True
        result.message = ("infeasible without any named constraint: the variable bounds, label sets or the "
                          f"artificial bound ±{big:.0e} of unbounded variables")
        return
    try:
        minimal = quickxplain(names, consistent)
        if minimal != names and run([lb for n in minimal for lb in by_name[n]]) == cp_model.INFEASIBLE:
            labels = core()
        result.conflict_minimal = True
        names = minimal
    except ExplainAborted as e:
        result.conflict_minimal = False
        result.message = f"the conflict may not be minimal: {e}"
    keep = set(names)
    result.conflict, result.conflict_detail = conflict_items(
        model, [lb for lb in labels if lb.split("[", 1)[0] in keep])


__all__ = ["NAME", "unsupported", "render", "solve"]
