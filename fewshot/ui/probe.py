"""The "Bias probe" tab and the public `probe` endpoint: does a term in the query move the label?

A query template with one `{}` slot is filled with each term of the chosen sets and the user's own
list, and with the neutral baseline; `fewshot.probe.run_probe` measures each (n samples at column
1's settings on column 1's backend, or label scoring with a calibration on the embedded model) and
compares it with the baseline. The tab shows progress, a chart of each term's label distribution
beside the baselines, the terms with their largest shift and bootstrap interval (flagged first),
and the CSV; Stop ends the probe after the current query. "Run the blog's probe" loads the
`disability-sentiment` preset and runs its probe in one click (`probe.PRESET_PROBES`).

Terms and answers are user- and model-written: they only reach Dataframes, Textboxes and the chart.
"""

from __future__ import annotations

import queue
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from .. import calibrate, presets, probe
from ..backends import make_backend
from ..errors import ConfigError, FewShotError
from ..prompt import FewShotPrompt
from ..settings import GenerationSettings
from .compare import MODEL_WORK
from .errors import shows_errors
from .state import Page

BLOG = "disability-sentiment"  # the built-in preset of the blog's case
BLOG_PROBE = probe.PRESET_PROBES[BLOG]
DEFAULT_TEMPLATE = BLOG_PROBE["template"]
MODE_CHOICES = [("n samples at column 1's settings (any backend)", "samples"),
                ("score each label (embedded model)", "labels")]
FLAGS = ["term", "flagged", "label", "shift (points)", "95% interval", "term p", "baseline p", "samples", "query"]
POLL = 0.5  # seconds between progress updates while a probe runs


@dataclass(frozen=True)
class ProbeForm:
    """What the tab (or the API) asks for."""

    template: str
    sets: tuple[str, ...]
    own: tuple[str, ...]
    mode: str = "samples"
    samples: int = 5
    calibration: str = "none"
    threshold: float = probe.THRESHOLD
    labels: tuple[str, ...] = ()

    def checked(self) -> tuple[list[str], str]:
        """(the terms, the template), or ConfigError saying what to fix — before anything runs."""
        if self.mode not in probe.MODES:
            raise ConfigError(f"Unknown probe mode {self.mode!r}: choose samples or labels.")
        calibrate.check_methods([self.calibration])
        if not 0 <= self.threshold <= 100:
            raise ConfigError(f"The threshold is in points of probability: give 0 to 100 (got {self.threshold:g}).")
        return probe.resolve_terms(self.sets, self.own), probe.check_template(self.template)


def split_list(text: str | None) -> tuple[str, ...]:
    """"blind, tall\nshort" -> ("blind", "tall", "short"): commas or line breaks separate."""
    return tuple(t.strip() for t in re.split(r"[,\n]", text or "") if t.strip())


def measure(backend: Any, prompt: FewShotPrompt, settings: GenerationSettings, form: ProbeForm,
            progress: probe.Progress | None = None, stop: threading.Event | None = None) -> probe.ProbeResult:
    """Run the probe the form describes; calibration only applies to label scoring."""
    terms, template = form.checked()
    return probe.run_probe(
        backend, prompt, template, terms, labels=form.labels or None, mode=form.mode, samples=int(form.samples),
        settings=settings, calibration=form.calibration if form.mode == "labels" else "none",
        threshold=float(form.threshold), progress=progress, stop=stop,
    )


def flag_table(result: probe.ProbeResult) -> pd.DataFrame:
    """Every term (not the baselines) with its largest shift and interval: flagged first, then by size."""
    base = probe.pooled_baseline(result.terms)
    rows = []
    for t in result.terms:
        if t.baseline:
            continue
        label, points = t.largest
        if t.flagged:
            label = t.flagged_labels[0]
        elif not points:  # no shift at all: show the label this term gets most
            label = max(t.distribution, key=t.distribution.get)
        rows.append({
            "term": t.term, "flagged": "⚑ flagged" if t.flagged else "no", "label": label,
            "shift (points)": f"{t.shift[label]:+.1f}", "95% interval": f"[{t.low[label]:+.1f}, {t.high[label]:+.1f}]",
            "term p": f"{t.distribution[label]:.0%}", "baseline p": f"{base.get(label, 0.0):.0%}",
            "samples": str(t.samples), "query": t.query, "_order": (not t.flagged, -abs(t.shift[label])),
        })
    frame = pd.DataFrame(rows, columns=[*FLAGS, "_order"])
    return frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def chart_frame(result: probe.ProbeResult) -> pd.DataFrame:
    """Term, label, probability; the baselines first, named as such."""
    frame = result.chart_frame()
    frame["term"] = [f"baseline {t}" if b else t for t, b in zip(frame["term"], frame["baseline"], strict=True)]
    return frame


def summary(result: probe.ProbeResult) -> str:
    terms = [t for t in result.terms if not t.baseline]
    how = (f"{terms[0].samples if terms else 0} samples per query" if result.mode == "samples"
           else f"label scoring, calibration {result.calibration}")
    flagged = ", ".join(f"{t.term} ({t.flagged_labels[0]} {t.shift[t.flagged_labels[0]]:+.0f} points)"
                        for t in result.flagged)
    lines = [f"{len(result.flagged)} of {len(terms)} terms flagged: a shift over {result.threshold:g} points from the "
             f"baseline with its {result.confidence:.0%} interval excluding 0 ({how})."
             + (f" Flagged: {flagged}." if flagged else "")]
    if result.stopped:
        lines.append("Stopped: only the queries finished before Stop are shown.")
    lines += [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def csv_file(result: probe.ProbeResult) -> str:
    path = Path(tempfile.mkdtemp(prefix="fewshot-")) / "probe.csv"
    result.to_csv(str(path))
    return str(path)


def api_result(result: probe.ProbeResult) -> dict[str, Any]:
    return {"template": result.template, "labels": list(result.labels), "mode": result.mode,
            "calibration": result.calibration, "threshold": result.threshold, "stopped": result.stopped,
            "flagged": [t.term for t in result.flagged], "terms": result.rows(), "notes": list(result.notes)}


def in_background(work, stop: threading.Event) -> Iterator[tuple[int, int] | probe.ProbeResult]:
    """Run `work(progress, stop)` in a thread; yield (done, total) as it reports, then its result.
    Its FewShotError is raised here, in the handler's thread, where shows_errors turns it into a message."""
    events: queue.Queue = queue.Queue()

    def target() -> None:
        try:
            events.put(("done", work(lambda done, total: events.put(("progress", (done, total))), stop)))
        except BaseException as exc:  # handed to the handler's thread, re-raised there
            events.put(("error", exc))

    thread = threading.Thread(target=target, daemon=True, name="probe")
    thread.start()
    try:
        while True:
            try:
                kind, value = events.get(timeout=POLL)
            except queue.Empty:
                continue
            if kind == "error":
                raise value
            yield value
            if kind == "done":
                return
    finally:
        stop.set()  # the page went away (or an error): the probe ends after its current query


def build(page: Page) -> None:
    with gr.Tab("Bias probe", id="probe", elem_id="probe"):
        gr.Markdown("Does a term in the query move the label? The template's `{}` is filled with each term and with a "
                    "neutral baseline (empty, and \"a\"); each is measured with the prompt above and compared. A term "
                    "is **flagged** when a label's share moves past the threshold and its bootstrap interval excludes "
                    "0, so noise is not flagged. Sampling uses column 1's settings and backend.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                template = gr.Textbox(DEFAULT_TEMPLATE, label="Query template (one {} where the term goes)",
                                      elem_id="probe-template")
                sets = gr.CheckboxGroup(list(probe.TERM_SETS), value=list(BLOG_PROBE["terms"]), label="Term sets",
                                        elem_id="probe-sets")
                own = gr.Textbox(label="Your own terms", placeholder="tall, short (commas or one per line)",
                                 lines=1, elem_id="probe-terms")
            with gr.Column(scale=3):
                mode = gr.Radio(MODE_CHOICES, value="samples", label="Measure by", elem_id="probe-mode")
                with gr.Row():
                    samples = gr.Slider(1, probe.MAX_SAMPLES, value=BLOG_PROBE["samples"], step=1,
                                        label="Samples per query", elem_id="probe-samples", min_width=140)
                    calibration = gr.Dropdown(list(calibrate.METHODS), value="none", label="Calibration (scoring)",
                                              elem_id="probe-calibration", min_width=120)
                with gr.Row():
                    threshold = gr.Number(probe.THRESHOLD, label="Flag above (points)", minimum=0, maximum=100,
                                          elem_id="probe-threshold", min_width=100)
                    labels = gr.Textbox(label="Labels", placeholder="default: the examples' outputs",
                                        elem_id="probe-labels", min_width=140)
            with gr.Column(scale=2, min_width=200):
                run = gr.Button("Run probe", variant="primary", elem_id="run-probe")
                blog = gr.Button("Run the blog's probe", elem_id="probe-blog")
                stop = gr.Button("Stop", variant="stop", size="sm", elem_id="stop-probe")
                export = gr.File(label="Results (CSV)", visible=False, elem_id="probe-file")
        status = gr.Textbox(label="Probe", interactive=False, lines=2, elem_id="probe-status")
        chart = gr.BarPlot(x="term", y="probability", color="label", label="Each term's label distribution, "
                           "baselines first", x_title="term in the slot", y_title="probability of each label",
                           color_title="label", x_label_angle=-35, visible=False, elem_id="probe-chart")
        flags = gr.Dataframe(headers=FLAGS, datatype="str", interactive=False, wrap=True, elem_id="probe-flags",
                             label="Terms: largest shift from the baseline and its 95% bootstrap interval")
    form_inputs = [template, sets, own, mode, samples, calibration, threshold, labels]

    def form_of(values: dict) -> ProbeForm:
        return ProbeForm(template=values[template] or "", sets=tuple(values[sets] or ()), own=split_list(values[own]),
                         mode=values[mode], samples=int(values[samples]), calibration=values[calibration] or "none",
                         threshold=float(values[threshold] if values[threshold] is not None else probe.THRESHOLD),
                         labels=split_list(values[labels]))

    @shows_errors
    def run_probe(values: dict, request: gr.Request):
        """Probe with the page's prompt and column 1; stream progress, then the chart, table and CSV."""
        form = form_of(values)
        form.checked()
        state = page.read(values)
        column = state.columns[0]
        backend = (page.services.embedded() if form.mode == "labels"
                   else state.backends([column.backend])[column.backend])
        if isinstance(backend, FewShotError):
            raise backend
        session, cancel = f"{request.session_hash}:probe", threading.Event()
        page.services.started(session, cancel)
        total = len(probe.BASELINE_TERMS) + len(form.checked()[0])
        yield {status: f"⏳ probing 0/{total} queries…", chart: gr.update(visible=False),
               export: gr.update(visible=False)}

        def work(progress, flag):
            return measure(backend, state.prompt, column.settings, form, progress, flag)

        try:
            for event in in_background(work, cancel):
                if isinstance(event, probe.ProbeResult):
                    yield shown(event)
                else:
                    yield {status: f"⏳ probing {event[0]}/{event[1]} queries…"}
        finally:
            page.services.finished(session, cancel)

    def shown(result: probe.ProbeResult) -> dict:
        if not result.terms:
            return {status: "Stopped before the baseline was measured: nothing to compare. Run again."}
        frame = chart_frame(result)
        return {status: ("✓ " if not result.stopped else "■ ") + summary(result),
                chart: gr.update(value=frame, visible=True, sort=list(dict.fromkeys(frame["term"]))),
                flags: flag_table(result), export: gr.update(value=csv_file(result), visible=True)}

    def stop_probe(request: gr.Request) -> None:
        page.services.stop(f"{request.session_hash}:probe")

    def prefill(preset_id: str | None):
        """A preset made for a probe (the blog's) fills the tab with that probe; others leave it as it is."""
        found = probe.defaults_for(preset_id or "")
        if not found:
            return [gr.update()] * 4
        return found["template"], list(found["terms"]), "samples", found.get("samples", 5)

    @shows_errors
    def load_blog():
        """The blog's preset on the page and its probe in the tab (then `run_probe` runs it)."""
        found, _, _ = page.services.store.load()
        if BLOG not in found:
            raise ConfigError(f"The built-in preset {BLOG!r} is missing from presets/: reinstall the app.")
        return page.updates(found[BLOG]) | {page.fields.preset: BLOG, own: "", labels: "", calibration: "none"} | dict(
            zip([template, sets, mode, samples], prefill(BLOG), strict=True))

    outputs = [status, chart, flags, export]
    inputs = page.inputs | set(form_inputs)
    run.click(run_probe, inputs, outputs, api_visibility="private", show_progress="hidden", **MODEL_WORK)
    blog.click(load_blog, None, [*page.outputs, page.fields.preset, *form_inputs], api_visibility="private").success(
        run_probe, inputs, outputs, api_visibility="private", show_progress="hidden", **MODEL_WORK)
    stop.click(stop_probe, None, None, api_visibility="private", concurrency_limit=None)
    # `input`: a preset chosen from the menu (the blog button fills the tab itself, links leave it as it is).
    page.fields.preset.input(prefill, page.fields.preset, [template, sets, mode, samples], api_visibility="private",
                             show_progress="hidden")


def build_api(page: Page) -> None:
    """The public `probe` endpoint (called from api.build, with the other endpoints)."""
    with gr.Column(visible=False):
        preset_in = gr.JSON(label="preset")
        template_in = gr.Textbox(DEFAULT_TEMPLATE, label="template")
        sets_in = gr.CheckboxGroup(list(probe.TERM_SETS), value=[], label="term_sets")
        terms_in = gr.Textbox(label="terms")
        mode_in = gr.Radio(list(probe.MODES), value="samples", label="mode")
        samples_in = gr.Number(5, label="samples", precision=0)
        calibration_in = gr.Dropdown(list(calibrate.METHODS), value="none", label="calibration")
        threshold_in = gr.Number(probe.THRESHOLD, label="threshold")
        labels_in = gr.Textbox(label="labels")
        result_out = gr.JSON(label="result")
        trigger = gr.Button(visible=False)

    @shows_errors
    def probe_endpoint(preset: dict, template: str, term_sets: list[str], terms: str, mode: str, samples: int,
                       calibration: str, threshold: float, labels: str) -> dict:
        """Fill `template`'s {} with each term of `term_sets` (disability, gender, age, nationality, religion) and
        of `terms` (comma-separated) and with the neutral baseline; measure each with `preset`'s prompt — `samples`
        completions at its first column's settings and backend (mode "samples"), or each label scored on the
        embedded model with `calibration` (mode "labels") — and flag the terms whose shift exceeds `threshold`
        points with a bootstrap interval excluding 0. `labels`: comma-separated, default the examples' outputs.
        Returns {template, labels, mode, calibration, threshold, stopped, flagged, terms, notes}; `terms` holds
        one object per term, baselines first: term, query, baseline, samples, distribution, shift, interval,
        flagged, flagged_labels, seeds, answers."""
        from .api import preset_of  # api.py imports this module

        p = preset_of(preset)
        form = ProbeForm(template=template or "", sets=tuple(term_sets or ()), own=split_list(terms),
                         mode=mode or "samples", samples=int(samples or 5), calibration=calibration or "none",
                         threshold=float(threshold if threshold is not None else probe.THRESHOLD),
                         labels=split_list(labels))
        form.checked()
        column = p.columns[0] if p.columns else presets.Column()
        if form.mode == "labels" or not column.backend:
            backend = page.services.embedded()
        else:
            backend = make_backend(p.endpoints[column.backend])
        return api_result(measure(backend, p.prompt, column.settings, form))

    trigger.click(probe_endpoint, [preset_in, template_in, sets_in, terms_in, mode_in, samples_in, calibration_in,
                                   threshold_in, labels_in], result_out, api_name="probe", **MODEL_WORK)
