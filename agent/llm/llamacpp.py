"""llama.cpp backend (llama-cpp-python) for the embedded model and any local GGUF, on CPU.

Why not `create_chat_completion`: in llama-cpp-python 0.3.x it takes no `stopping_criteria`, and a
logits processor runs inside a ctypes callback where exceptions are swallowed, so neither can stop a
run at a deadline. Instead the chat template stored in the GGUF is rendered here with the library's
own `Jinja2ChatFormatter` (what `create_chat_completion` does internally), and `create_completion`
is called with a stopping criterion that checks the clock after every generated token (so the text
produced so far is kept). Prompt evaluation is one long `llama_decode` per batch, which would overrun
the limit on a busy CPU; it is cut by llama.cpp's abort callback (polled between graph nodes; see
`_AbortFlag`), set to fire `ABORT_GRACE` s after the deadline so that during generation the
token-level stop, which keeps the partial text, wins.

JSON output is constrained by a GBNF grammar built from the schema with
`LlamaGrammar.from_json_schema` (cached per schema), checked on each sampled token before it is applied
to the whole vocabulary (`agent.llm.lazy_grammar`). Loaded models are cached per (path, options),
since loading takes seconds, and each has a lock because a llama.cpp context is not thread-safe.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.llm.base import LLM, Completion, Message, TraceSink
from agent.llm.errors import BackendUnavailable, ContextTooLong, LLMError, LLMTimeout, ModelUnavailable
from agent.llm.lookup_decoding import DRAFT_MAX, Generated, generate


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BackendUnavailable(
            "llama-cpp-python is not installed; `pip install llama-cpp-python` (builds from source, "
            "a few minutes) or choose another backend (openai:MODEL)"
        ) from exc
    return llama_cpp


ABORT_GRACE = 0.5


def _c_strlen_address() -> int | None:
    """Address of C's `strlen`, used as a GIL-free abort callback (see `_AbortFlag`)."""
    for lib in (None, ctypes.util.find_library("c"), "msvcrt"):
        try:
            fn = ctypes.CDLL(lib).strlen
        except (OSError, AttributeError, TypeError):
            continue
        return ctypes.cast(fn, ctypes.c_void_p).value
    return None  # pragma: no cover


class _AbortFlag:
    """A flag that llama.cpp polls between graph nodes (~650 times per token) to abort a decode.

    The callback is C's `strlen` on a 2-byte buffer: it returns 0 ("go on") until a timer thread
    sets the first byte, so polling costs nothing and never needs the GIL (a Python callback would
    take the GIL at every node and crawl whenever another Python thread is busy). If `strlen`
    cannot be found, a Python callback reading the same byte is used instead.
    """

    def __init__(self, llama_cpp: Any, ctx: Any) -> None:
        self.buf = ctypes.create_string_buffer(2)
        self._timer: threading.Timer | None = None
        addr = _c_strlen_address()
        if addr is not None:
            self._cb = llama_cpp.ggml_abort_callback(addr)
        else:  # pragma: no cover
            self._cb = llama_cpp.ggml_abort_callback(lambda _data: self.fired)
        llama_cpp.llama_set_abort_callback(ctx, self._cb, ctypes.cast(self.buf, ctypes.c_void_p))

    @property
    def fired(self) -> bool:
        return self.buf.raw[0] != 0

    def arm(self, seconds: float) -> None:
        self.disarm()
        self.buf[0] = b"\0"
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.buf[0] = b"\1"

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass
class _Loaded:
    llama: Any
    formatter: Any
    load_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: dict[str, Any] = field(default_factory=dict)
    abort: _AbortFlag | None = None  # lives as long as the context that points at it


_CACHE: dict[tuple[Any, ...], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def property_order(schema: Any) -> list[str]:
    """One global property order (llama.cpp's converter takes one) that keeps every object's own order.

    Each object's properties give "a before b" pairs; a stable topological sort merges them, ties
    broken by first appearance. Should two objects disagree, the first seen wins.
    """
    lists: list[list[str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and props:
                lists.append(list(props))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    first_seen: list[str] = []
    before: dict[str, set[str]] = {}
    for names in lists:
        for name in names:
            if name not in before:
                before[name] = set()
                first_seen.append(name)
        for a, b in zip(names, names[1:], strict=False):
            if a not in before[b] and b not in _reachable(before, a):
                before[b].add(a)
    order: list[str] = []
    while len(order) < len(first_seen):
        ready = next(n for n in first_seen if n not in order and before[n] <= set(order))
        order.append(ready)
    return order


def _reachable(before: dict[str, set[str]], start: str) -> set[str]:
    """Names that must come before `start` (transitively)."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        for n in before.get(stack.pop(), ()):
            if n not in seen:
                seen.add(n)
                stack.append(n)
    return seen


def clear_model_cache() -> None:
    """Drop every loaded model and close it.

    Also runs at exit: closing here, while the interpreter is whole, avoids llama-cpp-python's
    `Llama.__del__` failing during shutdown (a traceback printed after a successful run).
    """
    with _CACHE_LOCK:
        loaded = list(_CACHE.values())
        _CACHE.clear()
    for entry in loaded:
        close = getattr(entry.llama, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - best effort at teardown; the memory goes with the process
                pass


atexit.register(clear_model_cache)


PREFIX_TOKENS = 1024  # prompts at least this long (system rules + worked examples) are worth keeping


class PrefixStore:
    """Evaluated prompts on disk, so a new process skips re-reading the fixed part of a long prompt.

    Why: every `modelwright solve` is a new process, and evaluating the formalization prompt's
    ~2,000 tokens of rules and worked examples takes about a minute on 2 cores. After a call whose
    prompt is long, llama.cpp's state (its KV cache) is written once per prompt family, keyed by the
    model file, the context size and the prompt's first `PREFIX_TOKENS` tokens; a fresh model facing
    a prompt with the same start loads it, and llama-cpp-python's own prefix matching then evaluates
    only the tokens that differ. Files are written atomically; a bad or foreign file is ignored.
    """

    MAGIC = b"MWKV1\n"

    def __init__(self, folder: Path, model_key: str) -> None:
        self.folder = folder
        self.model_key = model_key

    def path(self, prompt: list[int]) -> Path:
        import hashlib

        head = ",".join(map(str, prompt[:PREFIX_TOKENS]))
        key = hashlib.sha256(f"{self.model_key}|{head}".encode()).hexdigest()[:32]
        return self.folder / f"{key}.kv"

    def restore(self, llama: Any, prompt: list[int]) -> bool:
        """Load the state for this prompt's family into the model, unless it holds that family already.

        A model that evaluated another family's prompt (the indexed layout's rules after the lean one's, in
        one eval run) is reset first when this family has a stored state: loading it takes about a second,
        evaluating the 1,700-3,300 prompt tokens again takes 60-140 s on 2 cores.
        """
        import llama_cpp
        import numpy as np

        if len(prompt) < PREFIX_TOKENS:
            return False
        path = self.path(prompt)
        if llama.n_tokens != 0:
            held = list(llama.input_ids[:min(int(llama.n_tokens), PREFIX_TOKENS)])
            if held == prompt[:PREFIX_TOKENS] or not path.exists():
                return False
            llama.reset()
        try:
            data = path.read_bytes()
            if not data.startswith(self.MAGIC):
                return False
            offset = len(self.MAGIC)
            n = int.from_bytes(data[offset:offset + 4], "little")
            ids = np.frombuffer(data, dtype=np.intc, count=n, offset=offset + 4)
            state = data[offset + 4 + 4 * n:]
            if n == 0 or n >= llama.n_ctx() or list(ids[:PREFIX_TOKENS]) != prompt[:PREFIX_TOKENS]:
                return False
            buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_set_data(llama._ctx.ctx, buf, len(state)) != len(state):
                llama.reset()
                return False
        except (OSError, ValueError):
            return False
        llama.input_ids[:n] = ids
        llama.n_tokens = n
        llama._requires_eval = True  # logits are not part of what we trust: the suffix is decoded anew
        return True

    def save(self, llama: Any, prompt: list[int]) -> None:
        """Write the state after a long prompt, once per prompt family."""
        import llama_cpp

        path = self.path(prompt)
        if len(prompt) < PREFIX_TOKENS or path.exists():
            return
        try:
            size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
            buf = (ctypes.c_uint8 * int(size))()
            written = int(llama_cpp.llama_state_get_data(llama._ctx.ctx, buf, size))
            n = int(llama.n_tokens)
            ids = llama.input_ids[:n].astype("int32").tobytes()
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            with tmp.open("wb") as fh:
                fh.write(self.MAGIC + n.to_bytes(4, "little") + ids)
                fh.write(memoryview(buf)[:written])
            tmp.replace(path)
        except (OSError, AttributeError, ValueError):
            return  # a cache: failing to write it costs time later, never an answer


def _make_formatter(llama: Any, chat_format: str | None) -> Any:
    """The chat formatter llama-cpp-python itself would use: the GGUF's template, else ChatML."""
    from llama_cpp import llama_chat_format as lcf

    template = llama.metadata.get("tokenizer.chat_template")
    if chat_format in (None, "auto", "chat_template.default") and template:

        def token_text(tok: int) -> str:
            if tok == -1:
                return ""
            try:
                return llama._model.token_get_text(tok)
            except AttributeError:  # pragma: no cover - older/newer internals
                return llama.detokenize([tok], special=True).decode("utf-8", "replace")

        eos = llama.token_eos()
        return lcf.Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(eos),
            bos_token=token_text(llama.token_bos()),
            stop_token_ids=[eos] if eos != -1 else None,
        )
    if chat_format in (None, "auto", "chatml"):
        return lcf.format_chatml
    fn = getattr(lcf, "format_" + chat_format.replace("-", ""), None)
    if fn is None:
        raise LLMError(f"unknown chat_format {chat_format!r} (use 'auto' or 'chatml')")
    return fn


class LlamaCppLLM(LLM):
    """A local GGUF model run by llama.cpp on CPU (the embedded default and `gguf:PATH`)."""

    backend = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        chat_format: str | None = None,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        abortable: bool = True,
        prefix_cache: bool | None = None,
        lazy_grammar: bool | None = None,
        draft_max: int | None = None,
        trace: TraceSink | None = None,
        **llama_kwargs: Any,
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"GGUF model file not found: {path}")
        super().__init__(path.stem, trace=trace)
        _import_llama_cpp()
        self.path = path.resolve()
        self.n_ctx = n_ctx
        # Default: every core. On a shared CPU set MODELWRIGHT_THREADS lower: llama.cpp's threads
        # spin at barriers, and oversubscribed cores made 2 threads ~5x slower than 1 here.
        env_threads = os.environ.get("MODELWRIGHT_THREADS", "").strip()
        self.n_threads = n_threads or (int(env_threads) if env_threads else 0) or os.cpu_count() or 1
        self.n_gpu_layers = n_gpu_layers
        self.chat_format = chat_format
        self.sampling = {"top_p": top_p, "top_k": top_k, "min_p": min_p, "repeat_penalty": repeat_penalty}
        self.abortable = abortable
        # Check the grammar on the sampled token first (agent.llm.lazy_grammar): greedy output is the
        # same, generation under the IR's grammar faster. MODELWRIGHT_LAZY_GRAMMAR=0: the library's order.
        if lazy_grammar is None:
            lazy_grammar = os.environ.get("MODELWRIGHT_LAZY_GRAMMAR", "1").strip() not in ("0", "false", "no")
        self.lazy_grammar = lazy_grammar
        # Guessed tokens checked per forward pass (agent.llm.lookup_decoding); MODELWRIGHT_DRAFT=0: one per pass.
        if draft_max is None:
            draft_max = int(os.environ.get("MODELWRIGHT_DRAFT", "").strip() or DRAFT_MAX)
        self.draft_max = max(0, draft_max)
        # The last answer's tokens and passes: tests compare decoding variants token by token.
        self.last_generated: Generated | None = None
        self.llama_kwargs = llama_kwargs
        if prefix_cache is None:  # on unless MODELWRIGHT_PREFIX_CACHE=0
            prefix_cache = os.environ.get("MODELWRIGHT_PREFIX_CACHE", "1").strip() not in ("0", "false", "no")
        self.prefix_store: PrefixStore | None = None
        if prefix_cache:
            from agent.llm.model_store import cache_dir

            st = self.path.stat()
            version = getattr(_import_llama_cpp(), "__version__", "?")
            self.prefix_store = PrefixStore(cache_dir() / "prefix",
                                            f"{self.path}|{st.st_size}|{st.st_mtime_ns}|{n_ctx}|{version}")

    def _key(self) -> tuple[Any, ...]:
        extra = tuple(sorted((k, repr(v)) for k, v in self.llama_kwargs.items()))
        opts = (self.n_ctx, self.n_threads, self.n_gpu_layers, self.chat_format, self.abortable)
        return (str(self.path), *opts, extra)

    def load(self) -> _Loaded:
        """Load (or fetch from the cache) the model; call it to pay the load time up front."""
        key = self._key()
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                return hit
            llama_cpp = _import_llama_cpp()
            start = time.monotonic()
            try:
                llama = llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_gpu_layers=self.n_gpu_layers,
                    verbose=False,
                    **self.llama_kwargs,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelUnavailable(f"llama.cpp could not load {self.path}: {exc}") from exc
            if not os.environ.get("MODELWRIGHT_LLAMA_LOG"):
                # llama.cpp logs some notes at its level NONE ("decode: removing memory module
                # entries ..."), which llama-cpp-python prints even when not verbose; failures
                # reach us as exceptions, so its log stays quiet unless asked for.
                import logging

                logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 1)
            from agent.llm import lazy_grammar

            lazy_grammar.install(llama)
            loaded = _Loaded(llama, _make_formatter(llama, self.chat_format), time.monotonic() - start)
            if self.abortable:
                try:
                    loaded.abort = _AbortFlag(llama_cpp, llama._ctx.ctx)
                except (AttributeError, TypeError):  # pragma: no cover - other library internals
                    loaded.abort = None
            _CACHE[key] = loaded
            return loaded

    @property
    def load_seconds(self) -> float:
        return self.load().load_seconds

    def _grammar(self, loaded: _Loaded, schema: dict[str, Any]) -> Any:
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        text = json.dumps(schema, sort_keys=True)
        g = loaded.grammars.get(text)
        if g is None:
            try:
                # Keep the schema's own property order: the converter sorts keys alphabetically otherwise,
                # and a small model writes far better JSON when it states a sentence before its formula.
                gbnf = json_schema_to_gbnf(json.dumps(schema), property_order(schema))
                g = LlamaGrammar.from_string(gbnf, verbose=False)
            except Exception as exc:  # the converter raises plain Exceptions on unsupported schemas
                raise LLMError(f"cannot turn the JSON schema into a grammar: {exc}") from exc
            loaded.grammars[text] = g
        return g

    def count_tokens(self, messages: list[Message]) -> int:
        """Prompt length in tokens after the chat template, to budget few-shot examples."""
        return len(self._render(self.load(), messages)[1])

    @staticmethod
    def _render(loaded: _Loaded, messages: list[Message]) -> tuple[Any, list[int]]:
        """Apply the chat template and tokenize, as llama-cpp-python's chat handler does."""
        res = loaded.formatter(messages=messages)
        text = res.prompt.encode("utf-8")
        return res, loaded.llama.tokenize(text, add_bos=not res.added_special, special=True)

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
        loaded = self.load()  # loading (seconds, once per process) is not counted against `timeout`
        start = time.monotonic()
        deadline = start + timeout

        def past_deadline() -> bool:
            return time.monotonic() > deadline

        llama = loaded.llama
        res, prompt = self._render(loaded, messages)
        if len(prompt) >= llama.n_ctx() - 1:
            raise ContextTooLong(
                f"prompt is {len(prompt)} tokens; the context window is {llama.n_ctx()} (option n_ctx)"
            )
        stop = [] if res.stop is None else [res.stop] if isinstance(res.stop, str) else list(res.stop)
        grammar = self._grammar(loaded, json_schema) if json_schema is not None else None
        if not loaded.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise LLMTimeout(f"the model stayed busy with other calls for the whole {timeout:g} s limit")
        if loaded.abort is not None:
            loaded.abort.arm(deadline + ABORT_GRACE - time.monotonic())
        sampler = None
        try:
            if self.prefix_store is not None:
                self.prefix_store.restore(llama, prompt)
            llama.lazy_grammar_on = self.lazy_grammar
            # What llama-cpp-python's create_completion does with a seed, so sampled answers stay reproducible.
            llama.set_seed(seed if seed is not None else random.Random(llama._seed).randint(0, 2**32))
            sampler = llama._init_sampler(temp=temperature, grammar=grammar, **self.sampling)
            try:
                out = generate(llama, prompt, sampler, max_tokens=max_tokens, stop_strings=stop,
                               stop_tokens=getattr(loaded.formatter, "stop_token_ids", None) or (),
                               past_deadline=past_deadline, draft_max=self.draft_max)
                self.last_generated = out
            except RuntimeError as exc:
                if loaded.abort is not None and loaded.abort.fired:
                    raise LLMTimeout(
                        f"llama.cpp evaluation aborted at the {timeout:g} s limit (prompt of "
                        f"{len(prompt)} tokens not finished)",
                        seconds=time.monotonic() - start,
                    ) from exc
                raise LLMError(f"llama.cpp failed: {exc}") from exc
            except ValueError as exc:
                raise LLMError(f"llama.cpp failed: {exc}") from exc
            if self.prefix_store is not None:
                self.prefix_store.save(llama, prompt)
        finally:
            if sampler is not None:
                sampler.close()
            if loaded.abort is not None:
                loaded.abort.disarm()
            loaded.lock.release()
        seconds = time.monotonic() - start
        if out.finish_reason == "deadline":
            raise LLMTimeout(
                f"llama.cpp generation stopped at the {timeout:g} s limit after {len(out.tokens)} tokens",
                partial=out.text,
                seconds=seconds,
                prompt_tokens=len(prompt),
                completion_tokens=len(out.tokens),
            )
        return Completion(
            text=out.text,
            prompt_tokens=len(prompt),
            completion_tokens=len(out.tokens),
            seconds=seconds,
            model=self.model,
            backend=self.backend,
            finish_reason=out.finish_reason,
            decode_steps=out.steps,
        )
