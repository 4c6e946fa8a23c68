"""Greedy formalizations with and without guessed tokens (agent.llm.lookup_decoding): same text? how fast?

    python benchmarks/lookup_speed.py [--examples bakery_integer,transportation] [--drafts 0,3] [--rounds 2]

First it times one forward pass over a batch of 1..6 tokens after a 2,000-token prompt (what a check of
guessed tokens costs against generating one token; the reason for checking 3 guesses at a time).

For each example the formalization prompt of its layout (lean or indexed, as `auto` picks) is put into
llama.cpp's memory first, so every timed call measures generation (the problem's tokens evaluated, then
the answer); the draft settings alternate round by round so a slower minute of a shared machine does not
fall on one setting only. Prints one Markdown row per example and setting: generated tokens, forward
passes, seconds (best of the rounds), tokens/s, and whether the text equals the text without drafts.
Run it alone on the machine: llama.cpp's threads slow down a lot beside other work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", default="bakery_integer,transportation")
    parser.add_argument("--drafts", default="0,3", help="guessed tokens per pass to compare (0: none)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import llama_cpp

    from agent.formalize import choose_layout, formalize_messages, output_schema
    from agent.llm import make_llm
    from agent.llm.base import Completion

    llm = make_llm("embedded")
    drafts = [int(d) for d in args.drafts.split(",")]
    print(f"llama-cpp-python {llama_cpp.__version__}; {llama_cpp.llama_print_system_info().decode().strip()}")
    print()
    batch_costs(llm.load().llama)  # type: ignore[attr-defined]
    print()
    print("| example | layout | guessed tokens per pass | generated tokens | forward passes | seconds (best) "
          "| tokens/s | same text as without |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name in args.examples.split(","):
        text = (ROOT / "datasets" / "examples" / f"{name}.txt").read_text(encoding="utf-8")
        layout = choose_layout(text)
        messages = formalize_messages(text, layout=layout)
        schema = output_schema(layout)
        best: dict[int, tuple[float, Completion]] = {}
        for _ in range(args.rounds):
            for draft in drafts:
                llm.draft_max = draft  # type: ignore[attr-defined]
                llm.complete(messages[:-1] + [{"role": "user", "content": "x"}], max_tokens=1)  # prefix only
                start = time.monotonic()
                c = llm.complete(messages, json_schema=schema, max_tokens=2048, temperature=0.0, timeout=900)
                seconds = time.monotonic() - start
                if draft not in best or seconds < best[draft][0]:
                    best[draft] = (seconds, c)
        reference = best[drafts[0]][1].text
        for draft in drafts:
            seconds, c = best[draft]
            print(f"| {name} | {layout} | {draft} | {c.completion_tokens} | {c.decode_steps} | {seconds:.1f} "
                  f"| {c.completion_tokens / seconds:.1f} | {c.text == reference} |")


def batch_costs(llama: object, reps: int = 9) -> None:
    """Median seconds of one llama_decode over n tokens at positions 2000.., for n = 1..6."""
    import llama_cpp

    text = (ROOT / "datasets" / "examples" / "transportation.txt").read_text(encoding="utf-8")
    tokens = llama.tokenize((text * 8).encode())[:2000]  # type: ignore[attr-defined]
    llama.reset()  # type: ignore[attr-defined]
    llama.eval(tokens)  # type: ignore[attr-defined]
    ctx = llama._ctx.ctx  # type: ignore[attr-defined]
    memory = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(8, 0, 1)
    print("| tokens in one pass | median ms | x one token |")
    print("|---:|---:|---:|")
    one = None
    try:
        for n in range(1, 7):
            times = []
            for _ in range(reps):
                batch.n_tokens = n
                for k in range(n):
                    batch.token[k], batch.pos[k], batch.n_seq_id[k] = tokens[100 + k], len(tokens) + k, 1
                    batch.seq_id[k][0], batch.logits[k] = 0, True
                start = time.perf_counter()
                if llama_cpp.llama_decode(ctx, batch) != 0:
                    raise RuntimeError("llama_decode failed")
                times.append(time.perf_counter() - start)
                llama_cpp.llama_memory_seq_rm(memory, 0, len(tokens), -1)
            median = sorted(times)[reps // 2] * 1000
            one = one or median
            print(f"| {n} | {median:.0f} | {median / one:.2f} |")
    finally:
        llama_cpp.llama_batch_free(batch)
        llama.reset()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
