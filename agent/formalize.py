"""Prompts and parsing for the formalization step: English problem -> IR JSON.

Prompts live in `agent/prompts/` as files. The system prompt and the worked examples form a fixed
prefix, so llama.cpp reuses its evaluated state from one problem to the next; only the problem and
any repair turns are new tokens. Worked examples come from the NL4Opt dev split or are our own,
never from an evaluated split.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from formalizers.ir import IRError, ModelIR, parse_ir

MAX_PROBLEM_CHARS = 20_000

# The schema used for constrained decoding: the flat subset of the IR a word problem needs. It is a
# valid IR by construction (sets and parameters are optional there); richer models use the full IR.
FLAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "variables": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "domain": {"type": "string", "enum": ["continuous", "integer", "binary"]},
                    "lower": {"type": "number"},
                },
                "required": ["name", "description", "domain", "lower"],
            },
        },
        "constraints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "source": {"type": "string"},
                    "expr": {"type": "string"},
                },
                "required": ["name", "source", "expr"],
            },
        },
        "objective": {
            "type": "object",
            "properties": {
                "description": {"type": "string"},
                "sense": {"type": "string", "enum": ["maximize", "minimize"]},
                "expr": {"type": "string"},
            },
            "required": ["description", "sense", "expr"],
        },
    },
    "required": ["variables", "constraints", "objective"],
}


_QUANTITY = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|"
                       r"thousand|million|twice|half|double|triple|dozen|percent|each|every)\b", re.I)


class ProblemTextError(ValueError):
    """The input is not a usable problem statement (empty, binary, huge)."""


def prompt_text(name: str) -> str:
    return resources.files("agent.prompts").joinpath(name).read_text(encoding="utf-8")


@cache
def worked_examples() -> list[dict[str, Any]]:
    return json.loads(prompt_text("examples.json"))


def check_problem_text(text: str) -> str:
    """Reject inputs that cannot be a word problem before spending model time on them."""
    if "\x00" in text:
        raise ProblemTextError("the input looks binary (it contains NUL bytes), not a problem statement")
    text = text.strip()
    if not text:
        raise ProblemTextError("the problem text is empty")
    if len(text) > MAX_PROBLEM_CHARS:
        raise ProblemTextError(f"the problem text has {len(text):,} characters; the limit is "
                               f"{MAX_PROBLEM_CHARS:,} (a word problem is a few paragraphs)")
    words = re.findall(r"[^\W\d_]{2,}", text)
    if len(words) < 8 or sum(map(len, words)) < 0.08 * len(text):
        raise ProblemTextError("this does not read like an optimization problem (too few words); "
                               "describe the decisions, the limits and the goal in sentences")
    if not _QUANTITY.search(text):
        raise ProblemTextError("this states no quantities (no numbers at all); an optimization or constraint "
                               "problem gives its limits, costs or counts")
    return text


def _compact(model: dict[str, Any]) -> str:
    return json.dumps(model, ensure_ascii=False, separators=(", ", ": "))


def formalize_messages(problem: str, *, examples: bool = True) -> list[dict[str, str]]:
    """System rules, the worked examples as past turns (unless `examples=False`), then the problem."""
    messages = [{"role": "system", "content": prompt_text("formalize_system.md").strip()}]
    for ex in worked_examples() if examples else []:
        messages.append({"role": "user", "content": ex["problem"]})
        messages.append({"role": "assistant", "content": _compact(ex["model"])})
    messages.append({"role": "user", "content": problem})
    return messages


def repair_message(problem_description: str) -> dict[str, str]:
    return {"role": "user", "content": prompt_text("repair.md").format(problem=problem_description).strip()}


_NAME_FIX = re.compile(r"[^A-Za-z0-9_]")


def _clean_names(data: dict[str, Any]) -> None:
    """Give unnamed or oddly named constraints identifiers; names are labels, not semantics."""
    seen: set[str] = set()
    for i, c in enumerate(data.get("constraints") or []):
        if not isinstance(c, dict):
            continue
        name = _NAME_FIX.sub("_", str(c.get("name") or f"c{i + 1}")).strip("_") or f"c{i + 1}"
        if name[0].isdigit():
            name = f"c_{name}"
        while name in seen:
            name = f"{name}_{i + 1}"
        seen.add(name)
        c["name"] = name
        c.setdefault("label", name.replace("_", " "))


def parse_model_output(text: str) -> ModelIR:
    """The model's JSON text -> a validated IR (names checked later by compile()). Raises IRError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise IRError([f"the output is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"]) from None
    if isinstance(data, dict):
        _clean_names(data)
    return parse_ir(data)
