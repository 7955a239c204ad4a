"""Spark, storage, job runs and the local cluster (spark.yml, storage.yml, jobs.yml, cluster.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from lakehouse.config.section import Scalar, Section

LogLevel = Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"]


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
