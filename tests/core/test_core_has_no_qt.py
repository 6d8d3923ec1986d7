"""The engine must stay usable without Qt (CLI, other front ends, tests without a display)."""

import ast
import subprocess
import sys
from pathlib import Path

import catdog_desktop

CORE = Path(catdog_desktop.__file__).parent / "core"
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy", "matplotlib.backends.backend_qt")


def test_no_core_module_imports_qt():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(QT_MODULES)]
    assert offenders == []


def test_importing_every_core_module_loads_no_qt():
    modules = sorted(".".join(("catdog_desktop", "core", *p.relative_to(CORE).with_suffix("").parts))
                     for p in CORE.rglob("*.py") if p.stem != "__init__")
    assert {"catdog_desktop.core.training.train", "catdog_desktop.core.model.network", "catdog_desktop.core.errors"} <= set(modules)
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        "import catdog_desktop.cli\n"
        f"print([m for m in sys.modules if m.startswith({QT_MODULES!r})])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
