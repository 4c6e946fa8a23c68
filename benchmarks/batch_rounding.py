"""How far llama.cpp's logits move when the same text is evaluated in batches of other sizes.

    python benchmarks/batch_rounding.py [--tokens 120] [--batches 2,4,512]

Why: guessed-token decoding (agent.llm.lookup_decoding) checks several tokens in one pass, and a pass over
several tokens adds up in another order than a pass over one, so greedy text may part from plain decoding
where the model's top two tokens are about this close. tests/test_llm.py's NEAR_TIE_LOGITS is set from it.

Evaluates the first N tokens of datasets/examples/bakery_integer.txt with the embedded model once per batch
size (1 and each of --batches), keeping every position's logits, and prints per batch size against batch 1:
the largest change of any logit (position 0 left out: its logits are far larger), and the largest, 99th
percentile and median change of the gap between the two tokens batch 1 ranks first and second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--batches", default="2,4,512")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import llama_cpp
    import numpy as np

    from agent.llm.model_store import model_path

    print(llama_cpp.llama_print_system_info().decode().strip())
    text = (ROOT / "datasets" / "examples" / "bakery_integer.txt").read_text(encoding="utf-8")
    scores = {}
    for batch in [1, *(int(b) for b in args.batches.split(","))]:
        llm = llama_cpp.Llama(model_path=str(model_path()), n_ctx=1024, n_batch=batch, n_ubatch=batch,
                              logits_all=True, verbose=False, n_threads=2)
        tokens = llm.tokenize(text.encode())[: args.tokens]
        llm.eval(tokens)
        scores[batch] = np.array(llm.scores[: len(tokens)])
        del llm
    base = scores.pop(1)
    print(f"| batch of | largest logit change | largest top-2 gap change | p99 | median |  ({len(base)} tokens)")
    print("|---:|---:|---:|---:|---:|")
    for batch, other in scores.items():
        gaps = []
        for p in range(1, len(base)):
            second, first = np.argsort(base[p])[-2:]
            gaps.append(abs((other[p][first] - other[p][second]) - (base[p][first] - base[p][second])))
        change = np.abs(other - base)[1:].max()
        print(f"| {batch} | {change:.3f} | {max(gaps):.3f} | {np.quantile(gaps, 0.99):.3f} | {np.median(gaps):.3f} |")


if __name__ == "__main__":
    main()
