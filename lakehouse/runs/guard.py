"""What a job run leaves while it runs: its state file, and the locks of the tables it writes.

- **State file.** ``<files>/jobs/runs/<run id>.json`` (:class:`RunningJob`) exists from the start
  of a run until its ``ops.job_runs`` row is appended; a thread refreshes its heartbeat. A run
  killed half way leaves it behind: the next start of any job (:func:`record_abandoned`) appends
  an ``abandoned`` row for it, once, and marks its rows in ``ops.quality_results``.
- **Table locks.** A job declares what it writes exclusively (:meth:`Job.exclusive`); the run
  takes one lock file per table under ``<files>/locks/tables/`` before its work and releases them
  after. A second run of a job writing the same table fails with :class:`TableBusyError` naming
  the holder, or waits up to ``lock_wait_seconds``; the lock of a dead run is taken over.

A run is dead when it was on this host and its process is gone, or when its heartbeat is older
than ``runs.stale_after_seconds`` (another host). Both kinds of file are
:class:`lakehouse.runs.lockfile.LockFile`, like the pipelines' lock.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config.platform import RunSettings
from lakehouse.errors import JobParameterError, TableBusyError
from lakehouse.io import files
from lakehouse.io.delta_store import bookkeeping_store
from lakehouse.runs import lockfile
from lakehouse.runs.lockfile import Heartbeat, LockFile
from lakehouse.runs.records import ABANDONED, JOB_RUNS_KEY, JOB_RUNS_SPEC, JOB_RUNS_TABLE, JobRun, RunningJob
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)
STATE_FOLDER = ("jobs", "runs")
TABLE_LOCK_FOLDER = ("locks", "tables")
POLL_SECONDS = 1.0  # how often a waiting run looks at a busy table's lock
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TableLockOwner:
    """Who holds a table's lock, as written in the lock file."""

    target: str
    job: str
    run_id: str
    env: str
    host: str
    pid: int
    started_at: str  # ISO UTC
    heartbeat_at: str  # ISO UTC

    @property
    def holder_id(self) -> str:
        return self.run_id


def index_target(table: str) -> str:
    """What ``build_index`` locks for a table: its index, not the table (readers and writers of
    the table go on while its index is built)."""
    return f"index of {table}"


def state_location(layout: StorageLayout, run_id: str) -> str:
    """Where the state file of a running job run lives."""
    return layout.files_location(*STATE_FOLDER, f"{run_id}.json")


def table_lock_location(layout: StorageLayout, target: str) -> str:
    """Where the lock of a table (or an index: :func:`index_target`) lives."""
    return layout.files_location(*TABLE_LOCK_FOLDER, f"{_UNSAFE.sub('_', target)}.lock.json")


def _unreadable_state() -> RunningJob:
    at = lockfile.now().isoformat()
    return RunningJob("unknown", "unknown", "unknown", {}, "unknown", -1, at, at)


def _unreadable_lock() -> TableLockOwner:  # another version's file, or caught mid-write
    at = lockfile.now().isoformat()
    return TableLockOwner("unknown", "unknown", "unknown", "unknown", "unknown", -1, at, at)


def _state_file(spark: SparkSession, layout: StorageLayout, settings: RunSettings, run_id: str) -> LockFile:
    return LockFile(
        state_location(layout, run_id),
        lambda data: RunningJob(**data),
        _unreadable_state,
        settings.stale_after_seconds,
        spark,
    )


def _table_lock(spark: SparkSession, layout: StorageLayout, settings: RunSettings, target: str) -> LockFile:
    return LockFile(
        table_lock_location(layout, target),
        lambda data: TableLockOwner(**data),
        _unreadable_lock,
        settings.stale_after_seconds,
        spark,
    )


class RunGuard:
    """The state file and table locks of one running job.

    Args:
        spark: the session (for remote lakehouse files).
        layout: where the files live.
        settings: heartbeat and staleness (``runs:``).
        wait_seconds: how long to wait for a busy table (0: fail at once).
        sleep: waits between looks at a busy table's lock.
    """

    def __init__(
        self,
        spark: SparkSession,
        layout: StorageLayout,
        settings: RunSettings,
        wait_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.spark, self.layout, self.settings = spark, layout, settings
        self.wait_seconds, self.sleep = wait_seconds, sleep
        self.state: LockFile | None = None
        self.tables: list[LockFile] = []
        self._heartbeat: Heartbeat | None = None

    def start(self, running: RunningJob) -> None:
        """Write the run's state file and start refreshing its heartbeat."""
        self.state = _state_file(self.spark, self.layout, self.settings, running.run_id)
        self.state.acquire(
            running,
            lambda held: JobParameterError(
                f"--run-id {held.run_id}: a run with this id is already going on (job {held.job}, pid "
                f"{held.pid} on {held.host}); give another id, or none for a new one"
            ),
        )
        self._heartbeat = Heartbeat(
            [self.state], self.settings.heartbeat_seconds, "job-run-heartbeat"
        ).start()

    def lock(self, targets: Iterable[str]) -> None:
        """Take the lock of each table, in name order (two runs waiting for each other's tables
        cannot both hold one and wait for the other).

        Raises:
            TableBusyError: another live run holds one of them, still after ``wait_seconds``; the
                locks taken before are released.
        """
        assert self.state is not None and self.state.owner is not None, "start() first"
        running: RunningJob = self.state.owner
        try:
            for target in sorted(set(targets)):
                self.tables.append(self._take(target, running))
                self.state.update(exclusive=[lock.owner.target for lock in self.tables])
        except BaseException:
            self.unlock()
            raise
        if self._heartbeat is not None:
            self._heartbeat.locks = [self.state, *self.tables]

    def _take(self, target: str, running: RunningJob) -> LockFile:
        lock = _table_lock(self.spark, self.layout, self.settings, target)
        at = lockfile.now().isoformat()
        owner = TableLockOwner(
            target, running.job, running.run_id, running.env, running.host, running.pid, at, at
        )
        began = time.monotonic()

        def busy(held: TableLockOwner) -> TableBusyError:
            holder = (
                f"job {held.job} (run {held.run_id}, pid {held.pid} on {held.host}, since {held.started_at})"
            )
            waited = time.monotonic() - began if self.wait_seconds else 0.0
            return TableBusyError(target, holder, running.job, lock.location, waited)

        told = False
        while True:
            try:
                released = lock.acquire(owner, busy)
            except TableBusyError as error:
                left = self.wait_seconds - (time.monotonic() - began)
                if left <= 0:
                    raise
                if not told:
                    log.warning("waiting up to %.0f s: %s", self.wait_seconds, str(error).split(": run ")[0])
                    told = True
                self.sleep(min(POLL_SECONDS, left))
                continue
            if released is not None:
                log.warning(
                    "%s: took over the lock of run %s (job %s, pid %d on %s), which is dead",
                    target, released.run_id, released.job, released.pid, released.host,
                )  # fmt: skip
            return lock

    def unlock(self) -> None:
        """Release the table locks (those still ours)."""
        while self.tables:
            self.tables.pop().release()
        if self._heartbeat is not None and self.state is not None:
            self._heartbeat.locks = [self.state]

    def finish(self, keep_state: bool = False) -> None:
        """Stop the heartbeat, release the table locks and remove the state file: the run's
        ``ops.job_runs`` row has been appended.

        Args:
            keep_state: leave the state file (the row could not be appended): once this process
                is gone, the next job run records the run as abandoned.
        """
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.unlock()
        if self.state is not None and not keep_state:
            self.state.release()


def record_abandoned(spark: SparkSession, layout: StorageLayout, settings: RunSettings) -> list[JobRun]:
    """Record each dead run left behind (its state file) as ``abandoned``.

    Cheap when nothing died: one listing of the state folder, and a read of each file there (the
    runs going on). For a dead run: its ``ops.job_runs`` row is inserted unless the run already
    has one (a run killed after its row was appended, or two runs sweeping at once: each run is
    recorded once), its rows in ``ops.quality_results`` are marked, its table locks released,
    and its state file removed.

    Returns:
        The runs recorded as abandoned by this call.
    """
    folder = layout.files_location(*STATE_FOLDER)
    recorded = []
    for name in files.list_names(spark, folder):
        if not name.endswith(".json"):
            continue
        state_file = _state_file(spark, layout, settings, name.removesuffix(".json"))
        running = state_file.holder()
        if running is None:
            continue  # finished meanwhile
        if running.run_id == "unknown":  # caught mid-write, or from another version: left alone
            log.warning(
                "job run state %s cannot be read; delete it if no job is running", state_file.location
            )
            continue
        reason = lockfile.stale_because(running, settings.stale_after_seconds)
        if reason is None:
            continue
        record = running.abandoned(reason)
        if _record_once(spark, layout, record):
            recorded.append(record)
            log.warning("job %s: run %s recorded as abandoned: %s", record.job, record.run_id, reason)
        for target in running.exclusive:
            lock = _table_lock(spark, layout, settings, target)
            held = lock.holder()
            if held is not None and held.run_id == running.run_id:
                files.delete(spark, lock.location)
        files.delete(spark, state_file.location)
    return recorded


def _record_once(spark: SparkSession, layout: StorageLayout, record: JobRun) -> bool:
    """Insert an abandoned run's row unless the run has one; mark its quality results when its
    row says abandoned (also when an earlier sweep died between the two). True when inserted."""
    store = bookkeeping_store(spark, layout, "job_runs", record.run_id, record.job)
    inserted = store.insert_new(JOB_RUNS_TABLE, record.to_frame(spark), JOB_RUNS_KEY, spec=JOB_RUNS_SPEC)
    status = store.read(JOB_RUNS_TABLE).where(F.col("run_id") == record.run_id).select("status").first()
    if status is not None and status["status"] == ABANDONED:
        # loaded only when a run died: most job runs never need the quality layer
        from lakehouse.quality.records import mark_abandoned

        mark_abandoned(spark, layout, record.run_id)
    return inserted > 0
