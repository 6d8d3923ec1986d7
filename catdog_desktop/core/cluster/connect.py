"""Reaching a Dask cluster, and making sure its workers compute what this computer would.

``--cluster`` takes ``local`` (one single-threaded worker process per core, loopback only),
``local:N`` (N workers), a scheduler's address (``tcp://host:8786``, ``host:8786``, ``tls://...``)
or the scheduler file a SLURM job wrote (``dask scheduler --scheduler-file FILE.json``;
docs/cluster.md). Every worker must run the same catdog-desktop and the same numerical libraries
as the client: features computed with another TensorFlow or backbone would sit in the cache as if
they were this computer's, so a mismatch stops the job before any task runs, naming the worker.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from importlib import metadata

from ..errors import ClusterError, first_line
from ..model.engine import THREADS_ENV
from ..versions import library_versions

log = logging.getLogger(__name__)

#: Seconds to wait for the scheduler to answer.
CONNECT_SECONDS = 10
#: Seconds to wait for a first worker (a batch system may start them after the scheduler).
WORKER_WAIT_SECONDS = 60
#: What must be equal on every worker: what the features and probabilities depend on (and
#: catdog-desktop itself, whose tasks the workers run). Dask checks its own packages itself.
MUST_MATCH = ("catdog-desktop", "python", "tensorflow", "keras", "numpy", "pillow", "onnxruntime", "tf2onnx")
#: What a local cluster's workers are told, before TensorFlow starts in them: one core each.
SINGLE_THREADED = {THREADS_ENV: "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                   "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
INSTALL = 'pip install "catdog-desktop[cluster]"'


def need_dask():
    """The ``distributed`` module, or a sentence saying how to install it."""
    try:
        import distributed
    except ImportError:
        if getattr(sys, "frozen", False):
            raise ClusterError("--cluster needs Dask, which the downloadable app does not include: install "
                               f"catdog-desktop with pip ({INSTALL}) on the machines of a cluster.") from None
        raise ClusterError(f"--cluster needs Dask, which this installation does not have: {INSTALL}.") from None
    return distributed


def versions() -> dict[str, str | None]:
    """The versions :data:`MUST_MATCH` compares, of this process (run on each worker too)."""
    found = library_versions()
    found["python"] = ".".join(found["python"].split(".")[:2])  # 3.12.1 and 3.12.4 exchange tasks fine
    for name in ("onnxruntime", "tf2onnx"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return {name: found.get(name) for name in MUST_MATCH}


def parse(spec: str) -> tuple[str, int | None]:
    """("local", workers or None for one per core) or ("address", None) / ("file", None)."""
    text = spec.strip()
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2]
        if not count:
            return "local", None
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"--cluster {spec}: give local, local:N with N a number of workers (e.g. local:2), "
                               "or a scheduler's address (tcp://host:8786).")
        return "local", int(count)
    if text.endswith(".json"):
        if not os.path.isfile(os.path.expanduser(text)):
            raise ClusterError(f"--cluster {spec}: there is no scheduler file there (dask scheduler "
                               "--scheduler-file writes it when the scheduler starts).")
        return "file", None
    if not text or " " in text:
        raise ClusterError(f"--cluster {spec!r}: give local, local:N or a scheduler's address (tcp://host:8786).")
    return "address", None


@dataclass
class Cluster:
    """A connected client (and the local cluster it started, closed with it)."""

    client: object
    local: object | None
    where: str

    @property
    def workers(self) -> dict[str, int]:
        """{worker address: threads} now."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {address: int(worker.get("nthreads", 1)) for address, worker in info.items()}

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.local is not None:
                self.local.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def connect(spec: str, timeout: float = CONNECT_SECONDS, worker_wait: float = WORKER_WAIT_SECONDS,
            expected: dict | None = None) -> Cluster:
    """Start or join the cluster ``spec`` names (:func:`parse`), wait for a worker and check every
    worker's versions against this computer's (``expected``: those to demand instead, for tests).
    Raises :class:`ClusterError` with one sentence; nothing is left running then."""
    kind, count = parse(spec)
    distributed = need_dask()
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # A local cluster's scheduler runs in this process: its INFO lines are not the user's business
        # (--debug shows them).
        logging.getLogger("distributed").setLevel(logging.ERROR)
    local = None
    try:
        if kind == "local":
            workers = count or os.cpu_count() or 1
            local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address=None,
                                             silence_logs=logging.ERROR, env=dict(SINGLE_THREADED))
            client = distributed.Client(local, timeout=timeout)
            where = f"a local cluster of {workers} worker{'s' if workers != 1 else ''}"
        elif kind == "file":
            client = distributed.Client(scheduler_file=os.path.expanduser(spec.strip()), timeout=timeout)
            where = f"the scheduler of {spec.strip()}"
        else:
            address = spec.strip() if "://" in spec else f"tcp://{spec.strip()}"
            client, where = distributed.Client(address, timeout=timeout), f"the scheduler at {address}"
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError: all "not reachable"
        if local is not None:
            local.close()
        if kind == "local":
            raise ClusterError(f"Could not start a local Dask cluster ({spec.strip()}): {first_line(exc)}.") from None
        raise ClusterError(f"Could not reach the Dask scheduler ({spec.strip()}) within {timeout:g} s: "
                           f"{first_line(exc).rstrip('.')}. Is it running (dask scheduler), and is its port open "
                           "to this computer?") from None
    cluster = Cluster(client, local, where)
    try:
        try:
            client.wait_for_workers(1, timeout=worker_wait)
        except Exception:  # noqa: BLE001 - a TimeoutError of Dask's
            if local is not None:
                raise ClusterError(f"The workers of {where} did not start within {worker_wait:g} s.") from None
            raise ClusterError(f"{where} has no workers (waited {worker_wait:g} s): start some with "
                               f"dask worker {client.scheduler.address}.") from None
        check_workers(cluster, expected)
    except BaseException:
        cluster.close()
        raise
    log.info("connected to %s: %s", where, cluster.workers)
    return cluster


def check_workers(cluster: Cluster, expected: dict | None = None) -> None:
    """Raise :class:`ClusterError` naming the first worker that cannot run our tasks or whose
    :func:`versions` differ from ``expected`` (default: this computer's)."""
    mine = expected or versions()
    try:
        theirs = cluster.client.run(versions, on_error="return")
    except Exception as exc:  # noqa: BLE001 - the function could not even be sent
        raise ClusterError(f"The workers of {cluster.where} cannot run catdog-desktop's tasks "
                           f"({first_line(exc)}): install it on each one ({INSTALL}).") from None
    for worker, found in sorted(theirs.items()):
        if isinstance(found, BaseException):
            raise ClusterError(f"Worker {worker} cannot run catdog-desktop's tasks ({first_line(found)}): install "
                               f"the same catdog-desktop there ({INSTALL}).")
        problem = mismatch(worker, found, mine)
        if problem:
            raise ClusterError(problem)


def mismatch(worker: str, found: dict, mine: dict) -> str | None:
    """The sentence saying how ``worker``'s :func:`versions` (``found``) differ from the client's, or None."""
    for name in MUST_MATCH:
        if found.get(name) != mine.get(name):
            return (f"Worker {worker} has {name} {found.get(name) or 'none'}, this computer {mine.get(name) or 'none'}: "
                    "its results could differ from this computer's. Install the same versions on every machine "
                    "(docs/cluster.md).")
    return None
