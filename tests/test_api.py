"""The notebook API (agent/api.py) and its displays (agent/views.py).

Model steps replay the notebooks' recordings of real embedded-model responses
(tests/fixtures/notebooks/*.jsonl); the displays are checked for escaping of hostile model text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent import EvalRun, FormalizationError, Formulation, ModelText, Modelwright, Solution, Timeline, load_run, views
from agent.llm import LLM, Completion
from formalizers.ir import IRError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "datasets" / "examples"
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
EXAMPLE_IRS = sorted(EXAMPLES.glob("*.ir.json"))

HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)> $\\href{javascript:alert(3)}{x}$ ``` | *'


MATH_SPAN = re.compile(r'<span class="mathjax_process tex2jax_process">(.*?)</span>')


def _math_ok(html_text: str) -> bool:
    """Every formula sits in a MathJax-processed span, delimited, with no `$` of its own and no macro smuggled."""
    spans = MATH_SPAN.findall(html_text)
    return bool(spans) and all(re.fullmatch(r"\$\$?(?:[^$\\]|\\.)*\$?\$", s) and "\\href" not in s for s in spans)


# ----------------------------------------------------------------------------- import stays light


def test_import_agent_is_light() -> None:
    code = ("import sys, agent; heavy = [m for m in ('solvers', 'pydantic', 'langgraph', 'llama_cpp', 'agent.api', "
            "'pandas', 'matplotlib') if m in sys.modules]; print(heavy); assert 'Modelwright' in dir(agent)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute() -> None:
    import agent

    with pytest.raises(AttributeError):
        agent.NoSuchThing  # noqa: B018


# ----------------------------------------------------------------------------- LaTeX


@pytest.mark.parametrize(("expr", "latex"), [
    ("sum(p in P)(c[p] * x[p]) <= 10", r"\sum_{p \in \mathrm{P}} c_{p} \cdot x_{p} \le 10"),
    ("x / (y + 1) >= 2", r"\frac{x}{y + 1} \ge 2"),
    ("a - (b - c) == 0", r"a - \left(b - c\right) = 0"),
    ("(a + b) * c", r"\left(a + b\right) \cdot c"),
    ("x ^ 2 + y", r"{x}^{2} + y"),
    ("abs(x - y) >= 3", r"\left|x - y\right| \ge 3"),
    ("not (a == 1 and b == 1)", r"\neg \left(a = 1 \land b = 1\right)"),
    ("x == 1 -> y == 0 or z != 2", r"x = 1 \Rightarrow y = 0 \lor z \neq 2"),
    ('make["primer"] <= 1.5e-07', r"\mathit{make}_{\text{primer}} \le 1.5 \times 10^{-7}"),
    ("max(load[1], load[2])", r"\max\left(\mathit{load}_{1}, \mathit{load}_{2}\right)"),
    ("sum(i in S, j in T where i != j)(flow_cost[i, j])",
     r"\sum_{\substack{i \in \mathrm{S} \\ j \in \mathrm{T} \\ i \neq j}} \mathit{flow\_cost}_{i,j}"),
    ("sum(t in 1..T)(x[t] + y[t])", r"\sum_{t \in \{1, \ldots, T\}} \left(x_{t} + y_{t}\right)"),
    ("alldifferent(c in Colors)(house[c])",
     r"\operatorname{alldifferent}_{c \in \mathrm{Colors}} \left(\mathit{house}_{c}\right)"),
    ("-x + 3 * -y", r"-x + 3 \cdot -y"),
])
def test_expression_latex(expr: str, latex: str) -> None:
    assert views.latex_of(expr) == latex


def test_constraint_latex_puts_the_quantifier_after() -> None:
    got = views.constraint_latex("flow[i, j] <= cap[i, j]", "i, j in Nodes where i != j")
    assert got == (r"\mathit{flow}_{i,j} \le \mathit{cap}_{i,j} \qquad \forall\, i \in \mathrm{Nodes},\ "
                   r"j \in \mathrm{Nodes} : i \neq j")


def test_unparseable_expression_is_shown_as_text() -> None:
    assert views.latex_of("x +* y") == r"\text{x +* y}"


def test_tex_text_cannot_smuggle_macros() -> None:
    got = views.tex_text("\\href{javascript:alert(1)}{x} $5 & 50%")
    assert "\\href" not in got and "\\backslash" in got
    assert got.count(r"\text{") == got.count("}") - got.count(r"\}")  # every brace left is a \text{...}


# ----------------------------------------------------------------------------- formulations of every example


@pytest.mark.parametrize("path", EXAMPLE_IRS, ids=[p.name.removesuffix(".ir.json") for p in EXAMPLE_IRS])
def test_every_example_formulation_renders(path: Path) -> None:
    f = Formulation.from_file(path)
    html_text, md = f._repr_html_(), f._repr_markdown_()
    assert _math_ok(html_text)
    for c in f.ir.constraints:
        assert views.esc(c.name) in html_text
        assert views.esc(c.source)[:40] in html_text
    for v in f.ir.variables:
        assert views.esc(v.name) in html_text and views.md_escape(v.name) in md
    if f.ir.objective is not None:
        assert (r"\max" if f.ir.objective.sense == "maximize" else r"\min") in html_text
    for target in f.targets:
        text = f.render(target)
        assert isinstance(text, ModelText) and str(text).strip()
        assert "<pre" in text._repr_html_() and text._repr_markdown_().startswith("**")


def test_formulation_from_dict_text_and_errors(tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "bakery_integer.ir.json").read_text())
    assert Formulation(data).name == Formulation(json.dumps(data)).name == "bakery_integer"
    with pytest.raises(IRError):
        Formulation({"name": "x", "variables": []})
    with pytest.raises(IRError):
        Formulation.from_file(tmp_path / "missing.ir.json")
    saved = Formulation(data).save(tmp_path / "b.ir.json")
    assert Formulation.from_file(saved).to_dict() == Formulation(data).to_dict()


def test_render_auto_and_unsupported_target() -> None:
    import solvers

    f = Formulation.from_file(EXAMPLES / "paint_production_lp.ir.json")
    assert f.render("auto").target == "milp"
    with pytest.raises(solvers.TargetUnsupported):
        f.render("cpsat")  # continuous variables


def test_model_text_fence_outlasts_backticks() -> None:
    md = ModelText("a ``` b\n````\n", "minizinc")._repr_markdown_()
    assert "`````minizinc\n" in md and md.rstrip().endswith("`````")


# ----------------------------------------------------------------------------- solving a formulation


def test_formulation_solve_and_solution_views() -> None:
    sol = Formulation.from_file(EXAMPLES / "paint_production_lp.ir.json").solve()
    assert isinstance(sol, Solution) and sol.success and sol.status == "optimal"
    assert sol.objective == pytest.approx(71500)
    assert {b["constraint"] for b in sol.binding} == {"resource_limit"}
    payload = sol.to_dict()
    assert payload["status"] == "optimal" and payload["model"]["name"] == "paint_production_lp"
    html_text = sol._repr_html_()
    assert "Decisions" in html_text and "71500" in html_text and "Binding constraints" in html_text
    assert "| make | interior | 3.5 |" in sol._repr_markdown_()
    assert [e["kind"] for e in sol.trace.events] == ["solve", "check"]
    with pytest.raises(ValueError, match="not infeasible"):
        sol.explain()


def test_infeasible_formulation_explained_and_relaxed() -> None:
    sol = Formulation.from_file(EXAMPLES / "brewery_infeasible.ir.json").solve()
    assert sol.status == "infeasible" and not sol.success
    assert {c["name"] for c in sol.conflict} == {"fill_orders", "tank_limit"}
    assert ".explain()" in sol._repr_html_()
    why = sol.explain()
    assert why is sol.explain()  # computed once
    assert {c["name"] for c in why.conflict} == {"fill_orders", "tank_limit"}
    assert "600 hectoliters" in why.summary
    html_text = why._repr_html_()
    assert "Smallest relaxation" in html_text and "650" in html_text and _math_ok(html_text)
    assert "Smallest relaxation" in why._repr_markdown_()
    fixed = why.relaxed
    assert isinstance(fixed, Formulation)
    again = fixed.solve()
    assert again.status == "optimal" and again.objective == pytest.approx(33500)
    assert sol.to_dict()["explanation"]["relaxation"]["count"] == 1


# ----------------------------------------------------------------------------- hostile text is escaped


def _hostile_ir() -> dict:
    return {
        "name": "hostile", "description": HOSTILE,
        "sets": [{"name": "S", "elements": ["<img src=x onerror=alert(4)>", "\\href{javascript:alert(5)}{y}"],
                  "description": HOSTILE}],
        "parameters": [{"name": "cap", "index": ["S"], "value": [3, 4], "description": HOSTILE}],
        "variables": [{"name": "x", "index": ["S"], "domain": "integer", "lower": 0, "upper": 10,
                       "description": HOSTILE}],
        "constraints": [{"name": "c1", "label": HOSTILE, "source": HOSTILE, "forall": "s in S",
                         "expr": "x[s] <= cap[s]"},
                        {"name": "c2", "label": HOSTILE, "source": HOSTILE,
                         "expr": 'x["<img src=x onerror=alert(4)>"] >= 1'}],
        "objective": {"sense": "maximize", "expr": "sum(s in S)(x[s])", "description": HOSTILE},
    }


def _assert_inert(text: str, markdown: bool = False) -> None:
    """No live markup, and no macro in any formula (in plain text `\\href` is only characters): in HTML the
    formulas are the MathJax-processed spans, in Markdown whatever sits between unescaped `$`."""
    low = text.lower()
    assert "<script" not in low and "<img" not in low and "<a " not in low
    formulas = re.findall(r"(?<![\\])\$(.+?)(?<![\\])\$", text) if markdown else MATH_SPAN.findall(text)
    for formula in formulas:
        assert "\\href" not in formula and "javascript" not in formula


def test_hostile_text_is_escaped_everywhere() -> None:
    f = Formulation(_hostile_ir())
    _assert_inert(f._repr_html_())
    _assert_inert(f._repr_markdown_(), markdown=True)
    assert "&lt;script&gt;" in f._repr_html_()
    sol = f.solve()
    assert sol.success
    for text in (sol._repr_html_(), sol.trace._repr_html_()):
        _assert_inert(text)
    for text in (sol._repr_markdown_(), sol.trace._repr_markdown_()):
        _assert_inert(text, markdown=True)
    _assert_inert(ModelText(HOSTILE, "minizinc")._repr_html_())


def test_hostile_trace_is_escaped_and_collapsible() -> None:
    tl = Timeline({"problem": HOSTILE, "meta": {"strategy": HOSTILE}, "events": [
        {"kind": "formalize", "t": 0.0, "attempt": 1},
        {"kind": "llm_call", "t": 1.5, "messages": [{"role": "user", "content": HOSTILE}],
         "response": "</pre></details>" + HOSTILE, "prompt_tokens": 10, "completion_tokens": 5, "seconds": 1.2},
        {"kind": "validate", "t": 1.6, "ok": False, "problems": [HOSTILE]},
        {"kind": "attempt", "t": 1.7, "index": 1, "outcome": "RETRY", "stage": "validate", "feedback": HOSTILE * 3},
    ]})
    html_text = tl._repr_html_()
    _assert_inert(html_text)
    _assert_inert(tl._repr_markdown_(), markdown=True)
    assert html_text.count("<details>") == 4  # prompt, response, problems, long feedback
    assert "&lt;/pre&gt;&lt;/details&gt;" in html_text
    rows = tl.rows()
    assert [r["kind"] for r in rows] == ["formalize", "llm_call", "validate", "attempt"]
    assert rows[1]["tokens"] == 15 and rows[2]["outcome"] == "failed" and rows[3]["outcome"] == "RETRY"


def test_markdown_escape() -> None:
    assert views.md_escape("1. a_b | c") == r"1\. a\_b \| c"
    assert views.md_escape("<b>x</b> & $5") == r"&lt;b&gt;x&lt;/b&gt; &amp; \$5"


# ----------------------------------------------------------------------------- the agent, on recorded responses


class _Scripted(LLM):
    """A test double that answers with fixed texts (for the failure paths no real model run would hit)."""

    backend = "scripted"

    def __init__(self, answers: list[str]) -> None:
        super().__init__("scripted")
        self.answers = list(answers)

    def _complete(self, messages, *, json_schema, temperature, max_tokens, timeout, seed) -> Completion:
        text = self.answers.pop(0) if self.answers else "not json"
        return Completion(text, 1, 1, 0.0, "scripted", "scripted", "stop")


def test_formalize_gives_up_with_the_trace() -> None:
    mw = Modelwright(llm=_Scripted(["not json", "{}", "[]"]), strategy="ir-repair", max_repairs=2)
    text = (EXAMPLES / "bakery_integer.txt").read_text()
    with pytest.raises(FormalizationError) as info:
        mw.formalize(text)
    trace = info.value.trace
    assert trace is not None and len(trace.llm_calls) == 3
    assert [e["ok"] for e in trace.events if e["kind"] == "validate"] == [False, False, False]
    # every repair turn carries the problems found
    assert "could not be read" in trace.llm_calls[1]["messages"][-1]["content"]


def test_modelwright_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="strategy"):
        Modelwright(strategy="nope")
    with pytest.raises(ValueError, match="target"):
        Modelwright(target="gurobi")
    with pytest.raises(ValueError, match="layout"):
        Modelwright(layout="tabular")
    with pytest.raises(ValueError):
        Modelwright(llm="nonsense-spec")
    with pytest.raises(ValueError, match="MiniZinc text"):
        Modelwright(llm=_Scripted([]), strategy="mzn-repair").formalize((EXAMPLES / "diet.txt").read_text())
    with pytest.raises(TypeError):
        Modelwright(llm=_Scripted([])).solve(42)  # type: ignore[arg-type]


def _replay(name: str) -> str:
    path = FIXTURES / f"{name}.jsonl"
    if not path.is_file():
        pytest.skip(f"no recording {path}")
    return f"replay:{path}"


def test_solve_on_recorded_embedded_model() -> None:
    mw = Modelwright(llm=_replay("01_quickstart"), strategy="ir-repair")
    sol = mw.solve(EXAMPLES / "paint_production_lp.txt")  # a Path reads the file
    assert sol.formulation is not None and sol.status in ("optimal", "feasible", "infeasible", "unbounded", "error")
    assert sol.trace.llm_calls and all(c["response"] for c in sol.trace.llm_calls)
    assert sol.trace.llm_calls[0]["backend"] == "replay"
    payload = sol.to_dict()
    assert payload["llm"].startswith("replay:") and payload["strategy"] == "ir-repair"
    from agent.answer import answer_dict

    assert payload == answer_dict(sol.result, llm=mw.llm_spec)
    _assert_inert(sol._repr_html_())
    _assert_inert(sol.trace._repr_html_())


def test_formalize_on_recorded_embedded_model() -> None:
    mw = Modelwright(llm=_replay("02_infeasibility"), strategy="ir-repair")
    f = mw.formalize((EXAMPLES / "bottle_packing_infeasible.txt").read_text())
    assert isinstance(f, Formulation) and f.trace is not None
    assert f.trace.llm_calls and f.trace.events[-1]["kind"] == "validate" and f.trace.events[-1]["ok"]
    assert f.problem.startswith("A winery must ship")
    assert f.solve().status == "infeasible"  # what notebook 02 relies on


# ----------------------------------------------------------------------------- eval runs


def _fixture_run() -> Path:
    runs = sorted(p.parent for p in FIXTURES.glob("*/config.json"))
    if not runs:
        pytest.skip("no eval run stored under tests/fixtures/notebooks")
    return runs[0]


def test_load_run_fixture() -> None:
    run = load_run(_fixture_run())
    assert isinstance(run, EvalRun) and run.records
    assert sum(run.outcomes().values()) == len(run.records)
    assert run.accuracy is None or 0.0 <= run.accuracy <= 1.0
    results = run.results
    assert len(results) == len(run.records)
    for rec in run.records:
        tl = run.trace(rec["id"])
        assert isinstance(tl, Timeline) and tl.data.get("eval", {}).get("id") == rec["id"]
    html_text = run._repr_html_()
    assert "strict accuracy" in html_text and "Outcomes" in html_text


def test_load_run_refuses_escaping_trace_paths(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"config": {"benchmark": "x"}}))
    (tmp_path / "results.jsonl").write_text(json.dumps({"id": "p1", "outcome": "correct", "strict": True,
                                                        "trace": "../../etc/passwd"}) + "\n")
    run = load_run(tmp_path)
    assert run.accuracy == 1.0 and run.failures() == []
    with pytest.raises(ValueError, match="outside"):
        run.trace("p1")
    with pytest.raises(KeyError):
        run.record("p2")


def test_load_run_needs_a_run_folder(tmp_path: Path) -> None:
    from agent.evaluate import EvalError

    with pytest.raises(EvalError):
        load_run(tmp_path)


def test_results_without_pandas(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"config": {}}))
    (tmp_path / "results.jsonl").write_text('{"id": "a", "outcome": "wrong_answer", "strict": false}\n'
                                            '{"id": "a", "outcome": "correct", "strict": true}\n')
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    run = load_run(tmp_path)
    assert run.results == [{"id": "a", "outcome": "correct", "strict": True}]  # the last record of an id counts


def test_timeline_frame_and_file(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    sol = Formulation.from_file(EXAMPLES / "bakery_integer.ir.json").solve()
    path = tmp_path / "t.json"
    path.write_text(json.dumps(sol.trace.data, default=str))
    tl = Timeline.from_file(path)
    frame = tl.to_frame()
    assert list(frame["kind"]) == ["solve", "check"] and re.search(r"2 steps", repr(tl))
