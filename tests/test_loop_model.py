"""The whole loop with the real embedded model (marked `model`: minutes on a CPU, run by CI).

Each test is one English problem of `datasets/examples/` solved by `modelwright solve` as a user runs
it, with one sample (`--strategy ir-repair`, greedy first attempt) to keep CI within its budget. The
answers are checked against the hand-checked expected results, not against what the model said.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.llm.errors import ModelUnavailable
from agent.llm.model_store import embedded_model_path

EXAMPLES = Path(__file__).resolve().parents[1] / "datasets" / "examples"
runner = CliRunner()

pytestmark = pytest.mark.model


@pytest.fixture(scope="module", autouse=True)
def _model_present() -> None:
    try:
        embedded_model_path()
    except ModelUnavailable as exc:
        pytest.skip(str(exc))


def _solve_json(name: str, tmp_path: Path, *extra: str) -> tuple[int, dict, dict]:
    trace_path = tmp_path / f"{name}.trace.json"
    result = runner.invoke(app, ["solve", str(EXAMPLES / f"{name}.txt"), "--strategy", "ir-repair", "--json",
                                 "--trace", str(trace_path), "--llm-timeout", "900", *extra])
    assert "Traceback" not in result.output
    out = result.stdout
    assert "{" in out, result.output  # --json prints one (indented) JSON object on stdout
    answer, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    return result.exit_code, answer, json.loads(trace_path.read_text())


@pytest.mark.parametrize("name", ["bakery_integer", "satellite_knapsack"])
def test_embedded_model_solves_example(name: str, tmp_path: Path) -> None:
    expected = json.loads((EXAMPLES / f"{name}.expected.json").read_text())
    code, answer, trace = _solve_json(name, tmp_path)
    assert code == 0, answer
    assert answer["status"] == "optimal"
    assert math.isclose(answer["objective"], expected["objective"], rel_tol=1e-6, abs_tol=1e-6)
    kinds = [e["kind"] for e in trace["events"]]
    assert "llm_call" in kinds and "check" in kinds  # the model was asked and the checker confirmed
    calls = [e for e in trace["events"] if e["kind"] == "llm_call"]
    assert all(c["backend"] == "llama.cpp" and c["completion_tokens"] > 0 for c in calls)


def test_embedded_model_confirms_an_infeasible_request(tmp_path: Path) -> None:
    """The user's own rota is impossible: the answer is 'infeasible' with the clashing rules named."""
    code, answer, _ = _solve_json("weekend_rota_infeasible", tmp_path)
    assert code == 1, answer
    assert answer["status"] == "infeasible"
    text = json.dumps(answer).lower()
    assert "saturday" in text and "bob" in text  # the conflict is stated in the problem's words
