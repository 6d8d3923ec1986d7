"""python -m catdog_desktop: the same as the catdog-desktop launcher."""

import sys

from catdog_desktop.app import main

sys.exit(main())
