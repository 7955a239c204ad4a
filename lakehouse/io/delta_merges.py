"""Row-level writes of lakehouse tables: MERGE upserts, inserts of new keys, syncs, SCD type 2,
updates and deletes by condition.

:class:`DeltaMerges` is a part of :class:`lakehouse.io.delta_store.DeltaStore` (its base class),
kept in a module of its own; it relies on the store's resolving, tagging, retrying and drift
checks (``_writable``, ``_tagged``, ``_retrying``, ``_check_drift``, ``_version_at``,
``_last_commit``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.io.table_spec import TableSpec
from lakehouse.storage.layout import TableLocation, TableName
from lakehouse.transforms.keys import latest_per_key


class DeltaMerges:
    """MERGE-based and row-level writes (see the module docstring)."""

    def update_where(self, table: str | TableName, condition: str, values: dict[str, Any]) -> int:
        """Set columns of the rows matching a SQL condition (one commit; retried on conflict).

        Returns:
            Rows updated.
        """
        location = self._existing(table)
        assignments = {
            name: value if isinstance(value, F.Column) else F.lit(value) for name, value in values.items()
        }

        def run_update() -> None:
            DeltaTable.forPath(self.spark, location.location).update(condition=condition, set=assignments)

        return self._run_merge("update", location, run_update, "numUpdatedRows")["numUpdatedRows"]

    def delete_where(self, table: str | TableName, condition: str) -> int:
        """Delete the rows matching a SQL condition (one commit; retried on conflict).

        Returns:
            Rows deleted.
        """
        location = self._existing(table)

        def run_delete() -> None:
            DeltaTable.forPath(self.spark, location.location).delete(condition)

        return self._run_merge("delete", location, run_delete, "numDeletedRows")["numDeletedRows"]

    def merge(
        self,
        table: str | TableName,
        frame: DataFrame,
        keys: Sequence[str],
        order_by: str | None = None,
        spec: TableSpec | None = None,
    ) -> dict[str, int]:
        """Upsert rows by key: update matching rows, insert new ones.

        The source is first reduced to one row per key (greatest ``order_by`` wins), so a batch
        holding several versions of a key never fails the MERGE. With ``order_by``, a source
        row older than the table's row leaves it alone, so a late-arriving stale update cannot
        undo a newer one. Safe to retry: it is retried on a concurrent-write conflict.

        Returns:
            Delta's metrics: ``inserted``, ``updated`` and ``source_rows`` (after deduplication).
        """
        location = self._writable(table)
        latest = latest_per_key(frame, keys, order_by)
        if not DeltaTable.isDeltaTable(self.spark, location.location):
            if spec is not None:
                self.create(spec)
            else:
                inserted = self._write(table, latest, "append")
                return {"inserted": inserted, "updated": 0, "source_rows": inserted}
        self._check_drift(location, latest, spec)

        def run_merge() -> None:
            builder = self._merge_by_key(location, latest, keys, spec)
            newer = (
                f"source.`{order_by}` >= target.`{order_by}` OR target.`{order_by}` IS NULL"
                if order_by
                else None
            )
            builder.whenMatchedUpdateAll(condition=newer).whenNotMatchedInsertAll().execute()

        metrics = self._run_merge("merge", location, run_merge)
        return {
            "inserted": metrics["numTargetRowsInserted"],
            "updated": metrics["numTargetRowsUpdated"],
            "source_rows": metrics["numSourceRows"],
        }

    def insert_new(
        self, table: str | TableName, frame: DataFrame, keys: Sequence[str], spec: TableSpec | None = None
    ) -> int:
        """Insert the rows whose key the table does not hold yet; rows it holds stay as they are.

        For append-only records identified by content (quarantined rows): writing the same rows
        again, from a rerun, a replay or a re-read of the source, inserts nothing. Safe to retry.

        Returns:
            Rows inserted.
        """
        location = self._writable(table)
        unique = frame.dropDuplicates(list(keys))
        if not DeltaTable.isDeltaTable(self.spark, location.location):
            if spec is None:
                raise ValueError(f"insert_new {table}: give the table's spec to create it")
            self.create(spec)
        self._check_drift(location, unique, spec)

        def run_merge() -> None:
            self._merge_by_key(location, unique, keys, spec).whenNotMatchedInsertAll().execute()

        return self._run_merge("insert_new", location, run_merge)["numTargetRowsInserted"]

    def sync(
        self,
        table: str | TableName,
        upserts: DataFrame,
        deletes: DataFrame,
        keys: Sequence[str],
        spec: TableSpec | None = None,
    ) -> dict[str, int]:
        """Upsert rows and delete others by key in one MERGE (one commit, all or nothing).

        Args:
            upserts: rows to insert or replace (one per key).
            deletes: the keys of rows to delete; a key also in ``upserts`` is upserted.
            spec: the table's declaration (created from it on first write).

        Returns:
            Delta's metrics: ``inserted``, ``updated``, ``deleted`` (all 0 when nothing changed).
        """
        location = self._writable(table)
        if spec is not None:
            self.create(spec)
        self._existing(table)
        self._check_drift(location, upserts, spec)
        operation = "_lakehouse_operation"
        removed = deletes.select(*keys).distinct().join(upserts.select(*keys), list(keys), "left_anti")
        source = upserts.withColumn(operation, F.lit("upsert")).unionByName(
            removed.withColumn(operation, F.lit("delete")), allowMissingColumns=True
        )
        columns = {f"`{name}`": f"source.`{name}`" for name in upserts.columns}

        def run_merge() -> None:
            (
                self._merge_by_key(location, source, keys, spec)
                .whenMatchedDelete(condition=f"source.{operation} = 'delete'")
                .whenMatchedUpdate(set=columns)
                .whenNotMatchedInsert(condition=f"source.{operation} = 'upsert'", values=columns)
                .execute()
            )

        metrics = self._run_merge("sync", location, run_merge)
        return {
            "inserted": metrics["numTargetRowsInserted"],
            "updated": metrics["numTargetRowsUpdated"],
            "deleted": metrics["numTargetRowsDeleted"],
        }

    def merge_scd2(
        self,
        table: str | TableName,
        frame: DataFrame,
        keys: Sequence[str],
        changed_at: str,
        tracked: Sequence[str] | None = None,
    ) -> dict[str, int]:
        """Keep the full history of a slowly changing entity (SCD type 2).

        The table holds the source columns plus ``valid_from``, ``valid_to`` (null while current)
        and ``is_current``. For each key, the batch's latest row (greatest ``changed_at``)
        becomes the current version when a tracked column differs from the current one: the old
        version is closed at the new ``changed_at``. Unchanged rows and rows older than the
        current version change nothing, so a rerun of a batch is a no-op. The first write is a
        MERGE into the newly created table too, so two first writes at once keep one history.

        Args:
            keys: the business key.
            changed_at: when the source row changed (a timestamp or a growing number).
            tracked: columns whose change makes a new version; all non-key columns by default.

        Returns:
            ``inserted`` (new versions and new keys) and ``closed`` (versions ended).
        """
        location = self._writable(table)
        versioned = _scd2_versions(table, frame, keys, changed_at)
        tracked = list(tracked or [c for c in frame.columns if c not in keys and c != changed_at])
        if not DeltaTable.isDeltaTable(self.spark, location.location):
            # created empty, then merged into like any later batch: two first writes at once
            # conflict and the retried one finds the other's rows, instead of appending them twice
            self.create(TableSpec(str(location.table), versioned.schema, key=(*keys, "valid_from")))
        self._check_drift(location, versioned, None)

        differs = " OR ".join(f"NOT (current.`{c}` <=> source.`{c}`)" for c in tracked) or "false"
        current = self.read(table).where("is_current").alias("current")
        staged, condition = _scd2_staged(versioned, current, keys, changed_at, differs)
        closes = differs.replace("current.", "target.") + f" AND source.`{changed_at}` > target.valid_from"
        insert = {c: f"source.`{c}`" for c in versioned.columns}

        def run_merge() -> None:
            (
                DeltaTable.forPath(self.spark, location.location)
                .alias("target")
                .merge(staged.alias("source"), f"target.is_current AND {condition}")
                .whenMatchedUpdate(
                    condition=closes, set={"is_current": "false", "valid_to": f"source.`{changed_at}`"}
                )
                .whenNotMatchedInsert(values=insert)
                .execute()
            )

        metrics = self._run_merge("merge_scd2", location, run_merge)
        return {"inserted": metrics["numTargetRowsInserted"], "closed": metrics["numTargetRowsUpdated"]}

    def _merge_by_key(
        self, location: TableLocation, source: DataFrame, keys: Sequence[str], spec: TableSpec | None
    ) -> Any:
        """A MERGE of ``source`` into the table on equal (null-safe) keys, with schema evolution
        when the spec's drift policy is ``evolve``; the caller adds the clauses."""
        condition = " AND ".join(f"target.`{key}` <=> source.`{key}`" for key in keys)
        builder = (
            DeltaTable.forPath(self.spark, location.location)
            .alias("target")
            .merge(source.alias("source"), condition)
        )
        if spec is not None and spec.drift == "evolve":
            builder = builder.withSchemaEvolution()
        return builder

    def _run_merge(
        self, operation: str, location: TableLocation, run_merge: Callable[[], None], *extra: str
    ) -> dict[str, int]:
        """Run a tagged, retried MERGE; return its row metrics (zeros when it changed nothing).

        Returns:
            ``numTargetRowsInserted``, ``numTargetRowsUpdated``, ``numTargetRowsDeleted`` and
            ``numSourceRows``.
        """
        before = self._version_at(location)
        self._tagged(lambda: self._retrying(operation, location, run_merge))
        commit = self._last_commit(location, after=before)  # None: the MERGE changed nothing
        recorded = (commit["operationMetrics"] or {}) if commit else {}
        metrics = {
            name: int(recorded.get(name, 0))
            for name in (
                "numTargetRowsInserted",
                "numTargetRowsUpdated",
                "numTargetRowsDeleted",
                "numSourceRows",
                *extra,
            )
        }
        if self.on_write is not None:
            self.on_write(
                str(location.table), metrics["numTargetRowsInserted"] + metrics["numTargetRowsUpdated"]
            )
        return metrics


def _scd2_versions(table: object, frame: DataFrame, keys: Sequence[str], changed_at: str) -> DataFrame:
    """Each key's latest row of the batch as a current version (``valid_from``, ``valid_to``,
    ``is_current``); a null key or change time cannot be placed in a history and is refused."""
    incomplete = frame.where(" OR ".join(f"`{c}` IS NULL" for c in [*keys, changed_at])).limit(1).count()
    if incomplete:
        raise ValueError(
            f"merge_scd2 {table}: rows with a null key {list(keys)} or null {changed_at!r}; "
            "quarantine them before building history"
        )
    latest = latest_per_key(frame, keys, changed_at)
    return latest.select(
        "*",
        F.col(changed_at).alias("valid_from"),
        F.lit(None).cast(latest.schema[changed_at].dataType).alias("valid_to"),
        F.lit(True).alias("is_current"),
    )


def _scd2_staged(
    versioned: DataFrame, current: DataFrame, keys: Sequence[str], changed_at: str, differs: str
) -> tuple[DataFrame, str]:
    """The MERGE source of an SCD2 batch and its join condition: every version under its key
    (closes the current one when it differs), plus, under a null key, the real newer changes
    (inserted as the new current version)."""
    on_keys = [F.col(f"current.`{k}`").eqNullSafe(F.col(f"source.`{k}`")) for k in keys]
    changes = (
        versioned.alias("source")
        .join(current, on_keys)
        .where(f"({differs}) AND source.`{changed_at}` > current.valid_from")
        .select("source.*")
    )
    merge_keys = [f"__merge_{k}" for k in keys]
    staged = changes.select(*[F.lit(None).alias(m) for m in merge_keys], "*").unionByName(
        versioned.select(*[F.col(k).alias(m) for k, m in zip(keys, merge_keys, strict=True)], "*")
    )
    condition = " AND ".join(f"target.`{k}` = source.`{m}`" for k, m in zip(keys, merge_keys, strict=True))
    return staged, condition
