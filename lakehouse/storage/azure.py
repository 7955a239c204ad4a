"""Hadoop ABFS OAuth settings for OneLake and ADLS Gen2 (``abfss://``).

Settings are scoped to one account host (``fs.azure.account.<key>.<host>``), so a session can
reach other storage accounts with their own credentials. Secrets come from the configuration,
which only accepts them from environment variables.
"""

from __future__ import annotations

from lakehouse.config.platform import AzureAuthSettings

CLIENT_CREDENTIALS_PROVIDER = "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
MANAGED_IDENTITY_PROVIDER = "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider"
AUTHORITY = "https://login.microsoftonline.com"


def abfs_oauth_settings(auth: AzureAuthSettings | None, host: str | None) -> dict[str, str]:
    """Hadoop configuration keys (without ``spark.hadoop.``) that authenticate ``host``.

    Args:
        auth: the ``storage.auth`` section; None or method ``platform`` sets nothing.
        host: the account host, e.g. ``onelake.dfs.fabric.microsoft.com`` or
            ``myaccount.dfs.core.windows.net``; None for local storage.

    Returns:
        The Hadoop settings; empty when there is nothing to set. Values may hold a secret:
        never log them (Spark redacts keys that contain ``secret`` in its UI and logs).
    """
    if auth is None or host is None or auth.method == "platform":
        return {}
    settings = {f"fs.azure.account.auth.type.{host}": "OAuth"}
    if auth.method == "service_principal":
        settings.update(
            {
                f"fs.azure.account.oauth.provider.type.{host}": CLIENT_CREDENTIALS_PROVIDER,
                f"fs.azure.account.oauth2.client.id.{host}": auth.client_id or "",
                f"fs.azure.account.oauth2.client.secret.{host}": (
                    auth.client_secret.get_secret_value() if auth.client_secret else ""
                ),
                f"fs.azure.account.oauth2.client.endpoint.{host}": (
                    f"{AUTHORITY}/{auth.tenant_id}/oauth2/token"
                ),
            }
        )
    else:  # managed_identity: tenant and client id are optional (system-assigned identity)
        settings[f"fs.azure.account.oauth.provider.type.{host}"] = MANAGED_IDENTITY_PROVIDER
        if auth.tenant_id:
            settings[f"fs.azure.account.oauth2.msi.tenant.{host}"] = auth.tenant_id
        if auth.client_id:
            settings[f"fs.azure.account.oauth2.client.id.{host}"] = auth.client_id
        if auth.msi_endpoint:
            settings[f"fs.azure.account.oauth2.msi.endpoint.{host}"] = auth.msi_endpoint
    return settings
