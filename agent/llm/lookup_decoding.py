"""Generation for llama.cpp with prompt-lookup drafts: several tokens checked per forward pass.

Why: on a CPU, generating one token reads all the weights from memory (about 80 ms for the embedded
model on 2 cores), and checking five tokens in one batch costs little more (about 130 ms), because the
weights are read once. A formalization copies much of its prompt: the JSON keys and punctuation of the
worked examples, the problem's names and numbers. So the next few tokens are guessed by finding the
latest earlier occurrence of the last few tokens (an n-gram) in the prompt and output so far, and
taking what followed it (Saxena's prompt-lookup decoding). One batch then holds the pending token and
the guesses; the sampler draws at each position in turn, and guesses are kept while they equal the
drawn token.

The output is the model's own, not an approximation: a draw at each position from the model's
distribution (the same sampler chain and grammar as plain decoding) that is kept only when it equals
the guess is exactly speculative sampling with a one-point draft (accept with probability p(guess),
otherwise a draw from p without the guess). Greedy output is the plain output up to rounding: llama.cpp
adds up a pass over several tokens in another order than a pass over one (on an AVX2 build the gap
between a position's top two logits moves by up to 0.36), so where the model's top two tokens are that
close the answers may part; tests/test_llm.py checks on the real model that they part only at such a tie.

llama-cpp-python's own `draft_model` hook needs `logits_all=True`, which copies the logits of every
prompt token (151,936 floats each) into a Python array: measured slower than no drafting at all
(BENCHMARKS.md). Here only the batch's own positions ask for logits and nothing is copied.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

DRAFT_MAX = 3  # guesses per pass: a pass over 4 tokens costs 1.5-1.7x one with AVX-512, 2.4x with AVX2 (BENCHMARKS.md)
NGRAM_MAX = 4  # longest n-gram looked up; shorter ones are tried when it has no earlier occurrence


class LookupIndex:
    """The latest position after each n-gram (n = 1 .. NGRAM_MAX) of a token history, kept up to date."""

    def __init__(self, tokens: Sequence[int], ngram_max: int = NGRAM_MAX) -> None:
        self.tokens: list[int] = []
        self.ngram_max = ngram_max
        self._after: dict[tuple[int, ...], int] = {}
        for t in tokens:
            self.append(t)

    def append(self, token: int) -> None:
        # The n-grams ending at the previous last token become searchable now; the ones ending at the new
        # token are not yet (looked up, they would only find themselves).
        toks = self.tokens
        end = len(toks)
        for n in range(1, min(self.ngram_max, end) + 1):
            self._after[tuple(toks[end - n:end])] = end
        toks.append(token)

    def draft(self, limit: int) -> list[int]:
        """What followed the latest earlier occurrence of the longest matching suffix (up to `limit`)."""
        toks = self.tokens
        for n in range(min(self.ngram_max, len(toks)), 0, -1):
            start = self._after.get(tuple(toks[-n:]))
            if start is not None:
                return toks[start:start + limit]
        return []


@dataclass
class Generated:
    tokens: list[int]  # generated tokens, without the end-of-turn token
    text: str
    finish_reason: str  # stop | length | deadline
    steps: int  # forward passes while generating (tokens / steps: the gain of drafting)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def generate(
    llama: Any,
    prompt: list[int],
    sampler: Any,
    *,
    max_tokens: int,
    stop_tokens: Collection[int] = (),
    stop_strings: Sequence[str] = (),
    past_deadline: Callable[[], bool] = lambda: False,
    draft_max: int = DRAFT_MAX,
) -> Generated:
    """Evaluate `prompt` (reusing the longest prefix llama.cpp still holds) and generate from it.

    `sampler` is what `Llama._init_sampler` returns (it draws at a batch position and accepts the token);
    the answer ends at an end-of-generation token of the vocabulary, one of `stop_tokens` or a stop string.
    `draft_max=0` decodes one token per pass. Keeps `llama.input_ids`/`n_tokens` in step with llama.cpp's
    memory, so the next call reuses this prompt. Raises RuntimeError when llama.cpp fails or is aborted.
    """
    import llama_cpp

    ctx = llama._ctx.ctx
    n_ctx = int(llama.n_ctx())
    cached = _common_prefix(llama.input_ids[: int(llama.n_tokens)].tolist(), prompt)
    keep = min(cached, len(prompt) - 1)  # the last prompt token is decoded again for its logits
    if keep <= 0:
        llama.reset()
    else:
        llama.n_tokens = keep
    llama.eval(prompt[keep:])  # drops llama.cpp's memory past `keep` first; logits of the last token only

    index = LookupIndex(prompt)
    out: list[int] = []
    pieces: list[bytes] = []
    piece_buf = ctypes.create_string_buffer(64)
    vocab = llama._model.vocab
    max_tokens = min(max_tokens, n_ctx - len(prompt))
    batch = llama_cpp.llama_batch_init(draft_max + 1, 0, 1)
    memory = llama_cpp.llama_get_memory(ctx)
    n_past = len(prompt)  # tokens whose keys and values llama.cpp holds
    steps = 0
    finish = "length"

    def emit(token: int) -> str | None:
        """Take a drawn token; the finish reason when it ends the answer."""
        if token in stop_tokens or llama_cpp.llama_vocab_is_eog(vocab, token):
            return "stop"
        out.append(token)
        index.append(token)
        n = llama_cpp.llama_token_to_piece(vocab, token, piece_buf, len(piece_buf), 0, False)
        pieces.append(piece_buf.raw[:max(n, 0)])
        if stop_strings:
            tail = b"".join(pieces[-16:]).decode("utf-8", "ignore")
            if any(s and s in tail for s in stop_strings):
                return "stop"
        if len(out) >= max_tokens:
            return "length"
        if past_deadline():
            return "deadline"
        return None

    try:
        ended = emit(sampler.sample(llama._ctx, -1))
        while ended is None:
            pending = out[-1]
            room = max(0, min(draft_max, max_tokens - len(out), n_ctx - n_past - 2))
            draft = index.draft(room) if room else []
            ids = [pending, *draft]
            batch.n_tokens = len(ids)
            for k, tok in enumerate(ids):
                batch.token[k] = tok
                batch.pos[k] = n_past + k
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = 0
                batch.logits[k] = True
            rc = llama_cpp.llama_decode(ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
            steps += 1
            n_past += 1  # the pending token
            for k in range(len(ids)):
                token = sampler.sample(llama._ctx, k)
                guessed = k < len(draft) and token == draft[k]
                ended = emit(token)
                if ended is not None or not guessed:
                    break
                n_past += 1  # a guess kept: its keys and values are already computed
            if len(draft):
                llama_cpp.llama_memory_seq_rm(memory, 0, n_past, -1)  # forget the guesses not kept
        finish = ended
    finally:
        llama_cpp.llama_batch_free(batch)
        # What llama.cpp holds now, for the next call's prefix reuse (the last drawn token is not in it).
        held = prompt + out[: max(0, n_past - len(prompt))]
        llama.input_ids[: len(held)] = held
        llama.n_tokens = len(held)
    text = b"".join(pieces).decode("utf-8", "ignore")
    if finish == "stop":
        for s in stop_strings:
            if s and s in text:
                text = text[: text.index(s)]
    return Generated(out, text, finish, steps)
