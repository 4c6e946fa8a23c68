"""The IR's expression language: a lark LALR grammar parsed into a small immutable AST.

Model output is untrusted text, so it is parsed, never evaluated as Python. The grammar has no
attribute access, no calls other than a fixed list, and input size and nesting are capped before
parsing so hostile text fails fast with a positioned error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

MAX_EXPR_CHARS = 20_000
MAX_NESTING = 60
MAX_EXPONENT = 8

GRAMMAR = r"""
?start: expr

?expr: equiv
?equiv: implication (EQUIV implication)*
?implication: disj (IMPLIES disj)?
?disj: conj (OR conj)*
?conj: neg (AND neg)*
?neg: NOT neg -> not_
    | comparison
?comparison: arith (CMP arith)*
?arith: term (ADDOP term)*
?term: unary (MULOP unary)*
?unary: "-" unary -> neg_
      | "+" unary
      | power
?power: atom ("^" unary)?
?atom: NUMBER -> number
     | STRING -> string
     | TRUE -> true_
     | FALSE -> false_
     | AGG "(" bindings ")" "(" expr ")" -> aggregate
     | FUNC "(" [expr ("," expr)*] ")" -> call
     | NAME "[" expr ("," expr)* "]" -> indexed
     | NAME -> name
     | "(" expr ")"

bindings: binding ("," binding)* (WHERE expr)?
binding: NAME ("," NAME)* IN setexpr
?setexpr: arith RANGE arith -> range_
        | NAME -> set_name

EQUIV.2: "<->" | /iff\b/
IMPLIES.2: "->" | /implies\b/
OR.2: "\\/" | /or\b/
AND.2: "/\\" | /and\b/
NOT.2: /not\b/
CMP: "<=" | ">=" | "==" | "!=" | "<" | ">" | "="
ADDOP: "+" | "-"
MULOP: "*" | "/"
RANGE: ".."
IN.2: /in\b/
WHERE.2: /where\b/
TRUE.2: /true\b/
FALSE.2: /false\b/
AGG.2: /(sum|forall|exists|alldifferent|min|max)(?=\s*\(\s*[A-Za-z_][A-Za-z0-9_]*\b\s*(,\s*[A-Za-z_][A-Za-z0-9_]*\b\s*)*in\b)/
FUNC.1: /(abs|min|max|alldifferent)(?=\s*\()/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /(\d+(\.(?!\.)\d*)?|\.\d+)([eE][+-]?\d+)?/
STRING: /"[^"\n]{0,200}"/ | /'[^'\n]{0,200}'/

%import common.WS
%ignore WS
"""

RESERVED = {
    "sum", "forall", "exists", "alldifferent", "min", "max", "abs", "in", "where", "and", "or", "not",
    "implies", "iff", "true", "false",
}


class ExprError(ValueError):
    """A parse or semantic error in one expression, with its position (1-based column)."""

    def __init__(self, message: str, *, column: int | None = None, text: str | None = None,
                 where: str | None = None) -> None:
        self.message = message
        self.column = column
        self.text = text
        self.where = where
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.where}: " if self.where else ""
        pos = f" (column {self.column})" if self.column else ""
        out = f"{head}{self.message}{pos}"
        if self.text is not None and self.column and len(self.text) <= 240:
            out += f"\n    {self.text}\n    {' ' * (self.column - 1)}^"
        return out

    def located(self, where: str) -> ExprError:
        """The same error, prefixed with the IR element it belongs to."""
        return ExprError(self.message, column=self.column, text=self.text, where=where)


# ---------------------------------------------------------------- AST

@dataclass(frozen=True)
class Node:
    col: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Num(Node):
    value: float | int


@dataclass(frozen=True)
class Str(Node):
    value: str


@dataclass(frozen=True)
class BoolConst(Node):
    value: bool


@dataclass(frozen=True)
class Name(Node):
    """A reference: loop variable, parameter, variable or set; `indices` empty when not indexed."""

    id: str
    indices: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class BinOp(Node):
    op: str  # + - * / ^
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str  # <= >= < > == !=
    left: Node
    right: Node


@dataclass(frozen=True)
class Logic(Node):
    op: str  # and, or
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Implies(Node):
    op: str  # -> or <->
    left: Node
    right: Node


@dataclass(frozen=True)
class SetRef(Node):
    name: str


@dataclass(frozen=True)
class RangeSet(Node):
    low: Node
    high: Node


@dataclass(frozen=True)
class Binding(Node):
    var: str
    domain: SetRef | RangeSet


@dataclass(frozen=True)
class Generator(Node):
    bindings: tuple[Binding, ...]
    where: Node | None = None


@dataclass(frozen=True)
class Aggregate(Node):
    func: str  # sum forall exists alldifferent min max
    gen: Generator
    body: Node


@dataclass(frozen=True)
class Call(Node):
    func: str  # abs min max alldifferent
    args: tuple[Node, ...]


def _col(tok: Token | Node) -> int:
    if isinstance(tok, Token):
        return tok.column or 0
    return tok.col


class _ToAst(Transformer):
    @v_args(inline=True)
    def number(self, tok: Token) -> Num:
        text = str(tok)
        value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise ExprError(f"number {text} is not finite", column=tok.column)
        if isinstance(value, int) and abs(value) > 10**15:
            value = float(value)
        return Num(value, col=tok.column or 0)

    @v_args(inline=True)
    def string(self, tok: Token) -> Str:
        return Str(str(tok)[1:-1], col=tok.column or 0)

    @v_args(inline=True)
    def true_(self, tok: Token) -> BoolConst:
        return BoolConst(True, col=tok.column or 0)

    @v_args(inline=True)
    def false_(self, tok: Token) -> BoolConst:
        return BoolConst(False, col=tok.column or 0)

    @v_args(inline=True)
    def name(self, tok: Token) -> Name:
        _check_identifier(tok)
        return Name(str(tok), col=tok.column or 0)

    def indexed(self, items: list) -> Name:
        tok = items[0]
        _check_identifier(tok)
        return Name(str(tok), tuple(items[1:]), col=tok.column or 0)

    @v_args(inline=True)
    def neg_(self, operand: Node) -> Node:
        if isinstance(operand, Num):
            return Num(-operand.value, col=operand.col)
        return Unary("-", operand, col=operand.col)

    @v_args(inline=True)
    def not_(self, tok: Token, operand: Node) -> Unary:
        return Unary("not", operand, col=tok.column or 0)

    def power(self, items: list) -> BinOp:
        base, exponent = items
        if not (isinstance(exponent, Num) and float(exponent.value).is_integer()
                and 0 <= exponent.value <= MAX_EXPONENT):
            raise ExprError(f"exponent must be an integer constant from 0 to {MAX_EXPONENT}",
                            column=_col(exponent))
        return BinOp("^", base, Num(int(exponent.value), col=exponent.col), col=_col(base))

    def _fold_binary(self, items: list) -> Node:
        node = items[0]
        for i in range(1, len(items), 2):
            op, right = str(items[i]), items[i + 1]
            node = BinOp(op, node, right, col=_col(node))
        return node

    arith = _fold_binary
    term = _fold_binary

    def comparison(self, items: list) -> Node:
        pairs = []
        for i in range(1, len(items), 2):
            op = str(items[i])
            pairs.append(Compare("==" if op == "=" else op, items[i - 1], items[i + 1],
                                 col=_col(items[i - 1])))
        return pairs[0] if len(pairs) == 1 else Logic("and", tuple(pairs), col=pairs[0].col)

    def conj(self, items: list) -> Node:
        operands = tuple(items[0::2])
        return Logic("and", operands, col=_col(operands[0]))

    def disj(self, items: list) -> Node:
        operands = tuple(items[0::2])
        return Logic("or", operands, col=_col(operands[0]))

    def implication(self, items: list) -> Node:
        return Implies("->", items[0], items[2], col=_col(items[0]))

    def equiv(self, items: list) -> Node:
        node = items[0]
        for i in range(2, len(items), 2):
            node = Implies("<->", node, items[i], col=_col(node))
        return node

    def range_(self, items: list) -> RangeSet:
        return RangeSet(items[0], items[2], col=_col(items[0]))

    @v_args(inline=True)
    def set_name(self, tok: Token) -> SetRef:
        return SetRef(str(tok), col=tok.column or 0)

    def binding(self, items: list) -> list[Binding]:
        domain = items[-1]
        names = [t for t in items[:-2]]
        for tok in names:
            _check_identifier(tok)
        return [Binding(str(t), domain, col=t.column or 0) for t in names]

    def bindings(self, items: list) -> Generator:
        where = None
        if len(items) >= 2 and isinstance(items[-2], Token) and items[-2].type == "WHERE":
            where = items[-1]
            items = items[:-2]
        flat = tuple(b for group in items for b in group)
        seen: set[str] = set()
        for b in flat:
            if b.var in seen:
                raise ExprError(f"loop variable '{b.var}' bound twice", column=b.col)
            seen.add(b.var)
        return Generator(flat, where, col=flat[0].col)

    def aggregate(self, items: list) -> Aggregate:
        tok, gen, body = items
        return Aggregate(str(tok), gen, body, col=tok.column or 0)

    def call(self, items: list) -> Call:
        tok = items[0]
        args = tuple(a for a in items[1:] if a is not None)
        func = str(tok)
        if func == "abs" and len(args) != 1:
            raise ExprError("abs takes exactly one argument", column=tok.column)
        if func in ("min", "max") and len(args) < 2:
            raise ExprError(f"{func} takes two or more arguments, or a generator: "
                            f"{func}(i in S)(e)", column=tok.column)
        if func == "alldifferent" and not args:
            raise ExprError("alldifferent needs an argument", column=tok.column)
        return Call(func, args, col=tok.column or 0)


def _check_identifier(tok: Token) -> None:
    if str(tok) in RESERVED:
        raise ExprError(f"'{tok}' is a reserved word and cannot be used as a name", column=tok.column)
    if str(tok).startswith("__"):
        raise ExprError(f"names may not start with '__': '{tok}'", column=tok.column)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False, propagate_positions=False)


def _precheck(text: str) -> None:
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression is {len(text):,} characters long; the limit is {MAX_EXPR_CHARS:,}")
    if not text.strip():
        raise ExprError("expression is empty")
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
            if depth > MAX_NESTING:
                raise ExprError(f"brackets nested deeper than {MAX_NESTING}", column=i + 1, text=text)
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise ExprError(f"unbalanced '{ch}'", column=i + 1, text=text)
    if depth:
        raise ExprError("unbalanced brackets: a '(' or '[' is never closed", column=len(text), text=text)
    # Long runs of unary operators nest as deeply as brackets do.
    run = 0
    for i, ch in enumerate(text):
        run = run + 1 if ch in "-+" else (run if ch.isspace() else 0)
        if run > MAX_NESTING:
            raise ExprError("too many consecutive signs", column=i + 1, text=text)


def _describe(err: UnexpectedInput, text: str) -> str:
    if isinstance(err, UnexpectedEOF):
        return "unexpected end of expression"
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        hint = ""
        if ch == "*" and text[err.pos_in_stream - 1:err.pos_in_stream + 1] == "**":
            hint = " (use ^ for powers)"
        elif ch == ".":
            hint = " (attribute access is not part of the language)"
        return f"unexpected character {ch!r}{hint}"
    tok = getattr(err, "token", None)
    if tok is not None and tok.type == "$END":
        return "unexpected end of expression"
    if tok is not None and str(tok) == "*":
        return "unexpected '*' (use ^ for powers)"
    return f"unexpected {str(tok)!r}" if tok is not None else "syntax error"


def parse_expr(text: str) -> Node:
    """Parse one expression; raise ExprError with a column on any problem.

    Trees are immutable, so one text parses once per process: a repair loop re-compiles models whose
    expressions are mostly unchanged, and parsing is most of compile_model's time (~0.2 ms each).
    """
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, got {type(text).__name__}")
    return _parse_cached(text)


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> Node:
    _precheck(text)
    try:
        tree = _parser().parse(text)
        return _ToAst().transform(tree)
    except ExprError as e:
        raise ExprError(e.message, column=e.column, text=text) from None
    except UnexpectedInput as e:
        raise ExprError(_describe(e, text), column=getattr(e, "column", None), text=text) from None
    except LarkError as e:  # VisitError wraps our ExprError raised inside the transformer
        inner = getattr(e, "orig_exc", None)
        if isinstance(inner, ExprError):
            raise ExprError(inner.message, column=inner.column, text=text) from None
        raise ExprError(f"cannot parse expression: {e}", text=text) from None
    except RecursionError:
        raise ExprError("expression nests too deeply", text=text) from None


def parse_bindings(text: str) -> Generator:
    """Parse a constraint's `forall` text such as 'i in S, j in T where i != j'."""
    node = parse_expr(f"forall({text})(true)")
    assert isinstance(node, Aggregate)
    return node.gen


def walk(node: Node):
    """Yield every node of a tree (pre-order)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for value in vars(n).values():
            if isinstance(value, Node):
                stack.append(value)
            elif isinstance(value, tuple):
                stack.extend(v for v in value if isinstance(v, Node))
