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
from collections.abc import Callable, Iterator
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
    walk,
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
    # Optional: `sum_(items: list) -> Any` adds many symbolic terms in one go.


_CONST = (bool, int, float, str)  # a tuple: `bool | int | float | str` would build a Union per call


def is_const(value: Any) -> bool:
    return isinstance(value, _CONST)


@dataclass(slots=True)
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
        self._integral: dict[tuple, bool] = {}
        self._fns: dict[int, Callable[[dict], Any]] = {}  # id(node) -> compiled closure
        self._binders: dict[int, Callable[[dict], list[dict]]] = {}  # id(generator) -> binder
        self._alive: list[Node] = []
        post = type(self).post_eval
        self._post = None if post is Grounder.post_eval else self.post_eval
        self._plain_arith = type(self)._arith is Grounder._arith  # fast paths only when not overridden
        self._linear_hooks = hasattr(algebra, "column") and hasattr(algebra, "linear")
        # An algebra may sum many terms at once (`sum_(items)`); repeated `+` is quadratic for
        # expression types that copy on addition.
        self._sum = getattr(algebra, "sum_", None)

    def close(self) -> None:
        """Drop the compiled closures: they refer back to the grounder, a cycle that only the garbage
        collector would otherwise break (later, and at some other caller's expense)."""
        self._fns.clear()
        self._binders.clear()
        self._alive.clear()

    # Instances --------------------------------------------------------------
    def instances(self, c: CompiledConstraint) -> Iterator[Instance]:
        """Instances of a constraint; a top-level conjunction or forall splits into rows."""
        body = c.body
        splits = (isinstance(body, Logic) and body.op == "and") or (isinstance(body, Aggregate)
                                                                    and body.func == "forall")
        if c.gen is None:
            envs, names = [{}], []
        else:
            envs, names = self.bind(c.gen, {}), [b.var for b in c.gen.bindings]
        for env in envs:
            key = tuple([env[v] for v in names])
            if splits:
                yield from self._split(c, body, env, key)
            else:
                yield Instance(c, key, body, env)

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

    def bind(self, gen: Generator, env: dict) -> list[dict]:
        """Every assignment of the generator's loop variables that passes its `where`: one new dict
        per assignment (instances keep theirs)."""
        return self._binder(gen)(env)

    def _binder(self, gen: Generator) -> Callable[[dict], list[dict]]:
        binder = self._binders.get(id(gen))
        if binder is None:
            binder = self._compile_binder(gen)
            self._binders[id(gen)] = binder
            self._alive.append(gen)
        return binder

    def _compile_binder(self, gen: Generator) -> Callable[[dict], list[dict]]:
        where = self._fn(gen.where) if gen.where is not None else None
        truth, where_node = self._truth, gen.where
        domains = [(b.var, self._domain(b.domain)) for b in gen.bindings]
        if len(domains) == 1 and where is None:  # the common `i in S`
            var, elements = domains[0]
            return lambda env: [{**env, var: e} for e in elements(env)]

        def bind(env: dict) -> list[dict]:
            out: list[dict] = []

            def rec(i: int, cur: dict) -> None:
                if i == len(domains):
                    if where is None or truth(where(cur), where_node):
                        out.append(cur)
                    return
                var, elements = domains[i]
                for element in elements(cur):
                    rec(i + 1, {**cur, var: element})

            rec(0, env)
            return out

        return bind

    def _domain(self, dom: SetRef | RangeSet) -> Callable[[dict], list]:
        """The elements a binding runs over (a range's bounds may use earlier loop variables)."""
        if isinstance(dom, SetRef):
            elements = self.m.sets[dom.name]
            return lambda env: elements
        low_fn, high_fn = self._fn(dom.low), self._fn(dom.high)

        def elements(env: dict) -> list:
            low, high = low_fn(env), high_fn(env)
            if not (is_const(low) and is_const(high)):
                raise GroundError("range bounds must be constants")
            if int(high) - int(low) > MAX_INSTANCES:
                raise GroundError(f"range {low}..{high} is too large")
            return list(range(int(low), int(high) + 1))

        return elements

    @staticmethod
    def _truth(value: Any, node: Node) -> bool:
        if not isinstance(value, bool):
            raise GroundError(f"column {node.col}: a 'where' filter must be decidable from the data")
        return value

    # Evaluation -------------------------------------------------------------
    # Each AST node is compiled once per grounder into a closure `env -> value`; evaluating an instance
    # is then a chain of calls with no type dispatch (about 3x faster than walking the tree, which is
    # most of the time of a small model's solve). The closures follow the tree walk they replace step
    # for step: same folding, same errors, same algebra calls, and `_arith`/`post_eval` overrides apply
    # to every sub-expression.

    def eval(self, node: Node, env: dict) -> Any:
        return self._fn(node)(env)

    def post_eval(self, value: Any) -> Any:
        """Applied to every sub-expression's value when a subclass overrides it (CP-SAT: 2.0 -> 2)."""
        return value

    def _fn(self, node: Node) -> Callable[[dict], Any]:
        fn = self._fns.get(id(node))
        if fn is None:
            fn = self._compile(node)
            if self._post is not None:
                fn = _then(fn, self._post)
            self._fns[id(node)] = fn
            self._alive.append(node)  # ids stay unique while the grounder lives
        return fn

    def _compile(self, node: Node) -> Callable[[dict], Any]:
        if isinstance(node, (Num, BoolConst, Str)):
            value = node.value
            return lambda env: value
        if isinstance(node, Name):
            return self._compile_name(node)
        if isinstance(node, Unary):
            operand = self._fn(node.operand)
            if node.op == "-":
                return lambda env: -operand(env)
            negate = self._not
            return lambda env: negate(operand(env))
        if isinstance(node, BinOp):
            left, right, arith = self._fn(node.left), self._fn(node.right), self._arith
            if node.op == "*" and self._plain_arith:
                return _multiply(node, left, right, arith)
            return lambda env: arith(node, left(env), right(env))
        if isinstance(node, Compare):
            return self._compile_compare(node)
        if isinstance(node, Logic):
            items, logic, op = [self._fn(i) for i in node.items], self._logic, node.op
            return lambda env: logic(op, [f(env) for f in items])
        if isinstance(node, Implies):
            return self._compile_implies(node)
        if isinstance(node, Aggregate):
            linear = self._compile_linear_sum(node) if node.func == "sum" else None
            if linear is not None:
                return linear
            body, bind, combine, func = self._fn(node.body), self._binder(node.gen), self._combine, node.func
            if func == "sum":
                return self._compile_sum(body, bind)
            return lambda env: combine(func, [body(inner) for inner in bind(env)], node)
        if isinstance(node, Call):
            return self._compile_call(node)
        raise GroundError(f"cannot evaluate {type(node).__name__}")

    def _compile_sum(self, body: Callable[[dict], Any], bind: Callable[[dict], list[dict]]
                     ) -> Callable[[dict], Any]:
        """`_combine("sum", ...)` in one pass: constants added in order, symbolic terms summed once."""
        fast_sum = self._sum or _fast_sum

        def total(env: dict) -> Any:
            const: Any = 0
            symbolic = []
            for inner in bind(env):
                value = body(inner)
                if isinstance(value, _CONST):
                    const += value
                else:
                    symbolic.append(value)
            if not symbolic:
                return const
            out = fast_sum(symbolic)
            return out + const if const else out

        return total

    def _compile_linear_sum(self, node: Aggregate) -> Callable[[dict], Any] | None:
        """`sum(gen)(c * x[i])` (or `x[i] * c`, `x[i]`; c without variables) straight into
        {column: coefficient}, for an algebra with `column(name, key)` and `linear(terms)` (MILP).

        The value equals the general path's: a zero coefficient drops the term (the product folds
        to 0), the others add up per column as 1.0 * c in the same order; only the intermediate
        one-term expressions are skipped. None when the body has another shape.
        """
        alg = self.alg
        if not (self._linear_hooks and self._plain_arith and self._post is None):
            return None
        body, m = node.body, self.m
        if _is_number_var(body, m):
            var_node, coef = body, None
        elif isinstance(body, BinOp) and body.op == "*" and _is_number_var(body.right, m) \
                and _data_only(body.left, m):
            var_node, coef = body.right, self._fn(body.left)
        elif isinstance(body, BinOp) and body.op == "*" and _is_number_var(body.left, m) \
                and _data_only(body.right, m):
            var_node, coef = body.left, self._fn(body.right)
        else:
            return None
        assert isinstance(var_node, Name)
        name, key_of, column, linear = var_node.id, self._var_key(var_node), alg.column, alg.linear
        gen = node.gen
        single = len(gen.bindings) == 1 and gen.where is None and isinstance(gen.bindings[0].domain, SetRef)
        bind = self._binder(gen)
        loop_var = gen.bindings[0].var
        elements = self.m.sets[gen.bindings[0].domain.name] if single else []  # type: ignore[union-attr]

        def total(env: dict) -> Any:
            terms: dict[Any, float] = {}
            get = terms.get
            if single:  # one dict updated in place: nothing keeps the env of a term
                inner = dict(env)
                envs: Any = _assigning(inner, loop_var, elements)
            else:
                envs = bind(env)
            for inner in envs:
                c = 1 if coef is None else coef(inner)
                if c == 0:
                    continue
                j = column(name, key_of(inner))
                terms[j] = get(j, 0.0) + 1.0 * c
            return linear(terms) if terms else 0

        return total

    def _compile_name(self, node: Name) -> Callable[[dict], Any]:
        m, name = self.m, node.id
        if name not in m.params and name not in m.variables:  # a loop variable (they never hide names)
            return lambda env: env[name]
        indices = [self._fn(i) for i in node.indices]
        # Indices that are loop variables are set elements already: no check, no normalization.
        loop_vars = [i.id for i in node.indices if isinstance(i, Name) and not i.indices
                     and i.id not in m.params and i.id not in m.variables]
        simple = len(loop_vars) == len(indices)
        if name in m.params:
            p = m.params[name]
            if not p.index:
                scalar = p.values
                return lambda env: scalar
            table = p.values
            assert isinstance(table, dict)

            def param(env: dict) -> Any:
                if simple:
                    value = table.get(tuple([env[v] for v in loop_vars]), _MISSING)
                    if value is not _MISSING:
                        return value
                key = self._checked_key(node, [f(env) for f in indices], p.index)
                try:
                    return table[key]
                except KeyError:
                    raise GroundError(self._out_of_range(name, key, p.index, env)) from None

            if simple and len(loop_vars) <= 2:  # the usual p[i] and p[i, j]: no list, no loop
                first, second = loop_vars[0], loop_vars[-1]
                get = table.get
                if len(loop_vars) == 1:
                    return lambda env: v if (v := get((env[first],), _MISSING)) is not _MISSING else param(env)
                return lambda env: (v if (v := get((env[first], env[second]), _MISSING)) is not _MISSING
                                    else param(env))
            return param
        alg_var, key_of = self.alg.var, self._var_key(node)
        return lambda env: alg_var(name, key_of(env))

    def _var_key(self, node: Name) -> Callable[[dict], tuple]:
        """env -> the checked index tuple of a variable reference (() for a scalar variable)."""
        m, name = self.m, node.id
        var = m.variables[name]
        if not var.index:
            return lambda env: ()
        indices = [self._fn(i) for i in node.indices]
        loop_vars = [i.id for i in node.indices if isinstance(i, Name) and not i.indices
                     and i.id not in m.params and i.id not in m.variables]
        simple = len(loop_vars) == len(indices)
        keys = self._var_keys(name)
        if simple and len(loop_vars) == 1:
            (only,) = loop_vars

            def key_of_one(env: dict) -> tuple:
                key = (env[only],)
                return key if key in keys else slow(env)

            def slow(env: dict) -> tuple:
                key = self._checked_key(node, [f(env) for f in indices], var.index)
                if key not in keys:
                    raise GroundError(self._out_of_range(name, key, var.index, env))
                return key

            return key_of_one
        if simple and len(loop_vars) == 2:
            first, second = loop_vars

            def key_of_two(env: dict) -> tuple:
                key = (env[first], env[second])
                if key in keys:
                    return key
                key = self._checked_key(node, [f(env) for f in indices], var.index)
                if key not in keys:
                    raise GroundError(self._out_of_range(name, key, var.index, env))
                return key

            return key_of_two

        def key_of(env: dict) -> tuple:
            if simple:
                key = tuple([env[v] for v in loop_vars])
                if key in keys:
                    return key
            key = self._checked_key(node, [f(env) for f in indices], var.index)
            if key not in keys:
                raise GroundError(self._out_of_range(name, key, var.index, env))
            return key

        return key_of

    def _checked_key(self, node: Name, key: list, index: list[str]) -> tuple:
        for k, idx in zip(key, node.indices, strict=True):
            if not is_const(k):
                raise GroundError(f"column {idx.col}: an index cannot depend on decision variables")
        return self._normalize_key(tuple(key), index)

    def _compile_compare(self, node: Compare) -> Callable[[dict], Any]:
        left, right = self._fn(node.left), self._fn(node.right)
        label_set = self._label_set(node.left) or self._label_set(node.right)
        code, integral, compare = self.m.label_code, self.integral, self.alg.compare

        def comparison(env: dict) -> Any:
            a, b = left(env), right(env)
            if label_set and not (isinstance(a, str) and isinstance(b, str)):
                a = code(label_set, a) if isinstance(a, str) else a
                b = code(label_set, b) if isinstance(b, str) else b
            op = node.op
            if op in ("<", ">") and integral(node.left, env) and integral(node.right, env):
                op, b = ("<=", b - 1) if op == "<" else (">=", b + 1)
            elif op == "<":
                op = "<="
            elif op == ">":
                op = ">="
            if is_const(a) and is_const(b):
                return _PY_COMPARE[op](a, b)
            return compare(op, a, b)

        return comparison

    def _compile_implies(self, node: Implies) -> Callable[[dict], Any]:
        left, right, alg, negate = self._fn(node.left), self._fn(node.right), self.alg, self._not

        def implies(env: dict) -> Any:
            a, b = left(env), right(env)
            if node.op == "->":
                if isinstance(a, bool):
                    return b if a else True
                if isinstance(b, bool):
                    return True if b else negate(a)
                return alg.implies(a, b)
            if isinstance(a, bool) and isinstance(b, bool):
                return a == b
            if isinstance(a, bool):
                return b if a else negate(b)
            if isinstance(b, bool):
                return a if b else negate(a)
            return alg.iff(a, b)

        return implies

    def _compile_call(self, node: Call) -> Callable[[dict], Any]:
        combine = self._combine
        if node.func == "alldifferent" and len(node.args) == 1 and isinstance(node.args[0], Name) \
                and not node.args[0].indices and node.args[0].id in self.m.variables:
            var = self.m.variables[node.args[0].id]
            alg_var = self.alg.var
            return lambda env: combine("alldifferent", [alg_var(var.name, k) for k in var.keys], node)
        args = [self._fn(a) for a in node.args]
        if node.func == "abs":
            abs_ = self.alg.abs_
            arg = args[0]

            def absolute(env: dict) -> Any:
                value = arg(env)
                return abs(value) if is_const(value) else abs_(value)

            return absolute
        return lambda env: combine(node.func, [f(env) for f in args], node)

    def _var_keys(self, name: str) -> frozenset:
        return self.m.variables[name].key_set

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

    def _label_set(self, node: Node) -> str | None:
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

    def _combine(self, func: str, items: list, node: Node) -> Any:
        if func == "sum":
            const = sum(i for i in items if is_const(i))
            symbolic = [i for i in items if not is_const(i)]
            if not symbolic:
                return const
            total = self._sum(symbolic) if self._sum is not None else _fast_sum(symbolic)
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

    # Static properties --------------------------------------------------------
    def integral(self, node: Node, env: dict) -> bool:
        """True when the expression can only take integer values (for strict inequalities)."""
        # Parsed trees are shared between equal texts (expr.parse_expr caches them), so the loop
        # variables' kinds are part of the key.
        key = (id(node), tuple(k for k, v in env.items() if isinstance(v, int)))
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


_MISSING = object()


def _is_number_var(node: Node, model: CompiledModel) -> bool:
    """A reference to a numeric decision variable (not a boolean one)."""
    return isinstance(node, Name) and node.id in model.variables and model.variables[node.id].ir.domain != "boolean"


def _data_only(node: Node, model: CompiledModel) -> bool:
    return not any(isinstance(sub, Name) and sub.id in model.variables for sub in walk(node))


def _assigning(env: dict, var: str, elements: list) -> Iterator[dict]:
    """The same dict with `var` set to each element in turn."""
    for element in elements:
        env[var] = element
        yield env


def _multiply(node: BinOp, left: Callable[[dict], Any], right: Callable[[dict], Any],
              arith: Callable[[BinOp, Any, Any], Any]) -> Callable[[dict], Any]:
    """`Grounder._arith` for "*" with its common case (a number times anything) inlined."""

    def product(env: dict) -> Any:
        a, b = left(env), right(env)
        kind = a.__class__
        if (kind is int or kind is float) and b.__class__ is not str:
            if a == 0 or (is_const(b) and b == 0):
                return 0
            out = a * b
            if out.__class__ is float and not math.isfinite(out):
                return arith(node, a, b)  # raises the overflow error
            return out
        return arith(node, a, b)

    return product


def _then(fn: Callable[[dict], Any], post: Callable[[Any], Any]) -> Callable[[dict], Any]:
    return lambda env: post(fn(env))


def _fast_sum(items: list) -> Any:
    """Sum symbolic terms with the target's n-ary sum when it has one (pyomo, z3, cp-sat all do)."""
    head = items[0]
    module = type(head).__module__
    if module.startswith("pyomo"):
        from pyomo.environ import quicksum

        # Pyomo >= 6.6 ignores (and warns about) `linear=`; plain quicksum builds the same
        # LinearExpression a little faster.
        return quicksum(items)
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
