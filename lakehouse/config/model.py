"""Typed configuration objects: the shape that ``conf/**/*.yml`` must have.

Every section forbids unknown keys, so a misspelled key fails at start instead of being
silently ignored. Secrets are ``SecretStr``: they print as ``**********`` and the loader
refuses them unless they come from an environment variable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from lakehouse.config.embeddings import (
    EMBEDDING_COLUMNS,
    EmbeddingsSettings,
    EmbeddingTableSettings,
)
from lakehouse.config.features import (
    FeatureStoreSettings,
)
from lakehouse.config.gold import (
    GoldSettings,
)
from lakehouse.config.models import (
    ModelDataSettings,
    ModelsSettings,
)
from lakehouse.config.pipelines import (
    PipelineSettings,
)
from lakehouse.config.platform import (
    ClusterSettings,
    JobSettings,
    RunSettings,
    SparkSettings,
    StorageSettings,
)
from lakehouse.config.section import (
    MASK,
    Section,
    _secret_fields,
    is_secret_property,
)
from lakehouse.config.serve import ServeSettings
from lakehouse.config.silver import (
    SilverSettings,
)
from lakehouse.config.sources import (
    ConnectionSettings,
    LocalDatabaseSettings,
    SourceSettings,
    is_column_type,
    reading_problems,
)
from lakehouse.errors import did_you_mean

# entry points of the checks other packages add to the configuration's (see _checks_of_packages)
CHECKS_GROUP = "lakehouse.config_checks"


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
        return (
            self._check_storage()
            + self._check_cluster()
            + self._check_sources()
            + self._check_features()
            + self._check_gold()
            + self._check_models()
            + self._check_embeddings()
            + self._checks_of_packages()
            + self._check_layers()
        )

    def _check_storage(self) -> list[tuple[tuple[str, ...], str]]:
        """Where the tables live: the section its kind needs, its credentials, its names."""
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
        return problems

    def _check_cluster(self) -> list[tuple[tuple[str, ...], str]]:
        """The local cluster and the drivers that use it agree on authentication."""
        problems: list[tuple[tuple[str, ...], str]] = []
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
        return problems

    def _check_layers(self) -> list[tuple[tuple[str, ...], str]]:
        """The layers: ops among them, each once, each a lower-case identifier."""
        problems: list[tuple[tuple[str, ...], str]] = []
        storage = self.storage
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
        """Embedding tables read silver (or bronze, gold) tables; evaluations, examples and
        similarity joins name embedding tables."""
        known = {f"silver.{name}" for name in self.silver.tables} | {
            self.source_table(name) for name in self.sources
        }
        problems: list[tuple[tuple[str, ...], str]] = []
        written: dict[str, str] = {}
        for name, table in self.embeddings.tables.items():
            problems += self._check_embedding_table(name, table, known)
            target = self.embeddings.table(name)
            if target in written:
                problems.append(
                    (
                        ("embeddings", "tables", name, "table"),
                        f"{target} is also the table of {written[target]}",
                    )
                )
            written[target] = name
        return problems + self._check_embedding_references()

    def _check_embedding_table(
        self, name: str, table: EmbeddingTableSettings, known: set[str]
    ) -> list[tuple[tuple[str, ...], str]]:
        """One embedding table: its name, its source table and columns, its model's overlap."""
        key = ("embeddings", "tables", name)
        problems: list[tuple[tuple[str, ...], str]] = []
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
                        problems.append(((*key, field), f"{table.source} has no column {column!r}; {hint}"))
        reserved = set(EMBEDDING_COLUMNS) & {*table.metadata}
        if reserved:
            problems.append(((*key, "metadata"), f"{sorted(reserved)} are columns of every embedding table"))
        model = self.embeddings.model_of(name)
        if model.max_tokens is not None and model.overlap >= model.max_tokens - 2:
            problems.append(
                (
                    (*key, "model", "overlap") if table.model else ("embeddings", "model", "overlap"),
                    f"must be smaller than max_tokens - 2 ({model.max_tokens - 2})",
                )
            )
        return problems

    def _check_embedding_references(self) -> list[tuple[tuple[str, ...], str]]:
        """Evaluations, examples and similarity joins name embedding tables (and their columns)."""
        embeddings = self.embeddings
        known_tables = ", ".join(embeddings.tables) or "none"
        problems: list[tuple[tuple[str, ...], str]] = []
        for name, evaluation in embeddings.evaluations.items():
            if evaluation.embeddings not in embeddings.tables:
                key = ("embeddings", "evaluations", name, "embeddings")
                problems.append((key, f"unknown embedding table; known: {known_tables}"))
        for index, example in enumerate(embeddings.examples):
            if example.embeddings not in embeddings.tables:
                key = ("embeddings", "examples", str(index), "embeddings")
                problems.append(
                    (key, f"unknown embedding table {example.embeddings!r}; known: {known_tables}")
                )
        for name, similar in embeddings.similar.items():
            key = ("embeddings", "similar", name)
            if similar.embeddings not in embeddings.tables:
                problems.append(((*key, "embeddings"), f"unknown embedding table; known: {known_tables}"))
                continue
            metadata = embeddings.tables[similar.embeddings].metadata
            for field in ("time", "condition"):
                column = getattr(similar, field)
                if column is not None and column not in metadata:
                    message = f"{column!r} is not a metadata column of {similar.embeddings}: {metadata}"
                    problems.append(((*key, field), message))
        return problems

    def _checks_of_packages(self) -> list[tuple[tuple[str, ...], str]]:
        """The checks that other parts of the lakehouse (or a package of yours) register in the
        entry points ``lakehouse.config_checks``: each takes the configuration and returns its
        problems (pipelines.yml's are :func:`lakehouse.pipelines.validation.pipeline_problems`)."""
        from importlib.metadata import entry_points

        problems: list[tuple[tuple[str, ...], str]] = []
        for point in sorted(entry_points(group=CHECKS_GROUP), key=lambda point: point.name):
            problems += point.load()(self)
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
            problems += reading_problems(key, source, self.connections)
        return problems
