"""Hugging Face transformers backend (`hf:ORG/NAME` or a local model folder).

Kept for models that have no GGUF. It does NOT constrain output to a JSON schema (transformers has no
grammar sampler built in): when a schema is given it is only stated in a system message, so callers
must validate the JSON themselves. On CPU it is several times slower than llama.cpp on the same
model (see shared/MODEL.md). transformers and torch are imported on first use, not at import time;
install them with `pip install 'modelwright[hf]'`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from agent.llm.base import LLM, Completion, Message, TraceSink, with_schema_note
from agent.llm.errors import BackendUnavailable, LLMTimeout, ModelUnavailable

_CACHE: dict[tuple[str, str, str], tuple[Any, Any, threading.Lock]] = {}
_CACHE_LOCK = threading.Lock()


def _imports() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            "the hf: backend needs transformers and torch: pip install 'modelwright[hf]' "
            "(or pip install transformers torch)"
        ) from exc
    return transformers, torch


class HFLLM(LLM):
    """A chat model loaded with transformers; no constrained decoding (see the module docstring)."""

    backend = "transformers"

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        trace: TraceSink | None = None,
        **load_kwargs: Any,
    ) -> None:
        super().__init__(name_or_path, trace=trace)
        _imports()  # fail at construction with a clear message, not at the first call
        self.device = device
        self.dtype = dtype
        self.load_kwargs = load_kwargs

    def load(self) -> tuple[Any, Any, threading.Lock]:
        key = (self.model, self.device, self.dtype)
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                return hit
            transformers, torch = _imports()
            dtype: Any = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
            try:
                tok = transformers.AutoTokenizer.from_pretrained(self.model)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    self.model, torch_dtype=dtype, **self.load_kwargs
                )
            except OSError as exc:
                raise ModelUnavailable(f"transformers could not load {self.model!r}: {exc}") from exc
            model.to(self.device)
            model.eval()
            hit = (tok, model, threading.Lock())
            _CACHE[key] = hit
            return hit

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
        transformers, torch = _imports()
        tok, model, lock = self.load()
        if json_schema is not None:
            messages = with_schema_note(messages, json_schema)
        if getattr(tok, "chat_template", None) is None:
            raise ModelUnavailable(f"{self.model!r} has no chat template; use an instruct/chat model")
        start = time.monotonic()
        input_ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        if hasattr(input_ids, "input_ids"):  # newer versions may return a BatchEncoding
            input_ids = input_ids["input_ids"]
        input_ids = input_ids.to(model.device)
        gen: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "stopping_criteria": transformers.StoppingCriteriaList([transformers.MaxTimeCriteria(timeout)]),
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        }
        if temperature > 0:
            gen.update(do_sample=True, temperature=temperature)
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with lock:
            if seed is not None:
                transformers.set_seed(seed)
            with torch.no_grad():
                out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **gen)
        seconds = time.monotonic() - start
        new = out[0, input_ids.shape[1] :]
        text = tok.decode(new, skip_special_tokens=True)
        n_new = int(new.shape[0])
        if seconds >= timeout and n_new < max_tokens and (n_new == 0 or int(new[-1]) != tok.eos_token_id):
            raise LLMTimeout(
                f"transformers generation stopped at the {timeout:g} s limit", partial=text, seconds=seconds
            )
        return Completion(
            text=text,
            prompt_tokens=int(input_ids.shape[1]),
            completion_tokens=n_new,
            seconds=seconds,
            model=self.model,
            backend=self.backend,
            finish_reason="length" if n_new >= max_tokens else "stop",
        )
