"""AST back to the IR's expression text, fully parenthesised where precedence needs it.

Used to rewrite constraints (slack for relaxations) and to show expressions to people and models.
"""

from __future__ import annotations

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

_PREC = {"<->": 1, "->": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "+": 6, "-": 6, "*": 7, "/": 7, "neg": 8,
         "^": 9}


def _prec(node: Node) -> int:
    if isinstance(node, Implies):
        return _PREC[node.op]
    if isinstance(node, Logic):
        return _PREC[node.op]
    if isinstance(node, Unary):
        return _PREC["not" if node.op == "not" else "neg"]
    if isinstance(node, Compare):
        return _PREC["cmp"]
    if isinstance(node, BinOp):
        return _PREC[node.op]
    return 10


def _wrap(node: Node, parent: int, strict: bool = False) -> str:
    text = to_text(node)
    p = _prec(node)
    return f"({text})" if p < parent or (strict and p == parent) else text


def number_text(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def generator_text(gen: Generator) -> str:
    parts = []
    for b in gen.bindings:
        dom = b.domain
        dom_text = dom.name if isinstance(dom, SetRef) else f"{to_text(dom.low)}..{to_text(dom.high)}"
        parts.append(f"{b.var} in {dom_text}")
    text = ", ".join(parts)
    return text + (f" where {to_text(gen.where)}" if gen.where is not None else "")


def to_text(node: Node) -> str:
    if isinstance(node, Num):
        return number_text(node.value) if node.value >= 0 else f"({number_text(node.value)})"
    if isinstance(node, Str):
        return f'"{node.value}"'
    if isinstance(node, BoolConst):
        return "true" if node.value else "false"
    if isinstance(node, Name):
        if not node.indices:
            return node.id
        return f"{node.id}[{', '.join(to_text(i) for i in node.indices)}]"
    if isinstance(node, Unary):
        if node.op == "not":
            return f"not {_wrap(node.operand, _PREC['not'])}"
        return f"-{_wrap(node.operand, _PREC['neg'])}"
    if isinstance(node, BinOp):
        p = _PREC[node.op]
        right_strict = node.op in ("-", "/", "^")
        return f"{_wrap(node.left, p, node.op == '^')} {node.op} {_wrap(node.right, p, right_strict)}"
    if isinstance(node, Compare):
        return f"{_wrap(node.left, 6)} {node.op} {_wrap(node.right, 6)}"
    if isinstance(node, Logic):
        p = _PREC[node.op]
        return f" {node.op} ".join(_wrap(i, p, True) for i in node.items)
    if isinstance(node, Implies):
        return f"{_wrap(node.left, 2)} {node.op} {_wrap(node.right, 2)}"
    if isinstance(node, Aggregate):
        return f"{node.func}({generator_text(node.gen)})({to_text(node.body)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, RangeSet):
        return f"{to_text(node.low)}..{to_text(node.high)}"
    raise TypeError(f"cannot unparse {type(node).__name__}")
