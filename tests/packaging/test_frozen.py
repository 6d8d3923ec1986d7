"""Smoke test of the self-contained build (issue 26), as a person who has no Python would use it.

    python packaging/build.py && python -m pytest -n0 tests/packaging

Runs on the unpacked tarball (dist/catdog-desktop-*-linux-x86_64.tar.gz; CATDOG_FROZEN_TARBALL
names another), with a clean HOME and a PATH without Python. Skipped, and says so, when there is
no build: a clean clone's test run costs nothing here. Qt runs offscreen (no X server on CI):
"the window was shown" is the app's own debug line, logged from the window's first showEvent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = "catdog-desktop"


def _tarball() -> Path | None:
    named = os.environ.get("CATDOG_FROZEN_TARBALL")
    if named:
        return Path(named)
    found = sorted((REPO / "dist").glob(f"{APP}-*-linux-x86_64.tar.*"))
    return found[-1] if found else None


TARBALL = _tarball()
pytestmark = pytest.mark.skipif(TARBALL is None or not TARBALL.is_file(),
                                reason="no frozen build: run `python packaging/build.py` first (it makes "
                                       "dist/catdog-desktop-VERSION-linux-x86_64.tar.gz)")


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(TARBALL) as tar:
        tar.extractall(root, filter="tar")
    return root / APP


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def env(home, tmp_path_factory) -> dict:
    """What a fresh user's session gives the app: a new HOME, no Python on PATH, offscreen Qt."""
    bare_bin = tmp_path_factory.mktemp("bin")  # nothing in it: no python, no pip
    kept = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ") if k in os.environ}
    return {**kept, "HOME": str(home), "PATH": str(bare_bin), "QT_QPA_PLATFORM": "offscreen",
            "TMPDIR": str(tmp_path_factory.mktemp("tmp"))}


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_no_python_is_on_the_path_given_to_the_app(env):
    assert shutil.which("python3", path=env["PATH"]) is None and shutil.which("python", path=env["PATH"]) is None


def test_the_window_shows(unpacked, env):
    """The window executable starts and shows its main window, then TensorFlow loads in it."""
    proc = subprocess.Popen([str(unpacked / APP), "--debug"], env=env, stderr=subprocess.PIPE, text=True)
    seen, done = [], threading.Event()

    def read():
        for line in proc.stderr:
            seen.append(line)
            if "TensorFlow ready" in line or "warm-up:" in line:  # loaded, or the warm-up job failed
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        done.wait(600)
    finally:
        proc.terminate()
        proc.wait(30)
    text = "".join(seen)
    assert "main window shown" in text and "TensorFlow ready" in text, text[-3000:]


def test_the_built_in_model_classifies_a_sample_photo(unpacked, env):
    resources = unpacked / "_internal" / "catdog_desktop" / "resources"
    photo = sorted((resources / "sample" / "dogs").iterdir())[0]
    proc = subprocess.run([str(unpacked / f"{APP}-cli"), "--json", "predict", str(resources / "default-model.keras"),
                           str(photo)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (prediction,) = json.loads(proc.stdout)["predictions"]
    assert prediction["class"] == "dogs", prediction


def test_a_training_on_the_sample_dataset_finishes_and_saves_in_its_child_process(unpacked, env, home):
    """The app's way (a spawned child process: the frozen executable started again, which
    freeze_support turns into the child), on the bundled sample dataset; nothing is written into
    the app's folder (settings and caches go under HOME, as with pip)."""
    before = _files(unpacked)
    sample = unpacked / "_internal" / "catdog_desktop" / "resources" / "sample"
    out = home / "models" / "sample.keras"
    out.parent.mkdir()
    proc = subprocess.run([str(unpacked / f"{APP}-cli"), "--json", "train", str(sample), "--out", str(out),
                           "--isolated", "--preset", "quick", "--epochs", "1", "--image-size", "96",
                           "--no-fine-tune"], env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert out.is_file() and result["model"] == str(out) and result["evaluation"]["accuracy"] >= 0.7
    assert _files(unpacked) == before


def _deb() -> Path | None:
    found = sorted((REPO / "dist").glob(f"{APP}_*_amd64.deb"))
    return found[-1] if found else None


@pytest.mark.skipif(_deb() is None or shutil.which("dpkg") is None,
                    reason="no .deb (run `python packaging/build.py` on Debian/Ubuntu, with dpkg-deb)")
def test_the_deb_installs_and_uninstalls_cleanly_in_a_throwaway_root(tmp_path):
    """dpkg -i / -r into a folder of its own (--instdir, --admindir): this machine is untouched.
    The folder has no libraries installed, hence --force-depends; the Depends line is checked as text."""
    root, admin = tmp_path / "root", tmp_path / "root" / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").touch()
    dpkg = ["dpkg", f"--instdir={root}", f"--admindir={admin}", "--force-not-root", "--force-depends",
            "--force-script-chrootless"]
    fields = subprocess.run(["dpkg-deb", "--field", str(_deb()), "Depends"], capture_output=True, text=True,
                            check=True).stdout
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1"} <= {d.strip() for d in fields.split(",")}

    installed = subprocess.run([*dpkg, "-i", str(_deb())], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert (root / "opt" / APP / APP).is_file() and (root / "opt" / APP / f"{APP}-cli").is_file()
    assert os.readlink(root / "usr" / "bin" / APP) == f"/opt/{APP}/{APP}"
    entry = root / "usr" / "share" / "applications" / f"{APP}.desktop"
    assert f"Exec=/opt/{APP}/{APP} %F" in entry.read_text() and "Icon=catdog-desktop" in entry.read_text()
    assert (root / "usr" / "share" / "icons" / "hicolor" / "256x256" / "apps" / f"{APP}.png").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout + check.stderr == "", check.stdout + check.stderr

    removed = subprocess.run([*dpkg, "-r", APP], capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    left = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and admin not in p.parents]
    assert not (root / "opt" / APP).exists() and left == [], left
