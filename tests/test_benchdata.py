"""Benchmark registry and loader: every vendored file, hash pinning, user files, sampling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.benchdata import (
    DATASETS_ENV,
    BenchmarkDataError,
    GridAnswer,
    Problem,
    benchmarks_dir,
    datasets_dir,
    file_sha256,
    get_benchmark,
    list_benchmarks,
    load_benchmark,
)
from agent.metrics import grid_score, is_scorable

BENCHMARKS = list_benchmarks()
NAMES = [b.name for b in BENCHMARKS]


def test_registry_names_and_files() -> None:
    assert NAMES == [
        "nl4opt", "optmath", "optmath_193", "mamo_easylp", "mamo_complexlp", "nlp4lp", "optibench",
        "nl4opt_e_resocratic", "icml2024_task3", "logic_grid", "dcp_bench_open", "nl4opt_dev",
    ]  # fmt: skip
    on_disk = {p.name for p in benchmarks_dir().glob("*.jsonl")}
    assert on_disk == {b.file for b in BENCHMARKS}
    assert (benchmarks_dir() / "SOURCES.md").is_file()


def test_datasets_is_not_a_package() -> None:
    # a datasets/__init__.py would shadow Hugging Face's `datasets` library
    assert not (datasets_dir() / "__init__.py").exists()
    assert datasets_dir() == Path(__file__).resolve().parent.parent / "datasets"


@pytest.mark.parametrize("info", BENCHMARKS, ids=NAMES)
def test_every_benchmark_loads_and_matches_registry(info) -> None:
    assert file_sha256(info.path) == info.sha256
    problems = load_benchmark(info.name, subset="all")
    assert len(problems) == info.count
    assert len({p.id for p in problems}) == info.count
    assert all(isinstance(p, Problem) and p.problem.strip() and p.benchmark == info.name for p in problems)
    assert sum(isinstance(p.answer, float) for p in problems) == info.answered
    statuses: dict[str, int] = {}
    for p in problems:
        statuses[p.answer_status] = statuses.get(p.answer_status, 0) + 1
    assert statuses == info.answer_status_counts
    scorable = sum(isinstance(p.answer, GridAnswer) or is_scorable(p.answer, p.answer_status) for p in problems)
    assert scorable == info.scorable
    for name, spec in info.subsets.items():
        assert len(load_benchmark(info.name, subset=name)) == spec.count, name
    default = load_benchmark(info.name)
    expected = info.subsets[info.default_subset].count if info.default_subset else info.count
    assert len(default) == expected


def test_expected_counts() -> None:
    counts = {b.name: (b.count, b.answered) for b in BENCHMARKS}
    assert counts == {
        "nl4opt": (289, 228), "optmath": (166, 166), "optmath_193": (193, 193),
        "mamo_easylp": (652, 641), "mamo_complexlp": (211, 202), "nlp4lp": (269, 242),
        "optibench": (605, 605), "nl4opt_e_resocratic": (289, 289), "icml2024_task3": (410, 410),
        "logic_grid": (149, 0), "dcp_bench_open": (164, 51), "nl4opt_dev": (99, 0),
    }  # fmt: skip


def test_nl4opt_default_is_the_papers_245() -> None:
    info = get_benchmark("nl4opt")
    assert info.default_subset == "orlm245" and info.subsets["orlm245"].field == "in_orlm245"
    probs = load_benchmark("nl4opt")
    assert len(probs) == 245 and all(p.extras["in_orlm245"] is True for p in probs)
    infeasible = [p for p in probs if p.answer_status == "infeasible"]
    assert len(infeasible) == 17 and all(p.answer is None for p in infeasible)
    assert all(is_scorable(p.answer, p.answer_status) for p in probs)


def test_only_the_dev_split_allows_few_shot() -> None:
    assert [b.name for b in BENCHMARKS if b.few_shot_allowed] == ["nl4opt_dev"]
    dev = load_benchmark("nl4opt_dev")
    assert len(dev) == 99 and dev[0].id == "nl4opt_dev_000"
    assert all(p.answer is None and "obj_declaration" in p.extras and p.extras["nl4opt_input_hash"] for p in dev)
    test_hashes = {p.extras["nl4opt_input_hash"] for p in load_benchmark("nl4opt", subset="all")}
    assert not test_hashes & {p.extras["nl4opt_input_hash"] for p in dev}


def test_logic_grid_answers_are_grids() -> None:
    probs = load_benchmark("logic_grid")
    for p in probs:
        assert isinstance(p.answer, GridAnswer)
        assert p.answer.rows == p.extras["solution_rows"]
        assert p.answer.categories is not None and len(p.answer.categories) == len(p.answer.rows[0])
        assert grid_score(p.answer, p.answer).puzzle_correct
    first = probs[0].answer
    assert first.categories == ["wines", "prices", "names"]
    assert first.items[1] == ["24", "25", "26", "27"]


def test_extras_are_kept_verbatim() -> None:
    p = load_benchmark("mamo_complexlp", ids=["mamo_complexlp_001"])[0]
    raw = json.loads((benchmarks_dir() / "mamo_complexlp.jsonl").read_text().splitlines()[0])
    assert p.extras == {k: v for k, v in raw.items() if k not in ("id", "source", "problem", "answer", "answer_status")}


# ----------------------------------------------------------------------------- hash pinning


def _copy_datasets(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    shutil.copytree(benchmarks_dir(), root / "benchmarks")
    return root


def test_env_override_and_untampered_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy_datasets(tmp_path)
    monkeypatch.setenv(DATASETS_ENV, str(root))
    assert datasets_dir() == root.resolve()
    assert len(load_benchmark("optmath")) == 166


def test_tampered_copy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy_datasets(tmp_path)
    path = root / "benchmarks" / "optmath.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    rec = json.loads(lines[0])
    rec["answer"] = rec["answer"] + 1  # one silently "corrected" label
    lines[0] = json.dumps(rec) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setenv(DATASETS_ENV, str(root))
    with pytest.raises(BenchmarkDataError, match="sha256 mismatch"):
        load_benchmark("optmath")
    assert len(load_benchmark("optibench", limit=3)) == 3  # the others still load


def test_missing_registry_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATASETS_ENV, str(tmp_path))
    with pytest.raises(BenchmarkDataError, match=DATASETS_ENV):
        list_benchmarks()


def test_unknown_name_and_subset() -> None:
    with pytest.raises(BenchmarkDataError, match="registered"):
        load_benchmark("nl4opt_typo")
    with pytest.raises(BenchmarkDataError, match="orlm245"):
        load_benchmark("nl4opt", subset="nope")
    with pytest.raises(BenchmarkDataError, match="limit"):
        load_benchmark("nl4opt", limit=-1)


# ----------------------------------------------------------------------------- user files


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    json.dumps({"id": "a", "problem": "Maximise x with x <= 3.", "answer": 3, "team": True}),
    "",
    json.dumps(
        {
            "id": "b",
            "problem": "Minimise y with y >= 1, y <= 0.",
            "answer": None,
            "answer_status": "infeasible",
        }
    ),
    json.dumps({"id": "c", "problem": "Some unlabeled problem.", "team": False}),
]


def test_user_file_loads_with_defaults(tmp_path: Path) -> None:
    probs = load_benchmark(str(_write(tmp_path, GOOD)))
    assert [p.id for p in probs] == ["a", "b", "c"]
    a, b, c = probs
    assert a.answer == 3.0 and a.answer_status == "optimal" and a.extras == {"team": True}
    assert a.source == "mine.jsonl#line=1" and a.benchmark is None
    assert b.answer is None and b.answer_status == "infeasible" and b.source == "mine.jsonl#line=3"
    assert c.answer_status == "unlabeled"
    assert [p.id for p in load_benchmark(str(tmp_path / "mine.jsonl"), subset="team")] == ["a"]
    assert [p.id for p in load_benchmark(str(tmp_path / "mine.jsonl"), ids=["c", "a"])] == ["a", "c"]
    with pytest.raises(BenchmarkDataError, match="ids not found"):
        load_benchmark(str(tmp_path / "mine.jsonl"), ids=["zzz"])
    with pytest.raises(BenchmarkDataError, match="no record"):
        load_benchmark(str(tmp_path / "mine.jsonl"), subset="nosuchfield")


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "x", "problem": "unterminated', "invalid JSON"),
        ('["a", "list"]', "expected a JSON object"),
        ('{"problem": "no id here"}', "missing required field 'id'"),
        ('{"id": "x"}', "missing required field 'problem'"),
        ('{"id": "x", "problem": "   "}', "'problem' must be a non-empty string"),
        ('{"id": "x", "problem": "p", "answer": "3000"}', "'answer' must be a number or null"),
        ('{"id": "x", "problem": "p", "answer": NaN}', "'answer' must be finite"),
        ('{"id": "a", "problem": "duplicate of line 1"}', "duplicate id 'a' \\(first on line 1\\)"),
        ('{"id": "x", "problem": "p", "solution_rows": [["a"], ["b", "c"]]}', "solution_rows"),
    ],
)
def test_bad_line_reports_line_number(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write(tmp_path, [GOOD[0], GOOD[2], bad_line, GOOD[3]])
    with pytest.raises(BenchmarkDataError, match=message) as err:
        load_benchmark(str(path))
    assert f"{path}:3:" in str(err.value)


def test_empty_and_binary_files_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(BenchmarkDataError, match="no problems"):
        load_benchmark(str(empty))
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(GOOD[0].encode() + b"\n\xff\xfe\x00garbage\n")
    with pytest.raises(BenchmarkDataError, match=r"binary\.jsonl:2: not UTF-8"):
        load_benchmark(str(binary))


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD[0].encode() + b"\n")
    assert [p.id for p in load_benchmark(str(path))] == ["a"]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkDataError, match="neither a registered benchmark"):
        load_benchmark(str(tmp_path / "absent.jsonl"))


# ----------------------------------------------------------------------------- sampling


def test_seeded_sampling_is_deterministic() -> None:
    one = [p.id for p in load_benchmark("nl4opt", seed=7, limit=20)]
    two = [p.id for p in load_benchmark("nl4opt", seed=7, limit=20)]
    other = [p.id for p in load_benchmark("nl4opt", seed=8, limit=20)]
    assert one == two and one != other and len(one) == 20
    default_ids = {p.id for p in load_benchmark("nl4opt")}
    assert set(one) <= default_ids  # the subset applies before sampling
    assert one[:5] == [p.id for p in load_benchmark("nl4opt", seed=7, limit=5)]  # limit truncates the same order
    full = [p.id for p in load_benchmark("nl4opt", seed=7)]
    assert sorted(full) == sorted(default_ids)


def test_limit_without_seed_keeps_file_order() -> None:
    assert [p.id for p in load_benchmark("optmath", limit=3)] == ["optmath_000", "optmath_001", "optmath_002"]
    assert load_benchmark("optmath", limit=0) == []
