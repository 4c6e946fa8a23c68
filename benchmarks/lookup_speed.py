"""Greedy formalizations with and without guessed tokens (agent.llm.lookup_decoding): same text? how fast?

    python benchmarks/lookup_speed.py [--examples bakery_integer,transportation] [--drafts 0,3] [--rounds 2]

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


if __name__ == "__main__":
    main()
