"""App start to first HTTP 200, Run to first streamed character, and peak memory of the app.

Starts `python app.py` as a user would, then drives its /run endpoint with gradio_client (the
same streaming protocol the page uses) on the default preset. The baseline for streaming is the
blog's way: a blocking call shows nothing until the whole completion is done.

    python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def first_text_and_done(client) -> tuple[float, float]:
    """Seconds from submitting Run to the first non-empty completion, and to the end of the run."""
    # The page's initial values: the default preset (seeds are empty, i.e. None).
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/run"]["parameters"]
    values = [p.get("parameter_default") for p in params]
    start = time.perf_counter()
    first = None
    job = client.submit(*values, api_name="/run")
    for outputs in job:
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
        rss_idle = peak_rss_mb(app.pid)

        from gradio_client import Client

        client = Client(url, verbose=False)
        cold_first, cold_done = first_text_and_done(client)  # includes loading the model
        runs = [first_text_and_done(client) for _ in range(args.runs)]
        first = statistics.median(r[0] for r in runs)
        done = statistics.median(r[1] for r in runs)
        rss_peak = peak_rss_mb(app.pid)
    finally:
        app.terminate()
        app.wait(timeout=20)

    print(f"app start -> first HTTP 200:           {startup:6.2f} s")
    print(f"first Run (loads the model): first character {cold_first:.2f} s, done {cold_done:.2f} s")
    print(f"Run -> first streamed character:        {first:6.3f} s  (median of {args.runs})")
    print(f"Run -> whole run done (blocking call):  {done:6.3f} s")
    print(f"streaming shows text {done / first:.1f}x sooner than a blocking call")
    print(f"peak memory: {rss_idle:.0f} MB before the first run, {rss_peak:.0f} MB with the model loaded")


if __name__ == "__main__":
    main()
