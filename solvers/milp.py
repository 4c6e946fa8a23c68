"""The MILP target: HiGHS in-process, with IIS-based explanations.

Two renderings of one grounding (`formalizers.ground.Grounder`, so every expression means what the
checker says it means):

* `solve` grounds straight into HiGHS rows: a small linear-expression algebra (`_Lin`) collects each
  instance's coefficients, the rows go to `highspy` as one CSR matrix (`passModel`), and HiGHS runs
  in this process. No Pyomo object is built, so a small model costs little more than HiGHS itself
  (see benchmarks/overhead.py).
* `render` builds a Pyomo model (one component per IR constraint, indexed by the instance keys) and
  writes its CPLEX LP text, so names in the text are the IR's.

Explanations work on the loaded `highspy.Highs` object directly (native IIS, or re-solves that only
change row bounds), so nothing is rebuilt per consistency check.

Time limits: HiGHS honours `time_limit` in presolve, simplex, IPM and branch and bound; the grounding
checks the same deadline every few hundred instances. HiGHS's IIS bounds only each inner LP, not its
whole deletion filter, so `solvers.solve` runs an explanation in a forked, hard-limited child.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from formalizers.expr import Aggregate, Node, SetRef
from formalizers.ground import Grounder, GroundError, Instance
from formalizers.semantics import CompiledModel, CompiledVar, linear_problems
from solvers.backend import Stopwatch, TargetUnsupported, conflict_items, error_result
from solvers.mus import ExplainAborted, deletion_filter, quickxplain
from solvers.result import SolveResult, Status, tail
from solvers.values import nest_values

NAME = "milp"
# HiGHS honours `time_limit` and the grounding checks the deadline between instances, so a plain solve
# of a model of moderate size needs no forked child (see stops_at_limit); HiGHS's IIS bounds only each
# of its inner LPs, so an explanation always runs in one.
EXPLAIN_STOPS_AT_LIMIT = False
# Above this many estimated ground terms, one instance (or the objective) may take long enough to
# overrun the limit between two deadline checks: solvers.solve forks (~20 ms, nothing next to it).
IN_PROCESS_MAX_TERMS = 100_000

# HiGHS's default relative MIP gap (1e-4) would let "optimal" objectives differ from the exact
# targets' by more than `solvers.agreement`'s tolerance (1e-6): close the gap to that tolerance.
MIP_REL_GAP = 1e-6
# Verify (and if need be shrink) a native IIS at the IR-name level when it names at most this many
# IR constraints: one LP re-solve per name.
VERIFY_MAX_NAMES = 40
# HiGHS's IIS gets this share of `time_limit` (at least IIS_MIN_SECONDS) before QuickXplain takes over.
# Its time limit bounds each of its inner LP solves, not the whole deletion filter, so it is only
# tried up to IIS_MAX_ROWS rows; QuickXplain over IR names (few LP solves) handles larger models.
IIS_SHARE = 0.25
IIS_MAX_ROWS = 1000
IIS_MIN_SECONDS = 1.0
# The explanation may use this multiple of `time_limit` in all (`solvers.solve` allows 3x + 5 s).
EXPLAIN_BUDGET_FACTOR = 2.0


def unsupported(model: CompiledModel) -> list[str]:
    """Why this model is not a (mixed-integer) linear program; [] when it is one."""
    return linear_problems(model)


def stops_at_limit(model: CompiledModel) -> bool:
    """Does solve(explain=False) stop by itself near time_limit? Yes unless the grounding is large."""
    return estimated_terms(model) <= IN_PROCESS_MAX_TERMS


def estimated_terms(model: CompiledModel) -> int:
    """About how many leaf terms grounding evaluates (ranges with data bounds count 1,000 elements)."""
    if "estimated_terms" not in model.analysis:
        total = _terms(model.objective, model) if model.objective is not None else 0
        for c in model.constraints:
            total += _bindings(c.gen, model) * _terms(c.body, model)
        model.analysis["estimated_terms"] = total
    return model.analysis["estimated_terms"]


def _bindings(gen: Any, model: CompiledModel) -> int:
    if gen is None:
        return 1
    count = 1
    for b in gen.bindings:
        count *= len(model.sets[b.domain.name]) if isinstance(b.domain, SetRef) else 1000
    return count


def _terms(node: Any, model: CompiledModel) -> int:
    if isinstance(node, Aggregate):
        return _bindings(node.gen, model) * _terms(node.body, model)
    children = [v for v in vars(node).values() if isinstance(v, Node)]
    children += [x for v in vars(node).values() if isinstance(v, tuple) for x in v if isinstance(x, Node)]
    return max(1, sum(_terms(child, model) for child in children))


# ------------------------------------------------------------------ Pyomo model (for `render`)


class _PyomoAlgebra:
    """Grounder algebra: Pyomo overloads arithmetic, so only variables and comparisons arrive here."""

    def __init__(self, variables: dict[tuple[str, tuple], Any]) -> None:
        self.variables = variables

    def var(self, name: str, key: tuple) -> Any:
        return self.variables[(name, key)]

    def sum_(self, items: list) -> Any:
        import pyomo.environ as pe

        return pe.quicksum(items)

    def compare(self, op: str, a: Any, b: Any) -> Any:
        a = int(a) if isinstance(a, bool) else a  # `b == true` on a boolean variable
        b = int(b) if isinstance(b, bool) else b
        if op == "<=":
            return a <= b
        if op == ">=":
            return a >= b
        if op == "==":
            return a == b
        raise GroundError(f"'{op}' is not linear")

    def _nonlinear(self, *args: Any) -> Any:
        raise GroundError("logic, abs, min, max and alldifferent are not linear (use a CP or SMT target)")

    and_ = or_ = not_ = implies = iff = abs_ = min_ = max_ = alldifferent = _nonlinear


@dataclass
class _Built:
    """A Pyomo model plus the maps from its pieces back to IR names and instance labels."""

    pm: Any  # pyomo ConcreteModel
    var_key: dict[int, tuple[str, tuple]]  # id(VarData) -> (IR variable, key)
    var_label: dict[int, str]  # id(VarData) -> "make[chair]"
    con_label: dict[int, str]  # id(ConstraintData) -> "cover[mon]" (or "domain of x[k]")
    con_name: dict[int, str | None]  # id(ConstraintData) -> IR name; None for hard helper rows
    false_instances: list[str] = field(default_factory=list)  # labels that folded to False
    row_count: int = 0
    has_objective: bool = False
    integral: bool = False
    objective: Any = None  # the pyomo Objective component

    def objective_value(self) -> float:
        import pyomo.environ as pe

        return float(pe.value(self.objective.expr))


def _free_name(pm: Any, wanted: str, taken: set[str]) -> str:
    """`wanted`, or `wanted_`, … when Pyomo reserves it ("name", "doc", …) or a block method has it."""
    name = wanted
    while name in taken or hasattr(pm, name):
        name += "_"
    taken.add(name)
    return name


def _index(key: tuple) -> Any:
    return key[0] if len(key) == 1 else key


def _label(name: str, key: tuple) -> str:
    return f"{name}[{', '.join(str(k) for k in key)}]" if key else name


def _domain(pe: Any, var: CompiledVar) -> Any:
    if var.ir.domain in ("binary", "boolean"):
        return pe.Binary
    return pe.Integers if var.integral else pe.Reals


def build(model: CompiledModel) -> _Built:
    """Ground the IR into a Pyomo ConcreteModel: one Var per IR variable, one Constraint per IR name."""
    import pyomo.environ as pe

    pm = pe.ConcreteModel(name=model.ir.name)
    taken: set[str] = set()
    variables: dict[tuple[str, tuple], Any] = {}
    var_key: dict[int, tuple[str, tuple]] = {}
    var_label: dict[int, str] = {}
    built = _Built(pm, var_key, var_label, {}, {})
    for var in model.variables.values():
        lo, hi = model.var_bounds(var)
        comp_name = _free_name(pm, var.name, taken)
        if var.index:
            comp = pe.Var([_index(k) for k in var.keys], domain=_domain(pe, var), bounds=(lo, hi),
                          dense=True)
            pm.add_component(comp_name, comp)
            datas = [comp[_index(k)] for k in var.keys]
        else:
            comp = pe.Var(domain=_domain(pe, var), bounds=(lo, hi))
            pm.add_component(comp_name, comp)
            datas = [comp]
        for key, data in zip(var.keys, datas, strict=True):
            variables[(var.name, key)] = data
            var_key[id(data)] = (var.name, key)
            var_label[id(data)] = _label(var.name, key)
        built.integral |= var.integral
        if var.label_set and not _contiguous(model.sets[var.label_set]):
            _add_label_domain(pe, pm, built, var, model.sets[var.label_set], datas, taken)

    grounder = Grounder(model, _PyomoAlgebra(variables))
    by_name: dict[str, list[tuple[Instance, Any]]] = {c.name: [] for c in model.constraints}
    for inst in grounder.all_instances():
        expr = grounder.eval(inst.node, inst.env)
        if expr is True:
            continue
        if expr is False:
            built.false_instances.append(inst.label)
            continue
        by_name[inst.name].append((inst, expr))
    for name, rows in by_name.items():
        if rows:
            _add_constraint(pe, pm, built, name, rows, taken)

    if model.objective is None:
        built.objective = pe.Objective(expr=0, sense=pe.minimize)
    else:
        sense = pe.maximize if model.sense == "maximize" else pe.minimize
        built.objective = pe.Objective(expr=grounder.eval(model.objective, {}), sense=sense)
        built.has_objective = True
    pm.add_component(_free_name(pm, "objective", taken), built.objective)
    return built


def _add_constraint(pe: Any, pm: Any, built: _Built, name: str, rows: list[tuple[Instance, Any]],
                    taken: set[str]) -> None:
    """One component per IR name: scalar, or indexed by the instance keys; a key shared by several
    rows (a chain `a <= x[i] <= b`, a conjunction) gets a running number appended (`c(a_1)`,
    `c(a_2)`), and keys of different lengths fall back to 1..n."""
    keys = [inst.key for inst, _ in rows]
    comp_name = _free_name(pm, name, taken)
    if len(rows) == 1 and not keys[0]:
        comp = pe.Constraint(expr=rows[0][1])
        pm.add_component(comp_name, comp)
        datas = [comp]
    else:
        if len({len(k) for k in keys}) != 1:
            index: list[Any] = list(range(1, len(rows) + 1))
        elif len(set(keys)) == len(keys):
            index = [_index(k) for k in keys]
        else:
            seen: dict[tuple, int] = {}
            index = []
            for k in keys:
                seen[k] = seen.get(k, 0) + 1
                index.append(_index(k + (seen[k],)))
        exprs = dict(zip(index, (e for _, e in rows), strict=True))
        comp = pe.Constraint(index, rule=lambda _m, *k: exprs[_index(k)])
        pm.add_component(comp_name, comp)
        datas = [comp[i] for i in index]
    for (inst, _), data in zip(rows, datas, strict=True):
        built.con_label[id(data)] = inst.label
        built.con_name[id(data)] = name
    built.row_count += len(rows)


def _contiguous(elements: list) -> bool:
    return not elements or max(elements) - min(elements) + 1 == len(elements)


def _add_label_domain(pe: Any, pm: Any, built: _Built, var: CompiledVar, elements: list, datas: list,
                      taken: set[str]) -> None:
    """A label variable over a set of integers with gaps takes one of them: x = sum(e * pick[e])."""
    keys = list(range(len(datas)))
    pick = pe.Var([(i, e) for i in keys for e in elements], domain=pe.Binary)
    pm.add_component(_free_name(pm, f"{var.name}_pick", taken), pick)
    one = pe.Constraint(keys, rule=lambda _m, i: pe.quicksum(pick[i, e] for e in elements) == 1)
    value = pe.Constraint(keys, rule=lambda _m, i: datas[i] == pe.quicksum(e * pick[i, e] for e in elements))
    pm.add_component(_free_name(pm, f"{var.name}_in_set", taken), one)
    pm.add_component(_free_name(pm, f"{var.name}_value", taken), value)
    for i, key in enumerate(var.keys):
        for comp in (one, value):
            built.con_label[id(comp[i])] = f"domain of {_label(var.name, key)}"
            built.con_name[id(comp[i])] = None
        for e in elements:
            built.var_label[id(pick[i, e])] = f"{_label(var.name, key)} = {e}"


# ------------------------------------------------------------------ render


def render(model: CompiledModel) -> str:
    """The CPLEX LP text Pyomo writes (symbolic labels), after a comment header naming the model."""
    import pyomo

    built = build(model)
    with tempfile.TemporaryDirectory(prefix="modelwright-lp-") as tmp:
        path = os.path.join(tmp, "model.lp")
        built.pm.write(path, io_options={"symbolic_solver_labels": True})
        with open(path, encoding="utf-8") as f:
            text = f.read()
    header = [f"\\ modelwright MILP model '{model.ir.name}' (CPLEX LP format, written by Pyomo "
              f"{pyomo.version.version})",
              f"\\ {len(model.variables)} IR variables, {len(model.constraints)} IR constraints, "
              f"{built.row_count} rows"]
    if model.objective is None:
        header.append("\\ no objective: a feasibility problem")
    header += [f"\\ {label} is false whatever the variables: the model is infeasible"
               for label in built.false_instances]
    return "\n".join(header) + "\n" + text


# ------------------------------------------------------------------ HiGHS rows (for `solve`)


class _Lin:
    """A linear expression over HiGHS columns: {column: coefficient} plus a constant.

    The grounder's Python operators build these for `solve`: one dict per term, instead of a Pyomo
    expression tree that would need a second pass (the standard repn) to become a row. Instances are
    never changed after construction, so two of them may share a dict.
    """

    __slots__ = ("terms", "const")

    def __init__(self, terms: dict[int, float], const: float = 0.0) -> None:
        self.terms = terms
        self.const = const

    def __add__(self, other: Any) -> _Lin:
        if isinstance(other, _Lin):
            big, small = (self, other) if len(self.terms) >= len(other.terms) else (other, self)
            terms = dict(big.terms)
            get = terms.get
            for j, c in small.terms.items():
                terms[j] = get(j, 0.0) + c
            return _Lin(terms, self.const + other.const)
        return _Lin(self.terms, self.const + other)

    __radd__ = __add__

    def __neg__(self) -> _Lin:
        return _Lin({j: -c for j, c in self.terms.items()}, -self.const)

    def __sub__(self, other: Any) -> _Lin:
        return self + (-other)

    def __rsub__(self, other: Any) -> _Lin:
        return (-self) + other

    def __mul__(self, other: Any) -> _Lin:
        if isinstance(other, _Lin):
            if self.terms and other.terms:
                raise GroundError("a product of variables is not linear (use a CP or SMT target)")
            return other * self.const if not self.terms else self * other.const
        return _Lin({j: c * other for j, c in self.terms.items()}, self.const * other)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> _Lin:
        if isinstance(other, _Lin):
            if other.terms:
                raise GroundError("division by a variable is not linear (use a CP or SMT target)")
            other = other.const
        if other == 0:
            raise GroundError("division by zero")
        return _Lin({j: c / other for j, c in self.terms.items()}, self.const / other)

    def __rtruediv__(self, other: Any) -> Any:
        if self.terms or self.const == 0:
            raise GroundError("division by a variable is not linear (use a CP or SMT target)")
        return other / self.const


@dataclass(slots=True)
class _Row:
    """`lower <= sum(terms) <= upper` (one bound may be infinite)."""

    terms: dict[int, float]
    lower: float
    upper: float


class _HighsAlgebra:
    """Grounder algebra for `solve`: variables are columns, comparisons are rows."""

    def __init__(self, columns: dict[tuple[str, tuple], int]) -> None:
        self.columns = columns

    def var(self, name: str, key: tuple) -> _Lin:
        return _Lin({self.columns[(name, key)]: 1.0})

    # Grounder hooks for sums of coefficient x variable (Grounder._compile_linear_sum).
    def column(self, name: str, key: tuple) -> int:
        return self.columns[(name, key)]

    def linear(self, terms: dict[int, float]) -> _Lin:
        return _Lin(terms)

    def sum_(self, items: list) -> _Lin:
        terms: dict[int, float] = {}
        get = terms.get
        const = 0.0
        for item in items:
            for j, c in item.terms.items():
                terms[j] = get(j, 0.0) + c
            const += item.const
        return _Lin(terms, const)

    def compare(self, op: str, a: Any, b: Any) -> _Row:
        a = int(a) if isinstance(a, bool) else a  # `b == true` on a boolean variable
        b = int(b) if isinstance(b, bool) else b
        if isinstance(a, _Lin) and not isinstance(b, _Lin):  # the usual `expression op number`
            diff = _Lin(a.terms, a.const - b)
        else:
            diff = a - b
            if not isinstance(diff, _Lin):  # both sides were constants after all
                diff = _Lin({}, diff)
        terms = diff.terms
        if 0.0 in terms.values():  # cancelled terms (x - x): HiGHS warns about explicit zeros
            terms = {j: c for j, c in terms.items() if c != 0.0}
        rhs = -diff.const
        if op == "<=":
            return _Row(terms, -math.inf, rhs)
        if op == ">=":
            return _Row(terms, rhs, math.inf)
        if op == "==":
            return _Row(terms, rhs, rhs)
        raise GroundError(f"'{op}' is not linear")

    def _nonlinear(self, *args: Any) -> Any:
        raise GroundError("logic, abs, min, max and alldifferent are not linear (use a CP or SMT target)")

    and_ = or_ = not_ = implies = iff = abs_ = min_ = max_ = alldifferent = _nonlinear


class _OutOfTime(Exception):
    """Grounding ran past the deadline."""


@dataclass
class _Lp:
    """The grounded model as HiGHS arrays, plus what maps rows and columns back to IR names."""

    col_var: list[tuple[str, tuple] | None] = field(default_factory=list)  # None: a helper column
    col_note: dict[int, str] = field(default_factory=dict)  # helper column -> "w[a] = 3"
    col_lower: list[float] = field(default_factory=list)
    col_upper: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    starts: list[int] = field(default_factory=lambda: [0])
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    row_name: list[str | None] = field(default_factory=list)  # IR constraint; None for helper rows
    row_key: list[Any] = field(default_factory=list)  # instance key, or the helper row's label
    cost: dict[int, float] = field(default_factory=dict)
    offset: float = 0.0
    maximize: bool = False
    has_objective: bool = False
    false_instances: list[str] = field(default_factory=list)  # labels that folded to False

    @property
    def integral(self) -> bool:
        return any(self.integer)

    def add_row(self, terms: dict[int, float], lower: float, upper: float, name: str | None, key: Any) -> None:
        self.index.extend(terms)
        self.value.extend(terms.values())
        self.starts.append(len(self.index))
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        self.row_name.append(name)
        self.row_key.append(key)

    def row_label(self, r: int) -> str:
        name = self.row_name[r]
        return self.row_key[r] if name is None else _label(name, self.row_key[r])

    def col_label(self, j: int) -> str:
        var = self.col_var[j]
        return self.col_note[j] if var is None else _label(*var)

    def rows_by_name(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for r, name in enumerate(self.row_name):
            if name is not None:
                out.setdefault(name, []).append(r)
        return out

    def to_highs(self, highspy: Any) -> Any:
        """A `highspy.HighsLp` holding the rows (row-wise CSR, as `passModel` takes it). Plain lists:
        pybind copies them into HiGHS's vectors directly (numpy arrays cost 3x more on small models
        and nothing less on large ones)."""
        n, m = len(self.col_lower), len(self.row_lower)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        cost = [0.0] * n
        for j, c in self.cost.items():
            cost[j] = c
        lp.col_cost_ = cost
        lp.col_lower_ = self.col_lower
        lp.col_upper_ = self.col_upper
        lp.row_lower_ = self.row_lower
        lp.row_upper_ = self.row_upper
        lp.offset_ = float(self.offset)
        lp.sense_ = highspy.ObjSense.kMaximize if self.maximize else highspy.ObjSense.kMinimize
        a = lp.a_matrix_
        a.format_ = highspy.MatrixFormat.kRowwise
        a.num_col_, a.num_row_ = n, m
        a.start_ = self.starts
        a.index_ = self.index
        a.value_ = self.value
        lp.a_matrix_ = a
        if self.integral:
            kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
            lp.integrality_ = [kinds[i] for i in self.integer]
        return lp


def build_lp(model: CompiledModel, deadline: float | None = None) -> _Lp:
    """Ground the IR into HiGHS rows: one column per variable entry, one row per constraint instance.

    Every variable entry gets a column, mentioned or not, so its value comes from HiGHS within its
    bounds and domain. `deadline` (a `time.perf_counter()` value) is checked every 256 instances.
    """
    out = _Lp()
    columns: dict[tuple[str, tuple], int] = {}
    for var in model.variables.values():
        lo, hi = model.var_bounds(var)
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
        first = len(out.col_var)
        for j, key in enumerate(var.keys, first):
            columns[(var.name, key)] = j
        out.col_var.extend((var.name, key) for key in var.keys)
        n = len(var.keys)
        out.col_lower.extend([lo] * n)
        out.col_upper.extend([hi] * n)
        out.integer.extend([var.integral] * n)
        if var.label_set and not _contiguous(model.sets[var.label_set]):
            _label_domain_rows(out, var, model.sets[var.label_set], first)

    grounder = Grounder(model, _HighsAlgebra(columns))
    try:
        for count, inst in enumerate(grounder.all_instances()):
            if deadline is not None and not count & 255 and time.perf_counter() > deadline:
                raise _OutOfTime(f"grounding stopped after {count:,} instances")
            expr = grounder.eval(inst.node, inst.env)
            if expr is True:
                continue
            if expr is False:
                out.false_instances.append(inst.label)
                continue
            if not isinstance(expr, _Row):
                raise GroundError(f"{inst.label} is not a linear comparison")
            out.add_row(expr.terms, expr.lower, expr.upper, inst.name, inst.key)

        if model.objective is not None:
            objective = grounder.eval(model.objective, {})
            if isinstance(objective, _Lin):
                out.cost, out.offset = objective.terms, float(objective.const)
            else:
                out.offset = float(objective)
            out.maximize = model.sense == "maximize"
            out.has_objective = True
    finally:
        grounder.close()
    return out


def _label_domain_rows(out: _Lp, var: CompiledVar, elements: list, first: int) -> None:
    """A label variable over a set of integers with gaps takes one of them: x = sum(e * pick[e])."""
    for i, key in enumerate(var.keys):
        picks = []
        for e in elements:
            j = len(out.col_var)
            out.col_var.append(None)
            out.col_note[j] = f"{_label(var.name, key)} = {e}"
            out.col_lower.append(0.0)
            out.col_upper.append(1.0)
            out.integer.append(True)
            picks.append((j, e))
        where = f"domain of {_label(var.name, key)}"
        out.add_row({j: 1.0 for j, _ in picks}, 1.0, 1.0, None, where)
        value = {first + i: 1.0}
        value.update({j: -float(e) for j, e in picks if e != 0})
        out.add_row(value, 0.0, 0.0, None, where)


# ------------------------------------------------------------------ solve


@functools.cache
def _highs_version() -> str:
    import highspy

    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def _values(model: CompiledModel, lp: _Lp, col_value: list[float]) -> dict[str, Any]:
    flat = {var: float(value) for var, value in zip(lp.col_var, col_value, strict=False) if var is not None}
    return nest_values(model, flat)


def solve(model: CompiledModel, *, time_limit: float = 30.0, explain: bool = True) -> SolveResult:
    """Ground into HiGHS rows, solve in-process, and on infeasibility name the conflicting IR constraints.

    `time_limit` bounds grounding plus HiGHS's run (both stop by themselves); an explanation gets its
    own budget (EXPLAIN_BUDGET_FACTOR x time_limit), checked between its LP solves.
    """
    import highspy

    reasons = unsupported(model)
    if reasons:  # solvers.solve checks first; a direct call must not ground a product
        raise TargetUnsupported(NAME, reasons)
    watch = Stopwatch()
    deadline = time.perf_counter() + time_limit
    result = SolveResult(status=Status.ERROR, target=NAME, solver="highs", solver_version=_highs_version())
    try:
        with watch.lap("build"):
            lp = build_lp(model, deadline)
    except GroundError as e:
        return error_result(NAME, f"grounding failed: {e}")
    except _OutOfTime as e:
        return error_result(NAME, f"no decision within {time_limit:g} s: {e}", Status.TIMEOUT)

    if lp.false_instances:
        # An instance that folds to False is infeasible on its own: a minimal conflict, no solver needed.
        labels = lp.false_instances[:1]
        result.status = Status.INFEASIBLE
        result.conflict, result.conflict_detail = conflict_items(model, labels)
        result.conflict_method, result.conflict_minimal = "constant", True
        result.message = f"{labels[0]} is false whatever the variables' values"
        result.timings, result.seconds = watch.timings, watch.total
        return result

    log: list[str] = []
    h = _new_highs(highspy, log)
    try:
        h.setOptionValue("mip_rel_gap", MIP_REL_GAP)
        with watch.lap("load"):
            loaded = h.passModel(lp.to_highs(highspy))
        if loaded == highspy.HighsStatus.kError:
            result.message = "HiGHS rejected the model: " + tail("".join(log), 5)
            result.timings, result.seconds = watch.timings, watch.total
            return result
        with watch.lap("solve"):
            h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
            h.run()
        statuses = highspy.HighsModelStatus
        status = h.getModelStatus()
        info = h.getInfo()
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if status == statuses.kUnboundedOrInfeasible or (status == statuses.kUnbounded and lp.integral):
            # HiGHS (presolve, or a MIP's unbounded relaxation) did not say which: feasibility decides.
            with watch.lap("solve"):
                feasible = _feasible_with_zero_objective(h, highspy, deadline - time.perf_counter())
            has_solution = False
            status = {True: statuses.kUnbounded, False: statuses.kInfeasible, None: statuses.kTimeLimit}[feasible]
        result.log_tail = tail("".join(log))
        if status == statuses.kOptimal:
            result.status = Status.OPTIMAL if lp.has_objective else Status.FEASIBLE
        elif status == statuses.kInfeasible:
            result.status = Status.INFEASIBLE
        elif status == statuses.kUnbounded:
            result.status = Status.UNBOUNDED
        elif has_solution:  # time, iteration, solution or objective limit with an incumbent
            result.status = Status.FEASIBLE
            result.message = f"stopped early ({h.modelStatusToString(status)}); best solution found"
        elif status == statuses.kTimeLimit:
            result.status, result.message = Status.TIMEOUT, f"no decision within {time_limit:g} s"
        else:
            result.status, result.message = Status.ERROR, f"HiGHS ended with {h.modelStatusToString(status)}"
        if result.status.has_solution:
            result.values = _values(model, lp, h.getSolution().col_value)
            if lp.has_objective:
                result.objective = float(info.objective_function_value)
        if result.status == Status.INFEASIBLE and explain:
            with watch.lap("explain"):
                _explain(model, lp, h, highspy, time_limit, result)
        result.timings, result.seconds = watch.timings, watch.total
        return result
    finally:
        _release(h)


def _log_line(callback_type: Any, message: str, data_out: Any, data_in: Any, log: list[str]) -> None:
    log.append(message)


def _new_highs(highspy: Any, log: list[str]) -> Any:
    """A HiGHS instance whose log lines go to `log` (formatted only because it has somewhere to go).

    highspy's C++ class `_core._Highs` when there is one: the Python `Highs` around it adds a modelling
    layer and a callback table this never uses, which costs ~0.05 ms to build and holds the instance in
    a reference cycle (freed only by the garbage collector, later, at whoever's expense).
    """
    core = getattr(highspy, "_core", None)
    raw = getattr(core, "_Highs", None)
    if raw is not None and hasattr(raw, "setCallback") and hasattr(core, "cb"):
        h = raw()
        h.setOptionValue("log_to_console", False)
        h.setOptionValue("log_file", os.devnull)
        h.setCallback(_log_line, log)
        h.startCallback(core.cb.HighsCallbackType.kCallbackLogging)
        return h
    h = highspy.Highs()
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("log_file", os.devnull)
    h.cbLogging.subscribe(lambda event: log.append(event.message))
    return h


def _release(h: Any) -> None:
    """Drop the callback (and, for highspy's Python `Highs`, its self-referencing callback table) so
    the instance is freed now rather than by the garbage collector."""
    try:
        if hasattr(h, "callbacks"):
            h.disableCallbacks()
            h.callbacks = []
        else:
            h.setCallback(None, None)
    except Exception:  # noqa: BLE001 - another highspy: the GC frees it
        pass


def _feasible_with_zero_objective(h: Any, highspy: Any, seconds: float) -> bool | None:
    """Re-solve with no objective: True feasible, False infeasible, None undecided in `seconds`."""
    n = h.getNumCol()
    h.changeColsCost(n, _arange(n), _zeros(n))
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(seconds, 0.01))
    h.run()
    status = h.getModelStatus()
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return False
    if h.getInfo().primal_solution_status == 2:
        return True
    return None


def _arange(n: int) -> Any:
    import numpy as np

    return np.arange(n, dtype=np.int32)


def _zeros(n: int) -> Any:
    import numpy as np

    return np.zeros(n, dtype=np.float64)


# ------------------------------------------------------------------ explain


class _Oracle:
    """Is the model feasible with only these IR constraints? Re-solves the loaded highspy model with
    the other IR constraints' rows relaxed to (-inf, inf) and a zero objective; bounds, domains and
    the label-domain helper rows always stay. Records the smallest infeasible set it has seen."""

    def __init__(self, h: Any, highspy: Any, rows_by_name: dict[str, list[int]], share: float,
                 deadline: float) -> None:
        import numpy as np

        self.h, self.hs, self.np = h, highspy, np
        self.rows_by_name = {k: np.asarray(v, dtype=np.int64) for k, v in rows_by_name.items()}
        lp = h.getLp()
        self.lower, self.upper = np.array(lp.row_lower_), np.array(lp.row_upper_)
        soft = np.zeros(len(self.lower), dtype=bool)
        for rows in self.rows_by_name.values():
            soft[rows] = True
        self.soft = soft
        self.active = np.ones(len(self.lower), dtype=bool)  # rows at their own bounds now
        self.share, self.deadline = share, deadline
        self.best: list[str] = list(rows_by_name)  # the whole model is known to be infeasible
        self.calls = 0
        n = h.getNumCol()
        h.changeColsCost(n, _arange(n), _zeros(n))
        h.setOptionValue("output_flag", False)

    def apply(self, names: Iterable[str]) -> None:
        """Restore the rows of `names`, relax every other soft row (only rows whose state changes are
        touched: highspy 1.12 has no batched changeRowsBounds)."""
        np = self.np
        want = ~self.soft
        for name in names:
            want[self.rows_by_name[name]] = True
        inf = self.hs.kHighsInf
        for r in np.flatnonzero(want != self.active):
            r = int(r)
            if want[r]:
                self.h.changeRowBounds(r, float(self.lower[r]), float(self.upper[r]))
            else:
                self.h.changeRowBounds(r, -inf, inf)
        self.active = want

    def __call__(self, names: list[str]) -> bool:
        remaining = self.deadline - time.perf_counter()
        if remaining <= 0:
            raise ExplainAborted("the explanation's time budget is spent")
        self.apply(names)
        self.h.setOptionValue("time_limit", max(0.01, min(self.share, remaining)))
        self.calls += 1
        self.h.run()
        status = self.h.getModelStatus()
        statuses = self.hs.HighsModelStatus
        if status in (statuses.kInfeasible, statuses.kUnboundedOrInfeasible):  # zero objective: no ray
            if len(names) < len(self.best):
                self.best = list(names)
            return False
        if self.h.getInfo().primal_solution_status == 2:
            return True
        raise ExplainAborted(f"a consistency check ended with {status.name}")


def _iis_labels(lp: _Lp, h: Any, highspy: Any, seconds: float) -> list[str] | None:
    """HiGHS's IIS of the (relaxation of the) loaded model as instance labels; None when it has none
    or did not finish in `seconds` (its time grows fast and unevenly with the rows: 0.4 s for 1,000
    rows and 9 s for 2,000 on one generated LP, where QuickXplain over IR names takes a few LP solves).

    Strategy 1 (from the LP, row priority): the default strategy 0 returns an empty IIS in 1.12, and
    strategy 2 returned an error on the same LP. Column entries with status Free are listed but not
    part of the conflict; Lower/Upper/Boxed are, as "bounds of x[k]".
    """
    h.setOptionValue("iis_strategy", 1)
    h.setOptionValue("time_limit", max(0.01, seconds))
    iis = highspy.HighsIis()
    if h.getIis(iis) != highspy.HighsStatus.kOk or not iis.valid:
        return None
    labels = [lp.row_label(r) for r in iis.row_index]
    binding = {int(highspy.IisBoundStatus.kIisBoundStatusLower), int(highspy.IisBoundStatus.kIisBoundStatusUpper),
               int(highspy.IisBoundStatus.kIisBoundStatusBoxed)}
    for col, status in zip(iis.col_index, iis.col_bound, strict=True):
        if int(status) in binding:
            labels.append(f"bounds of {lp.col_label(col)}")
    return labels or None


def _explain(model: CompiledModel, lp: _Lp, h: Any, highspy: Any, time_limit: float, result: SolveResult) -> None:
    """Fill the conflict: HiGHS's IIS when the LP relaxation is infeasible, else QuickXplain.

    Minimality is claimed only when checked at the IR-name level: an IIS is minimal over rows and
    bounds, but an IR name stands for all its instances, so its names are passed through the deletion
    filter (each name's removal must make the rest feasible; bounds and domains stay) — one re-solve
    per name, done when it names at most VERIFY_MAX_NAMES constraints and within the time budget.
    Bounds and label domains the IIS used go to `conflict_bounds`, not `conflict` (IR.md).
    """
    rows_by_name = lp.rows_by_name()
    budget = EXPLAIN_BUDGET_FACTOR * time_limit
    deadline = time.perf_counter() + budget
    h.setOptionValue("output_flag", False)
    iis_seconds = min(budget, max(IIS_MIN_SECONDS, IIS_SHARE * time_limit))
    labels = None
    if len(lp.row_lower) <= IIS_MAX_ROWS:
        labels = _iis_labels(lp, h, highspy, iis_seconds)
    oracle = _Oracle(h, highspy, rows_by_name, share=max(0.05, time_limit / 4), deadline=deadline)
    order = [c.name for c in model.constraints if c.name in rows_by_name]
    if labels is not None:
        labels = _check_iis(labels, order, oracle, lp, h, highspy, deadline, result)
    if labels is None:
        labels = _quickxplain(order, oracle, lp, rows_by_name, result)
    names = {c.name for c in model.constraints}
    result.conflict, result.conflict_detail = conflict_items(model, [lab for lab in labels if _of(lab) in names])
    result.conflict_bounds = [lab for lab in labels if _of(lab) not in names]


def _check_iis(labels: list[str], order: list[str], oracle: _Oracle, lp: _Lp, h: Any, highspy: Any,
               deadline: float, result: SolveResult) -> list[str] | None:
    """Confirm HiGHS's IIS at the IR-name level and shrink it to a minimal set of names; None when it
    does not check out (seen on a MIP with an objective: a one-row "IIS" that is feasible alone)."""
    names = [n for n in order if any(_of(lab) == n for lab in labels)]
    result.conflict_method, result.conflict_minimal = "highs-iis", False
    if len(names) > VERIFY_MAX_NAMES:
        result.message = f"the IIS names {len(names)} constraints; not verified minimal"
        return labels
    try:
        if names:
            kept = deletion_filter(names, oracle)  # first checks that all of `names` is infeasible
            confirmed = bool(kept)
        else:  # only bounds and label-domain rows
            kept, confirmed = [], not oracle([])
    except ExplainAborted as e:
        result.message = f"the IIS is not verified minimal: {e}"
        return labels
    if not confirmed:
        result.message = "HiGHS's IIS re-solved feasible, so QuickXplain was used"
        return None
    result.conflict_minimal = True
    if not names:
        result.message = "the variables' bounds and domains alone are infeasible"
    if kept != names:  # the IIS's rows are no longer the conflict's: take the IIS of what is left
        oracle.apply(kept)
        fresh = _iis_labels(lp, h, highspy, deadline - time.perf_counter()) or []
        if {_of(lab) for lab in fresh} & set(order) == set(kept):
            return fresh
        return [lab for lab in labels if _of(lab) in kept or _of(lab) not in order]  # bounds: a superset
    return labels


def _quickxplain(order: list[str], oracle: _Oracle, lp: _Lp, rows_by_name: dict[str, list[int]],
                 result: SolveResult) -> list[str]:
    """A minimal set of IR names by QuickXplain; on a timeout, the smallest infeasible set seen."""
    result.conflict_method = "quickxplain"
    try:
        if not oracle([]):  # QuickXplain assumes the empty set is consistent
            result.message = "the variables' bounds and domains alone are infeasible"
            result.conflict_minimal = True
            return ["variable bounds and domains"]
        kept = quickxplain(order, oracle)
        result.conflict_minimal = bool(kept)
    except ExplainAborted as e:
        kept = oracle.best
        result.conflict_minimal = False
        result.message = f"explanation stopped early ({e}); the conflict may not be minimal"
    return [lp.row_label(r) for n in kept for r in rows_by_name[n]]


def _of(label: str) -> str:
    return label.split("[", 1)[0]


__all__ = ["NAME", "unsupported", "render", "solve", "build", "build_lp"]
