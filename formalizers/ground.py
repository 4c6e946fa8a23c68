"""Grounding: evaluate IR expressions over their index sets with a pluggable algebra.

One evaluator serves every target: Pyomo, z3 and CP-SAT expressions overload Python's arithmetic
and comparison operators, so the grounder does arithmetic itself and calls the algebra only for
what operators cannot say (variables, logic, abs/min/max, alldifferent). Constant sub-expressions
fold to plain numbers, which is also how the independent checker evaluates a solution: the same
semantics by construction, with no Python `eval` anywhere.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

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
)
from formalizers.semantics import CompiledConstraint, CompiledModel

MAX_INSTANCES = 2_000_000


class GroundError(ValueError):
    """An expression cannot be evaluated for some index (out of range index, division by zero)."""


class Algebra(Protocol):
    """What a target supplies to the grounder."""

    def var(self, name: str, key: tuple) -> Any: ...
    def and_(self, items: list) -> Any: ...
    def or_(self, items: list) -> Any: ...
    def not_(self, item: Any) -> Any: ...
    def implies(self, a: Any, b: Any) -> Any: ...
    def iff(self, a: Any, b: Any) -> Any: ...
    def compare(self, op: str, a: Any, b: Any) -> Any: ...
    def abs_(self, a: Any) -> Any: ...
    def min_(self, items: list) -> Any: ...
    def max_(self, items: list) -> Any: ...
    def alldifferent(self, items: list) -> Any: ...


def is_const(value: Any) -> bool:
    return isinstance(value, bool | int | float | str)


@dataclass
class Instance:
    """One ground instance of an IR constraint: `name[key]` = `node` under `env`."""

    constraint: CompiledConstraint
    key: tuple
    node: Node
    env: dict[str, Any]

    @property
    def name(self) -> str:
        return self.constraint.name

    @property
    def label(self) -> str:
        if not self.key:
            return self.name
        return f"{self.name}[{', '.join(str(k) for k in self.key)}]"


class Grounder:
    def __init__(self, model: CompiledModel, algebra: Algebra) -> None:
        self.m = model
        self.alg = algebra
        self._integral: dict[int, bool] = {}

    # Instances --------------------------------------------------------------
    def instances(self, c: CompiledConstraint) -> Iterator[Instance]:
        """Instances of a constraint; a top-level conjunction or forall splits into rows."""
        envs = self.bind(c.gen, {}) if c.gen is not None else iter([{}])
        for env in envs:
            key = tuple(env[b.var] for b in c.gen.bindings) if c.gen else ()
            yield from self._split(c, c.body, env, key)

    def _split(self, c: CompiledConstraint, node: Node, env: dict, key: tuple) -> Iterator[Instance]:
        if isinstance(node, Logic) and node.op == "and":
            for item in node.items:
                yield from self._split(c, item, env, key)
        elif isinstance(node, Aggregate) and node.func == "forall":
            for inner in self.bind(node.gen, env):
                sub = tuple(inner[b.var] for b in node.gen.bindings)
                yield from self._split(c, node.body, inner, key + sub)
        else:
            yield Instance(c, key, node, env)

    def all_instances(self) -> Iterator[Instance]:
        count = 0
        for c in self.m.constraints:
            for inst in self.instances(c):
                count += 1
                if count > MAX_INSTANCES:
                    raise GroundError(f"more than {MAX_INSTANCES:,} constraint instances")
                yield inst

    def bind(self, gen: Generator, env: dict) -> Iterator[dict]:
        """Every assignment of the generator's loop variables that passes its `where`."""
        domains = []
        for b in gen.bindings:
            domains.append((b.var, b.domain))

        def rec(i: int, cur: dict) -> Iterator[dict]:
            if i == len(domains):
                if gen.where is None or self._truth(self.eval(gen.where, cur), gen.where):
                    yield cur
                return
            var, dom = domains[i]
            for element in self._elements(dom, cur):
                yield from rec(i + 1, {**cur, var: element})

        yield from rec(0, env)

    def _elements(self, dom: SetRef | RangeSet, env: dict) -> list:
        if isinstance(dom, SetRef):
            return self.m.sets[dom.name]
        low, high = self.eval(dom.low, env), self.eval(dom.high, env)
        if not (is_const(low) and is_const(high)):
            raise GroundError("range bounds must be constants")
        if int(high) - int(low) > MAX_INSTANCES:
            raise GroundError(f"range {low}..{high} is too large")
        return list(range(int(low), int(high) + 1))

    @staticmethod
    def _truth(value: Any, node: Node) -> bool:
        if not isinstance(value, bool):
            raise GroundError(f"column {node.col}: a 'where' filter must be decidable from the data")
        return value

    # Evaluation -------------------------------------------------------------
    def eval(self, node: Node, env: dict) -> Any:
        alg = self.alg
        if isinstance(node, Num | BoolConst | Str):
            return node.value
        if isinstance(node, Name):
            return self._name(node, env)
        if isinstance(node, Unary):
            v = self.eval(node.operand, env)
            if node.op == "-":
                return -v
            return (not v) if isinstance(v, bool) else alg.not_(v)
        if isinstance(node, BinOp):
            a, b = self.eval(node.left, env), self.eval(node.right, env)
            return self._arith(node, a, b)
        if isinstance(node, Compare):
            return self._compare(node, env)
        if isinstance(node, Logic):
            return self._logic(node.op, [self.eval(i, env) for i in node.items])
        if isinstance(node, Implies):
            a, b = self.eval(node.left, env), self.eval(node.right, env)
            if node.op == "->":
                if isinstance(a, bool):
                    return b if a else True
                if isinstance(b, bool):
                    return True if b else self._not(a)
                return alg.implies(a, b)
            if isinstance(a, bool) and isinstance(b, bool):
                return a == b
            if isinstance(a, bool):
                return b if a else self._not(b)
            if isinstance(b, bool):
                return a if b else self._not(a)
            return alg.iff(a, b)
        if isinstance(node, Aggregate):
            return self._aggregate(node, env)
        if isinstance(node, Call):
            return self._call(node, env)
        raise GroundError(f"cannot evaluate {type(node).__name__}")

    def _name(self, node: Name, env: dict) -> Any:
        if node.id in env:
            return env[node.id]
        m = self.m
        key = tuple(self.eval(i, env) for i in node.indices)
        for k, idx in zip(key, node.indices, strict=True):
            if not is_const(k):
                raise GroundError(f"column {idx.col}: an index cannot depend on decision variables")
        if node.id in m.params:
            p = m.params[node.id]
            if not p.index:
                return p.values
            key = self._normalize_key(key, p.index)
            try:
                return p.values[key]  # type: ignore[index]
            except KeyError:
                raise GroundError(self._out_of_range(node.id, key, p.index, env)) from None
        var = m.variables[node.id]
        key = self._normalize_key(key, var.index)
        if var.index and key not in self._var_keys(var.name):
            raise GroundError(self._out_of_range(node.id, key, var.index, env))
        return self.alg.var(node.id, key)

    def _var_keys(self, name: str) -> set:
        cache = self.__dict__.setdefault("_keysets", {})
        if name not in cache:
            cache[name] = set(self.m.variables[name].keys)
        return cache[name]

    def _normalize_key(self, key: tuple, index: list[str]) -> tuple:
        out = []
        for k, s in zip(key, index, strict=True):
            if self.m.set_integer[s] and isinstance(k, float) and k.is_integer():
                k = int(k)
            out.append(k)
        return tuple(out)

    @staticmethod
    def _out_of_range(name: str, key: tuple, index: list[str], env: dict) -> str:
        at = ", ".join(f"{k}={v}" for k, v in env.items())
        where = f" (when {at})" if at else ""
        return (f"{name}[{', '.join(map(str, key))}] is outside its index set "
                f"{' × '.join(index)}{where}; add a 'where' filter")

    def _arith(self, node: BinOp, a: Any, b: Any) -> Any:
        if isinstance(a, str) or isinstance(b, str):
            raise GroundError(f"column {node.col}: arithmetic on a label")
        op = node.op
        if op == "+":
            out = a + b
        elif op == "-":
            out = a - b
        elif op == "*":
            if (is_const(a) and a == 0) or (is_const(b) and b == 0):
                return 0
            out = a * b
        elif op == "/":
            if not is_const(b):
                out = a / b
            elif b == 0:
                raise GroundError(f"column {node.col}: division by zero")
            else:
                out = a / b
        else:  # "^": exponent is a small integer constant (checked by the parser)
            k = int(b)
            if is_const(a):
                out = float(a) ** k if isinstance(a, float) else a**k
            else:
                out = 1
                for _ in range(k):
                    out = out * a
        if isinstance(out, float) and not math.isfinite(out):
            raise GroundError(f"column {node.col}: the value overflows")
        return out

    def _compare(self, node: Compare, env: dict) -> Any:
        a, b = self.eval(node.left, env), self.eval(node.right, env)
        label_set = self._label_set(node.left, env) or self._label_set(node.right, env)
        if label_set and not (isinstance(a, str) and isinstance(b, str)):
            a = self.m.label_code(label_set, a) if isinstance(a, str) else a
            b = self.m.label_code(label_set, b) if isinstance(b, str) else b
        op = node.op
        if op in ("<", ">") and self.integral(node.left, env) and self.integral(node.right, env):
            op, b = ("<=", b - 1) if op == "<" else (">=", b + 1)
        elif op == "<":
            op = "<="
        elif op == ">":
            op = ">="
        if is_const(a) and is_const(b):
            return _PY_COMPARE[op](a, b)
        return self.alg.compare(op, a, b)

    def _label_set(self, node: Node, env: dict) -> str | None:
        """The string label set whose codes this side's values are, if any."""
        if isinstance(node, Name):
            var = self.m.variables.get(node.id)
            if var is not None and var.label_set and not self.m.set_integer[var.label_set]:
                return var.label_set
        return None

    def _not(self, v: Any) -> Any:
        return (not v) if isinstance(v, bool) else self.alg.not_(v)

    def _logic(self, op: str, values: list) -> Any:
        kept = []
        for v in values:
            if isinstance(v, bool):
                if op == "and" and not v:
                    return False
                if op == "or" and v:
                    return True
            else:
                kept.append(v)
        if not kept:
            return op == "and"
        if len(kept) == 1:
            return kept[0]
        return self.alg.and_(kept) if op == "and" else self.alg.or_(kept)

    def _aggregate(self, node: Aggregate, env: dict) -> Any:
        items = [self.eval(node.body, inner) for inner in self.bind(node.gen, env)]
        return self._combine(node.func, items, node)

    def _combine(self, func: str, items: list, node: Node) -> Any:
        if func == "sum":
            const = sum(i for i in items if is_const(i))
            symbolic = [i for i in items if not is_const(i)]
            if not symbolic:
                return const
            total = _fast_sum(symbolic)
            return total + const if const else total
        if func == "forall":
            return self._logic("and", items)
        if func == "exists":
            return self._logic("or", items)
        if func == "alldifferent":
            if all(is_const(i) for i in items):
                return len(set(items)) == len(items)
            return self.alg.alldifferent(items)
        if not items:
            raise GroundError(f"column {node.col}: {func} over an empty set")
        if all(is_const(i) for i in items):
            return min(items) if func == "min" else max(items)
        return self.alg.min_(items) if func == "min" else self.alg.max_(items)

    def _call(self, node: Call, env: dict) -> Any:
        if node.func == "alldifferent" and len(node.args) == 1 and isinstance(node.args[0], Name) \
                and not node.args[0].indices and node.args[0].id in self.m.variables:
            var = self.m.variables[node.args[0].id]
            return self._combine("alldifferent", [self.alg.var(var.name, k) for k in var.keys], node)
        args = [self.eval(a, env) for a in node.args]
        if node.func == "abs":
            return abs(args[0]) if is_const(args[0]) else self.alg.abs_(args[0])
        return self._combine(node.func, args, node)

    # Static properties --------------------------------------------------------
    def integral(self, node: Node, env: dict) -> bool:
        """True when the expression can only take integer values (for strict inequalities)."""
        key = id(node)  # loop variables over one set always have one type, so env need not be keyed
        if key not in self._integral:
            self._integral[key] = self._integral_uncached(node, env)
        return self._integral[key]

    def _integral_uncached(self, node: Node, env: dict) -> bool:
        m = self.m
        if isinstance(node, Num):
            return float(node.value).is_integer()
        if isinstance(node, Name):
            if node.id in env:
                return isinstance(env[node.id], int)
            if node.id in m.params:
                return m.params[node.id].integral
            if node.id in m.variables:
                return m.variables[node.id].integral
            return False
        if isinstance(node, Unary):
            return self.integral(node.operand, env)
        if isinstance(node, BinOp):
            return node.op != "/" and self.integral(node.left, env) and self.integral(node.right, env)
        if isinstance(node, Aggregate):
            return node.func in ("sum", "min", "max") and self.integral(node.body, env)
        if isinstance(node, Call):
            return node.func != "alldifferent" and all(self.integral(a, env) for a in node.args)
        return False


def _fast_sum(items: list) -> Any:
    """Sum symbolic terms with the target's n-ary sum when it has one (pyomo, z3, cp-sat all do)."""
    head = items[0]
    module = type(head).__module__
    if module.startswith("pyomo"):
        from pyomo.environ import quicksum

        return quicksum(items, linear=False)
    if module.startswith("z3"):
        import z3

        return z3.Sum(items)
    if module.startswith("ortools"):
        from ortools.sat.python import cp_model

        return cp_model.LinearExpr.sum(items)
    total = head
    for item in items[1:]:
        total = total + item
    return total


_PY_COMPARE = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def enumerate_keys(model: CompiledModel, index: list[str]) -> list[tuple]:
    return list(itertools.product(*[model.sets[s] for s in index]))
