"""Only the UI imports gradio: nothing outside fewshot/ui/ and app.py does, directly or through a dependency."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

UI = ROOT / "fewshot" / "ui"
ALLOWED = {ROOT / "app.py"}


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def project_files() -> list[Path]:
    skip = {".venv", ".git", "__pycache__", "artifacts"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_nothing_outside_the_ui_imports_gradio():
    checked = 0
    for path in project_files():
        if path in ALLOWED or UI in path.parents:
            continue
        checked += 1
        assert not any(n.split(".")[0] == "gradio" for n in imported_modules(path)), f"{path} imports gradio"
    assert checked > 20  # the library, the tests and the benchmarks were all looked at


def test_the_ui_and_app_do_import_gradio():
    """The check above looks at the right names: the files that must use gradio are seen to."""
    assert "gradio" in imported_modules(UI / "page.py")
    assert "fewshot.ui" in imported_modules(ROOT / "app.py")


def test_importing_every_library_module_leaves_gradio_unloaded():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "fewshot").rglob("*.py")
        if p.name != "__main__.py" and UI not in p.parents
    )
    assert "fewshot.space" in modules and "fewshot.presets" in modules
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
