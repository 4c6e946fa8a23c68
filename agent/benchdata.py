"""Benchmark data: the registry of vendored benchmark files and a validating JSONL loader.

The benchmark files live in ``datasets/benchmarks/`` (see ``datasets/README.md``); the registry
``datasets/benchmarks/registry.json`` pins each file by sha256 so that a silently edited label can
never change a reported score. ``MODELWRIGHT_DATASETS`` points the loader at another datasets folder
(one holding ``benchmarks/registry.json``), e.g. for an installed, non-editable copy.

Users bring their own problems as JSONL in the same format: one object a line with ``id`` and
``problem`` (required), ``source``, ``answer`` (number or null), ``answer_status`` and any extras.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DATASETS_ENV = "MODELWRIGHT_DATASETS"
REGISTRY_FILE = "registry.json"
_CORE_FIELDS = ("id", "source", "problem", "answer", "answer_status")

BenchmarkKind = Literal["optimization", "satisfaction-grid", "cp"]


class BenchmarkDataError(ValueError):
    """A benchmark file or registry entry is unusable (bad line, hash mismatch, unknown name)."""


class GridAnswer(BaseModel):
    """The unique solution of a logic grid puzzle, as stored in ``solution_rows``.

    One row per item of the first category; each row names one item of every category, in the
    order of ``categories``. Row order carries no meaning (upstream files sort by various columns),
    and labels are the upstream solution labels: lower-cased, and sometimes not the literal text of
    the puzzle (``$24`` is stored as ``24``, ``7:00am`` as ``7am``); see datasets/README.md.
    """

    model_config = ConfigDict(frozen=True)

    categories: list[str] | None = None
    rows: list[list[str]]

    @property
    def items(self) -> list[list[str]]:
        """The label vocabulary of each category (column), sorted, so prompts can use exact labels."""
        return [sorted(col) for col in zip(*self.rows, strict=True)] if self.rows else []


class Problem(BaseModel):
    """One benchmark problem. ``extras`` keeps every other field of the line verbatim."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str = ""
    problem: str
    answer: float | GridAnswer | None = None
    answer_status: str = "unlabeled"
    extras: dict[str, Any] = Field(default_factory=dict)
    benchmark: str | None = None


class SubsetInfo(BaseModel):
    """A named subset: the records whose extra ``field`` equals ``value``."""

    field: str
    value: Any
    count: int


class BenchmarkInfo(BaseModel):
    """One registry entry (see datasets/benchmarks/registry.json)."""

    name: str
    file: str
    sha256: str
    format: Literal["jsonl", "nl4opt_raw"] = "jsonl"
    kind: BenchmarkKind
    split: str
    role: str
    few_shot_allowed: bool = False
    count: int
    answered: int
    scorable: int
    answer_status_counts: dict[str, int]
    default_subset: str | None = None
    subsets: dict[str, SubsetInfo] = Field(default_factory=dict)
    answer_version: str | None = None
    source: str
    licence: str
    description: str = ""

    @property
    def path(self) -> Path:
        """Where the file is expected, under the current datasets folder."""
        return benchmarks_dir() / self.file


def datasets_dir() -> Path:
    """The datasets folder: ``$MODELWRIGHT_DATASETS`` if set, else ``<repo>/datasets``."""
    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "datasets"


def benchmarks_dir() -> Path:
    return datasets_dir() / "benchmarks"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(folder: str | Path) -> str:
    """One digest over a folder's files (names and contents), so a run on a folder pins its data too."""
    h = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return h.hexdigest()


def list_benchmarks() -> list[BenchmarkInfo]:
    """All registered benchmarks, in registry order."""
    reg = benchmarks_dir() / REGISTRY_FILE
    try:
        data = json.loads(reg.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BenchmarkDataError(
            f"no benchmark registry at {reg}; set {DATASETS_ENV} to a folder holding benchmarks/{REGISTRY_FILE}"
        ) from exc
    return [BenchmarkInfo.model_validate(entry) for entry in data["benchmarks"]]


def get_benchmark(name: str) -> BenchmarkInfo:
    infos = list_benchmarks()
    for info in infos:
        if info.name == name:
            return info
    known = ", ".join(b.name for b in infos)
    raise BenchmarkDataError(f"unknown benchmark {name!r}; registered: {known}")


def examples_dir() -> Path:
    return datasets_dir() / "examples"


def read_examples_dir(folder: Path) -> list[Problem]:
    """A folder of hand-checked examples (NAME.txt + NAME.expected.json) as a benchmark named `examples`.

    The expected objective is the answer; infeasible examples are scored by status; satisfaction
    examples (no objective) are kept but unscored by the numeric rules.
    """
    problems = []
    for expected_path in sorted(folder.glob("*.expected.json")):
        name = expected_path.name.removesuffix(".expected.json")
        text_path = folder / f"{name}.txt"
        if not text_path.is_file():
            raise BenchmarkDataError(f"{expected_path}: no problem text {text_path.name} beside it")
        try:
            expected = json.loads(expected_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BenchmarkDataError(f"{expected_path}: invalid JSON ({exc.msg})") from exc
        status = str(expected.get("status", "unlabeled"))
        objective = expected.get("objective")
        answer = float(objective) if isinstance(objective, int | float) and status == "optimal" else None
        problems.append(Problem(id=name, source=f"datasets/examples/{text_path.name}",
                                problem=text_path.read_text(encoding="utf-8"), answer=answer,
                                answer_status=status if status in ("optimal", "infeasible") else "unlabeled",
                                extras={"expected": expected}, benchmark="examples"))
    if not problems:
        raise BenchmarkDataError(f"{folder}: no *.expected.json examples in this folder")
    return problems


def load_benchmark(
    name_or_path: str,
    *,
    subset: str | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
    seed: int | None = None,
) -> list[Problem]:
    """Load a registered benchmark by name, or any JSONL file in the same format by path.

    Order of operations: subset filter, ``ids`` filter, seeded shuffle, then ``limit``, so that
    ``seed=s, limit=n`` is a reproducible random sample and ``limit`` alone is the file's first n.

    ``subset``: for a registered benchmark, a subset name from the registry, or ``"all"``; when
    None the registry's ``default_subset`` applies (NL4Opt: ``orlm245``, the 245 problems papers
    report on). For a user file, the name of a boolean field; records where it is true are kept.
    ``ids`` keeps file order and refuses ids that are not there.
    """
    if limit is not None and limit < 0:
        raise BenchmarkDataError(f"limit must be >= 0, got {limit}")
    registered = {b.name: b for b in list_benchmarks()}
    if name_or_path in registered:
        info = registered[name_or_path]
        path = info.path
        if not path.is_file():
            raise BenchmarkDataError(f"benchmark {info.name!r}: file missing at {path}")
        actual = file_sha256(path)
        if actual != info.sha256:
            raise BenchmarkDataError(
                f"benchmark {info.name!r}: sha256 mismatch for {path}: registry says {info.sha256}, "
                f"file is {actual}. The file was modified; restore the vendored copy or register the new one."
            )
        problems = _read_file(path, fmt=info.format, benchmark=info.name)
        problems = _apply_registry_subset(problems, info, subset)
    elif name_or_path == "examples" or Path(name_or_path).expanduser().is_dir():
        folder = examples_dir() if name_or_path == "examples" else Path(name_or_path).expanduser()
        problems = read_examples_dir(folder)
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise BenchmarkDataError(
                f"{name_or_path!r} is neither a registered benchmark ({', '.join(registered)}) nor a file"
            )
        problems = _read_file(path, fmt="jsonl", benchmark=None)
        if subset is not None and subset != "all":
            problems = _apply_field_subset(problems, subset, path)

    if ids is not None:
        by_id = {p.id for p in problems}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise BenchmarkDataError(f"ids not found in {name_or_path!r} (after subset): {missing[:10]}")
        wanted = set(ids)
        problems = [p for p in problems if p.id in wanted]
    if seed is not None:
        problems = list(problems)
        random.Random(seed).shuffle(problems)
    if limit is not None:
        problems = problems[:limit]
    return problems


def _apply_registry_subset(problems: list[Problem], info: BenchmarkInfo, subset: str | None) -> list[Problem]:
    name = subset if subset is not None else info.default_subset
    if name is None or name == "all":
        return problems
    spec = info.subsets.get(name)
    if spec is None:
        avail = ", ".join(["all", *info.subsets]) or "all"
        raise BenchmarkDataError(f"benchmark {info.name!r} has no subset {name!r}; available: {avail}")
    return [p for p in problems if p.extras.get(spec.field) == spec.value]


def _apply_field_subset(problems: list[Problem], field: str, path: Path) -> list[Problem]:
    if not any(field in p.extras for p in problems):
        raise BenchmarkDataError(f"subset {field!r}: no record in {path} has a field of that name")
    return [p for p in problems if p.extras.get(field) is True]


def _read_file(path: Path, *, fmt: str, benchmark: str | None) -> list[Problem]:
    parse = _parse_nl4opt_raw if fmt == "nl4opt_raw" else _parse_record
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    data = path.read_bytes()
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise BenchmarkDataError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from exc
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
            raise BenchmarkDataError(msg) from exc
        if not isinstance(obj, dict):
            raise BenchmarkDataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        prob = parse(obj, path=path, lineno=lineno, index=len(problems), benchmark=benchmark)
        if prob.id in seen:
            msg = f"{path}:{lineno}: duplicate id {prob.id!r} (first on line {seen[prob.id]})"
            raise BenchmarkDataError(msg)
        seen[prob.id] = lineno
        problems.append(prob)
    if not problems:
        raise BenchmarkDataError(f"{path}: no problems in the file (empty or blank lines only)")
    return problems


def _parse_record(obj: dict[str, Any], *, path: Path, lineno: int, index: int, benchmark: str | None) -> Problem:
    """One line of the standard format; ``index`` is unused (ids come from the line)."""
    where = f"{path}:{lineno}"
    for key in ("id", "problem"):
        if key not in obj or obj[key] is None:
            raise BenchmarkDataError(f"{where}: missing required field {key!r}")
    pid = obj["id"]
    if isinstance(pid, bool) or not isinstance(pid, str | int) or str(pid).strip() == "":
        raise BenchmarkDataError(f"{where}: field 'id' must be a non-empty string, got {pid!r}")
    text = obj["problem"]
    if not isinstance(text, str) or not text.strip():
        raise BenchmarkDataError(f"{where}: field 'problem' must be a non-empty string")
    raw_answer = obj.get("answer")
    answer: float | GridAnswer | None
    if raw_answer is None:
        answer = None
    elif isinstance(raw_answer, int | float) and not isinstance(raw_answer, bool):
        answer = float(raw_answer)
        if not math.isfinite(answer):
            raise BenchmarkDataError(f"{where}: field 'answer' must be finite, got {raw_answer!r}")
    else:
        raise BenchmarkDataError(f"{where}: field 'answer' must be a number or null, got {raw_answer!r}")
    if "solution_rows" in obj:
        if answer is not None:
            raise BenchmarkDataError(f"{where}: a grid puzzle (solution_rows) must have answer null")
        answer = _grid_answer(obj, where)
    status = obj.get("answer_status")
    if status is None:
        status = "optimal" if isinstance(answer, float) else "unlabeled"
    elif not isinstance(status, str):
        raise BenchmarkDataError(f"{where}: field 'answer_status' must be a string, got {status!r}")
    source = obj.get("source")
    if source is None:
        source = f"{path.name}#line={lineno}"
    extras = {k: v for k, v in obj.items() if k not in _CORE_FIELDS}
    return Problem(
        id=str(pid),
        source=str(source),
        problem=text,
        answer=answer,
        answer_status=status,
        extras=extras,
        benchmark=benchmark,
    )


def _grid_answer(obj: dict[str, Any], where: str) -> GridAnswer:
    rows = obj["solution_rows"]
    ok = (
        isinstance(rows, list)
        and rows
        and all(isinstance(r, list) and r and all(isinstance(c, str) for c in r) for r in rows)
        and len({len(r) for r in rows}) == 1
    )
    if not ok:
        msg = f"{where}: 'solution_rows' must be a non-empty list of equal-length lists of strings"
        raise BenchmarkDataError(msg)
    categories = None
    raw = obj.get("entities_raw")
    if isinstance(raw, str) and raw.strip():
        header = [c.strip() for c in raw.strip().splitlines()[0].split(",")]
        if len(header) == len(rows[0]):
            categories = header
    return GridAnswer(categories=categories, rows=rows)


def _parse_nl4opt_raw(obj: dict[str, Any], *, path: Path, lineno: int, index: int, benchmark: str | None) -> Problem:
    """The NL4Opt competition's own layout: ``{"<hash>": {"document": ..., "vars": ..., ...}}``."""
    where = f"{path}:{lineno}"
    if len(obj) != 1:
        raise BenchmarkDataError(f"{where}: expected one key (the NL4Opt input hash), got {len(obj)}")
    ((key, rec),) = obj.items()
    if not isinstance(rec, dict) or not isinstance(rec.get("document"), str):
        raise BenchmarkDataError(f"{where}: missing required field 'document' (the problem text)")
    extras = {k: v for k, v in rec.items() if k != "document"}
    extras["nl4opt_input_hash"] = key
    return Problem(
        id=f"nl4opt_dev_{index:03d}",
        source=f"nl4opt/nl4opt-competition@49f1e0d66b7f:generation_data/dev.jsonl#{key}",
        problem=rec["document"],
        answer=None,
        answer_status="unlabeled",
        extras=extras,
        benchmark=benchmark,
    )
