from __future__ import annotations

import re
from pathlib import Path

import pytest

from lakehouse.config import StorageSettings, load_config
from lakehouse.errors import TableNameError
from lakehouse.storage.layout import StorageLayout, TableLocation, TableName

PROJECT_DIR = Path(__file__).resolve().parents[2]
LAYERS = ["bronze", "silver", "gold", "ops"]
WORKSPACE_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
LAKEHOUSE_ID = "12345678-9abc-def0-1234-56789abcdef0"


def onelake(workspace: str = "ws", lakehouse: str = "lh") -> StorageLayout:
    settings = StorageSettings(
        kind="onelake", onelake={"workspace": workspace, "lakehouse": lakehouse}, auth={"method": "platform"}
    )
    return StorageLayout(settings, PROJECT_DIR)


def adls(path: str = "lake/house", account: str = "myacct") -> StorageLayout:
    settings = StorageSettings(
        kind="adls",
        adls={"account": account, "container": "data", "path": path},
        auth={"method": "managed_identity"},
    )
    return StorageLayout(settings, PROJECT_DIR)


def local(root: str, project_dir: Path = PROJECT_DIR) -> StorageLayout:
    return StorageLayout(StorageSettings(kind="local", root=root), project_dir)


# --- locations --------------------------------------------------------------------------------


def test_local_table_location_and_catalog_name(tmp_path):
    layout = local(str(tmp_path / "lake"))

    location = layout.table("silver.orders")

    assert location == TableLocation(
        TableName("silver", "orders"), "silver.orders", f"{tmp_path / 'lake'}/tables/silver/orders"
    )


def test_local_relative_root_is_resolved_against_project_dir(tmp_path):
    layout = local("data/lake", project_dir=tmp_path)

    assert layout.table("gold.revenue").location == f"{tmp_path.resolve()}/data/lake/tables/gold/revenue"


def test_layout_from_shipped_local_config_lives_under_project_data():
    layout = StorageLayout.from_config(load_config("local", conf_dir=PROJECT_DIR / "conf", environ={}))

    assert layout.table("bronze.events").location == f"{PROJECT_DIR}/data/lakehouse/tables/bronze/events"


def test_onelake_location_by_names_has_lakehouse_suffix():
    location = onelake("ws", "lh").table("silver.orders").location

    assert location == "abfss://ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Tables/silver/orders"


def test_onelake_location_by_ids_has_no_suffix():
    location = onelake(WORKSPACE_ID, LAKEHOUSE_ID).table("silver.orders").location

    assert location == (
        f"abfss://{WORKSPACE_ID}@onelake.dfs.fabric.microsoft.com/{LAKEHOUSE_ID}/Tables/silver/orders"
    )


@pytest.mark.parametrize(
    ("path", "expected_root"),
    [
        ("lake/house", "abfss://data@myacct.dfs.core.windows.net/lake/house"),
        ("/lake/house/", "abfss://data@myacct.dfs.core.windows.net/lake/house"),
        ("", "abfss://data@myacct.dfs.core.windows.net"),
    ],
)
def test_adls_table_location(path, expected_root):
    assert adls(path).table("silver.orders").location == f"{expected_root}/tables/silver/orders"


def test_catalog_name_is_layer_dot_name_for_every_kind():
    for layout in (local("/lake"), onelake(), adls()):
        assert layout.table("gold.revenue").catalog_name == "gold.revenue"


# --- files area -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (local("/lake"), "/lake/files/landing/orders"),
        (onelake(), "abfss://ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files/landing/orders"),
        (adls(), "abfss://data@myacct.dfs.core.windows.net/lake/house/files/landing/orders"),
    ],
    ids=["local", "onelake", "adls"],
)
def test_files_location(layout, expected):
    assert layout.files_location("landing", "orders") == expected


@pytest.mark.parametrize("part", ["..", "landing/../../etc", "/etc", ""])
def test_files_location_refuses_escaping_or_absolute_parts(part):
    with pytest.raises(ValueError, match=re.escape("must be a relative path without '..'")):
        local("/lake").files_location("landing", part)


# --- account host ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (local("/lake"), None),
        (onelake(), "onelake.dfs.fabric.microsoft.com"),
        (adls(account="otheracct"), "otheracct.dfs.core.windows.net"),
    ],
    ids=["local", "onelake", "adls"],
)
def test_account_host(layout, expected):
    assert layout.account_host == expected


# --- table names -------------------------------------------------------------------------------


def test_parse_splits_layer_and_name():
    assert TableName.parse("silver.order_lines", LAYERS) == TableName("silver", "order_lines")
    assert str(TableName.parse(TableName("gold", "revenue"), LAYERS)) == "gold.revenue"


def test_parse_unknown_layer_names_table_and_lists_layers():
    with pytest.raises(TableNameError) as caught:
        TableName.parse("platinum.orders", LAYERS)

    assert str(caught.value) == (
        "table 'platinum.orders': unknown layer 'platinum'; declared layers (storage.layers): "
        "bronze, silver, gold, ops"
    )


@pytest.mark.parametrize(
    "text", ["orders", "silver.orders.v2", "Silver.orders", "silver.Orders", "", "silver."]
)
def test_parse_malformed_name_names_table_and_expected_form(text):
    with pytest.raises(TableNameError) as caught:
        TableName.parse(text, LAYERS)

    assert f"table name {text!r} must be <layer>.<name>" in str(caught.value)
    assert "'silver.orders'" in str(caught.value)


def test_table_name_error_is_a_value_error():
    with pytest.raises(ValueError):
        TableName.parse("orders", LAYERS)


@pytest.mark.parametrize("value", [42, None, ("silver", "orders")])
def test_parse_non_string_raises_type_error(value):
    with pytest.raises(TypeError, match="table name must be a string"):
        TableName.parse(value, LAYERS)


def test_layout_checks_names_against_its_own_layers():
    layout = StorageLayout(
        StorageSettings(kind="local", root="/lake", layers=["raw", "curated"]), PROJECT_DIR
    )

    assert layout.table("raw.orders").location == "/lake/tables/raw/orders"
    with pytest.raises(TableNameError, match=re.escape("declared layers (storage.layers): raw, curated")):
        layout.table("silver.orders")
    with pytest.raises(TableNameError, match="unknown layer 'silver'"):
        layout.layer_location("silver")


# --- parts of abfss:// locations ---------------------------------------------------------------


@pytest.mark.parametrize("workspace", ["team/ws", "me@ws", "my ws"])
def test_onelake_workspace_that_breaks_the_uri_is_refused(workspace):
    with pytest.raises(TableNameError, match=re.escape(f"storage.onelake.workspace: {workspace!r}")):
        onelake(workspace=workspace)


def test_adls_account_that_breaks_the_uri_is_refused():
    with pytest.raises(TableNameError, match=re.escape("storage.adls.account: 'acct@evil'")):
        adls(account="acct@evil")
