"""Hard time limits enforced from outside the solver.

A solver's own time limit does not cover model building, presolve stalls or a compiler that
ignores it, so in-process backends run in a forked child that is killed when the wall clock
runs out; subprocess backends get `subprocess.run(timeout=...)` plus a kill of the process group.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

GRACE_SECONDS = 3.0


class HardTimeout(TimeoutError):
    """The call ran past its wall-clock limit and was killed."""


def call_with_hard_limit(fn: Callable[..., Any], *args: Any, seconds: float, **kwargs: Any) -> Any:
    """Run fn(*args) in a forked child; return its result or raise HardTimeout / its exception.

    Fork keeps already-imported solver libraries and the compiled model in the child at no cost;
    only the (picklable) result comes back through a pipe.
    """
    if os.environ.get("MODELWRIGHT_IN_PROCESS") == "1":
        return fn(*args, **kwargs)
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            sender.send(("ok", fn(*args, **kwargs)))
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
            try:
                sender.send(("err", e))
            except Exception:  # unpicklable exception
                sender.send(("err", RuntimeError(f"{type(e).__name__}: {e}")))
        finally:
            sender.close()

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    sender.close()
    deadline = time.monotonic() + seconds
    try:
        if not receiver.poll(max(0.0, deadline - time.monotonic())):
            raise HardTimeout(f"killed after {seconds:g} s")
        try:
            kind, payload = receiver.recv()
        except EOFError:
            raise RuntimeError(f"solver process died (exit code {proc.exitcode})") from None
    finally:
        receiver.close()
        proc.join(0.2)
        if proc.is_alive():
            proc.kill()
            proc.join(1)
    if kind == "err":
        raise payload
    return payload


def run_process(cmd: list[str], *, seconds: float, input_text: str | None = None,
                cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """subprocess.run with a hard wall-clock limit that also kills the process group."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(input_text, timeout=seconds)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise HardTimeout(f"{cmd[0]} killed after {seconds:g} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
