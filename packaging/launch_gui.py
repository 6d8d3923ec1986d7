"""The frozen app's window launcher (PyInstaller's script for the ``catdog-desktop`` executable)."""

import sys

from catdog_desktop.app import main

sys.exit(main())
