"""Expand settings into a grid of cells and run them on a backend, streaming every cell.

A cell is one completion to compute: settings, how many examples to keep (`shots`) and which
sample of those settings it is. Sweeps form a cross product over a base setting.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .backends.base import Backend, Completion
from .errors import ConfigError, PromptError
from .prompt import FewShotPrompt
from .settings import GenerationSettings, make_settings, unescape

SWEEP_KEYS = (*GenerationSettings.model_fields, "shots")
MAX_CELLS = 64


@dataclass(frozen=True)
class Cell:
    settings: GenerationSettings
    shots: int | None = None  # None: all examples
    sample: int = 0


def expand(base: GenerationSettings, axes: Mapping[str, Sequence[Any]] | None = None, samples: int = 1) -> list[Cell]:
    """The cross product of `axes` over `base`, each combination repeated `samples` times.

    Samples of a fixed seed get seed, seed+1, ... so they differ yet stay reproducible.
    """
    axes = dict(axes or {})
    if unknown := [k for k in axes if k not in SWEEP_KEYS]:
        raise ConfigError(f"Unknown setting {unknown[0]!r}. Known: {', '.join(SWEEP_KEYS)}.")
    if samples < 1:
        raise ConfigError("samples must be at least 1.")
    cells = []
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo, strict=True))
        shots = _shots(values.pop("shots", None))
        settings = make_settings(**{**base.model_dump(), **values})
        for i in range(samples):
            seed = settings.seed if settings.seed is None else settings.seed + i
            cells.append(Cell(settings.model_copy(update={"seed": seed}), shots, i))
    if len(cells) > MAX_CELLS:
        raise ConfigError(f"That grid has {len(cells)} cells; the limit is {MAX_CELLS}. Sweep fewer values.")
    return cells


def parse_value(key: str, raw: str) -> Any:
    """A value as typed: JSON where it parses (numbers, lists, null), else the text with \\n escapes."""
    if key == "seed" and raw.strip().lower() in ("", "none", "random"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return unescape(raw)
    return value if isinstance(value, int | float | str | list) or value is None else unescape(raw)


def parse_axis(key: str, text: str) -> list[Any]:
    """`0.1, 0.5, 0.9` -> [0.1, 0.5, 0.9]: comma-separated values of one setting."""
    if key not in SWEEP_KEYS:
        raise ConfigError(f"Unknown setting {key!r}. Known: {', '.join(SWEEP_KEYS)}.")
    values = [parse_value(key, part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise ConfigError(f"Give at least one value for {key}, separated by commas.")
    return values


def _shots(value: Any) -> int | None:
    if value is None:
        return None
    try:
        shots = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"shots must be a whole number (got {value!r}).") from None
    if shots < 0:
        raise ConfigError(f"shots must be 0 or more (got {shots}).")
    return shots


def rows(prompt: FewShotPrompt | str, cells: Sequence[Cell]) -> list[tuple[str, GenerationSettings]]:
    """(prompt text, settings) per cell. A raw-text prompt cannot drop examples, so shots must be None."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise PromptError("The prompt is empty: write the text the model should continue.")
        if any(c.shots is not None for c in cells):
            raise ConfigError("A shots sweep needs a structured prompt, not raw text.")
        return [(prompt, c.settings) for c in cells]
    prompt.check()
    texts: dict[int | None, str] = {}
    for c in cells:
        if c.shots not in texts:
            texts[c.shots] = prompt.render() if c.shots is None else prompt.with_shots(c.shots).render()
    return [(texts[c.shots], c.settings) for c in cells]


def run(
    backend: Backend, prompt: FewShotPrompt | str, cells: Sequence[Cell], cancel: threading.Event | None = None
) -> Iterator[tuple[int, Completion]]:
    """Stream (cell index, completion snapshot) for every cell; each cell's last snapshot is done."""
    return backend.generate_many(rows(prompt, cells), cancel)
