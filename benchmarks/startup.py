"""The app as a user meets it: start to first HTTP 200, Run to first streamed character, memory.

Starts `python app.py`, then drives its endpoints with gradio_client (the same streaming protocol
the page uses). Baseline for streaming: a blocking call shows nothing until the whole run is done.
Memory is the app's peak resident size: idle, with the model loaded, and during an 8-row sweep
on a ~427-token prompt (8 settings decoded together).

    python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import build_prompt, free_port, peak_mb  # noqa: E402


def endpoint_values(client, name: str, changes: dict | None = None) -> list:
    """An endpoint's arguments: the page's initial values, with `changes` keyed by (widget label, n-th
    widget with that label), since several columns have widgets of the same name."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][name]["parameters"]
    values, seen = [], {}
    for p in params:
        label = p.get("label")
        n = seen[label] = seen.get(label, -1) + 1
        values.append((changes or {}).get((label, n), p.get("parameter_default")))
    return values


def first_text_and_done(client, values: list) -> tuple[float, float]:
    """Seconds from submitting Run to the first non-empty completion, and to the end of the run."""
    start, first = time.perf_counter(), None
    for outputs in client.submit(*values, api_name="/run"):
        if first is None and any(isinstance(o, str) and o for o in outputs[:6]):
            first = time.perf_counter() - start
    done = time.perf_counter() - start
    return (first if first is not None else done), done


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
        run_values = endpoint_values(client, "/run")  # the page's initial values: the default preset
        cold_first, cold_done = first_text_and_done(client, run_values)  # includes loading the model
        runs = [first_text_and_done(client, run_values) for _ in range(args.runs)]
        first = statistics.median(r[0] for r in runs)
        done = statistics.median(r[1] for r in runs)
        rss_loaded = peak_mb(app.pid)

        from fewshot.backends.local import LocalBackend

        local = LocalBackend()
        prompt = build_prompt(local)[0].render()
        n_prompt = local.count_tokens(prompt)
        sweep = endpoint_values(client, "/sweep", {  # the raw prompt; 8 temperatures, 1 sample each
            ("Edit raw prompt", 0): True, ("Prompt preview", 0): prompt, ("Setting", 0): "temperature",
            ("Values (comma-separated)", 0): "0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4", ("Samples per value", 0): 1,
            ("Max new tokens", 0): 32, ("End sequence", 0): "###",
        })
        outputs = client.predict(*sweep, api_name="/sweep")
        if "8/8 done" not in str(outputs[-1]):
            sys.exit(f"the sweep did not run its 8 rows: {outputs[-1]}")
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
          f"{rss_sweep:.0f} MB after an 8-row sweep on a {n_prompt}-token prompt (goal <= 600 MB)")


if __name__ == "__main__":
    main()
