"""The output formats the model writes the IR in (layouts): their JSON schemas, prompt files and budgets.

A module of its own, with no import beyond the standard library, because the CLI's option help lists the
layouts at start-up; agent.formalize turns a layout into prompts and parses what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _variables(*, indexed: bool) -> dict[str, Any]:
    """The schema of the variable list; in the indexed layout each variable names its index sets."""
    index = {"index": {"type": "array", "items": {"type": "string"}}} if indexed else {}
    properties = {"name": {"type": "string"}, "description": {"type": "string"}, **index,
                  "domain": {"type": "string", "enum": ["continuous", "integer", "binary"]},
                  "lower": {"type": "number"}}
    return {"type": "array", "minItems": 1,
            "items": {"type": "object", "properties": properties, "required": list(properties)}}


# The schema used for constrained decoding: the flat subset of the IR a word problem needs. It is a
# valid IR by construction (sets and parameters are optional there); richer models use the full IR.
FLAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "variables": _variables(indexed=False),
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

# The lean format: constraints carry no copied sentence and the objective a few words of goal, a
# third fewer tokens to generate (~10 tokens/s on 2 cores); sentences are attached afterwards by
# `attach_sources`, verbatim from the text instead of the model's paraphrase.
LEAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "variables": FLAT_SCHEMA["properties"]["variables"],
        "constraints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "expr": {"type": "string"}},
                "required": ["name", "expr"],
            },
        },
        "objective": {
            "type": "object",
            "properties": {
                "goal": {"type": "string"},
                "sense": {"type": "string", "enum": ["maximize", "minimize"]},
                "expr": {"type": "string"},
            },
            "required": ["goal", "sense", "expr"],
        },
    },
    "required": ["variables", "constraints", "objective"],
}


# The indexed format, for problems whose data come as lists and tables (OptMATH, the shift and network
# examples): spelled out term by term, such a model runs past any token limit a 1.5B model can fill in
# time (optmath_141: two calls cut at 1,024 tokens, 130-160 s each). Sets and parameter tables hold the
# data once, `forall` and `sum` the structure; a parameter is a number or nested lists in set order.
_NUMBERS = {"type": "array", "items": {"type": "number"}}
INDEXED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sets": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "elements": {"type": "array", "minItems": 1,
                                 "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                },
                "required": ["name", "elements"],
            },
        },
        "parameters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "index": {"type": "array", "items": {"type": "string"}},
                    "value": {"anyOf": [{"type": "number"}, _NUMBERS, {"type": "array", "items": _NUMBERS}]},
                },
                "required": ["name", "index", "value"],
            },
        },
        "variables": _variables(indexed=True),
        "constraints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "forall": {"type": "string"}, "expr": {"type": "string"}},
                "required": ["name", "forall", "expr"],
            },
        },
        "objective": LEAN_SCHEMA["properties"]["objective"],
    },
    "required": ["sets", "parameters", "variables", "constraints", "objective"],
}

@dataclass(frozen=True)
class Layout:
    """One output format the model writes the IR in: its prompt files, decoding schema and token budget."""

    system: str  # system prompt file in agent/prompts/
    examples: str  # worked examples file in agent/prompts/
    schema: dict[str, Any]
    max_tokens: int  # per model call: a flat model of a word problem fits 1,024; an indexed one copies tables too
    summary: str


LAYOUTS: dict[str, Layout] = {
    "lean": Layout("formalize_system_lean.md", "examples_lean.json", LEAN_SCHEMA, 1024,
                   "flat, a few words of goal, no copied sentences"),
    "indexed": Layout("formalize_system_indexed.md", "examples_indexed.json", INDEXED_SCHEMA, 2048,
                      "sets, parameter tables and forall constraints"),
    "quoted": Layout("formalize_system.md", "examples.json", FLAT_SCHEMA, 1024,
                     "flat, each constraint quoting its sentence"),
}
