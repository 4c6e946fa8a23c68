"""How the loop's checks judge recorded answers: right answers doubted, wrong answers let through.

Why: every check and rewrite of agent.loop comes from a misreading seen once; the same check can fire on a
right answer elsewhere (a false doubt sends a good model to a repair that may lose it). Replaying a run
measures the end result; this counts, over every distinct answer the model gave in recorded runs, what
the checks say of it, against the benchmark's label. `modelwright doubts RECORD.jsonl ... --bench nl4opt`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from agent.benchdata import Problem
from agent.metrics import UnscorableError, strict_correct


@dataclass
class Judged:
    """One distinct answer: its problem, its objective as written and after the loop's rewrites, its doubts."""

    problem_id: str
    right: bool  # as written, against the label
    right_after: bool  # after the rewrites the loop applies itself
    doubts: list[str] = field(default_factory=list)  # what the loop would send back; empty: accepted


@dataclass
class Audit:
    judged: list[Judged]
    unreadable: int  # answers the loop cannot read or solve (its repair path, not a check's verdict)
    unmatched: int  # recorded calls that are not a first answer to a problem of the benchmark

    def figures(self) -> dict[str, int]:
        right = [j for j in self.judged if j.right]
        wrong = [j for j in self.judged if not j.right]
        return {"answers": len(self.judged), "right": len(right),
                "right, doubted": sum(1 for j in right if j.doubts),
                "right, turned wrong by a rewrite": sum(1 for j in right if not j.right_after),
                "wrong": len(wrong), "wrong, doubted": sum(1 for j in wrong if j.doubts),
                "wrong, turned right by a rewrite": sum(1 for j in wrong if j.right_after),
                "wrong, accepted as is": sum(1 for j in wrong if not j.doubts and not j.right_after),
                "unreadable or unsolved": self.unreadable, "calls not matched": self.unmatched}


def _problem_of(call: dict, by_text: dict[str, Problem]) -> Problem | None:
    """The benchmark problem a formalization call answers: the last user message is the problem itself
    (a first draw) or the problem with earlier mistakes under it (a fresh draw); a repair turn is neither."""
    users = [m["content"] for m in call.get("messages") or [] if m.get("role") == "user"]
    if not users:
        return None
    last = users[-1].strip()
    if last in by_text:
        return by_text[last]
    return next((p for text, p in by_text.items() if last.startswith(text[:200]) and text in last), None)


def audit_records(paths: list[Path], problems: list[Problem]) -> Audit:
    """Judge each distinct (problem, answer) of the recorded calls with the loop's own nodes."""
    from agent.llm import make_llm
    from agent.loop import RepairLoop

    by_text = {p.problem.strip(): p for p in problems}
    seen: set[tuple[str, str]] = set()
    judged, unreadable, unmatched = [], 0, 0
    for path in paths:
        loop = RepairLoop(make_llm(f"replay:{path}"))  # never asked: the answers are read from the file
        for line in path.read_text(encoding="utf-8").splitlines():
            call = json.loads(line) if line.strip() else {}
            problem = _problem_of(call, by_text)
            if problem is None or not call.get("json_schema"):
                unmatched += bool(call)
                continue
            raw = str(call.get("response") or "")
            if (problem.id, raw) in seen:
                continue
            seen.add((problem.id, raw))
            as_written, reviewed = loop.review(problem.problem, raw)
            before, after = as_written.get("result"), reviewed.get("result")
            if before is None or after is None:
                unreadable += 1
                continue
            try:
                right = strict_correct(before.objective, problem.answer, gt_status=problem.answer_status,
                                       pred_status=before.status.value)
                right_after = strict_correct(after.objective, problem.answer, gt_status=problem.answer_status,
                                             pred_status=after.status.value)
            except UnscorableError:
                continue
            doubts = reviewed.get("feedback", "").splitlines() if reviewed.get("outcome") == "RETRY" else []
            judged.append(Judged(problem.id, right, right_after, doubts))
    return Audit(judged, unreadable, unmatched)
