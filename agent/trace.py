"""One readable record of a run: every model call (prompt, response, tokens, seconds) and every step."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Trace:
    """Append-only list of events; `save()` writes it as indented JSON."""

    def __init__(self, problem: str = "", **meta: Any) -> None:
        self.started = time.perf_counter()
        self.data: dict[str, Any] = {
            "problem": problem,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "meta": meta,
            "events": [],
        }

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.data["events"]

    def _at(self) -> float:
        return round(time.perf_counter() - self.started, 4)

    def step(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, "t": self._at(), **fields})

    def record_llm(self, record: dict[str, Any]) -> None:
        """Sink for the LLM backends' per-call records."""
        self.events.append({**record, "t": self._at()})

    def finish(self, **fields: Any) -> None:
        self.data["result"] = fields

    def llm_totals(self) -> dict[str, float]:
        calls = [e for e in self.events if e.get("kind") == "llm_call"]
        return {
            "llm_calls": len(calls),
            "prompt_tokens": sum(e.get("prompt_tokens") or 0 for e in calls),
            "completion_tokens": sum(e.get("completion_tokens") or 0 for e in calls),
            "llm_seconds": round(sum(e.get("seconds") or 0 for e in calls), 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.data, "totals": self.llm_totals()}

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2, default=str, ensure_ascii=False), encoding="utf-8")
        return p
