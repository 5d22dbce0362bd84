"""The library stays UI-free: nothing under fewshot/ imports gradio, directly or through a dependency."""

import ast
import subprocess
import sys

from tests.conftest import ROOT


def test_no_library_module_imports_gradio():
    for path in (ROOT / "fewshot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            assert not any(n.split(".")[0] == "gradio" for n in names), f"{path} imports gradio"


def test_importing_every_library_module_leaves_gradio_unloaded():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "fewshot").rglob("*.py")
        if p.name != "__main__.py"
    )
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
