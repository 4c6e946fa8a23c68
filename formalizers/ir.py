"""The typed IR: one model of an optimization or satisfaction problem (see IR.md).

Pydantic checks the shape; `ModelIR.compile()` then parses every expression and resolves every
name, so renderers and the checker work on a model whose errors were already reported, each
pointing at its element ("constraints[2] 'wood' expr, column 14: unknown name 'wod'").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_IR_BYTES = 5_000_000
MAX_ELEMENTS = 100_000

Element = str | int
Number = Annotated[float, Field(allow_inf_nan=False)]
Domain = Literal["continuous", "integer", "binary", "boolean", "labels"]


class IRError(ValueError):
    """Bad IR input: every problem found, each with where it is."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid model:\n" + "\n".join(f"  - {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IndexSet(_Strict):
    """A named, ordered, finite set of elements (strings or integers)."""

    name: str = Field(pattern=IDENT, max_length=64)
    elements: list[Element] = Field(min_length=1, max_length=MAX_ELEMENTS)
    description: str = ""

    @field_validator("elements")
    @classmethod
    def _distinct_same_kind(cls, elements: list[Element]) -> list[Element]:
        if len({type(e) for e in elements}) > 1:
            raise ValueError("elements must be all strings or all integers")
        if len(set(elements)) != len(elements):
            dupes = sorted({str(e) for e in elements if elements.count(e) > 1})
            raise ValueError(f"duplicate elements: {', '.join(dupes[:5])}")
        if isinstance(elements[0], str):
            for e in elements:
                if not e or len(e) > 200 or '"' in e or "'" in e or "\n" in e:
                    raise ValueError(f"element {e!r} must be 1-200 characters without quotes")
        return elements

    @property
    def is_integer(self) -> bool:
        return isinstance(self.elements[0], int)


class Parameter(_Strict):
    """A constant: a scalar, or a table over index sets (nested dicts by element or nested lists)."""

    name: str = Field(pattern=IDENT, max_length=64)
    index: list[str] = Field(default_factory=list, max_length=6)
    value: Any
    description: str = ""


class Variable(_Strict):
    """A decision variable, possibly an array over index sets."""

    name: str = Field(pattern=IDENT, max_length=64)
    index: list[str] = Field(default_factory=list, max_length=6)
    domain: Domain = "continuous"
    lower: Number | None = None
    upper: Number | None = None
    labels: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> Variable:
        if self.domain == "labels" and not self.labels:
            raise ValueError("a 'labels' variable needs 'labels': the name of the set of its values")
        if self.domain != "labels" and self.labels:
            raise ValueError("'labels' is only for domain 'labels'")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower bound {self.lower} exceeds upper bound {self.upper}")
        return self

    @property
    def integral(self) -> bool:
        return self.domain != "continuous"

    def bounds(self) -> tuple[float | None, float | None]:
        """Effective numeric bounds (binary/boolean are 0..1); labels are resolved by the caller."""
        if self.domain in ("binary", "boolean"):
            return 0, 1
        return self.lower, self.upper


class Constraint(_Strict):
    """A named requirement, traced to the sentence of the problem it comes from."""

    name: str = Field(pattern=IDENT, max_length=80)
    label: str = ""
    source: str = ""
    forall: str = ""
    expr: str

    @field_validator("forall", mode="before")
    @classmethod
    def _forall_none(cls, value: Any) -> Any:
        return "" if value is None else value


class Objective(_Strict):
    sense: Literal["minimize", "maximize"]
    expr: str
    description: str = ""

    @field_validator("sense", mode="before")
    @classmethod
    def _sense_aliases(cls, value: Any) -> Any:
        aliases = {"min": "minimize", "max": "maximize", "minimise": "minimize", "maximise": "maximize"}
        return aliases.get(str(value).strip().lower(), str(value).strip().lower())


class ModelIR(_Strict):
    """The whole problem. Build with `load_ir` / `ModelIR.model_validate`, then `compile()`."""

    name: str = "model"
    description: str = ""
    sets: list[IndexSet] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    variables: list[Variable] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    objective: Objective | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> ModelIR:
        seen: dict[str, str] = {}
        for kind, items in (("set", self.sets), ("parameter", self.parameters),
                            ("variable", self.variables)):
            for item in items:
                if item.name in seen:
                    raise ValueError(f"name '{item.name}' is used by a {seen[item.name]} and a {kind}")
                seen[item.name] = kind
        names = [c.name for c in self.constraints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"constraint names must be unique: {', '.join(dupes)}")
        return self

    def compile(self):  # -> formalizers.semantics.CompiledModel
        """Parse and resolve everything; raise IRError listing every problem."""
        from formalizers.semantics import compile_model

        return compile_model(self)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_defaults=False)


def ir_json_schema() -> dict:
    """The JSON Schema of the IR (drives grammar-constrained decoding)."""
    return ModelIR.model_json_schema()


def _pretty_validation(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
        msg = re.sub(r"^Value error, ", "", e["msg"])
        out.append(f"{loc or 'model'}: {msg}")
    return out


def parse_ir(data: Any) -> ModelIR:
    """Validate IR data (already decoded JSON); IRError lists what is wrong and where."""
    if not isinstance(data, dict):
        raise IRError([f"the IR must be a JSON object, got {type(data).__name__}"])
    try:
        return ModelIR.model_validate(data)
    except ValidationError as e:
        raise IRError(_pretty_validation(e)) from None


def parse_ir_text(text: str) -> ModelIR:
    if len(text) > MAX_IR_BYTES:
        raise IRError([f"IR text is {len(text):,} characters; the limit is {MAX_IR_BYTES:,}"])
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise IRError([f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"]) from None
    except ValueError as e:
        raise IRError([str(e)]) from None
    except RecursionError:
        raise IRError(["JSON nests too deeply"]) from None
    return parse_ir(data)


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed in the IR")


def load_ir(path: str | Path) -> ModelIR:
    """Read an IR JSON file; every failure is an IRError naming the file."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_IR_BYTES:
            raise IRError([f"{p}: file is larger than {MAX_IR_BYTES:,} bytes"])
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IRError([f"{p}: no such file"]) from None
    except IsADirectoryError:
        raise IRError([f"{p}: is a directory"]) from None
    except UnicodeDecodeError:
        raise IRError([f"{p}: not UTF-8 text"]) from None
    except OSError as e:
        raise IRError([f"{p}: {e.strerror}"]) from None
    try:
        return parse_ir_text(text)
    except IRError as e:
        raise IRError([f"{p}: {m}" for m in e.problems]) from None
