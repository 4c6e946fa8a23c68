"""What a fresh install relies on: declared dependencies, shipped package data, the README's commands."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SOURCE_DIRS = ("agent", "formalizers", "solvers", "tests", "benchmarks")
LOCAL = {"agent", "formalizers", "solvers", "tests", "benchmarks", "conftest"}

# import name -> distribution, where they differ; the last four come with llama-cpp-python[server]
DISTRIBUTION = {
    "z3": "z3-solver",
    "llama_cpp": "llama-cpp-python",
    "yaml": "pyyaml",
    "fastapi": "llama-cpp-python[server]",
    "uvicorn": "llama-cpp-python[server]",
    "sse_starlette": "llama-cpp-python[server]",
    "starlette_context": "llama-cpp-python[server]",
    "pydantic_settings": "llama-cpp-python[server]",
}


def _normalize(requirement: str) -> str:
    """`llama-cpp-python[server]>=0.3.2` -> `llama-cpp-python[server]`; names lower-case, `_` -> `-`."""
    m = re.match(r"\s*([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?", requirement)
    assert m, requirement
    return m.group(1).lower().replace("_", "-") + (m.group(2) or "")


def _declared() -> set[str]:
    reqs = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        reqs += extra
    return {_normalize(r) for r in reqs}


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level imported names that are neither stdlib nor this repository's, with where they occur."""
    test_modules = {p.stem for p in (ROOT / "tests").rglob("*.py")}
    found: dict[str, set[str]] = {}
    for folder in SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in LOCAL or top in test_modules or top == "__future__":
                        continue
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_a_declared_dependency() -> None:
    declared = _declared()
    missing = {}
    for name, where in _third_party_imports().items():
        dist = DISTRIBUTION.get(name, name.lower().replace("_", "-"))
        if dist not in declared:
            missing[name] = sorted(where)[:3]
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_dev_extra_has_what_the_test_suite_needs() -> None:
    dev = {_normalize(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "hypothesis", "ruff", "matplotlib", "llama-cpp-python[server]"} <= dev


def test_package_data_covers_what_the_code_reads() -> None:
    data = PYPROJECT["tool"]["setuptools"]["package-data"]

    def shipped(package: str, rel: str) -> bool:
        return any(Path(rel).match(glob) for glob in data.get(package, []))

    prompts = [p.relative_to(ROOT / "agent").as_posix() for p in (ROOT / "agent" / "prompts").iterdir() if p.is_file()]
    assert prompts and all(shipped("agent", p) for p in prompts), prompts
    for rel in ("mzn_wasm/run.cjs", "mzn_wasm/package.json", "mzn_wasm/package-lock.json"):
        assert (ROOT / "solvers" / rel).is_file() and shipped("solvers", rel), rel


def test_wheel_is_not_a_requirement() -> None:
    reqs = [_normalize(r) for r in PYPROJECT["build-system"]["requires"] + PYPROJECT["project"]["dependencies"]]
    assert "wheel" not in reqs


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    first, second = _readme_commands()[:2]
    assert first.startswith("./setup.sh && ") and "\n" not in first
    problem = re.search(r"modelwright solve (\S+)", first)
    assert problem and (ROOT / problem.group(1)).is_file()
    assert second.startswith("./setup.sh && ") and "pytest" in second and "\n" not in second
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1].strip() == second


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_shell_scripts_parse() -> None:
    for script in ("setup.sh", ".ci/run"):
        path = ROOT / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 0, proc.stderr
