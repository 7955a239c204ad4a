"""Resolve a table name such as ``silver.orders`` to its catalog name and storage location.

This is the one place that knows where data lives. The lakehouse root holds ``tables`` and
``files``, mirroring a Fabric lakehouse's ``Tables`` and ``Files``:

- local: ``<root>/tables/<layer>/<name>``
- OneLake: ``abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse/Tables/<layer>/<name>``
- ADLS Gen2: ``abfss://<container>@<account>.dfs.core.windows.net/<path>/tables/<layer>/<name>``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.platform import StorageSettings
from lakehouse.errors import TableNameError

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True, order=True)
class TableName:
    """A table's logical name: a layer (a Spark database) and a table within it."""

    layer: str
    name: str

    @classmethod
    def parse(cls, text: str | TableName, layers: list[str] | tuple[str, ...]) -> TableName:
        """Parse ``<layer>.<name>``.

        Args:
            text: the table name, e.g. ``"silver.orders"``.
            layers: the layers the lakehouse declares (``storage.layers``).

        Raises:
            TableNameError: not two lower-case identifiers, or the layer is not declared.
        """
        if isinstance(text, TableName):
            text = str(text)
        if not isinstance(text, str):
            raise TypeError(f"table name must be a string like 'silver.orders', got {type(text).__name__}")
        parts = text.split(".")
        if len(parts) != 2 or not all(_IDENTIFIER.match(part) for part in parts):
            raise TableNameError(
                f"table name {text!r} must be <layer>.<name> in lower-case snake_case, e.g. 'silver.orders'"
            )
        layer, name = parts
        if layer not in layers:
            raise TableNameError(
                f"table {text!r}: unknown layer {layer!r}; declared layers (storage.layers): "
                f"{', '.join(layers)}"
            )
        return cls(layer, name)

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"


@dataclass(frozen=True)
class TableLocation:
    """Where one table lives: its name in Spark's catalog and its storage location."""

    table: TableName
    catalog_name: str
    location: str


class StorageLayout:
    """Map logical names to storage locations for one configured lakehouse.

    Args:
        settings: the ``storage`` section of the configuration.
        project_dir: folder against which a relative local root is resolved.
    """

    def __init__(self, settings: StorageSettings, project_dir: Path):
        self.settings = settings
        self.kind = settings.kind
        self.layers = tuple(settings.layers)
        if settings.kind == "local":
            root = Path(settings.root or "data/lakehouse").expanduser()
            self.root = str(root if root.is_absolute() else (project_dir / root).resolve())
            self.tables_root = f"{self.root}/tables"
            self.files_root = f"{self.root}/files"
        elif settings.kind == "onelake":
            onelake = settings.onelake
            _check_uri_part("storage.onelake.workspace", onelake.workspace)
            _check_uri_part("storage.onelake.lakehouse", onelake.lakehouse)
            # an item addressed by id has no type suffix; by name it is <name>.Lakehouse
            item = onelake.lakehouse if _GUID.match(onelake.lakehouse) else f"{onelake.lakehouse}.Lakehouse"
            self.root = f"abfss://{onelake.workspace}@{onelake.host}/{item}"
            self.tables_root = f"{self.root}/Tables"
            self.files_root = f"{self.root}/Files"
        else:
            adls = settings.adls
            _check_uri_part("storage.adls.account", adls.account)
            _check_uri_part("storage.adls.container", adls.container)
            path = adls.path.strip("/")
            self.root = f"abfss://{adls.container}@{adls.account}.{adls.host_suffix}" + (
                f"/{path}" if path else ""
            )
            self.tables_root = f"{self.root}/tables"
            self.files_root = f"{self.root}/files"

    @classmethod
    def from_config(cls, config: LakehouseConfig) -> StorageLayout:
        """Build the layout of a loaded configuration."""
        return cls(config.storage, config.project_dir)

    @property
    def account_host(self) -> str | None:
        """The ``abfss`` host whose OAuth settings the session needs, or None for local storage."""
        if self.kind == "onelake":
            return self.settings.onelake.host
        if self.kind == "adls":
            return f"{self.settings.adls.account}.{self.settings.adls.host_suffix}"
        return None

    def table_name(self, table: str | TableName) -> TableName:
        """Parse and check a table name against this lakehouse's layers."""
        return TableName.parse(table, self.layers)

    def table(self, table: str | TableName) -> TableLocation:
        """Resolve a table name to its catalog name and storage location.

        Raises:
            TableNameError: the name is malformed or its layer is not declared.
        """
        name = self.table_name(table)
        return TableLocation(name, str(name), f"{self.layer_location(name.layer)}/{name.name}")

    def layer_location(self, layer: str) -> str:
        """The folder that holds every table of ``layer``."""
        if layer not in self.layers:
            raise TableNameError(f"unknown layer {layer!r}; declared layers: {', '.join(self.layers)}")
        return f"{self.tables_root}/{layer}"

    def files_location(self, *parts: str) -> str:
        """A location under the lakehouse's files area (landing folders, checkpoints, models...)."""
        for part in parts:
            if not part or part.startswith("/") or ".." in part.split("/"):
                raise ValueError(f"file location part {part!r} must be a relative path without '..'")
        return "/".join([self.files_root, *parts])


def _check_uri_part(key: str, value: str) -> None:
    if not value or any(character in value for character in "@/?# "):
        raise TableNameError(
            f"{key}: {value!r} cannot be part of an abfss:// location (empty, or contains @ / ? # or a space)"
        )
