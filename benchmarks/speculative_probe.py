"""Does prompt-lookup speculative decoding speed up the embedded model here? One formalization, greedy,
under the layout's JSON grammar, twice in one process (the second call finds the prompt evaluated).

    python benchmarks/speculative_probe.py DRAFT_TOKENS [--problem datasets/examples/transportation.txt]

DRAFT_TOKENS 0 is plain decoding; otherwise llama-cpp-python's `LlamaPromptLookupDecoding` proposes that
many tokens copied from the prompt (it needs `logits_all=True`: without it llama-cpp-python 0.3.36 fails
with "could not broadcast input array ... into shape (0,)"). The prefix store is off so no saved state of
another configuration is loaded. Prints one JSON line per call: seconds, tokens and a hash of the text
(greedy output must be the same with and without drafts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("draft_tokens", type=int)
    parser.add_argument("--problem", default=str(ROOT / "datasets" / "examples" / "transportation.txt"))
    parser.add_argument("--max-tokens", type=int, default=600)
    a = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from agent.formalize import choose_layout, formalize_messages, output_schema
    from agent.llm.llamacpp import LlamaCppLLM
    from agent.llm.model_store import embedded_model_path

    extra: dict[str, Any] = {}
    if a.draft_tokens:
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        extra = {"logits_all": True, "draft_model": LlamaPromptLookupDecoding(num_pred_tokens=a.draft_tokens)}
    llm = LlamaCppLLM(embedded_model_path(), prefix_cache=False, **extra)
    llm.load()
    text = Path(a.problem).read_text(encoding="utf-8")
    layout = choose_layout(text)
    messages = formalize_messages(text, layout=layout)
    for call in range(2):
        t = time.monotonic()
        c = llm.complete(messages, json_schema=output_schema(layout), temperature=0.0, max_tokens=a.max_tokens,
                         timeout=900, seed=1)
        print(json.dumps({"call": call, "draft_tokens": a.draft_tokens, "layout": layout,
                          "seconds": round(time.monotonic() - t, 1), "prompt_tokens": c.prompt_tokens,
                          "completion_tokens": c.completion_tokens,
                          "text_sha256": hashlib.sha256(c.text.encode()).hexdigest()[:12]}), flush=True)


if __name__ == "__main__":
    main()
