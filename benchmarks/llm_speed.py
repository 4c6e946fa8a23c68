"""How fast the embedded model is here, on the formalization prompt: prompt evaluation, generation with
and without the schema's grammar (checked on the sampled token first, as modelwright does, and over the
whole vocabulary first, as llama-cpp-python does), and a new process with and without the on-disk
prompt state.

    python benchmarks/llm_speed.py [--problem datasets/examples/bakery_integer.txt] [--tokens 300]

Each figure comes from a fresh process (`--child`), so llama.cpp's in-memory prompt cache does not leak
from one measurement into the next. Run it on an idle machine: other processes on the same cores slow
llama.cpp's threads a lot more than their share.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(problem: str, tokens: int, schema: bool, calls: int) -> None:
    sys.path.insert(0, str(ROOT))
    from agent.formalize import formalize_messages, output_schema
    from agent.llm import make_llm

    llm = make_llm("embedded")
    t = time.monotonic()
    llm.load()  # type: ignore[attr-defined]
    load = time.monotonic() - t
    messages = formalize_messages(Path(problem).read_text(encoding="utf-8"))
    out = []
    for _ in range(calls):
        t = time.monotonic()
        c = llm.complete(messages, json_schema=output_schema(True) if schema else None, max_tokens=tokens,
                         temperature=0.0, timeout=900)
        out.append({"seconds": time.monotonic() - t, "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens})
    print(json.dumps({"load": load, "calls": out}))


def run(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", default=str(ROOT / "datasets" / "examples" / "bakery_integer.txt"))
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--schema", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=2, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        child(a.problem, a.tokens, a.schema, a.calls)
        return
    import llama_cpp

    base = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        # An empty prefix store (MODELWRIGHT_CACHE holds only that; the model is found by its own path).
        from agent.llm.model_store import embedded_model_path

        model = embedded_model_path()
        cache = Path(tmp)
        (cache / "models").mkdir()
        for f in model.parent.iterdir():
            if f.name.startswith(model.name):
                (cache / "models" / f.name).symlink_to(f)
        env = {**base, "MODELWRIGHT_CACHE": str(cache)}
        rows = []
        free = run(["--problem", a.problem, "--tokens", str(a.tokens)], {**env, "MODELWRIGHT_PREFIX_CACHE": "0"})
        first, second = free["calls"]
        rows.append(("new process, no stored prompt: first call (prompt evaluated), free text", first))
        rows.append(("same process, second call (prompt cached in memory), free text", second))
        grammar = run(["--problem", a.problem, "--tokens", str(a.tokens), "--schema"],
                      {**env, "MODELWRIGHT_PREFIX_CACHE": "0"})
        rows.append(("same process, second call, lean IR schema grammar", grammar["calls"][1]))
        library = run(["--problem", a.problem, "--tokens", str(a.tokens), "--schema"],
                      {**env, "MODELWRIGHT_PREFIX_CACHE": "0", "MODELWRIGHT_LAZY_GRAMMAR": "0"})
        rows.append(("same, grammar applied to the whole vocabulary first (llama-cpp-python's order)",
                     library["calls"][1]))
        run(["--problem", a.problem, "--tokens", "1", "--calls", "1"], env)  # writes the prompt state
        stored = run(["--problem", a.problem, "--tokens", str(a.tokens), "--calls", "1"], env)
        rows.append(("new process, prompt state loaded from disk, free text", stored["calls"][0]))
    print(f"llama-cpp-python {llama_cpp.__version__}, {os.cpu_count()} CPUs, "
          f"MODELWRIGHT_THREADS={base.get('MODELWRIGHT_THREADS', 'all')}, model load {free['load']:.1f} s")
    print("| call | prompt tokens | generated tokens | seconds | generated tokens / s of the call |")
    print("|---|---:|---:|---:|---:|")
    for label, c in rows:
        print(f"| {label} | {c['prompt_tokens']} | {c['completion_tokens']} | {c['seconds']:.1f} | "
              f"{c['completion_tokens'] / c['seconds']:.1f} |")


if __name__ == "__main__":
    main()
