"""Build the app that needs no Python: a PyInstaller one-folder build, a tarball and a .deb.

    pip install -e ".[build]"
    python packaging/build.py                 # dist/catdog-desktop/, its .tar.gz and its .deb
    python packaging/build.py --pack-only     # pack dist/catdog-desktop/ again (after a build)
    python packaging/build.py --compress xz   # the tarball as .tar.xz (or zst) instead

Everything lands in dist/ (never committed). Measurements and choices: docs/packaging.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's catdog_desktop, not an installed one

from catdog_desktop import __version__  # noqa: E402
from catdog_desktop.desktop_entry import render_entry  # noqa: E402

APP = "catdog-desktop"
DIST = REPO / "dist"
WORK = REPO / "build"
FOLDER = DIST / APP
INSTALL_DIR = f"/opt/{APP}"
#: System libraries the frozen Qt needs that a bare Debian/Ubuntu may lack (the xcb platform
#: plugin's, OpenGL/EGL's and fontconfig's), as the .deb declares them.
DEB_DEPENDS = ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0", "libegl1", "libgl1",
               "libfontconfig1", "libdbus-1-3", "libglib2.0-0"]
#: tar's compression flags per suffix (gzip is the default: the name the download page promises).
COMPRESSORS = {"gz": ["-I", "gzip -6"], "xz": ["-I", "xz -6 -T0"], "zst": ["-I", "zstd -19 -T0"]}


class BuildError(Exception):
    """A step that cannot go on, said in one sentence."""


def freeze() -> None:
    """Run PyInstaller on packaging/catdog-desktop.spec into dist/catdog-desktop/."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise BuildError('PyInstaller is not installed: run  pip install -e ".[build]"  first') from None
    env = {**os.environ, "CATDOG_REPO": str(REPO), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(DIST), "--workpath", str(WORK), str(REPO / "packaging" / f"{APP}.spec")]
    if subprocess.run(command, env=env, cwd=REPO).returncode != 0:
        raise BuildError("PyInstaller failed (its messages are above)")
    sys.path.insert(0, str(REPO / "packaging"))
    from bundle import STRIPPED

    if shutil.which("strip"):
        for relative in STRIPPED:
            subprocess.run(["strip", "--strip-unneeded", str(FOLDER / "_internal" / relative)], check=True)


def tarball(compress: str = "gz") -> Path:
    """Pack dist/catdog-desktop/ as catdog-desktop-VERSION-linux-x86_64.tar.<compress>."""
    out = DIST / f"{APP}-{__version__}-linux-x86_64.tar.{compress}"
    tmp = out.with_name(out.name + ".part")
    subprocess.run(["tar", *COMPRESSORS[compress], "-cf", str(tmp), "-C", str(DIST), APP], check=True)
    os.replace(tmp, out)
    return out


def deb_control(installed_kib: int) -> str:
    return (f"Package: {APP}\nVersion: {__version__}\nSection: science\nPriority: optional\n"
            f"Architecture: amd64\nInstalled-Size: {installed_kib}\n"
            f"Depends: {', '.join(DEB_DEPENDS)}\n"
            f"Maintainer: catdog-desktop developers <catdog-desktop@localhost>\n"
            "Description: train an image classifier on your own folders of pictures\n"
            " Train an image classifier on your own folders of pictures, on your own computer,\n"
            " and use it. Self-contained: TensorFlow and Qt are inside /opt/catdog-desktop.\n")


def deb() -> Path:
    """Pack dist/catdog-desktop/ as a .deb: the folder in /opt, launchers in /usr/bin, the menu
    entry (rendered by catdog_desktop.desktop_entry, as --install-desktop-entry does), icons and
    the model file type."""
    stage = WORK / "deb"
    shutil.rmtree(stage, ignore_errors=True)
    opt = stage / INSTALL_DIR.lstrip("/")
    opt.parent.mkdir(parents=True)
    shutil.copytree(FOLDER, opt, symlinks=True, copy_function=os.link)  # hard links: no second GB
    resources = FOLDER / "_internal" / "catdog_desktop" / "resources"
    share = stage / "usr" / "share"
    placed = {
        "icons/hicolor/256x256/apps/catdog-desktop.png": resources / "catdog-desktop-256.png",
        "icons/hicolor/scalable/apps/catdog-desktop.svg": resources / "catdog-desktop.svg",
        "mime/packages/catdog-desktop.xml": resources / "catdog-desktop-mime.xml",
    }
    for relative, source in placed.items():
        (share / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, share / relative)
    (share / "applications").mkdir(parents=True, exist_ok=True)
    (share / "applications" / f"{APP}.desktop").write_text(
        render_entry([f"{INSTALL_DIR}/{APP}"], APP), encoding="utf-8")
    bin_dir = stage / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    for name in (APP, f"{APP}-cli"):
        (bin_dir / name).symlink_to(f"{INSTALL_DIR}/{name}")
    size_kib = sum(p.lstat().st_size for p in stage.rglob("*")) // 1024
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN" / "control").write_text(deb_control(size_kib), encoding="utf-8")
    out = DIST / f"{APP}_{__version__}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(stage), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--pack-only", action="store_true", help="pack an existing dist/catdog-desktop/")
    parser.add_argument("--compress", choices=sorted(COMPRESSORS), default="gz", help="the tarball's compression")
    parser.add_argument("--no-deb", action="store_true", help="skip the .deb (no dpkg-deb on this system)")
    args = parser.parse_args(argv)
    try:
        if not args.pack_only:
            started = time.monotonic()
            freeze()
            print(f"built {FOLDER} in {time.monotonic() - started:.0f} s")
        if not (FOLDER / APP).is_file():
            raise BuildError(f"there is no build in {FOLDER}: run  python packaging/build.py  without --pack-only")
        started = time.monotonic()
        print(f"packed {tarball(args.compress)} in {time.monotonic() - started:.0f} s")
        if not args.no_deb:
            if shutil.which("dpkg-deb") is None:
                raise BuildError("dpkg-deb is missing (Debian/Ubuntu only): add --no-deb to skip the .deb")
            started = time.monotonic()
            print(f"packed {deb()} in {time.monotonic() - started:.0f} s")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
