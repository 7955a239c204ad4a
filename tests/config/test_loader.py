from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from lakehouse.config import load_config
from lakehouse.errors import ConfigError, UnknownEnvironmentError

PROJECT_DIR = Path(__file__).resolve().parents[2]
SHIPPED_CONF = PROJECT_DIR / "conf"

# conf/local checks that storage.root is set; every inline tree starts from this base
BASE_STORAGE = {"base/storage.yml": "storage:\n  root: data/lakehouse\n"}
SERVICE_PRINCIPAL = {
    "AZURE_TENANT_ID": "tenant-1",
    "AZURE_CLIENT_ID": "client-1",
    "AZURE_CLIENT_SECRET": "hunter2",
}
ADLS_ENVIRON = {"ADLS_ACCOUNT": "myacct", "ADLS_CONTAINER": "data", **SERVICE_PRINCIPAL}


def write_conf(tmp_path: Path, files: dict[str, str], environments=("local",)) -> Path:
    """Write ``conf/<relative path>`` files under ``tmp_path``; return the ``conf`` folder."""
    conf = tmp_path / "conf"
    for folder in ("base", *environments):
        (conf / folder).mkdir(parents=True, exist_ok=True)
    for relative, text in {**BASE_STORAGE, **files}.items():
        path = conf / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return conf


def load_error(conf: Path, env: str = "local", environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(env, conf_dir=conf, environ=environ or {})
    return caught.value


# --- layering ---------------------------------------------------------------------------------


def test_env_folder_value_overrides_base_value(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "base/spark.yml": "spark:\n  app_name: from-base\n",
            "local/spark.yml": "spark:\n  app_name: from-local\n",
        },
    )

    assert load_config("local", conf_dir=conf, environ={}).spark.app_name == "from-local"


def test_nested_mappings_merge_key_by_key(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "base/spark.yml": """\
                spark:
                  log_level: INFO
                  config:
                    spark.a: base-a
                    spark.b: base-b
                """,
            "local/spark.yml": """\
                spark:
                  config:
                    spark.b: local-b
                    spark.c: local-c
                """,
        },
    )

    spark = load_config("local", conf_dir=conf, environ={}).spark

    assert spark.log_level == "INFO"
    assert spark.config == {"spark.a": "base-a", "spark.b": "local-b", "spark.c": "local-c"}


def test_env_folder_list_replaces_base_list(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "base/storage.yml": "storage:\n  root: data\n  layers: [bronze, silver, gold, ops]\n",
            "local/storage.yml": "storage:\n  layers: [raw, ops]\n",
        },
    )

    assert load_config("local", conf_dir=conf, environ={}).storage.layers == ["raw", "ops"]


@pytest.fixture
def conf_with_three_environments(tmp_path) -> Path:
    environments = ("local", "cluster", "staging")
    return write_conf(
        tmp_path,
        {f"{env}/spark.yml": f"spark:\n  app_name: app-{env}\n" for env in environments},
        environments=environments,
    )


def test_env_argument_wins_over_lakehouse_env(conf_with_three_environments):
    config = load_config(
        "cluster", conf_dir=conf_with_three_environments, environ={"LAKEHOUSE_ENV": "staging"}
    )

    assert (config.env, config.spark.app_name) == ("cluster", "app-cluster")


def test_lakehouse_env_chooses_environment_without_argument(conf_with_three_environments):
    config = load_config(None, conf_dir=conf_with_three_environments, environ={"LAKEHOUSE_ENV": "staging"})

    assert (config.env, config.spark.app_name) == ("staging", "app-staging")


def test_environment_defaults_to_local(conf_with_three_environments):
    config = load_config(None, conf_dir=conf_with_three_environments, environ={})

    assert (config.env, config.spark.app_name) == ("local", "app-local")


# --- interpolation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${APP}", {"APP": "from-env"}, "from-env"),
        ("${APP:-fallback}", {"APP": "from-env"}, "from-env"),
        ("${APP:-fallback}", {}, "fallback"),
        ("${APP:-fallback}", {"APP": ""}, "fallback"),
        ("${APP-fallback}", {"APP": ""}, ""),
        ("${APP-fallback}", {}, "fallback"),
        ("pre-${APP}-post", {"APP": "mid"}, "pre-mid-post"),
        ("$${APP}", {"APP": "from-env"}, "${APP}"),
    ],
)
def test_variable_reference_is_interpolated(tmp_path, value, environ, expected):
    conf = write_conf(tmp_path, {"local/spark.yml": f"spark:\n  app_name: '{value}'\n"})

    assert load_config("local", conf_dir=conf, environ=environ).spark.app_name == expected


def test_interpolated_string_is_coerced_to_integer_field(tmp_path):
    conf = write_conf(tmp_path, {"local/cluster.yml": "cluster:\n  master_port: ${PORT:-7077}\n"})

    assert load_config("local", conf_dir=conf, environ={"PORT": "8"}).cluster.master_port == 8


def test_unset_variable_without_default_names_variable_key_and_file(tmp_path):
    conf = write_conf(tmp_path, {"local/spark.yml": "spark:\n  master: ${SPARK_MASTER_URL}\n"})

    error = load_error(conf)

    assert error.problems == [
        "conf/local/spark.yml: spark.master: environment variable SPARK_MASTER_URL is not set "
        "(set it, or give a default with ${SPARK_MASTER_URL:-value})"
    ]


# --- errors name the file and the key path ----------------------------------------------------


def test_unknown_key_suggests_the_closest_known_key(tmp_path):
    conf = write_conf(tmp_path, {"local/spark.yml": "spark:\n  mastr: local[2]\n"})

    (problem,) = load_error(conf).problems

    assert problem.startswith("conf/local/spark.yml: spark.mastr: unknown key")
    assert "did you mean 'master'?" in problem


def test_unknown_key_inside_a_named_job_lists_job_keys(tmp_path):
    conf = write_conf(tmp_path, {"local/jobs.yml": "jobs:\n  hello:\n    parms: {rows: 3}\n"})

    (problem,) = load_error(conf).problems

    assert problem == (
        "conf/local/jobs.yml: jobs.hello.parms: unknown key; did you mean 'params'? expected one of: params, "
        "lock_wait_seconds"
    )


@pytest.mark.parametrize(
    ("relative", "text", "key"),
    [
        ("local/spark.yml", "spark:\n  master: 42\n", "spark.master"),
        ("local/cluster.yml", "cluster:\n  master_port: abc\n", "cluster.master_port"),
        ("local/cluster.yml", "cluster:\n  master_port: 70000\n", "cluster.master_port"),
        ("local/spark.yml", "spark:\n  jars: maven\n", "spark.jars"),
    ],
)
def test_wrong_type_names_file_key_and_value(tmp_path, relative, text, key):
    conf = write_conf(tmp_path, {relative: text})

    (problem,) = load_error(conf).problems

    assert problem.startswith(f"conf/{relative}: {key}: ")
    assert "(got " in problem


def test_onelake_kind_without_onelake_section_names_the_missing_section(tmp_path):
    conf = write_conf(
        tmp_path, {"local/storage.yml": "storage:\n  kind: onelake\n  auth: {method: platform}\n"}
    )

    assert load_error(conf).problems == [
        "conf/local/storage.yml: storage.onelake: required when storage.kind is 'onelake'"
    ]


def test_onelake_section_without_lakehouse_names_the_missing_key(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "local/storage.yml": """\
                storage:
                  kind: onelake
                  onelake: {workspace: ws}
                  auth: {method: platform}
                """
        },
    )

    assert load_error(conf).problems == [
        "conf/local/storage.yml: storage.onelake.lakehouse: required key is missing"
    ]


def test_azure_storage_without_auth_section_is_refused(tmp_path):
    conf = write_conf(
        tmp_path, {"local/storage.yml": "storage:\n  kind: adls\n  adls: {account: acct, container: data}\n"}
    )

    assert load_error(conf).problems == [
        "conf/local/storage.yml: storage.auth: required when storage.kind is 'adls'"
    ]


def test_upper_case_layer_is_refused(tmp_path):
    conf = write_conf(tmp_path, {"local/storage.yml": "storage:\n  layers: [bronze, Silver, ops]\n"})

    assert load_error(conf).problems == [
        "conf/local/storage.yml: storage.layers: layer 'Silver' must be a lower-case identifier"
    ]


SECRET_IN_FILE = """\
    storage:
      auth:
        method: service_principal
        tenant_id: tenant-1
        client_id: client-1
        client_secret: {secret}
    """


def test_secret_written_in_file_is_refused_without_echoing_it(tmp_path):
    conf = write_conf(tmp_path, {"local/storage.yml": SECRET_IN_FILE.format(secret="hunter2")})

    error = load_error(conf)

    assert error.problems[0].startswith(
        "conf/local/storage.yml: storage.auth.client_secret: "
        "secrets may not be written in configuration files"
    )
    assert "hunter2" not in str(error)


def test_secret_written_as_default_of_a_variable_is_refused(tmp_path):
    conf = write_conf(
        tmp_path, {"local/storage.yml": SECRET_IN_FILE.format(secret="${AZURE_CLIENT_SECRET:-hunter2}")}
    )

    error = load_error(conf)

    assert "storage.auth.client_secret: secrets may not be written" in str(error)


def test_secret_of_the_wrong_type_is_not_echoed(tmp_path):
    conf = write_conf(tmp_path, {"local/storage.yml": SECRET_IN_FILE.format(secret="20240601")})

    error = load_error(conf)

    assert "storage.auth.client_secret" in str(error)
    assert "20240601" not in str(error)


def test_secret_from_environment_is_accepted_and_masked(tmp_path):
    conf = write_conf(tmp_path, {"local/storage.yml": SECRET_IN_FILE.format(secret="${AZURE_CLIENT_SECRET}")})

    config = load_config("local", conf_dir=conf, environ={"AZURE_CLIENT_SECRET": "hunter2"})

    assert config.storage.auth.client_secret.get_secret_value() == "hunter2"
    assert config.secret_values() == ["hunter2"]
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)


def test_invalid_yaml_names_file_and_line(tmp_path):
    conf = write_conf(tmp_path, {"local/spark.yml": "spark:\n  master: local\n app_name: x\n"})

    (problem,) = load_error(conf).problems

    assert problem.startswith("conf/local/spark.yml: line 3, column 2 invalid YAML")


def test_file_whose_root_is_a_list_is_refused(tmp_path):
    conf = write_conf(tmp_path, {"local/spark.yml": "- spark\n- master\n"})

    assert load_error(conf).problems == [
        "conf/local/spark.yml: the file must hold a mapping of keys, not list"
    ]


def test_empty_file_is_ignored(tmp_path):
    conf = write_conf(tmp_path, {"local/spark.yml": "# nothing yet\n"})

    assert load_config("local", conf_dir=conf, environ={}).spark.app_name == "lakehouse"


def test_two_files_of_one_folder_may_not_set_the_same_key(tmp_path):
    conf = write_conf(
        tmp_path,
        {"local/a.yml": "spark:\n  master: local[1]\n", "local/b.yml": "spark:\n  master: local[2]\n"},
    )

    (problem,) = load_error(conf).problems

    assert problem.startswith(
        "conf/local/b.yml: spark.master: already set by conf/local/a.yml in the same folder"
    )


def test_two_files_of_one_folder_may_set_different_keys_of_one_section(tmp_path):
    conf = write_conf(
        tmp_path,
        {"local/a.yml": "spark:\n  master: local[1]\n", "local/b.yml": "spark:\n  app_name: two-files\n"},
    )

    spark = load_config("local", conf_dir=conf, environ={}).spark

    assert (spark.master, spark.app_name) == ("local[1]", "two-files")


@pytest.mark.parametrize("key", ["env", "project_dir"])
def test_reserved_top_level_key_is_refused(tmp_path, key):
    conf = write_conf(tmp_path, {"base/extra.yml": f"{key}: something\n"})

    assert load_error(conf).problems == [
        f"conf/base/extra.yml: {key}: reserved key, set by the loader; remove it"
    ]


def test_unknown_environment_lists_available_ones(tmp_path):
    conf = write_conf(tmp_path, {}, environments=("local", "cluster"))

    with pytest.raises(UnknownEnvironmentError) as caught:
        load_config("staging", conf_dir=conf, environ={})

    assert isinstance(caught.value, ConfigError)
    assert "environment 'staging' has no folder conf/staging" in str(caught.value)
    assert str(caught.value).endswith("available environments: cluster, local")


def test_conf_dir_without_base_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"no lakehouse project at .* \(from --conf-dir\): .*/conf/base"):
        load_config("local", conf_dir=tmp_path / "conf", environ={})


# --- finding the project ------------------------------------------------------------------------


def project(tmp_path: Path, name: str, app_name: str) -> Path:
    """A project folder whose spark.app_name tells which one was read."""
    write_conf(tmp_path / name, {"base/spark.yml": f"spark:\n  app_name: {app_name}\n"})
    return tmp_path / name


def test_project_comes_from_the_argument_then_the_variables_then_the_current_folder(tmp_path, monkeypatch):
    given, elsewhere, here = (project(tmp_path, name, name) for name in ("given", "elsewhere", "here"))
    monkeypatch.chdir(here)
    by_project = {"LAKEHOUSE_PROJECT": str(elsewhere)}
    by_conf_dir = {"LAKEHOUSE_CONF_DIR": str(elsewhere / "conf")}

    assert load_config("local", project=given, environ={}).spark.app_name == "given"
    assert load_config("local", project=given, environ=by_project).project_dir == given
    assert load_config("local", environ=by_project).spark.app_name == "elsewhere"
    assert load_config("local", environ=by_conf_dir).project_dir == elsewhere
    assert load_config("local", environ={}).spark.app_name == "here"
    assert load_config("local", environ={}).conf_dir == here / "conf"


def test_project_and_conf_dir_together_are_refused(tmp_path):
    folder = project(tmp_path, "one", "one")

    with pytest.raises(ConfigError, match="give one"):
        load_config("local", conf_dir=folder / "conf", project=folder, environ={})


def test_a_folder_outside_the_checkout_never_reads_the_checkouts_conf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_config("local", environ={})

    message = str(caught.value)
    assert f"no lakehouse project at {tmp_path} (from the current folder)" in message
    assert "--project DIR" in message and "LAKEHOUSE_PROJECT" in message and "lakehouse init DIR" in message
    with pytest.raises(ConfigError, match=r"from LAKEHOUSE_PROJECT"):
        load_config("local", environ={"LAKEHOUSE_PROJECT": str(tmp_path / "missing")})


def test_a_subfolder_of_the_source_checkout_reads_its_conf(monkeypatch):
    monkeypatch.chdir(PROJECT_DIR / "tests")

    config = load_config("local", environ={})

    assert config.conf_dir == SHIPPED_CONF and config.project_dir == PROJECT_DIR


def test_a_project_with_python_code_goes_on_the_path_after_the_installed_packages(tmp_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))  # restored after the test
    folder = project(tmp_path, "coded", "coded")
    (folder / "jobs").mkdir()
    (folder / "jobs" / "__init__.py").write_text("")
    plain = project(tmp_path, "plain", "plain")

    load_config("local", project=folder, environ={})
    load_config("local", project=folder, environ={})
    load_config("local", project=plain, environ={})

    assert sys.path[-1] == str(folder) and sys.path.count(str(folder)) == 1
    assert str(plain) not in sys.path


def test_several_problems_are_reported_together(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "local/spark.yml": "spark:\n  mastr: local\n",
            "local/cluster.yml": "cluster:\n  master_port: abc\n",
        },
    )

    error = load_error(conf)

    assert len(error.problems) == 2
    assert str(error).startswith("2 configuration problems:\n")
    assert "conf/local/spark.yml: spark.mastr" in str(error)
    assert "conf/local/cluster.yml: cluster.master_port" in str(error)


# --- the shipped conf/ --------------------------------------------------------------------------


def test_shipped_local_environment_loads_with_empty_environment():
    config = load_config("local", conf_dir=SHIPPED_CONF, environ={})

    assert config.env == "local"
    assert config.project_dir == PROJECT_DIR
    assert config.spark.master == "local[*]"
    assert config.storage.kind == "local"
    assert config.resolve_path(config.storage.root) == PROJECT_DIR / "data" / "lakehouse"


def test_shipped_local_root_follows_lakehouse_root(tmp_path):
    config = load_config("local", conf_dir=SHIPPED_CONF, environ={"LAKEHOUSE_ROOT": str(tmp_path / "lake")})

    assert config.resolve_path(config.storage.root) == tmp_path / "lake"


def test_shipped_cluster_environment_uses_the_local_standalone_master():
    config = load_config("cluster", conf_dir=SHIPPED_CONF, environ={})

    assert config.spark.master == "spark://127.0.0.1:7077"
    assert config.cluster.master_port == 7077
    assert config.resolve_path(config.storage.root) == PROJECT_DIR / "data" / "lakehouse"


def test_shipped_cluster_master_follows_lakehouse_spark_master():
    environ = {"LAKEHOUSE_SPARK_MASTER": "spark://spark-master:7077", "LAKEHOUSE_MASTER_PORT": "7177"}

    config = load_config("cluster", conf_dir=SHIPPED_CONF, environ=environ)

    assert config.spark.master == "spark://spark-master:7077"
    assert config.cluster.master_port == 7177


def test_shipped_fabric_environment_defaults_to_platform_auth():
    environ = {"FABRIC_WORKSPACE": "sales-ws", "FABRIC_LAKEHOUSE": "sales"}

    config = load_config("fabric", conf_dir=SHIPPED_CONF, environ=environ)

    assert config.storage.kind == "onelake"
    assert (config.storage.onelake.workspace, config.storage.onelake.lakehouse) == ("sales-ws", "sales")
    assert config.storage.auth.method == "platform"
    assert config.storage.catalog == "metastore"
    assert (config.spark.master, config.spark.jars) == (None, "provided")


def test_shipped_fabric_environment_requires_workspace_and_lakehouse():
    error = load_error(SHIPPED_CONF, "fabric")

    assert len(error.problems) == 2
    assert error.problems[0].startswith(
        "conf/fabric/storage.yml: storage.onelake.workspace: environment variable FABRIC_WORKSPACE is not set"
    )
    assert error.problems[1].startswith(
        "conf/fabric/storage.yml: storage.onelake.lakehouse: environment variable FABRIC_LAKEHOUSE is not set"
    )


def test_shipped_adls_environment_loads_a_service_principal():
    config = load_config("adls", conf_dir=SHIPPED_CONF, environ=ADLS_ENVIRON)

    assert config.storage.kind == "adls"
    assert (config.storage.adls.account, config.storage.adls.container) == ("myacct", "data")
    assert config.storage.adls.path == "lakehouse"
    auth = config.storage.auth
    assert (auth.method, auth.tenant_id, auth.client_id) == ("service_principal", "tenant-1", "client-1")
    assert auth.client_secret.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(config)


def test_shipped_adls_environment_without_client_secret_names_the_key():
    environ = {key: value for key, value in ADLS_ENVIRON.items() if key != "AZURE_CLIENT_SECRET"}

    error = load_error(SHIPPED_CONF, "adls", environ)

    assert error.problems == [
        "conf/adls/storage.yml: storage.auth.client_secret: required for the service_principal method, "
        "but empty: is its environment variable set?"
    ]


def test_storage_catalog_with_provided_jars_is_refused(tmp_path):
    conf = write_conf(tmp_path, {"local/spark.yml": "spark:\n  jars: provided\n"})

    error = load_error(conf)

    assert "storage.catalog: 'storage' resolves tables with the lakehouse catalog jar" in str(error)


def test_layers_must_keep_ops_and_be_unique(tmp_path):
    conf = write_conf(tmp_path, {"local/storage.yml": "storage:\n  layers: [bronze, bronze]\n"})

    assert load_error(conf).problems == [
        "conf/local/storage.yml: storage.layers: must include 'ops', which holds the run records",
        "conf/local/storage.yml: storage.layers: a layer is listed twice",
    ]


def test_an_empty_storage_account_is_a_missing_value(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "local/storage.yml": (
                "storage:\n  kind: adls\n  adls:\n    account: ${ADLS_ACCOUNT}\n    container: lake\n"
                "  auth:\n    method: managed_identity\n"
            )
        },
    )

    error = load_error(conf, environ={"ADLS_ACCOUNT": ""})

    assert error.problems == [
        "conf/local/storage.yml: storage.adls.account: required, but empty: is its environment variable set?"
    ]


def test_a_secret_spark_property_must_come_from_the_environment(tmp_path):
    key = "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net"
    literal = write_conf(tmp_path / "a", {"local/spark.yml": f"spark:\n  config:\n    {key}: abc123\n"})
    from_environment = write_conf(
        tmp_path / "b", {"local/spark.yml": f"spark:\n  config:\n    {key}: ${{ACCOUNT_KEY}}\n"}
    )

    error = load_error(literal)
    config = load_config("local", conf_dir=from_environment, environ={"ACCOUNT_KEY": "abc123"})

    assert f"spark.config.{key}: secrets may not be written in configuration files" in str(error)
    assert "abc123" not in str(error)
    assert config.secret_values() == ["abc123"]
    assert config.masked_dump()["spark"]["config"][key] == "**********"


def test_a_project_builder_imports_from_the_project_folder_and_subfolders_find_the_project(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "path", list(sys.path))
    project = tmp_path / "shop"
    write_conf(
        project,
        {
            "base/sources.yml": "sources:\n  orders: {format: parquet, path: landing/orders}\n",
            "base/gold.yml": """\
                gold:
                  tables:
                    order_count:
                      comment: Orders
                      sources: [bronze.orders]
                      key: [n]
                      builder: shop_gold.tables:order_count
            """,
        },
    )
    (project / "shop_gold").mkdir()
    (project / "shop_gold" / "__init__.py").write_text("")
    (project / "shop_gold" / "tables.py").write_text(
        "def order_count(tables):\n"
        "    return tables['bronze.orders'].groupBy().count().withColumnRenamed('count', 'n')\n"
    )
    # the builder imports from the project folder, which the loader puts on sys.path before checking
    config = load_config("local", project=project, environ={})
    assert list(config.gold.tables) == ["order_count"]
    # from a subfolder of the project, its conf is found too
    monkeypatch.chdir(project / "shop_gold")
    assert load_config("local", environ={}).project_dir == project
