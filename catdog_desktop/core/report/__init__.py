"""The shareable HTML report about a model: ``collect`` gathers what it shows (in a worker),
``values`` reads the model's recorded values safely, ``figures`` draws the PNGs and ``html``
renders the self-contained page and writes it atomically.

Rule: imports ``core.export`` and below only.
"""
