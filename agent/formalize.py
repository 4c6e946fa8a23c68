"""Prompts and parsing for the formalization step: English problem -> IR JSON.

Prompts live in `agent/prompts/` as files. The system prompt and the worked examples form a fixed
prefix, so llama.cpp reuses its evaluated state from one problem to the next; only the problem and
any repair turns are new tokens. Worked examples come from the NL4Opt dev split or are our own,
never from an evaluated split.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from agent.layouts import LAYOUTS
from formalizers.expr import BinOp, ExprError, Node, Num, Unary, parse_expr
from formalizers.ir import IRError, ModelIR, parse_ir
from formalizers.unparse import to_text

MAX_PROBLEM_CHARS = 20_000
LONGEST_PROSE_TOKEN = 30  # characters; longer whitespace-free tokens are formulas, URLs or encoded data


# "auto" writes a problem with more numbers than this in the indexed format. The largest NL4Opt test
# problem states 17, which the flat format handles; the table-driven examples and nearly all of
# OptMATH-Bench (median 79) state more.
INDEXED_FROM_NUMBERS = 18


def output_schema(layout: str) -> dict[str, Any]:
    """The JSON Schema that constrains decoding in this layout (not "auto": see `choose_layout`)."""
    return LAYOUTS[layout].schema


def count_numbers(text: str) -> int:
    """How many numbers a text states (each occurrence; "$1,200" and "0.5" are one each)."""
    return len(NUMBER_TOKEN.findall(text))


def choose_layout(problem: str, layout: str = "auto") -> str:
    """The layout a problem is written in: `layout` itself unless it is "auto" (see INDEXED_FROM_NUMBERS)."""
    if layout != "auto":
        return layout
    return "indexed" if count_numbers(problem) >= INDEXED_FROM_NUMBERS else "lean"


_QUANTITY = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|"
                       r"thousand|million|twice|half|double|triple|dozen|percent|each|every)\b", re.I)


class ProblemTextError(ValueError):
    """The input is not a usable problem statement (empty, binary, huge)."""


def prompt_text(name: str) -> str:
    return resources.files("agent.prompts").joinpath(name).read_text(encoding="utf-8")


@cache
def worked_examples(layout: str = "quoted") -> list[dict[str, Any]]:
    return json.loads(prompt_text(LAYOUTS[layout].examples))


@cache
def _patterns() -> list[dict[str, Any]]:
    return json.loads(prompt_text("patterns.json"))


MAX_PATTERNS = 2  # shown per problem: each adds 300-600 prompt tokens, a few seconds on 2 cores


def pattern_examples(problem: str, layout: str) -> list[dict[str, Any]]:
    """The worked examples of modelling patterns whose cues the problem's words match, best first.

    Why: the fixed examples teach the plain product-mix shape; a 1.5B model shown no coverage, assignment,
    max-min, distance or if-then example writes "every district reached" as the sum of all stations >= 7 and
    "if ERP then data warehouse" as erp + dw == 1. Each pattern's cues are phrases of its structure (never
    its story), and a pattern is shown only where at least `min_cues` of them occur in the problem.
    """
    scored = []
    for rank, pattern in enumerate(_patterns()):
        if pattern["layout"] != layout:
            continue
        hits = sum(1 for cue in pattern["cues"] if re.search(cue, problem, re.I))
        if hits >= pattern["min_cues"]:
            scored.append((-hits, rank, pattern))
    return [pattern for _, _, pattern in sorted(scored, key=lambda s: s[:2])[:MAX_PATTERNS]]


def check_problem_text(text: str) -> str:
    """Reject inputs that cannot be a word problem before spending model time on them."""
    if "\x00" in text:
        raise ProblemTextError("the input looks binary (it contains NUL bytes), not a problem statement")
    text = text.strip()
    if not text:
        raise ProblemTextError("the problem text is empty")
    if len(text) > MAX_PROBLEM_CHARS:
        raise ProblemTextError(f"the problem text has {len(text):,} characters; the limit is "
                               f"{MAX_PROBLEM_CHARS:,} (a word problem is a few paragraphs)")
    words = re.findall(r"[^\W\d_]{2,}", text)
    if len(words) < 8 or sum(map(len, words)) < 0.08 * len(text):
        raise ProblemTextError("this does not read like an optimization problem (too few words); "
                               "describe the decisions, the limits and the goal in sentences")
    if not _reads_as_prose(text, words):
        raise ProblemTextError("this does not read like sentences (long unbroken tokens, mixed-case letter "
                               "runs or two-letter fragments: encoded or random data); describe the decisions, "
                               "the limits and the goal in sentences")
    if not _QUANTITY.search(text):
        raise ProblemTextError("this states no quantities (no numbers at all); an optimization or constraint "
                               "problem gives its limits, costs or counts")
    return text


def _reads_as_prose(text: str, words: list[str]) -> bool:
    """False for encoded or random data (base64, hex dumps, keys), which would cost minutes of model time.

    Prose breaks into short whitespace-separated tokens, writes words in one case (or capitalized) and
    most of them longer than two letters; a formula or a URL in a problem is a small share of it."""
    tokens = text.split()
    unbroken = sum(len(t) for t in tokens if len(t) > LONGEST_PROSE_TOKEN)
    mixed_case = sum(1 for w in words if not (w.islower() or w.isupper() or w.istitle()))
    two_letter = sum(1 for w in words if len(w) == 2)  # a hex dump's letters come in pairs, prose's rarely
    return unbroken <= 0.5 * len(text) and mixed_case <= 0.25 * len(words) and two_letter <= 0.5 * len(words)


def _compact(model: dict[str, Any]) -> str:
    return json.dumps(model, ensure_ascii=False, separators=(", ", ": "))


def formalize_messages(problem: str, *, examples: bool = True, layout: str = "quoted") -> list[dict[str, str]]:
    """System rules, the worked examples as past turns (unless `examples=False`), then the problem.

    The fixed examples come first, so their evaluated state is shared by every problem; the patterns the
    problem matches (`pattern_examples`) follow them, nearest to the problem."""
    messages = [{"role": "system", "content": prompt_text(LAYOUTS[layout].system).strip()}]
    shown = [*worked_examples(layout), *pattern_examples(problem, layout)] if examples else []
    for ex in shown:
        messages.append({"role": "user", "content": ex["problem"]})
        messages.append({"role": "assistant", "content": _compact(ex["model"])})
    messages.append({"role": "user", "content": problem})
    return messages


def hinted_problem_message(problem: str, hints: str) -> dict[str, str]:
    """The problem again with what was wrong before: for a fresh draw after a repair repeated itself."""
    return {"role": "user", "content": prompt_text("hint.md").format(problem=problem, hints=hints).strip()}


def repair_message(problem_description: str) -> dict[str, str]:
    return {"role": "user", "content": prompt_text("repair.md").format(problem=problem_description).strip()}


_NAME_FIX = re.compile(r"[^A-Za-z0-9_]")


def _clean_names(data: dict[str, Any]) -> None:
    """Give unnamed or oddly named constraints identifiers; names are labels, not semantics."""
    seen: set[str] = set()
    for i, c in enumerate(data.get("constraints") or []):
        if not isinstance(c, dict):
            continue
        name = _NAME_FIX.sub("_", str(c.get("name") or f"c{i + 1}")).strip("_") or f"c{i + 1}"
        if name[0].isdigit():
            name = f"c_{name}"
        while name in seen:
            name = f"{name}_{i + 1}"
        seen.add(name)
        c["name"] = name
        c.setdefault("label", name.replace("_", " "))


_IDENTIFIER = re.compile(r"""'[^'\n]*'|"[^"\n]*"|\b[A-Za-z_]\w*\b""")


def _quote_bare_elements(data: dict[str, Any]) -> list[str]:
    """Quote set elements written as bare names in expressions: `work[e, Saturday]` -> `work[e, 'Saturday']`.

    Why: a small model writes named elements the way MiniZinc writes enum values (weekend_rota_infeasible,
    2026-12-07: "unknown name 'Saturday'" through every repair). A bare name that is no parameter, variable,
    set, loop variable or keyword, and is a string element of a set, can only mean that element; the checker
    still verifies it belongs to the set the index runs over. Returns the names of the constraints changed.
    """
    from formalizers.expr import RESERVED

    def named(key: str) -> set[str]:
        return {str(x.get("name")) for x in data.get(key) or [] if isinstance(x, dict)}

    elements = {str(e) for s in data.get("sets") or [] if isinstance(s, dict)
                for e in s.get("elements") or [] if isinstance(e, str) and re.fullmatch(r"[A-Za-z_]\w*", e)}
    taken = named("parameters") | named("variables") | named("sets") | RESERVED
    if not elements - taken:
        return []
    changed = []
    items = [c for c in data.get("constraints") or [] if isinstance(c, dict)]
    objective = data.get("objective")
    for item in [*items, *([objective] if isinstance(objective, dict) else [])]:
        texts = [str(item.get(k) or "") for k in ("forall", "expr")]
        keep = taken | set(re.findall(r"\b([A-Za-z_]\w*)\s+in\b", " ".join(texts)))  # and loop variables
        new = {k: _quote_words(item[k], elements - keep) for k in ("forall", "expr") if isinstance(item.get(k), str)}
        if any(new[k] != item[k] for k in new):
            item.update(new)
            if item is not objective:
                changed.append(str(item.get("name")))
    return changed


def _quote_words(text: str, words: set[str]) -> str:
    """`text` with each of `words` that stands outside quotes put in single quotes."""
    return _IDENTIFIER.sub(lambda m: f"'{m.group(0)}'" if m.group(0) in words else m.group(0), text)


_COMPARISON = re.compile(r"<=|>=|==|!=|<|>|=")


def _drop_objective_copies(data: dict[str, Any]) -> list[str]:
    """Remove "constraints" that are only the objective's expression again, with no comparison.

    Why: a small model often lists the quantity it optimizes among the constraints ("science_value":
    the objective's sum, no "<="); it states no requirement, and asking for a repair was seen to get the
    same answer back every time. Anything else without a comparison stays, to be reported as an error.
    Returns the names removed.
    """
    objective = data.get("objective")
    goal = objective.get("expr") if isinstance(objective, dict) else None
    constraints = data.get("constraints")
    if not isinstance(goal, str) or not isinstance(constraints, list):
        return []
    same = re.sub(r"\s+", "", goal)
    dropped = [c for c in constraints if isinstance(c, dict) and isinstance(c.get("expr"), str)
               and not _COMPARISON.search(c["expr"]) and re.sub(r"\s+", "", c["expr"]) == same]
    data["constraints"] = [c for c in constraints if all(c is not d for d in dropped)]
    return [str(c.get("name")) for c in dropped]


_NONNEGATIVE = re.compile(r"^\s*(?:([A-Za-z_]\w*)\s*>=\s*0(?:\.0*)?|0(?:\.0*)?\s*<=\s*([A-Za-z_]\w*))\s*$")


def _drop_nonnegativity(data: dict[str, Any]) -> list[str]:
    """Remove constraints that only say a variable is at least 0, giving it `"lower": 0` instead.

    Why: such a row restates what "lower" says, and no sentence states it, so it drew "matches no sentence"
    doubts that cost a right answer its vote (nl4opt_test_257: 98, the label, lost to 109 on two such rows).
    The model is the same with the bound. Returns the names removed."""
    variables = {str(v.get("name")): v for v in data.get("variables") or []
                 if isinstance(v, dict) and not v.get("index")}
    constraints = data.get("constraints")
    if not isinstance(constraints, list):
        return []
    dropped = []
    for c in constraints:
        m = _NONNEGATIVE.match(c["expr"]) if isinstance(c, dict) and isinstance(c.get("expr"), str) else None
        variable = variables.get(m.group(1) or m.group(2)) if m and not c.get("forall") else None
        if variable is None or variable.get("domain") == "binary":
            continue
        lower = variable.get("lower")
        if lower is None or (isinstance(lower, (int, float)) and lower < 0):
            variable["lower"] = 0
        dropped.append(c)
    data["constraints"] = [c for c in constraints if all(c is not d for d in dropped)]
    return [str(c.get("name")) for c in dropped]


def _inline_definitions(data: dict[str, Any]) -> list[str]:
    """Replace a "constraint" that only names an expression ("phone_revenue": "50*phone_space", no comparison)
    by that expression, in brackets, wherever its name is used; returns the names inlined.

    Why: a small model defines quantities this way and then optimizes "phone_revenue + laptop_revenue"; the
    parse errors ("a constraint must be a condition", "unknown name") got the same answer back through every
    repair of every sample (nl4opt_test_030, twelve calls). A name that is also a variable is left alone.
    """
    constraints = data.get("constraints")
    if not isinstance(constraints, list):
        return []
    variables = {str(v.get("name")) for v in data.get("variables") or [] if isinstance(v, dict)}
    defined = {c["name"]: c["expr"] for c in constraints if isinstance(c, dict) and isinstance(c.get("expr"), str)
               and isinstance(c.get("name"), str) and not _COMPARISON.search(c["expr"])
               and c["name"] not in variables}
    holders = [c for c in constraints if isinstance(c, dict) and isinstance(c.get("expr"), str)]
    objective = data.get("objective")
    if isinstance(objective, dict) and isinstance(objective.get("expr"), str):
        holders.append(objective)
    used = set()
    for _ in range(len(defined)):  # a definition may use another one
        changed = False
        for holder in holders:
            for name, expr in defined.items():
                if holder.get("name") == name and holder is not objective:
                    continue
                new = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w\[])", f"({expr})", holder["expr"])
                if new != holder["expr"]:
                    holder["expr"], changed = new, True
                    used.add(name)
        if not changed:
            break
    data["constraints"] = [c for c in constraints if not (isinstance(c, dict) and c.get("name") in used)]
    return sorted(used)


def parse_model_output(text: str, problem: str | None = None, notes: list[str] | None = None) -> ModelIR:
    """The model's JSON text -> a validated IR (names checked later by compile()). Raises IRError.

    With `problem`, constraints the model left without a source get the problem's sentence they
    come from (see `attach_sources`), and a lean objective's "goal" becomes its description.
    A "constraint" that only repeats the objective is dropped; `notes`, if given, says so.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise IRError([f"the output is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"]) from None
    if isinstance(data, dict):
        _clean_names(data)
        for name in _quote_bare_elements(data):
            if notes is not None:
                notes.append(f"constraint {name}: set elements written as bare names read as quoted elements")
        for name in _inline_definitions(data):
            if notes is not None:
                notes.append(f"constraint {name}: a definition without a comparison, written into the expressions "
                             "that use its name")
        for name in _drop_objective_copies(data):
            if notes is not None:
                notes.append(f"constraint {name} dropped: it only repeats the objective's expression")
        for name in _drop_nonnegativity(data):
            if notes is not None:
                notes.append(f"constraint {name} dropped: it only says its variable is at least 0 (its lower bound)")
        objective = data.get("objective")
        if isinstance(objective, dict) and "goal" in objective:
            goal = objective.pop("goal")
            objective.setdefault("description", goal if isinstance(goal, str) else "")
        if problem:
            attach_sources(data, problem)
            for name in _loosen_strict_comparisons(data, problem):
                if notes is not None:
                    notes.append(f"constraint {name}: < or > read as <= or >= (the text never says strictly)")
            for name in _divisible_measures(data, problem):
                if notes is not None:
                    notes.append(f"variable {name}: continuous, an amount of a divisible unit in a problem that "
                                 "calls itself an LP")
    return parse_ir(data)


# Units that measure rather than count: an amount of them can be fractional (the formalization prompts'
# own rule: "continuous for amounts that can be fractional (kg, litres, hours, acres, dollars invested)").
_DIVISIBLE_UNITS = frozenset(
    "acre acres hectare hectares hour hours hr hrs minute minutes min mins kg kgs kilogram kilograms gram grams "
    "lb lbs pound pounds ounce ounces oz ton tons tonne tonnes liter liters litre litres ml milliliter milliliters "
    "millilitre millilitres gallon gallons meter meters metre metres km kilometer kilometers mile miles feet ft "
    "dollar dollars usd money".split())
_LEADING = frozenset("number amount quantity total of the".split())
_WHOLE_NUMBERS = re.compile(r"\b(integers?|integral|whole|indivisible|cannot be (?:split|divided))\b", re.I)


def measures_a_divisible_unit(name: str, description: str) -> bool:
    """The variable is an amount of a divisible unit: its description starts with one ("acres planted with
    potatoes", "number of hours machine A runs"), or, with no description, its name holds one ("x_minutes").
    A count of things that merely mention a unit stays a count ("number of 5 kg bags", "30-minute ads",
    "trips per hour")."""
    if re.search(r"\b(per|each|every)\b", f"{name} {description}".replace("_", " "), re.I):
        return False
    words = re.findall(r"[a-z0-9$]+", description.lower())
    while words and words[0] in _LEADING:
        words.pop(0)
    if words:
        return words[0] in _DIVISIBLE_UNITS
    return any(part in _DIVISIBLE_UNITS for part in name.lower().split("_"))  # no description: the name's words


_SAYS_LP = re.compile(r"\b(?:an? )?(?:LP|linear program(?:ming)?(?: problem| model)?)\b(?! relaxation)")


def _divisible_measures(data: dict[str, Any], problem: str) -> list[str]:
    """In a problem that calls itself an LP, make continuous the integer variables that measure a divisible
    unit; returns their names.

    Why: the embedded model marks "acres planted with blueberries" as integer against its prompt's rule even
    when the text says "Formulate an LP problem" (nl4opt_test_045: 14,325 for 14,375). Without that
    statement the model's choice stands: the benchmark's labels count hours as whole in one problem
    ("how many hours should each factory be run": 37, nl4opt_test_106) and acres as fractional in another,
    and no rule on units alone matches both. Counted things, and a text asking for whole numbers, keep theirs.
    """
    if not _SAYS_LP.search(problem) or _WHOLE_NUMBERS.search(problem):
        return []
    changed = []
    for v in data.get("variables") or []:
        if (isinstance(v, dict) and v.get("domain") == "integer"
                and measures_a_divisible_unit(str(v.get("name") or ""), str(v.get("description") or ""))):
            v["domain"] = "continuous"
            changed.append(str(v.get("name")))
    return changed


_STRICT = re.compile(r"(?<![<>=!])([<>])(?!=)")


def _loosen_strict_comparisons(data: dict[str, Any], problem: str) -> list[str]:
    """Write "x > y" as "x >= y" unless the problem says "strictly"; returns the names changed.

    Why: word problems mean "more foam than liquid" and "must exceed" as >= (every such phrase of the NL4Opt
    dev split is annotated GREATER_OR_EQUAL or LESS_OR_EQUAL, and the prompt says so), while the IR reads a
    strict comparison of whole numbers as a difference of one (nl4opt_test_128: 970 instead of 1000).
    Only a constraint that is one comparison is touched: a `where` filter inside a sum keeps its meaning.
    """
    changed: list[str] = []
    if re.search(r"\bstrict", problem, re.I):
        return changed
    for c in data.get("constraints") or []:
        expr = c.get("expr") if isinstance(c, dict) else None
        if not isinstance(expr, str) or len(_COMPARISON.findall(expr)) != 1 or not _STRICT.search(expr):
            continue
        c["expr"] = _STRICT.sub(r"\1=", expr)
        changed.append(str(c.get("name")))
    return changed


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[$A-Z0-9])")
NUMBER_TOKEN = re.compile(r"(?<![A-Za-z_\d.])(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(\s*%| percent)?")
_WORD = re.compile(r"[A-Za-z]{3,}")


def sentences(text: str) -> list[str]:
    """The problem split into sentences (a decimal point or "$1.5" does not end one)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


_NUMBER_WORDS = {"half": 0.5, "twice": 2.0, "double": 2.0, "two": 2.0, "three": 3.0, "triple": 3.0, "thrice": 3.0,
                 "four": 4.0, "five": 5.0, "six": 6.0, "seven": 7.0, "eight": 8.0, "nine": 9.0, "ten": 10.0,
                 "quarter": 0.25, "third": 1 / 3, "dozen": 12.0, "hundred": 100.0, "thousand": 1000.0}


def _numbers(text: str) -> set[float]:
    """Numbers as written, in words too; percentages also as fractions ("40%" is 40 and 0.4)."""
    found = {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS}
    for digits, percent in NUMBER_TOKEN.findall(text):
        value = float(digits.replace(",", ""))
        found.add(value)
        if percent:
            found.add(round(value / 100, 12))
    return found


# Numbers that name rather than measure: clock times ("6:00-8:00"), years, labels ("period 3", "machine 2",
# "type 1") and enumerators ("two forms of advertising: (1) radio ads and (2) social media ads", nl4opt_test_013,
# whose right answers were doubted for the unused 2). They need not appear in a model.
LABEL_NUMBERS = re.compile(r"\b\d{1,2}:\d{2}\b|\b(?:19|20)\d{2}\b|\(\d{1,2}\)|"
                     r"\b(?:period|day|week|month|year|quarter|shift|stage|phase|step|round|type|model|version|"
                     r"no\.?|number|plant|machine|factory|warehouse|product|item|job|task|project|route|line|"
                     r"zone|region|site|slot|level|grade|option|team|group|class|room|lane|gate|dock|store|shop|customer|depot|"
                     r"station|supplier|facility|location|node|district|terminal)s?\s+\d+"
                     r"(?:\s*(?:,|and|or|to|-)\s*\d+)*", re.I)


# "syrup 1 and syrup 2", "pain killer 1 and pain killer 2": a word numbered twice in a row names things; every
# "syrup N" of that problem is a label (nl4opt_test_130: "killer 1" and "killer 2" doubted as four unused numbers
# in every answer, and the vote went to one with fewer doubts, 0.0 for the labelled 20.8).
_NUMBERED_TWICE = re.compile(r"\b([A-Za-z]{3,})\s+\d{1,2}\s*(?:,|and|or)\s*(?:[A-Za-z]+\s+){0,2}?\1\s+\d{1,2}\b",
                             re.I)


@cache
def numbered_words(problem: str) -> re.Pattern[str] | None:
    """"WORD N" for each word the problem numbers twice in a row; read once per problem."""
    words = sorted({m.group(1).lower() for m in _NUMBERED_TWICE.finditer(problem)})
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})\s+\d{{1,2}}\b", re.I) if words else None


def _without_labels(sentence: str, problem: str) -> str:
    """The sentence with its labels blanked: clock times, years, "period 3", and the problem's own numbered
    words ("syrup 1", nl4opt_test_110: its 1 and 2 were doubted as unused in every repair of a right answer)."""
    text = LABEL_NUMBERS.sub(" ", sentence)
    numbered = numbered_words(problem)
    return numbered.sub(" ", text) if numbered else text


PER_ONE_UNIT = re.compile(r"\b(?:for|in|per|every|each)\s+1\s+[A-Za-z]", re.I)


_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}


def text_scales(problem: str) -> set[float]:
    """1, and the factors of the scale words the text puts after a number: a model may write every amount of
    "900 thousand cubic meters ... East needs 300" in units (900000, 300000)."""
    return {1.0} | {factor for word, factor in _SCALES.items() if re.search(rf"\d\s+{word}\b", problem, re.I)}


def unused_numbers(problem: str, ir_texts: list[str]) -> list[tuple[list[str], str]]:
    """Numbers written in digits in the problem that the model uses nowhere, grouped by sentence.

    Why: a word problem states each number because it matters, and a small model's typical slip is
    a coefficient taken from the wrong sentence, which leaves the right one unused. A percentage
    counts as used as written or as a fraction; clock times, years and labels ("period 3", "syrup 1") are not
    quantities, nor is the 1 of "for 1 hour", the basis of the sentence's rates (nl4opt_test_048: doubted
    twice, which sent the repairs after the wrong sentence). Returns [(numbers as written, sentence), ...].
    """
    used: set[float] = set()
    for text in ir_texts:
        used |= expression_numbers(text)
    scales = text_scales(problem)
    found: list[tuple[list[str], str]] = []
    for sentence in sentences(problem):
        missing = []
        for digits, percent in NUMBER_TOKEN.findall(_without_labels(sentence, problem)):
            value = float(digits.replace(",", ""))
            forms = {value, round(value / 100, 12)} if percent else {value * scale for scale in scales}
            if value == 1 and not percent and PER_ONE_UNIT.search(sentence):
                continue  # "costs $300 for 1 hour": the basis of the sentence's rates, not a number to use
            if value != 0 and not forms & used and not any(abs(u - f) <= 1e-9 * max(1.0, abs(f))
                                                           for u in used for f in forms):
                missing.append(digits + (percent or "").strip())
        if missing:
            found.append((list(dict.fromkeys(missing)), sentence))
    return found


# Unit conversions a correct model may use without the text stating them (minutes per hour, hours per day,
# days per week, months per year, percent). Not 1000: an invented "<= 1000" is the commonest made-up limit.
_CONVERSIONS = {60.0, 24.0, 7.0, 12.0, 100.0, 52.0, 365.0, 3600.0}


def invented_numbers(problem: str, expr: str) -> list[str]:
    """Numbers an expression uses that the problem states nowhere, as written in the expression.

    A small model that cannot place a requirement sometimes makes one up ("500*ships + 300*planes <=
    1000" when no 1000 is given). Allowed: the text's numbers (digits or words, percentages as
    fractions), 0 and 1, common unit conversions, ranges the text spells out ("1 to 4"), and products
    and quotients of two of these (minutes in 8 hours, 0.5 for "half as many").
    """
    stated = _numbers(problem)
    for low, high in re.findall(r"\b(\d{1,3})\s*(?:to|-|–|through)\s*(\d{1,3})\b", problem):
        if int(low) < int(high) <= int(low) + 100:  # "numbered 1 to 4": 2 and 3 are stated too
            stated |= {float(k) for k in range(int(low), int(high) + 1)}
    base = stated | {0.0, 1.0} | _CONVERSIONS
    derived = base | {a * b for a in stated for b in base} | {a / b for a in stated for b in base if b} \
        | {b / a for a in stated for b in base if a}
    out = []
    for digits, percent in NUMBER_TOKEN.findall(expr):
        value = float(digits.replace(",", ""))
        forms = {value, value / 100} if percent else {value}
        if not any(abs(f - g) <= 1e-9 * max(1.0, abs(g)) for f in forms for g in derived):
            out.append(digits)
    return list(dict.fromkeys(out))


@cache
def _plain_and_percent_numbers(problem: str) -> tuple[frozenset[float], dict[float, str]]:
    """The numbers a problem states plainly, and those it states as a percentage with their first sentence;
    read once per problem (every constraint of every answer asks)."""
    plain: set[float] = set()
    shares: dict[float, str] = {}
    for sentence in sentences(problem):
        for digits, percent in NUMBER_TOKEN.findall(LABEL_NUMBERS.sub(" ", sentence)):
            value = float(digits.replace(",", ""))
            if percent:
                shares.setdefault(value, sentence)
            else:
                plain.add(value)
    return frozenset(plain), shares


def percent_as_whole(problem: str, expr: str) -> list[tuple[str, str]]:
    """Coefficients written as the whole number of a percentage the text states only as a percentage: (the
    number, its sentence). nl4opt_test_217: "the first mix contains 20% cat paw snacks" as
    `20*cat_paw_mix + 35*gold_shark_mix <= 20` (a share of 0.2 written as 20). A model scaled by 100 (an
    expression with a 100 in it) is left alone."""
    if re.search(r"(?<![\d.])100(?![\d.])", expr):
        return []
    plain, shares = _plain_and_percent_numbers(problem)
    found = []
    for digits in re.findall(r"(?<![A-Za-z_\d.])(\d+(?:\.\d+)?)\s*\*\s*[A-Za-z_(]", expr):
        value = float(digits)
        if value > 1 and value in shares and value not in plain:
            found.append((digits, shares[value]))
    return list(dict.fromkeys(found))


def percents_as_shares(problem: str, expr: str) -> str | None:
    """`expr` with every coefficient of its variables divided by 100, when at least one of them is the whole
    number of a percentage the text states only as a percentage (`percent_as_whole`) and every other one is a
    percentage the text states too. nl4opt_test_217 wrote "the first mix contains 20% cat paw snacks" and
    "the second mix contains 35% ..." as 20*cat_paw_mix + 35*gold_shark_mix <= 20: the 20 is also the 20 kg
    on hand, so only the 35 was doubted, and a repair of the 35 alone would keep the 20. The row's limit and
    its constants stay as written."""
    if not percent_as_whole(problem, expr):
        return None
    sides = limit_sides(expr)
    if sides is None:
        return None
    _, shares = _plain_and_percent_numbers(problem)
    coefficient = re.compile(r"(?<![A-Za-z_\d.])(\d+(?:\.\d+)?)\s*\*\s*(?=[A-Za-z_(])")
    found = coefficient.findall(sides[0])
    if "-" in sides[0] or len(found) != len(sides[0].split("+")) or not all(float(d) in shares for d in found):
        return None  # every term a percentage: "20*a + b" or "20*a - 5*b" is not a row of shares
    left = coefficient.sub(lambda m: f"{float(m.group(1)) / 100:g}*", sides[0])
    return f"{left.strip()} {sides[1]} {sides[2].strip()}"


def digits_stated(text: str) -> set[float]:
    """The numbers a text writes in digits, as values ("$1,500" is 1500; no number words, no shares)."""
    return {float(d.replace(",", "")) for d, _ in NUMBER_TOKEN.findall(text)}


def sentence_quantities(sentence: str) -> set[float]:
    """The non-zero quantities a sentence states (labels such as "period 3" left out)."""
    return _numbers(LABEL_NUMBERS.sub(" ", sentence)) - {0.0}


def _next_to(number: str, stems: set[str], sentence: str) -> bool:
    """The number is written just before one of the words ("150 calories", "5 kg of methane")."""
    return bool(stems) and re.search(rf"(?<![\d.]){re.escape(number)}\s+(?:[A-Za-z]+\s+){{0,3}}?"
                                     rf"(?:{'|'.join(map(re.escape, stems))})", sentence, re.I) is not None


_SCALED = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?([A-Za-z_]\w*)(?:\s*\*\s*(\d+(?:\.\d+)?))?\s*(<=|>=)\s*"
                     r"(\d[\d,]*(?:\.\d+)?)\s*$")
# "per day", "every hour" is a rate in time, not a limit on each item: "at most $100 in prizes every hour" is
# one total (nl4opt_test_231: 2*throwing <= 100 and 3*climbing <= 100).
_NOT_A_TIME = r"(?!\s+(?:hour|day|week|month|year|shift|minute|night|season)s?\b)"
_EACH = re.compile(rf"\b(?:(?:each|per|every){_NOT_A_TIME}|apiece|individually|any single|any one|respectively)\b",
                   re.I)


def total_split_per_item(constraints: list[tuple[str, str]], problem: str) -> list[tuple[list[str], str, str]]:
    """Groups of constraints that each put one variable's use against the same limit, where the text states
    that limit once as a total: "the school only has 1000 treats available" as 3*pigeons <= 1000 and
    5*owls <= 1000 (nl4opt_test_195). Returns [(names, the one constraint over the sum, sentence)]. The
    clause stating the limit must not say "each", "per" or the like, and at least one row has a coefficient
    (two bare caps "x <= 30", "y <= 30" are as likely a cap on each)."""
    groups: dict[tuple[str, float], list[tuple[str, str, str, str]]] = {}
    for name, expr in constraints:
        m = _SCALED.match(expr)
        if m is None:
            continue
        left, var, right, op, limit = m.groups()
        coef = left or right or ""
        groups.setdefault((op, float(limit.replace(",", ""))), []).append((name, var, coef, limit))
    found = []
    for (op, limit), rows in groups.items():
        if len(rows) < 2 or len({var for _, var, _, _ in rows}) < len(rows) or not any(c for _, _, c, _ in rows):
            continue
        stating = [s for s in sentences(problem) if limit in sentence_quantities(s)]
        if len(stating) != 1:
            continue
        clauses = [c for c in re.split(r"[,;]", stating[0]) if limit in sentence_quantities(c)]
        if not clauses or any(_EACH.search(c) for c in clauses):
            continue
        total = " + ".join(f"{c}*{var}" if c else var for _, var, c, _ in rows)
        found.append(([name for name, _, _, _ in rows], f"{total} {op} {rows[0][3]}", stating[0]))
    return found


# "Each machine runs for at most 4000 hours", "Both machines are available for a maximum of 300 minutes": one
# limit for each of them. "Each ad costs $1000 and attracts 400,000 viewers" states a figure, not a limit.
_EACH_SUBJECT = re.compile(rf"\b(?:each|every|both)\b{_NOT_A_TIME}", re.I)
_STATED_LIMIT = re.compile(r"\b(at most|at least|no more than|no less than|not exceed|cannot exceed|up to|maximum|"
                           r"minimum|available)\b", re.I)


def numbers_used_twice(problem: str, places: list[tuple[str, str]]) -> list[tuple[str, str, list[str]]]:
    """Numbers the text states once but the model uses in two places (two constraints, or one and the
    objective), one of them as a constraint's limit: one place took a number that belongs to the other's
    sentence. "Each mango contains 100 calories" gives no sugar limit (nl4opt_test_131: sugar <= 100 beside
    100*mangoes), "150 bags" no water limit (nl4opt_test_227). A number given to each item ("at least 20 of
    each") is left alone. `places` is [(name, expression)]; returns [(number as written,
    its sentence, names of the places)]."""
    stated: dict[float, list[tuple[str, str, bool]]] = {}
    for sentence in sentences(problem):
        text = LABEL_NUMBERS.sub(" ", sentence)
        for m in NUMBER_TOKEN.finditer(text):
            digits, percent = m.group(1), m.group(2) or ""
            value = float(digits.replace(",", ""))
            before = re.split(r"[,;]", text[:m.start()])[-1]
            each = bool(_EACH.search(re.split(r"[,;]", text[m.end():])[0])  # "20 of each", "6 of any single"
                        or (_EACH_SUBJECT.search(before) and _STATED_LIMIT.search(before)))
            stated.setdefault(round(value / 100, 12) if percent else value, []).append(
                (digits + percent, sentence, each))
    numbers = [(name, _numbers(expr), _numbers(sides[2]) if (sides := limit_sides(expr)) else set())
               for name, expr in places]
    found = []
    for value, where in stated.items():
        if len(where) != 1 or value in (0.0, 1.0) or where[0][2]:
            continue
        users = [name for name, used, _ in numbers if _close_to(value, used)]
        if len(users) > 1 and any(_close_to(value, limit) for _, _, limit in numbers):
            found.append((where[0][0].strip(), where[0][1], users))
    return found


def _close_to(value: float, numbers: set[float]) -> bool:
    return any(abs(n - value) <= 1e-9 * max(1.0, value) for n in numbers)


_GOAL_WORDS = {  # "at least"/"at most" state limits, not goals: only "the least", "the most"
    "minimize": re.compile(r"\b(minimi[sz]e|the minimum|decrease|reduce|lower|lowest|the least|fewest|smallest|"
                           r"cheapest|as few|as little)\b", re.I),
    "maximize": re.compile(r"\b(maximi[sz]e|the maximum|increase|highest|the most|largest|greatest|as many|"
                           r"as much)\b", re.I),
}


def goal_conflict(problem: str, sense: str) -> str | None:
    """The words of the problem's question that ask for the other direction than `sense`, else None.

    The question is the last sentence that asks ("?", "how many", "maximize", "minimize"...); it is judged
    only when its words point one way: "Planning to make a profit, how many sedans and how many buses should
    this tourism company purchase to decrease the total number of vehicles needed?" asks to minimize, and a
    model that maximized the seats took the profit for the goal (nl4opt_test_278).
    """
    asking = [s for s in sentences(problem) if "?" in s or re.search(r"\b(how (?:many|much)|determine|find|"
                                                                     r"maximi[sz]e|minimi[sz]e)\b", s, re.I)]
    if not asking:
        return None
    question = asking[-1]
    found = {goal: m.group(0) for goal, pattern in _GOAL_WORDS.items() if (m := pattern.search(question))}
    if len(found) != 1 or sense in found:
        return None
    (words,) = found.values()
    return re.search(rf"[^,;]*\b{re.escape(words)}\b[^,;?.]*", question, re.I).group(0).strip()  # type: ignore[union-attr]


def number_counts(number: str, name: str, description: str, problem: str) -> bool:
    """The problem writes `number` right before a word of this variable ("at least 5 trips", "30 liquid
    sanitizers"): a limit on it, where "requires 10 units of wood" only gives an amount per unit."""
    stems = word_stems(f"{name} {description}") - {"numbe", "amoun", "units", "total"}
    return any(_next_to(number, stems, sentence) for sentence in sentences(problem))


def constraints_about(sentence: str, constraints: list[tuple[str, str]], variable_names: list[str],
                      unused: list[str] | None = None) -> list[str]:
    """Names of the constraints that a sentence with unused numbers most likely belongs to.

    A constraint qualifies when its name shares a word with the sentence ("methane" and "... produces
    5 kg of methane gas") besides the variables' own words (which every sentence repeats), and either
    uses none of the sentence's numbers, or one of the `unused` numbers stands right before that word
    ("provides 150 calories" while calories took the price of the same sentence): the model wrote it
    with coefficients from elsewhere. `constraints` is [(name, expr), ...].
    """
    ignore = set().union(*(word_stems(n) for n in variable_names)) if variable_names else set()
    words = word_stems(sentence) - ignore
    numbers = sentence_quantities(sentence)
    found = []
    for name, expr in constraints:
        shared = (word_stems(name) - ignore) & words
        if shared and (not expression_numbers(expr) & numbers
                       or any(_next_to(n, shared, sentence) for n in unused or [])):
            found.append(name)
    return found


def limit_sides(expr: str) -> tuple[str, str, str] | None:
    """(variable side, operator, constant side) of one comparison against a constant, the constant put on
    the right ("800 >= x" is x <= 800); None for anything else."""
    parts, ops = _COMPARISON.split(expr), _COMPARISON.findall(expr)
    if len(parts) != 2 or len(ops) != 1:
        return None
    left, right, op = parts[0].strip(), parts[1].strip(), ops[0]
    if re.search(r"[A-Za-z_]", right) and not re.search(r"[A-Za-z_]", left):
        left, right, op = right, left, TURNED.get(op, op)
    return None if re.search(r"[A-Za-z_]", right) else (left, op, right)


def suggest_coefficients(sentence_numbers: list[tuple[list[str], str]], name: str, expr: str,
                         variables: dict[str, str]) -> str | None:
    """The constraint rewritten with the unused numbers of its sentences, one per variable, or None.

    For the slip `constraints_about` finds (a limit written with another row's coefficients, e.g.
    methane with the hay yields): each variable of the constraint takes the unused number of the one
    sentence that names it ("the windrower produces 5 kg of methane"), the number next to the
    constraint's own word ("5 kg of methane", "150 calories") when the sentence leaves several unused.
    The limit side stays as written. A small model ignores "uses none of its numbers" but copies a
    formula it is shown; this is only offered, and the checker judges whatever comes back.
    `variables` maps each variable name to its description.
    """
    sides = limit_sides(expr)
    if sides is None:
        return None
    left, op, right = sides
    used = [v for v in variables if re.search(rf"\b{re.escape(v)}\b", left)]
    if len(used) < 2:
        return None
    own = {n: word_stems(n + " " + variables[n]) for n in used}
    name_words = word_stems(name) - set().union(*own.values())
    coefficients: dict[str, str] = {}
    for var in used:
        distinct = own[var] - set().union(*(own[o] for o in used if o != var))
        about = [(nums, s) for nums, s in sentence_numbers if distinct & word_stems(s)]
        if len(about) != 1:
            return None
        nums, sentence = about[0]
        if len(nums) > 1:  # the one written next to the constraint's word: "150 calories", "5 kg of methane"
            nums = [n for n in nums if _next_to(n, name_words, sentence)]
        if len(nums) != 1 or nums[0].endswith("%"):
            return None
        coefficients[var] = nums[0].replace(",", "")
    terms = " + ".join(f"{coefficients[v]}*{v}" for v in used)
    return f"{terms} {op} {right.strip()}"


# A sentence that limits each item on its own ("at most 6 servings of any single food"), and words that
# make it about a total after all.
_EACH_ITEM = re.compile(r"\b(any single|any one|any individual|each single|each individual|of each|for each|"
                        r"each of (?:the|its|these|those)|per (?:item|product|food|type|kind|unit type))\b", re.I)
_TOTAL_WORDS = re.compile(r"\b(total|combined|in all|altogether|together|overall|sum)\b", re.I)


def per_item_limit_as_total(expr: str, sentence: str, variables: list[str]) -> tuple[list[str], str, str] | None:
    """(variables, direction, limit) when a plain sum of variables is limited by a sentence that speaks of
    each item on its own, else None.

    A 1.5B model writes "at most 6 servings of any single food" as the sum of all five foods <= 6 (the
    diet example), which turns a per-food cap into a cap on the whole menu and the request infeasible.
    """
    if not sentence or not _EACH_ITEM.search(sentence) or _TOTAL_WORDS.search(sentence):
        return None
    sides = limit_sides(expr)
    if sides is None or sides[1] not in ("<=", ">=", "<", ">") or not _numbers(sides[2]) & _numbers(sentence):
        return None
    left, op, right = sides
    terms = [t.strip() for t in left.split("+")]
    if len(terms) < 2 or len(set(terms)) != len(terms) or not all(t in variables for t in terms):
        return None
    return terms, op, right


def listed_limits_as_total(expr: str, sentence: str, variables: dict[str, str],
                           problem: str = "") -> list[tuple[str, str, str]] | None:
    """(variable, direction, limit) rows when a plain sum of variables is limited by one of several numbers
    that its sentence lists one per variable, else None.

    "The daily demand is limited to at most 8 regular models and 6 premium models" is regular <= 8 and
    premium <= 6; nl4opt_test_032's model wrote regular + premium <= 8 (17000 for 81000). Each variable of the
    sum must be named (by a word of its name or description that the others lack) within the few words
    after exactly one number of the sentence, each by another number, and the sentence must not speak of a
    total, nor may another sentence of `problem` state the limit as a total (nl4opt_test_170: "at most 70 small
    suitcases and 50 large suitcases" and "at most 70 suitcases in total"; the sum row was attributed to the
    first, and the right answer doubted). `variables`: name -> description.
    """
    sides = limit_sides(expr)
    if not sentence or sides is None or sides[1] not in ("<=", ">=") or _TOTAL_WORDS.search(sentence):
        return None
    left, op, right = sides
    if any(_TOTAL_WORDS.search(other) and _numbers(right) & _numbers(other)
           for other in sentences(problem) if other != sentence):
        return None
    terms = [t.strip() for t in left.split("+")]
    if len(terms) < 2 or len(set(terms)) != len(terms) or not all(t in variables for t in terms):
        return None
    limit = _numbers(right)
    stems = {t: word_stems(f"{t} {variables[t]}") for t in terms}
    own = {t: stems[t] - set().union(*(stems[o] for o in terms if o != t)) for t in terms}
    named: dict[str, list[str]] = {t: [] for t in terms}
    found = list(NUMBER_TOKEN.finditer(sentence))
    for i, m in enumerate(found):
        if m.group(2):
            continue  # a percentage is a share, not a limit
        # The words up to the next number: "30 desk-lamps and 50 night-lamps" names no night-lamps by 30.
        stop = found[i + 1].start() if i + 1 < len(found) else len(sentence)
        after = [w.lower()[:5] for w in _WORD.findall(" ".join(sentence[m.end():stop].split()[:4]))]
        for t in terms:
            if own[t] & set(after):
                named[t].append(m.group(1).replace(",", ""))
    if any(len(n) != 1 for n in named.values()):
        return None
    numbers = [n[0] for n in named.values()]
    if len(set(numbers)) != len(numbers) or not limit & {float(n) for n in numbers}:
        return None
    return [(t, op, named[t][0]) for t in terms]


def objective_cap(expr: str, objective: str, sense: str, problem: str,
                  borrowed: frozenset[float] = frozenset()) -> str | None:
    """The limit, when `expr` caps the objective's own expression in the direction it is optimized (under a
    minimization, `objective <= N`; under a maximization, `>= N`) with a number the text never states, or
    only states for another requirement of the model (`borrowed`: numbers stated once that another row uses).

    nl4opt_test_183 and _153 wrote "minimize the total pollution" also as `10*balloons + 15*gondolas <= 100`,
    a cap no sentence gives, and both ended infeasible; nl4opt_test_163 wrote it with the 80 cows the farmer
    needs to move, beside 3*helicopters + 7*trucks >= 80, and every repair kept both. Such a cap cannot change
    a feasible optimum (the optimum is already the least value), so it can only make the model infeasible: it
    is safe to remove.
    """
    return _objective_limit(expr, objective, ("<=", "<") if sense == "minimize" else (">=", ">"), problem,
                            borrowed)


def objective_floor(expr: str, objective: str, sense: str, problem: str) -> str | None:
    """The limit, when `expr` bounds the objective's own expression from the side it is optimized towards
    (under a minimization, `objective >= N`) with a number the text never states: the optimum is then that
    number, whatever the requirements say. nl4opt_test_117's first sample wrote "minimize his cholesterol
    intake" also as `12*burgers + 10*pizzas >= 240` (240 = 2*12*10, which the invented-number check allows as
    a product) and voted in 240 against the labelled 160. Unlike a cap, removing it changes the answer, so
    this is a question for the model."""
    return _objective_limit(expr, objective, (">=", ">") if sense == "minimize" else ("<=", "<"), problem)


def _objective_limit(expr: str, objective: str, operators: tuple[str, str], problem: str,
                     borrowed: frozenset[float] = frozenset()) -> str | None:
    sides = limit_sides(expr)
    if sides is None or re.sub(r"\s+", "", sides[0]) != re.sub(r"\s+", "", objective) or sides[1] not in operators:
        return None
    limit = _numbers(sides[2])  # a 0 is left to the doubt of a constraint that requires nothing
    return sides[2].strip() if limit and 0.0 not in limit and not (limit & _numbers(problem)) - borrowed else None


_BARE_TERM = re.compile(r"(?:^|[^*/\w.\s])\s*[A-Za-z_]\w*\b(?!\s*\()")


def expression_numbers(expr: str) -> set[float]:
    """The numbers an expression uses, the implicit coefficient 1 of a bare variable ("x + 2*y") included."""
    found = _numbers(expr)
    if _BARE_TERM.search(expr):
        found.add(1.0)
    return found


def _signed_terms(node: Node, sign: float = 1.0) -> list[tuple[float, Node]]:
    """The terms of a sum with their signs, through nested `+`, `-` and negation: `a - (b + 3)` is +a, -b, -3."""
    if isinstance(node, BinOp) and node.op in "+-":
        return _signed_terms(node.left, sign) + _signed_terms(node.right, sign if node.op == "+" else -sign)
    if isinstance(node, Unary) and node.op == "-":
        return _signed_terms(node.operand, -sign)
    return [(sign, node)]


def constant_of(text: str) -> float | None:
    """The value of a side made of numbers only ("150 + 180" is 330); None for anything else."""
    try:
        return _constant_value(parse_expr(text))
    except ExprError:
        return None


def _constant_value(node: Node) -> float | None:
    """The value of an expression made of numbers only; None when it names anything or divides by zero."""
    if isinstance(node, Num) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, Unary) and node.op == "-":
        inner = _constant_value(node.operand)
        return None if inner is None else -inner
    if not isinstance(node, BinOp):
        return None
    a, b = _constant_value(node.left), _constant_value(node.right)
    if a is None or b is None or (node.op == "/" and b == 0):
        return None
    if node.op == "^":
        return a**b if abs(b) <= 8 and (a > 0 or float(b).is_integer()) else None
    if node.op == "/":
        return a / b
    return {"+": a + b, "-": a - b, "*": a * b}.get(node.op)


def objective_offset(expr: str, problem: str) -> tuple[float, str] | None:
    """(the constant, the objective without it) when the objective adds a constant whose parts the text never
    states, beside terms with variables.

    nl4opt_test_020 maximized `6*banana_haters + 7*combo - 180 - 150` (180 and 150 are products of the text's
    numbers, stated nowhere), answered -316 for a profit whose label is 14, and won the vote. A constant cannot
    change the best plan, only the value reported for it, so without it the objective is exact; a constant the
    text states ("a fixed fee of $500") is kept.
    """
    try:
        terms = _signed_terms(parse_expr(expr))
    except ExprError:
        return None
    valued = [(sign, term, _constant_value(term)) for sign, term in terms]
    constants = [(sign, value) for sign, _, value in valued if value is not None]
    varying = [(sign, term) for sign, term, value in valued if value is None]
    total = sum(sign * value for sign, value in constants)
    if not varying or total == 0:
        return None
    stated = _numbers(problem)
    if _close_to(abs(total), stated) or all(_close_to(abs(value), stated) for _, value in constants):
        return None
    rest: Node = varying[0][1] if varying[0][0] > 0 else Unary("-", varying[0][1])
    for sign, term in varying[1:]:
        rest = BinOp("+" if sign > 0 else "-", rest, term)
    return total, to_text(rest)


def copied_example(data: ModelIR) -> str | None:
    """The origin of the worked example this model repeats, if it is one (a small model's way out
    when lost: it answers an earlier question instead of this one).

    Indexed constraints carry no data (`flow[i, j] <= capacity[i, j]`), so the same ones are what a right
    model of another network writes (fuel_network_flow, 2026-12-07: twice rejected as a copy of the flow
    pattern); there the data tables must be the example's too."""
    exprs = {c.expr.replace(" ", "") for c in data.constraints}
    tables = sorted(_numbers_in([p.value for p in data.parameters]))
    for ex in [*(ex for layout in LAYOUTS for ex in worked_examples(layout)), *_patterns()]:
        theirs = {str(c["expr"]).replace(" ", "") for c in ex["model"]["constraints"]}
        if exprs and exprs == theirs and tables == sorted(
                _numbers_in([p.get("value") for p in ex["model"].get("parameters", [])])):
            return ex["origin"]
    return None


def _numbers_in(value: Any) -> list[float]:
    """Every number in nested lists and mappings, as floats."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers_in(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _numbers_in(v)]
    return [float(value)] if isinstance(value, int | float) and not isinstance(value, bool) else []


_SMALL_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve").split()


def word_stems(text: str) -> set[str]:
    """Word stems (first five letters); a small count in digits also as its word, so "a 4-wheeler" and the
    variable four_wheelers share "four"."""
    found = {w.lower()[:5] for w in _WORD.findall(text.replace("_", " "))}
    for digits in re.findall(r"(?<![\d.,])(\d{1,2})(?![\d.,]*\d)", text):
        if 0 < int(digits) < len(_SMALL_NUMBER_WORDS):
            found.add(_SMALL_NUMBER_WORDS[int(digits)][:5])
    return found


# Words that state a limit's direction: a "<=" constraint comes from a sentence saying "at most", a ">="
# one from "at least" / "needs". Used only to break ties between sentences holding the same numbers.
_UPPER_WORDS = re.compile(r"\b(at most|no more than|not (?:to )?exceed|cannot exceed|up to|maximum|limit|limited|"
                          r"capacity|available|can carry|carry at most|can hold|less than|fewer than|budget|"
                          r"only has|has only)\b", re.I)
_LOWER_WORDS = re.compile(r"\b(at least|no less than|no fewer than|minimum|needs?|requires?|required|demand|"
                          r"more than|must (?:be )?exceed|must have|must be met)\b", re.I)


# A comparative under a negation a few words before it says the opposite: "does not want to spend more than
# $400000" is an upper limit (nl4opt_test_221, whose right `<=` was doubted and flipped). Words that carry
# their own negation ("no more than", "cannot exceed") are matched whole and never reach this.
_COMPARATIVE = re.compile(r"^(more than|less than|fewer than|must (?:be )?exceed)$", re.I)
_NEGATION_BEFORE = re.compile(r"(?:\bnot|\bcannot|\bnever|n't)\b(?:\W+\w+){0,4}\W*$", re.I)


def own_words(variables: dict[str, str]) -> dict[str, set[str]]:
    """Each variable's word stems (name and description) that no other variable of `variables` has: the
    words by which a sentence names that one and not another."""
    every = {v: word_stems(f"{v} {d}") for v, d in variables.items()}
    return {v: s - set().union(*(o for u, o in every.items() if u != v)) for v, s in every.items()}


def _negated(sentence: str, match: re.Match[str]) -> bool:
    """Whether a comparative limit word is negated within the four words before it, in its clause."""
    if not _COMPARATIVE.match(match.group(0)):
        return False
    before = sentence[:match.start()]
    clause = before[max(before.rfind(d) for d in ",;:") + 1:]
    return _NEGATION_BEFORE.search(clause) is not None


_EQUALITY = re.compile(r"==|(?<![<>!=])=(?!=)")  # "==" or a lone "=", not part of "<=", ">=", "!="


def _direction(expr: str) -> str | None:
    """"upper" when the expression bounds its variables from above ("x <= 5", "5 >= x"), "lower" when from below."""
    m = re.search(r"<=|>=|<|>", expr)
    if m is None:
        return None
    left_has_variables = bool(re.search(r"[A-Za-z_]", expr[:m.start()]))
    less = m.group().startswith("<")
    return "upper" if less == left_has_variables else "lower"


_MULTIPLIERS = {"twice": 2.0, "double": 2.0, "triple": 3.0, "thrice": 3.0, "half": 0.5, "quarter": 0.25}
_TIMES = re.compile(r"\b(\d+(?:\.\d+)?|two|three|four|five|six|seven|eight|nine|ten)\s+times\b", re.I)
TURNED = {"<=": ">=", ">=": "<=", "<": ">", ">": "<"}  # a comparison read from the other side
_RATIO = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*"
                    r"(?:(\d+(?:\.\d+)?)\s*\*\s*)?([A-Za-z_]\w*)\s*$")


def _sentence_multipliers(sentence: str) -> set[float]:
    """The ratios a sentence states in words: "twice", "half", "three times" (the k of "k times as many")."""
    found = {v for w, v in _MULTIPLIERS.items() if re.search(rf"\b{w}\b", sentence, re.I)}
    for m in _TIMES.finditer(sentence):
        word = m.group(1).lower()
        found.add(float(word) if word[0].isdigit() else _NUMBER_WORDS[word])
    return found


def _after_percentage(sentence: str, share: float) -> tuple[re.Match[str], str] | None:
    """(the percentage the sentence states for `share`, written 0.4 or 40, and the rest of its clause, up to a
    reason: "at most 40% of his concerts as R&B because he likes pop songs more" names pop in its reason,
    nl4opt_test_237), or None."""
    where = next((p for p in NUMBER_TOKEN.finditer(sentence) if p.group(2)
                  and float(p.group(1).replace(",", "")) / 100 in (share, share / 100)), None)
    if where is None:
        return None
    return where, re.split(r"[,;]|\b(?:because|since|while|although|but)\b", sentence[where.end():])[0]


_SHARE = re.compile(r"^\s*([A-Za-z_][\w\s+]*?)\s*(<=|>=)\s*(\d*\.?\d+)\s*\*\s*\(([A-Za-z_\w\s+]+)\)\s*$")


def share_on_wrong_variable(expr: str, sentence: str, variables: dict[str, str]) -> str | None:
    """`expr` with the share put on the variable the sentence gives it to, when the model put it on another
    or on the whole.

    "At most 40% of the birds can be owls" names the part after its percentage: owls <= 0.4*(pigeons +
    owls), which a small model writes as pigeons <= 0.4*(...) (nl4opt_test_195), or as the whole against its
    own share, rickshaws + scooters <= 40*(rickshaws + scooters), which holds for any plan or for none
    (nl4opt_test_168). Judged only for one variable, or the whole sum, against a fraction of a plain sum, when
    exactly one variable of that sum is recognised after the percentage in its clause (by a word of its name
    or description that the others lack). A percentage written whole (40 for 40%) is written as its share.
    """
    m = _SHARE.match(expr)
    if m is None:
        return None
    left, op, fraction, inner = m.groups()
    parts = [p.strip() for p in inner.split("+")]
    terms = {t.strip() for t in left.split("+")}
    whole = terms == set(parts) and len(parts) > 1
    if not (whole or (len(terms) == 1 and left.strip() in parts)) or any(p not in variables for p in parts):
        return None
    value = float(fraction)
    stated = _after_percentage(sentence, value)
    if stated is None:
        return None
    where, after = stated
    share = f"{float(where.group(1).replace(',', '')) / 100:g}"
    said = {w.lower()[:5] for w in _WORD.findall(after)}
    stems = {p: word_stems(f"{p} {variables[p]}") for p in parts}
    named = [p for p in parts if (stems[p] - set().union(*(stems[q] for q in parts if q != p))) & said]
    if len(named) != 1 or (named[0] == left.strip() and float(share) == value):
        return None
    return f"{named[0]} {op} {share}*({inner.strip()})"


_SELF_SHARE = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=)\s*(\d*\.?\d+)\s*\*\s*\(?\s*([A-Za-z_]\w*)\s*\)?\s*$")


def share_of_itself(expr: str, sentence: str, variables: dict[str, str]) -> str | None:
    """`expr` with the share taken of the total, when the model took it of the variable itself.

    "at most 35% of the drinks should be omega brand" is omega <= 0.35*(alpha + omega); nl4opt_test_101 wrote
    omega <= 0.35*omega, which only says omega is 0, and every check passed. Judged only for a model of two
    variables and a share its sentence states as a percentage."""
    m = _SELF_SHARE.match(expr)
    if m is None or m.group(1) != m.group(4) or len(variables) != 2 or m.group(1) not in variables:
        return None
    var, op, fraction, _ = m.groups()
    shares = {round(float(d.replace(",", "")) / 100, 12) for d, pct in NUMBER_TOKEN.findall(sentence) if pct}
    if round(float(fraction), 12) not in shares:
        return None
    return f"{var} {op} {fraction}*({' + '.join(variables)})"


def share_of_the_other(expr: str, sentence: str, variables: dict[str, str]) -> str | None:
    """`expr` with the share taken of the total, when the model took it of the other variable.

    "at most 33% of the fruits he eats can be mangoes" is mangoes <= 0.33*(bananas + mangoes); nl4opt_test_131
    wrote mangoes <= 0.33*bananas (458 for 440) and no check doubted it; nl4opt_test_155 wrote "at most 30% of
    the performers can be otters" as dolphins <= 0.3*otters. Judged only for a model of two variables, a share
    its sentence states as a percentage of something that is neither variable ("of the fruits", not "of the
    bananas"), and a clause that names exactly one of the two after the percentage: that one takes the share."""
    m = _SELF_SHARE.match(expr)
    if m is None or len(variables) != 2 or m.group(1) == m.group(4) or not {m.group(1), m.group(4)} <= set(variables):
        return None
    var, op, fraction, other = m.groups()
    stated = _after_percentage(sentence, float(fraction))
    if stated is None or float(stated[0].group(1).replace(",", "")) / 100 != float(fraction):
        return None  # written as its share (0.33), not whole: that is `percent_as_whole`'s
    after = stated[1]
    own = own_words(variables)
    base = re.match(r"\s+of\s+(?:(?:the|all|his|her|its|their)\s+)?([A-Za-z]+)", after)
    if base is None or any(base.group(1).lower()[:5] in own[v] for v in variables):
        return None
    said = {w.lower()[:5] for w in _WORD.findall(after[base.end():])}
    named = [v for v in (var, other) if own[v] & said]
    if len(named) != 1:
        return None
    return f"{named[0]} {op} {fraction}*({var} + {other})"


_COUNT_BOUND = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|==)\s*(\d[\d,]*(?:\.\d+)?)\s*$")


def bound_on_wrong_variable(expr: str, sentence: str, variables: dict[str, str]) -> str | None:
    """`expr` with its bound put on the variable its sentence counts, when the model put it on another.

    "at least 50 golden retrievers must be used" is golden_retrievers >= 50; nl4opt_test_185 wrote
    labradors >= 50. Judged only where limit words stand right before the number ("at least 50"), and the words
    right after it name exactly one variable (by a word of its name or description that the others lack),
    another than the bounded one."""
    m = _COUNT_BOUND.match(expr)
    if m is None or m.group(1) not in variables or not sentence:
        return None
    var, op, limit = m.groups()
    value = float(limit.replace(",", ""))
    own = own_words(variables)
    named = []
    for n in NUMBER_TOKEN.finditer(sentence):
        if n.group(2) or float(n.group(1).replace(",", "")) != value:
            continue
        if not any(0 <= n.start() - m.end() <= 12 for _, m in _limit_words(sentence)):
            continue  # "requires 14 units of palladium" gives a figure; "at least 50 golden retrievers" a bound
        after = {w.lower()[:5] for w in _WORD.findall(" ".join(sentence[n.end():].split()[:3]))}
        named += [v for v in variables if own[v] & after]
    if len(set(named)) != 1 or named[0] == var:
        return None
    return f"{named[0]} {op} {limit}"


def _named_first(sentence: str, at: int, one: str, other: str, variables: dict[str, str]) -> str | None:
    """Which of two variables the clause that states a ratio at position `at` names first, by a word of its
    name or description that the other lacks; None when either is not recognised there.

    The clause, not the sentence: "Since ferry trips are slow, the number of light rail trips has to be at
    least 4 times the number of ferry trips" names the ferries first in its reason, not in its ratio.
    """
    clause = sentence[max(sentence.rfind(d, 0, at) for d in ",;:") + 1:]
    words = [w.lower()[:5] for w in _WORD.findall(clause)]
    stems = {v: word_stems(f"{v} {variables[v]}") for v in (one, other)}

    def first(v: str) -> int | None:
        own = stems[v] - stems[other if v == one else one]
        return next((i for i, w in enumerate(words) if w in own), None)

    at_one, at_other = first(one), first(other)
    if at_one is None or at_other is None:
        return None
    return one if at_one < at_other else other


def _two_variable_ratio(expr: str, variables: dict[str, str]) -> tuple[str, str, str, str, str, str] | None:
    """(left coefficient, left, operator, right coefficient, right, the multiplied one) of `k*a op b` or
    `a op k*b` between two known variables, else None."""
    m = _RATIO.match(expr)
    if m is None or m.group(2) == m.group(5) or bool(m.group(1)) == bool(m.group(4)):
        return None
    left_coef, left, op, right_coef, right = m.groups()
    if left not in variables or right not in variables:
        return None
    return left_coef, left, op, right_coef, right, left if left_coef else right


def swapped_ratio(expr: str, sentence: str, variables: dict[str, str]) -> str | None:
    """`expr` with its two variables swapped, when it puts a sentence's ratio on the wrong one, else None.

    "at least twice as many small kegs as large kegs" and "the number of A must be at least three times
    the number of B" both name first the variable the ratio does not multiply: small >= 2*large. A small
    model often writes large >= 2*small (nl4opt_test_180: 1200 for 1480). Judged only for a comparison of
    two variables, one multiplied by a ratio the sentence states in words, each variable recognised in the
    sentence by a word of its name or description that the other lacks. `variables`: name -> description.
    """
    ratio = _two_variable_ratio(expr, variables)
    if ratio is None:
        return None
    left_coef, left, op, right_coef, right, multiplied = ratio
    if float(left_coef or right_coef) not in _sentence_multipliers(sentence):
        return None
    plain = right if multiplied == left else left
    at = _ratio_word(sentence, float(left_coef or right_coef), fractions=False)
    if at is None or _named_first(sentence, at[0], multiplied, plain, variables) != multiplied:
        return None
    return f"{left_coef}*{right} {op} {left}" if left_coef else f"{right} {op} {right_coef}*{left}"


_FRACTION_OF = re.compile(r"\b(?:(?:a|one)\s+(third|quarter|fourth|fifth)|(half))\b", re.I)
_DENOMINATORS = {"half": 2.0, "third": 3.0, "quarter": 4.0, "fourth": 4.0, "fifth": 5.0}


def inverted_fraction(expr: str, sentence: str, variables: dict[str, str]) -> tuple[str, str] | None:
    """(the fraction's words, `expr` with its denominator on the other variable) when the model multiplied
    the wrong one by it, else None.

    "the number of wide pipes can be at most a third the number of narrow pipes" is wide <= narrow/3, that
    is 3*wide <= narrow: the denominator multiplies the one named first. A small model writes wide <=
    3*narrow (nl4opt_test_225: 40 pipes for 52). Judged as `swapped_ratio` is, for a coefficient that is the
    denominator of the sentence's only fraction word and not a number the sentence writes in digits.
    """
    ratio = _two_variable_ratio(expr, variables)
    if ratio is None:
        return None
    left_coef, left, op, right_coef, right, multiplied = ratio
    coefficient = float(left_coef or right_coef)
    fractions = [m for m in _FRACTION_OF.finditer(sentence)]
    if len(fractions) != 1 or _DENOMINATORS[(fractions[0].group(1) or "half").lower()] != coefficient:
        return None
    if coefficient in digits_stated(sentence):
        return None
    plain = right if multiplied == left else left
    if _named_first(sentence, fractions[0].start(), multiplied, plain, variables) != plain:
        return None
    fixed = f"{left} {op} {left_coef}*{right}" if left_coef else f"{right_coef}*{left} {op} {right}"
    return fractions[0].group(0), fixed


def _ratio_word(sentence: str, coefficient: float, fractions: bool = True) -> tuple[int, bool] | None:
    """(where, whether it is a fraction whose denominator is `coefficient`) of the first word of the sentence
    that states `coefficient` as a ratio ("twice", "3 times", "half") or, with `fractions`, as a fraction
    ("a third" for 3)."""
    places = [(m.start(), False) for m in re.finditer(rf"\b({'|'.join(_MULTIPLIERS)})\b", sentence, re.I)
              if _MULTIPLIERS[m.group(1).lower()] == coefficient]
    places += [(m.start(), False) for m in _TIMES.finditer(sentence)
               if (float(m.group(1)) if m.group(1)[0].isdigit() else _NUMBER_WORDS[m.group(1).lower()]) == coefficient]
    places += [(m.start(), True) for m in _FRACTION_OF.finditer(sentence) if fractions
               and _DENOMINATORS[(m.group(1) or "half").lower()] == coefficient]
    return min(places) if places else None


def ratio_direction(expr: str, sentence: str, variables: dict[str, str]) -> tuple[str, str] | None:
    """(the sentence's limit words, `expr` with its operator turned) when a ratio between two variables,
    written on the right variable, bounds it from the other side than its sentence says, else None.

    "at least twice as many small bouquets as large bouquets" is small >= 2*large; nl4opt_test_160's second
    sample wrote small <= 2*large (600 for 465) and passed every check. Judged only where the clause states
    one direction before its ratio word, and the multiplied variable is the one the ratio belongs to (when it
    is not, `swapped_ratio` or `inverted_fraction` says so).
    """
    ratio = _two_variable_ratio(expr, variables)
    if ratio is None:
        return None
    left_coef, left, op, right_coef, right, multiplied = ratio
    found = _ratio_word(sentence, float(left_coef or right_coef))
    if found is None:
        return None
    at, fraction = found
    plain = right if multiplied == left else left
    first = _named_first(sentence, at, multiplied, plain, variables)
    if first is None or (first == multiplied) != fraction:
        return None
    start = max(sentence.rfind(d, 0, at) for d in ",;:") + 1
    said = {kind: m for kind, m in _limit_words(sentence) if start <= m.start() < at}
    if len(said) != 1:
        return None
    kind, words = next(iter(said.items()))
    bounded_from = "upper" if op.startswith("<") == (first == left) else "lower"
    if bounded_from == kind:
        return None
    turned = TURNED[op]
    return words.group(0), expr.replace(op, turned, 1)


_COMPARATIVE = re.compile(r"\b(?:(no|not)\s+)?(?:(more|greater|larger|higher)|(fewer|less|smaller|lower))\b"
                          r"(?=[^,;:.]*?\b(than)\b)|\b(at least|at most|no more|no fewer|no less)\s+as\s+many\b"
                          r"(?=[^,;:.]*?\b(as)\b)", re.I)


def comparison_direction(expr: str, sentence: str, variables: dict[str, str]) -> tuple[str, str] | None:
    """(the sentence's comparative words, `expr` with its operator turned) when a plain comparison of two
    variables points the other way than "more A than B" / "fewer A than B" / "at least as many A as B" says,
    else None.

    A is the larger after "more" (and "at least as many"), the smaller after "fewer"/"less" (and "at most as
    many"); "no more than" turns it round. nl4opt_test_230: "the student must take more calcium pills than
    vitamin D pills" written vitamin_d_pills >= calcium_pills (715 for 690) passed every check. Judged only
    for `a op b` without coefficients (a ratio is `ratio_direction`'s), in a sentence with one comparative,
    where the words after "than" (or "as") name one variable alone and the words of its clause before them
    name the other (by words of its name or description that the first lacks)."""
    m = _RATIO.match(expr)
    if m is None or m.group(1) or m.group(4) or m.group(2) == m.group(5):
        return None
    left, op, right = m.group(2), m.group(3), m.group(5)
    if left not in variables or right not in variables:
        return None
    found = list(_COMPARATIVE.finditer(sentence))
    if len(found) != 1:
        return None
    said = found[0]
    split = said.start(4) if said.group(4) else said.start(6)
    clause_start = max(sentence.rfind(d, 0, said.start()) for d in ",;:") + 1
    clause_end = min([i for d in ",;:." if (i := sentence.find(d, split)) >= 0] or [len(sentence)])
    before, after = word_stems(sentence[clause_start:split]), word_stems(sentence[split:clause_end])
    own = own_words({left: variables[left], right: variables[right]})
    named_after = [v for v in (left, right) if own[v] & after]
    if len(named_after) != 1:
        return None
    second = named_after[0]
    first = right if second == left else left
    if not own[first] & before:
        return None
    if said.group(5):
        first_is_larger = said.group(5).lower() in ("at least", "no fewer", "no less")
    else:
        first_is_larger = bool(said.group(2)) != bool(said.group(1))
    larger = first if first_is_larger else second
    if (larger == left) == op.startswith(">"):
        return None
    turned = TURNED[op]
    return said.group(0), expr.replace(op, turned, 1)


def _limit_words(sentence: str) -> list[tuple[str, re.Match[str]]]:
    """The sentence's limit words as ("upper" | "lower", match), a negation before one turning it round
    ("does not want to spend more than"); "more than" inside "no more than" is not read twice."""
    found = [(kind, m) for kind, pattern in (("upper", _UPPER_WORDS), ("lower", _LOWER_WORDS))
             for m in pattern.finditer(sentence)]
    words = []
    for kind, m in found:
        if any(o is not m and o.start() <= m.start() and m.end() <= o.end() and o.end() - o.start() >
               m.end() - m.start() for _, o in found):
            continue
        if _negated(sentence, m):
            kind = "upper" if kind == "lower" else "lower"
        words.append((kind, m))
    return words


# The next number of a list after a limit's number: "at least 100 grams of protein and 2000 calories", "20 black
# teddy bears, 5 white teddy bears, and 15 brown" (a few words of what it counts, then "," or "and"). Only after
# words that state nothing but a limit: "requires 15 units of platinum and 25 units of palladium" lists figures.
_NEEDED_AFTER = re.compile(r"(?:\s+[A-Za-z]+){1,4}?\s+(?:needs?|must|ha(?:s|ve)) to\b(?!\s+not)", re.I)
# "There are 450 units of platinum and 390 units of palladium available": a capacity said after its numbers, in
# a clause that gives no item's figure (nl4opt_test_257: a row >= 450 on it passed every check).
_LISTED_WORD = r"\s+(?!(?:and|or|but|they|he|she|it|we|there|which|that|each|per)\b)[A-Za-z%/-]+"
_AVAILABLE_AFTER = re.compile(rf"(?:{_LISTED_WORD}){{1,4}}?(?:\s*(?:,\s*(?:and\s+)?|\s+and\s+)\$?\d[\d,]*(?:\.\d+)?"
                              rf"(?:{_LISTED_WORD}){{1,4}}?)*\s+(?:(?:are|is)\s+)?(?:available|in stock|on hand)\b",
                              re.I)
_LIST_HEADS = re.compile(r"at (?:least|most)|no (?:more|less|fewer) than|minimum|maximum|up to", re.I)
_LISTED = re.compile(r"(?:\s+[A-Za-z%/-]+){1,4}?\s*(?:,\s*(?:and\s+)?|\s+and\s+)\$?(\d[\d,]*(?:\.\d+)?)(?![\d.])")


def direction_conflict(expr: str, sentence: str) -> tuple[str, str] | None:
    """(the sentence's limit words, the operator they need) when they say the opposite direction of
    `expr`, else None.

    Only for a limit against a constant ("x + y <= 100") whose number the sentence states right after
    words of one direction ("at least 100", "requires 1000 hours"): under a "<=" that is the inequality
    flipped, a small model's most common slip; under "==" a bound written as an equality (unless the
    sentence says "exactly"). Words that describe a coefficient ("needs 20 kg for lager") are not
    followed by the limit, and a sentence with both directions says nothing here.
    """
    parts = _COMPARISON.split(expr)
    if len(parts) != 2 or all(re.search(r"[A-Za-z_]", p) for p in parts):
        return None
    direction = _direction(expr)
    if direction is None and _EQUALITY.search(expr):
        direction = "equal"  # an equality where the text may only state a bound ("requires 1000 hours")
    limits = {n for p in parts if not re.search(r"[A-Za-z_]", p) for n in _numbers(p)} - {0.0}
    if direction is None or not limits:
        return None
    said: dict[str, str] = {}
    for kind, m in _limit_words(sentence):
        after = re.match(r"(?:\W+\w+){0,2}?\W+(\d[\d,]*(?:\.\d+)?)", sentence[m.end():])
        end = m.end() + after.end() if after else 0
        listed = [after.group(1)] if after else []
        # "at least 100 grams of protein and 2000 calories": the limit word governs each number of its list
        while after and _LIST_HEADS.match(m.group(0)) and (after := _LISTED.match(sentence, end)):
            listed.append(after.group(1))
            end = after.end()
        for number in listed:
            if float(number.replace(",", "")) in limits:
                said.setdefault(kind, sentence[m.start():end])
    if not said:  # "If 2000 units of ore need to be taken": a requirement said after its number
        for m in NUMBER_TOKEN.finditer(sentence):
            after = _NEEDED_AFTER.match(sentence, m.end())
            if after and not m.group(2) and float(m.group(1).replace(",", "")) in limits:
                said.setdefault("lower", sentence[m.start():after.end()])
            available = _AVAILABLE_AFTER.match(sentence, m.end())
            if available and not m.group(2) and float(m.group(1).replace(",", "")) in limits:
                said.setdefault("upper", sentence[m.start():available.end()])
    if len(said) != 1:
        return None
    kind, words = next(iter(said.items()))
    if direction == "equal" and re.search(r"\b(exactly|precisely)\b", sentence, re.I):
        return None
    return (words, "<=" if kind == "upper" else ">=") if kind != direction else None


_PERMISSION = re.compile(r"\b(?:can|could|may|might)\b", re.I)


def stated_direction(expr: str, sentence: str) -> str | None:
    """`expr` turned the way its sentence states, when `direction_conflict` finds it reversed and the words are
    nothing but a limit ("at least 100 grams of protein and 2000", "at most 90"): then the rewrite is exact.
    Not for "requires", "needs", "available" under an inequality: those words also describe an item's figures;
    an equality whose own limit the sentence "needs" is a bound written as an equality (nl4opt_test_162: "needs
    to transport 300 monkeys" as 20*bus_trips + 6*car_trips == 300, kept by every repair, 570 for 555)."""
    flipped = direction_conflict(expr, sentence)
    sides = limit_sides(expr)
    equality = _direction(expr) is None
    if flipped is None or sides is None or not (equality or _LIST_HEADS.match(flipped[0])) or \
            _PERMISSION.search(sentence):
        return None  # "at least 300 units of chemicals can be used" reads as a capacity too (nl4opt_test_105)
    return f"{sides[0].strip()} {flipped[1]} {sides[2].strip()}"


_LIMIT_WORD = r"at least|no less than|no fewer than|a minimum of|at most|no more than|a maximum of|up to"


def _sense(limit_word: str) -> str:
    """The operator a limit word of `_LIMIT_WORD` states, by the direction words every check reads."""
    return "<=" if _UPPER_WORDS.search(limit_word) else ">="


_LIMIT_NUMBER = r"\$?\d[\d,]*(?:\.\d+)?(?![\d.,]*\d|\s*%)"  # a limit in digits, not a percentage
_RANGE = re.compile(rf"\b(?P<w1>{_LIMIT_WORD})\s+(?P<n1>{_LIMIT_NUMBER})(?P<mid>(?:\s+[A-Za-z]+){{0,3}}?)\s*,?\s+"
                    rf"(?:but|and)\s+(?:also\s+)?(?P<w2>{_LIMIT_WORD})\s+(?P<n2>{_LIMIT_NUMBER})", re.I)
_NAME_FILLERS = {"number", "num", "n", "of", "amount", "total", "qty", "units", "count"}
_RANGE_BOUND = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=)\s*(\d+(?:\.\d+)?)\s*$")


def stated_range(expr: str, sentence: str) -> str | None:
    """The other end of a range its sentence states for one quantity, when `expr` bounds a variable by one end
    only: nl4opt_test_009's "at least 300 carrots but at most 500 carrots are sold" written `carrots >= 300`
    alone (1249.55 for 507.8); the answer is `carrots <= 500`. The two limits are joined by "but"/"and", the
    first with no noun or with the noun the second repeats, so both are of one quantity (not nl4opt_test_269's
    "at most 200 total hours and at least 4 runners", nor 262's "at most 25 motorboat trips and at least 75% of
    the trips"), and every word of the variable's name ("radio" and "ads" of radio_ads) is among the range's
    words or the three after it."""
    bound = _RANGE_BOUND.match(expr)
    if bound is None or not sentence:
        return None
    var, op, number = bound.groups()
    named = {w[:5] for w in var.lower().split("_") if w and w not in _NAME_FILLERS}
    for m in _RANGE.finditer(sentence):
        around = sentence[m.start():m.end()] + " " + " ".join(sentence[m.end():].split()[:3])
        mid, after = m.group("mid").split(), sentence[m.end():].split()
        if mid and (not after or after[0].lower().rstrip("s.,;") != mid[-1].lower().rstrip("s.,;")):
            continue  # "at most 200 total hours and at least 4 runners": two quantities, each with its noun
        said = {form[:5] for w in re.findall(r"[A-Za-z]{3,}", around) for form in (w.lower(), w.lower().rstrip("s"))}
        if not named or not named <= said:
            continue  # the range is of another quantity than the bounded variable
        ends = [(_sense(m.group(f"w{k}")), float(re.sub(r"[$,]", "", m.group(f"n{k}"))))
                for k in (1, 2)]
        if ends[0][0] == ends[1][0]:
            continue  # "at least 20 A and at least 30 B": two items' limits, not a range
        for (sense, value), (other_sense, other) in (ends, ends[::-1]):
            if sense == op and value == float(number):
                return f"{var} {other_sense} {other:g}"
    return None


_PER_ITEM = re.compile(r"\b(?:each|per|every|can (?:carry|take|hold|transport))\b", re.I)


def unstated_bound(sentence: str, number: str, variables: dict[str, str]) -> str | None:
    """The bound a limit word puts on one variable, for a number of `sentence` the model uses nowhere:
    nl4opt_test_163's "he only has enough money for at most 8 truck trips", left out by every sample and every
    repair (115 for 120), is `trucks <= 8`. The words after the number (up to three) must name exactly one
    variable by its own words, and the clause before the limit word says no "each"/"per" (a truck "can carry at
    most 7 cows" is a figure of an item, not a limit on it)."""
    own = own_words(variables)
    for m in re.finditer(rf"\b({_LIMIT_WORD})\s+\$?{re.escape(number)}(?![\d.,]*\d)((?:\s+[A-Za-z][A-Za-z-]*){{1,3}})",
                         sentence, re.I):
        clause = re.split(r"[,;]", sentence[:m.start()])[-1]
        if _PER_ITEM.search(clause):
            continue
        named = [v for v, words in own.items() if words & word_stems(m.group(2))]
        if len(named) == 1:
            return f"{named[0]} {_sense(m.group(1))} {number.replace(',', '')}"
    return None


_KEYWORDS = {"sum", "min", "max", "in", "where", "and", "or", "not", "abs"}


_COMPARES = re.compile(r"\b(?:more|less|fewer|larger|greater|smaller|higher|lower|than|exceeds?|at (?:least|most)|"
                       r"twice|times|as many|as much|ratio|half|third|quarter|percent|equal|if|unless|both|"
                       r"exactly)\b|%", re.I)


_CONDITION = re.compile(r"\b(?:if|unless)\b", re.I)
_OBLIGATION = re.compile(r"\b(?:must|only|cannot|can't|also|too|has to|have to|requires?)\b", re.I)


def conditional_choices(problem: str, constraints: list[tuple[str, str, str | None]],
                        choices: dict[str, str]) -> list[tuple[str, str | None, str]]:
    """Conditions between yes/no choices written wrong or not at all: (constraint name or "", its expression
    or None, sentence) for a condition ("If the ERP upgrade is chosen, the data warehouse must be chosen too")
    written as an equality (`erp + dw == 1` makes exactly one happen), and for a condition sentence naming two
    or more of the choices that no constraint states (project_selection's portal-needs-audit rule).
    `constraints`: (name, expr, source); `choices`: binary variable -> description."""
    stems = own_words(choices)  # a choice is named by its own words, not by shared ones ("chosen", "project")
    found: list[tuple[str, str | None, str]] = []
    stated = set()
    for name, expr, source in constraints:
        if not source:
            continue
        stated.add(source)
        names = set(re.findall(r"[A-Za-z_]\w*", expr))
        if (_CONDITION.search(source) and len(names) >= 2 and names <= set(choices)
                and _EQUALITY.search(expr)):
            found.append((name, expr, source))
    for sentence in sentences(problem):
        if sentence in stated or not (_CONDITION.search(sentence) and _OBLIGATION.search(sentence)):
            continue
        words = word_stems(sentence)
        if sum(1 for v in choices if stems[v] & words) >= 2:
            found.append(("", None, sentence))
    return found


_FRACTION_WORDS = {1 / 3: "a third", 2 / 3: "two thirds", 1 / 6: "a sixth"}


def _rounded_fraction(value: float) -> tuple[float | None, str]:
    """(the fraction, its words) when `value` is a rounding of a third, two thirds or a sixth (0.3, 0.33,
    0.67), not the fraction itself; (None, "") otherwise."""
    for fraction, words in _FRACTION_WORDS.items():
        if 1e-6 < abs(value - fraction) < 0.04:
            return fraction, words
    return None, ""


def rounded_fractions(problem: str, expr: str, source: str = "") -> list[tuple[str, str]]:
    """Numbers of an expression that round a fraction the text states in words: (number, the words).
    nl4opt_test_275: "at most a third as much chemical A as chemical B" as `chemical_A <= 0.3*chemical_B`.
    Not a number the text also writes in digits (nl4opt_test_009's carrot at $0.30 beside "a third"), unless
    the row's own sentence (`source`) states the fraction and not the digits: 009's "the number of cucumbers
    sold is at most a third of the number of carrots sold" written `cucumbers <= 0.3*carrots`."""
    stated = _numbers(problem)
    own = _numbers(source) if source else set()
    found = []
    for digits, _ in NUMBER_TOKEN.findall(expr):
        fraction, words = _rounded_fraction(float(digits))
        if fraction is None:
            continue
        if (fraction in own and float(digits) not in own) or (fraction in stated and float(digits) not in stated):
            found.append((digits, words))
    return list(dict.fromkeys(found))


def attach_sources(data: dict[str, Any], problem: str) -> None:
    """Give each constraint without a "source" the sentence of the problem it most likely states.

    A sentence scores by the constraint's limit (the constant side of the comparison), then by the
    other numbers of the constraint it contains (a word problem states each number once), then by
    whether it words a limit of the constraint's direction ("at most" for <=, "needs" for >=: the
    same number can be a demand in one sentence and a capacity in another), then by words shared
    with the constraint's name and its variables' descriptions. No evidence, no
    source: a guess would mislead an explanation.
    """
    parts = sentences(problem)
    facts = [(_numbers(s), word_stems(s), "upper" if _UPPER_WORDS.search(s) else None,
              "lower" if _LOWER_WORDS.search(s) else None) for s in parts]
    described = {str(v.get("name")): str(v.get("description") or "") for v in data.get("variables") or []
                 if isinstance(v, dict)}
    # An indexed model keeps its numbers in parameter tables: a parameter named in the expression stands
    # for its numbers (and for its name's words: "shop_hours" ~ "the cutting shop has 120 hours").
    tables = {str(p.get("name")): json.dumps(p.get("value")) for p in data.get("parameters") or []
              if isinstance(p, dict)}

    scales = text_scales(problem)

    def numbers_of(side: str) -> set[float]:
        found = _numbers(side)
        for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", side):
            found |= _numbers(tables.get(name, ""))
        found |= {n / scale for n in found for scale in scales if scale > 1 and n % scale == 0}
        return found | {fraction for n in found for fraction, _ in [_rounded_fraction(n)] if fraction}

    for c in data.get("constraints") or []:
        if not isinstance(c, dict) or c.get("source") or not isinstance(c.get("expr"), str):
            continue
        expr = c["expr"]
        nums = {n for n in numbers_of(expr) if n not in (0.0, 1.0)}
        # The limit itself (a side of the comparison with no variable) names the sentence best.
        sides = _COMPARISON.split(expr)
        bound = set(re.findall(r"([A-Za-z_]\w*)\s+in\b", f"{c.get('forall') or ''} {expr}")) | _KEYWORDS
        limits = {n for side in sides  # a side of numbers and parameter tables only
                  if all(name in tables or name in bound for name in re.findall(r"[A-Za-z_]\w*", side))
                  for n in numbers_of(side)} & nums
        words = word_stems(str(c.get("name") or ""))
        for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr):
            words |= word_stems(described.get(name, "")) | (word_stems(name) if name in tables else set())
        direction = _direction(expr)
        best, best_score = None, (0, 0, 0, 0)
        for sentence, (s_nums, s_words, upper, lower) in zip(parts, facts, strict=True):
            agrees = direction is not None and direction in (upper, lower)
            shared = len(words & s_words)
            if nums:
                score = (len(limits & s_nums), len(nums & s_nums), int(agrees), shared)
            elif shared >= 2 and _COMPARES.search(sentence):
                # A comparison of variables alone ("van_trips >= truck_trips") comes from a sentence that
                # names its things and compares or conditions; the words it shares rank before limit words
                # (nl4opt_test_149: "needs at least 1500 boxes" beat "trips by van must be larger than"), and a
                # sentence comparing two things ("more A than B") ranks before one stating limits only
                # (nl4opt_test_230: "at least 130 pills ... at least 40 should be vitamin D" beat it).
                score = (0, 0, shared, 2 * int(bool(_COMPARATIVE.search(sentence))) + int(agrees))
            else:
                continue
            if score > best_score:
                best, best_score = sentence, score
        if best is not None and (not nums or best_score[1] > 0 or best_score[3] >= 2):  # no nums: 2 words
            c["source"] = best


_IMPLICATION = re.compile(r"^\s*([A-Za-z_]\w*)\s*<=\s*([A-Za-z_]\w*(?:\s*\+\s*[A-Za-z_]\w*)*)\s*$")
_ONLY_IF = re.compile(r"\bonly\b[\w\s]{0,20}?\bif\b", re.I)


def implication_turned_around(expr: str, source: str | None, choices: dict[str, str]) -> str | None:
    """The row read the right way round when a condition between yes/no choices is written backwards: "If the
    ERP upgrade is chosen, the data warehouse must be chosen too" as `dw <= erp` (the example run of
    project_selection: its only error). "If A, B" reads A <= B; "A only if B or C" reads A <= B + C. Only a
    row of single choices with coefficient 1, whose sentence names each choice on one side of its "if"."""
    m = _IMPLICATION.match(expr)
    if not source or m is None or not _CONDITION.search(source):
        return None
    left, right = {m.group(1)}, {t.strip() for t in m.group(2).split("+")}
    if not (left | right) <= set(choices) or left & right:
        return None
    only = _ONLY_IF.search(source)
    cut = (only.end() if only else _CONDITION.search(source).end())  # type: ignore[union-attr]
    if not only:  # "If A is chosen, B must ...": the condition runs to its comma or "then"
        rest = re.split(r",|\bthen\b", source[cut:], maxsplit=1)
        if_part, main_part = rest[0], (rest[1] if len(rest) > 1 else "")
    else:  # "A can only be done if B or C": the condition is what follows
        if_part, main_part = source[cut:], source[:only.start()]
    own = own_words(choices)
    in_if = [v for v in choices if own[v] & word_stems(if_part)]
    in_main = [v for v in choices if own[v] & word_stems(main_part)]
    premise, needed = (in_main, in_if) if only else (in_if, in_main)  # premise <= the sum of what it needs
    if (set(in_if) & set(in_main) or len(premise) != 1 or not needed or not (left | right) <= set(in_if + in_main)
            or set(premise) != right):
        return None
    return f"{premise[0]} <= {' + '.join(needed)}"


_EXACTLY_ONE = re.compile(r"\bexactly one\b|\bone and only one\b", re.I)


def assignment_rows_missing(variables: dict[str, str], rows: list[tuple[str, str]],
                            problem: str) -> list[tuple[str, str]]:
    """The "exactly one" rows of the other side of an assignment, when the model wrote only one side: "Each
    clerk gets exactly one task and each task goes to exactly one clerk" with a row per clerk and none per task
    (the example run of assignment: 175 for 180, two clerks on one task). `variables`: binary name ->
    description, named row_column (`ana_invoicing`); `rows`: (name, expr). Returns the (name, expr) to add."""
    if len(_EXACTLY_ONE.findall(problem)) < 2 or len(variables) < 4:
        return []
    for k in range(1, 4):  # how many name parts the first side takes ("market_square_east": 1 or 2)
        parts = [v.split("_") for v in variables]
        if any(len(p) <= k for p in parts):
            break
        firsts = list(dict.fromkeys("_".join(p[:k]) for p in parts))
        seconds = list(dict.fromkeys("_".join(p[k:]) for p in parts))
        if len(firsts) < 2 or len(seconds) < 2 or len(firsts) * len(seconds) != len(variables):
            continue
        grid = {(a, b): f"{a}_{b}" for a in firsts for b in seconds}
        if set(grid.values()) != set(variables):
            continue
        written: dict[frozenset[str], str] = {}
        for _, expr in rows:
            m = re.fullmatch(r"\s*([A-Za-z_]\w*(?:\s*\+\s*[A-Za-z_]\w*)+)\s*(==|<=|>=)\s*1\s*", expr)
            if m:
                written[frozenset(t.strip() for t in m.group(1).split("+"))] = m.group(2)
        by_first = [frozenset(grid[a, b] for b in seconds) for a in firsts]
        by_second = [frozenset(grid[a, b] for a in firsts) for b in seconds]
        for have, missing, labels in ((by_first, by_second, seconds), (by_second, by_first, firsts)):
            ops = {written.get(group) for group in have}
            if len(ops) == 1 and None not in ops and not any(group in written for group in missing):
                op = ops.pop()
                return [(f"{label}_exactly_one", f"{' + '.join(sorted(group, key=list(variables).index))} {op} 1")
                        for label, group in zip(labels, missing, strict=True)]
    return []


_COVER_ROW = re.compile(r"\s*([A-Za-z_]\w*(?:\s*\+\s*[A-Za-z_]\w*)*)\s*>=\s*1\s*")


def coverage_rows_misread(problem: str, choices: dict[str, str],
                          rows: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Coverage rows whose sites are not the ones the text lists: (name, expr, the row it reads). The text gives
    what each site covers in the site's own sentence ("A station at Riverside costs $50,000 per year and
    reaches Northgate, Docks and Old Town"); a row per district needs the transpose, which the 1.5B model gets
    wrong (the example run of ambulance_set_cover: `northgate_reach: riverside + market_square >= 1` for
    Riverside and Old Mill). A row's district is its name's words that name no site and are not in every site's
    sentence; its sites are those whose own sentence holds those words. `choices`: binary name -> description;
    `rows`: (name, expr)."""
    if not re.search(r"\bat least one\b", problem, re.I) or len(choices) < 2:
        return []
    own = own_words(choices)
    site_sentence: dict[str, set[str]] = {}
    for sentence in sentences(problem):
        words = word_stems(sentence)
        named = [v for v in choices if own[v] and own[v] <= words]
        if len(named) == 1 and named[0] not in site_sentence:
            site_sentence[named[0]] = words
    if len(site_sentence) != len(choices):
        return []
    common = set.intersection(*site_sentence.values())
    site_words = set().union(*own.values())
    found = []
    for name, expr in rows:
        m = _COVER_ROW.fullmatch(expr)
        if m is None:
            continue
        terms = [t.strip() for t in m.group(1).split("+")]
        subject = word_stems(name) - site_words - common
        subject = {w for w in subject if any(w in s for s in site_sentence.values())}
        if not set(terms) <= set(choices) or not subject:
            continue
        covering = [v for v in choices if subject <= site_sentence[v]]
        if covering and set(covering) != set(terms):
            found.append((name, expr, f"{' + '.join(covering)} >= 1"))
    return found
