"""The heavy, parallel part on a Dask cluster: the backbone's features and classifying folders.

Both are independent per picture, so they are cut into tasks of a few hundred pictures that
Dask's scheduler deals to its workers (:mod:`.jobs`, on the client); each worker loads the model
once and keeps it (:mod:`.tasks`). The client writes every result: features into the same
content-keyed cache a training reads (:mod:`core.model.features`), predictions into a resumable
journal and then the usual CSV and sort, so a killed worker costs only its unfinished tasks and an
interrupted run started again skips what is done. :mod:`.connect` starts a local cluster or joins
a scheduler and checks that every worker computes what this computer would.

Dask is an optional extra (``pip install "catdog-desktop[cluster]"``); nothing here is imported by
the desktop app. docs/cluster.md says how to run it on SLURM or a set of machines.
"""
