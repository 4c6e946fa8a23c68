"""`modelwright solve` on inputs a user can get wrong: each ends with one clear message and exit 2."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()


def _solve(*args: str, stdin: bytes | None = None):
    return runner.invoke(app, ["solve", *args], input=stdin)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"   \n\t\n", "empty"),
        (b"\x00\x01\x02binary" * 100, "binary"),
        (b"\xff\xfe\xfa not utf8 at all", "UTF-8"),
        (b"hello world", "does not read like an optimization problem"),
        (b"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19", "does not read like"),
        (b"x" * 2_000_000, "more than 1,000,000 bytes"),
        (("word " * 5000).encode(), "limit is"),
        (base64.encodebytes(bytes(range(256)) * 9), "does not read like sentences"),
        (base64.b64encode(bytes(range(7, 256, 3)) * 20).replace(b"/", b" "), "does not read like sentences"),
        (bytes(range(256)).hex(" ").encode() * 4, "does not read like sentences"),
    ],
    ids=["empty", "blank", "binary", "latin1", "two-words", "numbers-only", "2MB", "25k-chars", "base64-lines",
         "base64-spaced", "hex-dump"],
)
def test_bad_problem_files_fail_cleanly(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "problem.txt"
    path.write_bytes(content)
    result = _solve(str(path), "--llm", "replay:/nonexistent.jsonl")
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in _solve(str(tmp_path / "nope.txt")).output
    r = _solve(str(tmp_path))
    assert r.exit_code == 2 and "directory" in r.output


def test_stdin_empty() -> None:
    r = _solve("-", stdin=b"")
    assert r.exit_code == 2 and "stdin" in r.output


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--target", "cplex", "unknown target"),
    ("--strategy", "magic", "unknown strategy"),
    ("--layout", "grid", "unknown layout"),
    ("--llm", "gpt5", "unknown backend spec"),
    ("--llm", "gguf:/no/such/model.gguf", "not found"),
    ("--llm", "replay:/no/such/calls.jsonl", "replay file not found"),
])
def test_bad_options(option: str, value: str, expected: str) -> None:
    problem = Path(__file__).parents[1] / "datasets" / "examples" / "bakery_integer.txt"
    r = _solve(str(problem), option, value)
    assert r.exit_code == 2, r.output
    assert expected in " ".join(r.output.split())


def test_solve_is_bounded_without_a_time_budget_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """An input that passes the text checks yet makes the model ramble must still end: `solve` always has a
    budget for the whole problem, `eval`'s per-problem limit unless `--time-budget` says otherwise."""
    import agent.strategies
    from agent.formalize import ProblemTextError

    budgets: list[float | None] = []

    def stop_at_the_budget(*args, time_budget: float | None = None, **kwargs):
        budgets.append(time_budget)
        raise ProblemTextError("stopped after reading the budget")

    monkeypatch.setattr(agent.strategies, "solve_problem", stop_at_the_budget)
    problem = str(Path(__file__).parents[1] / "datasets" / "examples" / "bakery_integer.txt")
    replay = "replay:" + str(Path(__file__).parent / "fixtures" / "eval_replay.jsonl")
    assert _solve(problem, "--llm", replay).exit_code == 2
    assert _solve(problem, "--llm", replay, "--time-budget", "60").exit_code == 2
    assert budgets == [agent.strategies.DEFAULT_PROBLEM_TIMEOUT, 60.0]
