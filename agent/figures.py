"""The per-item figures a word problem states, and the coefficients of a model read against them.

NL4Opt-style problems state a table in prose: "Each kg of fertilizer A contains 13 units of nitrogen, 5 units
of phosphoric acid, 6 units of vitamin A and 5 units of vitamin D." A 1.5B model writes the rows of that table
with numbers from the wrong column (nl4opt_test_010: vitamin A with fertilizer A's 5 of phosphoric acid, the
objective with the vitamin A figures) and every solver check passes. Here each number of such a sentence
becomes a `Figure` (which variable, which value, the words that say what it measures), and a row of the model
(a constraint's limit, the objective's goal) is matched to the figures its words name: a coefficient that is
another figure of the same variable is taken from the wrong column, a variable the row leaves out has a figure
for it, and a goal that counts things ("the number of patients") does not weigh them by minutes.

Only prose is read; nothing here runs model output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from agent.formalize import LABEL_NUMBERS, NUMBER_TOKEN, PER_ONE_UNIT, limit_sides, numbered_words, sentences

# Words that say nothing of what a number measures.
_STOP = {"the", "and", "for", "per", "each", "with", "that", "this", "are", "can", "its", "his", "her", "their",
         "from", "into", "will", "every", "has", "have", "had", "was", "were", "been", "being", "which", "who", "while",
         "but", "also", "all", "any", "one", "unit", "total", "amoun", "numbe", "need",
         "must", "should", "how", "many", "much", "what", "there", "than", "some", "only", "they", "them",
         "these", "those", "make", "made", "makin", "take", "requi", "use", "used", "using", "conta", "produ",
         "provi", "give", "hold", "could", "would", "about", "then", "daily", "just", "least", "most",
         "maxim", "minim"}
# Words that state a limit: a number after them is the limit of a requirement, not a figure of an item.
_LIMIT = re.compile(r"\b(?:at least|at most|no more than|no less than|no fewer than|not (?:to )?exceed|cannot exceed|"
                    r"up to|maximum|minimum|limit(?:ed)?|only has|has only|available|budget|must|needs? to|"
                    r"in total|a total|there (?:is|are))\b", re.I)
_TOKEN = re.compile(r"[A-Za-z]+|\d+")
_CLAUSE_END = re.compile(r"[,;.:!?()]|\b(?:and|while|but|whereas)\b", re.I)
_GOAL = re.compile(r"\b(?:maximi[sz]e|minimi[sz]e|the (?:most|least|fewest|maximum|minimum)|as (?:many|much|few|"
                   r"little))\b", re.I)
_BASIS = re.compile(r"\b(?:per|each|every)\s+[A-Za-z]+", re.I)
_COUNT_GOAL = re.compile(r"\b(?:number of|how many)\b", re.I)
OBJECTIVE = "(objective)"  # the objective's key among a model's rows, a name no constraint can have


def tokens(text: str, identifier: bool = False, numbered: re.Pattern[str] | None = None) -> list[tuple[int, str]]:
    """(position, token) for each word of 3+ letters (its first five letters, lower case) and, after such a
    word, a one-letter or 1-2 digit label ("vitamin A" also gives "vitam_A", "factory 1" "facto_1"). In
    prose only a capital letter is a label ("a" is an article), or a number after a label word or after a word
    the problem numbers twice (`numbered`: "Beam 1 and Beam 2"); in an identifier (`identifier`) any."""
    text = text.replace("_", " ")
    words = list(_TOKEN.finditer(text))
    found = []
    for i, m in enumerate(words):
        word = m.group()
        if len(word) >= 3 and word.isalpha():
            stem = _stem(word)
            found.append((m.start(), stem))
            if i + 1 < len(words):
                label = words[i + 1].group()
                if (len(label) == 1 and label.isalpha() and (identifier or label.isupper())) or \
                        (label.isdigit() and len(label) <= 2 and text[m.end():words[i + 1].start()].strip() == ""
                         and (identifier or _labelled(text, m.start(), numbered))):
                    found.append((m.start(), f"{stem}_{label.upper()}"))
    return found


def _stem(word: str) -> str:
    """The first five letters of the singular: "gummies" and "gummy", "costs" and "cost", "boxes" and "box"."""
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif re.search(r"(?:x|ch|sh|ss)es$", w):
        w = w[:-2]
    elif w.endswith("s") and not re.search(r"(?:ss|us|is)$", w) and len(w) > 3:
        w = w[:-1]
    return _SAME.get(w, w[:5])


# Words for the same thing: "1 person to unload" and "100 people available"; a goal of "time" and figures
# in hours or minutes.
_SAME = {"person": "peopl", "hour": "time", "minute": "time", "min": "time", "day": "time", "second": "time",
         "charge": "cost", "fee": "cost", "earning": "earn"}


def _labelled(text: str, at: int, numbered: re.Pattern[str] | None = None) -> bool:
    """Whether the word at `at` with its number is a label in prose ("factory 1", not "produces 5")."""
    return LABEL_NUMBERS.match(text, at) is not None or (numbered is not None and numbered.match(text, at) is not None)


def stems(text: str, identifier: bool = False) -> set[str]:
    return {t for _, t in tokens(text, identifier)}


@dataclass(frozen=True)
class Figure:
    """One number a sentence gives for one variable's item: 6 of "units of vitamin A" for fertilizer_A."""

    variable: str
    value: float
    words: str  # what it measures, as written
    stems: frozenset[str]
    sentence: str
    unit: frozenset[str] = frozenset()  # the words after the number alone: "images" of "60 images per hour"


def _variable_words(variables: dict[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(all words, own words) of each variable: own words are those no other variable has."""
    every = {v: stems(v, identifier=True) | stems(d) for v, d in variables.items()}
    every = {v: s - _STOP for v, s in every.items()}
    own = {v: s - set().union(*(o for u, o in every.items() if u != v)) for v, s in every.items()}
    return every, own


def _blank(pattern: re.Pattern[str] | None, text: str) -> str:
    return pattern.sub(lambda m: " " * len(m.group()), text) if pattern else text


# Words after a number that may say what it measures: "0.3 units of medicine per minute to the benign area of
# the pancreas" names its column (pancreas, not skin) in its tenth word (nl4opt_test_140): up to its clause's end,
# at most twelve words.
_PHRASE_WORDS = 12


def _phrase(sentence: str, start: int, end: int) -> tuple[str, str]:
    """(before, after): the words that say what the number at sentence[start:end] measures, those before it in
    its clause and those after it up to the end of its clause or the next number ("earn the store", "in
    profits" of "$120")."""
    after = sentence[end:]
    stop = _CLAUSE_END.search(after)
    nxt = NUMBER_TOKEN.search(after)
    cut = min((m.start() for m in (stop, nxt) if m is not None), default=len(after))
    before = sentence[:start]
    clause = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    previous = [m.end() for m in NUMBER_TOKEN.finditer(before) if m.end() > clause]
    # "$300 per trip" measures a cost, per trip: the trip is its basis, not what it measures; "0.8 units of
    # medicine per minute to the brain" measures medicine to the brain
    measured = _BASIS.sub(" ", after[:cut])
    ahead = " ".join(before[max([clause, *previous]):].split()[-6:]).strip(" $")
    return ahead, " ".join(measured.split()[:_PHRASE_WORDS])


@cache
def _figures(problem: str, variables: tuple[tuple[str, str], ...]) -> tuple[Figure, ...]:
    described = dict(variables)
    every, own = _variable_words(described)
    mentioned_words = _item_words(problem, described)
    numbered = numbered_words(problem)
    compounds = _hyphenated_names(problem, tuple(described))
    found = []
    for sentence in sentences(problem):
        words = tokens(sentence, numbered=numbered)
        spans = {v: [c.span() for c in pattern.finditer(sentence)] for v, pattern in compounds.items()}
        mentions = [(at, v) for at, w in words for v in own
                    if w in own[v] and (v not in spans or any(a <= at < b for a, b in spans[v]))]
        if not mentions:
            continue
        text = _blank(numbered, _blank(LABEL_NUMBERS, sentence))
        for pattern in compounds.values():
            text = _blank(pattern, text)
        for m in NUMBER_TOKEN.finditer(text):
            if m.group(2) or any(p.start() < m.start() < p.end() for p in PER_ONE_UNIT.finditer(text)):
                continue  # a percentage is a share, the 1 of "for 1 hour" the basis of the rates, not figures
            reach = m.end() + len(re.match(r"(?:\s*\S+){0,3}", text[m.end():]).group())  # type: ignore[union-attr]
            if any(m.end() < at < reach for at, _ in mentions):
                continue  # "10 large wagons": a count of an item, not a figure of it
            before = [(at, v) for at, v in mentions if at < m.start()]
            after = [(at, v) for at, v in mentions if at > m.end()]
            if before:
                at, item = max(before)
            elif len({v for _, v in after}) == 1:
                at, item = 0, after[0][1]  # "It takes 3 minutes ... to make a ream of graph paper"
            else:
                continue  # "has 500 acres to grow turnips and pumpkins": a total stated before its items
            if _LIMIT.search(text[at:m.start()]):
                continue  # "needs at least 80 cows", "only has 1500 treats": a limit, said after its item
            ahead, behind = _phrase(text, m.start(), m.end())
            measured = frozenset((stems(ahead) | stems(behind)) - _STOP - mentioned_words)
            shown = behind if stems(behind) - _STOP - mentioned_words else ahead
            if measured:
                found.append(Figure(item, float(m.group(1).replace(",", "")), shown, measured, sentence,
                                    frozenset(stems(behind) - _STOP - mentioned_words)))
    return tuple(found)


@cache
def _hyphenated_names(problem: str, names: tuple[str, ...]) -> dict[str, re.Pattern[str]]:
    """Variable -> its name as the text writes it hyphenated, for names the text writes so ("palladium-heavy").

    nl4opt_test_257's items are a palladium-heavy and a platinum-heavy catalyst, and each needs "15 units of
    platinum and 25 units of palladium": read word by word, every resource was a mention of an item, the 25
    went to the other catalyst and the 15 was taken for a count of it. Where the text hyphenates a name, only
    that compound names the item."""
    out = {}
    for name in names:
        parts = [p for p in name.lower().split("_") if p]
        if len(parts) > 1 and re.search(r"\b" + "-".join(map(re.escape, parts)) + r"\b", problem, re.I):
            out[name] = re.compile(r"\b" + r"[-\s]".join(map(re.escape, parts)) + r"\b", re.I)
    return out


def _item_words(problem: str, variables: dict[str, str]) -> set[str]:
    """The words that name the variables' items, which say nothing of what a number measures; not the words of
    a name the text hyphenates, which said alone are other things ("units of platinum" beside the
    platinum-heavy catalyst)."""
    every, _ = _variable_words(variables)
    words = set().union(*every.values()) if every else set()
    return words - {w for name in _hyphenated_names(problem, tuple(variables)) for w in stems(name, identifier=True)}


def figures(problem: str, variables: dict[str, str]) -> tuple[Figure, ...]:
    """The figures the problem gives for its variables' items (`variables`: name -> description); read once
    per problem and model."""
    return _figures(problem, tuple(sorted(variables.items())))


_TERM = re.compile(r"^\(?\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?([A-Za-z_]\w*)\s*(?:\*\s*(\d+(?:\.\d+)?)\s*)?\)?$")


def linear_terms(side: str) -> dict[str, float] | None:
    """Variable -> coefficient of a plain sum of `k*x` terms ("5*a + 10*b", "(300*a) + (600*b)"), else None."""
    out: dict[str, float] = {}
    for part in side.split("+"):
        m = _TERM.match(part.strip())
        if m is None or m.group(2) in out:
            return None
        out[m.group(2)] = float(m.group(1) or m.group(3) or 1)
    return out


def _idf(found: tuple[Figure, ...]) -> dict[str, float]:
    count: dict[str, int] = {}
    for f in found:
        for s in f.stems:
            count[s] = count.get(s, 0) + 1
    return {s: math.log((len(found) + 1) / n) for s, n in count.items()}


@dataclass(frozen=True)
class Finding:
    """A coefficient read against the figures: `wrong` (another figure of the variable, or 1, where `want` is
    the one the row's words name), `missing` (a variable the row leaves out has the figure `want`), `none`
    (the text gives the variable no figure for the row's words), `denied` (a `none` the text states: "but no
    brown ones")."""

    kind: str
    variable: str
    used: float | None
    want: Figure | None
    key: str


def _format(value: float) -> str:
    return f"{value:g}"


def row_findings(terms: dict[str, float], row_words: list[tuple[int, str]], found: tuple[Figure, ...],
                 variables: list[str], may_add: bool, head_first: bool = False, counts: bool = False) -> list[Finding]:
    """The coefficients of one row (`terms`) that disagree with the figures its words name (`row_words`,
    (position, stem)).

    The row's key is its word that the fewest figures share (the one that tells the columns apart: "D" of
    "vitamin D", "brown" of "brown teddy bears") or, with `head_first` (a goal: "the total time to transport
    the patients"), its first word that any figure has; a variable's figure for the row is the one with that
    word and the most of the row's other words, and must be unique. Variables with no figure at all are not
    judged (a count in the row, a ratio), nor one with fewer than three when the row's word is missing from
    them. `may_add`: a variable of the model left out of the row may be named as missing (the objective, and
    rows of two terms or more)."""
    idf = _idf(found)
    known = [(at, s) for at, s in row_words if s in idf]
    if head_first:  # the goal's head noun: "the total time to transport the patients" is about time
        heads = sorted({at for at, _ in row_words})[:3]
        known = [(at, s) for at, s in known if at in heads]
    if not known:
        return []
    key = min(known, key=lambda p: (p[0] if head_first else 0, -idf[p[1]], p[1]))[1]
    counted = head_first and counts  # "the total number of trips": its 1s count, they are no slip
    if idf[key] <= math.log((len(found) + 1) / max(1, len(found))) + 1e-9:
        return []  # a word every figure has tells no column apart
    words = {s for _, s in row_words}
    rivals = {s for _, s in known if idf[s] == idf[key]} if not head_first else {key}
    if not any(rivals <= f.stems for f in found):
        return []  # "waste" by name, "liters of fuel" by its limit: which column it is, is a guess

    def named(variable: str) -> Figure | None | bool:
        own = [f for f in found if f.variable == variable]
        if not own:
            return False
        with_key = [f for f in own if key in f.stems]
        if not with_key:
            return None
        score = {f: sum(idf[s] for s in f.stems & words) for f in with_key}
        top = max(score.values())
        best = {f.value for f in with_key if score[f] == top}
        return next(f for f in with_key if score[f] == top) if len(best) == 1 else False

    out = []
    has_key = False
    plain_sum = all(c == 1 for c in terms.values())  # "x + y <= 500 acres" counts, unless its unit is a figure's
    for var, coef in terms.items():
        fig = named(var)
        if fig is False:
            continue
        own_values = [f.value for f in found if f.variable == var]
        if fig is None:
            if coef in own_values and len(own_values) >= 3:
                out.append(Finding("none", var, coef, None, key))
            continue
        has_key = True
        assert isinstance(fig, Figure)
        if len(terms) > 1 and len({f.variable for f in found if key in f.stems}) < 2:
            continue  # one item's word ("version" of "commercial version"), not a column of the table
        counts_it = not plain_sum or key in fig.unit  # "hours >= 10000 images" beside "60 images per hour"
        # the same column, another item's; or another item's figure of another column, a number of the table
        # that is no figure of this one (nl4opt_test_130: the legs row with pain killer 1's 0.8 for the back)
        others = {f.value for f in found if f.variable != var} - set(own_values)
        if coef != fig.value and (coef in own_values or coef in others or coef == 1 and not counted) and counts_it:
            out.append(Finding("wrong", var, coef, fig, key))
    if may_add and has_key and not counted:  # a count leaves nobody's figure out
        for var in variables:
            if var in terms:
                continue
            fig = named(var)
            if isinstance(fig, Figure):
                out.append(Finding("missing", var, None, fig, key))
    if any(f.kind == "none" for f in out) and not has_key:
        return [f for f in out if f.kind != "none"]  # no variable of the row has the key: it was not the column
    return out


def _limit_words(expr: str, source: str, name: str, ignore: set[str],
                 found: tuple[Figure, ...]) -> list[tuple[int, str]]:
    """The words of a constraint's limit: its name's, and what its sentence says the limit number measures."""
    sides = limit_sides(expr)
    if sides is None:
        return []
    limit = re.findall(r"\d[\d,]*(?:\.\d+)?", sides[2])
    words = tokens(name, identifier=True)
    if len(limit) == 1 and source:
        value = float(limit[0].replace(",", ""))
        if any(f.value == value and f.sentence == source for f in found):
            return []  # the limit is also an item's figure there ("uses 250 units"): which the row means is a guess
        for m in NUMBER_TOKEN.finditer(source):
            if not m.group(2) and float(m.group(1).replace(",", "")) == value:
                ahead, behind = _phrase(source, m.start(), m.end())  # "has 5000 minutes available for
                words += tokens(behind if stems(behind) - _STOP - ignore else ahead)  # inspection": not the subject
                break
    return [(at, w) for at, w in words if w not in _STOP and w not in ignore]


def goal_words(problem: str, ignore: set[str]) -> tuple[list[tuple[int, str]], bool, str] | None:
    """(the words of the goal with their places, whether it counts things, the goal as written) from the last
    sentence that asks to optimize: "maximize the number of newspapers that can be delivered" counts newspapers."""
    asking = [s for s in sentences(problem) if _GOAL.search(s)]
    if not asking:
        return None
    question = asking[-1]
    goal = question[_GOAL.search(question).start():]  # type: ignore[union-attr]
    goal = re.split(r"[?]|\bsubject to\b|\bwhile\b|\bgiven\b", goal)[0]
    said = re.sub(r"^\W*(?:maximi[sz]e|minimi[sz]e)\W+", "", " ".join(goal.split()), flags=re.I).rstrip(" .!")
    words = [(at, w) for at, w in tokens(goal) if w not in _STOP and w not in ignore]
    return words, bool(_COUNT_GOAL.search(goal)), said


def describe(f: Finding, row: str) -> str:
    """One line for a finding, in the words of the text."""
    if f.kind == "wrong" and f.want is not None:
        return (f"{row} gives {f.variable} {_format(f.used or 0)}, but the text gives it {_format(f.want.value)} "
                f'{f.want.words} ("{f.want.sentence}"): use {_format(f.want.value)}*{f.variable}.')
    if f.kind == "missing" and f.want is not None:
        return (f"{row} leaves out {f.variable}, which the text gives {_format(f.want.value)} {f.want.words} "
                f'("{f.want.sentence}"): add {_format(f.want.value)}*{f.variable}.')
    if f.kind == "counted" and f.want is not None:
        return (f"{row} multiplies {f.variable} by {_format(f.used or 0)}, its {f.want.words}, but the goal counts "
                f'things ("{f.key}"): count each {f.variable} once (coefficient 1).')
    if f.kind == "denied":
        return (f"{row} gives {f.variable} {_format(f.used or 0)}, a figure the text gives it for something else, "
                f'and the text says it gives none ("{f.key}"): leave {f.variable} out of it.')
    return (f"{row} gives {f.variable} {_format(f.used or 0)}, a figure the text gives it for something else; it "
            f"gives {f.variable} none for this row: leave {f.variable} out of it unless a sentence says so.")


def rewritten(terms: dict[str, float], findings: list[Finding]) -> dict[str, float] | None:
    """The row's terms with each wrong coefficient replaced, each missing variable added and each variable the
    text denies the row dropped, when every finding says what to write (a `none` finding does not: no
    rewrite)."""
    if not findings or any(f.want is None and f.kind != "denied" for f in findings):
        return None
    out = dict(terms)
    for f in findings:
        if f.kind == "denied":
            out.pop(f.variable, None)
        else:
            out[f.variable] = f.want.value  # type: ignore[union-attr]
    return out if out else None


_DENIAL = re.compile(r"\b(?:no|zero|without(?: any)?)\s+((?:[A-Za-z]+\s+){0,2}[A-Za-z]+)", re.I)
_NOT_DENIAL = {"more", "less", "fewer", "longer", "later", "earlier", "greater", "larger", "smaller", "matter",
               "difference", "than"}


def denied(finding: Finding, problem: str, found: tuple[Figure, ...]) -> Finding:
    """`finding` as `denied` when it is a `none` that the text states: a sentence that gives the variable
    figures, or the one after it, says "no <the row's word>" (nl4opt_test_048: factory 2 "produces 10 black
    teddy bears and 10 white teddy bears. (but no brown ones)", and the brown row gave it 10)."""
    if finding.kind != "none":
        return finding
    told = sentences(problem)
    own = {f.sentence for f in found if f.variable == finding.variable}
    near = {told[i + k] for i, s in enumerate(told) if s in own for k in (0, 1) if i + k < len(told)}
    for sentence in near:
        for m in _DENIAL.finditer(sentence):
            words = m.group(1).split()
            if words[0].lower() in _NOT_DENIAL:
                continue
            if finding.key in {stem for _, stem in tokens(m.group(1))}:
                return Finding("denied", finding.variable, finding.used, None, m.group().strip())
    return finding


def write_terms(terms: dict[str, float]) -> str:
    return " + ".join(f"{_format(c)}*{v}" if c != 1 else v for v, c in terms.items())


def swapped_column(terms: dict[str, float], found: tuple[Figure, ...]) -> list[Finding]:
    """A `wrong` finding for each coefficient of a row that is one column of the figures with its values
    handed round to the other items, when the row's words name no column.

    "A scooter can carry 2 people while a rickshaw can carry 3 people ... transport at least 300 visitors":
    nl4opt_test_168 wrote 3*scooters + 2*rickshaws >= 300, and "visitors" is no word of the figures. Judged only
    when exactly one column (figures measured by the same words, one per item) has the row's variables and its
    values in another order, and no column gives them in the row's order."""
    if len(terms) < 2 or len(set(terms.values())) < 2:
        return []
    columns: dict[str, list[Figure]] = {}
    for f in found:
        columns.setdefault(f.words, []).append(f)
    matching, handed_round = False, []
    for column in columns.values():
        own = {f.variable: f for f in column}
        if len(own) != len(column) or set(own) != set(terms):
            continue
        if all(own[v].value == c for v, c in terms.items()):
            matching = True
        elif sorted(f.value for f in column) == sorted(terms.values()):
            handed_round.append(own)
    if matching or len(handed_round) != 1:
        return []
    own = handed_round[0]
    return [Finding("wrong", v, c, own[v], own[v].words) for v, c in terms.items() if own[v].value != c]


def constraint_findings(expr: str, source: str, name: str, problem: str, variables: dict[str, str],
                        limit_alone: bool = False) -> tuple[list[Finding], str | None]:
    """(findings, the rewritten expression or None) for one constraint against a constant. `limit_alone`: no
    other row of the model uses the limit's number, so when the row's name and its sentence name two columns,
    the sentence decides (the name is the model's word, the limit the text's)."""
    sides = limit_sides(expr)
    if sides is None:
        return [], None
    terms = linear_terms(sides[0])
    if terms is None or not set(terms) <= set(variables):
        return [], None
    found = figures(problem, variables)
    items = _item_words(problem, variables)
    words = _limit_words(expr, source, name, items, found)
    if not found or not words:
        return [], None
    if len(terms) == 1 and next(iter(terms.values())) == 1:
        return [], None  # a bound on one variable ("at least 5 large pieces") counts it: no figure of it
    findings = row_findings(terms, words, found, list(variables), may_add=len(terms) >= 2)
    said = _limit_words(expr, source, "", items, found) if limit_alone and not findings else []
    if said and said != words:  # nl4opt_test_114 named a row "fat" and gave it the only 100 of the text, "at
        # most 100 units of folate": with both words the column is a guess, with the sentence's it is folate
        findings = row_findings(terms, said, found, list(variables), may_add=len(terms) >= 2)
    findings = [denied(f, problem, found) for f in findings] or swapped_column(terms, found)
    fixed = rewritten(terms, findings)
    return findings, (f"{write_terms(fixed)} {sides[1]} {sides[2].strip()}" if fixed else None)


def objective_findings(expr: str, problem: str, variables: dict[str, str]) -> tuple[list[Finding], str | None, str]:
    """(findings, the rewritten objective or None, the goal's words) for a linear objective: its coefficients
    read against the figures the goal names; a goal that counts things ("the number of patients") whose
    coefficients are all figures of something the goal does not name (minutes to administer) counts each
    one once instead (nl4opt_test_148)."""
    terms = linear_terms(expr)
    found = figures(problem, variables)
    goal = goal_words(problem, _item_words(problem, variables)) if found else None
    if terms is None or not set(terms) <= set(variables) or goal is None:
        return [], None, ""
    words, counts, goal_text = goal
    findings = row_findings(terms, words, found, list(variables), may_add=True, head_first=True, counts=counts)
    fixed = rewritten(terms, findings)
    if not findings and counts and all(c != 1 for c in terms.values()):
        weighed = [next((f for f in found if f.variable == v and f.value == c), None) for v, c in terms.items()]
        if all(f is not None and not f.stems & {w for _, w in words} for f in weighed):
            findings = [Finding("counted", v, c, f, goal_text)
                        for (v, c), f in zip(terms.items(), weighed, strict=True)]
            fixed = {v: 1.0 for v in terms}
    return findings, (write_terms(fixed) if fixed else None), goal_text


_COMPARING = re.compile(r"\b(?:more|less|fewer|than|at (?:least|most)|as many|as much|exceed|equal|ratio|twice|"
                        r"times|half|same|compared?|balance)\b|%", re.I)


def data_comparison(expr: str, source: str, problem: str, variables: dict[str, str]) -> bool:
    """Whether `expr` compares two variables weighed by their own figures ("7*labradors >= 10*golden_retrievers",
    the newspapers each delivers) where its sentence compares nothing: a row made of the table's data, that no
    sentence states (nl4opt_test_185). Removing it is exact: no requirement of the text is lost."""
    parts = re.split(r"<=|>=|==|<|>", expr)
    if len(parts) != 2 or _COMPARING.search(source or ""):
        return False
    sides = [linear_terms(p.strip()) for p in parts]
    if any(t is None or len(t) != 1 for t in sides):
        return False
    (left, a), (right, b) = (next(iter(t.items())) for t in sides)  # type: ignore[union-attr]
    if left == right or left not in variables or right not in variables or 1.0 in (a, b):
        return False
    found = figures(problem, variables)
    return any(f.variable == left and f.value == a for f in found) and \
        any(f.variable == right and f.value == b for f in found)


def borrowed_figures(rows: list[str], problem: str, variables: dict[str, str]) -> list[tuple[str, str, list[float]]]:
    """(variable, owner, its coefficients) for each variable the text gives no figure, whose coefficients in
    `rows` (plain sums: constraints' left sides, the objective) are two or more different figures, all of one
    other variable.

    nl4opt_test_141 ("buys pre prepared meals, a turkey dinner and a tuna salad sandwich") gained a third
    variable, `prepared_meals`, with the turkey dinner's 20 protein, 30 carbs and 12 fat, every item's figures
    shifted one along; it solved with no doubt (64) and beat the right greedy answer (72) in the vote. An item
    the text gives no data cannot own another item's figures: it is made up, or the figures are shifted."""
    found = figures(problem, variables)
    owned: dict[str, set[float]] = {}
    for f in found:
        owned.setdefault(f.variable, set()).add(f.value)
    if len(owned) < 2:
        return []
    sums = [t for t in (linear_terms(r) for r in rows) if t is not None]
    out = []
    for variable in variables:
        coefficients = [t[variable] for t in sums if variable in t]
        if variable in owned or len(set(coefficients)) < 2:
            continue
        for owner in sorted(owned):
            if set(coefficients) <= owned[owner]:
                out.append((variable, owner, coefficients))
                break
    return out
