"""Benchmark commands for the `modelwright` CLI: `eval`, `bench list`, `report`, `doubts`.

Kept apart from agent/cli.py so the harness can change without touching the main commands;
`register(app)` adds them. Heavy modules (solvers, models, matplotlib) load only inside a command.
Exit codes follow agent/cli.py: 0 done, 2 bad input (one clear message, never a traceback), 130
interrupted (finished problems are already on disk; rerun the same command to resume).
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from agent.llm.base import DEFAULT_LLM_TIMEOUT
from agent.strategies import LAYOUT_HELP, STRATEGY_HELP

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
SOLVE_TARGETS = ("auto", "minizinc", "milp", "smt", "cpsat")

_out = Console()
_err = Console(stderr=True, soft_wrap=True)  # one message a line, paths never broken


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def stop_on_signals() -> None:
    """Let `kill PID` (SIGTERM) and `kill -INT PID` stop a run the way Ctrl-C does: saved, resumable.

    A shell script's `cmd &` starts its child with SIGINT ignored, and Python then never raises
    KeyboardInterrupt, so a background eval ignored the interrupt meant to stop it.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _split_ids(ids: str | None) -> list[str] | None:
    if ids is None:
        return None
    parts = [p.strip() for p in ids.split(",") if p.strip()]
    if not parts:
        raise _fail("--ids is empty; give comma-separated problem ids, e.g. --ids nl4opt_test_017,nl4opt_test_050")
    return parts


def eval_command(
    bench: Annotated[str, typer.Argument(help="registered benchmark (optionally NAME:SUBSET) or a JSONL path")],
    llm: Annotated[str, typer.Option("--llm", help="embedded | gguf:PATH | openai:MODEL | hf:NAME | replay:FILE")]
    = "embedded",
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)] = "pipeline",
    layout: Annotated[str | None, typer.Option(help=LAYOUT_HELP)] = None,
    samples: Annotated[int | None, typer.Option(min=1, help="samples to vote over (default: the strategy's)")]
    = None,
    limit: Annotated[int | None, typer.Option(min=0, help="first N problems after the seeded shuffle")] = None,
    ids: Annotated[str | None, typer.Option(help="comma-separated problem ids")] = None,
    seed: Annotated[int, typer.Option(help="shuffle and sampling seed")] = 0,
    jobs: Annotated[int | None, typer.Option(min=1, help="parallel problems (default 1 local model, 4 openai)")]
    = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/BENCH-STRATEGY-TIME); "
                                                  "an existing run folder is resumed")] = None,
    subset: Annotated[str | None, typer.Option(help="registry subset name, 'all', or a boolean field of a file")]
    = None,
    tolerance: Annotated[float, typer.Option(min=0.0, help="strict rule: |p-g| <= T*max(1,|g|)")] = 1e-6,
    time_limit: Annotated[float, typer.Option(min=0.1, help="seconds per solver call")] = 20.0,
    llm_timeout: Annotated[float, typer.Option(min=1.0, help="seconds per model call")] = DEFAULT_LLM_TIMEOUT,
    target: Annotated[str, typer.Option(help="auto|minizinc|milp|smt|cpsat")] = "auto",
    problem_timeout: Annotated[float, typer.Option(min=1.0, help="wall-clock seconds per problem, all included")]
    = 900.0,
    record: Annotated[Path | None, typer.Option(help="append every model call to this JSONL (for replay:)")]
    = None,
    progress: Annotated[bool, typer.Option(help="live progress bar")] = True,
) -> None:
    """Run a strategy over a benchmark: results.jsonl, traces, metrics.json; rerun to resume."""
    from agent.benchdata import BenchmarkDataError
    from agent.evaluate import EvalError, run_eval

    if target not in SOLVE_TARGETS:
        raise _fail(f"unknown target '{target}'; choose one of {', '.join(SOLVE_TARGETS)}")
    stop_on_signals()
    try:
        run_eval(bench, llm_spec=llm, strategy=strategy, layout=layout, samples=samples, limit=limit,
                 ids=_split_ids(ids), seed=seed, jobs=jobs, out_dir=out, tolerance=tolerance, subset=subset,
                 time_limit=time_limit,
                 llm_timeout=llm_timeout, target=target, problem_timeout=problem_timeout, progress=progress,
                 record=record, console=_err)
    except (EvalError, BenchmarkDataError) as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # a bad --llm spec and the like, from below the harness
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        _err.print("[yellow]interrupted[/]: finished problems are saved; rerun the same command to resume")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # do not wait for problems still running in worker threads


def bench_list() -> None:
    """List the registered benchmarks (datasets/benchmarks/registry.json)."""
    from agent.benchdata import BenchmarkDataError, list_benchmarks

    try:
        infos = list_benchmarks()
    except (BenchmarkDataError, ValueError) as exc:
        raise _fail(str(exc)) from None
    # Counts in a table that fits 80 columns; the long subset and source lists below it, one benchmark a
    # line, so a narrow terminal wraps text instead of folding a column to one character a line.
    table = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for col in ("name", "kind", "count", "answered", "scorable", "default"):
        table.add_column(col, justify="right" if col in ("count", "answered", "scorable") else "left", no_wrap=True)
    for b in infos:
        table.add_row(b.name, b.kind, str(b.count), str(b.answered), str(b.scorable), b.default_subset or "—")
    _out.print(table)
    for b in infos:
        subsets = ", ".join(f"{n}{'*' if n == b.default_subset else ''} ({s.count})" for n, s in b.subsets.items())
        _out.print(f"[bold]{b.name}[/]: subsets {subsets or '—'}; source {_short_source(b.source)}", highlight=False)
    _out.print("[dim]* default subset. Full sources, licences and provenance: datasets/README.md, "
               "datasets/benchmarks/registry.json[/]")


def _short_source(source: str) -> str:
    """`owner/repo@commit12` for each repository named in a registry source string."""
    found = re.findall(r"([\w.-]+/[\w.-]+)@([0-9a-f]{7,40})", source)
    names = list(dict.fromkeys(f"{repo}@{sha[:12]}" for repo, sha in found))
    return ", ".join(names) if names else source


def report_command(
    runs: Annotated[list[Path], typer.Argument(help="one or more run folders written by `modelwright eval`")],
    out: Annotated[Path, typer.Option(help="folder for report.md and its PNG plots")] = Path("runs/report"),
) -> None:
    """Markdown report with plots over eval runs: accuracy, time, failures, repair effect, grids."""
    from agent.evaluate import EvalError
    from agent.report import write_report

    try:
        path = write_report(list(runs), out)
    except EvalError as exc:
        raise _fail(str(exc)) from None
    except ImportError as exc:
        raise _fail(f"the report needs matplotlib ({exc}); install it: pip install matplotlib") from None
    _out.print(f"report: {path}", highlight=False)


def doubts_command(
    records: Annotated[list[Path], typer.Argument(help="recorded calls (the --record file of `eval`)")],
    bench: Annotated[str, typer.Option(help="the benchmark the calls answered (NAME, NAME:SUBSET or a path)")],
    show: Annotated[bool, typer.Option(help="list the right answers that are doubted, with their doubts")] = False,
) -> None:
    """How the loop's checks judge every distinct recorded answer, against the benchmark's labels."""
    from agent.audit import audit_records
    from agent.benchdata import load_benchmark

    missing = [str(p) for p in records if not p.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}")
    name, _, subset = bench.partition(":")
    try:
        problems = load_benchmark(name, subset=subset or "all")
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    try:
        audit = audit_records(records, problems)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    table = Table(box=box.SIMPLE, title=f"the loop's checks on {len(records)} recorded run(s), {bench}")
    table.add_column("distinct answers")
    table.add_column("count", justify="right")
    for label, count in audit.figures().items():
        table.add_row(label, str(count))
    _out.print(table)
    if show:
        for judged in (j for j in audit.judged if j.right and (j.doubts or not j.right_after)):
            _out.print(f"{judged.problem_id}: " + (" | ".join(judged.doubts) or "turned wrong by a rewrite"),
                       highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `eval`, `bench list`, `report` and `doubts` to the main app."""
    app.command("eval")(eval_command)
    bench_app = typer.Typer(no_args_is_help=True, help="Registered benchmarks.")
    bench_app.command("list")(bench_list)
    app.add_typer(bench_app, name="bench")
    app.command("report")(report_command)
    app.command("doubts")(doubts_command)
