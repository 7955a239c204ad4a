"""One run at a time per pipeline and environment: a lock file under the lakehouse's files.

The lock (:class:`lakehouse.runs.lockfile.LockFile`) is created atomically and holds its owner:
run id, host, pid, start, and a heartbeat that a thread refreshes with the run's progress. A
second run finds it and stops with :class:`PipelineLockedError`. A lock is stale, and is released
by the next run, when its owner was on this host and its process is gone (killed), or when its
heartbeat is older than ``lock.stale_after_seconds`` (another host).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from lakehouse.config.pipelines import PipelineLockSettings
from lakehouse.errors import PipelineLockedError
from lakehouse.runs import lockfile
from lakehouse.runs.lockfile import Heartbeat, LockFile
from lakehouse.storage.layout import StorageLayout


@dataclass(frozen=True)
class LockOwner:
    """Who holds a pipeline's lock, as written in the lock file."""

    pipeline_run_id: str
    pipeline: str
    env: str
    host: str
    pid: int
    started_at: str  # ISO UTC
    heartbeat_at: str  # ISO UTC
    progress: str = ""

    @property
    def holder_id(self) -> str:
        return self.pipeline_run_id

    def heartbeat_age(self, now: dt.datetime) -> float:
        return lockfile.heartbeat_age(self, now)

    def stale_because(self, settings: PipelineLockSettings, now: dt.datetime) -> str | None:
        """Why this owner's lock is stale, or None while it holds."""
        return lockfile.stale_because(self, settings.stale_after_seconds, now)


def lock_location(layout: StorageLayout, pipeline: str, env: str) -> str:
    """Where the lock of a pipeline in an environment lives."""
    return layout.files_location("locks", "pipelines", f"{pipeline}.{env}.lock.json")


def _unreadable() -> LockOwner:  # a lock from another version, or caught mid-write
    at = lockfile.now().isoformat()
    return LockOwner("unknown", "unknown", "unknown", "unknown", -1, at, at)


class PipelineLock:
    """The lock of one pipeline in one environment.

    Args:
        location: the lock file (:func:`lock_location`).
        settings: heartbeat period and staleness.
        spark: a session, needed only for a remote (``abfss://``) location.
        on_stale: called with the owner of a stale lock before it is released (to mark its run
            abandoned).
    """

    def __init__(
        self,
        location: str,
        settings: PipelineLockSettings,
        spark: SparkSession | None = None,
        on_stale: Callable[[LockOwner], None] | None = None,
    ):
        self.location, self.settings = location, settings
        self.file = LockFile(
            location,
            lambda data: LockOwner(**data),
            _unreadable,
            settings.stale_after_seconds,
            spark,
            on_stale,
        )
        self._heartbeat = Heartbeat([self.file], settings.heartbeat_seconds, "pipeline-lock-heartbeat")

    @property
    def owner(self) -> LockOwner | None:
        return self.file.owner

    def holder(self) -> LockOwner | None:
        """The current owner, or None when the lock is free."""
        return self.file.holder()

    def acquire(self, pipeline_run_id: str, pipeline: str, env: str) -> LockOwner | None:
        """Take the lock and start the heartbeat.

        Returns:
            The owner of a stale lock that was released first, or None.

        Raises:
            PipelineLockedError: another live run holds the lock; names it.
        """
        at = lockfile.now().isoformat()
        owner = LockOwner(pipeline_run_id, pipeline, env, socket.gethostname(), os.getpid(), at, at)

        def busy(held: LockOwner) -> PipelineLockedError:
            return PipelineLockedError(
                f"pipeline {pipeline} (env {env}) is already running: run {held.pipeline_run_id} started "
                f"{held.started_at} by pid {held.pid} on {held.host}"
                f"{f', at {held.progress}' if held.progress else ''}; heartbeat "
                f"{held.heartbeat_age(lockfile.now()):.0f} s ago (lock {self.location}). Wait for it; if "
                "it is dead, the next run releases the lock once it is stale"
            )

        released = self.file.acquire(owner, busy)
        self._heartbeat.start()
        return released

    def update(self, progress: str) -> None:
        """Record the run's progress in the lock (shown to a second run and by ``lakehouse runs``)."""
        self.file.update(progress=progress)

    def release(self) -> None:
        """Stop the heartbeat and delete the lock, if it is still ours."""
        self._heartbeat.stop()
        self.file.release()
