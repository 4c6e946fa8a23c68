"""The MILP target: a Pyomo model solved by HiGHS in-process, with IIS-based explanations.

One Pyomo component per IR constraint (indexed by the instance keys) keeps names in the LP file and
in conflicts identical to the IR's. Grounding goes through `formalizers.ground.Grounder`, so the
meaning of every expression is the one the checker uses. Pyomo's persistent HiGHS interface
(`pyomo.contrib.solver` 'highs', which drives highspy in-process) loads the rows once; explanations
then work on the underlying `highspy.Highs` object directly (native IIS, or re-solves that only
change row bounds), so no Pyomo model is rebuilt or re-read per consistency check.
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

from formalizers.ground import Grounder, GroundError, Instance
from formalizers.semantics import CompiledModel, CompiledVar, linear_problems
from solvers.backend import Stopwatch, TargetUnsupported, conflict_items, error_result
from solvers.mus import ExplainAborted, deletion_filter, quickxplain
from solvers.result import SolveResult, Status, tail
from solvers.values import nest_values

NAME = "milp"

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


# ------------------------------------------------------------------ building


class _PyomoAlgebra:
    """Grounder algebra: Pyomo overloads arithmetic, so only variables and comparisons arrive here."""

    def __init__(self, variables: dict[tuple[str, tuple], Any]) -> None:
        self.variables = variables

    def var(self, name: str, key: tuple) -> Any:
        return self.variables[(name, key)]

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


# ------------------------------------------------------------------ solve


@functools.cache
def _highs_version() -> str:
    import highspy

    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def _default_value(model: CompiledModel, var: CompiledVar) -> float:
    """A value for a variable no row or objective mentions (HiGHS never sees it): 0 moved into bounds."""
    if var.label_set:
        return float(model.label_code(var.label_set, model.sets[var.label_set][0]))
    lo, hi = model.var_bounds(var)
    value = 0.0
    if lo is not None and value < lo:
        value = math.ceil(lo) if var.integral else float(lo)
    if hi is not None and value > hi:
        value = math.floor(hi) if var.integral else float(hi)
    return float(value)


def _values(model: CompiledModel, built: _Built, primals: Iterable[tuple[Any, float]]) -> dict[str, Any]:
    flat: dict[tuple[str, tuple], float] = {}
    for data, value in primals:
        key = built.var_key.get(id(data))
        if key is not None and value is not None:
            flat[key] = float(value)
    for name, var in model.variables.items():
        for key in var.keys:
            flat.setdefault((name, key), _default_value(model, var))
    return nest_values(model, flat)


def solve(model: CompiledModel, *, time_limit: float = 30.0, explain: bool = True) -> SolveResult:
    """Build, solve with HiGHS, and on infeasibility name the conflicting IR constraints."""
    import highspy
    from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
    from pyomo.contrib.solver.solvers.highs import Highs

    reasons = unsupported(model)
    if reasons:  # solvers.solve checks first; a direct call must not reach Pyomo with a product
        raise TargetUnsupported(NAME, reasons)
    watch = Stopwatch()
    result = SolveResult(status=Status.ERROR, target=NAME, solver="highs", solver_version=_highs_version())
    try:
        with watch.lap("build"):
            built = build(model)
    except GroundError as e:
        return error_result(NAME, f"grounding failed: {e}")

    if built.false_instances:
        # An instance that folds to False is infeasible on its own: a minimal conflict, no solver needed.
        labels = built.false_instances[:1]
        result.status = Status.INFEASIBLE
        result.conflict, result.conflict_detail = conflict_items(model, labels)
        result.conflict_method, result.conflict_minimal = "constant", True
        result.message = f"{labels[0]} is false whatever the variables' values"
        result.timings, result.seconds = watch.timings, watch.total
        return result

    opt = Highs()
    with watch.lap("load"):
        opt.set_instance(built.pm)  # the persistent interface copies the rows into highspy once
    for flag in list(opt.config.auto_updates):  # nothing changes between load and solve: no rescans
        setattr(opt.config.auto_updates, flag, False)
    h = opt._solver_model  # the highspy.Highs the interface fills (no public accessor in Pyomo 6.10)
    if h.getNumCol() == 0:  # every row folded away: HiGHS would only say "model empty"
        result.status = Status.OPTIMAL if built.has_objective else Status.FEASIBLE
        result.values = _values(model, built, [])
        if built.has_objective:
            result.objective = float(built.objective_value())
        result.message = "no variable appears in a constraint or the objective"
        result.timings, result.seconds = watch.timings, watch.total
        return result
    with watch.lap("solve"):
        res = opt.solve(built.pm, load_solutions=False, raise_exception_on_nonoptimal_result=False,
                        time_limit=max(time_limit, 0.01), rel_gap=MIP_REL_GAP)
    result.log_tail = tail(res.solver_log or "")
    term = res.termination_condition
    has_solution = res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal)
    if term == TerminationCondition.infeasibleOrUnbounded or (
            term == TerminationCondition.unbounded and built.integral):
        # HiGHS (presolve, or a MIP's unbounded relaxation) did not say which: feasibility decides.
        with watch.lap("solve"):
            feasible = _feasible_with_zero_objective(h, highspy, time_limit - watch.total)
        has_solution = False
        term = {True: TerminationCondition.unbounded, False: TerminationCondition.provenInfeasible,
                None: TerminationCondition.maxTimeLimit}[feasible]
    if term == TerminationCondition.convergenceCriteriaSatisfied:
        result.status = Status.OPTIMAL if built.has_objective else Status.FEASIBLE
    elif term == TerminationCondition.provenInfeasible:
        result.status = Status.INFEASIBLE
    elif term == TerminationCondition.unbounded:
        result.status = Status.UNBOUNDED
    elif has_solution:  # time, iteration or objective limit with an incumbent
        result.status = Status.FEASIBLE
        result.message = f"stopped early ({term.name}); best solution found"
    elif term == TerminationCondition.maxTimeLimit:
        result.status, result.message = Status.TIMEOUT, f"no decision within {time_limit:g} s"
    else:
        result.status, result.message = Status.ERROR, f"HiGHS ended with {term.name}"
    if result.status.has_solution:
        loader = res.solution_loader
        primals = loader.get_vars() if hasattr(loader, "get_vars") else loader.get_primals()  # <6.10
        result.values = _values(model, built, primals.items())
        if built.has_objective and res.incumbent_objective is not None:
            result.objective = float(res.incumbent_objective)
    if result.status == Status.INFEASIBLE and explain:
        with watch.lap("explain"):
            _explain(model, built, opt, h, highspy, time_limit, result)
    result.timings, result.seconds = watch.timings, watch.total
    return result


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


def _iis_labels(built: _Built, h: Any, highspy: Any, row_data: list[Any], col_data: list[Any],
                seconds: float) -> list[str] | None:
    """HiGHS's IIS of the (relaxation of the) loaded model as instance labels; None when it has none
    or did not finish in `seconds` (its time grows fast and unevenly with the rows: 0.4 s for 1,000
    rows and 9 s for 2,000 on one generated LP, where QuickXplain over IR names takes a few LP solves).

    Strategy 1 (from the LP, row priority): the default strategy 0 returns an empty IIS in 1.12, and
    strategy 2 returned an error on the same LP. Column entries with status Free are listed but not
    part of the conflict; Lower/Upper/Boxed are.
    """
    h.setOptionValue("iis_strategy", 1)
    h.setOptionValue("time_limit", max(0.01, seconds))
    iis = highspy.HighsIis()
    if h.getIis(iis) != highspy.HighsStatus.kOk or not iis.valid:
        return None
    labels = [built.con_label[id(row_data[r])] for r in iis.row_index]
    binding = {int(highspy.IisBoundStatus.kIisBoundStatusLower), int(highspy.IisBoundStatus.kIisBoundStatusUpper),
               int(highspy.IisBoundStatus.kIisBoundStatusBoxed)}
    for col, status in zip(iis.col_index, iis.col_bound, strict=True):
        if int(status) in binding:
            labels.append(f"bounds of {built.var_label[id(col_data[col])]}")
    return labels or None


def _explain(model: CompiledModel, built: _Built, opt: Any, h: Any, highspy: Any, time_limit: float,
             result: SolveResult) -> None:
    """Fill the conflict: HiGHS's IIS when the LP relaxation is infeasible, else QuickXplain.

    Minimality is claimed only when checked at the IR-name level: an IIS is minimal over rows and
    bounds, but an IR name stands for all its instances, so its names are passed through the deletion
    filter (each name's removal must make the rest feasible; bounds and domains stay) — one re-solve
    per name, done when it names at most VERIFY_MAX_NAMES constraints and within the time budget.
    """
    rows = opt._pyomo_con_to_solver_con_map  # ConstraintData -> row (private: no public map)
    row_data: list[Any] = [None] * len(rows)
    rows_by_name: dict[str, list[int]] = {}
    for data, r in rows.items():
        row_data[r] = data
        name = built.con_name[id(data)]
        if name is not None:
            rows_by_name.setdefault(name, []).append(r)
    col_data: list[Any] = [None] * h.getNumCol()
    for vid, c in opt._pyomo_var_to_solver_var_map.items():
        col_data[c] = opt._vars[vid][0]

    budget = EXPLAIN_BUDGET_FACTOR * time_limit
    deadline = time.perf_counter() + budget
    h.setOptionValue("output_flag", False)
    iis_seconds = min(budget, max(IIS_MIN_SECONDS, IIS_SHARE * time_limit))
    labels = None
    if len(row_data) <= IIS_MAX_ROWS:
        labels = _iis_labels(built, h, highspy, row_data, col_data, iis_seconds)
    oracle = _Oracle(h, highspy, rows_by_name, share=max(0.05, time_limit / 4), deadline=deadline)
    order = [c.name for c in model.constraints if c.name in rows_by_name]
    if labels is not None:
        labels = _check_iis(labels, order, oracle, built, h, highspy, row_data, col_data, deadline, result)
    if labels is None:
        labels = _quickxplain(order, oracle, built, row_data, rows_by_name, result)
    result.conflict, result.conflict_detail = conflict_items(model, labels)


def _check_iis(labels: list[str], order: list[str], oracle: _Oracle, built: _Built, h: Any, highspy: Any,
               row_data: list[Any], col_data: list[Any], deadline: float, result: SolveResult
               ) -> list[str] | None:
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
    if kept != names:  # the IIS's rows are no longer the conflict's: take the IIS of what is left
        oracle.apply(kept)
        fresh = _iis_labels(built, h, highspy, row_data, col_data, deadline - time.perf_counter()) or []
        if {_of(lab) for lab in fresh} & set(order) == set(kept):
            return fresh
        return [lab for lab in labels if _of(lab) in kept or _of(lab) not in order]  # bounds: a superset
    return labels


def _quickxplain(order: list[str], oracle: _Oracle, built: _Built, row_data: list[Any],
                 rows_by_name: dict[str, list[int]], result: SolveResult) -> list[str]:
    """A minimal set of IR names by QuickXplain; on a timeout, the smallest infeasible set seen."""
    result.conflict_method = "quickxplain"
    try:
        if not oracle([]):  # QuickXplain assumes the empty set is consistent
            result.message = "the variables' bounds and domains alone are infeasible"
            result.conflict_minimal = True
            return ["variable domains"]
        kept = quickxplain(order, oracle)
        result.conflict_minimal = bool(kept)
    except ExplainAborted as e:
        kept = oracle.best
        result.conflict_minimal = False
        result.message = f"explanation stopped early ({e}); the conflict may not be minimal"
    return [built.con_label[id(row_data[r])] for n in kept for r in rows_by_name[n]]


def _of(label: str) -> str:
    return label.split("[", 1)[0]


__all__ = ["NAME", "unsupported", "render", "solve", "build"]
