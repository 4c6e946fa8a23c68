"""Record real model calls to JSONL, and replay them later without the model.

Why: tests and notebooks can then exercise the whole agent on real model outputs in milliseconds and
deterministically, on machines without the model. A request is identified by a stable hash of
(messages, temperature, whether a schema was given); the same request asked several times gets the
recorded answers in the order they were recorded (then the last one again). With `ordered=True`, a
request with no matching record takes the next unused record in file order instead of failing
(useful when prompts changed slightly but the call sequence did not).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.llm.base import LLM, Completion, Message, TraceSink
from agent.llm.errors import ReplayMiss


def request_key(messages: list[Message], temperature: float, schema_present: bool) -> str:
    """Stable hash of what identifies a request (key order and float formatting do not matter)."""
    payload = {
        "messages": [{"role": m.get("role"), "content": m.get("content")} for m in messages],
        "temperature": round(float(temperature), 6),
        "json_schema": bool(schema_present),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RecordingLLM(LLM):
    """Wraps a backend and appends every successful call to a JSONL file for `ReplayLLM`."""

    backend = "recording"

    def __init__(self, inner: LLM, path: str | Path, *, trace: TraceSink | None = None) -> None:
        super().__init__(inner.model, trace=trace)
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _complete(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None,
        temperature: float,
        max_tokens: int,
        timeout: float,
        seed: int | None,
    ) -> Completion:
        c = self.inner.complete(
            messages,
            json_schema=json_schema,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
            seed=seed,
        )
        rec = {
            "key": request_key(messages, temperature, json_schema is not None),
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "messages": messages,
            "json_schema": json_schema,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "response": c.text,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "seconds": c.seconds,
            "model": c.model,
            "backend": c.backend,
            "finish_reason": c.finish_reason,
        }
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)
        return c

    def close(self) -> None:
        self.inner.close()


class ReplayLLM(LLM):
    """Answers from a JSONL file written by `RecordingLLM`; raises `ReplayMiss` when it cannot."""

    backend = "replay"

    def __init__(self, path: str | Path, *, ordered: bool = False, trace: TraceSink | None = None) -> None:
        self.path = Path(path).expanduser()
        super().__init__(f"replay:{self.path.name}", trace=trace)
        if not self.path.is_file():
            raise FileNotFoundError(f"replay file not found: {self.path}")
        self.records: list[dict[str, Any]] = []
        with self.path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{self.path}:{lineno}: not valid JSON: {exc}") from exc
                if "key" not in rec or "response" not in rec:
                    raise ValueError(f"{self.path}:{lineno}: a record needs 'key' and 'response'")
                self.records.append(rec)
        self.ordered = ordered
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for i, rec in enumerate(self.records):
            self._by_key[rec["key"]].append(i)
        self._next_for_key: dict[str, int] = defaultdict(int)
        self._used: set[int] = set()
        self._cursor = 0
        self._lock = threading.Lock()

    def _pick(self, key: str) -> int | None:
        idxs = self._by_key.get(key)
        if idxs:
            n = self._next_for_key[key]
            self._next_for_key[key] = n + 1
            return idxs[min(n, len(idxs) - 1)]
        if self.ordered:
            while self._cursor < len(self.records) and self._cursor in self._used:
                self._cursor += 1
            if self._cursor < len(self.records):
                return self._cursor
        return None

    def _complete(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None,
        temperature: float,
        max_tokens: int,
        timeout: float,
        seed: int | None,
    ) -> Completion:
        start = time.monotonic()
        key = request_key(messages, temperature, json_schema is not None)
        with self._lock:
            i = self._pick(key)
            if i is None:
                last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
                raise ReplayMiss(
                    f"{self.path} has no recorded response for this request (key {key[:12]}, "
                    f"temperature {temperature}, schema {'yes' if json_schema else 'no'}, last user "
                    f"message {last_user[:120]!r}); it holds {len(self.records)} records with "
                    f"{len(self._by_key)} distinct requests. Re-record with make_llm(..., record=PATH)"
                    + ("" if self.ordered else " or replay with ordered=True")
                    + "."
                )
            self._used.add(i)
            rec = self.records[i]
        return Completion(
            text=rec["response"],
            prompt_tokens=int(rec.get("prompt_tokens") or 0),
            completion_tokens=int(rec.get("completion_tokens") or 0),
            seconds=time.monotonic() - start,
            model=str(rec.get("model") or self.model),
            backend=self.backend,
            finish_reason=rec.get("finish_reason"),
        )


def records_from_trace(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replay records from a run's trace: every successful model call kept there, verbatim.

    A trace already holds each call's messages and real response, so a run seen once (an evaluation's
    trace of an interesting failure) can become a deterministic test without calling the model again.
    """
    out = []
    for e in events:
        if e.get("kind") != "llm_call" or e.get("response") is None or e.get("error"):
            continue
        out.append({
            "key": request_key(e["messages"], float(e.get("temperature") or 0.0), bool(e.get("json_schema"))),
            "messages": e["messages"],
            "temperature": e.get("temperature"),
            "response": e["response"],
            "prompt_tokens": e.get("prompt_tokens"),
            "completion_tokens": e.get("completion_tokens"),
            "seconds": e.get("seconds"),
            "model": e.get("model"),
            "backend": e.get("backend"),
            "finish_reason": e.get("finish_reason"),
        })
    return out
