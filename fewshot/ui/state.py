"""The page state: the widgets every panel reads (prompt, examples, columns, endpoints) and the one
place that turns their values into library objects (`Page.read` -> `PageState`) and a preset back
into widget updates (`Page.updates`).

Handlers get the page's values as one dict ({component: value}, Gradio's set-of-inputs form) and
call `page.read(values)` once; nothing here is a module global, so two demos never share a page.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr
from pydantic import ValidationError

from .. import presets
from ..backends import Backend, BackendSpec, make_backend
from ..backends.local import LocalBackend
from ..errors import ConfigError, FewShotError
from ..prompt import Example, FewShotPrompt, Template
from ..settings import (
    GenerationSettings,
    describe_validation_error,
    escape,
    format_stops,
    make_settings,
    parse_stops,
    unescape,
)

if TYPE_CHECKING:
    from .backends import EndpointControls
    from .compare import ColumnControls, ComparePanel
    from .prompt import PromptFields, PromptText

SETTING_FIELDS = tuple(GenerationSettings.model_fields)  # one widget per field, in this order
KEPT_RUNS = 500  # sessions whose last Compare run 👍/👎 can still rate (a public Space has many)


class Services:
    """What one demo's handlers share: the preset store, the embedded model and the Stop flags of
    the runs in progress (per browser session)."""

    def __init__(self, store: presets.Store | None = None) -> None:
        self.store = store or presets.Store()
        self._cancels: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._runs: dict[str, Any] = {}  # per session: the last Compare run, for the verdict buttons

    def embedded(self) -> LocalBackend:
        """The embedded model, shared by every session (loaded lazily on its first token count)."""
        return make_backend(BackendSpec())  # type: ignore[return-value]

    def started(self, session: str, cancel: threading.Event) -> None:
        with self._lock:
            self._cancels.setdefault(session, set()).add(cancel)

    def finished(self, session: str, cancel: threading.Event) -> None:
        with self._lock:
            runs = self._cancels.get(session)
            if runs is not None:
                runs.discard(cancel)
                if not runs:  # API clients never send "unload": a session without runs keeps nothing here
                    del self._cancels[session]

    def remember(self, session: str, run: Any) -> None:
        """Keep this session's latest Compare run (what was generated, the seeds): 👍/👎 read it back."""
        with self._lock:
            self._runs.pop(session, None)
            self._runs[session] = run  # the newest last: the oldest sessions go first when there are too many
            while len(self._runs) > KEPT_RUNS:
                self._runs.pop(next(iter(self._runs)))

    def last_run(self, session: str) -> Any:
        with self._lock:
            return self._runs.get(session)

    def stop(self, session: str) -> int:
        """Set the Stop flag of every run of this session; how many there were. The flags are copied
        under the lock: a run finishing meanwhile changes the set, never the list being walked."""
        with self._lock:
            flags = list(self._cancels.get(session, ()))
        for flag in flags:
            flag.set()
        return len(flags)

    def ended(self, session: str) -> int:
        """The session closed (its page was left): stop its runs and forget it; how many runs it had."""
        with self._lock:
            flags = self._cancels.pop(session, set())
        for flag in flags:
            flag.set()
        return len(flags)

    def sessions(self) -> int:
        """How many sessions have runs in progress (what this object holds per session)."""
        with self._lock:
            return len(self._cancels)


def rows_to_examples(rows: Iterable | None) -> tuple[Example, ...]:
    """Table rows -> examples; rows with both cells empty are ignored."""
    out = []
    for row in rows if rows is not None else []:
        cells = [("" if v is None else str(v)) for v in list(row)[:2]] + ["", ""]
        if cells[0].strip() or cells[1].strip():
            out.append(Example(input=cells[0], output=cells[1]))
    return tuple(out)


def examples_to_rows(examples: tuple[Example, ...]) -> list[list[str]]:
    return [[e.input, e.output] for e in examples] or [["", ""]]


def template_of(ip: str, op: str, sep: str) -> Template:
    """The Format fields (escapes such as \\n written out) as a Template."""
    try:
        return Template(input_prefix=unescape(ip or ""), output_prefix=unescape(op or ""),
                        separator=unescape(sep or ""))
    except ValueError:
        raise ConfigError("The output prefix and the separator cannot be empty (see Format).") from None


def settings_values(s: GenerationSettings) -> list:
    return [getattr(s, f) if f != "end_sequence" else format_stops(s.end_sequence) for f in SETTING_FIELDS]


@dataclass(frozen=True)
class PageState:
    """The page as library objects: what a handler works on."""

    prompt: FewShotPrompt  # the fields (task, examples, query, format)
    raw: str | None  # the raw prompt text while "Edit raw prompt" is on
    columns: tuple[presets.Column, ...]  # the visible Compare columns: settings and backend
    samples: int
    endpoints: dict[str, BackendSpec]  # every endpoint as typed (maybe not set up yet)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)  # pasted tokens: never in a preset
    strategy: presets.ExampleStrategy | None = None  # `similar` applied by "Choose examples": kept in presets

    @property
    def run_prompt(self) -> FewShotPrompt | str:
        """What runs: the raw text in raw mode, else the prompt built from the fields."""
        return self.raw if self.raw is not None else self.prompt

    def spec(self, name: str) -> BackendSpec:
        """Endpoint `name` ("" = the embedded model), refused while it is not set up."""
        if not name:
            return BackendSpec()
        spec = self.endpoints[name]
        if spec.kind == "local" and not spec.model:
            raise ConfigError(f"Endpoint {name} has no model file yet: open Backends and give the path to a .gguf "
                              "file.")
        if spec.kind != "local" and not spec.url:
            raise ConfigError(f"Endpoint {name} has no URL yet: open Backends and give the server's base URL.")
        return spec

    def backends(self, names: Iterable[str]) -> dict[str, Backend | FewShotError]:
        """The backend behind each name, or the error that keeps it from running (that column shows it)."""
        table: dict[str, Backend | FewShotError] = {}
        for name in names:
            try:
                table[name] = make_backend(self.spec(name), self.tokens.get(name) or None)
            except FewShotError as exc:
                table[name] = exc
        return table

    def preset(self, name: str = "", description: str = "") -> presets.Preset:
        """The page as a preset: no tokens, and no raw text (it must be parsed into the fields first)."""
        if self.raw is not None:
            raise ConfigError("Untick Edit raw prompt first: presets and links keep the task, examples and query.")
        endpoints: dict[str, BackendSpec] = {}
        for i, column in enumerate(self.columns, start=1):
            if column.backend and column.backend not in endpoints:
                try:
                    endpoints[column.backend] = self.spec(column.backend)
                except ConfigError as exc:
                    raise ConfigError(f"Column {i}: {exc}") from None
        for key, spec in self.endpoints.items():  # endpoints set up but not in use are kept too
            if key not in endpoints and spec.url:
                endpoints[key] = self.spec(key)
        p = self.prompt
        try:
            return presets.Preset(
                name=name.strip() or "Untitled", description=description, task=p.task, examples=p.examples,
                query=p.query, template=p.template, columns=self.columns, samples=self.samples, endpoints=endpoints,
                strategy=self.strategy,
            )
        except ValidationError as exc:  # e.g. a name longer than a preset keeps: say which field, not a traceback
            raise ConfigError(f"This page cannot be kept as a preset: {describe_validation_error(exc)}.") from None


@dataclass(frozen=True)
class Run:
    """A session's latest Compare run: the page it ran from and each column's completions (per sample)."""

    state: PageState
    per_column: list[list[Any]]  # Completion | None, in sample order


@dataclass(frozen=True)
class Page:
    """The shared widgets and the services behind them; panels read the page through it."""

    fields: PromptFields
    text: PromptText
    compare: ComparePanel
    endpoints: tuple[EndpointControls, ...]
    services: Services
    demo: gr.Blocks
    strategy: gr.State | None = None  # the preset's example strategy (a dict or None), set by "Choose examples"

    @property
    def prompt_inputs(self) -> set:
        f = self.fields
        return {f.task, f.examples, f.query, f.ip, f.op, f.sep}

    @property
    def inputs(self) -> set:
        """Every widget `read` needs (tokens included; they never go into a preset)."""
        widgets = self.prompt_inputs | {self.text.raw_mode, self.text.preview, self.compare.n_columns,
                                        self.compare.samples}
        for e in self.endpoints:
            widgets |= {e.kind, e.url, e.model, e.token}
        for c in self.compare.columns:
            widgets |= {c.backend, *c.settings}
        return widgets | ({self.strategy} if self.strategy is not None else set())

    def endpoint(self, name: str) -> EndpointControls:
        return next(e for e in self.endpoints if e.name == name)

    def read_prompt(self, values: dict) -> FewShotPrompt:
        f = self.fields
        return FewShotPrompt(task=values[f.task] or "", examples=rows_to_examples(values[f.examples]),
                             query=values[f.query] or "",
                             template=template_of(values[f.ip], values[f.op], values[f.sep]))

    def visible_columns(self, values: dict) -> list[ColumnControls]:
        return list(self.compare.columns[: int(values[self.compare.n_columns])])

    def read_column(self, values: dict, index: int) -> presets.Column:
        """Column `index`'s settings and backend; an out-of-range value is refused with its number."""
        column = self.compare.columns[index]
        given: dict[str, Any] = {n: values[w] for n, w in zip(SETTING_FIELDS, column.settings, strict=True)}
        given["end_sequence"] = parse_stops(given["end_sequence"] or "")
        given["seed"] = None if given["seed"] in (None, "") else int(given["seed"])
        try:
            settings = make_settings(**given)
        except ConfigError as exc:
            raise ConfigError(f"Column {index + 1}: {exc}") from None
        return presets.Column(**settings.model_dump(), backend=values[column.backend] or "")

    def read(self, values: dict) -> PageState:
        """The page's values as a PageState (raises ConfigError naming what to fix)."""
        raw = values[self.text.preview] if values[self.text.raw_mode] else None
        endpoints = {e.name: BackendSpec(kind=values[e.kind], url=(values[e.url] or "").strip(),
                                         model=(values[e.model] or "").strip()) for e in self.endpoints}
        return PageState(
            prompt=self.read_prompt(values), raw=raw,
            columns=tuple(self.read_column(values, i) for i in range(int(values[self.compare.n_columns]))),
            samples=int(values[self.compare.samples]), endpoints=endpoints,
            tokens={e.name: values[e.token] for e in self.endpoints if values[e.token]},
            strategy=presets.ExampleStrategy(**values[self.strategy]) if values.get(self.strategy) else None,
        )

    @property
    def outputs(self) -> list:
        """The widgets `updates` sets."""
        return list(self.updates(presets.Preset(name="outputs")))

    def updates(self, p: presets.Preset) -> dict:
        """Every page widget's value for a preset. Pasted tokens are cleared: a token never follows
        its endpoint to a URL that a preset or a link chose."""
        f, t, c = self.fields, self.text, self.compare
        out: dict = {
            f.task: gr.update(value=p.task, interactive=True),
            f.examples: gr.update(value=examples_to_rows(p.examples), interactive=True),
            f.query: gr.update(value=p.query, interactive=True),
            f.ip: escape(p.template.input_prefix), f.op: escape(p.template.output_prefix),
            f.sep: escape(p.template.separator), c.n_columns: len(p.columns), c.samples: p.samples,
            t.raw_mode: False, t.preview: gr.update(value=p.prompt.render(), interactive=False),
            t.parse_btn: gr.update(visible=False),
        }
        if self.strategy is not None:
            out[self.strategy] = p.strategy.model_dump() if p.strategy else None
        for e in self.endpoints:
            spec = p.endpoints.get(e.name)
            out |= {e.kind: spec.kind if spec else "openai", e.url: spec.url if spec else "",
                    e.model: spec.model if spec else "", e.token: ""}
        for i, column in enumerate(c.columns):
            preset_column = p.columns[i] if i < len(p.columns) else presets.Column()
            out[column.backend] = preset_column.backend
            out |= dict(zip(column.settings, settings_values(preset_column.settings), strict=True))
        return out
