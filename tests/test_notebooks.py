"""Execute the notebooks top to bottom in a real python3 kernel, so they never rot.

The model steps replay recordings of real embedded-model responses (tests/fixtures/notebooks/<nb>.jsonl,
made by running the notebook once with MODELWRIGHT_NOTEBOOK_LLM=embedded and MODELWRIGHT_NOTEBOOK_RECORD set;
see tests/fixtures/notebooks/README.md). A prompt change makes the replay miss: re-record then.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
NAMES = ["01_quickstart", "02_infeasibility", "03_benchmark_analysis"]
CELL_TIMEOUT = 300  # seconds per cell: solver calls and explanations on a loaded CI machine


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def _text(nb: Any) -> str:
    """Everything the notebook showed: streams, plain text, HTML and Markdown of every output."""
    parts = []
    for out in _outputs(nb):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        for mime in ("text/plain", "text/html", "text/markdown"):
            value = out.get("data", {}).get(mime)
            if value:
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def _run(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    recording = FIXTURES / f"{name}.jsonl"
    if recording.is_file():
        monkeypatch.setenv("MODELWRIGHT_NOTEBOOK_LLM", f"replay:{recording}")
    else:
        monkeypatch.setenv("MODELWRIGHT_NOTEBOOK_LLM", "replay:/nonexistent.jsonl")  # no model step may run
    monkeypatch.delenv("MODELWRIGHT_NOTEBOOK_RECORD", raising=False)
    monkeypatch.delenv("MODELWRIGHT_NOTEBOOK_RUN", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first cell that fails
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, errors
    return nb


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_clean(name: str) -> None:
    """Stored without outputs, nbformat v4, python3 kernel: diffs stay readable and nothing stale is shown."""
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: stored with outputs"
    assert "MODELWRIGHT_NOTEBOOK_LLM" in path.read_text() or name == "03_benchmark_analysis"


@pytest.mark.slow
def test_quickstart(monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run("01_quickstart", monkeypatch)
    text = _text(nb)
    assert "Solution:" in text and "Decisions" in text  # the answer as a table
    assert "Formulation:" in text and "Constraints" in text and "\\max" in text  # the IR as math
    assert "MiniZinc" in text and "CPLEX LP format" in text and "check-sat" in text  # three renderings
    assert "llm_call" in text and "<details>" in text  # the trace with collapsible prompts
    assert "expected" in text


@pytest.mark.slow
def test_infeasibility(monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run("02_infeasibility", monkeypatch)
    text = _text(nb)
    assert "infeasible" in text
    assert "Conflicting requirements" in text and "Smallest relaxation" in text
    assert "exactly 44 bottles" in text  # the conflict in the problem's words
    assert "Solution: <span class=\"ok\">optimal</span>" in text  # the repaired model re-solved
    assert "conflict: ['exact_order', 'min_large_cases']" in text


@pytest.mark.slow
def test_benchmark_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _run("03_benchmark_analysis", monkeypatch)
    text = _text(nb)
    assert "Eval run" in text and "strict accuracy" in text
    assert sum("image/png" in o.get("data", {}) for o in _outputs(nb)) == 2  # accuracy/failures, times
    assert "Trace of" in text and "llm_call" in text
    assert "# " in text  # the Markdown report


def test_recordings_are_real_model_output() -> None:
    """Every recorded response came from the embedded model (llama.cpp), never from a hand-written file:
    the notebooks' recordings and the model calls of the stored eval run."""
    recordings = [p for p in FIXTURES.glob("*.jsonl") if p.stem in NAMES] + sorted(FIXTURES.glob("*.calls.jsonl"))
    assert recordings, "no recordings"
    for path in recordings:
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            assert rec["backend"] == "llama.cpp" and "qwen2.5-coder-1.5b" in rec["model"].lower(), path
            assert rec["completion_tokens"] > 0 and rec["seconds"] > 0
