"""The engine's floors (issue 23), enforced rather than remembered: the import-linter contracts in
pyproject.toml (no Qt under core; core packages import only downward; no import circle between
sibling modules or packages anywhere in catdog_desktop) hold, and the rooms stay small."""

import subprocess
import sys
from pathlib import Path

import catdog_desktop

ROOT = Path(catdog_desktop.__file__).resolve().parents[1]
CORE = Path(catdog_desktop.__file__).parent / "core"


def test_the_import_contracts_hold():
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "3 kept, 0 broken" in run.stdout


def test_every_core_folder_is_a_room_of_about_a_dozen_files_with_a_map():
    folders = [CORE, *sorted(p for p in CORE.iterdir() if p.is_dir() and not p.name.startswith("__"))]
    for folder in folders:
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= 12, (folder.name, len(modules))
        init = folder / "__init__.py"
        assert init.exists(), folder
        body = [node for node in __import__("ast").parse(init.read_text()).body]
        # A docstring only: no re-exports, so importing a package costs nothing.
        assert len(body) == 1 and isinstance(body[0].value.value, str), folder
