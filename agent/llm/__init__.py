"""Language-model backends behind one interface: `make_llm(spec).complete(messages, ...)`.

Specs: `embedded` (default; the cached Qwen2.5-Coder-1.5B GGUF via llama.cpp), `gguf:PATH`,
`openai:MODEL`, `hf:ORG/NAME` or a local folder, `replay:FILE.jsonl`. Importing this package loads
no model, opens no connection and imports neither llama_cpp, openai nor transformers.
"""

from agent.llm.base import (
    LLM,
    SPEC_HELP,
    Completion,
    TraceSink,
    check_messages,
    make_llm,
    parse_spec,
    with_schema_note,
)
from agent.llm.errors import (
    BackendUnavailable,
    ContextTooLong,
    LLMError,
    LLMTimeout,
    ModelIntegrityError,
    ModelUnavailable,
    ReplayMiss,
)
from agent.llm.hf import HFLLM
from agent.llm.llamacpp import LlamaCppLLM, clear_model_cache
from agent.llm.model_store import (
    MODEL_FILENAME,
    MODEL_SHA256,
    MODEL_SIZE,
    cache_dir,
    embedded_model_path,
    model_info,
    model_path,
    pull_embedded_model,
    verify,
)
from agent.llm.openai_backend import OpenAILLM
from agent.llm.replay import RecordingLLM, ReplayLLM, request_key

__all__ = [
    "HFLLM",
    "LLM",
    "MODEL_FILENAME",
    "MODEL_SHA256",
    "MODEL_SIZE",
    "SPEC_HELP",
    "BackendUnavailable",
    "Completion",
    "ContextTooLong",
    "LLMError",
    "LLMTimeout",
    "LlamaCppLLM",
    "ModelIntegrityError",
    "ModelUnavailable",
    "OpenAILLM",
    "RecordingLLM",
    "ReplayLLM",
    "ReplayMiss",
    "TraceSink",
    "cache_dir",
    "check_messages",
    "clear_model_cache",
    "embedded_model_path",
    "make_llm",
    "model_info",
    "model_path",
    "parse_spec",
    "pull_embedded_model",
    "request_key",
    "verify",
    "with_schema_note",
]
