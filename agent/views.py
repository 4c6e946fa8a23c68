"""Notebook renderings (HTML, Markdown, LaTeX) of formulations, solutions, explanations and traces.

Why a module of its own: `agent.api` objects delegate their `_repr_html_` / `_repr_markdown_` here, so
the rendering can be tested without a kernel and never pulls in solvers or the model. Everything shown
may come from a language model or a user file, so every piece of text is escaped (HTML entities in
HTML, entities plus backslash escapes in Markdown, text-mode escapes in LaTeX) and text outside formulas
sits in elements MathJax ignores, so a stray `$` in a sentence never turns into math. Expressions become
LaTeX by walking the parsed AST of `formalizers.expr`; nothing is evaluated.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
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
from formalizers.unparse import number_text

MAX_TEXT = 20_000  # characters of one prompt/response/model text shown before it is cut
MAX_ROWS = 200  # table rows shown before "… N more"
# MathJax (JupyterLab: mathjax_*, classic notebook: tex2jax_*) skips the ignore class and everything in
# it except elements with the process class: all text is ignored, only the formulas are typeset.
MATH_CLASS = "mathjax_process tex2jax_process"

# ----------------------------------------------------------------------------- escaping


def esc(text: Any) -> str:
    """HTML-escape anything (quotes included), for element content and attribute values alike."""
    return html.escape("" if text is None else str(text), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|$~])")
_MD_LINE_START = re.compile(r"^([#+\-])(?=\s|$)|^(\d+)([.)])(?=\s|$)")  # headings, list items


def md_escape(text: Any) -> str:
    """Markdown-safe inline text: punctuation backslash-escaped, HTML entities, one line (tables)."""
    s = "" if text is None else str(text)
    s = " ".join(s.split())
    s = _MD_LINE_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else f"{m.group(2)}\\{m.group(3)}",
                           _MD_SPECIAL.sub(r"\\\1", s))
    return html.escape(s, quote=True)


def md_code(text: str, language: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside, so it cannot be closed early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", language)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[:limit] + f"\n… ({len(s) - limit:,} more characters)"


_TEX_TEXT = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
             "_": r"\_", "^": r"\hat{}", "~": r"\sim ", "<": r"\lt ", ">": r"\gt "}


def tex_text(text: str) -> str:
    """A string as upright LaTeX text: specials become math symbols outside `\\text{}`, so no macro can
    be smuggled in (MathJax has `\\href`, `\\class`, `\\style`)."""
    out: list[str] = []
    run: list[str] = []
    for ch in str(text):
        if ch in _TEX_TEXT:
            if run:
                out.append(r"\text{" + "".join(run) + "}")
                run = []
            out.append(_TEX_TEXT[ch])
        elif ch.isprintable():
            run.append(ch)
    if run:
        out.append(r"\text{" + "".join(run) + "}")
    return "".join(out) or r"\text{}"


def tex_ident(name: str) -> str:
    """An identifier: single letters in math italic, longer names as one italic word, `_` escaped."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return tex_text(name)
    if len(name) == 1:
        return name
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def tex_set(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return tex_text(name)
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


# ----------------------------------------------------------------------------- expressions -> LaTeX

_PREC = {"<->": 1, "->": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "+": 6, "-": 6, "*": 7, "/": 7, "neg": 8,
         "^": 9}
_CMP = {"<=": r"\le", ">=": r"\ge", "<": "<", ">": ">", "==": "=", "!=": r"\neq"}
_BIG = {"sum": r"\sum", "forall": r"\bigwedge", "exists": r"\bigvee", "min": r"\min", "max": r"\max",
        "alldifferent": r"\operatorname{alldifferent}"}


def _prec(node: Node) -> int:
    if isinstance(node, Implies | Logic):
        return _PREC[node.op]
    if isinstance(node, Unary):
        return _PREC["not" if node.op == "not" else "neg"]
    if isinstance(node, Compare):
        return _PREC["cmp"]
    if isinstance(node, BinOp):
        return _PREC[node.op]
    if isinstance(node, Aggregate) and node.func == "sum":
        return 7  # the body of a big operator runs to the end: treat it like a product
    if isinstance(node, Num) and node.value < 0:
        return _PREC["neg"]
    return 10


def _wrap(node: Node, parent: int, strict: bool = False) -> str:
    text = expr_latex(node)
    p = _prec(node)
    return rf"\left({text}\right)" if p < parent or (strict and p == parent) else text


def _number(value: float | int) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return r"\infty" if value > 0 else r"-\infty"
    text = number_text(value)
    if "e" in text:
        mant, _, exp = text.partition("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return text


def _index(node: Node) -> str:
    if isinstance(node, Str):
        return tex_text(node.value)
    return expr_latex(node)


def generator_latex(gen: Generator, sep: str = r",\ ", where_sep: str = r" : ") -> str:
    """Bindings as `i \\in S, j \\in T`, then the `where` filter after `where_sep`."""
    parts = []
    for b in gen.bindings:
        dom = b.domain
        if isinstance(dom, SetRef):
            dom_text = tex_set(dom.name)
        else:
            dom_text = rf"\{{{expr_latex(dom.low)}, \ldots, {expr_latex(dom.high)}\}}"
        parts.append(rf"{tex_ident(b.var)} \in {dom_text}")
    text = sep.join(parts)
    return text if gen.where is None else f"{text}{where_sep}{expr_latex(gen.where)}"


def expr_latex(node: Node) -> str:
    """LaTeX for one parsed expression (no `$` delimiters)."""
    if isinstance(node, Num):
        return _number(node.value)
    if isinstance(node, Str):
        return tex_text(f"\u201c{node.value}\u201d")
    if isinstance(node, BoolConst):
        return r"\mathrm{true}" if node.value else r"\mathrm{false}"
    if isinstance(node, Name):
        base = tex_ident(node.id)
        if not node.indices:
            return base
        sub = ",".join(_index(i) for i in node.indices)
        return f"{base}_{{{sub}}}"
    if isinstance(node, Unary):
        if node.op == "not":
            return rf"\neg {_wrap(node.operand, _PREC['not'] + 1)}"
        return f"-{_wrap(node.operand, _PREC['neg'])}"
    if isinstance(node, BinOp):
        if node.op == "/":
            return rf"\frac{{{expr_latex(node.left)}}}{{{expr_latex(node.right)}}}"
        if node.op == "^":
            return f"{{{_wrap(node.left, _PREC['^'], True)}}}^{{{expr_latex(node.right)}}}"
        p = _PREC[node.op]
        op = r"\cdot" if node.op == "*" else node.op
        return f"{_wrap(node.left, p)} {op} {_wrap(node.right, p, node.op == '-')}"
    if isinstance(node, Compare):
        return f"{_wrap(node.left, 6)} {_CMP[node.op]} {_wrap(node.right, 6)}"
    if isinstance(node, Logic):
        op = r"\land" if node.op == "and" else r"\lor"
        return f" {op} ".join(_wrap(i, _PREC[node.op], True) for i in node.items)
    if isinstance(node, Implies):
        op = r"\Rightarrow" if node.op == "->" else r"\Leftrightarrow"
        return f"{_wrap(node.left, 2)} {op} {_wrap(node.right, 2)}"
    if isinstance(node, Aggregate):
        big = _BIG.get(node.func, rf"\operatorname{{{tex_text(node.func)}}}")
        under = generator_latex(node.gen, sep=r" \\ ", where_sep=r" \\ ")
        if len(node.gen.bindings) > 1 or node.gen.where is not None:
            under = rf"\substack{{{under}}}"
        if node.func == "sum":
            return rf"{big}_{{{under}}} {_wrap(node.body, 7)}"
        return rf"{big}_{{{under}}} \left({expr_latex(node.body)}\right)"
    if isinstance(node, Call):
        if node.func == "abs":
            return rf"\left|{expr_latex(node.args[0])}\right|"
        name = {"min": r"\min", "max": r"\max"}.get(node.func, r"\operatorname{alldifferent}")
        return rf"{name}\left({', '.join(expr_latex(a) for a in node.args)}\right)"
    if isinstance(node, RangeSet):
        return rf"\{{{expr_latex(node.low)}, \ldots, {expr_latex(node.high)}\}}"
    if isinstance(node, SetRef):
        return tex_set(node.name)
    raise TypeError(f"no LaTeX for {type(node).__name__}")


def latex_of(text: str) -> str:
    """LaTeX of an expression's text; text that does not parse is shown verbatim (as text)."""
    try:
        return expr_latex(parse_expr(text))
    except (ExprError, TypeError, RecursionError):
        return tex_text(text)


def constraint_latex(expr: str, forall: str = "") -> str:
    """A constraint, with its quantifier written after it as a mathematician would: `… \\quad \\forall i \\in S`."""
    body = latex_of(expr)
    if not forall.strip():
        return body
    try:
        quant = generator_latex(parse_bindings(forall))
    except (ExprError, TypeError, RecursionError):
        quant = tex_text(forall)
    return rf"{body} \qquad \forall\, {quant}"


def objective_latex(sense: str, expr: str) -> str:
    return rf"\{'max' if sense == 'maximize' else 'min'}\; {latex_of(expr)}"


_DOMAINS = {"continuous": r"\mathbb{R}", "integer": r"\mathbb{Z}", "binary": r"\{0, 1\}",
            "boolean": r"\{\mathrm{false}, \mathrm{true}\}"}


def variable_latex(var: Any) -> str:
    """`0 \\le make_{p} \\le 10,\\ make_{p} \\in \\mathbb{Z} \\quad \\forall p \\in Products`-style declaration."""
    loops = _loop_names(var.index)
    sym = tex_ident(var.name) + (f"_{{{','.join(tex_ident(i) for i in loops)}}}" if loops else "")
    dom = tex_set(var.labels) if var.domain == "labels" and var.labels else _DOMAINS.get(var.domain, r"\mathbb{R}")
    text = rf"{sym} \in {dom}"
    if var.domain not in ("binary", "boolean", "labels"):
        lo = None if var.lower is None else _number(var.lower)
        hi = None if var.upper is None else _number(var.upper)
        if lo is not None and hi is not None:
            text = rf"{lo} \le {sym} \le {hi},\ " + text
        elif lo is not None:
            text = rf"{sym} \ge {lo},\ " + text
        elif hi is not None:
            text = rf"{sym} \le {hi},\ " + text
    if loops:
        pairs = zip(loops, var.index, strict=True)
        text += r" \qquad \forall\, " + r",\ ".join(f"{tex_ident(i)} \\in {tex_set(s)}" for i, s in pairs)
    return text


def _loop_names(index: Sequence[str]) -> list[str]:
    """Readable loop letters for an index list: the set's initial, made unique (`Nodes, Nodes` -> n, n2)."""
    out: list[str] = []
    for s in index:
        base = (s[:1] or "i").lower()
        name, k = base, 2
        while name in out:
            name, k = f"{base}{k}", k + 1
        out.append(name)
    return out


# ----------------------------------------------------------------------------- small pieces

_CSS = ("<style>.mw{font-family:var(--jp-content-font-family,sans-serif);font-size:13px;line-height:1.45}"
        ".mw table{border-collapse:collapse;margin:4px 0 10px 0}.mw th,.mw td{border:1px solid #ddd;"
        "padding:3px 8px;text-align:left;vertical-align:top}.mw th{background:rgba(127,127,127,.12)}"
        ".mw .num{text-align:right;font-variant-numeric:tabular-nums}.mw .src{color:#666;font-style:italic}"
        ".mw pre{white-space:pre-wrap;max-height:420px;overflow:auto;font-size:12px;margin:2px 0}"
        ".mw .ok{color:#1a7f37;font-weight:bold}.mw .bad{color:#cf222e;font-weight:bold}"
        ".mw .muted{color:#777}.mw h4{margin:6px 0 4px 0}.mw summary{cursor:pointer}</style>")


def fmt_number(value: Any, digits: int = 10) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


Collection_ = tuple[int, ...] | frozenset[int] | set[int]


def html_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: Collection_ = (),
               numeric: Collection_ = (), limit: int = MAX_ROWS) -> str:
    """An HTML table: cells are escaped unless their column is in `raw` (already safe HTML)."""
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in header), "</tr></thead><tbody>"]
    rows = list(rows)
    for row in rows[:limit]:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            out.append(f"<td{cls}>{cell if i in raw else esc(cell)}</td>")
        out.append("</tr>")
    if len(rows) > limit:
        out.append(f'<tr><td colspan="{len(header)}" class="muted">… {len(rows) - limit} more rows</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: Collection_ = (),
             limit: int = MAX_ROWS) -> str:
    """A Markdown table; cells escaped unless their column is in `raw` (math, already safe)."""
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    rows = list(rows)
    for row in rows[:limit]:
        cells = [str(c).replace("|", r"\|") if i in raw else md_escape(c) for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    if len(rows) > limit:
        lines.append(f"| … {len(rows) - limit} more rows |" + " |" * (len(header) - 1))
    return "\n".join(lines)


def math_html(latex: str, display: bool = False) -> str:
    """Inline or display math for HTML output; escaped so the browser shows what MathJax then typesets."""
    body = f"$${esc(latex)}$$" if display else f"${esc(latex)}$"
    return f'<span class="{MATH_CLASS}">{body}</span>'


def math_md(latex: str, display: bool = False) -> str:
    return f"$${latex}$$" if display else f"${latex}$"


def text_html(text: Any) -> str:
    """Plain text, escaped; MathJax ignores it (a sentence with two `$` amounts is not a formula)."""
    return esc(text)


def _wrap_div(body: str) -> str:
    return f'{_CSS}<div class="mw mathjax_ignore tex2jax_ignore">{body}</div>'


# ----------------------------------------------------------------------------- formulations


def _param_value_text(param: Any, compiled: Any | None, limit: int = 160) -> str:
    if not param.index:
        return fmt_number(param.value)
    cp = compiled.params.get(param.name) if compiled is not None else None
    if cp is not None and isinstance(cp.values, dict):
        items = [f"{', '.join(str(k) for k in key)}: {fmt_number(v)}" for key, v in cp.values.items()]
        text = "; ".join(items)
    else:
        text = json.dumps(param.value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _param_matrix_html(param: Any, compiled: Any | None, limit: int = 12) -> str | None:
    """A two-index parameter as a small row-by-column table (None when it is not one, or too big)."""
    if compiled is None or len(param.index) != 2:
        return None
    cp = compiled.params.get(param.name)
    rows, cols = (compiled.sets.get(s) for s in param.index)
    if cp is None or not isinstance(cp.values, dict) or not rows or not cols or max(len(rows), len(cols)) > limit:
        return None
    head = "<tr><th></th>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>"
    body = "".join("<tr><th>" + esc(r) + "</th>" + "".join(
        f'<td class="num">{esc(fmt_number(cp.values.get((r, c))))}</td>' for c in cols) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _set_elements_text(elements: Sequence[Any], limit: int = 12) -> str:
    shown = ", ".join(str(e) for e in elements[:limit])
    return shown + (f", … ({len(elements)} in all)" if len(elements) > limit else "")


def formulation_parts(ir: Any, compiled: Any | None = None) -> dict[str, Any]:
    """Everything the two renderings show, computed once (rows of plain text, LaTeX strings)."""
    return {
        "sets": [(s.name, _set_elements_text(s.elements), s.description) for s in ir.sets],
        "parameters": [(p.name, ", ".join(p.index) or "scalar", _param_value_text(p, compiled), p.description)
                       for p in ir.parameters],
        "variables": [(v.name, variable_latex(v), v.description) for v in ir.variables],
        "objective": None if ir.objective is None else (objective_latex(ir.objective.sense, ir.objective.expr),
                                                       ir.objective.description),
        "constraints": [(c.name, c.label, constraint_latex(c.expr, c.forall), c.source) for c in ir.constraints],
    }


def formulation_html(ir: Any, compiled: Any | None = None, title: str = "Formulation") -> str:
    p = formulation_parts(ir, compiled)
    out = [f"<h4>{esc(title)}: <code>{esc(ir.name)}</code></h4>"]
    if ir.description:
        out.append(f"<p>{text_html(ir.description)}</p>")
    if p["sets"]:
        out.append("<b>Sets</b>" + html_table(("set", "elements", "meaning"),
                                              [(math_html(tex_set(n)), text_html(e), text_html(d))
                                               for n, e, d in p["sets"]], raw={0, 1, 2}))
    if p["parameters"]:
        matrices = [_param_matrix_html(param, compiled) for param in ir.parameters]
        out.append("<b>Parameters</b>" + html_table(
            ("parameter", "index", "value", "meaning"),
            [(math_html(tex_ident(n)), text_html(i), m or text_html(v), text_html(d))
             for (n, i, v, d), m in zip(p["parameters"], matrices, strict=True)], raw={0, 1, 2, 3}))
    out.append("<b>Variables</b>" + html_table(("variable", "domain and bounds", "meaning"),
                                               [(text_html(n), math_html(t), text_html(d))
                                                for n, t, d in p["variables"]], raw={0, 1, 2}))
    if p["objective"] is not None:
        latex, desc = p["objective"]
        out.append(f"<b>Objective</b> {text_html(desc) if desc else ''}<div>{math_html(latex, True)}</div>")
    else:
        out.append("<b>Objective</b>: none (find any solution that satisfies every constraint)")
    if p["constraints"]:
        out.append("<b>Constraints</b>" + html_table(
            ("name", "label", "expression", "from the problem"),
            [(text_html(n), text_html(lab), math_html(t), f'<span class="src">{esc(s)}</span>')
             for n, lab, t, s in p["constraints"]], raw={0, 1, 2, 3}))
    else:
        out.append("<p class=\"muted\">No constraints.</p>")
    return _wrap_div("".join(out))


def formulation_markdown(ir: Any, compiled: Any | None = None, title: str = "Formulation") -> str:
    p = formulation_parts(ir, compiled)
    out = [f"#### {md_escape(title)}: `{md_escape(ir.name)}`"]
    if ir.description:
        out.append(md_escape(ir.description))
    if p["sets"]:
        out.append("**Sets**\n\n" + md_table(("set", "elements", "meaning"),
                                             [(math_md(tex_set(n)), e, d) for n, e, d in p["sets"]], raw={0}))
    if p["parameters"]:
        out.append("**Parameters**\n\n" + md_table(("parameter", "index", "value", "meaning"),
                                                   [(math_md(tex_ident(n)), i, v, d)
                                                    for n, i, v, d in p["parameters"]], raw={0}))
    out.append("**Variables**\n\n" + md_table(("variable", "domain and bounds", "meaning"),
                                              [(n, math_md(t), d) for n, t, d in p["variables"]], raw={1}))
    if p["objective"] is not None:
        latex, desc = p["objective"]
        out.append(f"**Objective** {md_escape(desc)}\n\n{math_md(latex, True)}")
    else:
        out.append("**Objective**: none (find any solution that satisfies every constraint)")
    if p["constraints"]:
        out.append("**Constraints**\n\n" + md_table(("name", "label", "expression", "from the problem"),
                                                    [(n, lab, math_md(t), s) for n, lab, t, s in p["constraints"]],
                                                    raw={2}))
    return "\n\n".join(out)


# ----------------------------------------------------------------------------- model texts

LANGUAGES = {"minizinc": ("MiniZinc", "minizinc"), "milp": ("MILP, CPLEX LP format written by Pyomo", "text"),
             "smt": ("SMT-LIB 2 for z3", "lisp"), "cpsat": ("CP-SAT model proto (text format)", "protobuf")}


def model_text_html(text: str, target: str) -> str:
    title = LANGUAGES.get(target, (target, ""))[0]
    return _wrap_div(f"<b>{esc(title)}</b><pre><code>{esc(clip(text))}</code></pre>")


def model_text_markdown(text: str, target: str) -> str:
    title, lang = LANGUAGES.get(target, (target, ""))
    return f"**{md_escape(title)}**\n\n" + md_code(clip(text), lang)


# ----------------------------------------------------------------------------- solutions


def _status_html(status: str, success: bool) -> str:
    return f'<span class="{"ok" if success else "bad"}">{esc(status)}</span>'


def solution_header(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines above the tables: objective, target and solver, effort, confidence."""
    rows: list[tuple[str, str]] = []
    model = payload.get("model") or {}
    objective = model.get("objective") or {}
    if payload.get("objective") is not None:
        sense = objective.get("sense", "objective")
        desc = f" ({objective['description']})" if objective.get("description") else ""
        rows.append((f"{sense}{desc}", fmt_number(payload["objective"])))
    if payload.get("target"):
        rows.append(("solved with", f"{payload['target']} — {payload.get('solver') or '?'}"))
    effort = f"{payload.get('seconds', 0):.1f} s"
    if payload.get("strategy"):
        effort += f", strategy {payload['strategy']}, {payload.get('repairs', 0)} repairs"
    tokens = payload.get("tokens") or {}
    if tokens.get("prompt") or tokens.get("completion"):
        effort += f", {tokens.get('prompt', 0):,} prompt + {tokens.get('completion', 0):,} completion tokens"
    rows.append(("effort", effort))
    if payload.get("samples") and len(payload["samples"]) == 1:
        rows.append(("confidence", "no vote: the first sample passed every check with no doubt"))
    elif payload.get("samples"):
        rows.append(("confidence", f"{payload.get('confidence', 1.0):.0%} of {len(payload['samples'])} samples"))
    else:
        rows.append(("confidence", f"{payload.get('confidence', 1.0):.0%}"))
    return rows


def _decision_rows(payload: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(d["variable"], ", ".join(str(k) for k in d.get("index") or []), fmt_number(d["value"]),
             d.get("meaning") or "") for d in payload.get("decisions") or []]


def solution_html(payload: Mapping[str, Any], binding: Sequence[Mapping[str, Any]] = (),
                  conflict: Sequence[Mapping[str, Any]] = ()) -> str:
    """The answer: status, objective, decisions with their meaning, binding constraints or the conflict."""
    ok = bool(payload.get("success"))
    out = [f"<h4>Solution: {_status_html(str(payload.get('status')), ok)}</h4>"]
    out.append(html_table(("", ""), solution_header(payload)))
    rows = _decision_rows(payload)
    if rows:
        out.append("<b>Decisions</b>" + html_table(("decision", "index", "value", "meaning"), rows, numeric={2}))
    if binding:
        out.append("<b>Binding constraints</b> (at their limit: these decide the optimum)" + html_table(
            ("constraint", "instance", "from the problem"),
            [(b.get("constraint"), b.get("instance"), b.get("source")) for b in binding]))
    if conflict:
        out.append("<b>Conflicting requirements</b> (call <code>.explain()</code> for the smallest relaxation)"
                   + html_table(("constraint", "label", "from the problem"),
                                [(c.get("name"), c.get("label"), c.get("source")) for c in conflict]))
    if not ok and payload.get("message"):
        out.append(f"<pre>{esc(clip(payload['message'], 3000))}</pre>")
    return _wrap_div("".join(out))


def solution_markdown(payload: Mapping[str, Any], binding: Sequence[Mapping[str, Any]] = (),
                      conflict: Sequence[Mapping[str, Any]] = ()) -> str:
    out = [f"#### Solution: **{md_escape(payload.get('status'))}**",
           md_table(("", ""), solution_header(payload))]
    rows = _decision_rows(payload)
    if rows:
        out.append("**Decisions**\n\n" + md_table(("decision", "index", "value", "meaning"), rows))
    if binding:
        out.append("**Binding constraints** (at their limit)\n\n" + md_table(
            ("constraint", "instance", "from the problem"),
            [(b.get("constraint"), b.get("instance"), b.get("source")) for b in binding]))
    if conflict:
        out.append("**Conflicting requirements**\n\n" + md_table(
            ("constraint", "label", "from the problem"),
            [(c.get("name"), c.get("label"), c.get("source")) for c in conflict]))
    if not payload.get("success") and payload.get("message"):
        out.append(md_code(clip(payload["message"], 3000)))
    return "\n\n".join(out)


# ----------------------------------------------------------------------------- explanations


def _conflict_rows(data: Mapping[str, Any], markdown: bool) -> list[tuple[str, ...]]:
    rows = []
    for e in data.get("conflict") or []:
        if e.get("kind") == "constraint":
            latex = constraint_latex(e.get("expr") or "", e.get("forall") or "")
            rows.append((e.get("name"), e.get("label"), e.get("source"),
                         math_md(latex) if markdown else math_html(latex)))
        else:
            rows.append((e.get("name"), e.get("kind"), e.get("explanation"), ""))
    return rows


def _relaxation_rows(rel: Mapping[str, Any], markdown: bool) -> list[tuple[str, ...]]:
    rows = []
    for req in rel.get("requirements") or []:
        changes = "; ".join(f"{c.get('instance')}: {c.get('text')}" for c in req.get("changes") or [])
        if req.get("new_expr") is None:
            new = "left out entirely"
            new_math = ""
        else:
            new, new_math = "", constraint_latex(req["new_expr"], req.get("new_forall") or "")
        shown = (math_md(new_math) if markdown else math_html(new_math)) if new_math else (
            md_escape(new) if markdown else text_html(new))
        rows.append((req.get("name"), req.get("source") or req.get("label"), changes, shown))
    return rows


def _relaxation_verdict(rel: Mapping[str, Any], objective_description: str = "") -> str:
    status = rel.get("status")
    if status not in ("optimal", "feasible"):
        return f"Re-solving the relaxed model ended: {status}."
    text = f"With these changes the model is {status}"
    if rel.get("objective") is not None:
        desc = f" ({objective_description})" if objective_description else ""
        text += f", objective {fmt_number(rel['objective'])}{desc}"
    text += {True: "; the independent checker confirms the solution.",
             False: "; but the independent checker disagrees.", None: "."}[rel.get("check_ok")]
    return text


def explanation_html(data: Mapping[str, Any]) -> str:
    """An infeasibility explanation: the conflict in the problem's words, then the smallest relaxation."""
    out = [f"<h4>Why <code>{esc(data.get('model'))}</code> has no solution</h4>",
           f"<p>{text_html(data.get('summary'))}</p>"]
    rows = _conflict_rows(data, markdown=False)
    if rows:
        out.append("<b>Conflicting requirements</b>" + html_table(
            ("constraint", "label", "what the problem says", "as modelled"),
            [(text_html(a), text_html(b), f'<span class="src">{esc(c)}</span>', d) for a, b, c, d in rows],
            raw={0, 1, 2, 3}))
    if data.get("conflict_method"):
        minimal = {True: "minimal", False: "not proven minimal"}.get(data.get("conflict_minimal"), "minimality unknown")
        out.append(f'<p class="muted">found by {esc(data["conflict_method"])}; {esc(minimal)}</p>')
    rel = data.get("relaxation")
    if rel:
        what = "requirement" if rel.get("count") == 1 else "requirements"
        proven = "" if rel.get("count_minimal") and rel.get("total_minimal") else " (not proven minimal)"
        out.append(f"<b>Smallest relaxation</b>: change {esc(rel.get('count'))} {what}, total change "
                   f"{esc(fmt_number(rel.get('total'), 6))}{esc(proven)}")
        out.append(html_table(("requirement", "what the problem says", "change", "relaxed"),
                              [(text_html(a), f'<span class="src">{esc(b)}</span>', text_html(c), d)
                               for a, b, c, d in _relaxation_rows(rel, markdown=False)], raw={0, 1, 2, 3}))
        out.append(f"<p>{text_html(_relaxation_verdict(rel, data.get('objective_description', '')))}</p>")
        for note in rel.get("notes") or []:
            out.append(f'<p class="muted">{text_html(note)}</p>')
    elif data.get("message"):
        out.append(f"<p>{text_html(data['message'])}</p>")
    return _wrap_div("".join(out))


def explanation_markdown(data: Mapping[str, Any]) -> str:
    out = [f"#### Why `{md_escape(data.get('model'))}` has no solution", md_escape(data.get("summary"))]
    rows = _conflict_rows(data, markdown=True)
    if rows:
        out.append("**Conflicting requirements**\n\n" + md_table(
            ("constraint", "label", "what the problem says", "as modelled"), rows, raw={3}))
    rel = data.get("relaxation")
    if rel:
        what = "requirement" if rel.get("count") == 1 else "requirements"
        out.append(f"**Smallest relaxation**: change {md_escape(rel.get('count'))} {what}, total change "
                   f"{md_escape(fmt_number(rel.get('total'), 6))}")
        out.append(md_table(("requirement", "what the problem says", "change", "relaxed"),
                            _relaxation_rows(rel, markdown=True), raw={3}))
        out.append(md_escape(_relaxation_verdict(rel, data.get("objective_description", ""))))
    elif data.get("message"):
        out.append(md_escape(data["message"]))
    return "\n\n".join(out)


# ----------------------------------------------------------------------------- traces

_STEP_DETAIL_KEYS = ("attempt", "index", "target", "status", "objective", "stage", "temperature", "conflict",
                     "chosen", "confidence")


def event_outcome(e: Mapping[str, Any]) -> str:
    """One word or two for what a step ended in."""
    kind = e.get("kind")
    if kind == "llm_call":
        return "error" if e.get("error") else str(e.get("finish_reason") or "done")
    if kind == "attempt":
        return str(e.get("outcome") or "")
    if kind == "solve":
        return str(e.get("status") or ("failed" if e.get("ok") is False else ""))
    if "ok" in e:
        return "ok" if e.get("ok") else "failed"
    return ""


def event_detail(e: Mapping[str, Any], limit: int = 240) -> str:
    """A one-line summary of a step's fields (the long ones are in the collapsible part)."""
    kind = e.get("kind")
    if kind == "llm_call":
        text = f"{e.get('backend', '')} {e.get('model', '')}".strip()
        if e.get("temperature") is not None:
            text += f", temperature {e['temperature']}"
        if e.get("error"):
            text += f" — {e['error']}"
        return text[:limit]
    parts = []
    for key in _STEP_DETAIL_KEYS:
        if e.get(key) not in (None, "", []):
            value = e[key]
            parts.append(f"{key} {fmt_number(value) if isinstance(value, float) else value}")
    for key in ("feedback", "error", "message", "problems", "doubts"):
        if e.get(key):
            value = e[key]
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {' '.join(text.split())}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timeline_rows(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per event: step, t (s since start), kind, seconds, tokens, outcome, detail."""
    rows = []
    for i, e in enumerate(events, 1):
        tokens = None
        if e.get("kind") == "llm_call":
            tokens = int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0)
        seconds = e.get("seconds") if isinstance(e.get("seconds"), int | float) else None
        rows.append({"step": i, "t": e.get("t"), "kind": e.get("kind"), "seconds": seconds, "tokens": tokens,
                     "outcome": event_outcome(e), "detail": event_detail(e)})
    return rows


def _messages_html(e: Mapping[str, Any]) -> str:
    msgs = e.get("messages") or []
    parts = []
    for m in msgs:
        role = m.get("role", "?") if isinstance(m, Mapping) else "?"
        content = m.get("content", "") if isinstance(m, Mapping) else str(m)
        parts.append(f"<div><b>{esc(role)}</b><pre>{esc(clip(content))}</pre></div>")
    prompt = (f"<details><summary>prompt: {len(msgs)} messages</summary>{''.join(parts)}</details>"
              if msgs else "")
    response = e.get("response")
    if response is None:
        response = e.get("partial")
    resp = (f"<details><summary>response ({len(str(response)):,} characters)</summary>"
            f"<pre>{esc(clip(response))}</pre></details>" if response is not None else "")
    return prompt + resp


def _step_details_html(e: Mapping[str, Any]) -> str:
    """Long fields of a non-model step (an IR, violations, feedback) in a collapsible block."""
    extra = {k: v for k, v in e.items() if k not in ("kind", "t") and isinstance(v, dict | list) and v}
    feedback = e.get("feedback")
    if not extra and not (isinstance(feedback, str) and len(feedback) > 200):
        return ""
    body = json.dumps(extra, indent=1, ensure_ascii=False, default=str) if extra else ""
    if isinstance(feedback, str) and feedback:
        body = f"feedback:\n{feedback}\n\n{body}"
    return f"<details><summary>details</summary><pre>{esc(clip(body))}</pre></details>"


def timeline_html(data: Mapping[str, Any], title: str = "Trace") -> str:
    """The run step by step; model prompts and responses fold open on click."""
    events = data.get("events") or []
    out = [f"<h4>{esc(title)}</h4>"]
    meta = data.get("meta") or {}
    result = data.get("result") or {}
    facts = []
    if meta:
        facts.append(", ".join(f"{k} {v}" for k, v in meta.items() if v not in (None, "")))
    if result:
        facts.append("result: " + ", ".join(f"{k} {fmt_number(v)}" for k, v in result.items()))
    totals = data.get("totals") or {}
    if totals:
        facts.append(f"{totals.get('llm_calls', 0)} model calls, {int(totals.get('prompt_tokens', 0)):,} prompt + "
                     f"{int(totals.get('completion_tokens', 0)):,} completion tokens, "
                     f"{totals.get('llm_seconds', 0)} s in the model")
    for f in facts:
        out.append(f'<div class="muted">{text_html(f)}</div>')
    header = ("step", "t (s)", "kind", "seconds", "tokens", "outcome", "detail")
    rows = []
    for row, e in zip(timeline_rows(events), events, strict=True):
        detail = text_html(row["detail"])
        detail += _messages_html(e) if e.get("kind") == "llm_call" else _step_details_html(e)
        rows.append((esc(row["step"]), esc(fmt_number(row["t"], 4)), f"<b>{esc(row['kind'])}</b>",
                     esc(fmt_number(row["seconds"], 4)), esc(fmt_number(row["tokens"])), esc(row["outcome"]),
                     detail))
    out.append(html_table(header, rows, raw=set(range(7)), numeric={0, 1, 3, 4}, limit=1000))
    return _wrap_div("".join(out))


def timeline_markdown(data: Mapping[str, Any], title: str = "Trace") -> str:
    events = data.get("events") or []
    rows = [(r["step"], fmt_number(r["t"], 4), r["kind"], fmt_number(r["seconds"], 4), fmt_number(r["tokens"]),
             r["outcome"], r["detail"]) for r in timeline_rows(events)]
    return f"#### {md_escape(title)}\n\n" + md_table(("step", "t (s)", "kind", "seconds", "tokens", "outcome",
                                                      "detail"), rows, limit=1000)


# ----------------------------------------------------------------------------- eval runs


def run_html(summary: Mapping[str, Any], outcomes: Mapping[str, int], path: str) -> str:
    out = [f"<h4>Eval run <code>{esc(path)}</code></h4>",
           html_table(("", ""), [(k, fmt_number(v, 4)) for k, v in summary.items()]),
           "<b>Outcomes</b>" + html_table(("outcome", "problems"), sorted(outcomes.items(), key=lambda kv: -kv[1]),
                                          numeric={1})]
    return _wrap_div("".join(out))


def run_markdown(summary: Mapping[str, Any], outcomes: Mapping[str, int], path: str) -> str:
    return "\n\n".join([f"#### Eval run `{md_escape(path)}`",
                        md_table(("", ""), [(k, fmt_number(v, 4)) for k, v in summary.items()]),
                        "**Outcomes**\n\n" + md_table(("outcome", "problems"),
                                                      sorted(outcomes.items(), key=lambda kv: -kv[1]))])
