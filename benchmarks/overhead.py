"""What the MILP target costs on top of HiGHS itself, measured on the same models in one run.

For each linear example (datasets/examples/*.ir.json; a few built-in models when there are none):
  (a) IR load + compile, then `solvers.milp.solve` in-process (ground -> Pyomo -> highspy -> HiGHS),
      and the same through `solvers.solve` with isolation (a forked, hard-limited child);
  (b) HiGHS alone: the very rows the Pyomo model holds, read once (untimed) through Pyomo's standard
      representation into a `highspy.HighsLp`; timed is only `Highs()` + `passModel` + `run`.
Both run with the target's options (mip_rel_gap, time limit, a log that HiGHS formats and discards).
Each measurement is repeated N times (interleaved, after one untimed warm-up) and the median kept;
the ratio per example is (a) / (b), summarized by the geometric mean. Last, the time to explain a
generated 200-constraint infeasible LP, against highspy's own IIS on the same rows.

Run from the repository root:  python benchmarks/overhead.py [-n 20] [--time-limit 30]
"""

from __future__ import annotations

import argparse
import copy
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

import highspy  # noqa: E402

import solvers  # noqa: E402
from formalizers.ir import load_ir, parse_ir  # noqa: E402
from formalizers.semantics import CompiledModel  # noqa: E402
from solvers import milp  # noqa: E402

EXAMPLES = ROOT / "datasets" / "examples"


# ------------------------------------------------------------------ models

def builtin_examples() -> dict[str, dict]:
    """Used only when datasets/examples has no linear model."""
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
    items = list(range(1, 31))
    knapsack = {
        "name": "knapsack_30",
        "sets": [{"name": "I", "elements": items}],
        "parameters": [{"name": "w", "index": ["I"], "value": [rng.randint(5, 40) for _ in items]},
                       {"name": "v", "index": ["I"], "value": [rng.randint(5, 60) for _ in items]}],
        "variables": [{"name": "take", "index": ["I"], "domain": "binary"}],
        "constraints": [{"name": "weight", "expr": "sum(i in I)(w[i] * take[i]) <= 250"}],
        "objective": {"sense": "maximize", "expr": "sum(i in I)(v[i] * take[i])"},
    }
    return {"transport_8x12": transport, "knapsack_30": knapsack}


def examples() -> list[tuple[str, Callable[[], CompiledModel]]]:
    """(name, load+compile) for every linear example; the loader is what (a) times."""
    out: list[tuple[str, Callable[[], CompiledModel]]] = []
    for path in sorted(EXAMPLES.glob("*.ir.json")):
        try:
            model = load_ir(path).compile()
        except Exception as e:  # noqa: BLE001 - an example being written right now
            print(f"skipping {path.name}: {type(e).__name__}: {str(e)[:80]}", file=sys.stderr)
            continue
        if not milp.unsupported(model):
            out.append((path.name.removesuffix(".ir.json"), lambda p=path: load_ir(p).compile()))
    if not out:
        for name, data in builtin_examples().items():
            out.append((name, lambda d=data: parse_ir(copy.deepcopy(d)).compile()))
    return out


def generated_infeasible_lp(n_rows: int = 200, n_vars: int = 60, seed: int = 1) -> dict:
    """200 sparse random capacity rows over x in [0, 10] and a total that they cannot allow."""
    rng = random.Random(seed)
    cols, rows = list(range(1, n_vars + 1)), list(range(1, n_rows + 1))
    a = {str(r): {str(j): (rng.randint(1, 9) if rng.random() < 0.1 else 0) for j in cols} for r in rows}
    b = {str(r): rng.randint(20, 60) for r in rows}
    return {
        "name": "generated_infeasible",
        "sets": [{"name": "J", "elements": cols}, {"name": "R", "elements": rows}],
        "parameters": [{"name": "a", "index": ["R", "J"], "value": a}, {"name": "b", "index": ["R"], "value": b}],
        "variables": [{"name": "x", "index": ["J"], "lower": 0, "upper": 10}],
        "constraints": [{"name": "cap", "forall": "r in R", "expr": "sum(j in J)(a[r, j] * x[j]) <= b[r]"},
                        {"name": "need", "expr": "sum(j in J)(x[j]) >= 200"}],
        "objective": {"sense": "maximize", "expr": "sum(j in J)(x[j])"},
    }


# ------------------------------------------------------------------ HiGHS alone

def highs_lp(model: CompiledModel) -> highspy.HighsLp:
    """The rows of the target's Pyomo model as a HighsLp, read through Pyomo's standard repn (untimed)."""
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


def highs_direct(lp: highspy.HighsLp, time_limit: float, iis: bool = False) -> tuple[float, str, float | None]:
    """Seconds for Highs() + passModel + run (+ getIis), the status and the objective."""
    t0 = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("log_to_console", False)  # log formatted like the target's, then discarded
    h.setOptionValue("log_file", os.devnull)
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("mip_rel_gap", milp.MIP_REL_GAP)
    h.passModel(lp)
    h.run()
    if iis:
        h.setOptionValue("iis_strategy", 1)
        h.getIis(highspy.HighsIis())
    seconds = time.perf_counter() - t0
    status = h.getModelStatus()
    objective = h.getInfo().objective_function_value if status == highspy.HighsModelStatus.kOptimal else None
    return seconds, h.modelStatusToString(status), objective


# ------------------------------------------------------------------ measuring

def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def measure(name: str, load: Callable[[], CompiledModel], n: int, time_limit: float) -> dict[str, Any]:
    model = load()
    lp = highs_lp(model)
    first = milp.solve(model, time_limit=time_limit, explain=False)  # warm-up (imports, caches)
    _, direct_status, direct_obj = highs_direct(lp, time_limit)
    same = (first.objective is None) == (direct_obj is None) and (
        first.objective is None or math.isclose(first.objective, direct_obj, rel_tol=1e-6, abs_tol=1e-6))
    t: dict[str, list[float]] = {k: [] for k in ("compile", "build", "load", "solve", "milp", "total",
                                                 "isolated", "highs")}
    for _ in range(n):
        t0 = time.perf_counter()
        model = load()
        t1 = time.perf_counter()
        r = milp.solve(model, time_limit=time_limit, explain=False)
        t2 = time.perf_counter()
        t["compile"].append(t1 - t0)
        t["milp"].append(t2 - t1)
        t["total"].append(t2 - t0)
        for k in ("build", "load", "solve"):
            t[k].append(r.timings.get(k, 0.0))
        t0 = time.perf_counter()
        model = load()
        iso = solvers.solve(model, "milp", time_limit=time_limit, explain=False, isolate=True)
        t["isolated"].append(time.perf_counter() - t0)
        assert iso.status == r.status, (name, iso.status, r.status, iso.message)
        t["highs"].append(highs_direct(lp, time_limit)[0])
    return {"name": name, "status": first.status.value + ("" if same else " (!= highspy " + direct_status + ")"),
            "size": f"{lp.num_row_}x{lp.num_col_}", "ms": {k: median_ms(v) for k, v in t.items()}}


def measure_iis(n: int, time_limit: float) -> dict[str, Any]:
    data = generated_infeasible_lp()
    model = parse_ir(copy.deepcopy(data)).compile()
    lp = highs_lp(model)
    first = milp.solve(model, time_limit=time_limit, explain=True)
    total, explain, direct = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        r = milp.solve(parse_ir(copy.deepcopy(data)).compile(), time_limit=time_limit, explain=True)
        total.append(time.perf_counter() - t0)
        explain.append(r.timings.get("explain", 0.0))
        direct.append(highs_direct(lp, time_limit, iis=True)[0])
    return {"conflict": first.conflict, "method": first.conflict_method, "minimal": first.conflict_minimal,
            "instances": sum(len(c.instances) for c in first.conflict_detail),
            "size": f"{lp.num_row_}x{lp.num_col_}", "total": median_ms(total),
            "explain": median_ms(explain), "direct": median_ms(direct)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=20, help="repetitions per measurement (median kept)")
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()

    import logging

    logging.getLogger("pyomo.core").setLevel(logging.ERROR)  # one deprecation notice, not a result
    import pyomo

    rows = [measure(name, load, args.n, args.time_limit) for name, load in examples()]
    print(f"MILP target overhead: median of {args.n} runs; HiGHS {milp._highs_version()}, "
          f"Pyomo {pyomo.version.version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| example | rows x cols | status | load+compile ms | build ms | Pyomo->HiGHS ms | solve ms "
          "| in-process total ms | isolated total ms | highspy alone ms | ratio | ratio isolated |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios, iso_ratios = [], []
    for row in rows:
        ms = row["ms"]
        ratio, iso_ratio = ms["total"] / ms["highs"], ms["isolated"] / ms["highs"]
        ratios.append(ratio)
        iso_ratios.append(iso_ratio)
        print(f"| {row['name']} | {row['size']} | {row['status']} | {ms['compile']:.1f} | {ms['build']:.1f} "
              f"| {ms['load']:.1f} | {ms['solve']:.1f} | {ms['total']:.1f} | {ms['isolated']:.1f} "
              f"| {ms['highs']:.2f} | {ratio:.1f}x | {iso_ratio:.1f}x |")
    print(f"| **geometric mean** ({len(rows)} examples) | | | | | | | | | | **{geomean(ratios):.1f}x** "
          f"| **{geomean(iso_ratios):.1f}x** |")
    print("\n`solve` is Pyomo's solve call (HiGHS run, result mapping, log capture); `highspy alone` is "
          "Highs() + passModel + run on the same rows with the same options.\n")

    iis = measure_iis(args.n, args.time_limit)
    print("| infeasible LP | rows x cols | conflict | method | minimal | in-process total ms "
          "| explain ms | highspy run + getIis ms |")
    print("|---|---|---|---|---|---:|---:|---:|")
    print(f"| generated, 200 cap rows + 1 | {iis['size']} | {', '.join(iis['conflict'])} "
          f"({iis['instances']} instances) | {iis['method']} | {iis['minimal']} | {iis['total']:.1f} "
          f"| {iis['explain']:.1f} | {iis['direct']:.1f} |")


if __name__ == "__main__":
    main()
