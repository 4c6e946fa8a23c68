"""A Markdown report with PNG plots over one or more eval runs (folders written by ``agent.evaluate``).

Every number is recomputed from each run's ``results.jsonl`` (not from ``metrics.json``), so the
report can never disagree with the records it summarises. Strict accuracy is the headline; the loose
ORLM/OptMATH protocol is shown beside it, always labelled, for comparison with published numbers.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.evaluate import CONFIG_FILE, RESULTS_FILE, EvalError, first_attempt_from_events, read_results, summarize
from agent.metrics import LOOSE_PROTOCOL, Outcome, score_numeric

LOOSE_LABEL = "loose (ORLM/OptMATH protocol)"
_OUTCOME_COLORS = {
    "correct": "#2ca02c", "wrong_answer": "#d62728", "infeasible": "#ff7f0e", "unbounded": "#e377c2",
    "no_parse": "#9467bd", "invalid_ir": "#8c564b", "render_error": "#bcbd22", "solver_error": "#7f7f7f",
    "timeout": "#17becf", "llm_error": "#1f77b4", "unscored": "#dddddd",
}


@dataclass
class Run:
    """One run folder: its configuration, its records, and a short label for tables and plots."""

    path: Path
    config: dict[str, Any]
    records: list[dict[str, Any]]
    label: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def benchmarks(self) -> list[str]:
        return sorted({str(r.get("benchmark") or self.config.get("benchmark") or "?") for r in self.records})


def load_run(path: Path) -> Run:
    """Read a run folder; :class:`EvalError` when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise EvalError(f"{path}: no such run folder")
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file() or not (path / RESULTS_FILE).is_file():
        raise EvalError(f"{path}: not an eval run folder (needs {CONFIG_FILE} and {RESULTS_FILE})")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))["config"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"{cfg_path}: not a run configuration ({exc})") from None
    records = _dedupe(read_results(path / RESULTS_FILE))
    for rec in records:
        if rec.get("first_attempt_strict") is None and rec.get("strict") is not None:
            rec["first_attempt_strict"] = first_attempt_from_trace(path, rec)
    run = Run(path=path, config=config, records=records)
    try:
        run.metrics = summarize(records, config)
    except ValueError as exc:
        raise EvalError(f"{path}: {exc}") from None
    n_sel = config.get("n_selected")
    run.metrics["complete"] = n_sel is None or len(records) >= n_sel
    return run


def _dedupe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for r in records:
        if r["id"] not in seen:
            seen.add(r["id"])
            out.append(r)
    return out


def first_attempt_from_trace(run_dir: Path, rec: Mapping[str, Any]) -> bool | None:
    """Strict correctness of the first attempt alone, read from the trace when the record lacks it.

    See :func:`agent.evaluate.first_attempt_from_events`. Repairs 0 means the first attempt is the
    final answer.
    """
    if not rec.get("repairs"):
        return rec.get("strict")
    rel = rec.get("trace")
    if not rel or rec.get("kind") == "grid":
        return None
    try:
        trace = json.loads((run_dir / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    first = first_attempt_from_events(trace.get("events", []))
    if first is None:
        return None
    pred, pred_status, failure = first
    return score_numeric(pred=pred, gt=rec.get("gt"), gt_status=rec.get("gt_status"), pred_status=pred_status,
                         failure=failure, tol=rec.get("tolerance") or 1e-6)["strict"]


def _labels(runs: Sequence[Run]) -> None:
    names = [r.path.name for r in runs]
    for run in runs:
        run.label = run.path.name
        if names.count(run.label) > 1:
            run.label = f"{run.path.parent.name}/{run.path.name}"


# ----------------------------------------------------------------------------- numbers


def _frac(num: int, den: int) -> str:
    return f"{num}/{den} ({100 * num / den:.1f}%)" if den else "—"


def _num(x: Any, fmt: str = ".1f") -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def _group_scores(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    strict = [bool(r["strict"]) for r in records if r.get("strict") is not None]
    loose = [bool(r["loose"]) for r in records if r.get("loose") is not None]
    first = [bool(r["first_attempt_strict"]) for r in records if r.get("first_attempt_strict") is not None
             and r.get("strict") is not None]
    final_for_first = [bool(r["strict"]) for r in records if r.get("first_attempt_strict") is not None
                       and r.get("strict") is not None]
    gained = sum(1 for r in records if r.get("first_attempt_strict") is False and r.get("strict") is True)
    lost = sum(1 for r in records if r.get("first_attempt_strict") is True and r.get("strict") is False)
    grids = [r for r in records if r.get("kind") == "grid" and r.get("strict") is not None]
    cells = [float(r["cell_accuracy"]) for r in grids if isinstance(r.get("cell_accuracy"), int | float)]
    secs = sorted(float(r["seconds"]) for r in records if isinstance(r.get("seconds"), int | float))
    return {
        "n": len(records), "strict": sum(strict), "strict_n": len(strict), "loose": sum(loose), "loose_n": len(loose),
        "first": sum(first), "first_n": len(first), "final_of_first": sum(final_for_first), "gained": gained,
        "lost": lost, "grid_n": len(grids), "grid_correct": sum(bool(r["strict"]) for r in grids),
        "cell_acc": statistics.fmean(cells) if cells else None, "seconds": secs,
        "outcomes": Counter(str(r.get("outcome") or "unscored") for r in records),
    }


def _p(secs: Sequence[float], q: float) -> float | None:
    if not secs:
        return None
    i = min(len(secs) - 1, max(0, math.ceil(q * len(secs)) - 1))
    return secs[i]


# ----------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend(ax: Any) -> None:
    """One legend entry per label, however many bars carry it."""
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    if uniq:
        ax.legend(uniq.values(), uniq.keys(), loc="upper right", fontsize=8)


def _plot_accuracy(groups: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(groups) + 2), 4.5))
    xs = range(len(groups))
    w = 0.38
    for i, (_, g) in enumerate(groups):
        if g["strict_n"]:
            v = g["strict"] / g["strict_n"]
            ax.bar(i - w / 2, v, w, color="#1f77b4", label="strict (tolerance: see table)")
            ax.text(i - w / 2, v + 0.01, f"{g['strict']}/{g['strict_n']}", ha="center", fontsize=8)
        if g["loose_n"]:
            v = g["loose"] / g["loose_n"]
            ax.bar(i + w / 2, v, w, color="#aec7e8", hatch="//", edgecolor="#1f77b4", label=LOOSE_LABEL)
            ax.text(i + w / 2, v + 0.01, f"{g['loose']}/{g['loose_n']}", ha="center", fontsize=8)
    _legend(ax)
    ax.set_xticks(list(xs), [name for name, _ in groups], fontsize=8)
    ax.set_xlim(-0.8, len(groups) - 0.2)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("accuracy (scored problems)")
    ax.set_title("Accuracy per benchmark and strategy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_times(runs: Sequence[Run], path: Path) -> None:
    plt = _plt()
    data = [[float(r["seconds"]) for r in run.records if isinstance(r.get("seconds"), int | float)] or [0.0]
             for run in runs]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(runs) + 2), 4.5))
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(runs) + 1), [r.label for r in runs], fontsize=8, rotation=15)
    flat = [x for d in data for x in d if x > 0]
    if flat and max(flat) / max(min(flat), 1e-3) > 50:
        ax.set_yscale("log")
    ax.set_ylabel("wall-clock seconds per problem")
    ax.set_title("Time per problem (box: quartiles, triangle: mean)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_failures(runs: Sequence[Run], path: Path) -> None:
    plt = _plt()
    names = [o.value for o in Outcome] + ["unscored"]
    fig, ax = plt.subplots(figsize=(8.0, max(2.5, 0.6 * len(runs) + 1.5)))
    left = [0.0] * len(runs)
    for name in names:
        vals = [_group_scores(run.records)["outcomes"].get(name, 0) for run in runs]
        if not any(vals):
            continue
        ax.barh(range(len(runs)), vals, left=left, color=_OUTCOME_COLORS.get(name, "#333333"), label=name)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_yticks(range(len(runs)), [r.label for r in runs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("problems")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Failure taxonomy: where each run ended")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_repairs(runs: Sequence[Run], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(runs) + 2), 4.5))
    w = 0.38
    for i, run in enumerate(runs):
        g = _group_scores(run.records)
        if not g["first_n"]:
            continue
        first, final = g["first"] / g["first_n"], g["final_of_first"] / g["first_n"]
        ax.bar(i - w / 2, first, w, color="#c5b0d5", label="first attempt (no repair)")
        ax.bar(i + w / 2, final, w, color="#9467bd", label="after repairs")
        ax.text(i - w / 2, first + 0.01, f"{g['first']}/{g['first_n']}", ha="center", fontsize=8)
        ax.text(i + w / 2, final + 0.01, f"{g['final_of_first']}/{g['first_n']}", ha="center", fontsize=8)
    ax.set_xticks(range(len(runs)), [r.label for r in runs], fontsize=8, rotation=15)
    ax.set_xlim(-0.8, len(runs) - 0.2)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("strict accuracy")
    ax.set_title("Repair effect: first attempt vs final answer")
    _legend(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_grids(rows: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(rows) + 2), 4.5))
    w = 0.38
    for i, (_, g) in enumerate(rows):
        puzzle = g["grid_correct"] / g["grid_n"]
        ax.bar(i - w / 2, puzzle, w, color="#2ca02c", label="puzzle accuracy")
        ax.bar(i + w / 2, g["cell_acc"] or 0.0, w, color="#98df8a", label="cell accuracy")
    ax.set_xticks(range(len(rows)), [n for n, _ in rows], fontsize=8)
    ax.set_xlim(-0.8, len(rows) - 0.2)
    ax.set_ylim(0, 1.05)
    ax.set_title("Logic grid puzzles")
    _legend(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- Markdown


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def _strategies(run: Run) -> str:
    names = sorted({str(r.get("strategy")) for r in run.records if r.get("strategy")})
    return ", ".join(names) or str(run.config.get("strategy"))


def write_report(runs: list[Path], out: Path) -> Path:
    """Write ``out/report.md`` and its PNG plots for the given run folders; return the Markdown path."""
    if not runs:
        raise EvalError("no run folders given")
    loaded = [load_run(Path(p)) for p in runs]
    _labels(loaded)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md: list[str] = ["# modelwright evaluation report", ""]
    md.append(f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} from {len(loaded)} run(s). Every "
              "figure is recomputed from each run's `results.jsonl`. **Strict** (the headline): "
              "`|pred - gt| <= tol * max(1, |gt|)`, infeasible/unbounded must match exactly. "
              f"**{LOOSE_LABEL}**, for comparison with published numbers only: `{LOOSE_PROTOCOL}`.")
    md.append("")

    # Runs side by side
    md += ["## Runs", ""]
    header = ["run", "benchmark", "subset", "strategy", "llm", "samples", "seed", "tol", "answers", "n", "scored",
              "strict", LOOSE_LABEL, "first attempt", "greedy sample", "executed", "median s", "mean repairs",
              "tokens/problem",
              "complete", "git"]
    rows = []
    for run in loaded:
        m, c = run.metrics, run.config
        git = (_first_session(run).get("git_commit") or "")[:10]
        rows.append([run.label, ", ".join(run.benchmarks), c.get("subset"), _strategies(run), c.get("llm"),
                     c.get("samples"), c.get("seed"), _num(c.get("tolerance"), "g"), c.get("answer_version"),
                     m["n"], m["n_scored"], _frac(m["strict_correct"], m["n_scored"]),
                     _frac(m["loose_correct"], m["loose_n"]), _frac(m["first_attempt_correct"], m["first_attempt_n"]),
                     _frac(m.get("greedy_sample_correct", 0), m.get("greedy_sample_n", 0)),
                     _frac(m["executed"], m["n"]), _num(m.get("median_seconds")), _num(m.get("mean_repairs"), ".2f"),
                     _num(m.get("tokens_per_problem"), ".0f"), "yes" if m.get("complete") else "no", git])
    md += [_table(header, rows), ""]

    # Accuracy per (run, benchmark)
    groups: list[tuple[str, dict[str, Any]]] = []
    acc_rows = []
    for run in loaded:
        for bench in run.benchmarks:
            recs = [r for r in run.records if str(r.get("benchmark") or run.config.get("benchmark") or "?") == bench]
            g = _group_scores(recs)
            strat = ", ".join(sorted({str(r.get("strategy")) for r in recs if r.get("strategy")}))
            groups.append((f"{bench}\n{strat}\n{run.label}", g))
            acc_rows.append([run.label, bench, strat, g["n"], _frac(g["strict"], g["strict_n"]),
                             _frac(g["loose"], g["loose_n"])])
    _plot_accuracy(groups, out / "accuracy.png")
    md += ["## Accuracy per benchmark and strategy", "", "![accuracy](accuracy.png)", "",
           _table(["run", "benchmark", "strategy", "n", "strict", LOOSE_LABEL], acc_rows), ""]

    # Time
    _plot_times(loaded, out / "time.png")
    t_rows = []
    for run in loaded:
        secs = _group_scores(run.records)["seconds"]
        t_rows.append([run.label, len(secs), _num(statistics.median(secs) if secs else None),
                       _num(statistics.fmean(secs) if secs else None), _num(_p(secs, 0.9)),
                       _num(secs[-1] if secs else None), _num(sum(secs) if secs else None)])
    md += ["## Time per problem", "", "![time](time.png)", "",
           _table(["run", "n", "median s", "mean s", "p90 s", "max s", "total s"], t_rows), ""]

    # Failure taxonomy
    _plot_failures(loaded, out / "failures.png")
    names = [o.value for o in Outcome] + ["unscored"]
    f_rows = []
    for run in loaded:
        counts = _group_scores(run.records)["outcomes"]
        f_rows.append([run.label, *[counts.get(n, 0) for n in names]])
    used = [i for i, n in enumerate(names) if any(row[i + 1] for row in f_rows)] or [0]
    md += ["## Failure taxonomy", "", "![failures](failures.png)", "",
           _table(["run", *[names[i] for i in used]], [[row[0], *[row[i + 1] for i in used]] for row in f_rows]), "",
           "`unscored`: the ground truth cannot judge the answer (unlabeled), and the run reported no failure.", ""]
    crashes = [(run.label, r["id"], r.get("error")) for run in loaded for r in run.records if r.get("exception")]
    if crashes:
        md += [f"{len(crashes)} problem(s) ended in an exception (counted in the taxonomy above; first 10):", ""]
        md += [_table(["run", "id", "error"], [[a, b, (c or "")[:160]] for a, b, c in crashes[:10]]), ""]

    # Repair effect
    _plot_repairs(loaded, out / "repairs.png")
    r_rows = []
    for run in loaded:
        g = _group_scores(run.records)
        r_rows.append([run.label, g["first_n"], _frac(g["first"], g["first_n"]),
                       _frac(g["final_of_first"], g["first_n"]), g["gained"], g["lost"],
                       _num(run.metrics.get("mean_repairs"), ".2f")])
    md += ["## Repair effect", "", "![repairs](repairs.png)", "",
           _table(["run", "problems", "first attempt strict", "final strict", "fixed by repair", "broken by repair",
                   "mean repairs"], r_rows), "",
           "First attempt: what the first formalization alone would have answered, before any repair or vote "
           "(for voting runs, the greedy first sample's first attempt).", ""]

    # Grids
    grid_rows = [(f"{run.label}", _group_scores(run.records)) for run in loaded]
    grid_rows = [(n, g) for n, g in grid_rows if g["grid_n"]]
    if grid_rows:
        _plot_grids(grid_rows, out / "grids.png")
        md += ["## Logic grid puzzles", "", "![grids](grids.png)", "",
               _table(["run", "puzzles", "puzzle accuracy", "cell accuracy"],
                      [[n, g["grid_n"], _frac(g["grid_correct"], g["grid_n"]),
                        "—" if g["cell_acc"] is None else f"{100 * g['cell_acc']:.1f}%"] for n, g in grid_rows]), ""]
    path = out / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


def _first_session(run: Run) -> dict[str, Any]:
    try:
        data = json.loads((run.path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("environment") or {}
