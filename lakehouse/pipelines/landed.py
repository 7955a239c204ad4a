"""Has a logical date's data landed? Checked before a pipeline's jobs run.

A pipeline may declare ``landed:``, the folders each logical date's files land in, with a
``{date}`` placeholder (``landing/orders/{date}``, relative to the lakehouse's files root, or a
full URI). Before any job runs, each date of the run must have every folder present with at least
one file; otherwise the run is refused with :class:`LandedDataMissingError`, naming the date, the
folders, and the newest date that did land. Without this, a run whose date has no data (a cron
tick before the files arrived, or no ``--date`` on a lakehouse whose data ends earlier) ingests
nothing, computes features of an empty day and succeeds: a silent success.

Folders are listed through Hadoop's ``FileSystem`` (:mod:`lakehouse.io.files`), so local roots and
``abfss://`` ones work alike.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

from lakehouse.errors import PipelineError
from lakehouse.io import files
from lakehouse.storage.layout import StorageLayout

PLACEHOLDER = "{date}"
# how many of the newest dated folders are checked to name the newest complete date
_CANDIDATES = 30


class LandedDataMissingError(PipelineError):
    """A logical date of a run has no landed data in the folders its pipeline declares (``landed:``)."""


@dataclass(frozen=True)
class LandedFolder:
    """One declared folder for one date: where it is and how many files it holds (0: missing or empty)."""

    template: str
    folder: str  # the template with the date filled in, as declared (relative to the files root)
    location: str
    files: int

    def describe(self) -> str:
        return f"{self.folder} ({self.files} file{'s' if self.files != 1 else ''})"


def landed_folder_problems(template: object) -> list[str]:
    """What is wrong with one ``landed:`` entry (empty: nothing).

    An entry holds ``{date}`` exactly once, no other placeholder, and no ``..``.
    """
    if not isinstance(template, str) or not template.strip():
        return ["a landed folder must be a non-empty path such as landing/orders/{date}"]
    problems = []
    placeholders = re.findall(r"\{[^{}]*\}", template)
    if placeholders.count(PLACEHOLDER) != 1 or len(placeholders) != 1:
        problems.append(f"{template!r} must hold {PLACEHOLDER} exactly once and no other placeholder")
    if ".." in template.split("/"):
        problems.append(f"{template!r} must not contain '..'")
    return problems


def _location(layout: StorageLayout, folder: str) -> str:
    if "://" in folder or folder.startswith("/"):
        return folder.rstrip("/")
    return layout.files_location(folder.strip("/"))


def _file_count(spark: SparkSession, location: str) -> int:
    """Files under ``location``, subfolders included; hidden and ``_``-prefixed names are not data."""
    path, file_system = files.hadoop_path(spark, location)
    if not file_system.exists(path):
        return 0
    found = file_system.listFiles(path, True)
    count = 0
    while found.hasNext():
        name = found.next().getPath().getName()
        if not name.startswith(("_", ".")):
            count += 1
    return count


def landed_folders(
    spark: SparkSession, layout: StorageLayout, templates: Sequence[str], date: dt.date
) -> list[LandedFolder]:
    """Each declared folder for ``date``, with the number of files it holds (0: missing or empty).

    Args:
        spark: the session (its Hadoop configuration reaches the files root).
        layout: where the lakehouse's files root is.
        templates: the pipeline's ``landed:`` folders.
        date: the logical date filled in for ``{date}``.

    Returns:
        One :class:`LandedFolder` per template, in declared order.
    """
    result = []
    for template in templates:
        folder = template.replace(PLACEHOLDER, date.isoformat())
        location = _location(layout, folder)
        result.append(LandedFolder(template, folder, location, _file_count(spark, location)))
    return result


def newest_landed_date(
    spark: SparkSession, layout: StorageLayout, templates: Sequence[str]
) -> dt.date | None:
    """The newest date whose declared folders all hold files, or None.

    The dates come from the names in the folder above each template's ``{date}`` segment; the
    newest few are checked in full.
    """
    candidates: set[dt.date] = set()
    for template in templates:
        head, _, tail = template.partition(PLACEHOLDER)
        parent, _, prefix = head.rpartition("/")
        suffix = tail.split("/", 1)[0]
        pattern = re.compile(rf"^{re.escape(prefix)}(\d{{4}}-\d{{2}}-\d{{2}}){re.escape(suffix)}$")
        names = files.list_names(spark, _location(layout, parent) if parent else layout.files_root)
        for name in names:
            matched = pattern.match(name)
            if matched:
                try:
                    candidates.add(dt.date.fromisoformat(matched.group(1)))
                except ValueError:
                    continue
    for date in sorted(candidates, reverse=True)[:_CANDIDATES]:
        if all(folder.files for folder in landed_folders(spark, layout, templates, date)):
            return date
    return None


def check_landed(
    spark: SparkSession,
    layout: StorageLayout,
    pipeline: str,
    templates: Sequence[str],
    dates: Sequence[dt.date],
    dates_chosen_by: str = "",
) -> dict[dt.date, list[LandedFolder]]:
    """The declared folders of every date of a run, each holding files.

    Args:
        spark: the session.
        layout: where the lakehouse's files root is.
        pipeline: the pipeline's name, for the message.
        templates: its ``landed:`` folders; none: nothing is checked and the result is empty.
        dates: the run's logical dates.
        dates_chosen_by: how the dates were picked when the run was not given any (for the message).

    Returns:
        The folders of each date (for the run's first line: what it processes).

    Raises:
        LandedDataMissingError: a date lacks files in a declared folder. The one-line message names
            the dates, the folders missing or empty for the first of them, where they were looked
            for, and the newest date whose data did land (or that nothing did).
    """
    if not templates:
        return {}
    found = {date: landed_folders(spark, layout, templates, date) for date in dates}
    missing = [date for date, folders in found.items() if not all(folder.files for folder in folders)]
    if not missing:
        return found
    first = found[missing[0]]
    empty = [folder.folder for folder in first if not folder.files]
    present = [folder.folder for folder in first if folder.files]
    dates_text = ", ".join(date.isoformat() for date in missing[:5])
    if len(missing) > 5:
        dates_text += f" and {len(missing) - 5} more"
    plural = "s" if len(missing) > 1 else ""
    verb = "is" if len(empty) == 1 else "are"
    message = (
        f"pipeline {pipeline}: no data landed for logical date{plural} {dates_text}"
        f"{f' ({dates_chosen_by})' if dates_chosen_by else ''}: "
        f"{', '.join(empty)} {verb} missing or empty (under {layout.files_root})"
    )
    if present:
        message += f"; only {', '.join(present)} landed"
    newest = newest_landed_date(spark, layout, templates)
    if newest is None:
        message += "; no date has landed in those folders yet: land the data first"
    else:
        message += f"; the newest date with every folder landed is {newest}: run with --date {newest}"
    raise LandedDataMissingError(message)
