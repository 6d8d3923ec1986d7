"""What the window and the CLI hold on to: the session (active model, dataset, settings,
recent models: ``session``), the long jobs they run in workers (``jobs``) and thumbnails
(``thumbnails``). The top of the engine: it may import any package below.
"""
