"""Name resolution, type checking and structural analysis of a parsed IR.

`compile_model` turns a validated `ModelIR` into a `CompiledModel` whose expressions are ASTs with
every name resolved, so each renderer and the checker can trust it. All problems are collected and
reported together, each pointing at the element and column, because a repair prompt that names
every error at once converges faster than one error per round trip.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from formalizers.expr import (
    Aggregate,
    BinOp,
    BoolConst,
    Call,
    Compare,
    ExprError,
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
    parse_bindings,
    parse_expr,
)
from formalizers.ir import Constraint, IRError, ModelIR, Variable

Key = tuple  # a tuple of set elements


@dataclass(frozen=True)
class Ty:
    """An expression's type: a number (integral or not), a truth value, or an element of a set."""

    kind: str  # "num" | "bool" | "elem" | "str"
    integral: bool = False
    set: str | None = None  # for "elem": which set; for "str": the literal


NUM = Ty("num")
INT = Ty("num", True)
BOOL = Ty("bool")


@dataclass
class CompiledParam:
    name: str
    index: list[str]
    values: dict[Key, float] | float
    integral: bool


@dataclass
class CompiledVar:
    ir: Variable
    index: list[str]
    keys: list[Key]
    lower: float | None
    upper: float | None
    label_set: str | None = None

    @property
    def name(self) -> str:
        return self.ir.name

    @property
    def integral(self) -> bool:
        return self.ir.integral

    @functools.cached_property
    def key_set(self) -> frozenset:
        """The keys as a set (membership tests while grounding), built once per model."""
        return frozenset(self.keys)


@dataclass
class CompiledConstraint:
    ir: Constraint
    gen: Generator | None
    body: Node

    @property
    def name(self) -> str:
        return self.ir.name


@dataclass
class CompiledModel:
    """A model whose every expression parsed and type-checked."""

    ir: ModelIR
    sets: dict[str, list]
    set_integer: dict[str, bool]
    params: dict[str, CompiledParam]
    variables: dict[str, CompiledVar]
    constraints: list[CompiledConstraint]
    objective: Node | None
    sense: str | None
    analysis: dict[str, Any] = field(default_factory=dict)

    def label_code(self, set_name: str, element: Any) -> int:
        """Integer code of an element of a label set: the element itself for integer sets."""
        if self.set_integer[set_name]:
            return int(element)
        return self.sets[set_name].index(element) + 1

    def label_of(self, set_name: str, code: int) -> Any:
        if self.set_integer[set_name]:
            return int(code)
        return self.sets[set_name][int(code) - 1]

    def var_bounds(self, var: CompiledVar) -> tuple[float | None, float | None]:
        if var.label_set:
            codes = [self.label_code(var.label_set, e) for e in self.sets[var.label_set]]
            return min(codes), max(codes)
        return var.lower, var.upper


def _table(values: Any, index: list[str], sets: dict[str, list], where: str) -> dict[Key, float]:
    """Flatten nested dicts/lists keyed by set elements into {key tuple: number}.

    Linear in the number of entries: the element-by-text maps are built once per index position, not
    per nested object (that made a 2000 x 200 table take 9 s to compile). Module-level helpers, not
    a recursive closure, so no reference cycle is left for the garbage collector.
    """
    out: dict[Key, float] = {}
    by_text = [{str(e): e for e in sets[s]} for s in index]
    _table_level(values, 0, (), out, index, sets, by_text, where)
    return out


def _table_number(value: Any, key: tuple, out: dict, where: str) -> None:
    kind = value.__class__
    if kind is not int and kind is not float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise IRError([f"{where}{list(key)}: expected a number, got {value!r}"[:300]])
    if kind is not int and not math.isfinite(value):
        raise IRError([f"{where}{list(key)}: value must be finite"])
    out[key] = value


def _table_level(value: Any, depth: int, prefix: tuple, out: dict, index: list[str], sets: dict[str, list],
                 by_text: list[dict[str, Any]], where: str) -> None:
    if depth == len(index):
        _table_number(value, prefix, out, where)
        return
    elements = sets[index[depth]]
    leaf = depth + 1 == len(index)
    if isinstance(value, list):
        if len(value) != len(elements):
            raise IRError([f"{where}{list(prefix)}: {len(value)} entries for set "
                           f"'{index[depth]}' of {len(elements)} elements (one per element, in the set's "
                           "order; or the set's elements are wrong)"])
        pairs: Any = zip(elements, value, strict=True)
    elif isinstance(value, dict):
        known = by_text[depth]
        texts = [str(k) for k in value]
        unknown = [k for k, text in zip(value, texts, strict=True) if text not in known]
        if unknown:
            raise IRError([f"{where}{list(prefix)}: {unknown[0]!r} is not an element of "
                           f"'{index[depth]}'"])
        if len(set(texts)) != len(known):
            present = set(texts)
            missing = [text for text in known if text not in present]
            raise IRError([f"{where}{list(prefix)}: missing entries for {', '.join(missing[:5])} "
                           f"of '{index[depth]}'"])
        pairs = zip([known[text] for text in texts], value.values(), strict=True)
    else:
        raise IRError([f"{where}{list(prefix)}: expected a list or object over set "
                       f"'{index[depth]}', got {type(value).__name__}"])
    if leaf:
        isfinite = math.isfinite
        for element, item in pairs:
            kind = item.__class__
            if kind is int or (kind is float and isfinite(item)):
                out[prefix + (element,)] = item
            else:
                _table_number(item, prefix + (element,), out, where)
        return
    for element, item in pairs:
        _table_level(item, depth + 1, prefix + (element,), out, index, sets, by_text, where)


class _Checker:
    """Resolves names and infers types; collects every problem with its location."""

    def __init__(self, model: CompiledModel) -> None:
        self.m = model
        self.problems: list[str] = []
        self.scalar_indexed: set[tuple[str, str]] = set()  # (where, name) already reported

    def error(self, where: str, message: str, node: Node | None, text: str) -> None:
        self.problems.append(ExprError(message, column=node.col if node else None, text=text,
                                       where=where).render())

    # Types ----------------------------------------------------------------
    def check(self, node: Node, scope: dict[str, Ty], where: str, text: str) -> Ty:
        m = self.m
        if isinstance(node, Num):
            return INT if float(node.value).is_integer() else NUM
        if isinstance(node, BoolConst):
            return BOOL
        if isinstance(node, Str):
            return Ty("str", set=node.value)
        if isinstance(node, Name):
            return self._name(node, scope, where, text)
        if isinstance(node, Unary):
            t = self.check(node.operand, scope, where, text)
            if node.op == "not":
                self._want_bool(t, node.operand, where, text)
                return BOOL
            self._want_num(t, node.operand, where, text)
            return t if t.kind == "num" else NUM
        if isinstance(node, BinOp):
            a = self.check(node.left, scope, where, text)
            b = self.check(node.right, scope, where, text)
            self._want_num(a, node.left, where, text)
            self._want_num(b, node.right, where, text)
            integral = a.integral and b.integral and node.op != "/"
            return INT if integral else NUM
        if isinstance(node, Compare):
            a = self.check(node.left, scope, where, text)
            b = self.check(node.right, scope, where, text)
            self._comparable(node, a, b, where, text)
            return BOOL
        if isinstance(node, Logic):
            for item in node.items:
                self._want_bool(self.check(item, scope, where, text), item, where, text)
            return BOOL
        if isinstance(node, Implies):
            for side in (node.left, node.right):
                self._want_bool(self.check(side, scope, where, text), side, where, text)
            return BOOL
        if isinstance(node, Aggregate):
            inner = self.generator(node.gen, scope, where, text)
            t = self.check(node.body, inner, where, text)
            if node.func in ("forall", "exists"):
                self._want_bool(t, node.body, where, text)
                return BOOL
            if node.func == "alldifferent":
                if t.kind == "bool":
                    self.error(where, "alldifferent needs numbers or labels", node.body, text)
                return BOOL
            self._want_num(t, node.body, where, text)
            return t if t.kind == "num" else NUM
        if isinstance(node, Call):
            if node.func == "alldifferent":
                arg = node.args[0]
                var = m.variables.get(arg.id) if isinstance(arg, Name) and not arg.indices else None
                if len(node.args) == 1 and var is not None and var.index:
                    return BOOL
                for a in node.args:
                    if self.check(a, scope, where, text).kind == "bool":
                        self.error(where, "alldifferent needs numbers or labels", a, text)
                if len(node.args) == 1:
                    self.error(where, "alldifferent(x) needs an indexed variable; "
                               "or write alldifferent(i in S)(e) or alldifferent(a, b, c)", node, text)
                return BOOL
            types = [self.check(a, scope, where, text) for a in node.args]
            for a, t in zip(node.args, types, strict=True):
                self._want_num(t, a, where, text)
            return INT if all(t.integral for t in types) else NUM
        self.error(where, f"unsupported expression {type(node).__name__}", node, text)
        return NUM

    def _name(self, node: Name, scope: dict[str, Ty], where: str, text: str) -> Ty:
        m = self.m
        if node.id in scope:
            if node.indices:
                self.error(where, f"loop variable '{node.id}' cannot be indexed", node, text)
            return scope[node.id]
        if node.id in m.params:
            p = m.params[node.id]
            self._indices(node, p.index, scope, where, text, "parameter")
            return INT if p.integral else NUM
        if node.id in m.variables:
            v = m.variables[node.id]
            if not (node.indices == () and not v.index):
                self._indices(node, v.index, scope, where, text, "variable")
            if v.label_set:
                if m.set_integer[v.label_set]:
                    return INT
                return Ty("elem", set=v.label_set)
            if v.ir.domain == "boolean":
                return Ty("bool")
            return INT if v.integral else NUM
        if node.id in m.sets:
            self.error(where, f"'{node.id}' is a set; use it in a binding such as "
                       f"sum(i in {node.id})(...)", node, text)
            return NUM
        bound = re.search(rf"\b{re.escape(node.id)}\s+in\s+([A-Za-z_]\w*)", text)
        if bound:  # a loop variable used outside its aggregate (forall s, sum over p, then need[p])
            self.error(where, f"'{node.id}' is bound by '{bound.group(0)}' only inside that aggregate's "
                       f"parentheses; to state this once per element of {bound.group(1)}, bind "
                       f"'{bound.group(0)}' in forall instead", node, text)
            return NUM
        close = _closest(node.id, [*m.params, *m.variables, *scope])
        hint = f" (did you mean '{close}'?)" if close else ""
        self.error(where, f"unknown name '{node.id}'{hint}", node, text)
        return NUM

    def _indices(self, node: Name, index: list[str], scope: dict[str, Ty], where: str, text: str,
                 kind: str) -> None:
        if not index and node.indices:
            # A scalar written as a table (the lean layout has no index sets): name the rewrite, once per text,
            # since every use repeats the same finding and would crowd other findings out of a repair prompt.
            if (where, node.id) in self.scalar_indexed:
                return
            self.scalar_indexed.add((where, node.id))
            parts = [str(i.value).removesuffix(".0") if isinstance(i, Num) else i.id if isinstance(i, Name) else ""
                     for i in node.indices]
            example = f"{node.id}_{'_'.join(parts)}" if all(parts) else f"{node.id}_1"
            self.error(where, f"{kind} '{node.id}' is a single value (declared without an index) but is used "
                       f"with one: write it without the brackets, or declare one {kind} per item "
                       f"({example}, ...) and use those", node, text)
            return
        if len(node.indices) != len(index):
            self.error(where, f"{kind} '{node.id}' takes {len(index)} index(es) "
                       f"({', '.join(index) or 'none'}), got {len(node.indices)}", node, text)
            return
        for idx, set_name in zip(node.indices, index, strict=True):
            t = self.check(idx, scope, where, text)
            if t.kind == "elem" and t.set != set_name:
                if not (self.m.set_integer.get(set_name) and self.m.set_integer.get(t.set or "")):
                    self.error(where, f"index of '{node.id}' must be an element of '{set_name}', "
                               f"but this is an element of '{t.set}'", idx, text)
            elif t.kind == "str":
                if t.set not in self.m.sets[set_name]:
                    self.error(where, f"\"{t.set}\" is not an element of set '{set_name}' "
                               f"(elements: {_preview(self.m.sets[set_name])})", idx, text)
            elif t.kind == "num":
                if not self.m.set_integer[set_name]:
                    self.error(where, f"'{set_name}' has string elements: index '{node.id}' with a "
                               "loop variable over it or a quoted element", idx, text)
            elif t.kind == "bool":
                self.error(where, "an index cannot be a truth value", idx, text)

    def generator(self, gen: Generator, scope: dict[str, Ty], where: str, text: str) -> dict[str, Ty]:
        inner = dict(scope)
        for b in gen.bindings:
            if b.var in self.m.params or b.var in self.m.variables or b.var in self.m.sets:
                self.error(where, f"loop variable '{b.var}' hides a model name", b, text)
            if isinstance(b.domain, SetRef):
                if b.domain.name not in self.m.sets:
                    close = _closest(b.domain.name, list(self.m.sets))
                    hint = f" (did you mean '{close}'?)" if close else ""
                    self.error(where, f"unknown set '{b.domain.name}'{hint}", b.domain, text)
                    inner[b.var] = NUM
                elif self.m.set_integer[b.domain.name]:
                    inner[b.var] = Ty("num", True, b.domain.name)
                else:
                    inner[b.var] = Ty("elem", set=b.domain.name)
            else:
                for bound in (b.domain.low, b.domain.high):
                    t = self.check(bound, scope, where, text)
                    if not (t.kind == "num" and t.integral):
                        self.error(where, "range bounds must be integers", bound, text)
                    if _mentions_variable(bound, self.m):
                        self.error(where, "range bounds cannot depend on decision variables", bound, text)
                inner[b.var] = INT
        if gen.where is not None:
            self._want_bool(self.check(gen.where, inner, where, text), gen.where, where, text)
            if _mentions_variable(gen.where, self.m):
                self.error(where, "a 'where' filter cannot depend on decision variables", gen.where, text)
        return inner

    def _want_num(self, t: Ty, node: Node, where: str, text: str) -> None:
        if t.kind == "bool":
            self.error(where, "expected a number, found a condition", node, text)
        elif t.kind in ("elem", "str"):
            self.error(where, "arithmetic on labels is not allowed (labels can only be compared "
                       "with == or !=)", node, text)

    def _want_bool(self, t: Ty, node: Node, where: str, text: str) -> None:
        if t.kind != "bool":
            self.error(where, "expected a condition (a comparison or logical expression)", node, text)

    def _comparable(self, node: Compare, a: Ty, b: Ty, where: str, text: str) -> None:
        labels = {"elem", "str"}
        if a.kind in labels or b.kind in labels:
            if node.op not in ("==", "!="):
                self.error(where, "labels can only be compared with == or !=", node, text)
            elems = [t.set for t in (a, b) if t.kind == "elem"]
            strs = [t.set for t in (a, b) if t.kind == "str"]
            if len(elems) == 2 and elems[0] != elems[1]:
                self.error(where, f"comparing elements of different sets '{elems[0]}' and '{elems[1]}'",
                           node, text)
            if elems and strs and strs[0] not in self.m.sets[elems[0]]:
                self.error(where, f"\"{strs[0]}\" is not an element of '{elems[0]}' "
                           f"(elements: {_preview(self.m.sets[elems[0]])})", node, text)
            if a.kind == "num" or b.kind == "num":
                self.error(where, "comparing a label with a number", node, text)
            return
        if a.kind == "bool" or b.kind == "bool":
            if not (a.kind == b.kind == "bool" and node.op in ("==", "!=")):
                self.error(where, "comparing a condition with a number", node, text)


def _preview(items: list) -> str:
    shown = ", ".join(str(e) for e in items[:8])
    return shown + (", …" if len(items) > 8 else "")


def _closest(name: str, candidates: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return found[0] if found else None


def _mentions_variable(node: Node, model: CompiledModel) -> bool:
    from formalizers.expr import walk

    return any(isinstance(n, Name) and n.id in model.variables for n in walk(node))


def constant_objective(model: CompiledModel) -> bool:
    """Whether the model optimizes an expression with no variable in it ("1 + 1"): every feasible plan then
    scores the same, so the solver's "optimum" says nothing about the goal."""
    return model.objective is not None and model.sense in ("minimize", "maximize") \
        and not _mentions_variable(model.objective, model)


def compile_model(ir: ModelIR) -> CompiledModel:
    """Parse every expression, resolve names and check types; IRError lists all problems."""
    problems: list[str] = []
    sets = {s.name: list(s.elements) for s in ir.sets}
    set_integer = {s.name: s.is_integer for s in ir.sets}

    params: dict[str, CompiledParam] = {}
    for i, p in enumerate(ir.parameters):
        where = f"parameters[{i}] '{p.name}'"
        bad = [s for s in p.index if s not in sets]
        if bad:
            problems.append(f"{where}: unknown index set '{bad[0]}'")
            continue
        try:
            values = _table(p.value, p.index, sets, f"{where} value")
        except IRError as e:
            # Still a known name, so the expressions using it report only their own faults: "unknown name"
            # there made the model delete a parameter whose only fault was its shape (help_desk_shifts).
            problems.extend(e.problems)
            placeholder = dict.fromkeys(_product([sets[s] for s in p.index]), 0)
            params[p.name] = CompiledParam(p.name, p.index, 0 if not p.index else placeholder, True)
            continue
        integral = all(float(v).is_integer() for v in values.values())
        params[p.name] = CompiledParam(p.name, p.index, values[()] if not p.index else values, integral)

    variables: dict[str, CompiledVar] = {}
    for i, v in enumerate(ir.variables):
        where = f"variables[{i}] '{v.name}'"
        bad = [s for s in v.index if s not in sets]
        if bad:
            problems.append(f"{where}: unknown index set '{bad[0]}'")
            continue
        if v.labels is not None and v.labels not in sets:
            problems.append(f"{where}: unknown label set '{v.labels}'")
            continue
        keys = _product([sets[s] for s in v.index])
        if len(keys) > 1_000_000:
            problems.append(f"{where}: {len(keys):,} entries is more than this tool handles")
            continue
        lower, upper = v.bounds()
        variables[v.name] = CompiledVar(v, v.index, keys, lower, upper, v.labels)

    model = CompiledModel(ir, sets, set_integer, params, variables, [], None, None)
    checker = _Checker(model)
    checker.problems = problems

    for i, c in enumerate(ir.constraints):
        where = f"constraints[{i}] '{c.name}'"
        gen = None
        scope: dict[str, Ty] = {}
        if c.forall.strip():
            try:
                gen = parse_bindings(c.forall)
            except ExprError as e:
                problems.append(e.located(f"{where} forall").render())
                continue
            scope = checker.generator(gen, {}, f"{where} forall", c.forall)
        try:
            body = parse_expr(c.expr)
        except ExprError as e:
            problems.append(e.located(f"{where} expr").render())
            continue
        t = checker.check(body, scope, f"{where} expr", c.expr)
        if t.kind != "bool":
            checker.error(f"{where} expr", "a constraint must be a condition (e.g. a <= b)", body, c.expr)
        model.constraints.append(CompiledConstraint(c, gen, body))

    if ir.objective is not None:
        try:
            body = parse_expr(ir.objective.expr)
            t = checker.check(body, {}, "objective expr", ir.objective.expr)
            if t.kind != "num":
                checker.error("objective expr", "the objective must be a number, not a condition",
                              body, ir.objective.expr)
            model.objective = body
            model.sense = ir.objective.sense
        except ExprError as e:
            problems.append(e.located("objective expr").render())

    if problems:
        raise IRError(problems)
    return model


def _product(lists: list[list]) -> list[Key]:
    keys: list[Key] = [()]
    for items in lists:
        keys = [k + (e,) for k in keys for e in items]
    return keys


# ------------------------------------------------------------- structure

def degree(node: Node, model: CompiledModel) -> int | None:
    """Polynomial degree in the decision variables; None when not polynomial (logic, abs, min…)."""
    if isinstance(node, (Num, Str, BoolConst)):
        return 0
    if isinstance(node, Name):
        if node.id in model.variables:
            return 1
        return 0
    if isinstance(node, Unary):
        d = degree(node.operand, model)
        return d if node.op == "-" or d == 0 else None
    if isinstance(node, BinOp):
        a, b = degree(node.left, model), degree(node.right, model)
        if a is None or b is None:
            return None
        if node.op in "+-":
            return max(a, b)
        if node.op == "*":
            return a + b
        if node.op == "/":
            return a if b == 0 else None
        if node.op == "^":
            assert isinstance(node.right, Num)
            return a * int(node.right.value)
    if isinstance(node, Aggregate) and node.func == "sum":
        # A `where` filter only selects which terms exist; compile_model rejects one that mentions a
        # variable, so it never changes the degree (whatever logic it uses: `s <= p and p < s + 8`).
        # Range bounds are data too.
        if node.gen.where is not None and _mentions_variable(node.gen.where, model):
            return None
        return degree(node.body, model)
    if isinstance(node, Compare):
        a, b = degree(node.left, model), degree(node.right, model)
        return None if a is None or b is None else max(a, b)
    # Logic, abs/min/max, other aggregates: not polynomial, unless they only involve data (a constant
    # such as `max(j in J)(cap[j])`, which grounding folds to a number).
    if isinstance(node, Aggregate):
        data = node.gen.where is None or not _mentions_variable(node.gen.where, model)
        return 0 if data and degree(node.body, model) == 0 else None
    if isinstance(node, Call):
        if node.func == "alldifferent" and len(node.args) == 1:
            return None  # alldifferent(x) over a whole variable array
        return 0 if all(degree(a, model) == 0 for a in node.args) else None
    if isinstance(node, Logic):
        return 0 if all(degree(i, model) == 0 for i in node.items) else None
    if isinstance(node, Implies):
        return 0 if degree(node.left, model) == 0 and degree(node.right, model) == 0 else None
    return None


def flat_linear(node: Node, model: CompiledModel) -> dict[str, float] | None:
    """Coefficients of a flat linear expression in unindexed variables, the constant under key "";
    None for anything else (indexed names, parameters, sums, products of variables)."""
    if isinstance(node, Num) and not isinstance(node.value, bool):
        return {"": float(node.value)}
    if isinstance(node, Name) and not node.indices and node.id in model.variables:
        return {node.id: 1.0}
    if isinstance(node, Unary) and node.op == "-":
        inner = flat_linear(node.operand, model)
        return None if inner is None else {k: -v for k, v in inner.items()}
    if not isinstance(node, BinOp):
        return None
    a, b = flat_linear(node.left, model), flat_linear(node.right, model)
    if a is None or b is None:
        return None
    if node.op in "+-":
        sign = 1.0 if node.op == "+" else -1.0
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0.0) + sign * v
        return out
    if node.op == "*" and (set(a) == {""} or set(b) == {""}):
        factor, other = (a[""], b) if set(a) == {""} else (b[""], a)
        return {k: factor * v for k, v in other.items()}
    if node.op == "/" and set(b) == {""} and b[""] != 0:
        return {k: v / b[""] for k, v in a.items()}
    return None


def _upper_limit_rows(model: CompiledModel) -> list[tuple[CompiledConstraint, dict[str, float], float]]:
    """The plain linear inequalities of a model (no `forall`), each as `terms <= limit`: (constraint, terms
    by variable name without zero coefficients, limit). Others are left out."""
    rows = []
    for c in model.constraints:
        body = c.body
        if c.gen is not None or not isinstance(body, Compare) or body.op not in ("<=", ">=", "<", ">"):
            continue
        left, right = flat_linear(body.left, model), flat_linear(body.right, model)
        if left is None or right is None:
            continue
        sign = 1.0 if body.op in ("<=", "<") else -1.0
        terms = {k: sign * (left.get(k, 0.0) - right.get(k, 0.0)) for k in set(left) | set(right) if k}
        rows.append((c, {k: v for k, v in terms.items() if abs(v) > 1e-12},
                     sign * (right.get("", 0.0) - left.get("", 0.0))))
    return rows


def same_left_sides(model: CompiledModel) -> list[list[CompiledConstraint]]:
    """Groups of two or more plain constraints that limit the very same expression in the same
    direction (`x + y >= 30` and `x + y >= 25`): only the tightest of each group can ever bind, which
    in a word problem means requirements about different things were written with the same variables."""
    groups: dict[tuple, list[CompiledConstraint]] = {}
    for c, terms, _ in _upper_limit_rows(model):
        if not terms:
            continue
        # Scale so the first variable's coefficient is +-1: `2x + 2y` and `x + y` are the same side.
        first = terms[min(terms)]
        key = tuple(sorted((k, round(v / abs(first), 9)) for k, v in terms.items()))
        groups.setdefault(key, []).append(c)
    return [group for group in groups.values() if len(group) > 1]


def _extreme(model: CompiledModel, terms: dict[str, float], largest: bool) -> float | None:
    """The largest (or smallest) value a sum of terms takes within the variables' bounds; None if unbounded."""
    total = 0.0
    for name, coef in terms.items():
        lower, upper = model.var_bounds(model.variables[name])
        bound = upper if (coef > 0) == largest else lower
        if bound is None:
            return None
        total += coef * bound
    return total


def vacuous_constraints(model: CompiledModel) -> list[CompiledConstraint]:
    """Plain linear constraints that every value within the variables' bounds satisfies, so they state
    nothing: `5*apple + 3*carrot >= 2*carrot` over non-negative servings (nl4opt_test_114, where the sentence
    was a folate limit of 100), or sides that cancel. A restated sign or bound of one variable (`x >= 0`) is
    harmless and left out."""
    found = []
    for c, terms, limit in _upper_limit_rows(model):
        if not terms:  # the sides cancel, or only numbers: `2*s + 7*p >= 2*s + 7*p` (nl4opt_test_270)
            if limit >= -1e-9:
                found.append(c)
            continue
        if len(terms) < 2:
            continue
        highest = _extreme(model, terms, largest=True)
        if highest is not None and highest <= limit + 1e-9 * max(1.0, abs(limit)):
            found.append(c)
    return found


def unreachable_limits(model: CompiledModel) -> list[tuple[CompiledConstraint, float, float]]:
    """Plain linear constraints of two or more variables that no value within the variables' bounds meets:
    (constraint, the best its variable side can do, the limit it must meet), both in the constraint's own
    direction. ambulance_set_cover: six yes/no stations summed `>= 7` (the count of districts) reach 6 at most."""
    found = []
    for c, terms, limit in _upper_limit_rows(model):
        lowest = _extreme(model, terms, largest=False) if len(terms) >= 2 else None
        if lowest is not None and lowest > limit + 1e-9 * max(1.0, abs(limit)):
            flip = -1.0 if c.body.op in (">=", ">") else 1.0  # rows are stored as `terms <= limit`
            found.append((c, flip * lowest, flip * limit))
    return found


def linear_problems(model: CompiledModel) -> list[str]:
    """Why this model is not a (mixed-integer) linear program; empty when it is one."""
    return list(_cached(model, "linear_problems", _linear_problems))


def _cached(model: CompiledModel, key: str, analyse: Any) -> Any:
    """A structural analysis, computed once per compiled model (every solve asks again)."""
    if key not in model.analysis:
        model.analysis[key] = analyse(model)
    return model.analysis[key]


def _linear_problems(model: CompiledModel) -> list[str]:
    out = []
    for c in model.constraints:
        for part in _conjuncts(c.body):
            if isinstance(part, Aggregate) and part.func == "forall":
                part = part.body
                for sub in _conjuncts(part):
                    out += _linear_row(sub, model, c.name)
            else:
                out += _linear_row(part, model, c.name)
    if model.objective is not None:
        d = degree(model.objective, model)
        if d is None:
            out.append("objective: uses abs/min/max or logic, which is not linear (use a CP or SMT target)")
        elif d > 1:
            out.append(f"objective: a product of variables (degree {d}) is not linear (use a CP or SMT target)")
    for v in model.variables.values():
        if v.ir.domain == "labels" and not model.set_integer[v.label_set or ""]:
            out.append(f"variable '{v.name}': string labels need a CP or SMT target")
    return out


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Logic) and node.op == "and":
        return [n for item in node.items for n in _conjuncts(item)]
    return [node]


def _linear_row(node: Node, model: CompiledModel, name: str) -> list[str]:
    if isinstance(node, BoolConst) or degree(node, model) == 0:
        return []  # data only: grounding folds it to true (dropped) or false (an infeasible instance)
    if not isinstance(node, Compare):
        kind = type(node).__name__.lower()
        what = {"logic": "a logical and/or", "implies": "an implication", "unary": "a negation",
                "aggregate": "an aggregate", "call": "a global constraint"}.get(kind, kind)
        return [f"constraint '{name}': {what} is not linear (use a CP or SMT target)"]
    if node.op == "!=":
        return [f"constraint '{name}': '!=' is not linear"]
    d = degree(node, model)
    if d is None:
        return [f"constraint '{name}': uses abs/min/max or logic, which is not linear"]
    if d > 1:
        return [f"constraint '{name}': a product of variables (degree {d}) is not linear"]
    return []


def integral_problems(model: CompiledModel) -> list[str]:
    """Why CP-SAT cannot take this model: continuous variables or fractional coefficients."""
    return list(_cached(model, "integral_problems", _integral_problems))


def _integral_problems(model: CompiledModel) -> list[str]:
    out = [f"variable '{v.name}' is continuous" for v in model.variables.values() if not v.integral]
    out += [f"parameter '{p.name}' has fractional values" for p in model.params.values()
            if not p.integral and _param_used(model, p.name)]
    from formalizers.expr import walk

    parts = [(f"constraint '{c.name}'", c.body) for c in model.constraints]
    parts += [("objective", model.objective)] if model.objective is not None else []
    for where, node in parts:
        for n in walk(node):
            if isinstance(n, Num) and not float(n.value).is_integer():
                out.append(f"{where}: coefficient {n.value} is fractional")
            if isinstance(n, BinOp) and n.op == "/":
                out.append(f"{where}: division is not integral")
    return sorted(set(out))


def _param_used(model: CompiledModel, name: str) -> bool:
    from formalizers.expr import walk

    nodes = [c.body for c in model.constraints] + ([model.objective] if model.objective else [])
    nodes += [c.gen.where for c in model.constraints if c.gen and c.gen.where is not None]
    return any(isinstance(n, Name) and n.id == name for node in nodes for n in walk(node))


__all__ = [
    "CompiledModel", "CompiledVar", "CompiledParam", "CompiledConstraint", "compile_model", "degree",
    "linear_problems", "integral_problems", "flat_linear", "same_left_sides", "Ty", "RangeSet",
]
