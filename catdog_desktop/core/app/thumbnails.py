"""Thumbnails asked for while a gallery scrolls: a thread-safe request list, newest first.

A gallery asks for the thumbnail of each picture as it comes into view; a worker
(:func:`.jobs.make_thumbnails`) takes the newest requests first, so the pictures on screen are
made before those scrolled past. No Qt here.
"""

from __future__ import annotations

import threading


class ThumbnailRequests:
    """Paths waiting for a thumbnail. ``put`` from any thread; ``take`` from the worker."""

    def __init__(self) -> None:
        self._wanted: dict[str, None] = {}   # insertion-ordered: the newest request is last
        self._lock = threading.Condition()

    def put(self, path: str) -> None:
        with self._lock:
            self._wanted.pop(path, None)
            self._wanted[path] = None        # asked again: move to the front of the queue
            self._lock.notify()

    def clear(self) -> None:
        """Forget every waiting request (the gallery shows other pictures now)."""
        with self._lock:
            self._wanted.clear()

    def take(self, count: int, timeout: float) -> list[str]:
        """Up to ``count`` paths, newest request first; [] if none came within ``timeout`` seconds."""
        with self._lock:
            if not self._wanted:
                self._lock.wait(timeout)
            taken = list(self._wanted)[-count:][::-1]
            for path in taken:
                del self._wanted[path]
            return taken

    def __len__(self) -> int:
        with self._lock:
            return len(self._wanted)
