"""The Markdown report: plots exist, and every figure in it matches the runs' results.jsonl."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from test_evaluate import (
    FIXTURE,
    FIXTURE_STRATEGY,
    EchoLLM,
    answer,
    fixture_bench,
    problem_text,
    replay_for_current_prompts,
    table_solver,
    write_jsonl,
)
from typer.testing import CliRunner

from agent.benchdata import load_benchmark
from agent.evaluate import EvalError, read_results, run_eval
from agent.report import LOOSE_LABEL, first_attempt_from_trace, write_report


def _images(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def _table(md: str, section: str) -> dict[str, dict[str, str]]:
    """The first table under `## section`, as {first cell: {header: cell}}."""
    lines = md.splitlines()
    start = lines.index(f"## {section}")
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if header is not None:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-"):
            rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def _frac(records: list[dict[str, Any]], key: str) -> str:
    vals = [bool(r[key]) for r in records if r.get(key) is not None]
    return f"{sum(vals)}/{len(vals)} ({100 * sum(vals) / len(vals):.1f}%)" if vals else "—"


def _check_against_results(md: str, label: str, run: Path) -> None:
    """The runs table and the failure taxonomy agree with the run's results.jsonl, number for number."""
    records = read_results(run / "results.jsonl")
    row = _table(md, "Runs")[label]
    assert row["n"] == str(len(records))
    assert row["scored"] == str(sum(1 for r in records if r.get("strict") is not None))
    assert row["strict"] == _frac(records, "strict")
    assert row[LOOSE_LABEL] == _frac(records, "loose")
    assert row["first attempt"] == _frac([r for r in records if r.get("strict") is not None], "first_attempt_strict")
    failures = _table(md, "Failure taxonomy")[label]
    for name, count in failures.items():
        if name != "run":
            assert count == str(sum(1 for r in records if (r.get("outcome") or "unscored") == name)), name
    assert sum(int(v) for k, v in failures.items() if k != "run") == len(records)


@pytest.mark.skipif(not FIXTURE.is_file(), reason="recorded model outputs not present")
def test_report_on_a_real_replayed_run(tmp_path: Path) -> None:
    replay = replay_for_current_prompts(tmp_path)
    run = tmp_path / "runs" / "real"
    from agent.llm import make_llm

    run_eval(fixture_bench(tmp_path), llm_spec=f"replay:{replay}", strategy=FIXTURE_STRATEGY, out_dir=run,
             progress=False, llm=make_llm(f"replay:{replay}"))
    records = read_results(run / "results.jsonl")
    assert len(records) == 3 and all(r["outcome"] != "llm_error" for r in records)

    path = write_report([run], tmp_path / "report")
    md = path.read_text()
    images = _images(md)
    assert {"accuracy.png", "time.png", "failures.png", "repairs.png"} <= set(images)
    for img in images:
        data = (path.parent / img).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    _check_against_results(md, "real", run)
    assert "loose (ORLM/OptMATH protocol)" in md and "round(pred)" in md
    # the time table's median equals the records' median
    secs = sorted(r["seconds"] for r in records)
    assert _table(md, "Time per problem")["real"]["median s"] == f"{secs[1]:.1f}"


def _fake_run(tmp_path: Path, name: str, table: dict[str, Any], rows: list[dict[str, Any]], **kw: Any) -> Path:
    bench = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    out = tmp_path / "runs" / name
    run_eval(bench, llm_spec="openai:stand-in", out_dir=out, llm=EchoLLM(), progress=False,
             numeric_solver=table_solver(table), **kw)
    return out


def test_report_compares_runs_side_by_side_with_grids(tmp_path: Path) -> None:
    rows = [{"id": t, "problem": problem_text(t), "answer": 5, "answer_status": "optimal"} for t in ("a", "b", "c")]
    first_wrong = [NS(outcome="RETRY", status="infeasible", objective=None)]
    run_a = _fake_run(tmp_path, "oneshot", {"a": answer(5.0), "b": answer(5.2), "c": ValueError("x")}, rows,
                      strategy="ir-oneshot")
    run_b = _fake_run(tmp_path, "repair", {"a": answer(5.0), "b": answer(5.0, repairs=1, attempts=first_wrong),
                                           "c": answer(status="error", success=False, stage="validate",
                                                       message="not valid JSON")}, rows, strategy="ir-repair")
    puzzle = load_benchmark("logic_grid", seed=0, limit=1)[0]

    def grid_solver(problem, llm, *, time_limit, trace, seed):
        return NS(rows=puzzle.answer.rows, success=True, status="unique", seconds=0.2, trace=None, repairs=0)

    grid = tmp_path / "runs" / "grid"
    run_eval("logic_grid", llm_spec="openai:stand-in", limit=1, out_dir=grid, llm=EchoLLM(), progress=False,
             grid_solver=grid_solver)
    path = write_report([run_a, run_b, grid], tmp_path / "rep")
    md = path.read_text()
    for img in _images(md):
        assert (path.parent / img).is_file()
    assert "grids.png" in _images(md)
    for label, run in (("oneshot", run_a), ("repair", run_b), ("grid", grid)):
        _check_against_results(md, label, run)
    repair = _table(md, "Repair effect")["repair"]
    assert repair["first attempt strict"] == "1/3 (33.3%)" and repair["final strict"] == "2/3 (66.7%)"
    assert repair["fixed by repair"] == "1" and repair["broken by repair"] == "0"
    g = _table(md, "Logic grid puzzles")["grid"]
    assert g["puzzle accuracy"] == "1/1 (100.0%)" and g["cell accuracy"] == "100.0%"
    assert _table(md, "Runs")["oneshot"]["strategy"] == "ir-oneshot"
    assert "ValueError: x" in md  # exceptions are listed


def test_first_attempt_is_recovered_from_the_trace(tmp_path: Path) -> None:
    trace = {"events": [{"kind": "solve", "status": "optimal", "objective": 4.0},
                        {"kind": "attempt", "index": 1, "outcome": "RETRY", "stage": "check"},
                        {"kind": "solve", "status": "optimal", "objective": 5.0},
                        {"kind": "attempt", "index": 2, "outcome": "SUCCESS", "stage": "done"}]}
    (tmp_path / "t.json").write_text(json.dumps(trace))
    rec = {"id": "x", "repairs": 1, "strict": True, "gt": 5.0, "gt_status": "optimal", "trace": "t.json"}
    assert first_attempt_from_trace(tmp_path, rec) is False
    trace["events"][1]["outcome"] = "SUCCESS"
    trace["events"][0]["objective"] = 5.0
    (tmp_path / "t.json").write_text(json.dumps(trace))
    assert first_attempt_from_trace(tmp_path, rec) is True
    assert first_attempt_from_trace(tmp_path, {**rec, "repairs": 0}) is True


def test_report_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no such run folder"):
        write_report([tmp_path / "nope"], tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match="not an eval run folder"):
        write_report([tmp_path / "empty"], tmp_path / "r")
    from agent.cli import app

    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no such run folder" in result.output and "Traceback" not in result.output
