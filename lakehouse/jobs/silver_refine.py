"""The ``silver_refine`` job: build silver tables from bronze, checked by their quality suites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.quality.config import QualitySuite, load_environment_suites
from lakehouse.quality.records import quarantine_table
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each
from lakehouse.silver.refine import RefineResult, check_suites, refine_table, replay_quarantine


@dataclass(frozen=True)
class SilverRefineParams:
    table: str = "all"  # a table of silver.yml (orders), a comma-separated list, or all
    full_refresh: bool = False  # read each bronze table whole instead of its changes since the last run
    replay: bool = False  # then check quarantined rows again and write those that now pass


class SilverRefineJob(Job):
    name = "silver_refine"
    summary = "Conform, deduplicate and check new bronze rows into silver tables; quarantine bad rows."
    Params = SilverRefineParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``table`` picks silver tables of silver.yml (``orders`` or ``silver.orders``)."""
        return {
            "table": Choices.of(list(config.silver.tables), "silver.tables (silver.yml)", prefix="silver.")
        }

    @classmethod
    def exclusive(cls, config: LakehouseConfig, params: Any) -> list[str]:
        """Each silver table picked: one refine of a table at a time."""
        return [f"silver.{name}" for name in cls.selected(config, params, "table")]

    def run(self, context: JobContext) -> None:
        settings = context.config.silver
        names = self.selected(context.config, context.params, "table")
        suites = load_environment_suites(context.config.conf_folders("quality"))
        check_suites({name: settings.tables[name] for name in names}, suites)
        salt = settings.pii_salt.get_secret_value() if settings.pii_salt else ""
        if not salt and any(
            c and c.pii == "hash" for t in settings.tables.values() for c in t.columns.values()
        ):
            context.log.warning("silver.pii_salt is empty (set LAKEHOUSE_PII_SALT): PII hashes are unsalted")

        def refine(table: str) -> None:
            name = table.removeprefix("silver.")
            suite = _suite(suites, table)
            _report(
                context,
                refine_table(
                    context.tables,
                    context.run_id,
                    context.job,
                    name,
                    settings.tables[name],
                    suite,
                    salt,
                    context.params.full_refresh,
                ),
            )
            if context.params.replay:
                _report(
                    context,
                    replay_quarantine(
                        context.tables, context.run_id, context.job, name, settings.tables[name], suite
                    ),
                )

        # in silver.yml order: referenced tables first
        for_each([f"silver.{name}" for name in names], refine, context.log, "table", "silver tables")


def _suite(suites: dict, table: str) -> QualitySuite:
    return suites[table][0] if table in suites else QualitySuite(table=table)


def _report(context: JobContext, result: RefineResult) -> None:
    if result.skipped:
        context.log.info(
            "%s: no new rows in %s since version %s", result.table, result.source, result.to_version
        )
        return
    reasons = ", ".join(f"{reason} {count}" for reason, count in result.reasons.items()) or "none"
    warnings = ", ".join(f"{name} {count}" for name, count in result.warnings.items())
    if result.source.startswith("quarantine."):
        context.log.info(
            "%s: replayed %d of %d quarantined rows (inserted %d, updated %d); still failing %d (%s)",
            result.table,
            result.replayed,
            result.read,
            result.inserted,
            result.updated,
            result.quarantined,
            reasons,
        )
        return
    context.log.info(
        "%s <- %s %s: %d rows read, %d duplicates collapsed, %d quarantined to %s (%s), "
        "%d inserted, %d updated%s",
        result.table,
        result.source,
        f"whole at v{result.to_version}"
        if result.from_version is None
        else f"v{result.from_version + 1}..v{result.to_version}",
        result.read,
        result.duplicates,
        result.quarantined,
        quarantine_table(result.table),
        reasons,
        result.inserted,
        result.updated,
        f"; kept with warnings: {warnings}" if warnings else "",
    )
