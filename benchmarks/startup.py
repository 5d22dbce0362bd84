"""The app as a user meets it: start to first HTTP 200, Run to first streamed character, memory.

Starts `python app.py`, then calls its public API (`run`, with a preset as JSON) through
gradio_client: the same streaming protocol the page uses. Baseline for streaming: a blocking call
shows nothing until the whole run is done. Memory is the app's peak resident size: idle, with the
model loaded, and after an 8-row run on a ~427-token prompt (one column sampled 8 times, decoded
together).

    python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import build_prompt, free_port, peak_mb, preset_json  # noqa: E402
from fewshot import presets  # noqa: E402


def first_text_and_done(client, preset: dict) -> tuple[float, float, list]:
    """Seconds from submitting `run` to the first non-empty completion, and to the end of the run; the
    last completions."""
    start, first, last = time.perf_counter(), None, []
    for last in client.submit(preset=preset, query="", api_name="/run"):
        if first is None and any(c["text"] for c in last):
            first = time.perf_counter() - start
    done = time.perf_counter() - start
    return (first if first is not None else done), done, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if app.poll() is not None:
                    sys.exit("the app exited before serving")
                time.sleep(0.05)
        startup = time.perf_counter() - start
        rss_idle = peak_mb(app.pid)

        from gradio_client import Client

        client = Client(url, verbose=False)
        default = json.loads((ROOT / "presets" / f"{presets.DEFAULT_PRESET}.json").read_text())
        cold_first, cold_done, _ = first_text_and_done(client, default)  # includes loading the model
        runs = [first_text_and_done(client, default) for _ in range(args.runs)]
        first = statistics.median(r[0] for r in runs)
        done = statistics.median(r[1] for r in runs)
        rss_loaded = peak_mb(app.pid)

        from fewshot.backends.local import LocalBackend

        local = LocalBackend()
        prompt = build_prompt(local)[0]
        n_prompt = local.count_tokens(prompt.render())
        # 8 rows decoded together: one column sampled 8 times (a preset holds at most 6 columns).
        eight = preset_json(prompt, [{"temperature": 0.8, "max_new_tokens": 32, "end_sequence": ["###"]}], samples=8)
        _, _, outputs = first_text_and_done(client, eight)
        if len(outputs) != 8 or not all(c["done"] and not c["error"] for c in outputs):
            sys.exit(f"the run did not finish its 8 rows: {outputs}")
        rss_sweep = peak_mb(app.pid)
    finally:
        app.terminate()
        app.wait(timeout=20)

    print(f"app start -> first HTTP 200:            {startup:6.2f} s")
    print(f"first Run (loads the model): first character {cold_first:.2f} s, done {cold_done:.2f} s")
    print(f"Run -> first streamed character:        {first:6.3f} s  (median of {args.runs}; 3 columns, default preset)")
    print(f"Run -> whole run done (blocking call):  {done:6.3f} s")
    print(f"streaming shows text {done / first:.1f}x sooner than a blocking call")
    print(f"peak memory of the app: {rss_idle:.0f} MB idle, {rss_loaded:.0f} MB with the model loaded, "
          f"{rss_sweep:.0f} MB after an 8-row run on a {n_prompt}-token prompt (goal <= 600 MB)")


if __name__ == "__main__":
    main()
