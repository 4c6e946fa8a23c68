"""`modelwright doubts`: the loop's checks over recorded answers, against the labels."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.audit import audit_records
from agent.benchdata import load_benchmark
from agent.cli import app

RECORD = Path(__file__).resolve().parent / "fixtures" / "choices" / "examples-pipeline-6.calls.jsonl"


def test_recorded_answers_are_judged_by_the_loops_own_nodes() -> None:
    """The twelve calls of the pattern-example run (08bc35f): seven distinct answers the loop can read. Three are
    right as written (depot 355, makespan 12, water 0.75) and none of them is doubted; each of the four wrong
    ones (a condition turned around, one side of an assignment, two coverage transposes) is turned right by the
    loop's own rewrite. The five calls that are repair turns or unreadable are counted, not judged."""
    audit = audit_records([RECORD], load_benchmark("examples", subset="all"))
    figures = audit.figures()
    assert (figures["answers"], figures["right"], figures["right, doubted"]) == (7, 3, 0)
    assert figures["right, turned wrong by a rewrite"] == 0
    assert (figures["wrong"], figures["wrong, turned right by a rewrite"]) == (4, 4)
    assert {j.problem_id for j in audit.judged if j.right} == {"depot_location_abs", "machine_makespan",
                                                               "water_allocation_maximin"}


def test_the_doubts_command_prints_the_figures_and_rejects_a_missing_file() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["doubts", str(RECORD), "--bench", "examples"])
    assert result.exit_code == 0 and "right, doubted" in result.output
    missing = runner.invoke(app, ["doubts", "no/such.jsonl", "--bench", "examples"])
    assert missing.exit_code == 2 and "no such file" in missing.output
