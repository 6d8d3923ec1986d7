"""packaging/build.py's own messages (no build needed): a step that cannot go on says why in one line."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def build(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("catdog_build", REPO / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "DIST", tmp_path / "dist")
    monkeypatch.setattr(module, "FOLDER", tmp_path / "dist" / "catdog-desktop")
    return module


def test_packing_before_any_build_says_to_build_first(build, capsys):
    assert build.main(["--pack-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: there is no build in ") and "python packaging/build.py  without --pack-only" in err


def test_building_without_pyinstaller_says_how_to_get_it(build, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "PyInstaller", None)  # import PyInstaller raises ImportError
    assert build.main([]) == 2
    assert capsys.readouterr().err == 'error: PyInstaller is not installed: run  pip install -e ".[build]"  first\n'
