from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import AzureAuthSettings, load_config
from lakehouse.storage.azure import abfs_oauth_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOST = "myacct.dfs.core.windows.net"
MSI_PROVIDER = "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"


def service_principal() -> AzureAuthSettings:
    return AzureAuthSettings(
        method="service_principal", tenant_id="tenant-1", client_id="client-1", client_secret="hunter2"
    )


def test_service_principal_sets_client_credentials_for_the_host():
    assert abfs_oauth_settings(service_principal(), HOST) == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": (
            "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
        ),
        f"fs.azure.account.oauth2.client.id.{HOST}": "client-1",
        f"fs.azure.account.oauth2.client.secret.{HOST}": "hunter2",
        f"fs.azure.account.oauth2.client.endpoint.{HOST}": (
            "https://login.microsoftonline.com/tenant-1/oauth2/token"
        ),
    }


def test_managed_identity_without_options_sets_only_the_provider():
    auth = AzureAuthSettings(method="managed_identity")

    assert abfs_oauth_settings(auth, HOST) == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": MSI_PROVIDER,
    }


def test_managed_identity_sets_the_options_it_is_given():
    auth = AzureAuthSettings(
        method="managed_identity",
        tenant_id="tenant-1",
        client_id="client-1",
        msi_endpoint="http://169.254.169.254",
    )

    settings = abfs_oauth_settings(auth, HOST)

    assert settings == {
        f"fs.azure.account.auth.type.{HOST}": "OAuth",
        f"fs.azure.account.oauth.provider.type.{HOST}": MSI_PROVIDER,
        f"fs.azure.account.oauth2.msi.tenant.{HOST}": "tenant-1",
        f"fs.azure.account.oauth2.client.id.{HOST}": "client-1",
        f"fs.azure.account.oauth2.msi.endpoint.{HOST}": "http://169.254.169.254",
    }


@pytest.mark.parametrize(
    ("auth", "host"),
    [
        (AzureAuthSettings(method="platform"), HOST),
        (None, HOST),
        (service_principal(), None),
    ],
    ids=["platform", "no-auth", "no-host"],
)
def test_nothing_to_set(auth, host):
    assert abfs_oauth_settings(auth, host) == {}


def test_settings_are_scoped_to_their_host():
    onelake = abfs_oauth_settings(service_principal(), "onelake.dfs.fabric.microsoft.com")
    account = abfs_oauth_settings(service_principal(), HOST)

    assert all(key.endswith(".onelake.dfs.fabric.microsoft.com") for key in onelake)
    assert all(key.endswith(f".{HOST}") for key in account)
    assert not set(onelake) & set(account)


def test_client_secret_is_held_as_a_secret():
    auth = service_principal()

    assert auth.client_secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(auth)


def test_shipped_adls_credentials_are_set_at_run_time_never_at_launch():
    from lakehouse.spark.session import runtime_properties, session_properties

    environ = {
        "ADLS_ACCOUNT": "myacct",
        "ADLS_CONTAINER": "data",
        "AZURE_TENANT_ID": "tenant-1",
        "AZURE_CLIENT_ID": "client-1",
        "AZURE_CLIENT_SECRET": "hunter2",
        "LAKEHOUSE_JARS": "packages",
    }
    config = load_config("adls", conf_dir=PROJECT_DIR / "conf", environ=environ)

    launch = session_properties(config)
    runtime = runtime_properties(config)

    assert launch["spark.jars"].endswith("lakehouse-catalog.jar")  # only our catalog ships as a file
    assert "spark.sql.warehouse.dir" not in launch
    # pyspark puts launch properties on the spark-submit command line: no secret may be there
    assert "hunter2" not in " ".join(launch.values())
    assert runtime[f"spark.hadoop.fs.azure.account.oauth2.client.secret.{HOST}"] == "hunter2"
    assert runtime[f"spark.hadoop.fs.azure.account.oauth2.client.endpoint.{HOST}"] == (
        "https://login.microsoftonline.com/tenant-1/oauth2/token"
    )
    assert (
        runtime["spark.lakehouse.tablesRoot"] == "abfss://data@myacct.dfs.core.windows.net/lakehouse/tables"
    )
