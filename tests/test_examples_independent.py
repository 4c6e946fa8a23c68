"""Independent checks of the hand-written examples in datasets/examples.

Every example is re-modelled here straight from its English text with a solver API (highspy,
OR-Tools CP-SAT, z3) or by brute force, without going through the IR, and the answers in
NAME.expected.json are asserted against it:

* the status and the optimal objective (to 1e-6);
* every value listed in "values" is unique: it is minimized and maximized over all optimal
  solutions (or over all solutions of a satisfaction problem) and both bounds equal it;
* for an infeasible example, the stated conflict: the whole model and the conflict alone are
  infeasible, and dropping any one conflict constraint from the whole model (or from the conflict)
  makes it feasible; since every infeasible subset must then contain every conflict member, the
  minimal conflict is unique.

The data typed in here must equal the IR's parameters, every number in the IR must occur in the
English text, and every constraint's `source` must be a verbatim sentence of the text. When the
formalizers/solvers packages are importable, each IR also compiles, its target list agrees with the
structural analysis, the independently found optimum satisfies the IR's constraints with the
expected objective (solvers.checker), and the IR itself, grounded by formalizers.ground into a small
z3 algebra defined here, has the expected status, objective, listed values and conflict (also
row by row: the instances of the conflict constraints that are each necessary form the unique
minimal conflict of rows).

Conflicts are over named IR constraints; variable bounds and domains are part of the variables and
are never dropped.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import highspy
import pytest
import z3
from ortools.sat.python import cp_model

EXAMPLES = Path(__file__).resolve().parent.parent / "datasets" / "examples"
TARGETS = ["minizinc", "milp", "smt", "cpsat"]
STATUSES = {"optimal", "infeasible", "satisfiable"}
INF = highspy.kHighsInf
TOL = 1e-6


def example_names() -> list[str]:
    return sorted(p.name.removesuffix(".ir.json") for p in EXAMPLES.glob("*.ir.json"))


def load(name: str) -> tuple[str, dict, dict]:
    text = (EXAMPLES / f"{name}.txt").read_text(encoding="utf-8")
    ir = json.loads((EXAMPLES / f"{name}.ir.json").read_text(encoding="utf-8"))
    expected = json.loads((EXAMPLES / f"{name}.expected.json").read_text(encoding="utf-8"))
    return text, ir, expected


# ---------------------------------------------------------------------------- solver back ends


class Backend:
    """Named constraint groups (the IR constraint names) that can be left out with `omit`."""

    integral_only = False

    def __init__(self, omit: frozenset[str] = frozenset()) -> None:
        self.omit = frozenset(omit)
        self.groups: list[str] = []

    def use(self, group: str) -> bool:
        """Register a constraint group; True when its constraints are to be added."""
        assert group not in self.groups, f"group {group} registered twice"
        self.groups.append(group)
        return group not in self.omit


class Lin(Backend):
    """highspy LP / MIP with exact optimality gaps."""

    def __init__(self, omit: frozenset[str] = frozenset()) -> None:
        super().__init__(omit)
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("mip_rel_gap", 0.0)
        self.h.setOptionValue("mip_abs_gap", 0.0)

    def var(self, lb: float = 0, ub: float = INF, integer: bool = False) -> Any:
        kind = highspy.HighsVarType.kInteger if integer else highspy.HighsVarType.kContinuous
        return self.h.addVariable(lb=lb, ub=ub, type=kind)

    def binary(self) -> Any:
        return self.var(0, 1, True)

    def add(self, constraint: Any) -> None:
        self.h.addConstr(constraint)

    def solve(self, sense: str | None, objective: Any) -> tuple[str, float | None]:
        if sense == "minimize":
            self.h.minimize(objective)
        elif sense == "maximize":
            self.h.maximize(objective)
        else:
            self.h.run()
        status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnboundedOrInfeasible:
            self.h.setOptionValue("presolve", "off")
            self.h.run()
            status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            if sense is None:
                return "feasible", None
            return "optimal", self.h.getInfo().objective_function_value
        if status == highspy.HighsModelStatus.kInfeasible:
            return "infeasible", None
        return str(status), None

    def value(self, v: Any) -> float:
        return float(self.h.val(v))

    def bound(self, sense: str, objective: Any, opt: float) -> None:
        slack = 1e-9 * max(1.0, abs(opt))
        self.add(objective <= opt + slack if sense == "minimize" else objective >= opt - slack)


class Cp(Backend):
    """OR-Tools CP-SAT (integers only)."""

    integral_only = True

    def __init__(self, omit: frozenset[str] = frozenset()) -> None:
        super().__init__(omit)
        self.m = cp_model.CpModel()
        self.solver = cp_model.CpSolver()
        self.solver.parameters.num_workers = 1

    def var(self, lb: int = 0, ub: int = 10_000, integer: bool = True) -> Any:
        assert integer, "CP-SAT has no continuous variables"
        return self.m.NewIntVar(int(lb), int(ub), "")

    def binary(self) -> Any:
        return self.m.NewBoolVar("")

    def add(self, constraint: Any) -> Any:
        return self.m.Add(constraint)

    def solve(self, sense: str | None, objective: Any) -> tuple[str, float | None]:
        if sense == "minimize":
            self.m.Minimize(objective)
        elif sense == "maximize":
            self.m.Maximize(objective)
        status = self.solver.Solve(self.m)
        if sense is None and status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return "feasible", None
        if status == cp_model.OPTIMAL:
            return "optimal", self.solver.ObjectiveValue()
        if status == cp_model.INFEASIBLE:
            return "infeasible", None
        return self.solver.StatusName(status), None

    def value(self, v: Any) -> float:
        return float(self.solver.Value(v))

    def bound(self, sense: str, objective: Any, opt: float) -> None:
        self.add(objective <= round(opt) if sense == "minimize" else objective >= round(opt))


@dataclass
class Built:
    """What a model builder returns: IR-shaped variables, objective sense and expression."""

    vars: dict[str, Any]  # IR variable name -> backend variable, or nested dict by element
    sense: str | None = None
    objective: Any = None


Builder = Callable[[Backend, dict], Built]


@dataclass
class Example:
    data: dict[str, Any]  # the IR parameters, as read from the English text
    models: list[tuple[type[Backend], Builder]]  # first = primary (uniqueness checks)
    brute: Callable[[frozenset[str]], tuple[str, float | None, list[dict]]] | None = None
    extra: list[Callable[[dict], None]] = field(default_factory=list)


def sum_(items: Any) -> Any:
    items = list(items)
    total = items[0]
    for item in items[1:]:
        total = total + item
    return total


# ---------------------------------------------------------------------------- 1 paint (LP)

PAINT = {
    "usage": {"interior": {"resin": 4, "pigment": 2, "mixer_hours": 1},
              "exterior": {"resin": 6, "pigment": 1, "mixer_hours": 2},
              "primer": {"resin": 2, "pigment": 3, "mixer_hours": 1}},
    "available": {"resin": 50, "pigment": 25, "mixer_hours": 17},
    "profit": {"interior": 5000, "exterior": 8000, "primer": 4000},
    "primer_market": 6,
}


def paint(m: Backend, d: dict) -> Built:
    make = {p: m.var() for p in d["profit"]}
    if m.use("resource_limit"):
        for r, cap in d["available"].items():
            m.add(sum_(d["usage"][p][r] * make[p] for p in make) <= cap)
    if m.use("primer_market_limit"):
        m.add(make["primer"] <= d["primer_market"])
    return Built({"make": make}, "maximize", sum_(d["profit"][p] * make[p] for p in make))


# ---------------------------------------------------------------------------- 2 bakery (integer)

BAKERY = {
    "usage": {"bread": {"oven_hours": 2, "labor_hours": 3, "flour_kg": 10},
              "cakes": {"oven_hours": 3, "labor_hours": 5, "flour_kg": 6},
              "pies": {"oven_hours": 4, "labor_hours": 2, "flour_kg": 8}},
    "available": {"oven_hours": 40, "labor_hours": 45, "flour_kg": 110},
    "profit": {"bread": 30, "cakes": 45, "pies": 40},
}


def bakery(m: Backend, d: dict) -> Built:
    batches = {p: m.var(0, 100, True) for p in d["profit"]}
    if m.use("resource_limit"):
        for r, cap in d["available"].items():
            m.add(sum_(d["usage"][p][r] * batches[p] for p in batches) <= cap)
    return Built({"batches": batches}, "maximize", sum_(d["profit"][p] * batches[p] for p in batches))


def bakery_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    d = BAKERY
    products = list(d["profit"])
    best: float | None = None
    sols: list[dict] = []
    for x in itertools.product(range(41), repeat=3):
        make = dict(zip(products, x, strict=True))
        if "resource_limit" not in omit and any(
                sum(d["usage"][p][r] * make[p] for p in products) > cap for r, cap in d["available"].items()):
            continue
        value = sum(d["profit"][p] * make[p] for p in products)
        if best is None or value > best:
            best, sols = value, []
        if value == best:
            sols.append({"batches": make})
    return "optimal", best, sols


# ---------------------------------------------------------------------------- 3 diet

DIET = {
    "cost": {"oatmeal": 0.21, "milk": 0.35, "lentils": 0.37, "eggs": 0.20, "bread": 0.15},
    "content": {"oatmeal": {"calories": 150, "protein": 5, "calcium": 20},
                "milk": {"calories": 120, "protein": 8, "calcium": 300},
                "lentils": {"calories": 220, "protein": 12, "calcium": 60},
                "eggs": {"calories": 80, "protein": 6, "calcium": 30},
                "bread": {"calories": 80, "protein": 3, "calcium": 40}},
    "requirement": {"calories": 1600, "protein": 75, "calcium": 1000},
    "max_servings": 6,
}


def diet(m: Backend, d: dict) -> Built:
    servings = {f: m.var() for f in d["cost"]}
    if m.use("nutrient_minimum"):
        for n, need in d["requirement"].items():
            m.add(sum_(d["content"][f][n] * servings[f] for f in servings) >= need)
    if m.use("variety_limit"):
        for f in servings:
            m.add(servings[f] <= d["max_servings"])
    return Built({"servings": servings}, "minimize", sum_(d["cost"][f] * servings[f] for f in servings))


# ---------------------------------------------------------------------------- 4 transportation

TRANSPORT = {
    "supply": {"Ashford": 40, "Belmont": 55, "Cedar": 35},
    "demand": {"Northfield": 30, "Southport": 25, "Eastwood": 35, "Westbury": 25},
    "cost": {"Ashford": {"Northfield": 80, "Southport": 60, "Eastwood": 100, "Westbury": 90},
             "Belmont": {"Northfield": 90, "Southport": 120, "Eastwood": 130, "Westbury": 70},
             "Cedar": {"Northfield": 140, "Southport": 100, "Eastwood": 160, "Westbury": 50}},
}


def transportation(m: Backend, d: dict) -> Built:
    ship = {p: {c: m.var(0, 100, True) for c in d["demand"]} for p in d["supply"]}
    if m.use("plant_supply"):
        for p, cap in d["supply"].items():
            m.add(sum_(ship[p].values()) <= cap)
    if m.use("city_demand"):
        for c, need in d["demand"].items():
            m.add(sum_(ship[p][c] for p in ship) >= need)
    cost = sum_(d["cost"][p][c] * ship[p][c] for p in ship for c in d["demand"])
    return Built({"ship": ship}, "minimize", cost)


# ---------------------------------------------------------------------------- 5 assignment

ASSIGN = {
    "minutes": {"Ana": {"invoicing": 40, "payroll": 55, "audit": 65, "reporting": 50},
                "Ben": {"invoicing": 45, "payroll": 60, "audit": 50, "reporting": 70},
                "Carla": {"invoicing": 55, "payroll": 45, "audit": 60, "reporting": 65},
                "Dev": {"invoicing": 60, "payroll": 50, "audit": 70, "reporting": 45}},
}


def assignment(m: Backend, d: dict) -> Built:
    t = d["minutes"]
    tasks = list(t["Ana"])
    x = {k: {j: m.binary() for j in tasks} for k in t}
    if m.use("one_task_per_clerk"):
        for k in t:
            m.add(sum_(x[k].values()) == 1)
    if m.use("one_clerk_per_task"):
        for j in tasks:
            m.add(sum_(x[k][j] for k in t) == 1)
    return Built({"assign": x}, "minimize", sum_(t[k][j] * x[k][j] for k in t for j in tasks))


def assignment_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    assert not omit
    t = ASSIGN["minutes"]
    clerks, tasks = list(t), list(t["Ana"])
    scored = []
    for perm in itertools.permutations(tasks):
        value = sum(t[k][j] for k, j in zip(clerks, perm, strict=True))
        assign = {k: {j: int(j == pj) for j in tasks} for k, pj in zip(clerks, perm, strict=True)}
        scored.append((value, {"assign": assign}))
    best = min(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


# ---------------------------------------------------------------------------- 6 knapsack

KNAP_ITEMS = ["camera", "spectrometer", "magnetometer", "radiometer", "dust_counter", "gyroscope",
              "plasma_probe", "ion_detector"]
KNAPSACK = {
    "weight": dict(zip(KNAP_ITEMS, [12, 7, 11, 8, 9, 6, 14, 5], strict=True)),
    "value": dict(zip(KNAP_ITEMS, [24, 13, 23, 15, 16, 11, 28, 8], strict=True)),
    "capacity": 40,
}


def knapsack(m: Backend, d: dict) -> Built:
    fly = {i: m.binary() for i in d["weight"]}
    if m.use("payload_limit"):
        m.add(sum_(d["weight"][i] * fly[i] for i in fly) <= d["capacity"])
    return Built({"fly": fly}, "maximize", sum_(d["value"][i] * fly[i] for i in fly))


def knapsack_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    d = KNAPSACK
    scored = []
    for bits in itertools.product([0, 1], repeat=len(KNAP_ITEMS)):
        fly = dict(zip(KNAP_ITEMS, bits, strict=True))
        if "payload_limit" not in omit and sum(d["weight"][i] * fly[i] for i in fly) > d["capacity"]:
            continue
        scored.append((sum(d["value"][i] * fly[i] for i in fly), {"fly": fly}))
    best = max(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


# ---------------------------------------------------------------------------- 7 set cover

SITES = ["riverside", "hilltop", "market_square", "old_mill", "airport", "central_park"]
DISTRICTS = ["northgate", "docks", "old_town", "university", "west_end", "industrial_park", "lakeside"]
REACH = {  # from the text: which districts a station at the site reaches
    "riverside": {"northgate", "docks", "old_town"},
    "hilltop": {"docks", "university"},
    "market_square": {"old_town", "university", "west_end", "industrial_park"},
    "old_mill": {"northgate", "west_end"},
    "airport": {"industrial_park", "lakeside"},
    "central_park": {"university", "lakeside"},
}
COVER = {
    "cost": dict(zip(SITES, [50000, 40000, 60000, 35000, 45000, 55000], strict=True)),
    "covers": {s: {dd: int(dd in REACH[s]) for dd in DISTRICTS} for s in SITES},
}


def set_cover(m: Backend, d: dict) -> Built:
    open_ = {s: m.binary() for s in d["cost"]}
    if m.use("district_covered"):
        for dd in DISTRICTS:
            m.add(sum_(d["covers"][s][dd] * open_[s] for s in open_) >= 1)
    return Built({"open": open_}, "minimize", sum_(d["cost"][s] * open_[s] for s in open_))


def set_cover_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    scored = []
    for bits in itertools.product([0, 1], repeat=len(SITES)):
        chosen = [s for s, b in zip(SITES, bits, strict=True) if b]
        if "district_covered" not in omit and set().union(*(REACH[s] for s in chosen)) != set(DISTRICTS):
            continue
        scored.append((sum(COVER["cost"][s] for s in chosen),
                       {"open": dict(zip(SITES, bits, strict=True))}))
    best = min(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


# ---------------------------------------------------------------------------- 8 inventory (t-1)

INVENTORY = {
    "demand": {1: 40, 2: 60, 3: 80, 4: 50},
    "capacity": 60,
    "build_cost": {1: 100, 2: 120, 3: 170, 4: 130},
    "holding_cost": 30,
    "initial_stock": 10,
    "final_stock": 10,
}


def inventory(m: Backend, d: dict) -> Built:
    months = list(d["demand"])
    build = {t: m.var(0, 1000, True) for t in months}
    stock = {t: m.var(0, 1000, True) for t in months}  # lower bound 0: demand met on time
    if m.use("first_month_balance"):
        m.add(stock[1] == d["initial_stock"] + build[1] - d["demand"][1])
    if m.use("stock_balance"):
        for t in months[1:]:
            m.add(stock[t] == stock[t - 1] + build[t] - d["demand"][t])
    if m.use("build_capacity"):
        for t in months:
            m.add(build[t] <= d["capacity"])
    if m.use("ending_stock"):
        m.add(stock[4] >= d["final_stock"])
    cost = sum_(d["build_cost"][t] * build[t] + d["holding_cost"] * stock[t] for t in months)
    return Built({"build": build, "stock": stock}, "minimize", cost)


# ---------------------------------------------------------------------------- 9 help-desk shifts

SHIFTS = {
    "need": {1: 4, 2: 7, 3: 9, 4: 8, 5: 10, 6: 12, 7: 8, 8: 5},
    "shift_cost": {1: 140, 2: 120, 3: 120, 4: 130, 5: 150},
    "shift_length": 4,
}


def shifts(m: Backend, d: dict) -> Built:
    agents = {s: m.var(0, 100, True) for s in d["shift_cost"]}
    if m.use("period_coverage"):
        for p, need in d["need"].items():
            on_duty = [agents[s] for s in agents if s <= p < s + d["shift_length"]]
            m.add(sum_(on_duty) >= need)
    return Built({"agents": agents}, "minimize", sum_(d["shift_cost"][s] * agents[s] for s in agents))


# ---------------------------------------------------------------------------- 10 warehouse location

WAREHOUSE = {
    "fixed_cost": {"north": 500, "central": 700, "south": 450},
    "capacity": {"north": 80, "central": 120, "south": 70},
    "demand": {1: 30, 2: 40, 3: 25, 4: 35},
    "ship_cost": {"north": {1: 4, 2: 6, 3: 9, 4: 11}, "central": {1: 7, 2: 3, 3: 4, 4: 6},
                  "south": {1: 12, 2: 8, 3: 5, 4: 3}},
}


def _warehouse_common(m: Backend, d: dict) -> tuple[dict, dict, Any]:
    open_ = {w: m.binary() for w in d["fixed_cost"]}
    ship = {w: {s: m.var(0, 200, True) for s in d["demand"]} for w in open_}
    if m.use("store_demand"):
        for s, need in d["demand"].items():
            m.add(sum_(ship[w][s] for w in ship) == need)
    if m.use("warehouse_capacity"):
        for w, cap in d["capacity"].items():
            m.add(sum_(ship[w].values()) <= cap)
    cost = sum_(d["fixed_cost"][w] * open_[w] for w in open_) + sum_(
        d["ship_cost"][w][s] * ship[w][s] for w in ship for s in d["demand"])
    return open_, ship, cost


def warehouse_cp(m: Backend, d: dict) -> Built:
    """Implications as enforcement literals."""
    assert isinstance(m, Cp)
    open_, ship, cost = _warehouse_common(m, d)
    if m.use("closed_ships_nothing"):
        for w in open_:
            m.add(sum_(ship[w].values()) == 0).OnlyEnforceIf(open_[w].Not())
    if m.use("north_excludes_south"):
        m.add(open_["south"] == 0).OnlyEnforceIf(open_["north"])
    return Built({"open": open_, "ship": ship}, "minimize", cost)


def warehouse_milp(m: Backend, d: dict) -> Built:
    """The same implications, linearized with big-M (M = total demand) by hand."""
    open_, ship, cost = _warehouse_common(m, d)
    big_m = sum(d["demand"].values())
    if m.use("closed_ships_nothing"):
        for w in open_:
            m.add(sum_(ship[w].values()) <= big_m * open_[w])
    if m.use("north_excludes_south"):
        m.add(open_["north"] + open_["south"] <= 1)
    return Built({"open": open_, "ship": ship}, "minimize", cost)


# ---------------------------------------------------------------------------- 11 project selection

PROJECTS = ["erp_upgrade", "data_warehouse", "mobile_app", "web_portal", "ai_pilot", "security_audit"]
PROJECT = {
    "cost": dict(zip(PROJECTS, [40000, 30000, 25000, 20000, 35000, 15000], strict=True)),
    "npv": dict(zip(PROJECTS, [60000, 35000, 45000, 30000, 55000, 25000], strict=True)),
    "budget": 100000,
}


def project_cp(m: Backend, d: dict) -> Built:
    assert isinstance(m, Cp)
    x = {p: m.binary() for p in PROJECTS}
    if m.use("budget_limit"):
        m.add(sum_(d["cost"][p] * x[p] for p in x) <= d["budget"])
    if m.use("erp_requires_warehouse"):
        m.m.AddImplication(x["erp_upgrade"], x["data_warehouse"])
    if m.use("app_or_portal"):
        m.m.AddBoolOr([x["mobile_app"].Not(), x["web_portal"].Not()])
    if m.use("ai_requires_data"):
        m.m.AddBoolOr([x["erp_upgrade"], x["data_warehouse"]]).OnlyEnforceIf(x["ai_pilot"])
    if m.use("portal_requires_audit"):
        m.m.AddImplication(x["web_portal"], x["security_audit"])
    return Built({"choose": x}, "maximize", sum_(d["npv"][p] * x[p] for p in x))


def project_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    d = PROJECT
    rules: dict[str, Callable[[dict], bool]] = {
        "budget_limit": lambda c: sum(d["cost"][p] * c[p] for p in c) <= d["budget"],
        "erp_requires_warehouse": lambda c: not c["erp_upgrade"] or c["data_warehouse"],
        "app_or_portal": lambda c: not (c["mobile_app"] and c["web_portal"]),
        "ai_requires_data": lambda c: not c["ai_pilot"] or c["erp_upgrade"] or c["data_warehouse"],
        "portal_requires_audit": lambda c: not c["web_portal"] or c["security_audit"],
    }
    scored = []
    for bits in itertools.product([0, 1], repeat=len(PROJECTS)):
        c = dict(zip(PROJECTS, bits, strict=True))
        if all(rule(c) for name, rule in rules.items() if name not in omit):
            scored.append((sum(d["npv"][p] * c[p] for p in c), {"choose": c}))
    best = max(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


# ---------------------------------------------------------------------------- 12 house puzzle

COLORS, PETS, DRINKS = ["red", "green", "blue", "yellow"], ["dog", "cat", "fish", "bird"], \
    ["tea", "coffee", "milk", "juice"]
HOUSE_CLUES: dict[str, Callable[[dict, dict, dict], bool]] = {
    "dog_next_to_red": lambda c, p, d: abs(p["dog"] - c["red"]) == 1,
    "green_right_of_red": lambda c, p, d: c["green"] == c["red"] + 1,
    "coffee_in_blue": lambda c, p, d: d["coffee"] == c["blue"],
    "milk_in_house_3": lambda c, p, d: d["milk"] == 3,
    "cat_owner_drinks_juice": lambda c, p, d: p["cat"] == d["juice"],
    "fish_in_yellow": lambda c, p, d: p["fish"] == c["yellow"],
    "fish_bird_not_neighbours": lambda c, p, d: abs(p["fish"] - p["bird"]) != 1,
    "dog_owner_no_milk": lambda c, p, d: p["dog"] != d["milk"],
}


def house_cp(m: Backend, d: dict) -> Built:
    assert isinstance(m, Cp)
    c = {k: m.var(1, 4) for k in COLORS}
    p = {k: m.var(1, 4) for k in PETS}
    dr = {k: m.var(1, 4) for k in DRINKS}
    for group, arr in (("colors_different", c), ("pets_different", p), ("drinks_different", dr)):
        if m.use(group):
            m.m.AddAllDifferent(list(arr.values()))

    def abs_of(a: Any, b: Any) -> Any:
        t = m.var(0, 3)
        m.m.AddAbsEquality(t, a - b)
        return t

    if m.use("dog_next_to_red"):
        m.add(abs_of(p["dog"], c["red"]) == 1)
    if m.use("green_right_of_red"):
        m.add(c["green"] == c["red"] + 1)
    if m.use("coffee_in_blue"):
        m.add(dr["coffee"] == c["blue"])
    if m.use("milk_in_house_3"):
        m.add(dr["milk"] == 3)
    if m.use("cat_owner_drinks_juice"):
        m.add(p["cat"] == dr["juice"])
    if m.use("fish_in_yellow"):
        m.add(p["fish"] == c["yellow"])
    if m.use("fish_bird_not_neighbours"):
        m.add(abs_of(p["fish"], p["bird"]) != 1)
    if m.use("dog_owner_no_milk"):
        m.add(p["dog"] != dr["milk"])
    return Built({"color_house": c, "pet_house": p, "drink_house": dr})


def house_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    assert not omit
    sols = []
    houses = range(1, 5)
    for cp_ in itertools.permutations(houses):
        c = dict(zip(COLORS, cp_, strict=True))
        for pp in itertools.permutations(houses):
            p = dict(zip(PETS, pp, strict=True))
            for dp in itertools.permutations(houses):
                d = dict(zip(DRINKS, dp, strict=True))
                if all(clue(c, p, d) for clue in HOUSE_CLUES.values()):
                    sols.append({"color_house": c, "pet_house": p, "drink_house": d})
    return ("satisfiable" if sols else "infeasible"), None, sols


def house_every_clue_needed(expected: dict) -> None:
    """Not required of a puzzle, but true of this one: each clue is needed for uniqueness."""
    for name in HOUSE_CLUES:
        kept = {k: v for k, v in HOUSE_CLUES.items() if k != name}
        count = 0
        for cp_ in itertools.permutations(range(1, 5)):
            c = dict(zip(COLORS, cp_, strict=True))
            for pp in itertools.permutations(range(1, 5)):
                p = dict(zip(PETS, pp, strict=True))
                for dp in itertools.permutations(range(1, 5)):
                    d = dict(zip(DRINKS, dp, strict=True))
                    count += all(clue(c, p, d) for clue in kept.values())
        assert count > 1, f"clue {name} is redundant"


# ---------------------------------------------------------------------------- 13 blending

COMPONENTS = ["alkylate", "reformate", "naphtha", "butane"]
BLEND = {
    "octane": dict(zip(COMPONENTS, [95, 92, 84, 92], strict=True)),
    "vapor_pressure": dict(zip(COMPONENTS, [5, 4, 10, 60], strict=True)),
    "cost": dict(zip(COMPONENTS, [90, 80, 60, 40], strict=True)),
    "available": dict(zip(COMPONENTS, [400, 400, 600, 100], strict=True)),
    "batch_size": 1000,
    "min_octane": 89,
    "max_vapor_pressure": 10,
}


def blending(m: Backend, d: dict) -> Built:
    use = {c: m.var() for c in COMPONENTS}
    total = sum_(use.values())
    if m.use("batch_volume"):
        m.add(total == d["batch_size"])
    if m.use("component_availability"):
        for c in use:
            m.add(use[c] <= d["available"][c])
    if m.use("octane_spec"):  # (octane - 89) . use >= 0
        m.add(sum_((d["octane"][c] - d["min_octane"]) * use[c] for c in use) >= 0)
    if m.use("vapor_pressure_spec"):
        m.add(sum_((d["vapor_pressure"][c] - d["max_vapor_pressure"]) * use[c] for c in use) <= 0)
    return Built({"use": use}, "minimize", sum_(d["cost"][c] * use[c] for c in use))


# ---------------------------------------------------------------------------- 14 min-cost flow

NODES = ["refinery", "north_hub", "south_hub", "junction", "east_city", "west_city"]
ARCS = {("refinery", "north_hub"): (30, 400), ("refinery", "south_hub"): (40, 600),
        ("north_hub", "junction"): (20, 200), ("north_hub", "west_city"): (15, 500),
        ("south_hub", "junction"): (30, 300), ("south_hub", "east_city"): (20, 900),
        ("junction", "east_city"): (25, 200), ("junction", "west_city"): (25, 400)}
FLOW = {
    "net_supply": dict(zip(NODES, [55, 0, 0, 0, -30, -25], strict=True)),
    "capacity": {i: {j: ARCS.get((i, j), (0, 0))[0] for j in NODES} for i in NODES},
    "unit_cost": {i: {j: ARCS.get((i, j), (0, 0))[1] for j in NODES} for i in NODES},
}


def network_flow(m: Backend, d: dict) -> Built:
    """Arc-based: only the listed pipelines get a variable; the others are fixed at 0."""
    flow = {i: {j: m.var(0, 0) for j in NODES} for i in NODES}
    for i, j in ARCS:
        flow[i][j] = m.var()
    if m.use("pipeline_capacity"):
        for (i, j), (cap, _) in ARCS.items():
            m.add(flow[i][j] <= cap)
    balance = {n: sum_(flow[n][j] for j in NODES) - sum_(flow[j][n] for j in NODES) for n in NODES}
    if m.use("supply_and_demand"):
        for n in ("refinery", "east_city", "west_city"):
            m.add(balance[n] == d["net_supply"][n])
    if m.use("flow_conservation"):
        for n in ("north_hub", "south_hub", "junction"):
            m.add(balance[n] == 0)
    cost = sum_(k * flow[i][j] for (i, j), (_, k) in ARCS.items())
    return Built({"flow": flow}, "minimize", cost)


# ---------------------------------------------------------------------------- 15 abs: depot

STORES = ["Millbrook", "Fairview", "Kingston", "Riverton", "Oakdale"]
DEPOT = {
    "store_km": dict(zip(STORES, [5, 20, 45, 70, 90], strict=True)),
    "deliveries": dict(zip(STORES, [3, 2, 4, 5, 1], strict=True)),
    "wetland_km": 48, "wetland_buffer": 6, "office_km": 50, "office_radius": 30,
}


def depot_cp(m: Backend, d: dict) -> Built:
    assert isinstance(m, Cp)
    site = m.var(0, 100)

    def dist(point: int) -> Any:
        t = m.var(0, 100)
        m.m.AddAbsEquality(t, site - point)
        return t

    if m.use("wetland_buffer_zone"):
        m.add(dist(d["wetland_km"]) >= d["wetland_buffer"])
    if m.use("near_office"):
        m.add(dist(d["office_km"]) <= d["office_radius"])
    cost = sum_(d["deliveries"][s] * dist(d["store_km"][s]) for s in STORES)
    return Built({"site": site}, "minimize", cost)


def depot_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    d = DEPOT
    scored = []
    for x in range(0, 101):
        if "wetland_buffer_zone" not in omit and abs(x - d["wetland_km"]) < d["wetland_buffer"]:
            continue
        if "near_office" not in omit and abs(x - d["office_km"]) > d["office_radius"]:
            continue
        scored.append((sum(d["deliveries"][s] * abs(x - d["store_km"][s]) for s in STORES), {"site": x}))
    best = min(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


# ---------------------------------------------------------------------------- 16 max: makespan

MACHINES = ["alpha", "beta", "gamma"]
MAKESPAN = {
    "hours": {j: dict(zip(MACHINES, t, strict=True)) for j, t in enumerate(
        [[6, 8, 5], [4, 5, 7], [7, 9, 6], [3, 4, 2], [5, 4, 6], [8, 10, 9], [2, 3, 3]], start=1)},
}


def _makespan_common(m: Backend, d: dict) -> tuple[dict, dict]:
    jobs = list(d["hours"])
    assign = {j: {k: m.binary() for k in MACHINES} for j in jobs}
    load = {k: m.var(0, 100, True) for k in MACHINES}
    if m.use("one_machine_per_job"):
        for j in jobs:
            m.add(sum_(assign[j].values()) == 1)
    if m.use("machine_load"):
        for k in MACHINES:
            m.add(load[k] == sum_(d["hours"][j][k] * assign[j][k] for j in jobs))
    return assign, load


def makespan_cp(m: Backend, d: dict) -> Built:
    assert isinstance(m, Cp)
    assign, load = _makespan_common(m, d)
    span = m.var(0, 100)
    m.m.AddMaxEquality(span, list(load.values()))
    return Built({"assign": assign, "load": load}, "minimize", span)


def makespan_milp(m: Backend, d: dict) -> Built:
    assign, load = _makespan_common(m, d)
    span = m.var()
    for k in MACHINES:
        m.add(span >= load[k])
    return Built({"assign": assign, "load": load}, "minimize", span)


def makespan_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    assert not omit
    hours = MAKESPAN["hours"]
    jobs = list(hours)
    scored = []
    for choice in itertools.product(MACHINES, repeat=len(jobs)):
        load = {k: sum(hours[j][k] for j, c in zip(jobs, choice, strict=True) if c == k) for k in MACHINES}
        assign = {j: {k: int(c == k) for k in MACHINES} for j, c in zip(jobs, choice, strict=True)}
        scored.append((max(load.values()), {"assign": assign, "load": load}))
    best = min(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


# ---------------------------------------------------------------------------- 17 min: maximin water

DISTRICTS_W = ["north", "east", "south"]
WATER = {
    "release": 900,
    "demand": dict(zip(DISTRICTS_W, [400, 300, 500], strict=True)),
    "canal_capacity": dict(zip(DISTRICTS_W, [350, 300, 400], strict=True)),
}


def water_lp(m: Backend, d: dict) -> Built:
    water = {k: m.var() for k in DISTRICTS_W}
    if m.use("reservoir_limit"):
        m.add(sum_(water.values()) <= d["release"])
    if m.use("canal_limit"):
        for k in water:
            m.add(water[k] <= d["canal_capacity"][k])
    if m.use("no_more_than_needed"):
        for k in water:
            m.add(water[k] <= d["demand"][k])
    share = m.var(0, INF)  # max t s.t. t <= water/demand for every district
    for k in water:
        m.add(share * d["demand"][k] <= water[k])
    return Built({"water": water}, "maximize", share)


def water_z3(expected: dict) -> None:
    """z3 Optimize on the min() of the three fractions, kept as an if-then-else term."""
    d = WATER
    water = {k: z3.Real(k) for k in DISTRICTS_W}
    opt = z3.Optimize()
    opt.add(*(water[k] >= 0 for k in water), z3.Sum(list(water.values())) <= d["release"])
    opt.add(*(water[k] <= d["canal_capacity"][k] for k in water), *(water[k] <= d["demand"][k] for k in water))
    fr = [water[k] / d["demand"][k] for k in DISTRICTS_W]
    smallest = z3.If(fr[0] <= fr[1], z3.If(fr[0] <= fr[2], fr[0], fr[2]), z3.If(fr[1] <= fr[2], fr[1], fr[2]))
    handle = opt.maximize(smallest)
    assert opt.check() == z3.sat
    value = handle.value()
    assert Fraction(str(value)) == Fraction(str(expected["objective"]))


# ---------------------------------------------------------------------------- 18 brewery (infeasible)

BEERS = ["lager", "ale", "stout"]
BREWERY = {
    "min_order": dict(zip(BEERS, [300, 200, 150], strict=True)),
    "tank_capacity": 600,
    "labor": dict(zip(BEERS, [2, 3, 4], strict=True)), "labor_available": 2000,
    "malt": dict(zip(BEERS, [20, 25, 30], strict=True)), "malt_stock": 20000,
    "profit": dict(zip(BEERS, [40, 55, 70], strict=True)),
}


def brewery(m: Backend, d: dict) -> Built:
    brew = {b: m.var() for b in BEERS}
    if m.use("fill_orders"):
        for b in brew:
            m.add(brew[b] >= d["min_order"][b])
    if m.use("tank_limit"):
        m.add(sum_(brew.values()) <= d["tank_capacity"])
    if m.use("labor_limit"):
        m.add(sum_(d["labor"][b] * brew[b] for b in brew) <= d["labor_available"])
    if m.use("malt_limit"):
        m.add(sum_(d["malt"][b] * brew[b] for b in brew) <= d["malt_stock"])
    if m.use("stout_at_most_ale"):
        m.add(brew["stout"] <= brew["ale"])
    return Built({"brew": brew}, "maximize", sum_(d["profit"][b] * brew[b] for b in brew))


# ---------------------------------------------------------------------------- 19 ad budget (infeasible)

CHANNELS = ["tv", "radio", "online", "print"]
ADS = {
    "budget": 100, "online_min_share": 0.5, "tv_minimum": 60, "radio_minimum": 5, "print_maximum": 10,
    "tv_radio_ratio": 3, "reach": dict(zip(CHANNELS, [30, 12, 25, 8], strict=True)),
}


def ads(m: Backend, d: dict) -> Built:
    spend = {c: m.var() for c in CHANNELS}
    total = sum_(spend.values())
    if m.use("total_budget"):
        m.add(total <= d["budget"])
    if m.use("online_share"):
        m.add(spend["online"] - d["online_min_share"] * total >= 0)
    if m.use("tv_contract"):
        m.add(spend["tv"] >= d["tv_minimum"])
    if m.use("radio_floor"):
        m.add(spend["radio"] >= d["radio_minimum"])
    if m.use("print_cap"):
        m.add(spend["print"] <= d["print_maximum"])
    if m.use("tv_radio_balance"):
        m.add(spend["tv"] - d["tv_radio_ratio"] * spend["radio"] <= 0)
    return Built({"spend": spend}, "maximize", sum_(d["reach"][c] * spend[c] for c in spend))


# ---------------------------------------------------------------------------- 20 bottles (infeasible)

BOTTLES = {
    "bottles_per_case": {"six": 6, "ten": 10}, "pack_cost": {"six": 2, "ten": 3},
    "order_size": 44, "min_ten_cases": 3, "van_cases": 8,
}


def bottles(m: Backend, d: dict) -> Built:
    cases = {k: m.var(0, 50, True) for k in d["bottles_per_case"]}
    if m.use("exact_order"):
        m.add(sum_(d["bottles_per_case"][k] * cases[k] for k in cases) == d["order_size"])
    if m.use("min_large_cases"):
        m.add(cases["ten"] >= d["min_ten_cases"])
    if m.use("van_capacity"):
        m.add(sum_(cases.values()) <= d["van_cases"])
    return Built({"cases": cases}, "minimize", sum_(d["pack_cost"][k] * cases[k] for k in cases))


def bottles_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    d = BOTTLES
    scored = []
    for six, ten in itertools.product(range(51), repeat=2):
        if "exact_order" not in omit and 6 * six + 10 * ten != d["order_size"]:
            continue
        if "min_large_cases" not in omit and ten < d["min_ten_cases"]:
            continue
        if "van_capacity" not in omit and six + ten > d["van_cases"]:
            continue
        scored.append((2 * six + 3 * ten, {"cases": {"six": six, "ten": ten}}))
    if not scored:
        return "infeasible", None, []
    best = min(v for v, _ in scored)
    return "optimal", best, [s for v, s in scored if v == best]


def bottles_lp_relaxation_feasible(expected: dict) -> None:
    """It is an *integer* infeasibility: the LP relaxation of the full model is feasible."""
    m = Lin()
    d = BOTTLES
    cases = {k: m.var() for k in d["bottles_per_case"]}
    m.add(sum_(d["bottles_per_case"][k] * cases[k] for k in cases) == d["order_size"])
    m.add(cases["ten"] >= d["min_ten_cases"])
    m.add(sum_(cases.values()) <= d["van_cases"])
    assert m.solve("minimize", sum_(d["pack_cost"][k] * cases[k] for k in cases))[0] == "optimal"


# ---------------------------------------------------------------------------- 21 weekend rota (infeasible)

STAFF, DAYS = ["alice", "bob", "carol", "dan"], ["saturday", "sunday"]
ROTA = {"min_staff": 2}


def rota_cp(m: Backend, d: dict) -> Built:
    assert isinstance(m, Cp)
    works = {s: {day: m.binary() for day in DAYS} for s in STAFF}
    if m.use("daily_coverage"):
        for day in DAYS:
            m.add(sum_(works[s][day] for s in STAFF) >= d["min_staff"])
    if m.use("one_day_each"):
        for s in STAFF:
            m.add(sum_(works[s].values()) <= 1)
    if m.use("alice_on_saturday"):
        m.add(works["alice"]["saturday"] == 1)
    if m.use("training_buddy"):
        for day in DAYS:
            m.m.AddImplication(works["alice"][day], works["bob"][day])
    if m.use("bob_not_saturday"):
        m.add(works["bob"]["saturday"] == 0)
    return Built({"works": works})


def rota_brute(omit: frozenset[str]) -> tuple[str, float | None, list[dict]]:
    rules: dict[str, Callable[[dict], bool]] = {
        "daily_coverage": lambda w: all(sum(w[s][day] for s in STAFF) >= 2 for day in DAYS),
        "one_day_each": lambda w: all(sum(w[s].values()) <= 1 for s in STAFF),
        "alice_on_saturday": lambda w: w["alice"]["saturday"] == 1,
        "training_buddy": lambda w: all(not w["alice"][day] or w["bob"][day] for day in DAYS),
        "bob_not_saturday": lambda w: w["bob"]["saturday"] == 0,
    }
    sols = []
    for bits in itertools.product([0, 1], repeat=len(STAFF) * len(DAYS)):
        it = iter(bits)
        w = {s: {day: next(it) for day in DAYS} for s in STAFF}
        if all(rule(w) for name, rule in rules.items() if name not in omit):
            sols.append({"works": w})
    return ("satisfiable" if sols else "infeasible"), None, sols


# ---------------------------------------------------------------------------- registry

REGISTRY: dict[str, Example] = {
    "paint_production_lp": Example(PAINT, [(Lin, paint)]),
    "bakery_integer": Example(BAKERY, [(Lin, bakery), (Cp, bakery)], bakery_brute),
    "diet": Example(DIET, [(Lin, diet)]),
    "transportation": Example(TRANSPORT, [(Lin, transportation), (Cp, transportation)]),
    "assignment": Example(ASSIGN, [(Lin, assignment), (Cp, assignment)], assignment_brute),
    "satellite_knapsack": Example(KNAPSACK, [(Lin, knapsack), (Cp, knapsack)], knapsack_brute),
    "ambulance_set_cover": Example(COVER, [(Lin, set_cover), (Cp, set_cover)], set_cover_brute),
    "inventory_planning": Example(INVENTORY, [(Lin, inventory), (Cp, inventory)]),
    "help_desk_shifts": Example(SHIFTS, [(Lin, shifts), (Cp, shifts)]),
    "warehouse_location": Example(WAREHOUSE, [(Cp, warehouse_cp), (Lin, warehouse_milp)]),
    "project_selection": Example(PROJECT, [(Cp, project_cp)], project_brute),
    "house_puzzle": Example({}, [(Cp, house_cp)], house_brute, [house_every_clue_needed]),
    "gasoline_blending": Example(BLEND, [(Lin, blending)]),
    "fuel_network_flow": Example(FLOW, [(Lin, network_flow)]),
    "depot_location_abs": Example(DEPOT, [(Cp, depot_cp)], depot_brute),
    "machine_makespan": Example(MAKESPAN, [(Cp, makespan_cp), (Lin, makespan_milp)], makespan_brute),
    "water_allocation_maximin": Example(WATER, [(Lin, water_lp)], extra=[water_z3]),
    "brewery_infeasible": Example(BREWERY, [(Lin, brewery)]),
    "ad_budget_infeasible": Example(ADS, [(Lin, ads)]),
    "bottle_packing_infeasible": Example(BOTTLES, [(Lin, bottles), (Cp, bottles)], bottles_brute,
                                         [bottles_lp_relaxation_feasible]),
    "weekend_rota_infeasible": Example(ROTA, [(Cp, rota_cp)], rota_brute),
}

NAMES = example_names()
MODEL_CASES = [(n, i) for n in NAMES if n in REGISTRY for i in range(len(REGISTRY[n].models))]


# ---------------------------------------------------------------------------- helpers


def evaluate(backend: Backend, tree: Any) -> Any:
    if isinstance(tree, dict):
        return {str(k): evaluate(backend, v) for k, v in tree.items()}
    return backend.value(tree)


def leaves(tree: Any, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in leaves(v, prefix + (str(k),))]
    return [(prefix, tree)]


def lookup(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = {str(k): v for k, v in tree.items()}[key]
    return tree


def close(a: float, b: float, tol: float = TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def run(name: str, index: int, omit: frozenset[str] = frozenset(),
        feasibility: bool = False) -> tuple[Backend, Built, str, float | None]:
    """Build model `index` of the example without the `omit` groups and solve it.

    With `feasibility`, the objective is dropped: the status is "feasible" or "infeasible".
    """
    kind, builder = REGISTRY[name].models[index]
    backend = kind(omit)
    built = builder(backend, REGISTRY[name].data)
    if feasibility:
        status, objective = backend.solve(None, None)
    else:
        status, objective = backend.solve(built.sense, built.objective)
    return backend, built, status, objective


def ir_constraint_names(ir: dict) -> list[str]:
    return [c["name"] for c in ir["constraints"]]


def normalize(value: Any, index: list[str], sets: dict[str, list]) -> Any:
    """IR parameter value (nested lists or objects) -> nested dict keyed by str(element)."""
    if not index:
        return value
    elements = sets[index[0]]
    if isinstance(value, list):
        assert len(value) == len(elements)
        return {str(e): normalize(v, index[1:], sets) for e, v in zip(elements, value, strict=True)}
    assert {str(k) for k in value} == {str(e) for e in elements}
    return {str(k): normalize(v, index[1:], sets) for k, v in value.items()}


def stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): stringify(v) for k, v in value.items()}
    return value


def text_numbers(text: str) -> set[float]:
    found: set[float] = set()
    for token in re.findall(r"\d[\d,]*(?:\.\d+)?%?", text):
        pct = token.endswith("%")
        number = float(token.rstrip("%").rstrip(",").replace(",", ""))
        found.add(number)
        if pct:
            found.add(number / 100)
    return found


def formalizers_available() -> bool:
    try:
        import formalizers.ground  # noqa: F401
        import formalizers.ir  # noqa: F401
        import formalizers.semantics  # noqa: F401
    except Exception:
        return False
    return True


# ---------------------------------------------------------------------------- tests: the files


def test_enough_examples() -> None:
    assert len(NAMES) >= 17
    assert set(NAMES) == set(REGISTRY), "every example needs an independent model here, and vice versa"
    statuses = [load(n)[2]["status"] for n in NAMES]
    assert statuses.count("infeasible") >= 3 and "satisfiable" in statuses


@pytest.mark.parametrize("name", NAMES)
def test_files_are_well_formed(name: str) -> None:
    text, ir, expected = load(name)
    assert ir["name"] == name
    sets = {s["name"]: s["elements"] for s in ir["sets"]}
    variables = {v["name"]: v for v in ir["variables"]}

    names = ir_constraint_names(ir)
    assert len(names) == len(set(names))
    for c in ir["constraints"]:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c["name"]), c["name"]
        assert c["label"].strip(), c["name"]
        assert c["source"].strip() and c["source"] in text, f"{c['name']}: source is not verbatim in the text"
        assert re.match(r"[A-Z]", c["source"]) and c["source"].endswith((".", "?")), c["source"]

    assert set(expected) <= {"status", "objective", "values", "conflict", "targets", "notes"}
    assert expected["status"] in STATUSES
    assert expected["targets"] and set(expected["targets"]) <= set(TARGETS)
    assert len(expected["targets"]) == len(set(expected["targets"]))
    assert isinstance(expected["notes"], str) and expected["notes"].strip()
    if expected["status"] == "optimal":
        assert isinstance(expected["objective"], int | float) and ir["objective"] is not None
    else:
        assert expected["objective"] is None
    if expected["status"] == "satisfiable":
        assert ir["objective"] is None
    if expected["status"] == "infeasible":
        assert expected["conflict"] and set(expected["conflict"]) <= set(names)
        assert not expected.get("values")
    else:
        assert "conflict" not in expected

    for var_name, tree in expected.get("values", {}).items():
        var = variables[var_name]
        for path, value in leaves(tree):
            assert len(path) == len(var["index"]), (var_name, path)
            for key, set_name in zip(path, var["index"], strict=True):
                assert key in {str(e) for e in sets[set_name]}, (var_name, path)
            if var["domain"] == "labels":
                assert value in sets[var["labels"]]
            else:
                assert isinstance(value, int | float)

    # Data: the IR's parameters equal what was typed in here from the text, and every number is in it.
    assert {p["name"] for p in ir["parameters"]} == set(REGISTRY[name].data)
    numbers = text_numbers(text) | {0.0, 1.0}
    for p in ir["parameters"]:
        got = normalize(p["value"], p["index"], sets)
        assert got == stringify(REGISTRY[name].data[p["name"]]), p["name"]
        for _, number in leaves(got):
            assert abs(number) in numbers, f"{p['name']}: {number} does not occur in the text"
    for v in ir["variables"]:
        for bound in (v.get("lower"), v.get("upper")):
            assert bound is None or abs(bound) in numbers, f"{v['name']}: bound {bound} not in the text"


# ---------------------------------------------------------------------------- tests: the answers


@pytest.mark.parametrize("name, index", MODEL_CASES)
def test_independent_model(name: str, index: int) -> None:
    _, ir, expected = load(name)
    backend, built, status, objective = run(name, index)
    assert sorted(backend.groups) == sorted(ir_constraint_names(ir)), "constraint groups != IR constraints"
    if expected["status"] == "infeasible":
        assert status == "infeasible"
        return
    assert status == ("feasible" if expected["status"] == "satisfiable" else "optimal")
    if expected["status"] == "optimal":
        assert close(objective, expected["objective"]), (objective, expected["objective"])
    for var_name, tree in expected.get("values", {}).items():
        for path, value in leaves(tree):
            got = backend.value(lookup(built.vars[var_name], path))
            if REGISTRY[name].models[index][0] is Cp or var_name in ("color_house", "pet_house", "drink_house"):
                assert got == value, (var_name, path, got, value)
            else:
                assert close(got, value, 1e-5), (var_name, path, got, value)


@pytest.mark.parametrize("name", [n for n in NAMES if load(n)[2].get("values")])
def test_listed_values_are_unique(name: str) -> None:
    """Minimize and maximize each listed value over all optimal (or all feasible) solutions."""
    _, _, expected = load(name)
    kind, builder = REGISTRY[name].models[0]
    _, _, _, opt = run(name, 0)
    for var_name, tree in expected["values"].items():
        for path, value in leaves(tree):
            bounds = []
            for direction in ("minimize", "maximize"):
                backend = kind()
                built = builder(backend, REGISTRY[name].data)
                if built.sense:
                    backend.bound(built.sense, built.objective, opt)
                target = lookup(built.vars[var_name], path)
                status, got = backend.solve(direction, target)
                assert status == "optimal"
                bounds.append(got)
            # a genuinely free value would move by O(1) with this data; the slack only allows ~1e-7
            assert abs(bounds[0] - value) <= 1e-4 and abs(bounds[1] - value) <= 1e-4, (var_name, path, bounds)


@pytest.mark.parametrize("name, index", [(n, i) for n, i in MODEL_CASES if load(n)[2]["status"] == "infeasible"])
def test_conflict_is_the_unique_minimal_one(name: str, index: int) -> None:
    _, ir, expected = load(name)
    every = frozenset(ir_constraint_names(ir))
    conflict = frozenset(expected["conflict"])
    assert run(name, index, feasibility=True)[2] == "infeasible"
    alone = run(name, index, every - conflict, feasibility=True)[2]
    assert alone == "infeasible", "the conflict alone must be infeasible"
    for member in conflict:
        without = run(name, index, frozenset({member}), feasibility=True)[2]
        assert without == "feasible", f"dropping {member} must make the whole model feasible"
        rest = run(name, index, (every - conflict) | {member}, feasibility=True)[2]
        assert rest == "feasible", f"{member} is not needed in the conflict"


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].brute])
def test_brute_force(name: str) -> None:
    _, ir, expected = load(name)
    brute = REGISTRY[name].brute
    assert brute is not None
    status, objective, solutions = brute(frozenset())
    if expected["status"] == "infeasible":
        assert status == "infeasible" and not solutions
        every = frozenset(ir_constraint_names(ir))
        conflict = frozenset(expected["conflict"])
        assert brute(every - conflict)[0] == "infeasible"
        for member in conflict:
            assert brute(frozenset({member}))[0] != "infeasible"
            assert brute((every - conflict) | {member})[0] != "infeasible"
        return
    assert status == expected["status"]
    if status == "optimal":
        assert objective == expected["objective"]
    for var_name, tree in expected.get("values", {}).items():
        for path, value in leaves(tree):
            assert {lookup(s[var_name], path) for s in solutions} == {value}, (var_name, path)
    if status == "satisfiable":
        assert len(solutions) == 1


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].extra])
def test_extra_checks(name: str) -> None:
    _, _, expected = load(name)
    for check in REGISTRY[name].extra:
        check(expected)


# ---------------------------------------------------------------------------- tests: with formalizers


needs_formalizers = pytest.mark.skipif(not formalizers_available(), reason="formalizers not importable yet")

@needs_formalizers
@pytest.mark.parametrize("name", NAMES)
def test_ir_compiles_and_targets_agree(name: str) -> None:
    from formalizers.ir import load_ir
    from formalizers.semantics import integral_problems, linear_problems

    model = load_ir(EXAMPLES / f"{name}.ir.json").compile()
    _, _, expected = load(name)
    targets = {"minizinc", "smt"}
    if not linear_problems(model):
        targets.add("milp")
    if not integral_problems(model):
        targets.add("cpsat")
    assert targets == set(expected["targets"])


def _checker_values(backend: Backend, built: Built, ir: dict) -> dict:
    values = evaluate(backend, built.vars)
    labels = {v["name"] for v in ir["variables"] if v["domain"] == "labels"}
    integral = {v["name"] for v in ir["variables"] if v["domain"] != "continuous"}

    def tidy(tree: Any, integer: bool) -> Any:
        if isinstance(tree, dict):
            return {k: tidy(v, integer) for k, v in tree.items()}
        return int(round(tree)) if integer else tree

    return {k: tidy(v, k in labels or k in integral) for k, v in values.items()}


@needs_formalizers
@pytest.mark.parametrize("name", NAMES)
def test_independent_solution_satisfies_the_ir(name: str) -> None:
    """Plug the independently found solution into the IR: all constraints hold, objective matches."""
    pytest.importorskip("solvers.checker")
    from formalizers.ir import load_ir
    from solvers.checker import check_solution

    model = load_ir(EXAMPLES / f"{name}.ir.json").compile()
    _, ir, expected = load(name)
    if expected["status"] == "infeasible":
        # Dropping one conflict member gives a solution that violates exactly that IR constraint.
        for member in expected["conflict"]:
            backend, built, status, _ = run(name, 0, frozenset({member}), feasibility=True)
            assert status == "feasible"
            report = check_solution(model, _checker_values(backend, built, ir))
            assert not report.problems, report.problems
            assert {v.constraint for v in report.violations} == {member}, report.describe()
        return
    backend, built, status, _ = run(name, 0)
    report = check_solution(model, _checker_values(backend, built, ir), claimed_objective=expected["objective"])
    assert report.ok, report.describe()
    if expected["objective"] is not None:
        assert close(report.objective, expected["objective"])


class _Z3Algebra:
    """A minimal z3 algebra for formalizers.ground.Grounder (abs/min/max as auxiliary variables)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.vars: dict[tuple[str, tuple], Any] = {}
        self.side: list[Any] = []

    def var(self, name: str, key: tuple) -> Any:
        if (name, key) not in self.vars:
            var = self.model.variables[name]
            x = (z3.Int if var.integral else z3.Real)(f"{name}{list(key)}")
            lower, upper = self.model.var_bounds(var)
            self.side += [x >= lower] if lower is not None else []
            self.side += [x <= upper] if upper is not None else []
            self.vars[(name, key)] = x
        return self.vars[(name, key)]

    def _extreme(self, items: list, largest: bool) -> Any:
        t = z3.FreshInt() if all(z3.is_int(i) for i in items) else z3.FreshReal()
        self.side += [t >= i if largest else t <= i for i in items] + [z3.Or(*[t == i for i in items])]
        return t

    def and_(self, items: list) -> Any:
        return z3.And(*items)

    def or_(self, items: list) -> Any:
        return z3.Or(*items)

    def not_(self, item: Any) -> Any:
        return z3.Not(item)

    def implies(self, a: Any, b: Any) -> Any:
        return z3.Implies(a, b)

    def iff(self, a: Any, b: Any) -> Any:
        return a == b

    def compare(self, op: str, a: Any, b: Any) -> Any:
        return {"<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b, "<": a < b, ">": a > b}[op]

    def abs_(self, a: Any) -> Any:
        return self._extreme([a, -a], True)

    def min_(self, items: list) -> Any:
        return self._extreme(items, False)

    def max_(self, items: list) -> Any:
        return self._extreme(items, True)

    def alldifferent(self, items: list) -> Any:
        return z3.Distinct(*items)


def _z3_solve_ir(name: str, omit: frozenset[str] = frozenset(), optimize: bool = True,
                 keep: Callable[[str], bool] | None = None) -> tuple[str, Any, Any]:
    """Solve the IR without the constraints named in `omit` (and, with `keep`, only the instances,
    by label such as "fill_orders[ale]", that it accepts)."""
    from formalizers.ground import Grounder
    from formalizers.ir import load_ir

    model = load_ir(EXAMPLES / f"{name}.ir.json").compile()
    alg = _Z3Algebra(model)
    grounder = Grounder(model, alg)
    opt = z3.Optimize()
    for inst in grounder.all_instances():
        if inst.name not in omit and (keep is None or keep(inst.label)):
            value = grounder.eval(inst.node, inst.env)
            opt.add(z3.BoolVal(value) if isinstance(value, bool) else value)
    for var in model.variables.values():
        for key in var.keys:
            alg.var(var.name, key)
    handle = None
    if optimize and model.objective is not None:
        objective = grounder.eval(model.objective, {})
        handle = opt.minimize(objective) if model.sense == "minimize" else opt.maximize(objective)
    opt.add(*alg.side)
    result = opt.check()
    if result != z3.sat:
        return str(result), None, None
    value = Fraction(str(handle.value())) if handle is not None else None
    return "sat", value, (opt.model(), alg)


def _instance_labels(name: str) -> list[str]:
    from formalizers.ground import Grounder
    from formalizers.ir import load_ir

    model = load_ir(EXAMPLES / f"{name}.ir.json").compile()
    return [inst.label for inst in Grounder(model, _Z3Algebra(model)).all_instances()]


@needs_formalizers
@pytest.mark.parametrize("name", NAMES)
def test_ir_itself_solved_through_the_grounder(name: str) -> None:
    """Solve the IR as written (formalizers' grounder, a small z3 algebra): same answer as expected.

    Unlike the checker test above, this also catches an IR whose feasible set is too large.
    """
    _, ir, expected = load(name)
    if expected["status"] == "infeasible":
        every = frozenset(ir_constraint_names(ir))
        conflict = frozenset(expected["conflict"])
        assert _z3_solve_ir(name, optimize=False)[0] == "unsat"
        assert _z3_solve_ir(name, every - conflict, optimize=False)[0] == "unsat"
        for member in conflict:
            assert _z3_solve_ir(name, frozenset({member}), optimize=False)[0] == "sat"
        # Instance level (one row per forall binding): the instances whose removal alone restores
        # feasibility are together infeasible, so they are the unique minimal conflict of rows, and
        # they come from exactly the stated constraints.
        labels = _instance_labels(name)
        needed = {lab for lab in labels
                  if _z3_solve_ir(name, optimize=False, keep=lambda x, lab=lab: x != lab)[0] == "sat"}
        assert {lab.split("[")[0] for lab in needed} == conflict, needed
        assert _z3_solve_ir(name, optimize=False, keep=lambda x: x in needed)[0] == "unsat"
        return
    status, objective, (z3_model, alg) = _z3_solve_ir(name)
    assert status == "sat"
    if expected["objective"] is not None:
        assert abs(float(objective) - expected["objective"]) <= TOL * max(1.0, abs(expected["objective"]))
    # Listed values are unique among optimal solutions, so z3's optimum must have them too.
    for var_name, tree in expected.get("values", {}).items():
        for path, value in leaves(tree):
            key = next(k for (n, k) in alg.vars if n == var_name and tuple(map(str, k)) == path)
            got = Fraction(str(z3_model.eval(alg.vars[(var_name, key)], model_completion=True)))
            assert abs(float(got) - value) <= 1e-9, (var_name, path, got, value)
