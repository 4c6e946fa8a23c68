"""What the user reads after `solve`: decisions with their meaning, the objective, what limits it.

One function builds the JSON object (`answer_dict`); the console and notebook views render from it,
so the three never disagree.
"""

from __future__ import annotations

from typing import Any

from agent.loop import LoopResult
from solvers.values import flatten_values


def _describe(result: LoopResult) -> dict[str, str]:
    if result.ir is None:
        return {}
    return {v.name: v.description or "" for v in result.ir.variables}


def binding_constraints(result: LoopResult, tol: float = 1e-6) -> list[dict[str, Any]]:
    """Constraint instances at their limit at the solution: these decide the optimum."""
    if result.compiled is None or not result.success:
        return []
    from solvers.checker import tightness

    out = []
    for t in tightness(result.compiled, result.values):
        if abs(t.slack) <= tol * max(1.0, abs(t.slack)):
            out.append({"constraint": t.constraint, "instance": t.instance, "source": t.source})
    return out


def decisions(result: LoopResult) -> list[dict[str, Any]]:
    """Each decision value with the variable's meaning, indexed entries flattened."""
    if not result.values:
        return []
    meaning = _describe(result)
    rows: list[dict[str, Any]] = []
    if result.compiled is not None:
        flat, problems = flatten_values(result.compiled, result.values)
        if not problems:
            for (name, key), value in flat.items():
                var = result.compiled.variables[name]
                shown: Any = round(value) if var.integral and abs(value - round(value)) < 1e-6 else value
                rows.append({"variable": name, "index": [str(k) for k in key], "value": shown,
                             "meaning": meaning.get(name, "")})
            return rows
    for name, value in result.values.items():  # MiniZinc-text answers have no IR
        rows.append({"variable": name, "index": [], "value": value, "meaning": meaning.get(name, "")})
    return rows


def answer_dict(result: LoopResult, *, llm: str = "", explanation: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one JSON object of `modelwright solve --json`."""
    solved = result.result
    totals = result.trace.llm_totals() if result.trace else {}
    return {
        "status": result.status,
        "success": result.success,
        "objective": result.objective,
        "values": result.values,
        "decisions": decisions(result),
        "binding": [b["constraint"] + (f" ({b['instance']})" if b["instance"] != b["constraint"] else "")
                    for b in binding_constraints(result)],
        "confidence": result.confidence,
        "doubts": list(getattr(result, "doubts", None) or []),
        "samples": result.samples,
        "repairs": result.repairs,
        "attempts": [{"index": a.index, "outcome": a.outcome, "stage": a.stage, "feedback": a.feedback}
                     for a in result.attempts],
        "conflict": list(solved.conflict) if solved else [],
        "infeasible_confirmed": result.infeasible_confirmed,
        "explanation": explanation,
        "target": solved.target if solved else None,
        "solver": f"{solved.solver} {solved.solver_version}".strip() if solved else "",
        "strategy": result.strategy,
        "llm": llm,
        "seconds": round(result.seconds, 3),
        "tokens": {"prompt": totals.get("prompt_tokens", 0), "completion": totals.get("completion_tokens", 0)},
        "model": result.ir.model_dump(mode="json", exclude_defaults=True) if result.ir else None,
        "message": result.message,
    }


def print_answer(console: Any, payload: dict[str, Any]) -> None:
    """The readable answer of `modelwright solve`: decisions with their meaning, objective, what binds."""
    from rich.table import Table

    ok = payload["success"]
    colour = "green" if ok else "red"
    confidence = f", confidence {payload['confidence']:.0%}" if payload.get("samples") else ""
    console.print(f"[bold {colour}]{payload['status']}[/] — {payload['strategy']} on {payload['target'] or '-'}"
                  f" ({payload['seconds']:.1f} s, {payload['repairs']} repairs{confidence})", highlight=False)
    if payload["objective"] is not None:
        sense = (payload.get("model") or {}).get("objective", {}).get("sense", "objective")
        console.print(f"{sense}: [bold]{payload['objective']:.10g}[/]", highlight=False)
    if payload["decisions"]:
        table = Table(show_header=True, header_style="bold")
        for col in ("decision", "value", "meaning"):
            table.add_column(col, justify="right" if col == "value" else "left")
        for row in payload["decisions"][:60]:
            name = row["variable"] + (f"[{', '.join(row['index'])}]" if row["index"] else "")
            value = row["value"]
            table.add_row(name, f"{value:.6g}" if isinstance(value, float) else str(value), row["meaning"])
        console.print(table)
    if payload["binding"]:
        console.print("[bold]binding constraints[/] (at their limit): " + ", ".join(payload["binding"][:20]),
                      highlight=False)
    explanation = payload.get("explanation")
    if explanation and explanation.get("text"):
        console.print(explanation["text"], highlight=False)
    elif payload["conflict"]:
        console.print("[bold]conflicting requirements:[/] " + ", ".join(payload["conflict"]), highlight=False)
    if ok and payload.get("doubts"):
        # The best answer found still looks off in these ways: say so rather than present it as clean.
        console.print("[bold yellow]still doubtful[/] (the repairs did not clear these):", highlight=False)
        for line in payload["doubts"][:8]:
            console.print(f"  - {line}", highlight=False)
    if not ok and payload["message"]:
        console.print(f"[dim]{payload['message'][:1500]}[/]", highlight=False)
