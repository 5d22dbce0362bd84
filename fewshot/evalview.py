"""The Evaluate panel's library side (no gradio): where the example pool and the evaluation rows come
from, the shots list as typed, and a `GridResult` made readable — the accuracy-vs-shots chart as an
SVG (error bars = std over draws, the majority baseline drawn in, legend and axis titles), the table of
cells (mean ± std), per-label precision/recall, and the CSV files offered for download.

The UI (fewshot/ui/evaluate.py) and the public API call these; everything here is testable without a
browser. Text that comes from data (labels) is escaped before it goes into the SVG.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from . import evaluate
from .errors import ConfigError
from .evaluate import GridResult
from .prompt import Example

# Where the demonstrations come from: a seeded split of the evaluated CSV, a second CSV, or the page's examples.
POOLS = ("split", "csv", "examples")
POOL_LABELS = {"split": "Split the CSV (seeded)", "csv": "A separate pool CSV", "examples": "The examples table"}
MAX_SHOTS = 64


def parse_shots(text: str | Sequence[int] | None) -> list[int]:
    """`"0, 4, 8"` -> [0, 4, 8] (sorted, each once); ConfigError naming the value that is not a count."""
    parts = [str(v).strip() for v in (text.split(",") if isinstance(text, str) else text or [])]
    shots = set()
    for part in filter(None, parts):
        if not part.isdigit() or int(part) > MAX_SHOTS:
            raise ConfigError(f"Shots takes whole numbers from 0 to {MAX_SHOTS}, comma-separated (got {part!r}): "
                              "e.g. 0, 4, 8.")
        shots.add(int(part))
    if not shots:
        raise ConfigError("Give at least one number of shots, e.g. 0, 4, 8.")
    return sorted(shots)


def pool_and_rows(
    csv: str | Path | None,
    source: str = "split",
    *,
    pool_csv: str | Path | None = None,
    fraction: float = 0.5,
    seed: int = 0,
    limit: int | None = None,
    examples: Sequence[Example] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pool, rows): the example pool and at most `limit` evaluation rows; they never share a row when
    split, and run_grid never scores a row that is one of the draw's demonstrations."""
    if not csv:
        raise ConfigError("Upload a CSV file with the columns text,label first.")
    if source not in POOLS:
        raise ConfigError(f"Unknown example pool {source!r}: choose from {', '.join(POOLS)}.")
    if source == "csv" and not pool_csv:
        raise ConfigError("Upload the pool CSV (columns text,label), or choose another example pool.")
    if source == "examples" and not examples:
        raise ConfigError("The examples table is empty: add examples, or split the CSV into a pool.")
    table: dict[str, Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]] = {
        "split": lambda data: evaluate.split(data, float(fraction), int(seed)),
        "csv": lambda data: (evaluate.read_labelled(pool_csv), data),
        "examples": lambda data: (evaluate.pool_of(examples), data),
    }
    pool, rows = table[source](evaluate.read_labelled(csv))
    return pool, rows.head(int(limit)) if limit else rows


# --- tables -------------------------------------------------------------------------------------


def mean_std(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def cells_table(result: GridResult) -> pd.DataFrame:
    """One row per cell: shots, scoring, calibration, accuracy as "mean ± std" over the draws, n and draws."""
    rows = [(c.shots, c.scoring, c.calibrate, mean_std(c.accuracy, c.accuracy_std), c.n, c.draws)
            for c in result.cells]
    return pd.DataFrame(rows, columns=["shots", "scoring", "calibrate", "accuracy", "n", "draws"])


def per_label_table(result: GridResult) -> pd.DataFrame:
    """Precision and recall of each label in each cell (counts pooled over the draws)."""
    rows = [(c.shots, c.scoring, c.calibrate, label, round(m["precision"], 3), round(m["recall"], 3))
            for c in result.cells for label, m in c.per_label.items()]
    return pd.DataFrame(rows, columns=["shots", "scoring", "calibrate", "label", "precision", "recall"])


def best_cell(result: GridResult) -> evaluate.Cell | None:
    """The most accurate cell (ties: fewer shots, then the order of the grid)."""
    if not result.cells:
        return None
    return max(result.cells, key=lambda c: (round(c.accuracy, 9), -c.shots))


def summary(result: GridResult, pool: int, rows: int) -> str:
    """Two or three plain sentences: what ran, the best cell next to the majority baseline, and a stop."""
    label, share = result.majority
    lines = [f"{rows} evaluation rows, a pool of {pool} examples; labels: {', '.join(result.labels)}. "
             f"Majority baseline {share:.1%} (always answering {label!r})."]
    best = best_cell(result)
    if best is not None:
        method = "no" if best.calibrate == "none" else best.calibrate
        calibrated = f", {method} calibration" if best.scoring == "labels" else ""
        lines.append(f"Best: {mean_std(best.accuracy, best.accuracy_std)} at {best.shots} shots "
                     f"({best.scoring} scoring{calibrated}, {best.draws} draw{'s' if best.draws != 1 else ''}).")
    if result.stopped:
        lines.append(f"Stopped: {len(result.cells)} cells were complete and are shown.")
    return " ".join(lines)


def failures_table(result: GridResult, limit: int = 500) -> pd.DataFrame:
    """The first `limit` failures, probabilities to three decimals (the CSV keeps them whole)."""
    return result.failures_frame().head(limit).round({"probability": 3})


def write_csvs(result: GridResult, folder: str | Path) -> dict[str, Path]:
    """cells, per-label, confusion and failures tables as CSV files in `folder`, by name."""
    folder = Path(folder)
    tables = {"cells": result.frame(), "per_label": per_label_table(result),
              "confusion": result.confusion_frame(), "failures": result.failures_frame()}
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"evaluation_{name}.csv"
        table.to_csv(paths[name], index=False)
    return paths


def rate_line(done: int, total: int, seconds: float) -> str:
    """`12/30 rows · 1.5 rows/s · ETA 12 s` (no rate before the first row is scored)."""
    if done <= 0 or seconds <= 0:
        return f"{done}/{total} rows · starting…"
    rate = done / seconds
    eta = (total - done) / rate
    return f"{done}/{total} rows · {rate:.2f} rows/s · ETA {eta:.0f} s"


# --- the chart ----------------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 360
PLOT = {"left": 64, "right": 190, "top": 20, "bottom": 56}  # margins: the legend sits in the right one
COLOURS = ("#4f46e5", "#dc2626", "#059669", "#d97706", "#0891b2", "#7c3aed")


def series_name(calibrate: str, scoring: str) -> str:
    return "generation" if scoring == "generate" else f"labels · {calibrate}"


def chart_svg(result: GridResult) -> str:
    """Accuracy vs shots, one line per (scoring, calibration), error bars of ±1 std over draws, and the
    majority baseline as a dashed line; shots are spaced evenly (0, 1, 4, 8 would otherwise crowd)."""
    shots = sorted({c.shots for c in result.cells})
    series: dict[str, list[evaluate.Cell]] = {}
    for c in result.cells:
        series.setdefault(series_name(c.calibrate, c.scoring), []).append(c)
    x0, x1 = PLOT["left"], WIDTH - PLOT["right"]
    y0, y1 = HEIGHT - PLOT["bottom"], PLOT["top"]

    def y(v: float) -> float:
        return y0 + (y1 - y0) * min(max(v, 0.0), 1.0)

    step = (x1 - x0) / max(len(shots), 1)
    spread = min(step * 0.3, 36) / max(len(series), 1)  # series side by side so error bars do not overlap

    def x(k: int, i: int) -> float:
        return x0 + step * (shots.index(k) + 0.5) + spread * (i - (len(series) - 1) / 2)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
           f'aria-label="Accuracy versus shots" font-family="sans-serif" font-size="14" id="eval-chart-svg">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):  # grid and y axis
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{x0 - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#374151">{tick:.2f}</text>')
    out.append(f'<line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" stroke="#6b7280"/>'
               f'<line x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}" stroke="#6b7280"/>')
    for k in shots:
        out.append(f'<text x="{x(k, (len(series) - 1) / 2):.1f}" y="{y0 + 18}" text-anchor="middle" '
                   f'fill="#374151">{k}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle" fill="#111827">'
               'shots (examples in the prompt)</text>')
    out.append(f'<text transform="translate(16 {(y0 + y1) / 2:.1f}) rotate(-90)" text-anchor="middle" '
               'fill="#111827">accuracy (mean ± std over draws)</text>')
    label, share = result.majority
    out.append(f'<line x1="{x0}" x2="{x1}" y1="{y(share):.1f}" y2="{y(share):.1f}" stroke="#6b7280" '
               'stroke-dasharray="6 4" stroke-width="1.5" class="baseline"/>')
    for i, (name, cells) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [(x(c.shots, i), y(c.accuracy), c) for c in sorted(cells, key=lambda c: c.shots)]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, c in points:
            lo, hi = y(c.accuracy - c.accuracy_std), y(c.accuracy + c.accuracy_std)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{lo:.1f}" y2="{hi:.1f}" stroke="{colour}"/>'
                       f'<line x1="{px - 4:.1f}" x2="{px + 4:.1f}" y1="{lo:.1f}" y2="{lo:.1f}" stroke="{colour}"/>'
                       f'<line x1="{px - 4:.1f}" x2="{px + 4:.1f}" y1="{hi:.1f}" y2="{hi:.1f}" stroke="{colour}"/>'
                       f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}" class="point">'
                       f'<title>{html.escape(name)}, {c.shots} shots: {mean_std(c.accuracy, c.accuracy_std)} '
                       f'(n={c.n}, {c.draws} draws)</title></circle>')
    legend = [(COLOURS[i % len(COLOURS)], name, "") for i, name in enumerate(series)]
    legend.append(("#6b7280", f"majority baseline {share:.0%}", "6 4"))
    for i, (colour, name, dash) in enumerate(legend):
        ly = PLOT["top"] + 10 + 22 * i
        out.append(f'<line x1="{x1 + 12}" x2="{x1 + 34}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/><text x="{x1 + 40}" y="{ly + 5}" fill="#111827" class="legend">'
                   f'{html.escape(name)}</text>')
    out.append(f'<text x="{x1 + 40}" y="{PLOT["top"] + 30 + 22 * len(series)}" fill="#6b7280" font-size="12">'
               f'(always {html.escape(label[:18])!s})</text>')
    out.append("</svg>")
    return "".join(out)


__all__ = ["POOLS", "POOL_LABELS", "best_cell", "cells_table", "chart_svg", "failures_table", "mean_std", "parse_shots",
           "per_label_table", "pool_and_rows", "rate_line", "summary", "write_csvs"]
