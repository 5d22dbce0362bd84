"""The Gradio UI: the only package that imports gradio. `build_demo()` gives a new, independent demo.

Layout: the prompt (preset, task, examples, query, format) on the left, Compare (Run / Stop and the
columns) on the right, tabs below. One module per panel: prompt.py, compare.py, verdicts.py (the
buttons under each column), backends.py, sweep.py, evaluate.py, share.py (presets, links, code),
feedback.py; api.py holds the public API (`run`, `evaluate`); page.py composes them; state.py is the
shared page state; errors.py the one error boundary.

Adding a panel (e.g. "Choose examples", "Bias probe"):
1. Write `fewshot/ui/<panel>.py` with `build(page: Page) -> None` that opens its own
   `with gr.Tab("Title", id="<panel>", elem_id="<panel>"):`, makes its components and wires its events.
2. Add `<panel>.build` to `PANELS` in page.py (tabs appear in that order). That is the one-line change.

Reading the shared page state in a handler:
- Pass `page.inputs | {your own components}` as the event's inputs: Gradio then calls the handler with
  one dict {component: value}.
- `state = page.read(values)` turns it into library objects once: `state.prompt` (FewShotPrompt from
  the fields), `state.run_prompt` (the raw text instead while "Edit raw prompt" is on), `state.columns`
  (visible columns: `presets.Column`, i.e. GenerationSettings + `.backend`; `.settings` drops the
  backend), `state.samples`, `state.backends(names)` (backend or the error per endpoint name; "" is the
  embedded model), `state.preset(name, description)` (the page as a Preset, never a token).
  `page.read_prompt(values)` reads only the prompt (needs only `page.prompt_inputs`).
- The embedded model (a scorer with `score_many`) is `page.services.embedded()`; streaming grids go
  through `compare.stream_cells(page, request.session_hash, backends, prompt, cells)` so Stop works.
- Decorate handlers with `errors.shows_errors`: a FewShotError becomes a one-line message.
- Untrusted text (typed, from a link, a file or a model) is never markup: put it into Markdown through
  `fewshot.text.markdown(s)`, and show toasts with `errors.info` / `errors.warning` / `raise errors.refused(...)`
  (never bare gr.Info / gr.Warning / gr.Error: Gradio renders toasts as HTML). Table cells and chart labels
  take plain strings. Name no server path (folders, files) in anything a visitor sees.
- Every UI event is `api_visibility="private"`; a public endpoint goes into api.py with named,
  typed parameters. Do not keep module globals: two `build_demo()` calls must not share anything
  but the library's own caches.
"""

from .page import build_demo, launch_options

__all__ = ["build_demo", "launch_options"]
