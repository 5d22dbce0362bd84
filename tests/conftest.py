"""Shared fixtures: the real embedded model, the app in a subprocess, and headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
DATA = ROOT.parent / "shared" / "data"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Poll until `url` answers 200; fail early (with the log) if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start_app(port: int, log: Path, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", **env}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=environment,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="session")
def local_backend():
    from fewshot.backends.local import LocalBackend

    return LocalBackend()


def serving(proc: subprocess.Popen, url: str, ready: str) -> Iterator[str]:
    """Yield `url` once `ready` answers 200; stop the server afterwards."""
    try:
        wait_for_http(ready, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def serve_app(log_name: str, presets_dir: Path, **env: str) -> Iterator[str]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_app(port, ARTIFACTS / log_name, FEWSHOT_PRESETS_DIR=str(presets_dir), **env)
    url = f"http://127.0.0.1:{port}/"
    yield from serving(proc, url, url)


@pytest.fixture(scope="session")
def app_presets_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("user_presets")


@pytest.fixture(scope="session")
def app_flag_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flagged")


@pytest.fixture(scope="session")
def app_url(app_presets_dir, app_flag_dir) -> Iterator[str]:
    """The app, started as `python app.py`, saving presets and feedback in temporary folders."""
    yield from serve_app("app.log", app_presets_dir, FEWSHOT_FLAG_DIR=str(app_flag_dir))


@pytest.fixture(scope="module")
def client(app_url):
    """A gradio_client Client on the app: the public API as a script sees it."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def space_app_url(tmp_path_factory) -> Iterator[str]:
    """The app as it runs on a Hugging Face Space (SPACE_ID set, listening on every interface)."""
    yield from serve_app("space_app.log", tmp_path_factory.mktemp("space_presets"), SPACE_ID="fewshot/playground",
                         GRADIO_SERVER_NAME="0.0.0.0")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1100})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def replay():
    from tests.replay_server import ReplayServer

    with ReplayServer() as server:
        yield server


@pytest.fixture(scope="session")
def llama_server(local_backend) -> Iterator[str]:
    """A real OpenAI-compatible server: llama-cpp-python's, serving the embedded model on 127.0.0.1."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    threads = str(os.cpu_count() or 1)
    log = (ARTIFACTS / "llama_server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(local_backend.path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", threads, "--n_threads_batch", threads,
         "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    yield from serving(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/v1/models")
