"""Install the launcher in the user's applications menu (freedesktop: Linux desktops).

    catdog-desktop --install-desktop-entry

Writes ~/.local/share/applications/catdog-desktop.desktop (Exec points at this installation's
launcher), the icon in ~/.local/share/icons/hicolor/<size>/apps/ and the model file type
(:data:`MODEL_MIME_TYPE`, ``*.keras``) in ~/.local/share/mime/packages/. The entry declares pictures
and models only: a folder type (inode/directory) would offer the app for every folder. No Qt needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .paths import RESOURCES

ENTRY_NAME = "catdog-desktop.desktop"
MIME_PACKAGE = "catdog-desktop-mime.xml"
#: Our model files' type, declared by the entry and defined by :data:`MIME_PACKAGE`.
MODEL_MIME_TYPE = "application/x-catdog-keras-model"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher_command() -> list[str]:
    """The command that starts this installation's app (absolute when it can be found)."""
    if getattr(sys, "frozen", False):  # the self-contained build: its window executable is this one
        return [sys.executable]
    found = shutil.which("catdog-desktop")
    return [found] if found else [sys.executable, "-m", "catdog_desktop"]


def _quote(arg: str) -> str:
    """Quote an Exec argument as the Desktop Entry Specification asks."""
    if not any(c in arg for c in ' \t"\'\\><~|&;$*?#()`'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


def render_entry(command: list[str], icon: str) -> str:
    template = (RESOURCES / ENTRY_NAME).read_text(encoding="utf-8")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + " ".join(_quote(a) for a in command) + " %F"
        elif line.startswith("Icon="):
            line = f"Icon={icon}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def install(root: Path | None = None) -> Path:
    """Write the .desktop entry and icon below ``root`` (default: $XDG_DATA_HOME); return the entry path."""
    root = root or data_home()
    icon_dir = root / "icons" / "hicolor" / "256x256" / "apps"
    icon_dir.mkdir(parents=True, exist_ok=True)
    icon = icon_dir / "catdog-desktop.png"
    shutil.copyfile(RESOURCES / "catdog-desktop-256.png", icon)
    scalable = root / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RESOURCES / "catdog-desktop.svg", scalable / "catdog-desktop.svg")
    mime = root / "mime"
    (mime / "packages").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RESOURCES / MIME_PACKAGE, mime / "packages" / "catdog-desktop.xml")
    if shutil.which("update-mime-database"):  # else the desktop reads the package at its next update
        subprocess.run(["update-mime-database", str(mime)], capture_output=True, check=False)
    apps = root / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    entry = apps / ENTRY_NAME
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(render_entry(launcher_command(), str(icon)), encoding="utf-8")
    os.replace(tmp, entry)
    return entry
