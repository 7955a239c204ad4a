"""Configuration: ``conf/base`` plus one folder per environment, validated into typed objects."""

from lakehouse.config.loader import DEFAULT_ENV, available_environments, find_conf_dir, load_config
from lakehouse.config.model import (
    AdlsSettings,
    AzureAuthSettings,
    ClusterSettings,
    ConnectionSettings,
    JobSettings,
    LakehouseConfig,
    OneLakeSettings,
    SourceSettings,
    SparkSettings,
    StorageSettings,
)

__all__ = [
    "DEFAULT_ENV",
    "AdlsSettings",
    "AzureAuthSettings",
    "ClusterSettings",
    "ConnectionSettings",
    "JobSettings",
    "LakehouseConfig",
    "OneLakeSettings",
    "SourceSettings",
    "SparkSettings",
    "StorageSettings",
    "available_environments",
    "find_conf_dir",
    "load_config",
]
