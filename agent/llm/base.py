"""One interface over every language-model backend, and `make_llm` to choose one by a spec string.

Every call goes through `LLM.complete`, which checks the messages, runs the backend, and appends one
record (messages, response, tokens, seconds, temperature, whether a schema was used, error if any) to
the optional `trace` sink, so the agent's trace holds every prompt and response whatever the
backend. Backends only implement `_complete` and enforce the time limit in their own way.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from agent.llm.errors import LLMError, LLMTimeout

TraceSink = list[dict[str, Any]] | Callable[[dict[str, Any]], None]
Message = dict[str, Any]

_ROLES = {"system", "user", "assistant", "tool"}

# Seconds one model call may take unless the caller says otherwise: a long formalization (600 tokens)
# on 2 CPU cores, with the prompt evaluated, fits; a model that never stops does not hang the run.
DEFAULT_LLM_TIMEOUT = 180.0


@dataclass(frozen=True)
class Completion:
    """One answer of a model, with the numbers needed for tracing and benchmarking."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    backend: str
    finish_reason: str | None
    decode_steps: int | None = None  # forward passes while generating, where the backend counts them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def json_value(self) -> Any:
        """The text parsed as JSON; `LLMError` if it is not valid JSON (e.g. cut by max_tokens)."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise LLMError(
                f"model output is not valid JSON (finish_reason={self.finish_reason}): {exc}; "
                f"text starts {self.text[:200]!r}"
            ) from exc

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


def timeout_before(deadline: float | None, timeout: float, what: str) -> float:
    """A model call's time limit cut to what is left before `deadline` (a `time.monotonic()` value, or None for
    none); raises LLMTimeout when nothing is left, so that no call starts past a problem's budget."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise LLMTimeout(f"{what} has passed: no further model calls for it")
    return min(timeout, left)


def check_messages(messages: Sequence[Message]) -> list[Message]:
    """Validate chat messages early, so a malformed prompt fails here and not deep in a backend."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    out: list[Message] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ValueError(f"messages[{i}] is {type(m).__name__}, expected a dict")
        role, content = m.get("role"), m.get("content")
        if role not in _ROLES:
            raise ValueError(f"messages[{i}] has role {role!r}; expected one of {sorted(_ROLES)}")
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}] content must be a string, got {type(content).__name__}")
        out.append(dict(m))
    return out


def with_schema_note(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    """State the schema in the system message, for backends that cannot enforce it while decoding."""
    note = "Answer with one JSON object only, valid against this JSON schema:\n" + json.dumps(
        schema, separators=(",", ":")
    )
    if messages and messages[0].get("role") == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{note}"
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


class LLM(ABC):
    """A chat model. Subclasses implement `_complete`; `complete` adds validation and tracing.

    `trace` is either a list (records are appended) or a callable (called with each record).
    """

    backend: ClassVar[str] = "base"

    def __init__(self, model: str, *, trace: TraceSink | None = None) -> None:
        self.model = model
        self.trace: TraceSink | None = trace

    def complete(
        self,
        messages: list[Message],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout: float = DEFAULT_LLM_TIMEOUT,
        seed: int | None = None,
    ) -> Completion:
        """Answer `messages`; constrained to `json_schema` where the backend can; at most `timeout` s.

        Raises `LLMTimeout` when the limit is hit, another `LLMError` for backend failures.
        """
        msgs = check_messages(messages)
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if temperature < 0:
            raise ValueError("temperature must be >= 0")
        start = time.monotonic()
        try:
            result = self._complete(
                msgs,
                json_schema=json_schema,
                temperature=temperature,
                max_tokens=max_tokens,
                timeout=timeout,
                seed=seed,
            )
        except LLMError as exc:
            self._record(msgs, json_schema, temperature, max_tokens, seed, None, time.monotonic() - start, exc)
            raise
        self._record(msgs, json_schema, temperature, max_tokens, seed, result, result.seconds, None)
        return result

    @abstractmethod
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
        """Backend work; must respect `timeout` (raise `LLMTimeout`)."""

    def close(self) -> None:
        """Release resources (clients, subprocesses); the default has none."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    def _record(
        self,
        messages: list[Message],
        json_schema: dict[str, Any] | None,
        temperature: float,
        max_tokens: int,
        seed: int | None,
        result: Completion | None,
        seconds: float,
        error: BaseException | None,
    ) -> None:
        if self.trace is None:
            return
        rec: dict[str, Any] = {
            "kind": "llm_call",
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "backend": result.backend if result else self.backend,
            "model": result.model if result else self.model,
            "messages": messages,
            "response": result.text if result else None,
            "prompt_tokens": result.prompt_tokens if result else None,
            "completion_tokens": result.completion_tokens if result else None,
            "seconds": round(seconds, 4),
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "json_schema": json_schema is not None,
            "finish_reason": result.finish_reason if result else None,
            "decode_steps": result.decode_steps if result else None,
            "error": None if error is None else f"{type(error).__name__}: {error}",
        }
        if isinstance(error, LLMTimeout):
            rec["partial"] = error.partial
            rec["prompt_tokens"], rec["completion_tokens"] = error.prompt_tokens, error.completion_tokens
        if callable(self.trace):
            self.trace(rec)
        else:
            self.trace.append(rec)


SPEC_HELP = "embedded | gguf:/path/model.gguf | openai:MODEL | hf:ORG/NAME | /local/hf/model/dir | replay:FILE.jsonl"


def parse_spec(spec: str | None) -> tuple[str, str]:
    """Split a backend spec into (kind, argument); kinds: embedded, gguf, openai, hf, replay."""
    s = (spec or "embedded").strip()
    if s in ("embedded", "default"):
        return "embedded", ""
    for kind in ("gguf", "openai", "hf", "replay"):
        prefix = kind + ":"
        if s.startswith(prefix):
            arg = s[len(prefix) :].strip()
            if not arg:
                raise ValueError(f"backend spec {spec!r} lacks its argument after '{prefix}' ({SPEC_HELP})")
            return kind, arg
    if s.lower().endswith(".gguf"):
        return "gguf", s
    if Path(s).expanduser().is_dir():
        return "hf", s
    raise ValueError(f"unknown backend spec {spec!r}; expected one of: {SPEC_HELP}")


def make_llm(
    spec: str | None = "embedded",
    *,
    trace: TraceSink | None = None,
    record: str | Path | None = None,
    **options: Any,
) -> LLM:
    """Build a backend from a spec string (see `SPEC_HELP`); `options` go to its constructor.

    `record=PATH` wraps the backend in a `RecordingLLM` that appends every call to a JSONL file
    that `replay:PATH` can answer from later. Nothing heavy happens here: models load and clients
    connect on the first call.
    """
    kind, arg = parse_spec(spec)
    llm: LLM
    if kind in ("embedded", "gguf"):
        from agent.llm.llamacpp import LlamaCppLLM
        from agent.llm.model_store import embedded_model_path

        path = embedded_model_path() if kind == "embedded" else Path(arg).expanduser()
        llm = LlamaCppLLM(path, trace=trace, **options)
    elif kind == "openai":
        from agent.llm.openai_backend import OpenAILLM

        llm = OpenAILLM(arg, trace=trace, **options)
    elif kind == "hf":
        from agent.llm.hf import HFLLM

        llm = HFLLM(arg, trace=trace, **options)
    else:
        from agent.llm.replay import ReplayLLM

        llm = ReplayLLM(arg, trace=trace, **options)
    if record is not None:
        from agent.llm.replay import RecordingLLM

        llm = RecordingLLM(llm, record)
    return llm
