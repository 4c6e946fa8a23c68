"""Backend for any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama, ...).

Structured output: servers differ, so the request tries, in order, `response_format`
`{"type": "json_schema", ...}` (OpenAI, vLLM, recent Ollama), then `{"type": "json_object",
"schema": ...}` (llama-cpp-python's server), then plain `{"type": "json_object"}` with the schema
stated in a system message. The first form a server accepts is remembered for later calls.
Retries (connection errors, 408/409/429/5xx) back off exponentially and all fit inside the call's
`timeout`; `max_concurrency` bounds the calls in flight from one backend object.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

from agent.llm.base import LLM, Completion, Message, TraceSink, with_schema_note
from agent.llm.errors import BackendUnavailable, LLMError, LLMTimeout

SCHEMA_MODES = ("json_schema", "json_object_schema", "json_object")
_RETRY_STATUS = {408, 409, 425, 429}


def _response_format(mode: str, schema: dict[str, Any]) -> dict[str, Any]:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "ir", "schema": schema, "strict": False}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"}


def _format_rejected(exc: Any) -> bool:
    """Whether an HTTP error looks like the server refusing our `response_format`.

    400/422 are taken as such (cheap to get wrong: one extra request); other codes only when the
    error names the field, because llama-cpp-python's server answers a validation error with 500.
    """
    if exc.status_code in (400, 422):
        return True
    text = f"{exc} {getattr(exc, 'body', '')}".lower()
    return "response_format" in text or "json_schema" in text


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible `/v1/chat/completions` endpoint."""

    backend = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_concurrency: int = 4,
        schema_mode: str | None = None,
        extra_body: dict[str, Any] | None = None,
        trace: TraceSink | None = None,
    ) -> None:
        super().__init__(model, trace=trace)
        if schema_mode is not None and schema_mode not in SCHEMA_MODES:
            raise ValueError(f"schema_mode must be one of {SCHEMA_MODES}")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
        self.max_retries = max_retries
        self.backoff = backoff
        self.schema_mode = schema_mode or SCHEMA_MODES[0]
        self.extra_body = extra_body
        self._sem = threading.BoundedSemaphore(max(1, max_concurrency))
        self._client: Any = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"OpenAILLM(model={self.model!r}, base_url={self.base_url!r})"

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as exc:  # pragma: no cover - depends on the environment
                    raise BackendUnavailable("the `openai` package is missing: pip install openai") from exc
                # Retries are done here, inside the call's own deadline, not by the client.
                self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key, max_retries=0)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

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
        import openai

        client = self._get_client()
        start = time.monotonic()
        deadline = start + timeout
        if not self._sem.acquire(timeout=timeout):
            raise LLMTimeout(f"no free slot (max_concurrency) within {timeout:g} s")
        try:
            modes = list(SCHEMA_MODES[SCHEMA_MODES.index(self.schema_mode) :]) if json_schema else [None]
            attempt = 0
            first_rejection: Exception | None = None
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LLMTimeout(f"{self.model}: no answer within {timeout:g} s", seconds=timeout)
                mode = modes[0]
                kwargs: dict[str, Any] = {
                    "model": self.model,
                    "messages": messages,
                    "temperature": temperature,
                    "max_tokens": max_tokens,
                    "timeout": remaining,
                }
                if seed is not None:
                    kwargs["seed"] = seed
                if self.extra_body:
                    kwargs["extra_body"] = self.extra_body
                if mode is not None and json_schema is not None:
                    kwargs["response_format"] = _response_format(mode, json_schema)
                    if mode == "json_object":
                        kwargs["messages"] = with_schema_note(messages, json_schema)
                try:
                    resp = client.chat.completions.create(**kwargs)
                except openai.APITimeoutError as exc:
                    raise LLMTimeout(
                        f"{self.model}: no answer within {timeout:g} s", seconds=time.monotonic() - start
                    ) from exc
                except openai.APIStatusError as exc:
                    if mode is not None and len(modes) > 1 and _format_rejected(exc):
                        first_rejection = first_rejection or exc
                        modes.pop(0)  # the server does not take this response_format: try the next
                        continue
                    if exc.status_code in _RETRY_STATUS or exc.status_code >= 500:
                        attempt = self._backoff_or_raise(attempt, deadline, exc)
                        continue
                    raise LLMError(
                        f"{self.model}: request rejected (HTTP {exc.status_code}): {first_rejection or exc}"
                    ) from exc
                except openai.APIConnectionError as exc:
                    attempt = self._backoff_or_raise(attempt, deadline, exc)
                    continue
                if mode is not None:
                    self.schema_mode = mode
                break
        finally:
            self._sem.release()
        seconds = time.monotonic() - start
        if not resp.choices:
            raise LLMError(f"{self.model}: the server returned no choices")
        choice = resp.choices[0]
        usage = resp.usage
        return Completion(
            text=choice.message.content or "",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            seconds=seconds,
            model=resp.model or self.model,
            backend=self.backend,
            finish_reason=choice.finish_reason,
        )

    def _backoff_or_raise(self, attempt: int, deadline: float, exc: Exception) -> int:
        """Sleep before the next try (exponential, jittered, within the deadline), or give up."""
        attempt += 1
        if attempt > self.max_retries:
            raise LLMError(f"{self.model}: failed after {self.max_retries} retries: {exc}") from exc
        delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
        remaining = deadline - time.monotonic()
        if delay >= remaining:
            raise LLMTimeout(f"{self.model}: transient errors until the time limit; last: {exc}") from exc
        time.sleep(delay)
        return attempt
