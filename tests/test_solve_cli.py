"""`modelwright solve` on inputs a user can get wrong: each ends with one clear message and exit 2."""

from __future__ import annotations

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
    ],
    ids=["empty", "blank", "binary", "latin1", "two-words", "numbers-only", "2MB", "25k-chars"],
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
])
def test_bad_options(option: str, value: str, expected: str) -> None:
    problem = Path(__file__).parents[1] / "datasets" / "examples" / "bakery_integer.txt"
    r = _solve(str(problem), option, value)
    assert r.exit_code == 2, r.output
    assert expected in " ".join(r.output.split())
