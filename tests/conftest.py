"""Shared fixtures: example problems and small models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "datasets" / "examples"


def example_names() -> list[str]:
    return sorted(p.name.removesuffix(".ir.json") for p in EXAMPLES.glob("*.ir.json"))


def load_expected(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.expected.json").read_text())


@pytest.fixture
def furniture_ir() -> dict:
    return {
        "name": "furniture",
        "sets": [{"name": "Products", "elements": ["chair", "table"]}, {"name": "T", "elements": [1, 2, 3]}],
        "parameters": [
            {"name": "profit", "index": ["Products"], "value": {"chair": 30, "table": 50}},
            {"name": "wood_use", "index": ["Products"], "value": [2, 5]},
            {"name": "wood_stock", "value": 40},
        ],
        "variables": [
            {"name": "make", "index": ["Products"], "domain": "integer", "lower": 0},
            {"name": "inv", "index": ["T"], "domain": "continuous", "lower": 0},
            {"name": "open", "domain": "binary"},
        ],
        "constraints": [
            {"name": "wood", "label": "wood available", "source": "There are 40 units of wood.",
             "expr": "sum(p in Products)(wood_use[p] * make[p]) <= wood_stock"},
            {"name": "min_make", "forall": "p in Products", "expr": "make[p] >= 2"},
            {"name": "balance", "forall": "t in T where t > 1", "expr": "inv[t] == inv[t-1] + 1"},
            {"name": "logic", "expr": "open == 1 -> make[\"chair\"] >= 3"},
        ],
        "objective": {"sense": "maximize", "expr": "sum(p in Products)(profit[p] * make[p])"},
    }
