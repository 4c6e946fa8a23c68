"""The loop's checks on NL4Opt's official formulations: every doubt they raise there is a false alarm.

Why: each check and rewrite of agent.loop comes from one misreading of the embedded model, and a check that
fires on a right model sends a good answer to a repair that may lose it. `modelwright doubts` measures that
on recorded model answers; this measures it on the competition's own annotated formulations (the
`reference_formulation` of each row of datasets/benchmarks/nl4opt.jsonl: linear rows, bounds, ratios, sums
and "x is k times y" rows, an objective), written as the IR a model would write and passed through
`RepairLoop.review`, the loop's validate, solve and check nodes, with no model call.

Only rows whose label is the official formulation's optimum are used (`answer_matches_gold_declaration`:
ILP, LP or both), with integer variables where the label is the ILP optimum: then the formulation as written
solves to the label, which the script checks first (a row that does not is a conversion gap, listed apart).

Prints: rows converted, rows solved to their label, rows doubted (with each doubt), rows a rewrite turned
wrong. Run from the repository root: `python benchmarks/official_formulations.py [--subset orlm245] [--show]`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.benchdata import load_benchmark  # noqa: E402
from agent.llm import make_llm  # noqa: E402
from agent.loop import RepairLoop  # noqa: E402
from agent.metrics import strict_correct  # noqa: E402

WORD_VALUES = {"a": 1.0, "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0, "seven": 7.0,
               "eight": 8.0, "nine": 9.0, "ten": 10.0, "fifteen": 15.0, "twenty": 20.0, "twice": 2.0,
               "thrice": 3.0, "half": 0.5, "third": 1 / 3}


class Unconverted(ValueError):
    """A declaration this script does not write as IR (the row is skipped and counted)."""


def official_number(text: str) -> float:
    """'40%' -> 0.4, 'three times' -> 3, 'a third' -> 1/3, '1,000' -> 1000."""
    words = text.lower().replace(",", "").replace("times", "").replace("percent", "%").split()
    value = 1.0
    for word in words:
        percent = word.endswith("%")
        word = word.rstrip("%")
        if not word:
            continue
        try:
            number = float(word)
        except ValueError:
            if word not in WORD_VALUES:
                raise Unconverted(f"number {text!r}") from None
            number = WORD_VALUES[word]
        value *= number / 100 if percent or (words[-1] == "%" and word != "%") else number
    return value


def written(value: float) -> str:
    """A number as a model should write it: thirds as a division (the loop doubts a rounded 0.333333)."""
    thirds = value * 3
    if value != round(value) and abs(thirds - round(thirds)) < 1e-9:
        return f"{round(thirds)} / 3"
    return f"{value:g}"


def _name(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower()
    return name if name and not name[0].isdigit() else f"x_{name}"


def official_ir(row: dict[str, Any], integer: bool) -> dict[str, Any]:
    """The row's annotated formulation as canonical IR JSON (sources left to the loop, as for a model)."""
    formulation = row["reference_formulation"]
    names = [_name(v) for v in formulation["vars"]]
    if len(set(names)) < len(names):
        raise Unconverted("two variables with one name")
    mapping = formulation.get("order_mapping", {})

    def var(mention: str) -> str:
        index = mapping.get(mention)
        if index is None or index >= len(names):
            raise Unconverted(f"variable {mention!r}")
        return names[index]

    def weighted(terms: dict[str, str]) -> str:
        return " + ".join(f"{written(official_number(k))} * {var(m)}" for m, k in terms.items())

    every = " + ".join(names)
    constraints = []
    for i, d in enumerate(formulation["const_declarations"], 1):
        op = {"LESS_OR_EQUAL": "<=", "GREATER_OR_EQUAL": ">="}.get(d.get("operator", ""))
        if op is None:
            raise Unconverted(f"operator {d.get('operator')!r}")
        kind = d.get("type")
        if kind == "linear":
            expr = f"{weighted(d['terms'])} {op} {written(official_number(d['limit']))}"
        elif kind in ("lowerbound", "upperbound"):
            expr = f"{var(d['var'])} {op} {written(official_number(d['limit']))}"
        elif kind == "sum":
            expr = f"{every} {op} {written(official_number(d['limit']))}"
        elif kind == "ratio":
            expr = f"{var(d['var'])} {op} {written(official_number(d['limit']))} * ({every})"
        elif kind == "xy":
            expr = f"{var(d['x_var'])} {op} {var(d['y_var'])}"
        elif kind == "xby":
            expr = f"{var(d['x_var'])} {op} {written(official_number(d['param']))} * {var(d['y_var'])}"
        else:
            raise Unconverted(f"declaration type {kind!r}")
        constraints.append({"name": f"c{i}_{kind}", "expr": expr})
    objective = formulation["obj_declaration"]
    goal = weighted(objective["terms"]) if "terms" in objective else " + ".join(map(var, objective["vars"]))
    sense = "maximize" if objective["direction"].lower().startswith("max") else "minimize"
    return {"name": row["id"], "parameters": [], "sets": [],
            "variables": [{"name": n, "domain": "integer" if integer else "continuous", "lower": 0,
                           "description": v} for n, v in zip(names, formulation["vars"], strict=True)],
            "constraints": constraints,
            "objective": {"sense": sense, "expr": goal, "description": objective.get("name", "")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", default="all", help="nl4opt subset (all, orlm245, ...)")
    parser.add_argument("--show", action="store_true", help="print each doubted row with its doubts")
    args = parser.parse_args()
    rows = {json.loads(line)["id"]: json.loads(line)
            for line in Path("datasets/benchmarks/nl4opt.jsonl").read_text(encoding="utf-8").splitlines()}
    problems = load_benchmark("nl4opt", subset=args.subset)
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as empty:
        loop = RepairLoop(make_llm(f"replay:{empty.name}"))  # never asked: the answers are written here
        counts = {"rows": 0, "labelled with the official optimum": 0, "not converted": 0,
                  "solved to the label as written": 0, "of those, doubted": 0, "of those, turned wrong": 0}
        gaps, doubted, turned = [], [], []
        for problem in problems:
            row = rows[problem.id]
            counts["rows"] += 1
            matches = str(row.get("answer_matches_gold_declaration") or "")
            if matches not in ("ilp", "lp", "ilp+lp") or not row.get("reference_formulation"):
                continue
            counts["labelled with the official optimum"] += 1
            try:
                raw = json.dumps(official_ir(row, integer="ilp" in matches))
            except Unconverted as exc:
                counts["not converted"] += 1
                gaps.append(f"{problem.id}: {exc}")
                continue
            as_written, reviewed = loop.review(problem.problem, raw)
            before, after = as_written.get("result"), reviewed.get("result")
            if before is None or not strict_correct(before.objective, problem.answer,
                                                    gt_status=problem.answer_status,
                                                    pred_status=before.status.value):
                gaps.append(f"{problem.id}: solves to {getattr(before, 'objective', None)}, label {problem.answer}"
                            f" ({as_written.get('feedback', '')[:120]})")
                continue
            counts["solved to the label as written"] += 1
            if reviewed.get("outcome") == "RETRY":
                counts["of those, doubted"] += 1
                doubted.append(f"{problem.id}: " + " | ".join(reviewed.get("feedback", "").splitlines()))
            if after is None or not strict_correct(after.objective, problem.answer, gt_status=problem.answer_status,
                                                   pred_status=after.status.value):
                counts["of those, turned wrong"] += 1
                turned.append(f"{problem.id}: {getattr(after, 'objective', None)} after the rewrites")
    for label, count in counts.items():
        print(f"{label:40} {count:5}")
    sections = [("conversion gaps", gaps), ("turned wrong by a rewrite", turned)]
    sections += [("doubted", doubted)] if args.show else []
    for title, lines in sections:
        if lines:
            print(f"\n{title}:")
            print("\n".join(lines))


if __name__ == "__main__":
    main()
