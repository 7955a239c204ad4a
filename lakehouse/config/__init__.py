"""Configuration: ``conf/base`` plus one folder per environment, validated into typed objects."""

from lakehouse.config.loader import DEFAULT_ENV, available_environments, find_conf_dir, load_config
from lakehouse.config.model import LakehouseConfig
from lakehouse.config.platform import (
    AdlsSettings,
    AzureAuthSettings,
    ClusterSettings,
    JobSettings,
    OneLakeSettings,
    SparkSettings,
    StorageSettings,
)
from lakehouse.config.sources import ConnectionSettings, SourceSettings

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
