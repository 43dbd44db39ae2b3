"""Where cells run: ``local`` (in this process), ``processes:N`` (N worker processes on this machine, the
default with one per core), ``dask://HOST:PORT`` (an existing Dask distributed scheduler) or
``dask-local:N`` (a Dask LocalCluster of N single-threaded worker processes on loopback). The driver
(:mod:`bench.driver`) sees each as a :class:`Pool`; Dask is an optional extra (``pip install -e ".[dask]"``)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from typing import Any, Callable, Iterable, Iterator

from registry import BenchError

FORMS = "local, processes:N, dask://HOST:PORT or dask-local:N"
#: How often Dask reschedules a task whose worker died before giving up on it.
DASK_ALLOWED_FAILURES = 3
#: How often a worker process of ``processes:N`` looks whether the run that started it is still there.
PARENT_POLL_S = 1.0


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str  # "local" | "processes" | "dask" | "dask-local"
    workers: int = 1
    address: str | None = None

    @property
    def label(self) -> str:
        return {"local": "local", "processes": f"processes:{self.workers}", "dask": f"dask://{self.address}",
                "dask-local": f"dask-local:{self.workers}"}[self.kind]


def parse_executor(text: str) -> ExecutorSpec:
    """``--executor`` as given, checked: one line naming the forms allowed when it is not one of them."""
    text = text.strip()
    bad = BenchError(f"--executor takes {FORMS}. Got {text!r} instead.")
    if text == "local":
        return ExecutorSpec("local")
    if text.startswith("dask://"):
        host, _, port = text[len("dask://"):].rpartition(":")
        if not host or not port.isdigit():
            raise BenchError(f"--executor dask:// needs HOST:PORT of a Dask scheduler, e.g. dask://10.0.0.5:8786. "
                             f"Got {text!r} instead.")
        return ExecutorSpec("dask", address=f"{host}:{port}")
    kind, _, count = text.partition(":")
    if kind in ("processes", "dask-local"):
        if not count.isdigit() or int(count) < 1:
            raise BenchError(f"--executor {kind}:N takes a number of workers N >= 1. Got {text!r} instead.")
        return ExecutorSpec(kind, workers=int(count))
    raise bad


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_executor(todo: list, threads: int, device: str) -> ExecutorSpec:
    """One worker process per usable core at ``threads`` threads per cell, never more workers than groups
    of cells to compute; ``local`` when that is one (or when cells run on a GPU, which one process keeps
    busy). Results are the same on every executor: only the wall time changes."""
    from .grid import groups

    if device != "cpu":
        return ExecutorSpec("local")
    workers = min(usable_cores() // max(1, threads), len(groups(todo)))
    return ExecutorSpec("processes", workers=workers) if workers > 1 else ExecutorSpec("local")


def _dask():
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise BenchError("--executor dask needs Dask: pip install -e \".[dask]\" (or pip install 'dask[distributed]')"
                         ) from None
    return Client, LocalCluster


def check_available(spec: ExecutorSpec) -> None:
    """Fail before any work when the executor's library is missing."""
    if spec.kind.startswith("dask"):
        _dask()


@contextmanager
def _restored_environ(environ: dict[str, str]) -> Iterator[None]:
    try:
        yield
    finally:
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        os.environ.update(environ)


class Channel:
    """Records sent from workers to this process while their tasks run: ``put`` in a worker (the object
    is picklable), ``drain`` here (never blocks). Backed by a multiprocessing manager's queue or a Dask
    queue."""

    def __init__(self, queue: Any, dask: bool = False):
        self.queue, self.dask = queue, dask

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def drain(self) -> list[Any]:
        if self.dask:
            return list(self.queue.get(batch=True))
        items = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                return items


#: Seconds the driver waits for a task to end before it looks at the channel again.
POLL_S = 0.5


class Pool:
    """Where the driver submits tasks, and the channel the tasks send their records back on."""

    def __init__(self, executor: Executor, channel: Channel):
        self.executor, self.channel = executor, channel

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.executor.submit(fn, *args)

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        """The tasks of ``futures`` that have ended, after at most :data:`POLL_S` seconds."""
        return wait(futures, timeout=POLL_S, return_when=FIRST_COMPLETED)[0]


class LocalPool(Pool):
    """``local``: each task runs in this process, one at a time, when the driver waits for it (so Ctrl-C
    stops it at once, and the driver stores a task's records before the next task starts)."""

    def __init__(self) -> None:
        super().__init__(None, Channel(queue.Queue()))  # type: ignore[arg-type]
        self._waiting: list[tuple[Future, Callable[..., Any], tuple]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._waiting.append((future, fn, args))
        return future

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        wanted = set(futures)
        for item in self._waiting:
            future, fn, args = item
            if future in wanted:
                self._waiting.remove(item)
                future.set_running_or_notify_cancel()
                try:
                    future.set_result(fn(*args))
                except Exception as exc:
                    future.set_exception(exc)
                return {future}
        return set()


def watch_parent(parent: int) -> None:
    """Run in each worker process as it starts: end it when the process that started it (``parent``) is gone,
    however that process ended (SIGKILL or a crash included), so that no worker goes on computing cells whose
    results nobody will store."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="bench-parent-watch", daemon=True).start()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down without waiting for the tasks its workers are running: the workers are ended (their
    cells were not stored; a later run computes them)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


@contextmanager
def open_executor(spec: ExecutorSpec) -> Iterator[Pool]:
    """The executor of ``spec`` and a channel its tasks send records back on, shut down on exit."""
    if spec.kind == "local":
        yield LocalPool()
        return
    if spec.kind == "processes":
        # spawn: a forked child would inherit torch's thread pools and the parent's locks
        context = multiprocessing.get_context("spawn")
        watched = (os.getpid(),)  # the workers and the manager's process end when this process is gone
        manager = SyncManager(ctx=context)
        manager.start(initializer=watch_parent, initargs=watched)
        with manager:
            pool = ProcessPoolExecutor(spec.workers, mp_context=context, initializer=watch_parent, initargs=watched)
            try:
                yield Pool(pool, Channel(manager.Queue()))
            except BaseException:  # Ctrl-C, SIGTERM or an error: end the groups still running, do not wait
                _stop(pool)
                raise
            pool.shutdown(wait=True)
        return
    Client, LocalCluster = _dask()
    import dask
    from distributed import Queue

    environ = dict(os.environ)  # Dask's nannies set OMP_NUM_THREADS=1 & co. in this process's environment
    with _restored_environ(environ), dask.config.set({"distributed.scheduler.allowed-failures": DASK_ALLOWED_FAILURES,
                          "distributed.worker.daemon": False}):
        if spec.kind == "dask-local":
            cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            cluster = None
            try:
                client = Client(spec.address, timeout=30)
            except OSError as exc:
                raise BenchError(f"cannot reach the Dask scheduler at {spec.address}: {exc}; start one with "
                                 "'dask scheduler' or use --executor dask-local:N") from None
        try:
            yield Pool(client.get_executor(pure=False), Channel(Queue(client=client), dask=True))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
