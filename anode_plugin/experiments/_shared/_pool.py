"""Run independent jobs in worker processes and return their results in job order.

Workers are forked from a *fork server*, a process that has imported the package but
never run torch (forking a process whose torch thread pools have started is unsafe),
so that each worker skips the seconds that importing torch, Lightning and torchdyn
take, and a second pool in the same program starts at once. Where there is no fork
server (Windows), workers are fresh interpreters (``spawn``). Each runs one torch
thread, so that ``workers`` processes use ``workers`` cores and nothing is
oversubscribed.

Workers never outlive the program: each watches the process that started the pool
and exits at once when it is gone (killed with SIGKILL, or ended by a signal that ran
no clean-up), and an interrupt (Ctrl-C) ends the running jobs instead of waiting for
them.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import torch
from tqdm.auto import tqdm

from ..._validation import check_positive_int

__all__ = ["map_jobs", "usable_cores"]

_Job = TypeVar("_Job")


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once by the fork server, inherited by every worker it forks.
    context.set_forkserver_preload(["anode_plugin.experiments.toy._runner"])
    return context


def _exit_with_parent() -> None:
    # The process that started the pool: with the fork server too, it is the one whose
    # end the sentinel signals (the fork server hands its workers the read end of a
    # pipe only that process writes to), and `join` waits on it without polling.
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    parent.join()
    os._exit(1)  # no clean-up to run: the results had nowhere to go


def _init_worker() -> None:
    # The toy models are tiny: one thread per process is the fastest, and the pool is
    # sized to the cores, so more threads would only compete with the other workers.
    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()


_GRACE_S = 0.5  # for the workers to end on SIGTERM before they are killed


def _end_workers(executor: ProcessPoolExecutor) -> None:
    """Stop the pool's workers now, running jobs included (an interrupt)."""
    kill = getattr(executor, "kill_workers", None)  # Python 3.14+
    if kill is not None:
        # SIGKILL: a worker inside Lightning's `fit` only notes a SIGTERM (see below).
        kill()
        return
    # Before 3.14 the processes are reachable only through the executor's `_processes`,
    # which `shutdown` clears: take them first.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
    # A worker inside Lightning's `fit` has Lightning's SIGTERM handler, which only notes
    # the signal: it ran on for 9-65 s. The results have nowhere to go: kill what remains.
    deadline = time.monotonic() + _GRACE_S
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


def _check_picklable(job: object, index: int) -> None:
    try:
        pickle.dumps(job)
    except Exception as error:  # pickle raises several types (PicklingError, TypeError, ...)
        raise TypeError(
            f"Job {index} cannot be sent to a worker process ({error}); with `workers` > 1 "
            "every job must pickle (use module-level functions or functools.partial, not "
            "lambdas), or run with `workers=1`."
        ) from error


def map_jobs(
    fn: Callable[[_Job], Any],
    jobs: Sequence[_Job],
    *,
    workers: int = 1,
    progress: bool = False,
    describe: Callable[[_Job], str] | None = None,
    submit_order: Sequence[int] | None = None,
) -> list[Any]:
    """``[fn(job) for job in jobs]``, computed by ``workers`` processes.

    The result list is in the order of ``jobs`` whatever order the jobs finish in. An
    exception raised by a job is raised here with its original type and message (the
    worker's traceback is chained to it); the jobs not yet started are cancelled and
    the pool is shut down before it propagates.

    Args:
        fn: a module-level function (it is pickled by reference).
        jobs: the jobs; each must pickle when ``workers > 1``.
        workers: worker processes; ``1`` runs every job here, one after another, with
            no pool.
        progress: show a progress bar of jobs done out of ``len(jobs)``.
        describe: names a job for the progress bar (the last one finished).
        submit_order: the order in which jobs are handed to the pool (a permutation of
            ``range(len(jobs))``), e.g. longest first so that no long job runs alone at
            the end; it changes the wall time, never the results.

    Returns:
        ``[fn(job) for job in jobs]``.

    Raises:
        ValueError: ``workers`` is not a positive integer or ``submit_order`` is not a
            permutation of the job indices.
        TypeError: ``workers > 1`` and a job does not pickle.
    """
    check_positive_int("workers", workers)
    jobs = list(jobs)
    order = list(range(len(jobs))) if submit_order is None else list(submit_order)
    if sorted(order) != list(range(len(jobs))):
        raise ValueError(
            f"`submit_order` must be a permutation of range({len(jobs)}), got {order!r}."
        )
    results: list[Any] = [None] * len(jobs)
    with tqdm(total=len(jobs), unit="run", disable=not progress, dynamic_ncols=True) as bar:

        def done(index: int, result: Any) -> None:
            results[index] = result
            if describe is not None:
                bar.set_postfix_str(describe(jobs[index]), refresh=False)
            bar.update()

        if workers == 1 or len(jobs) <= 1:
            for index in order:
                done(index, fn(jobs[index]))
            return results
        for index in order:
            _check_picklable(jobs[index], index)
        executor = ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)),
            mp_context=_context(),
            initializer=_init_worker,
        )
        try:
            pending: dict[Future[Any], int] = {
                executor.submit(fn, jobs[index]): index for index in order
            }
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    # .result() re-raises a job's exception in this process.
                    done(pending.pop(future), future.result())
        except (KeyboardInterrupt, SystemExit):
            _end_workers(executor)  # Ctrl-C or a signal: stop now, do not finish the jobs
            raise
        except BaseException:
            # A job failed: cancel what has not started; the jobs running now finish
            # first (at most one per worker), then every worker process exits.
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown(wait=True)
    return results
