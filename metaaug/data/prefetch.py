"""Run a producer (task sampling, decoding, augmentation) in a background thread ahead of its consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class Prefetcher(Generic[T]):
    """Iterate over ``source`` with up to ``depth`` items made ahead in a background thread.

    The items and their order are exactly those of ``source``; only the time
    at which they are made changes, so training on a prefetched stream gives
    the same result as on the plain one. An exception in ``source`` is raised
    in the consumer at the item where it happened. :meth:`close` (or leaving
    a ``with`` block) stops the thread; it is a daemon thread, so an abandoned
    prefetcher never keeps the interpreter alive.

    Parameters
    ----------
    source : iterator
        What to run ahead, e.g. a stream of meta-batches from a sampler.
    depth : int, default 1
        Items kept ready (each can be large: a chunk of tasks).
    """

    def __init__(self, source: Iterator[T], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), name="metaaug-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.005)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[T]) -> None:
        try:
            while not self._stop.is_set():
                item = next(source, _DONE)
                if not self._put(item) or item is _DONE:
                    return
        except BaseException as err:  # handed to the consumer, raised there
            self._put(err)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        item = self._queue.get()
        if item is _DONE:
            self._queue.put(_DONE)  # later calls end too
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self, timeout: float = 60.0) -> None:
        """Stop the background thread and wait (up to ``timeout`` s) for the item it is making, if any.

        Waiting matters: a producer still running after its consumer returned
        would compete for the CPU and could draw from torch's global RNG.
        """
        self._stop.set()
        self._thread.join(timeout=timeout)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
