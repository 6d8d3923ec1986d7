"""The frozen app's command line (PyInstaller's script for the ``catdog-desktop-cli`` executable)."""

import sys

from catdog_desktop.cli import main

sys.exit(main())
