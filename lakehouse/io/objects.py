"""Stored files read without Spark: pyarrow's file systems, for processes that run no JVM.

The search service and a search from the command line read an index (``<files>/indexes/...``)
and the latest version of a Delta table this way, so they answer in milliseconds instead of
starting a SparkSession. A local path (or ``file://``) is read directly; ``abfss://`` OneLake or
ADLS Gen2 goes through pyarrow's Azure file system, which authenticates with Azure's default
credential chain (``AZURE_CLIENT_ID`` / ``AZURE_CLIENT_SECRET`` / ``AZURE_TENANT_ID``, a managed
identity, or the Azure CLI's login); nothing here reads or logs a secret. Writing stays with
:mod:`lakehouse.io.files`, through the Spark jobs.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from lakehouse.errors import StoredFileError

_COMMIT = re.compile(r"^(\d{20})\.json$")


@functools.lru_cache(maxsize=16)
def _azure(account: str, suffix: str) -> pafs.FileSystem:
    return pafs.AzureFileSystem(
        account, dfs_storage_authority=suffix, blob_storage_authority=suffix.replace(".dfs.", ".blob.")
    )


def file_system(location: str) -> tuple[pafs.FileSystem, str]:
    """The file system holding ``location`` and the path inside it.

    Raises:
        StoredFileError: a scheme other than a local path, ``file://`` or ``abfss://``.
    """
    if "://" not in location:
        return pafs.LocalFileSystem(), location
    parts = urlsplit(location)
    if parts.scheme == "file":
        return pafs.LocalFileSystem(), parts.path
    if parts.scheme in ("abfss", "abfs"):
        container, _, host = parts.netloc.partition("@")
        account, _, rest = host.partition(".")
        if not (container and account and rest):
            raise StoredFileError(f"{location}: expected abfss://<container>@<account>.<host>/<path>")
        return _azure(account, f".{rest}"), f"{container}{parts.path}".rstrip("/")
    raise StoredFileError(f"{location}: cannot read {parts.scheme}:// without Spark (local, abfss:// only)")


def read_bytes(location: str) -> bytes | None:
    """A whole file's content, or None when there is no such file."""
    fs, path = file_system(location)
    try:
        with fs.open_input_stream(path) as stream:
            return stream.readall()
    except FileNotFoundError:
        return None
    except OSError as error:
        if _missing(fs, path):
            return None
        raise StoredFileError(f"{location}: {error}") from None


def read_text(location: str) -> str | None:
    """A small text file's content (UTF-8), or None when there is no such file."""
    data = read_bytes(location)
    return None if data is None else data.decode("utf-8")


def list_names(location: str) -> list[str]:
    """The names of the files and folders directly inside ``location`` (none when it is missing)."""
    fs, path = file_system(location)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except OSError as error:
        raise StoredFileError(f"{location}: {error}") from None
    return sorted(info.base_name for info in infos)


def delta_version(table_location: str) -> int | None:
    """The latest committed version of the Delta table at ``table_location``, or None when there is
    no table there.

    Reads only the names in ``_delta_log``: every commit writes ``<version, 20 digits>.json`` and
    log clean-up never removes the newest one, so the largest name is the latest version.
    """
    names = list_names(f"{table_location.rstrip('/')}/_delta_log")
    versions = [int(m.group(1)) for name in names if (m := _COMMIT.match(name))]
    return max(versions) if versions else None


def _missing(fs: pafs.FileSystem, path: str) -> bool:
    try:
        return fs.get_file_info(path).type == pafs.FileType.NotFound
    except OSError:
        return False
