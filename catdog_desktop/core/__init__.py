"""The Qt-free engine, in rooms named after what the user does (docs/architecture.md has the map).

Ground modules here need nothing heavy: ``errors``, ``wording``, ``config``, ``versions``,
``fileops``, ``safe_text``. The packages, top to bottom (a package imports only those below it;
the import-linter contracts in pyproject.toml, run by tests/core/test_architecture.py, hold it):
``app`` > ``report`` > ``export`` > ``training`` > ``evaluate`` > ``heatmaps`` > ``classify`` >
``model`` > ``data`` > the ground modules. Nothing in this package imports Qt.

Package ``__init__`` files are docstrings only (no re-exports), so importing a package costs
nothing; modules that need TensorFlow or NumPy import them where they are used or at their top,
so import those only where the cost (seconds) is acceptable: in a worker or a command-line run.
"""
