"""The MiniZinc target: the IR rendered as readable MiniZinc text and solved by the `minizinc` binary.

The text is written from the AST, not grounded, so a person can read it next to the IR: sets become
enums, parameters arrays, each IR constraint one `constraint :: "name" ...` item whose annotation
carries the IR name back through compiler errors and conflicts.

Two MiniZincs are used (../shared/SOLVERS.md). Debian's 2.6.4 has only Gecode: it starts in
0.1 s and takes integral models with logic, labels or no objective. Models with continuous
variables, and pure integer programs, go to HiGHS in the WebAssembly MiniZinc 2.10 of the npm
package `minizinc` (driver in `mzn_wasm/run.cjs`, about 1 s and 120 MB to start): Gecode's float
solver is an interval CP solver that needs finite bounds and proves little, and its branch and
bound is slow on integer programs. Non-linear continuous models go to Gecode either way, and the
result says the answer is from a float CP solver.

Install the WebAssembly MiniZinc with `npm ci --ignore-scripts --prefix solvers/mzn_wasm`.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

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
    SetRef,
    Str,
    Unary,
    walk,
)
from formalizers.semantics import CompiledConstraint, CompiledModel, CompiledVar, linear_problems
from solvers.backend import Stopwatch, conflict_items
from solvers.limits import GRACE_SECONDS, HardTimeout, run_process
from solvers.mus import ExplainAborted, quickxplain
from solvers.result import SolveResult, Status, tail
from solvers.values import nest_values

NAME = "minizinc"
# Every MiniZinc run is a subprocess killed at its limit (limits.run_process), explanations included.
EXPLAIN_STOPS_AT_LIMIT = True


def stops_at_limit(model: CompiledModel) -> bool:
    """Always: the solver is a subprocess killed at the limit."""
    return True

MINIZINC = "minizinc"
WASM_DIR = Path(__file__).resolve().parent / "mzn_wasm"
WASM_DRIVER = WASM_DIR / "run.cjs"
WASM_PACKAGE = WASM_DIR / "node_modules" / "minizinc" / "dist" / "minizinc.wasm"
WASM_INSTALL = "npm ci --ignore-scripts --prefix solvers/mzn_wasm"
WASM_START_SECONDS = 6.0  # node + WebAssembly start-up on a busy machine, on top of MiniZinc's own limit
GECODE_INT_LIMIT = 2147483646  # Gecode's Int::Limits::max: where an unbounded integer objective stops
FLOAT_STEP = 1e-3  # Gecode float optimization: each new solution better by this much (default 0 crawls)
ARTIFICIAL_BOUND = 1e6  # for unbounded variables when a solver needs finite bounds (said in the result)
QUICK_CHECK_SECONDS = 2.0  # Gecode's try at one explanation check before HiGHS gets it
MAX_PADDING = 100_000  # array positions allowed for a non-contiguous integer index set
MODEL_FILE = "model.mzn"

# MiniZinc 2.6-2.10 keywords (identifiers that must be renamed) and names the renderer emits.
KEYWORDS = frozenset("""
    ann annotation any array bool case constraint default diff div else elseif endif enum false float
    function if in include int intersect let list maximize minimize mod not of op opt output par
    predicate record satisfy set solve string subset superset symdiff test then true tuple type union
    var where xor infinity sum forall exists alldifferent abs min max array1d array2d array3d array4d
    array5d array6d
""".split())
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NOISE = ("overrides a global constraint file", "Further warnings have been suppressed")

# Precedences for parenthesizing (higher binds tighter).
_IFF, _IMPL, _OR, _AND, _CMP, _ADD, _MUL, _UNARY, _ATOM = 10, 20, 30, 40, 60, 70, 80, 90, 100


class WasmUnavailable(RuntimeError):
    """The WebAssembly MiniZinc (npm `minizinc`) or node is missing."""


def ensure_wasm() -> Path:
    """The driver script, or WasmUnavailable saying exactly what to install."""
    if shutil.which("node") is None:
        raise WasmUnavailable("node is not on PATH; the WebAssembly MiniZinc needs Node.js 18 or newer")
    if not WASM_PACKAGE.exists():
        raise WasmUnavailable(f"the WebAssembly MiniZinc is not installed ({WASM_PACKAGE} is missing); "
                              f"run: {WASM_INSTALL}")
    return WASM_DRIVER


def wasm_available() -> bool:
    try:
        ensure_wasm()
    except WasmUnavailable:
        return False
    return True


# ------------------------------------------------------------------ names and layout

@dataclass
class _Layout:
    """How one IR set appears in MiniZinc, and where its elements sit in arrays indexed by it."""

    kind: str  # "enum" (string set as enum) | "coded" (string set as 1..n) | "int"
    ident: str  # the set's MiniZinc name
    member: dict[Any, str]  # element -> its MiniZinc text (enum member, code or integer)
    keys: list[Any]  # per array position: the IR element (or, for padding, the integer index)
    index: str  # what arrays over this set are indexed by
    padded: bool = False  # a non-contiguous integer set: arrays span lo..hi

    def __post_init__(self) -> None:
        self._pos = {e: i for i, e in enumerate(self.keys)}

    @property
    def tokens(self) -> list[str]:
        """Per array position, the MiniZinc text of its index."""
        return [self.member.get(k, str(k)) for k in self.keys]

    def position(self, element: Any) -> int:
        """0-based position of an element in arrays indexed by this set."""
        return self._pos[element]


def _loop_names(model: CompiledModel) -> set[str]:
    nodes: list[Node] = [c.body for c in model.constraints]
    nodes += [c.gen for c in model.constraints if c.gen is not None]
    if model.objective is not None:
        nodes.append(model.objective)
    out: set[str] = set()
    for node in nodes:
        for n in walk(node):
            if isinstance(n, Generator):
                out.update(b.var for b in n.bindings)
            elif isinstance(n, Aggregate):
                out.update(b.var for b in n.gen.bindings)
    return out


def _quotable(text: str) -> bool:
    return bool(text) and not any(ch in "\\'\"" or ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _ident_text(token: str) -> str:
    return token[1:-1] if token.startswith("'") else token


class _Names:
    """Consistent MiniZinc identifiers for IR names (keywords renamed) and for set elements."""

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        ir_names = [*model.sets, *model.params, *model.variables]
        loops = sorted(_loop_names(model))
        self.taken: set[str] = set(ir_names) | set(loops) | KEYWORDS
        self.ident: dict[str, str] = {}
        for name in [*ir_names, *loops]:
            self.ident[name] = self._escape(name)
        self.layouts = {s: self._layout(s) for s in model.sets}

    def _escape(self, name: str) -> str:
        """Keywords get a trailing '_', names with a leading '_' (not MiniZinc names) a leading 'u'."""
        if _PLAIN.match(name) and name not in KEYWORDS:
            return name
        out = name + "_" if _PLAIN.match(name) else "u" + name
        while out in self.taken:
            out += "_"
        self.taken.add(out)
        return out

    def fresh(self, stem: str) -> str:
        i = 1
        while f"{stem}{i}" in self.taken:
            i += 1
        self.taken.add(f"{stem}{i}")
        return f"{stem}{i}"

    def _member(self, set_name: str, element: str) -> str | None:
        """An enum member for a string element: as written when possible, else quoted or prefixed."""
        for text in (element, f"{set_name}_{element}"):
            if text in self.taken:
                continue
            if _PLAIN.match(text) and text not in KEYWORDS:
                self.taken.add(text)
                return text
            if _quotable(text):
                self.taken.add(text)
                return f"'{text}'"
        if not _quotable(element):
            return None
        i = 2
        while f"{set_name}_{element}_{i}" in self.taken:
            i += 1
        self.taken.add(f"{set_name}_{element}_{i}")
        return f"'{set_name}_{element}_{i}'"

    def _layout(self, set_name: str) -> _Layout:
        m = self.model
        elements = m.sets[set_name]
        ident = self.ident[set_name]
        if not m.set_integer[set_name]:
            member: dict[Any, str] = {}
            for e in elements:
                token = self._member(set_name, e)
                if token is None:  # an element MiniZinc cannot name: number the whole set instead
                    for t in member.values():
                        self.taken.discard(_ident_text(t))
                    return _Layout("coded", ident, {e: str(i + 1) for i, e in enumerate(elements)},
                                   list(elements), ident)
                member[e] = token
            return _Layout("enum", ident, member, list(elements), ident)
        lo, hi = min(elements), max(elements)
        contiguous = hi - lo + 1 == len(elements)
        return _Layout("int", ident, {e: str(e) for e in elements}, list(range(lo, hi + 1)),
                       ident if contiguous else f"{lo}..{hi}", padded=not contiguous)


# ------------------------------------------------------------------ rendering

def _num(value: float | int, integral: bool) -> str:
    """Integral values print as ints so MiniZinc types them int (it coerces int to float, not back)."""
    if integral:
        return str(int(value))
    return repr(float(value))


def _comment(text: str) -> str:
    """One line: a newline in a label or source sentence would end the % comment."""
    return " ".join(str(text).split())


@dataclass
class _Rendered:
    """Model text and what each line renders, to map compiler messages back to the IR."""

    text: str
    lines: dict[int, str] = field(default_factory=dict)  # 1-based line -> "constraint 'wood'" etc.


class _Renderer:
    """MiniZinc text of a compiled model (optionally a subset of its constraints, no objective)."""

    def __init__(self, model: CompiledModel, bound: float | None = None,
                 bound_integers: bool = False) -> None:
        self.m = model
        self.names = _Names(model)
        self.layouts = self.names.layouts
        self.bound = bound
        self.bound_integers = bound_integers
        self.solver: str | None = None  # named in the header comment

    # Whole model ----------------------------------------------------------
    def render(self, constraints: set[str] | None = None, objective: bool = True) -> _Rendered:
        m, n = self.m, self.names
        out = _Rendered("")
        lines: list[str] = []

        def add(text: str, what: str | None = None) -> None:
            for piece in text.split("\n"):
                lines.append(piece)
                if what:
                    out.lines[len(lines)] = what

        kept = [c for c in m.constraints if constraints is None or c.name in constraints]
        body = [self.constraint(c) for c in kept]
        obj = self.expr(m.objective, {}) if (objective and m.objective is not None) else None
        alldiff = any("alldifferent(" in text for text in body)

        add(f"% {_comment(m.ir.name)}: MiniZinc rendered by modelwright from its IR (solvers/minizinc.py)")
        if m.ir.description:
            add(f"% {_comment(m.ir.description)}")
        solver = self.solver or "gecode"
        where = "  (not in Debian's 2.6.4; in the npm MiniZinc 2.10)" if solver == "highs" else ""
        add(f"% Solve: minizinc --solver {solver} --output-mode json --output-objective model.mzn{where}")
        renamed = {k: v for k, v in n.ident.items() if k != v}
        if renamed:
            pairs = ", ".join(f"{k} -> {v}" for k, v in renamed.items())
            add(f"% Renamed for MiniZinc (keywords, leading '_'): {pairs}")
        if alldiff:
            add('include "alldifferent.mzn";')
        if m.sets:
            add("")
            add("% Sets")
        for s in m.ir.sets:
            lay = self.layouts[s.name]
            note = f"  % {_comment(s.description)}" if s.description else ""
            if lay.kind == "enum":
                add(f"enum {lay.ident} = {{{', '.join(lay.tokens)}}};{note}",
                    f"set '{s.name}'")
            elif lay.kind == "coded":
                codes = ", ".join(f"{i + 1} = {_comment(e)}" for i, e in enumerate(m.sets[s.name]))
                add(f"set of int: {lay.ident} = 1..{len(m.sets[s.name])};  % {codes}{note}",
                    f"set '{s.name}'")
            else:
                elements = sorted(m.sets[s.name])
                text = f"{elements[0]}..{elements[-1]}" if not lay.padded else \
                    "{" + ", ".join(map(str, elements)) + "}"
                add(f"set of int: {lay.ident} = {text};{note}", f"set '{s.name}'")
        if m.params:
            add("")
            add("% Parameters")
        for p in m.ir.parameters:
            if p.description:
                add(f"% {_comment(p.description)}")
            add(self.parameter(p.name), f"parameter '{p.name}'")
        add("")
        add("% Decision variables")
        for v in m.variables.values():
            if v.ir.description:
                add(f"% {_comment(v.ir.description)}")
            add(self.variable(v), f"variable '{v.name}'")
        if kept:
            add("")
            add("% Constraints")
        for c, text in zip(kept, body, strict=True):
            what = " — ".join(_comment(t) for t in (c.ir.label, c.ir.source) if t)
            if what:
                add(f"% {what}")
            add(text, f"constraint '{c.name}'")
        add("")
        if obj is None:
            add("solve satisfy;", "objective")
        else:
            if m.ir.objective is not None and m.ir.objective.description:
                add(f"% {_comment(m.ir.objective.description)}")
            add(f"solve {m.sense} {obj};", "objective")
        out.text = "\n".join(lines) + "\n"
        return out

    def constraint(self, c: CompiledConstraint) -> str:
        scope: dict[str, tuple[str, str | None]] = {}
        if c.gen is not None:
            gen, scope = self.generator(c.gen, scope)
            body = f"forall({gen})({self.expr(c.body, scope)})"
        else:
            body = self.expr(c.body, scope)
        return f'constraint :: "{c.name}" {body};'

    def parameter(self, name: str) -> str:
        p = self.m.params[name]
        ident = self.names.ident[name]
        kind = "int" if p.integral else "float"
        if not p.index:
            return f"{kind}: {ident} = {_num(p.values, p.integral)};"  # type: ignore[arg-type]
        lays = [self.layouts[s] for s in p.index]
        values: dict = p.values  # type: ignore[assignment]
        index = ", ".join(lay.index for lay in lays)
        head = f"array[{index}] of {kind}: {ident} ="
        note = "  % positions outside the set are padding" if any(lay.padded for lay in lays) else ""

        def value(key: tuple) -> str:
            return _num(values.get(key, 0), p.integral)

        if len(lays) == 1:
            lay = lays[0]
            if lay.kind == "coded" or (lay.kind == "int" and lay.keys[0] == 1):  # indexed 1..n: a list
                return f"{head} [{', '.join(value((k,)) for k in lay.keys)}];{note}"
            pairs = [f"{t}: {value((k,))}" for k, t in zip(lay.keys, lay.tokens, strict=True)]
            return f"{head} [{', '.join(pairs)}];{note}"
        if len(lays) == 2:
            rows, cols = lays
            header = "[| " + " ".join(f"{t}:" for t in cols.tokens)
            body = [f"   | {rt}: " + ", ".join(value((r, c)) for c in cols.keys)
                    for r, rt in zip(rows.keys, rows.tokens, strict=True)]
            return f"{head}{note}\n  {header}\n" + "\n".join("  " + b for b in body) + " |];"
        flat = [value(key) for key in _product([lay.keys for lay in lays])]
        return f"{head} array{len(lays)}d({index}, [{', '.join(flat)}]);{note}"

    def variable(self, v: CompiledVar) -> str:
        ident = self.names.ident[v.name]
        domain = self.domain(v)
        if not v.index:
            return f"var {domain}: {ident};"
        index = ", ".join(self.layouts[s].index for s in v.index)
        return f"array[{index}] of var {domain}: {ident};"

    def domain(self, v: CompiledVar) -> str:
        d = v.ir.domain
        if d == "boolean":
            return "bool"
        if d == "binary":
            return "0..1"
        if d == "labels":
            return self.layouts[v.label_set].ident  # type: ignore[index]
        lo, hi = v.lower, v.upper
        if self.bound is not None and (d == "continuous" or self.bound_integers):
            lo = -self.bound if lo is None else lo
            hi = self.bound if hi is None else hi
        if d == "integer":
            lo_t = str(math.ceil(lo)) if lo is not None else "-infinity"
            hi_t = str(math.floor(hi)) if hi is not None else "infinity"
            return "int" if lo is None and hi is None else f"{lo_t}..{hi_t}"
        lo_t = repr(float(lo)) if lo is not None else "-infinity"
        hi_t = repr(float(hi)) if hi is not None else "infinity"
        return "float" if lo is None and hi is None else f"{lo_t}..{hi_t}"

    # Expressions ------------------------------------------------------------
    def scope_of(self, gen: Generator, scope: dict) -> dict:
        """Loop variables in scope: name -> ("int" | "elem", set name or None for a range)."""
        inner = dict(scope)
        for b in gen.bindings:
            if isinstance(b.domain, SetRef):
                kind = "int" if self.m.set_integer[b.domain.name] else "elem"
                inner[b.var] = (kind, b.domain.name)
            else:
                inner[b.var] = ("int", None)
        return inner

    def generator(self, gen: Generator, scope: dict) -> tuple[str, dict]:
        parts = []
        for b in gen.bindings:
            if isinstance(b.domain, SetRef):
                dom = self.layouts[b.domain.name].ident
            else:
                lo = self._wrap(*self._e(b.domain.low, scope), _ATOM)
                hi = self._wrap(*self._e(b.domain.high, scope), _ATOM)
                dom = f"{lo}..{hi}"
            parts.append(f"{self.names.ident[b.var]} in {dom}")
        inner = self.scope_of(gen, scope)
        text = ", ".join(parts)
        if gen.where is not None:
            text += f" where {self.expr(gen.where, inner)}"
        return text, inner

    def expr(self, node: Node, scope: dict) -> str:
        return self._e(node, scope)[0]

    @staticmethod
    def _wrap(text: str, prec: int, need: int) -> str:
        return f"({text})" if prec < need else text

    def _e(self, node: Node, scope: dict, want: str | None = None) -> tuple[str, int]:
        """(text, precedence); `want` names the set a string literal belongs to."""
        if isinstance(node, Num):
            integral = float(node.value).is_integer()
            text = _num(node.value, integral)
            return text, (_UNARY if node.value < 0 else _ATOM)
        if isinstance(node, BoolConst):
            return ("true" if node.value else "false"), _ATOM
        if isinstance(node, Str):
            return self._string(node.value, want), _ATOM
        if isinstance(node, Name):
            return self._name(node, scope), _ATOM
        if isinstance(node, Unary):
            if node.op == "not":
                return f"not {self._wrap(*self._e(node.operand, scope), _ATOM)}", _UNARY
            return f"-{self._wrap(*self._e(node.operand, scope), _UNARY + 1)}", _UNARY
        if isinstance(node, BinOp):
            if node.op == "^":
                k = int(node.right.value)  # type: ignore[attr-defined]
                if k == 0:
                    return "1", _ATOM
                base, prec = self._e(node.left, scope)
                if k == 1:
                    return base, prec
                base = self._wrap(base, prec, _UNARY + 1)
                return " * ".join([base] * k), _MUL
            prec = _ADD if node.op in "+-" else _MUL
            left = self._wrap(*self._e(node.left, scope), prec)
            right = self._wrap(*self._e(node.right, scope), prec + 1)
            return f"{left} {node.op} {right}", prec
        if isinstance(node, Compare):
            return self._compare(node, scope), _CMP
        if isinstance(node, Logic):
            prec = _AND if node.op == "and" else _OR
            sep = " /\\ " if node.op == "and" else " \\/ "
            return sep.join(self._wrap(*self._e(i, scope), prec + 1) for i in node.items), prec
        if isinstance(node, Implies):  # nested implications always get parentheses
            left = self._wrap(*self._e(node.left, scope), _IMPL + 1)
            right = self._wrap(*self._e(node.right, scope), _IMPL + 1)
            return f"{left} {node.op} {right}", (_IMPL if node.op == "->" else _IFF)
        if isinstance(node, Aggregate):
            gen, inner = self.generator(node.gen, scope)
            body = self.expr(node.body, inner)
            if node.func == "alldifferent":
                return f"alldifferent([{body} | {gen}])", _ATOM
            return f"{node.func}({gen})({body})", _ATOM
        if isinstance(node, Call):
            return self._call(node, scope), _ATOM
        raise ValueError(f"cannot render {type(node).__name__}")

    def _string(self, value: str, want: str | None) -> str:
        sets = [want] if want else [s for s, els in self.m.sets.items()
                                    if not self.m.set_integer[s] and value in els]
        if len(sets) == 1 and value in self.m.sets[sets[0]]:
            lay = self.layouts[sets[0]]
            token = lay.member[value]
            if lay.kind == "coded":
                return f"{token} /* {_comment(value).replace('*/', '* /')} */"
            return token
        return json.dumps(value)  # a MiniZinc string literal; only equal to itself

    def _name(self, node: Name, scope: dict) -> str:
        ident = self.names.ident.get(node.id, node.id)
        if not node.indices:
            return ident
        index = self._index_sets(node.id)
        parts = [self._e(i, scope, want=s if not self.m.set_integer[s] else None)[0]
                 for i, s in zip(node.indices, index, strict=True)]
        return f"{ident}[{', '.join(parts)}]"

    def _index_sets(self, name: str) -> list[str]:
        if name in self.m.params:
            return self.m.params[name].index
        return self.m.variables[name].index

    def _compare(self, node: Compare, scope: dict) -> str:
        elem = self._elem_set(node.left, scope) or self._elem_set(node.right, scope)
        left = self._wrap(*self._e(node.left, scope, want=elem), _CMP + 1)
        right = self._wrap(*self._e(node.right, scope, want=elem), _CMP + 1)
        op = {"==": "="}.get(node.op, node.op)
        if op in ("<", ">") and not (self.integral(node.left, scope) and self.integral(node.right, scope)):
            op += "="  # IR semantics: strict on continuous expressions means non-strict
        return f"{left} {op} {right}"

    def _elem_set(self, node: Node, scope: dict) -> str | None:
        """The string set whose element this expression is, if any."""
        if not isinstance(node, Name):
            return None
        if node.id in scope:
            kind, set_name = scope[node.id]
            return set_name if kind == "elem" else None
        var = self.m.variables.get(node.id)
        if var is not None and var.label_set and not self.m.set_integer[var.label_set]:
            return var.label_set
        return None

    def _call(self, node: Call, scope: dict) -> str:
        if node.func == "alldifferent":
            arg = node.args[0]
            if len(node.args) == 1 and isinstance(arg, Name) and not arg.indices \
                    and arg.id in self.m.variables:
                var = self.m.variables[arg.id]
                ident = self.names.ident[var.name]
                lays = [self.layouts[s] for s in var.index]
                if len(lays) == 1 and not lays[0].padded:
                    return f"alldifferent({ident})"
                loops = [self.names.fresh("k") for _ in lays]
                gen = ", ".join(f"{k} in {lay.ident}" for k, lay in zip(loops, lays, strict=True))
                return f"alldifferent([{ident}[{', '.join(loops)}] | {gen}])"
            return f"alldifferent([{', '.join(self.expr(a, scope) for a in node.args)}])"
        args = [self.expr(a, scope) for a in node.args]
        if node.func == "abs" or len(args) == 2:
            return f"{node.func}({', '.join(args)})"
        return f"{node.func}([{', '.join(args)}])"

    def integral(self, node: Node, scope: dict) -> bool:
        """Can this expression only take integer values? (formalizers.ground.Grounder.integral)"""
        m = self.m
        if isinstance(node, Num):
            return float(node.value).is_integer()
        if isinstance(node, Name):
            if node.id in scope:
                return scope[node.id][0] == "int"
            if node.id in m.params:
                return m.params[node.id].integral
            if node.id in m.variables:
                return m.variables[node.id].integral
            return False
        if isinstance(node, Unary):
            return self.integral(node.operand, scope)
        if isinstance(node, BinOp):
            return node.op != "/" and self.integral(node.left, scope) and self.integral(node.right, scope)
        if isinstance(node, Aggregate):
            if node.func not in ("sum", "min", "max"):
                return False
            return self.integral(node.body, self.scope_of(node.gen, scope))
        if isinstance(node, Call):
            return node.func != "alldifferent" and all(self.integral(a, scope) for a in node.args)
        return False


def _product(lists: list[list]) -> list[tuple]:
    keys: list[tuple] = [()]
    for items in lists:
        keys = [k + (e,) for k in keys for e in items]
    return keys


def render(model: CompiledModel) -> str:
    """The MiniZinc model a person reads (`modelwright render --target minizinc`)."""
    renderer = _Renderer(model)
    renderer.solver = _plans(model)[0].solver
    return renderer.render().text


# ------------------------------------------------------------------ which solver

@dataclass(frozen=True)
class _Plan:
    runner: str  # "native" (Debian's minizinc) | "wasm" (npm MiniZinc through node)
    solver: str  # MiniZinc solver tag
    note: str = ""  # said in the result's message
    bound: float | None = None  # artificial bound for unbounded variables (their missing sides)
    bound_integers: bool = False  # also for integer variables (not only continuous ones)
    float_step: float | None = None  # Gecode's float optimization step (its default 0 crawls)


def _mentions_var(node: Node, model: CompiledModel) -> bool:
    return any(isinstance(n, Name) and n.id in model.variables for n in walk(node))


def _continuous_nonlinear(model: CompiledModel) -> list[str]:
    """Products, quotients and powers of variables that a MIP solver cannot take."""
    out = []
    nodes = [(c.name, c.body) for c in model.constraints]
    if model.objective is not None:
        nodes.append(("objective", model.objective))
    for where, root in nodes:
        for n in walk(root):
            if not isinstance(n, BinOp):
                continue
            left, right = _mentions_var(n.left, model), _mentions_var(n.right, model)
            if n.op == "/" and right:
                out.append(f"{where}: division by a variable expression")
            elif n.op == "*" and left and right and not (_all_integral_vars(n, model)):
                out.append(f"{where}: product of variables with continuous ones")
            elif n.op == "^" and left and isinstance(n.right, Num) and n.right.value >= 2 \
                    and not _all_integral_vars(n, model):
                out.append(f"{where}: power of a continuous variable")
    return out


def _all_integral_vars(node: Node, model: CompiledModel) -> bool:
    return all(model.variables[n.id].integral for n in walk(node)
               if isinstance(n, Name) and n.id in model.variables)


def _plans(model: CompiledModel, wasm: bool | None = None) -> list[_Plan]:
    """The solvers to try in order; a later one runs when an earlier one cannot linearize the model.

    MIP linearization of logic needs finite bounds and Gecode's float solver overflows on unbounded
    continuous variables, so the later plans give unbounded variables an artificial bound and say so.
    """
    wasm = wasm_available() if wasm is None else wasm
    continuous = [v for v in model.variables.values() if not v.integral]
    if not continuous:
        if wasm and model.objective is not None and not linear_problems(model):
            # A pure integer program: Gecode's branch and bound can take minutes where HiGHS's LP
            # bound closes the gap at once (the transportation example: 10220 after 20 s vs 9550).
            return [_Plan("wasm", "highs"), _Plan("native", "gecode")]
        return [_Plan("native", "gecode")]
    unbounded = [v for v in model.variables.values()
                 if v.ir.domain in ("integer", "continuous") and (v.lower is None or v.upper is None)]
    float_unbounded = any(not v.integral for v in unbounded)
    nonlinear = _continuous_nonlinear(model)
    bounded = (f"unbounded variables got artificial bounds ±{ARTIFICIAL_BOUND:g} so that the solver "
               "could take the model")
    plans = []
    if wasm and not nonlinear:
        plans.append(_Plan("wasm", "highs"))
        if unbounded:
            plans.append(_Plan("wasm", "highs", bounded, ARTIFICIAL_BOUND, True))
    note = "the answer is from Gecode's float CP solver (interval propagation, weak on continuous models)"
    if nonlinear:
        note = f"non-linear continuous model ({nonlinear[0]}): {note}"
    elif not wasm:
        note += f"; for HiGHS install the WebAssembly MiniZinc: {WASM_INSTALL}"
    if float_unbounded:
        plans.append(_Plan("native", "gecode", f"{note}; {bounded}", ARTIFICIAL_BOUND, False, FLOAT_STEP))
    else:
        plans.append(_Plan("native", "gecode", note, float_step=FLOAT_STEP))
    return plans


def unsupported(model: CompiledModel) -> list[str]:
    """Why no MiniZinc solver here can take this model ([] = one can)."""
    reasons = []
    for s, elements in model.sets.items():
        span = max(elements) - min(elements) + 1 if model.set_integer[s] else 0
        if span > MAX_PADDING and span != len(elements):
            reasons.append(f"set '{s}': integer elements spread over more than {MAX_PADDING:,} values "
                           "cannot index MiniZinc arrays")
    return reasons


# ------------------------------------------------------------------ running

@dataclass
class _Outcome:
    """What one MiniZinc run said."""

    status: str | None = None  # OPTIMAL_SOLUTION, UNSATISFIABLE, UNKNOWN, ... (None: no status line)
    solution: dict | None = None  # the last solution's JSON output
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    versions: dict | None = None
    killed: bool = False
    rc: int | None = None
    seconds: float = 0.0  # wall time of the process


_WASM_VERSIONS: dict = {}


def _command(plan: _Plan, path: Path, time_limit: float) -> list[str]:
    args = ["--solver", plan.solver, "--json-stream", "--output-mode", "json", "--output-objective",
            "--statistics", "--intermediate", "--time-limit", str(max(100, int(time_limit * 1000))),
            str(path)]
    if plan.float_step:
        args[:0] = ["--fzn-flags", f"-step {plan.float_step:g}"]
    if plan.runner == "native":
        return [MINIZINC, *args]
    driver = ensure_wasm()
    extra = [] if _WASM_VERSIONS else ["--with-versions"]
    return ["node", "--liftoff-only", str(driver), *extra, *args]


def _run(text: str, plan: _Plan, time_limit: float) -> _Outcome:
    """Run MiniZinc on one model text with its own time limit and a hard wall-clock kill after it."""
    hard = time_limit + GRACE_SECONDS + (WASM_START_SECONDS if plan.runner == "wasm" else 0.0)
    out = _Outcome()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelwright-mzn-") as tmp:
        path = Path(tmp) / MODEL_FILE
        path.write_text(text, encoding="utf-8")
        cmd = _command(plan, path, time_limit)
        out.log.append("$ " + shlex.join(cmd))
        try:
            proc = run_process(cmd, seconds=hard, cwd=tmp)
        except HardTimeout as e:
            out.killed = True
            out.log.append(f"killed: {e}")
            out.seconds = time.perf_counter() - t0
            return out
        except FileNotFoundError as e:
            out.errors.append({"what": "not installed", "message": str(e)})
            out.seconds = time.perf_counter() - t0
            return out
    out.seconds = time.perf_counter() - t0
    out.rc = proc.returncode
    for line in proc.stdout.splitlines():
        _message(out, line)
    for line in proc.stderr.splitlines():
        if line.strip() and not any(n in line for n in _NOISE):
            out.log.append(line)
    out.log.append(f"# exit code {out.rc} after {out.seconds:.2f} s")
    if out.versions is not None:
        _WASM_VERSIONS.update(out.versions)
    return out


def _message(out: _Outcome, line: str) -> None:
    if not line.strip():
        return
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        out.log.append(line)
        return
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "solution":
        out.solution = (msg.get("output") or {}).get("json")
    elif kind == "status":
        out.status = msg.get("status")
    elif kind == "statistics":
        stats = msg.get("statistics") or {}
        out.stats.update(stats)
        out.log.append("%%%mzn-stat: " + ", ".join(f"{k}={v}" for k, v in stats.items()))
    elif kind == "error":
        out.errors.append(msg)
        out.log.append(f"error: {msg.get('what', '')}: {msg.get('message', '')}")
    elif kind == "warning":
        text = str(msg.get("message", ""))
        if not any(n in text for n in _NOISE):
            out.warnings.append(msg)
            out.log.append(f"warning: {text}")
    elif kind in ("stderr", "stdout"):
        text = str(msg.get("value", "")).rstrip()
        if text and not any(n in text for n in _NOISE):
            out.log.append(text)
    elif kind == "versions":
        out.versions = msg
    elif kind == "comment":
        out.log.append(str(msg.get("comment", "")).rstrip())


@lru_cache(maxsize=1)
def _native_versions() -> tuple[str, list[dict]]:
    """(MiniZinc version, its solvers as in --solvers-json) of Debian's binary."""
    try:
        first = run_process([MINIZINC, "--version"], seconds=10).stdout.splitlines()[0]
        solvers = json.loads(run_process([MINIZINC, "--solvers-json"], seconds=10).stdout or "[]")
    except (OSError, HardTimeout, IndexError, json.JSONDecodeError):
        return "", []
    return _version_number(first), solvers


@lru_cache(maxsize=1)
def _npm_version() -> str:
    try:
        return json.loads((WASM_DIR / "node_modules" / "minizinc" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def _version_number(line: str) -> str:
    found = re.search(r"version (\d+\.\d+\.\d+)", line)
    return found.group(1) if found else line.strip()


def _solver_version(plan: _Plan) -> str:
    """'MiniZinc 2.6.4 (Debian), Gecode 6.2.0 (org.gecode.gecode)'."""
    if plan.runner == "native":
        mzn, solvers = _native_versions()
        where = "Debian"
    else:
        mzn = _version_number(str(_WASM_VERSIONS.get("minizinc", "")))
        solvers = _WASM_VERSIONS.get("solvers", [])
        where = f"WebAssembly, npm minizinc {_npm_version()}"
    ids = [s for s in solvers if str(s.get("id", "")).lower().endswith(f".{plan.solver}")]
    ids += [s for s in solvers if plan.solver in str(s.get("id", "")).lower()]
    solver = f"{ids[0].get('name')} {ids[0].get('version')} ({ids[0].get('id')})" if ids else plan.solver
    return f"MiniZinc {mzn} ({where}), {solver}"


# ------------------------------------------------------------------ reading results

def _read_values(model: CompiledModel, names: _Names, solution: dict) -> dict[tuple[str, tuple], float]:
    flat: dict[tuple[str, tuple], float] = {}
    for name, var in model.variables.items():
        raw = solution.get(names.ident[name])
        if raw is None:
            continue
        lays = [names.layouts[s] for s in var.index]
        for key in var.keys:
            node: Any = raw
            try:
                for lay, element in zip(lays, key, strict=True):
                    node = node[lay.position(element)]
            except (IndexError, KeyError, TypeError):
                continue
            value = _decode(model, names, var, node)
            if value is not None:
                flat[(name, key)] = value
    return flat


def _decode(model: CompiledModel, names: _Names, var: CompiledVar, raw: Any) -> float | None:
    if isinstance(raw, dict) and "e" in raw and var.label_set:  # an enum value, by its MiniZinc name
        by_name = {_ident_text(t): e for e, t in names.layouts[var.label_set].member.items()}
        element = by_name.get(str(raw["e"]))
        return None if element is None else float(model.label_code(var.label_set, element))
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float):
        return float(raw)
    return None


def _locate(error: dict, rendered: _Rendered) -> str:
    """"constraint 'wood' (line 12, t = 1)" for the first place of a message in our model file."""
    places = [error.get("location") or {}]
    places += [(s or {}).get("location") or {} for s in error.get("stack") or []]
    bindings = [str(s.get("description")) for s in error.get("stack") or []
                if s.get("isCompIter") and "<expression>" not in str(s.get("description"))]
    for loc in places:
        if str(loc.get("filename") or "").endswith(MODEL_FILE):
            line = int(loc.get("firstLine") or 0)
            what = rendered.lines.get(line, "")
            detail = ", ".join([f"line {line}", *bindings])
            return f"{what} ({detail})" if what else detail
    return ""


def _error_message(out: _Outcome, rendered: _Rendered) -> str:
    if out.errors:
        parts = []
        for e in out.errors[:3]:
            where = _locate(e, rendered)
            head = f"MiniZinc {e.get('what', 'error')}" + (f" in {where}" if where else "")
            parts.append(f"{head}: {str(e.get('message', '')).strip()}")
        return "\n".join(parts)
    return failure_text(out)


def failure_text(out: _Outcome) -> str:
    """The last lines a failed run printed besides its command and statistics ("Error: Gecode: Float::linear:
    Number out of limits" comes on stderr, not as a JSON error)."""
    lines = [ln for ln in out.log if not ln.startswith(("$ ", "%%%mzn-stat"))]
    return "MiniZinc failed (exit code {}): {}".format(out.rc, " | ".join(lines[-5:]) or "no message")


def _at_gecode_limit(model: CompiledModel, flat: dict) -> bool:
    return any(abs(v) >= GECODE_INT_LIMIT for (name, _), v in flat.items() if model.variables[name].integral)


def _cannot_linearize(out: _Outcome) -> str:
    """The MIP library's complaint when it cannot linearize the model (then Gecode gets it)."""
    for e in out.errors:
        text = str(e.get("message", ""))
        if any(k in text for k in ("linearisation", "linear formulation", "quadratic", "indicator",
                                   "finite bounds", "unbounded coefficient")):
            return text.strip().splitlines()[0]
    return ""


# ------------------------------------------------------------------ solve

def solve(model: CompiledModel, *, time_limit: float = 30.0, explain: bool = True) -> SolveResult:
    """Render, run MiniZinc with a hard wall-clock limit, read the answer back by IR names."""
    sw = Stopwatch()
    notes: list[str] = []
    log: list[str] = []
    deadline = time.monotonic() + time_limit
    plans = _plans(model)
    for i, plan in enumerate(plans):
        with sw.lap("render"):
            renderer = _Renderer(model, plan.bound, plan.bound_integers)
            renderer.solver = plan.solver
            rendered = renderer.render()
        with sw.lap("minizinc"):
            out = _run(rendered.text, plan, max(0.5, deadline - time.monotonic()) if i else time_limit)
        log += out.log
        why = _cannot_linearize(out)
        if not why or i == len(plans) - 1:
            break
        notes.append(f"{plan.solver} could not take the model ({why})")
    result = SolveResult(status=Status.ERROR, target=NAME, solver=f"{plan.solver} ({plan.runner})",
                         solver_version=_solver_version(plan))
    if "flatTime" in out.stats:
        result.timings["flatten"] = float(out.stats["flatTime"])
    with sw.lap("minizinc"):
        head = _interpret(model, renderer, rendered, plan, out, time_limit, result, log)
    notes = [head, plan.note, *notes]
    if result.status == Status.INFEASIBLE and explain and model.constraints:
        with sw.lap("explain"):
            notes.append(_explain(model, renderer, plan, time_limit, result))
    result.log_tail = tail("\n".join(log))
    result.message = "; ".join(n for n in notes if n)
    result.timings.update(sw.timings)
    result.seconds = sw.total
    return result


def _interpret(model: CompiledModel, renderer: _Renderer, rendered: _Rendered, plan: _Plan, out: _Outcome,
               time_limit: float, result: SolveResult, log: list[str]) -> str:
    """Set status, values and objective from a run; return the leading note for the message."""
    optimizing = model.objective is not None
    undefined = [(w, _locate(w, rendered)) for w in out.warnings
                 if "undefined result" in str(w.get("message"))]
    undefined = [(w, where) for w, where in undefined if where]
    if undefined:  # the IR has no "undefined becomes false": an index out of range is an error there
        w, where = undefined[0]
        text = " ".join(str(w.get("message", "")).split()).replace("undefined result becomes false in "
                                                                   "Boolean context ", "")
        return (f"undefined expression in {where}: {text}; in the IR an index must stay inside its set "
                "(add a 'where' filter)")
    if out.solution is not None and not out.errors:
        flat = _read_values(model, renderer.names, out.solution)
        if optimizing and plan.solver == "gecode" and _at_gecode_limit(model, flat):
            result.status = Status.UNBOUNDED
            return (f"a value reached Gecode's integer limit {GECODE_INT_LIMIT}: the objective is "
                    "unbounded in practice (bound the variables if it should not be)")
        result.values = nest_values(model, flat)
        raw = out.solution.get("_objective")
        result.objective = float(raw) if isinstance(raw, int | float) and optimizing else None
        at_bound = plan.bound is not None and any(
            abs(v) >= plan.bound * (1 - 1e-9) for (name, _), v in flat.items()
            if None in (model.variables[name].lower, model.variables[name].upper))
        if at_bound and optimizing:
            result.status = Status.FEASIBLE
            return (f"a variable reached the artificial bound ±{plan.bound:g}: the true optimum may lie "
                    "beyond it (the model may be unbounded)")
        if out.status == "OPTIMAL_SOLUTION" and optimizing and plan.float_step:
            result.status = Status.FEASIBLE
            return (f"Gecode's float search found no solution better by more than {plan.float_step:g} "
                    "(its optimization step)")
        if out.status == "OPTIMAL_SOLUTION" and optimizing:
            result.status = Status.OPTIMAL
            return ""
        result.status = Status.FEASIBLE
        if out.status in ("OPTIMAL_SOLUTION", "ALL_SOLUTIONS", "SATISFIED"):
            return ""
        return ("time limit reached: best solution found, not proven optimal" if optimizing
                else "time limit reached after a solution was found")
    if out.errors or out.status == "ERROR":
        return _error_message(out, rendered)
    if out.status == "UNSATISFIABLE":
        result.status = Status.INFEASIBLE
        return "infeasible under the artificial bounds" if plan.bound is not None else ""
    if out.status == "UNBOUNDED":
        result.status = Status.UNBOUNDED
        return ""
    if out.status == "UNSAT_OR_UNBOUNDED":  # a feasibility run tells which
        check = _run(renderer.render(objective=False).text, plan, time_limit)
        log += check.log
        if check.solution is not None:
            result.status = Status.UNBOUNDED
            return "the solver said infeasible or unbounded; a feasibility run found a solution"
        if check.status == "UNSATISFIABLE":
            result.status = Status.INFEASIBLE
            return ""
        result.status = Status.TIMEOUT
        return "the solver said infeasible or unbounded and a feasibility run did not decide"
    if out.killed or (out.status in (None, "UNKNOWN") and out.rc == 0):
        result.status = Status.TIMEOUT
        return f"no solution within {time_limit:g} s" + (" (killed at the hard limit)" if out.killed else "")
    return _error_message(out, rendered)


def _explain(model: CompiledModel, renderer: _Renderer, plan: _Plan, time_limit: float,
             result: SolveResult) -> str:
    """QuickXplain over IR constraint names; each check re-renders the subset and runs MiniZinc."""
    names = [c.name for c in model.constraints]
    # Each check gets what is left of the budget (at most time_limit); the last may overrun it by
    # its start-up, which for the WebAssembly MiniZinc is about a second per check.
    budget = max(2.0 * time_limit, 20.0 if plan.runner == "wasm" else 10.0)
    deadline = time.monotonic() + budget
    cache: dict[frozenset, bool] = {frozenset(): True, frozenset(names): False}
    best = list(names)  # the smallest set seen to be inconsistent
    runs = 0
    # Checks are feasibility runs: for an integral model Debian's Gecode usually decides them in a
    # tenth of a second, against a second to start the WebAssembly MiniZinc; it gets the first try.
    checks = [(plan, time_limit)]
    if plan.runner == "wasm" and all(v.integral for v in model.variables.values()):
        checks.insert(0, (_Plan("native", "gecode"), min(time_limit, QUICK_CHECK_SECONDS)))

    def consistent(subset: list[str]) -> bool:
        nonlocal best, runs
        key = frozenset(subset)
        if key in cache:
            return cache[key]
        text = renderer.render(constraints=set(subset), objective=False).text
        for check, cap in checks:
            left = deadline - time.monotonic()
            if left < 0.5:
                raise ExplainAborted(f"explanation budget of {budget:g} s spent")
            out = _run(text, check, min(left, cap))
            runs += 1
            if out.solution is not None and not out.errors:
                cache[key] = True
                return True
            if out.status == "UNSATISFIABLE":
                cache[key] = False
                if len(subset) < len(best):
                    best = [n for n in names if n in key]
                return False
        raise ExplainAborted(f"a consistency check did not decide ({out.status or 'no status'})")

    try:
        core = quickxplain(names, consistent)
        minimal = True
        note = f"minimal conflict found by QuickXplain in {runs} MiniZinc runs"
    except ExplainAborted as e:
        core, minimal = best, False
        note = f"conflict not minimized ({e}); {len(core)} of {len(names)} constraints"
    if not core:
        return "no conflicting subset of the constraints was found"
    result.conflict, result.conflict_detail = conflict_items(model, core)
    result.conflict_method = "quickxplain"
    result.conflict_minimal = minimal
    return note


__all__ = ["NAME", "render", "solve", "unsupported", "ensure_wasm", "wasm_available", "WasmUnavailable",
           "WASM_INSTALL"]
