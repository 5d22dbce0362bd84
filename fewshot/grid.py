"""Expand settings into a grid of cells and run them on a backend, streaming every cell.

A cell is one completion to compute: settings, how many examples to keep (`shots`) and which
sample of those settings it is. Sweeps form a cross product over a base setting.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar

from .backends.base import Backend, Completion, StopFlag, failed
from .errors import ConfigError, FewShotError, PromptError, log_failure
from .prompt import FewShotPrompt
from .settings import MAX_SEED, GenerationSettings, make_settings, unescape

SWEEP_KEYS = (*GenerationSettings.model_fields, "shots")
MAX_CELLS = 64
T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cell:
    settings: GenerationSettings
    shots: int | None = None  # None: all examples
    sample: int = 0
    backend: str = ""  # which backend runs it: a key of the mapping given to run()


def expand(
    base: GenerationSettings, axes: Mapping[str, Sequence[Any]] | None = None, samples: int = 1, backend: str = ""
) -> list[Cell]:
    """The cross product of `axes` over `base`, each combination repeated `samples` times, run on `backend`.

    Samples of a fixed seed get seed, seed+1, ... so they differ yet stay reproducible; past the
    largest seed every backend takes (2³¹−1) they wrap around to 0.
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
            seed = settings.seed if settings.seed is None else (settings.seed + i) % (MAX_SEED + 1)
            cells.append(Cell(settings.model_copy(update={"seed": seed}), shots, i, backend))
    if len(cells) > MAX_CELLS:
        raise ConfigError(f"That is {len(cells)} completions in one run; the limit is {MAX_CELLS}. "
                          "Sweep fewer values or take fewer samples.")
    return cells


def column_cells(columns: Sequence[tuple[GenerationSettings, str]], samples: int = 1) -> list[Cell]:
    """The cells of a Compare run: each (settings, backend) column sampled `samples` times, column by
    column (so `by_column` can split the results back)."""
    return [cell for settings, backend in columns for cell in expand(settings, samples=samples, backend=backend)]


def by_column(items: Sequence[T], samples: int) -> list[list[T]]:
    """Per-cell results (in `column_cells` order) grouped into one list per column."""
    if samples < 1:
        raise ConfigError("samples must be at least 1.")
    return [list(items[i : i + samples]) for i in range(0, len(items), samples)]


def grouped(labels: Sequence[str], items: Sequence[T]) -> list[tuple[str, list[T]]]:
    """(label, items with that label) in the order labels first appear: a sweep's cells per value."""
    groups: dict[str, list[T]] = {}
    for label, item in zip(labels, items, strict=True):
        groups.setdefault(label, []).append(item)
    return list(groups.items())


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


def rows(prompt: FewShotPrompt | str, cells: Sequence[Cell]) -> list[tuple[FewShotPrompt | str, GenerationSettings]]:
    """(prompt, settings) per cell. A raw-text prompt cannot drop examples, so shots must be None."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise PromptError("The prompt is empty: write the text the model should continue.")
        if any(c.shots is not None for c in cells):
            raise ConfigError("A shots sweep needs a structured prompt, not raw text.")
        return [(prompt, c.settings) for c in cells]
    prompt.check()
    return [(prompt if c.shots is None else prompt.with_shots(c.shots), c.settings) for c in cells]


def run(
    backends: Backend | Mapping[str, Backend | FewShotError],
    prompt: FewShotPrompt | str,
    cells: Sequence[Cell],
    cancel: threading.Event | None = None,
) -> Iterator[tuple[int, Completion]]:
    """Stream (cell index, completion snapshot) for every cell; each cell's last snapshot is done.

    `backends` is one backend, or a mapping from each cell's `backend` key to a backend (or to the
    error that kept it from being made: those cells fail with it while the others run). Each
    backend gets its cells in one `generate_many`; several backends run side by side.
    """
    table = backends if isinstance(backends, Mapping) else {"": backends}
    all_rows = rows(prompt, cells)
    groups: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(cell.backend, []).append(i)
    if unknown := [key for key in groups if key not in table]:
        raise ConfigError(f"No backend named {unknown[0]!r}.")
    if len(groups) == 1 and not isinstance(table[next(iter(groups))], FewShotError):
        key, indices = next(iter(groups.items()))
        return _renumbered(table[key].generate_many([all_rows[i] for i in indices], cancel), indices)
    return _merged(table, groups, all_rows, cancel)


def _renumbered(stream, indices: list[int]) -> Iterator[tuple[int, Completion]]:
    with closing(stream):
        for j, completion in stream:
            yield indices[j], completion


def _merged(table, groups, all_rows, cancel) -> Iterator[tuple[int, Completion]]:
    """Each backend's stream pumped by its own thread into one queue."""
    stop = StopFlag(cancel)
    events: queue.Queue = queue.Queue()

    def pump(key: str, indices: list[int]) -> None:
        backend = table[key]
        try:
            if isinstance(backend, FewShotError):
                raise backend
            for i, completion in _renumbered(backend.generate_many([all_rows[i] for i in indices], stop), indices):
                events.put((i, completion))
        except FewShotError as exc:
            log_failure(log, f"backend {key or 'embedded'!r}", exc)
            for i in indices:
                events.put((i, failed(exc, all_rows[i][1], backend=getattr(exc, "backend", ""), model="")))
        except Exception as exc:  # every cell gets a final answer, whatever happens
            log_failure(log, f"backend {key or 'embedded'!r}", exc)
            for i in indices:
                events.put((i, failed(FewShotError(f"Unexpected failure: {exc}"), all_rows[i][1], backend="",
                                      model="")))

    for key, indices in groups.items():
        threading.Thread(target=pump, args=(key, indices), daemon=True, name=f"fewshot-grid-{key}").start()
    finished: set[int] = set()
    try:
        while len(finished) < len(all_rows):
            i, completion = events.get()
            if i in finished:
                continue
            if completion.done:
                finished.add(i)
            yield i, completion
    finally:
        stop.set()
