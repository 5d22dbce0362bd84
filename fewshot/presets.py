"""Presets: a whole playground state as a JSON file, validated strictly.

One file per preset in a folder; the file name without `.json` is the preset's id. A broken file
never stops the others from loading: `load_folder` returns it as an error naming file and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .backends import BackendSpec
from .errors import ConfigError
from .prompt import Example, FewShotPrompt, Template
from .settings import GenerationSettings, describe_validation_error

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "sentiment"
FEATURED = ("sentiment", "translate-en-fr")  # the blog's two examples lead the list
MAX_COLUMNS = 6
ENDPOINTS = ("A", "B", "C")  # named endpoints a column can run on; "" is the embedded model
EndpointName = Literal["A", "B", "C"]


class Column(GenerationSettings):
    """One Compare column: its settings and where it runs."""

    backend: Literal["", "A", "B", "C"] = Field("", description="The endpoint that runs this column; empty = embedded.")

    @property
    def settings(self) -> GenerationSettings:
        return GenerationSettings(**self.model_dump(exclude={"backend"}))


DEFAULT_COLUMNS = tuple(Column(temperature=t) for t in (0.1, 0.5, 0.9))


class Preset(BaseModel):
    """Everything needed to reopen a playground state (never a token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    task: str = ""
    examples: tuple[Example, ...] = ()
    query: str = ""
    template: Template = Template()
    columns: tuple[Column, ...] = Field(DEFAULT_COLUMNS, min_length=1, max_length=MAX_COLUMNS)
    endpoints: dict[EndpointName, BackendSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _columns_use_defined_endpoints(self) -> Preset:
        for i, column in enumerate(self.columns, start=1):
            if column.backend and column.backend not in self.endpoints:
                raise ValueError(f"column {i} runs on endpoint {column.backend}, which is not defined in endpoints")
        return self

    @property
    def prompt(self) -> FewShotPrompt:
        return FewShotPrompt(task=self.task, examples=self.examples, query=self.query, template=self.template)


def parse_preset(text: str, source: str = "preset") -> Preset:
    """Validate preset JSON; errors name `source` and the field."""
    try:
        return Preset.model_validate_json(text)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ConfigError(f"{source} is not valid JSON: {exc.errors()[0]['msg']}") from None
        raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None


def load_file(path: Path) -> Preset:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read preset file {path.name}: {exc}") from None
    return parse_preset(text, source=f"Preset file {path.name}")


def load_folder(folder: Path = BUILTIN_DIR) -> tuple[dict[str, Preset], list[str]]:
    """All presets in `folder` by id, and one message per file that failed to load."""
    presets, errors = {}, []
    for path in sorted(folder.glob("*.json")):
        try:
            presets[path.stem] = load_file(path)
        except ConfigError as exc:
            errors.append(str(exc))
    return presets, errors


def find(name_or_path: str, folder: Path = BUILTIN_DIR) -> Preset:
    """A preset by id (`sentiment`) or by path to a JSON file."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        return load_file(path)
    candidate = folder / f"{name_or_path}.json"
    if path.name == name_or_path and candidate.exists():
        return load_file(candidate)
    known = ", ".join(sorted(p.stem for p in folder.glob("*.json")))
    raise ConfigError(f"No preset named {name_or_path!r}. Built-in presets: {known}; or give a path to a .json file.")


def ordered(found: dict[str, Preset]) -> list[tuple[str, Preset]]:
    """Featured presets first, then the rest by display name."""
    rank = {name: i for i, name in enumerate(FEATURED)}
    return sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[1].name.lower()))


def to_json(preset: Preset) -> str:
    return json.dumps(preset.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
