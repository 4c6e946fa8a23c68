"""Errors raised by the language-model layer.

One small hierarchy so that callers can catch `LLMError` for "the model could not answer" and the
subclasses when they want to react differently (retry on timeout, fall back on a missing model).
"""

from __future__ import annotations


class LLMError(RuntimeError):
    """Any failure of a language-model backend."""


class LLMTimeout(LLMError):
    """A call ran past its time limit; `partial` holds whatever text was produced before the stop, and the
    token counts (when the backend knows them) what the cut call cost, for the run's token figures."""

    def __init__(self, message: str, *, partial: str = "", seconds: float = 0.0,
                 prompt_tokens: int | None = None, completion_tokens: int | None = None) -> None:
        super().__init__(message)
        self.partial = partial
        self.seconds = seconds
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


class ContextTooLong(LLMError):
    """The prompt plus `max_tokens` does not fit in the model's context window."""


class BackendUnavailable(LLMError):
    """A backend's optional package (transformers, openai, llama-cpp-python) is not installed."""


class ReplayMiss(LLMError):
    """A replay log holds no recorded response for the request that was made."""


class ModelUnavailable(LLMError):
    """The embedded model is not in the cache and cannot be fetched now."""


class ModelIntegrityError(ModelUnavailable):
    """A model file (or a part of it) does not match its expected size or sha256."""
