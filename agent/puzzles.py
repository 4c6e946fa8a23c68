"""Logic-grid puzzles: the grid is built in code, the model translates clues, solvers decide.

Why this split: a 1.5B model on CPU cannot reliably write a whole model, but it can turn one clue
into one short expression when the names it may use are listed for it. So the categories and items
are parsed from the text deterministically, the IR skeleton is generated, and the model answers a
schema-constrained JSON list with one expression per clue. Each expression is parsed by
`formalizers.expr` (never evaluated), checked, solved with CP-SAT, and checked for a unique
solution; errors, conflicts (unsat cores) and ambiguity go back to the model as precise repairs.

Encoding (the "same row" encoding of Logic.py / CP-LLMs-ICL, with number accessors):
- every item of every category is named by an identifier; `A == B` means "A and B are in the same
  row" (the same person, thing...), `A != B` that they are not. In the IR each item x has
  `row[x]` in 1..n, the first category's items fixed to 1..n, alldifferent per category.
- a numeric category (prices, ages, months, dates, times, ordinals...) gets an accessor array:
  `price[x]` is the price in x's row, whatever category x is from, so "the port drinker paid 1
  dollar more than Kurt" is `price[port] == price[Kurt] + 1`. Channeling constraints
  (`row[x] == row[y] -> price[x] == value(y)`) are generated here.
Why this over "one position variable per item of the other categories": pairing clues, the most
common kind, become the plainest possible text (`Isabel == port`) whatever the categories, and
every numeric clue reads like its sentence even when the number lives in a third category
("the 96 year old tree is taller than Zeke's Spruce": `height[age_96] > height[Zekes_Spruce]`),
which a position encoding can only say with element constraints our IR does not have. Bare item
names are rewritten to `row["x"]` and `price[x]` to `price["x"]` on the parsed AST, and common
slips of a small model are repaired deterministically (`Isabel == 25` when 25 is a price, names
in the wrong case, a plural accessor).

What the model is given per clue (`hints`): these puzzles phrase clues in a handful of patterns
("either A or B", "of A and B, one ... the other ...", "N more than"), so code derives each clue's
form (`clue_form`: the logical shape, the sign and size of a difference, the compared category)
and finds the items it names (`clue_mentions`). With hints="draft" (default, most accurate) the
model sees the form filled with those items and writes the final expression, fixing the draft or
choosing between alternatives where the compared category is unclear; a broken copy of a draft
(a dropped bracket) falls back to the draft. With hints="form" it sees only the form and must
name the items itself (the harder, model-only variant, kept for comparison).
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from agent.formalize import prompt_text
from agent.llm import LLM, LLMError
from agent.llm.base import DEFAULT_LLM_TIMEOUT
from agent.trace import Trace
from formalizers.expr import (
    Aggregate,
    BinOp,
    BoolConst,
    Call,
    Compare,
    ExprError,
    Implies,
    Logic,
    Name,
    Node,
    Num,
    Str,
    Unary,
    parse_expr,
)
from formalizers.ir import IRError, ModelIR, parse_ir
from formalizers.unparse import to_text
from solvers.result import SolveResult, Status

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth"]
RESERVED = {"sum", "forall", "exists", "alldifferent", "min", "max", "abs", "in", "where", "and", "or", "not",
            "implies", "iff", "true", "false", "row"}
ROW = "row"


class PuzzleFormatError(ValueError):
    """The text lacks a usable "Categories and items:" block or clues."""


class ClueError(ValueError):
    """One clue's expression cannot be used; the message is written for the model."""


# ----------------------------------------------------------------------------- parsing the puzzle


@dataclass
class Category:
    """One category: its items as written, their identifiers, and numbers when it is numeric."""

    name: str
    items: list[str]
    ids: list[str] = field(default_factory=list)
    values: list[int] | None = None  # the number of each item, for numeric categories
    accessor: str | None = None  # `price` in price[x], for numeric categories
    unit: str = ""  # what the numbers mean, when not the item text itself ("minutes after midnight")


@dataclass
class Puzzle:
    """A parsed puzzle: categories in the order given (the first one names the rows) and clues."""

    categories: list[Category]
    clues: list[str]

    @property
    def size(self) -> int:
        return len(self.categories[0].items)

    @property
    def numeric(self) -> list[Category]:
        return [c for c in self.categories if c.accessor]

    def item_ids(self) -> list[str]:
        return [i for c in self.categories for i in c.ids]

    def category_of(self, item_id: str) -> Category:
        for c in self.categories:
            if item_id in c.ids:
                return c
        raise KeyError(item_id)

    def raw(self, item_id: str) -> str:
        c = self.category_of(item_id)
        return c.items[c.ids.index(item_id)]


_SPLIT_ITEMS = re.compile(r",\s+")


def parse_puzzle(text: str) -> Puzzle:
    """Read the "Categories and items:" block and the clues; no model involved.

    The block is a line of category names, a blank line, then one line of items per category;
    items are separated by ", " (a comma inside a number such as "$2,000" has no space after it).
    """
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n")]
    start = next((i for i, ln in enumerate(lines) if ln.lower().rstrip(":") == "categories and items"), None)
    if start is None:
        raise PuzzleFormatError("no 'Categories and items:' line")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lower().rstrip(":") == "clues"), None)
    if end is None:
        raise PuzzleFormatError("no 'Clues:' line")
    block = [ln for ln in lines[start + 1:end] if ln]
    if len(block) < 2:
        raise PuzzleFormatError("the categories block needs a line of category names and item lines")
    names = [n.strip() for n in _SPLIT_ITEMS.split(block[0]) if n.strip()]
    item_lines = block[1:]
    if len(item_lines) != len(names):
        raise PuzzleFormatError(f"{len(names)} categories ({', '.join(names)}) but {len(item_lines)} item lines")
    cats = []
    for name, line in zip(names, item_lines, strict=True):
        items = [x.strip() for x in _SPLIT_ITEMS.split(line) if x.strip()]
        cats.append(Category(name=name, items=items))
    sizes = {len(c.items) for c in cats}
    if len(sizes) != 1:
        raise PuzzleFormatError("categories have different numbers of items: "
                                + ", ".join(f"{c.name} {len(c.items)}" for c in cats))
    if min(sizes) < 2:
        raise PuzzleFormatError("each category needs at least two items")
    for c in cats:
        if len({_fold(x) for x in c.items}) != len(c.items):
            raise PuzzleFormatError(f"category '{c.name}' repeats an item")
    clues = []
    for ln in lines[end + 1:]:
        ln = re.sub(r"^(\d+[.)]|[-*•])\s*", "", ln).strip()
        if ln:
            clues.append(ln)
    if not clues:
        raise PuzzleFormatError("no clues after 'Clues:'")
    _name_items(cats)
    return Puzzle(cats, clues)


def _fold(s: str) -> str:
    return " ".join(s.split()).casefold()


def _singular(word: str) -> str:
    w = word
    if len(w) > 4 and w.lower().endswith("ies"):
        return w[:-3] + "y"
    if w.lower().endswith("sses"):
        return w[:-2]
    if w.lower().endswith("s") and not w.lower().endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def _identifier(text: str) -> str:
    s = text.replace("'", "").replace("’", "").replace("$", "").replace("%", "")
    s = re.sub(r"(?<=\d),(?=\d{3})", "", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")
    return s or "item"


def numeric_values(items: list[str]) -> tuple[list[int], str] | None:
    """The number each item stands for, when the category is ordered; None for plain names.

    Months and ordinal words count 1, 2, ...; times are hours, or minutes after midnight when some
    are not on the hour; dates in one month are the day, across months the day of the year;
    otherwise each item must hold one integer and the same words around it ("$", "feet", "rd").
    """
    folded = [_fold(x) for x in items]
    if all(x in MONTHS for x in folded):
        return [MONTHS.index(x) + 1 for x in folded], "month number (January = 1)"
    if all(x in ORDINALS for x in folded):
        return [ORDINALS.index(x) + 1 for x in folded], "position (first = 1)"
    times = [re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?", x) for x in folded]
    if all(times):
        minutes = []
        for m in times:
            assert m is not None
            h = int(m.group(1)) % 12 + (12 if m.group(3) == "p" else 0)
            minutes.append(h * 60 + int(m.group(2) or 0))
        if all(v % 60 == 0 for v in minutes):
            return [v // 60 for v in minutes], "hour of the day (1pm = 13)"
        return minutes, "minutes after midnight (7:30am = 450)"
    dates = [re.fullmatch(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?", x) for x in folded]
    if all(d and d.group(1) in MONTHS for d in dates):
        pairs = [(MONTHS.index(d.group(1)), int(d.group(2))) for d in dates if d]
        if len({m for m, _ in pairs}) == 1:
            return [day for _, day in pairs], "day of the month"
        starts = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
        return [starts[m] + day for m, day in pairs], "day of the year (January 1 = 1)"
    values, rests = [], set()
    for x in folded:
        x = re.sub(r"(?<=\d),(?=\d{3})", "", x)
        nums = re.findall(r"\d+(?:\.\d+)?", x)
        if len(nums) != 1 or "." in nums[0]:
            return None
        rest = re.sub(r"\d+(?:st|nd|rd|th)?\b", "#", x, count=1)
        rests.add(rest.replace("-", " ").strip())
        values.append(int(nums[0]))
    if len(rests) != 1 or len(set(values)) != len(values):
        return None
    if not re.fullmatch(r"\$?#[a-z .%]*", rests.pop()):  # a unit may follow the number, not precede it
        return None
    return values, ""


def _name_items(cats: list[Category]) -> None:
    """Give every item and numeric category a unique identifier the model can write."""
    used: set[str] = set()
    for c in cats:
        nv = numeric_values(c.items)
        if nv is not None:
            c.values, c.unit = nv
            words = re.findall(r"[A-Za-z0-9]+", c.name) or ["value"]
            acc = "_".join([*words[:-1], _singular(words[-1])]).lower()
            if acc[0].isdigit():
                acc = "v_" + acc
            c.accessor = acc
    accessors = {c.accessor for c in cats if c.accessor}
    used |= {a.casefold() for a in accessors} | {ROW}
    for c in cats:
        ids = []
        for item in c.items:
            base = _identifier(item)
            if base[0].isdigit():
                short = re.match(r"\d+(?:st|nd|rd|th)?(?=_|$)", base)
                if short and c.unit == "":
                    base = short.group(0)
                base = f"{c.accessor or _identifier(_singular(c.name))}_{base}"
            ident = base
            if ident in RESERVED or ident.casefold() in used:
                ident = f"{base}_{_identifier(_singular(c.name))}"
            n = 2
            while ident.casefold() in used:
                ident, n = f"{base}_{n}", n + 1
            used.add(ident.casefold())
            ids.append(ident)
        c.ids = ids


# ----------------------------------------------------------------------------- the IR


def skeleton_ir(puzzle: Puzzle) -> ModelIR:
    """The puzzle's IR without clues: rows, one item of each category per row, number accessors."""
    ids = puzzle.item_ids()
    n = puzzle.size
    sets: list[dict[str, Any]] = [{"name": "Items", "elements": ids,
                                   "description": "every item of every category"}]
    variables: list[dict[str, Any]] = [{"name": ROW, "index": ["Items"], "domain": "integer", "lower": 1,
                                        "upper": n, "description": "the grid row of each item; rows are "
                                        f"numbered by the {puzzle.categories[0].name} items"}]
    first = puzzle.categories[0]
    constraints: list[dict[str, Any]] = [{
        "name": "rows_by_first_category", "label": f"row k is the k-th of the {first.name}",
        "source": f"{first.name}: {', '.join(first.items)}",
        "expr": " and ".join(f'{ROW}["{x}"] == {k}' for k, x in enumerate(first.ids, 1))}]
    for ci, c in enumerate(puzzle.categories[1:], 2):
        constraints.append({"name": f"one_row_each_{ci}", "label": f"each of the {c.name} in its own row",
                            "source": "Each item of each category is used exactly once.",
                            "expr": "alldifferent(" + ", ".join(f'{ROW}["{x}"]' for x in c.ids) + ")"})
    for c in puzzle.numeric:
        assert c.values is not None and c.accessor is not None
        sets.append({"name": f"{c.accessor}_values", "elements": sorted(c.values),
                     "description": f"the {c.name} as numbers" + (f" ({c.unit})" if c.unit else "")})
        variables.append({"name": c.accessor, "index": ["Items"], "domain": "labels",
                          "labels": f"{c.accessor}_values",
                          "description": f"the {c.name} number of the row of each item"})
        for x, v in zip(c.ids, c.values, strict=True):
            constraints.append({"name": f"{c.accessor}_of_{x}", "forall": "i in Items",
                                "label": f"the row of {x} has {c.accessor} {v}",
                                "source": f"{c.name}: {c.items[c.ids.index(x)]}",
                                "expr": f'{ROW}[i] == {ROW}["{x}"] -> {c.accessor}[i] == {v}'})
    return parse_ir({"name": "logic_grid_puzzle", "description": "; ".join(
        f"{c.name}: {', '.join(c.items)}" for c in puzzle.categories), "sets": sets,
        "variables": variables, "constraints": constraints, "objective": None})


def clue_name(k: int) -> str:
    return f"clue_{k}"


def puzzle_ir(puzzle: Puzzle, exprs: list[str | None]) -> ModelIR:
    """Skeleton plus one constraint per translated clue (None: left out). Raises ClueError."""
    data = json.loads(skeleton_ir(puzzle).model_dump_json())
    for k, (clue, expr) in enumerate(zip(puzzle.clues, exprs, strict=True), 1):
        if expr is None:
            continue
        data["constraints"].append({"name": clue_name(k), "label": f"clue {k}", "source": clue,
                                    "expr": translate_clue(expr, puzzle)})
    return parse_ir(data)


# ----------------------------------------------------------------------------- clue expressions


class _Resolver:
    """Maps the names a model writes to item identifiers and accessors, forgiving case and plurals."""

    def __init__(self, puzzle: Puzzle) -> None:
        self.p = puzzle
        self.items: dict[str, str] = {}
        for c in puzzle.categories:
            for ident, raw in zip(c.ids, c.items, strict=True):
                for key in (ident, raw, _identifier(raw)):
                    self.items.setdefault(self._key(key), ident)
        self.accessors: dict[str, Category] = {}
        for c in puzzle.numeric:
            assert c.accessor is not None
            for key in (c.accessor, c.name, _identifier(c.name), c.accessor + "s", _singular(c.accessor)):
                self.accessors.setdefault(self._key(key), c)

    @staticmethod
    def _key(s: str) -> str:
        return re.sub(r"[^a-z0-9]", "", s.casefold())

    def item(self, name: str) -> str | None:
        return self.items.get(self._key(name))

    def accessor(self, name: str) -> Category | None:
        return self.accessors.get(self._key(name))

    def category_named(self, name: str) -> Category | None:
        k = self._key(name)
        for c in self.p.categories:
            if k in (self._key(c.name), self._key(_singular(c.name))):
                return c
        return None

    def suggest(self, name: str) -> str:
        pool = self.p.item_ids() + [c.accessor for c in self.p.numeric if c.accessor]
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
        return f" (did you mean {' or '.join(close)}?)" if close else ""


def _item_of(node: Node, r: _Resolver) -> str | None:
    """The item a bare name or string stands for."""
    if isinstance(node, Name) and not node.indices:
        return r.item(node.id)
    if isinstance(node, Str):
        return r.item(node.value)
    return None


def translate_clue(text: str, puzzle: Puzzle) -> str:
    """The model's clue expression -> an IR expression over `row` and the accessors (ClueError)."""
    if not isinstance(text, str) or not text.strip():
        raise ClueError("the expression is empty")
    text = re.sub(r"\$(?=\d)", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    tr = _Translator(puzzle)
    safe = tr.alias(text)
    ids = puzzle.item_ids()
    try:
        try:
            node = parse_expr(safe)
        except ExprError as e:
            where = f" at column {e.column}" if e.column and safe == text else ""
            opened, closed = text.count("("), text.count(")")
            count = f" ({opened} '(' but {closed} ')')" if opened != closed else ""
            raise ClueError(f"cannot be parsed: {e.message}{where}{count}") from None
        out = tr.boolean(node)
    except ClueError as e:  # name the items as the model wrote them, not by their aliases
        raise ClueError(re.sub(r"\bI(\d+)_(?!\w)", lambda m: ids[int(m.group(1))], str(e))) from None
    if not tr.mentions:
        raise ClueError("it mentions no item of the puzzle, so it says nothing")
    return to_text(out)


class _Translator:
    def __init__(self, puzzle: Puzzle) -> None:
        self.p = puzzle
        self.r = _Resolver(puzzle)
        self.mentions = 0

    def alias(self, text: str) -> str:
        """Replace item names by neutral aliases before parsing, restored by the resolver.

        Why: the grammar tells `alldifferent(i in S)` from `alldifferent(a, b)` by looking ahead for
        `NAME in`, which also matches the end of an item such as "Merlin" or "Robin".
        """
        def swap(m: re.Match[str]) -> str:
            word = m.group(0)
            follows = text[m.end():].lstrip()[:1]
            if word in RESERVED or follows in ("[", "(") or self.r.accessor(word) and follows == "[":
                return word
            item = self.r.item(word)
            if item is None:
                return word
            alias = f"I{self.p.item_ids().index(item)}_"
            self.r.items[self.r._key(alias)] = item
            return alias

        parts = re.split(r"(\"[^\"]*\"|'[^']*')", text)
        return "".join(p if i % 2 else re.sub(r"[A-Za-z_][A-Za-z0-9_]*", swap, p) for i, p in enumerate(parts))

    # -- truth values
    def boolean(self, node: Node) -> Node:
        if isinstance(node, Logic):
            return Logic(node.op, tuple(self.boolean(i) for i in node.items))
        if isinstance(node, Unary) and node.op == "not":
            return Unary("not", self.boolean(node.operand))
        if isinstance(node, Implies):
            return Implies(node.op, self.boolean(node.left), self.boolean(node.right))
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Call) and node.func == "alldifferent":
            if len(node.args) < 2:
                raise ClueError("alldifferent needs two or more items: alldifferent(A, B, C)")
            return Call("alldifferent", tuple(self.group(a) for a in node.args))
        if isinstance(node, BoolConst):
            raise ClueError(f"'{str(node.value).lower()}' is not a translation of the clue")
        if isinstance(node, Aggregate):
            raise _aggregate_error(node)
        raise ClueError(f"'{_short(node)}' is not a condition; compare items with == or !=, or numbers "
                        "with < > ==")

    def group(self, node: Node) -> Node:
        """A bare item as its row."""
        item = _item_of(node, self.r)
        if item is None:
            raise ClueError(self._unknown(node, "an item"))
        self.mentions += 1
        return Name(ROW, (Str(item),))

    def compare(self, node: Compare) -> Compare:
        li, ri = _item_of(node.left, self.r), _item_of(node.right, self.r)
        if li and ri and node.op in ("==", "!="):
            self.mentions += 2
            return Compare(node.op, Name(ROW, (Str(li),)), Name(ROW, (Str(ri),)))
        cat = self._category_for(node)
        return Compare(node.op, self.number(node.left, cat), self.number(node.right, cat))

    # -- numbers
    def _category_for(self, node: Compare) -> Category | None:
        """Which numeric category bare items in a numeric comparison refer to."""
        named = {id(c): c for c in self._accessors_in(node)}
        if len(named) == 1:
            return next(iter(named.values()))
        numeric = self.p.numeric
        literals = [n.value for n in _walk(node) if isinstance(n, Num)]
        owners = [c for c in numeric if literals and all(v in (c.values or []) for v in literals)]
        if len(owners) == 1 and not named:
            return owners[0]
        if len(numeric) == 1 and not named:
            return numeric[0]
        return None

    def _accessors_in(self, node: Node) -> list[Category]:
        out = []
        for n in _walk(node):
            if isinstance(n, Name) and n.indices:
                c = self.r.accessor(n.id)
                if c is not None:
                    out.append(c)
        return out

    def number(self, node: Node, cat: Category | None) -> Node:
        if isinstance(node, Num):
            return node
        if isinstance(node, Aggregate):
            raise _aggregate_error(node)
        if isinstance(node, Unary) and node.op == "-":
            return Unary("-", self.number(node.operand, cat))
        if isinstance(node, BinOp):
            if node.op not in ("+", "-", "*"):
                raise ClueError(f"use + and - for differences, not '{node.op}'")
            return BinOp(node.op, self.number(node.left, cat), self.number(node.right, cat))
        if isinstance(node, Call) and node.func in ("abs", "min", "max"):
            return Call(node.func, tuple(self.number(a, cat) for a in node.args))
        if isinstance(node, Name) and node.indices:
            acc = self.r.accessor(node.id)
            if acc is None:
                plain = self.r.category_named(node.id)
                if plain is not None:
                    raise ClueError(f"'{plain.name}' are names, not numbers: compare them with == or != "
                                    f"(e.g. X == {plain.ids[0]})")
                raise ClueError(f"'{node.id}[...]' is unknown{self.r.suggest(node.id)}; numbers are "
                                + self._accessor_list())
            if len(node.indices) != 1:
                raise ClueError(f"{acc.accessor}[...] takes one item, e.g. {acc.accessor}[{self.p.item_ids()[0]}]")
            item = _item_of(node.indices[0], self.r)
            if item is None:
                raise ClueError(self._unknown(node.indices[0], f"an item inside {acc.accessor}[...]"))
            self.mentions += 1
            return Name(str(acc.accessor), (Str(item),))
        item = _item_of(node, self.r)
        if item is not None:
            if cat is None:
                raise ClueError(f"'{_short(node)}' is an item, not a number: write "
                                + self._accessor_list(item) + " for its number")
            self.mentions += 1
            return Name(str(cat.accessor), (Str(item),))
        if isinstance(node, Name) and self.r.accessor(node.id) is not None:
            acc = self.r.accessor(node.id)
            raise ClueError(f"'{node.id}' needs an item: {acc.accessor}[X]")  # type: ignore[union-attr]
        if isinstance(node, Name | Str):
            raise ClueError(self._unknown(node, "an item or a number"))
        raise ClueError(f"'{_short(node)}' is not a number")

    def _accessor_list(self, item: str | None = None) -> str:
        x = item or "X"
        accs = [f"{c.accessor}[{x}]" for c in self.p.numeric]
        if not accs:
            return "(this puzzle has no numeric category: use == and != only)"
        return " or ".join(accs)

    def _unknown(self, node: Node, what: str) -> str:
        name = node.id if isinstance(node, Name) else node.value if isinstance(node, Str) else _short(node)
        if isinstance(node, Name) and self.r.accessor(node.id) is not None and not node.indices:
            return f"'{name}' is a number category; write {name}[X] for the {name} of item X"
        return (f"'{name}' is not a name of this puzzle{self.r.suggest(str(name))}; use only the names listed "
                f"(here {what} was expected)")


def _aggregate_error(node: Aggregate) -> ClueError:
    return ClueError(f"{node.func}(...) over sets is not needed: write each item out, "
                     "e.g. alldifferent(A, B, C) or (X == A or X == B)")


def _walk(node: Node):
    from formalizers.expr import walk

    return walk(node)


def _short(node: Node) -> str:
    try:
        return to_text(node)[:80]
    except TypeError:
        return type(node).__name__


# ----------------------------------------------------------------------------- the grid


def grid_from_rows(puzzle: Puzzle, rows: dict[str, int]) -> list[list[str]]:
    """Row numbers of the items -> one row per first-category item, items as written in the puzzle."""
    grid = []
    for k, first in enumerate(puzzle.categories[0].items, 1):
        line = [first]
        for c in puzzle.categories[1:]:
            hit = [raw for ident, raw in zip(c.ids, c.items, strict=True) if rows.get(ident) == k]
            line.append(hit[0] if hit else "")
        grid.append(line)
    return grid


def _label_key(s: str) -> str:
    s = _fold(s).replace("$", "").replace(":00", "")
    return re.sub(r"(?<=\d),(?=\d{3})", "", s)


def match_labels(items: list[str], labels: list[str]) -> dict[str, str]:
    """Pair a category's items as written ("$2,000", "7:00am") with answer labels ("2000", "7am").

    Exact matches after folding case, "$", thousands commas and ":00" first; the rest by the best
    one-to-one string similarity, favouring equal numbers. Why: benchmark labels are reformatted
    upstream, and scoring compares labels verbatim.
    """
    out: dict[str, str] = {}
    left = list(items)
    free = list(labels)
    for it in list(left):
        hits = [lb for lb in free if _label_key(lb) == _label_key(it)]
        if len(hits) == 1:
            out[it] = hits[0]
            left.remove(it)
            free.remove(hits[0])

    def score(a: str, b: str) -> float:
        na, nb = re.findall(r"\d+", _label_key(a)), re.findall(r"\d+", _label_key(b))
        bonus = 1.0 if na and na == nb else 0.0
        return bonus + difflib.SequenceMatcher(None, _label_key(a), _label_key(b)).ratio()

    if left and len(left) == len(free):
        if len(left) <= 7:
            best = max(itertools.permutations(free),
                       key=lambda perm: sum(score(a, b) for a, b in zip(left, perm, strict=True)))
            out.update(zip(left, best, strict=True))
        else:
            for it in left:
                b = max(free, key=lambda lb, it=it: score(it, lb))
                out[it] = b
                free.remove(b)
    for it in items:
        out.setdefault(it, it)
    return out


def relabel(grid: list[list[str]], puzzle: Puzzle, labels: list[list[str]]) -> list[list[str]]:
    """The grid in the answer's label vocabulary (one list of labels per category)."""
    maps = [match_labels(c.items, list(lab)) for c, lab in zip(puzzle.categories, labels, strict=True)]
    return [[maps[j].get(cell, cell) for j, cell in enumerate(row)] for row in grid]


# ----------------------------------------------------------------------------- clue forms

_MORE = {"more", "higher", "after", "older", "taller", "farther", "further", "wider", "larger", "bigger",
         "later", "longer", "heavier", "behind", "greater", "above"}
_LESS = {"less", "fewer", "lower", "before", "younger", "shorter", "smaller", "earlier", "ahead", "lighter",
         "cheaper", "below", "narrower"}
_WORD_NUMBERS = {"an hour": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10}
_NUMBER = r"\b(\d[\d,]*(?:\.\d+)?|a half-hour|half an hour|an hour|one|two|three|four|five|six|seven|eight|nine|ten)"
_TIMELY = {"before", "after", "earlier", "later", "ahead", "behind"}
_COMPARATIVE = "|".join(sorted(_MORE | _LESS, key=len, reverse=True))


def _unit_words(c: Category) -> set[str]:
    """Words that name a numeric category in a clue: its units ("feet", "dollars") and its name."""
    words = {w.casefold() for w in re.findall(r"[A-Za-z]+", c.name)}
    if not c.unit or c.unit.startswith("minutes") or c.unit.startswith("hour"):
        words |= {w.casefold() for x in c.items for w in re.findall(r"[A-Za-z]+", x)}
    words |= {_singular(w) for w in words}
    if any("$" in x for x in c.items):
        words |= {"dollar", "dollars"}
    unit = c.unit.split(" ")[0] if c.unit else ""
    words |= {"month": {"month", "months"}, "minutes": {"minute", "minutes", "hour", "hours", "half"},
              "hour": {"hour", "hours", "minute", "minutes"}, "day": {"day", "days", "week", "weeks"},
              "position": {"place", "places", "position"}}.get(unit, set())
    return words - {"am", "pm", "th", "st", "nd", "rd"}


def _timely(c: Category) -> bool:
    name = c.name.casefold()
    return bool(c.unit and not c.unit.startswith("position")) or any(
        w in name for w in ("year", "date", "month", "day", "time", "order", "rank", "vintage"))


_COMPARATIVE_NAMES = {"taller": "height", "shorter": "height", "older": "age", "younger": "age",
                      "farther": "distance", "further": "distance", "wider": "diameter", "narrower": "diameter",
                      "heavier": "weight", "lighter": "weight", "cheaper": "price"}


def _guess_category(puzzle: Puzzle, window: str, comparative: str) -> Category | None:
    """Which numeric category a comparison is about; None when the wording does not tell.

    Only the words around the comparison count (the unit in "3 feet shorter"), then what the
    comparative itself implies (taller: a height; before: a date); the rest of the clue names items,
    not the compared quantity ("drove less than the car with a speed of 81 MPH" compares distances).
    """
    numeric = puzzle.numeric
    if len(numeric) == 1:
        return numeric[0]
    words = set(re.findall(r"[a-z]+", window.casefold()))
    hits = [c for c in numeric if _unit_words(c) & words]
    if len(hits) == 1:
        return hits[0]
    key = _COMPARATIVE_NAMES.get(comparative)
    if key:
        named = [c for c in numeric if key in c.name.casefold() or key in (c.accessor or "")]
        if len(named) == 1:
            return named[0]
    if comparative in _TIMELY:
        timely = [c for c in numeric if _timely(c)]
        if len(timely) == 1:
            return timely[0]
    return None


def _scaled(n: int, unit_text: str, cat: Category | None) -> int:
    """'2 weeks' on a day scale is 14; '1 hour' on a minute scale is 60."""
    u = unit_text.casefold()
    if cat is not None and cat.unit.startswith("day") and "week" in u:
        return n * 7
    if cat is not None and cat.unit.startswith("minutes") and "hour" in u and "half" not in u:
        return n * 60
    return n


def _difference_spans(low: str) -> list[tuple[int, int]]:
    """Where a clue states a difference ("20 dollars more"): those numbers are not items."""
    pat = _NUMBER + r"\s+((?:(?!somewhat\b|sometime\b)[A-Za-z%$'-]+\s+){0,2}?)(" + _COMPARATIVE + r")\b"
    return [m.span() for m in re.finditer(pat, low)]


def _item_patterns(c: Category, raw: str, value: int | None) -> list[str]:
    """Regexes that find an item in a clue: its text, and for numbers the number with a unit nearby."""
    text = re.escape(_fold(raw)).replace(r"\ ", r"\s+")
    pats = [r"(?<![\w$])" + text + r"(?![\w])" if raw[:1].isalnum() else text + r"(?![\w])"]
    if value is not None and re.search(r"\d", raw):
        number = re.sub(r"(?<=\d),(?=\d{3})", "", re.findall(r"\d[\d,]*", raw)[0])
        with_commas = f"{int(number):,}"
        for n in {number, with_commas}:
            pats.append(r"(?<![\w,.])\$?" + re.escape(n) + r"(?![\d,]\d|\w)")
    return pats


def clue_mentions(clue: str, puzzle: Puzzle) -> list[str]:
    """The items a clue names, in order of appearance (longest text first, each span used once).

    A bare number counts only when one numeric category has it, or the words after it name the
    category ("5 silver medals"); numbers that state a difference ("2 dollars more") are skipped.
    """
    low = " ".join(clue.split()).casefold()
    taken = [False] * len(low)
    for a, b in _difference_spans(low):
        for i in range(a, b):
            taken[i] = True
    found: list[tuple[int, str]] = []
    candidates = []
    for c in puzzle.categories:
        for k, (ident, raw) in enumerate(zip(c.ids, c.items, strict=True)):
            value = c.values[k] if c.values is not None else None
            for rank, pat in enumerate(_item_patterns(c, raw, value)):
                for m in re.finditer(pat, low):
                    candidates.append((rank, -(m.end() - m.start()), m.start(), m.end(), ident, c))
    candidates.sort(key=lambda t: (t[0], t[1], t[2]))
    for rank, _neg, a, b, ident, c in candidates:
        if any(taken[a:b]):
            continue
        if rank > 0:  # a bare number: whose is it?
            owners = [d for d in puzzle.numeric if any(re.search(p, low[a:b]) for k, (i2, r2) in
                                                       enumerate(zip(d.ids, d.items, strict=True))
                                                       for p in _item_patterns(d, r2, (d.values or [0] * 9)[k])[1:])]
            if len(owners) > 1:
                after = set(re.findall(r"[a-z]+", low[b:b + 24]))
                owners = [d for d in owners if _unit_words(d) & after]
            if owners != [c]:
                continue
        for i in range(a, b):
            taken[i] = True
        found.append((a, ident))
    return [ident for _, ident in sorted(found)]


def clue_form(clue: str, puzzle: Puzzle) -> str:
    """The shape of a clue's expression, from its wording (the model fills in the item names).

    Why: a 1.5B model maps "the waterfall in Nigeria" to `Nigeria` well, but mixes up the logical
    shapes ("either ... or" vs "of ... one ... the other") and the sign of "3 less than"; the
    wording of these puzzles decides both, so code does that part. Placeholders A, B, C, D, X; when
    the wording does not tell which numeric category is compared, one form per category, joined
    by " | ", and the model picks.
    """
    text = " ".join(clue.split())
    low = text.casefold()
    if re.match(r"of\b.*\bone\b.*\bthe other\b", low):
        return "A != B and ((A == C and B == D) or (A == D and B == C))"
    if re.search(r"\beither\b.*\bor\b", low):
        return "(X == A or X == B) and A != B"
    if re.search(r"\bneither\b.*\bnor\b", low):
        return "A != X and B != X"
    m = re.match(r"the (two|three|four|five|six|seven|eight) \w+(?: \w+)? (?:are|were)\b", low)
    listed = re.match(r"(.*?) (?:are|were) all different", low)
    if m or listed:
        n = _WORD_NUMBERS.get(m.group(1), 0) if m else 0
        if not n and listed:
            n = len([p for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", listed.group(1)) if p.strip()])
        n = max(2, min(n or puzzle.size, 8))
        return "alldifferent(" + ", ".join("ABCDEFGH"[:n]) + ")"
    m = re.search(_NUMBER + r"\s+((?:(?!somewhat\b|sometime\b)[A-Za-z%$'-]+\s+){0,2}?)(" + _COMPARATIVE
                  + r")\b((?:\s+[A-Za-z]+){0,2})", low)
    if m:
        raw = m.group(1).replace(",", "")
        if "half" in raw:
            n = 30
        elif raw == "an hour":
            n = 1
        else:
            n = _WORD_NUMBERS.get(raw) or int(float(raw))
        cat = _guess_category(puzzle, m.group(0), m.group(3))
        sign = "+" if m.group(3) in _MORE else "-"
        return " | ".join(f"{c.accessor}[A] == {c.accessor}[B] {sign} {_scaled(n, m.group(2), c)}"
                          for c in ([cat] if cat else puzzle.numeric))
    m = re.search(r"\b(" + _COMPARATIVE + r")\b", low)
    if m and puzzle.numeric and re.search(r"\b(than|sometime|somewhat)\b", low):
        cat = _guess_category(puzzle, low[m.start():m.end() + 12], m.group(1))
        op = ">" if m.group(1) in _MORE else "<"
        return " | ".join(f"{c.accessor}[A] {op} {c.accessor}[B]" for c in ([cat] if cat else puzzle.numeric))
    if re.search(r"\bnot\b|n't\b", low):
        return "A != B"
    return "A == B"


def clue_draft(clue: str, puzzle: Puzzle, form: str | None = None) -> str | None:
    """The form with the clue's items filled in by order of appearance; None when counts differ.

    Offered to the model as a starting point: in these puzzles the letters of a form appear in the
    clue in that order, so the draft is often right, and the model corrects the rest.
    """
    form = form or clue_form(clue, puzzle)
    names = clue_mentions(clue, puzzle)
    letters = list(dict.fromkeys(re.findall(r"\b[A-DX]\b", form.split(" | ")[0])))
    order = sorted(letters, key=lambda x: "XABCD".index(x))
    if len(names) != len(order):
        return None
    fill = dict(zip(order, names, strict=True))
    return re.sub(r"\b[A-DX]\b", lambda m: fill[m.group(0)], form)


# ----------------------------------------------------------------------------- prompts


@cache
def puzzle_examples() -> list[dict[str, Any]]:
    return json.loads(prompt_text("puzzle_examples.json"))


def describe_puzzle(puzzle: Puzzle) -> str:
    """The user turn: the names to use per category, number tables, and the numbered clues."""
    lines = ["Categories and the names to use for their items:"]
    for c in puzzle.categories:
        if c.accessor and c.values is not None:
            unit = f", {c.unit}" if c.unit else ""
            pairs = ", ".join(f"{i} = {raw}" if _fold(i) != _fold(raw) else i for i, raw in zip(c.ids, c.items,
                                                                                              strict=True))
            nums = ", ".join(f"{raw} = {v}" for raw, v in zip(c.items, c.values, strict=True)
                             if str(v) not in raw.replace(",", ""))
            lines.append(f"- {c.name} (numbers: {c.accessor}[X]{unit}): {pairs}"
                         + (f"; as numbers: {nums}" if nums else ""))
        else:
            pairs = ", ".join(i if i == raw else f"{i} = {raw}" for i, raw in zip(c.ids, c.items, strict=True))
            lines.append(f"- {c.name}: {pairs}")
    lines.append("")
    lines.append("Clues:")
    lines += [f"{k}. {clue}" for k, clue in enumerate(puzzle.clues, 1)]
    return "\n".join(lines)


HINTS = ("draft", "form")
# What an expression may contain: no quotes, braces, "|" or newlines, so the model can neither run on
# into prose inside the string nor copy a choice of forms whole.
EXPR_PATTERN = r"^[A-Za-z0-9_ ()\[\],=!<>+-]+$"


def clue_hints(puzzle: Puzzle, hints: str = "draft") -> list[str]:
    """Per clue: the form filled with the items it names ("draft", else the bare form), or the form."""
    forms = [clue_form(c, puzzle) for c in puzzle.clues]
    if hints == "form":
        return forms
    return [clue_draft(c, puzzle, f) or f for c, f in zip(puzzle.clues, forms, strict=True)]


def clue_schema(clues: list[str], hints: list[str], kind: str = "draft") -> dict[str, Any]:
    """JSON schema: one {clue, <kind>, expr} per clue, clue and hint fixed, so none is skipped and
    the hint sits right before the expression the model writes."""
    entries = [{"type": "object", "properties": {"clue": {"const": c}, kind: {"const": h},
                                                 "expr": {"type": "string", "pattern": EXPR_PATTERN}},
                "required": ["clue", kind, "expr"]} for c, h in zip(clues, hints, strict=True)]
    return {"type": "object", "properties": {"clues": {"type": "array", "prefixItems": entries,
                                                       "minItems": len(clues), "maxItems": len(clues),
                                                       "items": False}},
            "required": ["clues"]}


def _answer_json(triples: list[tuple[str, str, str]], kind: str = "draft") -> str:
    return json.dumps({"clues": [{"clue": c, kind: h, "expr": e} for c, h, e in triples]}, ensure_ascii=False)


def puzzle_messages(puzzle: Puzzle, hints: str = "draft") -> list[dict[str, str]]:
    """Fixed prefix (rules, worked examples from the train split) then this puzzle."""
    if hints not in HINTS:
        raise ValueError(f"hints must be one of {HINTS}")
    system = "puzzle_system.md" if hints == "draft" else "puzzle_system_form.md"
    messages = [{"role": "system", "content": prompt_text(system).strip()}]
    for ex in puzzle_examples():
        p = parse_puzzle(ex["problem"])
        triples = list(zip(p.clues, clue_hints(p, hints), ex["exprs"], strict=True))
        messages.append({"role": "user", "content": describe_puzzle(p)})
        messages.append({"role": "assistant", "content": _answer_json(triples, hints)})
    messages.append({"role": "user", "content": describe_puzzle(puzzle)})
    return messages


def _parse_answer(text: str, expected: list[str]) -> list[str | None]:
    """The model's JSON -> one expression per expected clue (None where missing)."""
    try:
        data = json.loads(text)
    except ValueError:  # cut by max_tokens: keep the entries that were finished
        found = re.findall(r'"expr"\s*:\s*"([^"\n]*)"', text)
        return [found[i] if i < len(found) and found[i].strip() else None for i in range(len(expected))]
    entries = data.get("clues") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return [None] * len(expected)
    out: list[str | None] = []
    for i in range(len(expected)):
        e = entries[i] if i < len(entries) else None
        expr = e.get("expr") if isinstance(e, dict) else None
        out.append(expr if isinstance(expr, str) and expr.strip() else None)
    return out


# ----------------------------------------------------------------------------- solving


@dataclass
class PuzzleResult:
    """The answer grid (rows in the first category's order) and how it was reached."""

    rows: list[list[str]] | None
    success: bool  # every clue translated and exactly one grid satisfies them
    status: str  # unique | multiple | infeasible | error | timeout
    ir: ModelIR | None
    repairs: int
    seconds: float
    message: str = ""
    trace: Trace | None = None
    exprs: list[str | None] = field(default_factory=list)  # the model's expression per clue
    puzzle: Puzzle | None = None


@dataclass
class _Check:
    """What the solvers said about one set of clue expressions."""

    status: str  # unique | multiple | infeasible | invalid | error | timeout
    grid: list[list[str]] | None = None
    other: list[list[str]] | None = None
    errors: dict[int, str] = field(default_factory=dict)  # clue number -> problem
    core: list[int] = field(default_factory=list)  # clue numbers in an unsat core
    ir: ModelIR | None = None
    message: str = ""


def _rows_of(values: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in (values.get(ROW) or {}).items()}


def _solve(ir: ModelIR, time_limit: float, explain: bool) -> SolveResult:
    """CP-SAT (fast on these small integer models, minimal cores); z3 when CP-SAT fails."""
    import solvers

    compiled = ir.compile()
    result = solvers.solve(compiled, "cpsat", time_limit=time_limit, explain=explain)
    if result.status == Status.ERROR:
        second = solvers.solve(compiled, "smt", time_limit=time_limit, explain=explain)
        if second.status != Status.ERROR:
            return second
    return result


def check_clues(puzzle: Puzzle, exprs: list[str | None], *, time_limit: float = 20.0,
                trace: Trace | None = None) -> _Check:
    """Translate, compile, solve, and test uniqueness (a second solve that excludes the first grid)."""
    errors: dict[int, str] = {}
    kept: list[str | None] = []
    for k, e in enumerate(exprs, 1):
        if e is None:
            errors[k] = "no expression was given"
            kept.append(None)
            continue
        try:
            translate_clue(e, puzzle)
            kept.append(e)
        except ClueError as err:
            errors[k] = str(err)
            kept.append(None)
    try:
        ir = puzzle_ir(puzzle, kept)
        ir.compile()
    except (IRError, ClueError) as err:  # pragma: no cover - translation output is well-typed by design
        problems = err.problems if isinstance(err, IRError) else [str(err)]
        for pr in problems:
            m = re.search(r"clue_(\d+)", pr)
            if m:
                errors[int(m.group(1))] = pr
        if trace:
            trace.step("compile", ok=False, problems=problems)
        return _Check("invalid", errors=errors or {0: "; ".join(problems)}, message="; ".join(problems)[:500])
    if trace:
        trace.step("translate", errors={str(k): v for k, v in errors.items()},
                   constraints={c.name: c.expr for c in ir.constraints if c.name.startswith("clue_")})
    first = _solve(ir, time_limit, explain=True)
    if trace:
        trace.step("solve", status=first.status.value, seconds=round(first.seconds, 4), conflict=first.conflict,
                   message=first.message)
    if first.status == Status.INFEASIBLE:
        core = sorted(int(n.split("_")[1]) for n in first.conflict if re.fullmatch(r"clue_\d+", n))
        return _Check("infeasible", errors=errors, core=core, ir=ir, message=first.message)
    if not first.status.has_solution:
        status = "timeout" if first.status == Status.TIMEOUT else "error"
        return _Check(status, errors=errors, ir=ir, message=first.message)
    rows = _rows_of(first.values)
    grid = grid_from_rows(puzzle, rows)
    others = [x for c in puzzle.categories[1:] for x in c.ids]
    block = " or ".join(f'{ROW}["{x}"] != {rows[x]}' for x in others)
    data = json.loads(ir.model_dump_json())
    data["constraints"].append({"name": "another_grid", "label": "a different grid", "expr": block})
    second = _solve(parse_ir(data), time_limit, explain=False)
    if trace:
        trace.step("uniqueness", status=second.status.value, seconds=round(second.seconds, 4))
    if second.status.has_solution:
        other = grid_from_rows(puzzle, _rows_of(second.values))
        return _Check("multiple", grid=grid, other=other, errors=errors, ir=ir)
    if second.status != Status.INFEASIBLE:
        return _Check("unique", grid=grid, errors=errors, ir=ir, message=f"uniqueness not proven: {second.message}")
    return _Check("unique", grid=grid, errors=errors, ir=ir)


def _differences(puzzle: Puzzle, a: list[list[str]], b: list[list[str]]) -> list[str]:
    out = []
    for ra, rb in zip(a, b, strict=True):
        for j in range(1, len(ra)):
            if ra[j] != rb[j]:
                out.append(f"{ra[0]} is with {ra[j]} in one grid and with {rb[j]} in another")
    return out


def _mentioned(puzzle: Puzzle, expr: str, raw_items: set[str]) -> bool:
    r = _Resolver(puzzle)
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr)
    return any((r.item(n) and puzzle.raw(r.item(n) or "") in raw_items) for n in names)


def repair_feedback(puzzle: Puzzle, exprs: list[str | None], check: _Check) -> tuple[str, list[int]]:
    """The repair message and the clue numbers to rewrite."""
    fix: dict[int, str] = {}
    for k, err in check.errors.items():
        if k >= 1:
            fix[k] = f"Clue {k}: {err}"
    if check.status == "infeasible" and check.core:
        for k in check.core:
            fix.setdefault(k, f"Clue {k}: `{exprs[k - 1]}` conflicts with clue(s) "
                              + ", ".join(str(j) for j in check.core if j != k)
                              + "; at least one of them is translated wrongly.")
    elif check.status == "multiple" and check.grid and check.other and not fix:  # errors first: a missing
        # clue alone can leave several grids
        diffs = _differences(puzzle, check.grid, check.other)
        items = {x for d in diffs for x in re.findall(r"(?:is with|with) (.+?)(?: in one| in another|$)", d)}
        items |= {row[0] for row in check.grid if any(row[0] in d for d in diffs)}
        weak = [k for k, e in enumerate(exprs, 1) if e and k not in fix and _mentioned(puzzle, e, items)]
        weak = weak or [k for k, e in enumerate(exprs, 1) if e and k not in fix]
        for k in weak:
            fix[k] = f"Clue {k}: `{exprs[k - 1]}` may be too weak."
        head = ("More than one grid satisfies your expressions (" + "; ".join(diffs[:3]) + "), but the puzzle "
                "has exactly one solution, so some clue is translated too weakly. Check: 'either A or B' also "
                "needs A != B; 'Of A and B, one ... the other ...' also needs A != B; '2 more than' is "
                "== ... + 2, not >.")
        body = "\n".join(fix[k] for k in sorted(fix))
        return f"{head}\n{body}\nGive corrected expressions for clues {_nums(sorted(fix))}.", sorted(fix)
    if check.status == "infeasible" and not check.core and not fix:
        for k, e in enumerate(exprs, 1):
            if e:
                fix.setdefault(k, f"Clue {k}: `{e}`")
        head = "No grid satisfies all your expressions together; some clue is translated wrongly."
        body = "\n".join(fix[k] for k in sorted(fix))
        return f"{head}\n{body}\nGive corrected expressions for clues {_nums(sorted(fix))}.", sorted(fix)
    head = "Some expressions cannot be used:" if check.errors else "These expressions cannot all be true:"
    body = "\n".join(fix[k] for k in sorted(fix))
    return f"{head}\n{body}\nGive corrected expressions for clues {_nums(sorted(fix))}.", sorted(fix)


def _nums(ks: list[int]) -> str:
    return ", ".join(str(k) for k in ks)


def solve_puzzle(problem_text: str, llm: LLM, *, time_limit: float = 20.0, max_repairs: int = 2,
                 trace: Trace | None = None, llm_timeout: float = DEFAULT_LLM_TIMEOUT, max_tokens: int = 700,
                 answer_labels: list[list[str]] | None = None, seed: int | None = 0,
                 hints: str = "draft") -> PuzzleResult:
    """Parse the grid, let the model translate the clues, solve, and repair up to `max_repairs` times.

    `answer_labels` (one label list per category, e.g. `GridAnswer.items`) renames the answer's
    items to a benchmark's label spelling; it reveals nothing of the assignment.
    """
    t0 = time.perf_counter()
    trace = trace or Trace(problem=problem_text, kind="logic_grid")
    try:
        puzzle = parse_puzzle(problem_text)
    except PuzzleFormatError as e:
        trace.step("parse", ok=False, error=str(e))
        trace.finish(status="error", success=False)
        return PuzzleResult(None, False, "error", None, 0, time.perf_counter() - t0, f"cannot read puzzle: {e}",
                            trace)
    trace.step("parse", ok=True, categories=[{"name": c.name, "items": c.items, "ids": c.ids,
                                              "numbers": c.values, "accessor": c.accessor}
                                             for c in puzzle.categories], clues=puzzle.clues)
    saved_sink = llm.trace
    llm.trace = trace.record_llm
    try:
        result = _run(puzzle, llm, trace, time_limit=time_limit, max_repairs=max_repairs,
                      llm_timeout=llm_timeout, max_tokens=max_tokens, seed=seed, hints=hints)
    finally:
        llm.trace = saved_sink
    if result.rows is not None and answer_labels is not None:
        result.rows = relabel(result.rows, puzzle, answer_labels)
    result.seconds = time.perf_counter() - t0
    result.trace = trace
    result.puzzle = puzzle
    trace.finish(status=result.status, success=result.success, repairs=result.repairs, rows=result.rows,
                 seconds=round(result.seconds, 3), message=result.message)
    return result


def _run(puzzle: Puzzle, llm: LLM, trace: Trace, *, time_limit: float, max_repairs: int, llm_timeout: float,
         max_tokens: int, seed: int | None, hints: str) -> PuzzleResult:
    messages = puzzle_messages(puzzle, hints)
    forms = clue_hints(puzzle, hints)
    trace.step("hints", hint_kind=hints, hints=forms)
    try:
        c = llm.complete(messages, json_schema=clue_schema(puzzle.clues, forms, hints), temperature=0.0,
                         max_tokens=max_tokens, timeout=llm_timeout, seed=seed)
    except LLMError as e:
        trace.step("llm_failed", error=str(e))
        return PuzzleResult(None, False, "error", None, 0, 0.0, f"language model failed: {e}")
    exprs = _parse_answer(c.text, puzzle.clues)
    messages = messages + [{"role": "assistant", "content": c.text}]
    drafts = [clue_draft(cl, puzzle) for cl in puzzle.clues] if hints == "draft" else [None] * len(puzzle.clues)
    repairs = 0
    best: _Check | None = None
    while True:
        exprs = _drafts_for_unusable(puzzle, exprs, drafts, trace)
        check = check_clues(puzzle, exprs, time_limit=time_limit, trace=trace)
        trace.step("check", attempt=repairs, status=check.status, errors={str(k): v for k, v in check.errors.items()},
                   core=check.core, exprs=exprs)
        if check.grid is not None and (best is None or _better(check, best)):
            best = check
        if check.status == "unique" and not check.errors:
            return PuzzleResult(check.grid, True, "unique", check.ir, repairs, 0.0, "", exprs=list(exprs))
        if check.status in ("timeout", "error") or repairs >= max_repairs:
            break
        feedback, targets = repair_feedback(puzzle, exprs, check)
        if not targets:
            break
        repairs += 1
        trace.step("repair", attempt=repairs, feedback=feedback, clues=targets)
        messages = messages + [{"role": "user", "content": feedback}]
        try:
            c = llm.complete(messages, json_schema=clue_schema([puzzle.clues[k - 1] for k in targets],
                                                               [forms[k - 1] for k in targets], hints),
                             temperature=0.0 if repairs == 1 else 0.4, max_tokens=max(200, 80 * len(targets)),
                             timeout=llm_timeout, seed=None if seed is None else seed + repairs)
        except LLMError as e:
            trace.step("llm_failed", error=str(e))
            break
        messages = messages + [{"role": "assistant", "content": c.text}]
        new = _parse_answer(c.text, [puzzle.clues[k - 1] for k in targets])
        exprs = list(exprs)
        for k, e in zip(targets, new, strict=True):
            if e is not None:
                exprs[k - 1] = e
    return _fallback(puzzle, exprs, best, check, repairs, time_limit, trace)


def _drafts_for_unusable(puzzle: Puzzle, exprs: list[str | None], drafts: list[str | None],
                         trace: Trace) -> list[str | None]:
    """Where the model's expression cannot be used but the code has a draft, take the draft.

    Why: the model mostly copies drafts, and when a copy breaks (a dropped bracket is typical of a
    1.5B model) asking again tends to return the same text; the draft is what it meant.
    """
    out = list(exprs)
    for k, (e, d) in enumerate(zip(exprs, drafts, strict=True), 1):
        if d is None or e == d:
            continue
        alternatives = d.split(" | ")
        same = [a for a in alternatives if e is not None and _bare_tokens(e) == _bare_tokens(a)]
        if same and e != same[0]:  # a copy that lost brackets: the grouping changed or broke it
            trace.step("draft_used", clue=k, expr=e, error="the draft's words with other brackets", draft=same[0])
            out[k - 1] = same[0]
            continue
        if len(alternatives) > 1:
            continue
        try:
            if e is not None:
                translate_clue(e, puzzle)
                continue
        except ClueError as err:
            trace.step("draft_used", clue=k, expr=e, error=str(err), draft=d)
            out[k - 1] = d
            continue
        trace.step("draft_used", clue=k, expr=e, error="no expression", draft=d)
        out[k - 1] = d
    return out


def _bare_tokens(expr: str) -> list[str]:
    return re.findall(r"[a-z_][a-z0-9_]*|\d+|==|!=|<=|>=|[<>+\-=]", expr.casefold())  # names resolve case-blind


def _better(a: _Check, b: _Check) -> bool:
    rank = {"unique": 0, "multiple": 1}
    return (rank.get(a.status, 2), len(a.errors)) < (rank.get(b.status, 2), len(b.errors))


def _fallback(puzzle: Puzzle, exprs: list[str | None], best: _Check | None, last: _Check, repairs: int,
              time_limit: float, trace: Trace) -> PuzzleResult:
    """Out of repairs: answer with the best grid seen, or drop conflicting clues to get one."""
    if best is not None and best.grid is not None:
        status = "unique" if best.status == "unique" else "multiple"
        msg = ("some clues could not be translated: " + "; ".join(f"clue {k}: {v}" for k, v in
                                                                   sorted(best.errors.items()))
               if best.errors else "")
        if status == "multiple":
            msg = ("several grids fit the translated clues; answering with one of them. " + msg).strip()
        return PuzzleResult(best.grid, False, status, best.ir, repairs, 0.0, msg, exprs=list(exprs))
    if last.status == "infeasible":
        kept: list[str | None] = [e if k not in last.errors else None for k, e in enumerate(exprs, 1)]
        dropped: list[int] = []
        for _ in range(len(exprs)):
            check = check_clues(puzzle, kept, time_limit=time_limit, trace=trace)
            if check.grid is not None:
                msg = f"the translated clues conflict; dropped clue(s) {_nums(dropped)} to answer"
                trace.step("fallback", dropped=dropped, status=check.status)
                return PuzzleResult(check.grid, False, "infeasible", check.ir, repairs, 0.0, msg, exprs=list(exprs))
            if check.status != "infeasible" or not check.core:
                break
            k = check.core[-1]
            kept[k - 1] = None
            dropped.append(k)
    return PuzzleResult(None, False, last.status if last.status != "invalid" else "error", last.ir, repairs, 0.0,
                        last.message or "no grid", exprs=list(exprs))


def _main(argv: list[str] | None = None) -> int:
    """`python -m agent.puzzles --split train --limit 10`: run on benchmark puzzles and score them."""
    import argparse

    from agent.benchdata import load_benchmark
    from agent.llm import make_llm
    from agent.metrics import grid_score

    ap = argparse.ArgumentParser(description=_main.__doc__)
    ap.add_argument("--split", default="train", choices=["train", "test", "test_na"])
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--ids", nargs="*", default=None)
    ap.add_argument("--llm", default="embedded")
    ap.add_argument("--record", default=None, help="append every model call to this JSONL file")
    ap.add_argument("--traces", default=None, help="folder for one trace JSON per puzzle")
    ap.add_argument("--max-repairs", type=int, default=2)
    ap.add_argument("--llm-timeout", type=float, default=DEFAULT_LLM_TIMEOUT)
    ap.add_argument("--hints", default="draft", choices=HINTS)
    args = ap.parse_args(argv)
    problems = load_benchmark("logic_grid", subset=args.split)
    if args.ids:
        problems = [p for p in problems if p.id in set(args.ids)]
    problems = problems[args.start:args.start + args.limit]
    llm = make_llm(args.llm, record=args.record)
    solved = cells = total = 0
    for prob in problems:
        gt = prob.answer
        labels = gt.items if gt is not None else None  # type: ignore[union-attr]
        res = solve_puzzle(prob.problem, llm, max_repairs=args.max_repairs, answer_labels=labels,
                           llm_timeout=args.llm_timeout, hints=args.hints)
        score = grid_score(res.rows, gt)
        solved += score.puzzle_correct
        cells += score.cells_correct
        total += score.cells_total
        tot = res.trace.llm_totals() if res.trace else {}
        print(f"{prob.id}: {'OK ' if score.puzzle_correct else 'BAD'} cells {score.cells_correct}/"
              f"{score.cells_total} status={res.status} repairs={res.repairs} {res.seconds:.1f}s "
              f"tokens={tot.get('prompt_tokens')}/{tot.get('completion_tokens')}", flush=True)
        for k, e in enumerate(res.exprs, 1):
            print(f"    {k}. {e}")
        if args.traces and res.trace:
            res.trace.save(f"{args.traces}/{prob.id}.json")
    n = len(problems)
    print(f"puzzles {solved}/{n} = {solved / max(n, 1):.2f}; cells {cells}/{total} = {cells / max(total, 1):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
