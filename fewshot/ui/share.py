"""The "Save · share · code" tab and the preset menu: load, save, rename, delete, import and export
presets; a link that reopens the page (opened on page load); Python and curl for every column."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr

from .. import codegen, presets
from ..backends import BackendSpec
from ..errors import ConfigError, FewShotError
from .errors import info, refused, shows_errors, warning
from .state import Page

KEEP = object()  # preset_choices: leave the selection as it is

# JavaScript run in the browser after the link is built: complete a bare query with this page's
# address, copy it to the clipboard where allowed, and show it.
LINK_JS = """(link) => {
  const url = link.startsWith("?") ? window.location.origin + window.location.pathname + link : link;
  if (navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); }
  return url;
}"""


def choice_list(found: dict[str, presets.Preset], builtin: set[str]) -> list[tuple[str, str]]:
    """(label, id) per preset, the user's own marked as saved."""
    return [(p.name if key in builtin else f"{p.name} (saved)", key) for key, p in presets.ordered(found)]


def build(page: Page) -> None:
    store, menu = page.services.store, page.fields.preset
    first = presets.find(presets.DEFAULT_PRESET)
    with gr.Tab("Save · share · code", id="share", elem_id="share"):
        gr.Markdown("Presets keep the task, examples, query, format, columns and endpoints — never a token. "
                    "Built-in presets are read-only: save a copy under another name.")
        with gr.Row(equal_height=True):
            with gr.Column(scale=3):
                name = gr.Textbox(first.name, label="Preset name", elem_id="preset-name")
                description = gr.Textbox(first.description, label="Description", lines=1,
                                         placeholder="optional: what this preset is for", elem_id="preset-description")
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
            link = gr.Textbox(label="Link to this state", buttons=["copy"], elem_id="link", scale=3,
                              info="Opens exactly this page for anyone who can reach this app (never with a token).")
            file = gr.File(label="Preset file", visible=False, elem_id="export-file", scale=1)
        with gr.Row(equal_height=False):
            python = gr.Code(language="python", label="Python (requests)", visible=False, elem_id="code-python",
                             scale=3)
            curl = gr.Code(language="shell", label="curl", visible=False, elem_id="code-curl", scale=2,
                           wrap_lines=True)

    def preset_choices(select=KEEP, loaded=None):
        """The preset list as it is on disk now; `select` a preset, None (none), or KEEP."""
        found, builtin, _ = loaded or store.load()
        choices = choice_list(found, builtin)
        return gr.update(choices=choices) if select is KEEP else gr.update(choices=choices, value=select)

    def missing(key: str) -> ConfigError:
        """Why a preset is not there: its file is broken (say which, not where: a visitor never sees a
        server path), or there is no such preset."""
        broken = [e for e in store.load()[2] if f"{key}.json" in e]
        if broken:
            return ConfigError(broken[0].replace(f" in {store.folder}", " among the saved presets"))
        return ConfigError(f"There is no preset {key!r} here (deleted or renamed?).")

    def opened(p: presets.Preset) -> dict:
        return page.updates(p) | {name: p.name, description: p.description}

    def current(values: dict) -> presets.Preset:
        return page.read(values).preset(values[name] or "", values[description] or "")

    @shows_errors
    def load_preset(key: str):
        found = store.load()[0]
        if key not in found:
            raise missing(key)
        return opened(found[key])

    @shows_errors
    def save_preset(values: dict):
        state = current(values)
        key = store.save(state.name, state)
        info(f"Saved “{state.name}”: it is in the preset menu now.")  # the folder is the server's business
        return preset_choices(select=key)

    @shows_errors
    def rename_preset(values: dict):
        new_name = (values[name] or "").strip()
        key = store.rename(values[menu], new_name)
        info(f"Renamed to “{new_name}”.")
        return preset_choices(select=key)

    @shows_errors
    def delete_preset(values: dict):
        store.delete(values[menu])
        info("Deleted. The page keeps its contents: save them again under any name.")
        return preset_choices(select=None)

    def import_preset(path: str):
        """Open an uploaded preset JSON file in the page (save it to keep it)."""
        try:
            p = presets.load_file(Path(path))
        except FewShotError as exc:
            raise refused(str(exc).replace(f"Preset file {Path(path).name}", "The uploaded file")) from None
        info(f"Opened “{p.name}”. Save it to keep it.")
        return opened(p) | {menu: preset_choices(select=None)}

    @shows_errors
    def export_preset(values: dict):
        state = current(values)
        path = Path(tempfile.mkdtemp(prefix="fewshot-")) / f"{presets.slug(state.name) or 'preset'}.json"
        path.write_text(presets.to_json(state), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    @shows_errors
    def share_link(values: dict) -> str:
        key = values[menu]
        return presets.share_query(current(values), key, store.load()[0].get(key) if key else None,
                                   os.environ.get("SPACE_ID"))

    def open_link(request: gr.Request):
        """Open the state a link carries (?preset= or ?state=); a bad link says why and opens the default.
        Also brings the preset list up to date (presets saved since the app started)."""
        params = dict(request.query_params) if request else {}
        loaded = store.load()  # once per page open: the files are read for the list and the preset alike
        found = loaded[0]
        try:
            if "state" in params:
                return opened(presets.decode_state(params["state"])) | {menu: preset_choices(None, loaded)}
            if "preset" in params:
                key = params["preset"]
                if key not in found:
                    raise missing(key)
                return opened(found[key]) | {menu: preset_choices(key, loaded)}
            return {menu: preset_choices(KEEP, loaded)}  # no link: the page as built
        except FewShotError as exc:
            warning(f"This link was not opened: {exc} The default preset is open instead.")
            return opened(found[presets.DEFAULT_PRESET]) | {menu: preset_choices(presets.DEFAULT_PRESET, loaded)}

    @shows_errors
    def get_code(values: dict):
        """Python (requests) and curl that reproduce every visible column on its backend."""
        state = page.read(values)
        targets = [
            codegen.Target(c.settings, state.spec(c.backend), f"endpoint {c.backend} ({state.spec(c.backend).kind})",
                           state.tokens.get(c.backend))
            # The embedded model by its file name: its path on this server is no visitor's business.
            if c.backend else codegen.Target(c.settings, BackendSpec(model=page.services.embedded().source.name))
            for c in state.columns
        ]
        calls = codegen.calls_for(state.run_prompt, targets)
        return gr.update(value=codegen.python_snippet(calls), visible=True), \
            gr.update(value=codegen.curl_lines(calls), visible=True)

    hidden = {"api_visibility": "private"}
    outputs = [*page.outputs, name, description]
    with_preset = page.inputs | {menu, name, description}
    menu.input(load_preset, menu, outputs, **hidden)
    page.demo.load(open_link, None, [*outputs, menu], **hidden)
    save_btn.click(save_preset, with_preset, menu, **hidden)
    rename_btn.click(rename_preset, with_preset, menu, **hidden)
    delete_btn.click(delete_preset, with_preset, menu, **hidden)
    import_btn.upload(import_preset, import_btn, [*outputs, menu], **hidden)
    export_btn.click(export_preset, with_preset, file, **hidden)
    link_btn.click(share_link, with_preset, link, **hidden).then(None, link, link, js=LINK_JS, **hidden)
    code_btn.click(get_code, page.inputs, [python, curl], **hidden)
