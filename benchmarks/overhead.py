"""What the MILP target costs on top of HiGHS itself, measured on the same models in one run.

For each example of datasets/examples that the MILP target takes (a few built-in models when there
are none), three ways to the same optimum, interleaved in each repetition:

  ours     the IR path: the IR JSON text (in memory) -> `parse_ir_text` + `compile` ->
           `solvers.solve(model, "milp", explain=False)` (ground -> highspy rows -> HiGHS, values
           mapped back to the IR's names). HiGHS honours its time limit, so this runs in-process.
  api      the same problem written directly with highspy's modelling API (addVariable,
           addConstr, minimize/maximize, then the solution read back): the hand-written models of
           tests/test_examples_independent.py, run with the target's options.
  arrays   HiGHS alone: Highs() + passModel + run + getSolution on the very rows of the target's
           Pyomo model, turned into a `highspy.HighsLp` beforehand (untimed). A floor no modelling
           layer can beat.

All three use the target's HiGHS options (log formatted and discarded, mip_rel_gap, time limit).
Each is repeated N times (in rotating order) after one untimed warm-up. On a shared machine other
processes stall some runs by milliseconds, so two statistics are shown for each way: the minimum
(what `timeit` reports: the cost of the code itself, interference excluded) and the median. The
headline ratio per example is ours / api and ours / arrays of the minimums; the paired median (the
median over repetitions of the ratio within one repetition) is shown next to it. Geometric means over
the examples summarize both. Last, the time to explain generated infeasible LPs with 200 constraints,
against highspy's own run + IIS on the same rows.

Garbage: automatic collection is off while measuring, and every timed call ends (inside its timing)
with `gc.collect(1)`, so each way pays for freeing its own cyclic garbage (a highspy `Highs` is one:
~0.1 ms), not for whatever another left behind; a full collection of this process takes ~0.2 s and
would otherwise land on whichever call happens to trigger it.

Run from the repository root:  python benchmarks/overhead.py [-n 50] [--time-limit 30]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import highspy  # noqa: E402

import solvers  # noqa: E402
from formalizers.ir import parse_ir, parse_ir_text  # noqa: E402
from formalizers.semantics import CompiledModel  # noqa: E402
from solvers import milp  # noqa: E402

EXAMPLES = ROOT / "datasets" / "examples"


# ------------------------------------------------------------------ models

def builtin_examples() -> dict[str, dict]:
    """Used only when datasets/examples has no linear model (no `api` model for these)."""
    rng = random.Random(7)
    src, dst = [f"s{i}" for i in range(8)], [f"d{j}" for j in range(12)]
    transport = {
        "name": "transport_8x12",
        "sets": [{"name": "S", "elements": src}, {"name": "D", "elements": dst}],
        "parameters": [
            {"name": "supply", "index": ["S"], "value": {s: 300 for s in src}},
            {"name": "demand", "index": ["D"], "value": {d: 150 for d in dst}},
            {"name": "cost", "index": ["S", "D"],
             "value": {s: {d: rng.randint(1, 20) for d in dst} for s in src}},
        ],
        "variables": [{"name": "ship", "index": ["S", "D"], "lower": 0}],
        "constraints": [
            {"name": "supply_cap", "forall": "s in S", "expr": "sum(d in D)(ship[s, d]) <= supply[s]"},
            {"name": "meet_demand", "forall": "d in D", "expr": "sum(s in S)(ship[s, d]) >= demand[d]"},
        ],
        "objective": {"sense": "minimize", "expr": "sum(s in S, d in D)(cost[s, d] * ship[s, d])"},
    }
    return {"transport_8x12": transport}


def examples() -> list[tuple[str, str]]:
    """(name, IR JSON text) for every example the MILP target takes."""
    out = []
    for path in sorted(EXAMPLES.glob("*.ir.json")):
        text = path.read_text(encoding="utf-8")
        try:
            model = parse_ir_text(text).compile()
        except Exception as e:  # noqa: BLE001 - an example being written right now
            print(f"skipping {path.name}: {type(e).__name__}: {str(e)[:80]}", file=sys.stderr)
            continue
        if not milp.unsupported(model):
            out.append((path.name.removesuffix(".ir.json"), text))
    if not out:
        out = [(name, json.dumps(data)) for name, data in builtin_examples().items()]
    return out


def generated_rows(n_rows: int = 200, n_vars: int = 60, seed: int = 1) -> dict:
    """200 instances of one constraint: sparse random capacity rows over x in [0, 10] and a total
    (`need`) that they cannot allow."""
    rng = random.Random(seed)
    cols, rows = list(range(1, n_vars + 1)), list(range(1, n_rows + 1))
    a = {str(r): {str(j): (rng.randint(1, 9) if rng.random() < 0.1 else 0) for j in cols} for r in rows}
    b = {str(r): rng.randint(20, 60) for r in rows}
    return {
        "name": "generated_rows",
        "sets": [{"name": "J", "elements": cols}, {"name": "R", "elements": rows}],
        "parameters": [{"name": "a", "index": ["R", "J"], "value": a}, {"name": "b", "index": ["R"], "value": b}],
        "variables": [{"name": "x", "index": ["J"], "lower": 0, "upper": 10}],
        "constraints": [{"name": "cap", "forall": "r in R", "expr": "sum(j in J)(a[r, j] * x[j]) <= b[r]"},
                        {"name": "need", "expr": "sum(j in J)(x[j]) >= 200"}],
        "objective": {"sense": "maximize", "expr": "sum(j in J)(x[j])"},
    }


def generated_named(n: int = 200, seed: int = 2) -> dict:
    """200 separately named constraints, three of which conflict (the rest is harmless)."""
    rng = random.Random(seed)
    cons = [{"name": f"r{i}", "expr": f"x[{rng.randint(1, 50)}] - {rng.randint(1, 3)} * x[{rng.randint(1, 50)}] "
             f"<= {rng.randint(10, 30)}"} for i in range(1, n - 2)]
    at = rng.randint(0, len(cons))
    cons[at:at] = [{"name": "k_need", "expr": "x[7] + x[8] >= 15"}, {"name": "k_cap7", "expr": "x[7] <= 5"}]
    cons.append({"name": "k_cap8", "expr": "x[8] <= 5"})
    return {"name": "generated_named", "sets": [{"name": "J", "elements": list(range(1, 51))}],
            "variables": [{"name": "x", "index": ["J"], "lower": 0, "upper": 10}], "constraints": cons,
            "objective": {"sense": "maximize", "expr": "sum(j in J)(x[j])"}}


def dense_table(n_rows: int = 2000, n_cols: int = 200, seed: int = 3) -> dict:
    """A 2000 x 200 parameter table (400,000 entries) over one constraint: what compile and grounding
    cost on a large dense model."""
    rng = random.Random(seed)
    rows, cols = [f"r{i}" for i in range(n_rows)], list(range(1, n_cols + 1))
    return {"name": "dense_2000x200", "sets": [{"name": "R", "elements": rows}, {"name": "C", "elements": cols}],
            "parameters": [{"name": "a", "index": ["R", "C"],
                            "value": {r: {str(c): rng.randint(0, 9) for c in cols} for r in rows}},
                           {"name": "b", "index": ["R"], "value": [rng.randint(100, 900) for _ in rows]}],
            "variables": [{"name": "x", "index": ["C"], "lower": 0, "upper": 10}],
            "constraints": [{"name": "cap", "forall": "r in R", "expr": "sum(c in C)(a[r, c] * x[c]) <= b[r]"}],
            "objective": {"sense": "maximize", "expr": "sum(c in C)(x[c])"}}


def measure_large(time_limit: float) -> dict[str, Any]:
    """One run: JSON text -> parse -> compile -> solvers.solve (forked: the grounding is large)."""
    text = json.dumps(dense_table())
    t0 = time.perf_counter()
    ir = parse_ir_text(text)
    t1 = time.perf_counter()
    model = ir.compile()
    t2 = time.perf_counter()
    r = solvers.solve(model, "milp", time_limit=time_limit, explain=False)
    t3 = time.perf_counter()
    return {"parse": t1 - t0, "compile": t2 - t1, "solve": t3 - t2, "status": r.status.value,
            "timings": r.timings, "terms": milp.estimated_terms(model), "forked": not milp.stops_at_limit(model)}


# ------------------------------------------------------------------ HiGHS directly

def configure(h: highspy.Highs, time_limit: float) -> None:
    """The options the target runs HiGHS with (its log goes to a callback; here to /dev/null)."""
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("log_file", os.devnull)
    h.setOptionValue("mip_rel_gap", milp.MIP_REL_GAP)
    h.setOptionValue("time_limit", time_limit)


def api_model(name: str) -> Callable[[float], tuple[str, float | None]] | None:
    """The example written with highspy's modelling API (tests/test_examples_independent.py), or None."""
    try:
        import test_examples_independent as independent
    except Exception:  # noqa: BLE001 - the benchmark still runs without it
        return None
    example = independent.REGISTRY.get(name)
    builders = [b for kind, b in (example.models if example else []) if kind is independent.Lin]
    if not builders:
        return None
    builder = builders[0]

    class Direct(independent.Lin):
        def __init__(self, time_limit: float) -> None:
            independent.Backend.__init__(self, frozenset())
            self.h = highspy.Highs()
            configure(self.h, time_limit)

    def run(time_limit: float) -> tuple[str, float | None]:
        backend = Direct(time_limit)
        built = builder(backend, example.data)
        status, objective = backend.solve(built.sense, built.objective)
        values = backend.h.getSolution().col_value  # read the solution back, as the IR path does
        return status, objective if values is not None else None

    return run


def highs_lp(model: CompiledModel) -> highspy.HighsLp:
    """The rows of the target's Pyomo model as a HighsLp, read through Pyomo's standard repn (untimed;
    independent of the row builder `solve` uses, so equal objectives also cross-check that)."""
    import numpy as np
    import pyomo.environ as pe
    from pyomo.repn import generate_standard_repn

    built = milp.build(model)
    pm = built.pm
    col_of: dict[int, int] = {}
    cols: list[Any] = []

    def col(v: Any) -> int:
        if id(v) not in col_of:
            col_of[id(v)] = len(cols)
            cols.append(v)
        return col_of[id(v)]

    starts, index, value, lower, upper = [0], [], [], [], []
    for con in pm.component_data_objects(pe.Constraint, active=True):
        repn = generate_standard_repn(con.body, quadratic=False)
        merged: dict[int, float] = {}
        for c, v in zip(repn.linear_coefs, repn.linear_vars, strict=True):
            merged[col(v)] = merged.get(col(v), 0.0) + float(c)
        index += list(merged)
        value += list(merged.values())
        starts.append(len(index))
        const = float(repn.constant)
        lower.append(float(pe.value(con.lower)) - const if con.has_lb() else -highspy.kHighsInf)
        upper.append(float(pe.value(con.upper)) - const if con.has_ub() else highspy.kHighsInf)
    obj = next(pm.component_data_objects(pe.Objective, active=True))
    orepn = generate_standard_repn(obj.expr, quadratic=False)
    cost: dict[int, float] = {}
    for c, v in zip(orepn.linear_coefs, orepn.linear_vars, strict=True):
        cost[col(v)] = cost.get(col(v), 0.0) + float(c)

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), len(lower)
    lp.col_cost_ = np.array([cost.get(j, 0.0) for j in range(len(cols))], dtype=np.float64)
    lp.col_lower_ = np.array([-highspy.kHighsInf if v.lb is None else v.lb for v in cols], dtype=np.float64)
    lp.col_upper_ = np.array([highspy.kHighsInf if v.ub is None else v.ub for v in cols], dtype=np.float64)
    lp.row_lower_ = np.array(lower, dtype=np.float64)
    lp.row_upper_ = np.array(upper, dtype=np.float64)
    lp.offset_ = float(orepn.constant)
    lp.sense_ = highspy.ObjSense.kMaximize if obj.sense == pe.maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(cols), len(lower)
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
    if any(v.is_integer() or v.is_binary() for v in cols):
        lp.integrality_ = [highspy.HighsVarType.kInteger if (v.is_integer() or v.is_binary())
                           else highspy.HighsVarType.kContinuous for v in cols]
    return lp


def highs_arrays(lp: highspy.HighsLp, time_limit: float, iis: bool = False) -> tuple[str, float | None]:
    """Highs() + passModel + run + getSolution (+ getIis): status and objective."""
    h = highspy.Highs()
    configure(h, time_limit)
    h.passModel(lp)
    h.run()
    values = h.getSolution().col_value
    if iis:
        h.setOptionValue("iis_strategy", 1)
        h.getIis(highspy.HighsIis())
    status = h.getModelStatus()
    optimal = status == highspy.HighsModelStatus.kOptimal and values is not None
    objective = h.getInfo().objective_function_value if optimal else None
    return h.modelStatusToString(status), objective


# ------------------------------------------------------------------ measuring

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds for fn() plus collecting the young garbage it left (automatic collection is off)."""
    t0 = time.perf_counter()
    out = fn()
    gc.collect(1)
    return time.perf_counter() - t0, out


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def same(a: float | None, b: float | None) -> bool:
    return (a is None) == (b is None) and (a is None or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6))


def measure(name: str, text: str, n: int, time_limit: float) -> dict[str, Any]:
    model = parse_ir_text(text).compile()
    lp = highs_lp(model)
    api = api_model(name)
    first = solvers.solve(model, "milp", time_limit=time_limit, explain=False)  # warm-up (imports, caches)
    checks = {"arrays": highs_arrays(lp, time_limit)}
    if api is not None:
        checks["api"] = api(time_limit)
    mismatch = [f"{k}: {s} {o}" for k, (s, o) in checks.items() if not same(first.objective, o)]
    t: dict[str, list[float]] = {k: [] for k in ("compile", "build", "highs", "ours", "api", "arrays")}
    def ours() -> tuple[float, Any]:
        t0 = time.perf_counter()
        model = parse_ir_text(text).compile()
        t["compile"].append(time.perf_counter() - t0)
        return solvers.solve(model, "milp", time_limit=time_limit, explain=False)

    def run_ours() -> None:
        seconds, r = timed(ours)
        assert r.status == first.status, (name, r.status, first.status, r.message)
        t["build"].append(r.timings.get("build", 0.0))
        t["highs"].append(r.timings.get("load", 0.0) + r.timings.get("solve", 0.0))
        t["ours"].append(seconds)

    def run_api() -> None:
        if api is not None:
            t["api"].append(timed(lambda: api(time_limit))[0])

    def run_arrays() -> None:
        t["arrays"].append(timed(lambda: highs_arrays(lp, time_limit))[0])

    order = [run_ours, run_api, run_arrays]
    for i in range(n):
        # Rotate who goes first, so that each way follows each other equally often (caches, allocator).
        for step in order[i % 3:] + order[:i % 3]:
            step()
    status = first.status.value + (" (MISMATCH " + "; ".join(mismatch) + ")" if mismatch else "")
    ratio: dict[str, float | None] = {}
    paired: dict[str, float | None] = {}
    for base in ("api", "arrays"):
        ratio[base] = min(t["ours"]) / min(t[base]) if t[base] else None
        paired[base] = statistics.median(o / b for o, b in zip(t["ours"], t[base], strict=True)) if t[base] else None
    return {"name": name, "status": status, "size": f"{lp.num_row_}x{lp.num_col_}",
            "ms": {k: median_ms(v) if v else None for k, v in t.items()},
            "min": {k: 1000 * min(v) if v else None for k, v in t.items()}, "ratio": ratio, "paired": paired}


def measure_iis(data: dict, n: int, time_limit: float) -> dict[str, Any]:
    model = parse_ir(copy.deepcopy(data)).compile()
    lp = highs_lp(model)
    first = solvers.solve(model, "milp", time_limit=time_limit, explain=True)
    total, explain, direct = [], [], []
    for _ in range(n):
        ir = parse_ir(copy.deepcopy(data))
        seconds, r = timed(lambda ir=ir: solvers.solve(ir.compile(), "milp", time_limit=time_limit, explain=True))
        total.append(seconds)
        explain.append(r.timings.get("explain", 0.0))
        assert set(r.conflict) == set(first.conflict), (r.conflict, first.conflict)
        direct.append(timed(lambda: highs_arrays(lp, time_limit, iis=True))[0])
    return {"name": data["name"], "conflict": first.conflict, "method": first.conflict_method,
            "minimal": first.conflict_minimal, "instances": sum(len(c.instances) for c in first.conflict_detail),
            "bounds": len(first.conflict_bounds), "size": f"{lp.num_row_}x{lp.num_col_}",
            "total": median_ms(total), "max": 1000 * max(total), "explain": median_ms(explain),
            "direct": median_ms(direct)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=50, help="repetitions per measurement (median kept)")
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()

    import logging

    logging.getLogger("pyomo.core").setLevel(logging.ERROR)  # one deprecation notice, not a result
    import pyomo

    cases = examples()
    gc.collect()
    gc.disable()  # see the module docstring: each timed call collects its own young garbage
    try:
        rows = [measure(name, text, args.n, args.time_limit) for name, text in cases]
        iis_rows = [measure_iis(data, max(3, args.n // 5), args.time_limit)
                    for data in (generated_rows(), generated_named())]
    finally:
        gc.enable()
    large = measure_large(args.time_limit)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"MILP target overhead: {args.n} interleaved runs per way; HiGHS {milp._highs_version()}, Pyomo "
          f"{pyomo.version.version} (arrays baseline only), Python {sys.version.split()[0]}, {os.cpu_count()} "
          f"CPUs, load average {load:.1f} at the end\n")
    print("| example | rows x cols | status | parse+compile ms | ground ms | HiGHS load+run ms "
          "| ours ms min / med | highspy API ms min / med | highspy arrays ms min / med "
          "| ours / API (paired med) | ours / arrays (paired med) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary: dict[str, list[float]] = {"api": [], "arrays": [], "api_paired": [], "arrays_paired": []}

    def pair(low: float | None, mid: float | None) -> str:
        return "-" if low is None or mid is None else f"{low:.2f} / {mid:.2f}"

    for row in rows:
        ms, low, ratio, paired = row["ms"], row["min"], row["ratio"], row["paired"]
        for base in ("api", "arrays"):
            if ratio[base] is not None:
                summary[base].append(ratio[base])
                summary[base + "_paired"].append(paired[base])
        ratio_text = {base: "-" if ratio[base] is None else f"{ratio[base]:.2f}x ({paired[base]:.2f}x)"
                      for base in ("api", "arrays")}
        print(f"| {row['name']} | {row['size']} | {row['status']} | {ms['compile']:.2f} | {ms['build']:.2f} "
              f"| {ms['highs']:.2f} | {pair(low['ours'], ms['ours'])} | {pair(low['api'], ms['api'])} "
              f"| {pair(low['arrays'], ms['arrays'])} | {ratio_text['api']} | {ratio_text['arrays']} |")
    print(f"| **geometric mean** ({len(rows)} examples) | | | | | | | | "
          f"| **{geomean(summary['api']):.2f}x** ({geomean(summary['api_paired']):.2f}x) "
          f"| **{geomean(summary['arrays']):.2f}x** ({geomean(summary['arrays_paired']):.2f}x) |")
    print("\n`ours`: IR text -> parse + compile -> solvers.solve(model, 'milp', explain=False), in-process; "
          "`highspy API`: the hand-written highspy model of tests/test_examples_independent.py; "
          "`highspy arrays`: Highs() + passModel + run + getSolution on prebuilt arrays. Ratios of the "
          "minimums; in brackets the median of the per-repetition ratios. The parse+compile, ground and "
          "HiGHS columns are medians of the parts of `ours`.\n")

    print("| infeasible LP | rows x cols | conflict | method | minimal | solvers.solve total ms (median / max) "
          "| explain ms | highspy run + getIis ms |")
    print("|---|---|---|---|---|---:|---:|---:|")
    for iis in iis_rows:
        print(f"| {iis['name']}, 200 constraints | {iis['size']} | {', '.join(iis['conflict'])} "
              f"({iis['instances']} instances; {iis['bounds']} bounds apart) | {iis['method']} | {iis['minimal']} "
              f"| {iis['total']:.1f} / {iis['max']:.1f} | {iis['explain']:.1f} | {iis['direct']:.1f} |")
    print("\n`solvers.solve total`: compile + in-process solve + the explanation's re-solve in a forked, "
          "hard-limited child (HiGHS's IIS does not bound its own total time).\n")
    t = large["timings"]
    print(f"Large dense model ({large['terms']:,} estimated terms, one run): parse {large['parse']:.2f} s, "
          f"compile {large['compile']:.2f} s, solvers.solve {large['solve']:.2f} s "
          f"({'forked' if large['forked'] else 'in-process'}: ground {t.get('build', 0):.2f} s, HiGHS load "
          f"{t.get('load', 0):.2f} s + run {t.get('solve', 0):.2f} s), {large['status']}.")


if __name__ == "__main__":
    main()
