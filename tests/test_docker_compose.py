"""The Docker set-up: docker-compose.yml wires a Spark standalone cluster and a runner from the
image of the Dockerfile, and that image has the same stack as the development venv.

These tests read the files; none needs a Docker engine or the network. The one that runs
``docker compose config`` is skipped where the ``docker compose`` plugin is not installed.
"""

from __future__ import annotations

import glob
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pyspark
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
LOCK_FILE = ROOT / "requirements.lock"

SERVICES = {"spark-master", "spark-worker-1", "spark-worker-2", "runner"}
WORKERS = ("spark-worker-1", "spark-worker-2")
MASTER_URL = "spark://spark-master:7077"
DATA_VOLUME = "lakehouse-data"
LAKEHOUSE_ROOT = "/lakehouse/data"


# ---------------------------------------------------------------------------------------------
# helpers


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line.startswith("#") or (not line and current):
            continue  # Docker drops comment lines, also inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            keyword, _, arguments = current.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """The variables set by ENV, unexpanded (``KEY=value ...`` and legacy ``KEY value`` forms)."""
    env: dict[str, str] = {}
    for keyword, arguments in instructions:
        if keyword != "ENV":
            continue
        tokens = shlex.split(arguments)
        if tokens and "=" not in tokens[0]:
            env[tokens[0]] = " ".join(tokens[1:])
            continue
        for token in tokens:
            key, _, value = token.partition("=")
            env[key] = value
    return env


def final_base_image(instructions: list[tuple[str, str]]) -> str:
    """The image of the last FROM (the stage that is the built image)."""
    images = [
        next(token for token in shlex.split(arguments) if not token.startswith("--"))
        for keyword, arguments in instructions
        if keyword == "FROM"
    ]
    assert images, "the Dockerfile has no FROM"
    return images[-1]


def command_tokens(command: str | list[str] | None) -> list[str]:
    """A compose ``command`` (string or list) as a list of words."""
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: dict) -> dict[str, str]:
    """A compose ``environment`` (mapping or ``KEY=value`` list) as a mapping."""
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return {str(key): "" if value is None else str(value) for key, value in environment.items()}
    return dict(item.partition("=")[::2] for item in environment)


def volume_mounts(service: dict) -> dict[str, str]:
    """Mount target -> source of a compose service (short ``src:dst[:mode]`` or long form)."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def depends_on(service: dict) -> set[str]:
    """Service names of a compose ``depends_on`` (list or mapping form)."""
    return set(service.get("depends_on") or [])


def build_context(service: dict) -> tuple[Path, Path] | None:
    """``(context folder, Dockerfile)`` of a service's ``build``, or None when it has none."""
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    context = (ROOT / build.get("context", ".")).resolve()
    return context, (context / build.get("dockerfile", "Dockerfile")).resolve()


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_uses_the_compose_spec_without_a_version_key(compose):
    assert "version" not in compose, "the Compose spec has no top-level `version:`; remove it"


def test_compose_has_the_cluster_and_runner_services(services):
    missing = SERVICES - set(services)
    assert not missing, f"docker-compose.yml lacks the services {sorted(missing)}"


def test_every_service_runs_the_image_built_from_the_local_dockerfile(services):
    built = {name: build_context(service) for name, service in services.items()}
    built = {name: context for name, context in built.items() if context is not None}
    assert built, "no service has a `build:`, so the lakehouse image is never built"
    for name, (context, dockerfile) in built.items():
        assert context == ROOT, f"{name} builds from {context}, not from the repository root"
        assert dockerfile == DOCKERFILE.resolve(), f"{name} builds {dockerfile}, not ./Dockerfile"

    built_images = {services[name].get("image") for name in built}
    assert len(built_images) == 1 and None not in built_images, (
        f"the services that build must tag one image name, got {built_images}"
    )
    (image,) = built_images
    for name in SERVICES:
        assert services[name].get("image") == image, (
            f"{name} runs {services[name].get('image')!r}, not the locally built {image!r}"
        )


def test_master_listens_where_the_workers_and_runner_look(services):
    master = services["spark-master"]
    words = command_tokens(master.get("command"))
    assert "org.apache.spark.deploy.master.Master" in words
    assert words[words.index("--host") + 1] == "spark-master", "the master must bind its service name"
    assert words[words.index("--port") + 1] == "7077"
    assert words[words.index("--webui-port") + 1] == "8080"
    published = {str(port).rsplit(":", 1)[-1] for port in master.get("ports") or []}
    assert {"7077", "8080"} <= published, f"the master publishes {sorted(published)}"


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_register_with_the_master(services, worker):
    service = services[worker]
    words = command_tokens(service.get("command"))
    assert "org.apache.spark.deploy.worker.Worker" in words, f"{worker} does not start a Worker"
    assert MASTER_URL in words, f"{worker} does not point at {MASTER_URL}: {words}"
    assert words[words.index("--cores") + 1] == "2"
    assert words[words.index("--memory") + 1] == "4g"
    assert "spark-master" in depends_on(service)


def test_runner_drives_the_cluster(services):
    runner = services["runner"]
    assert environment_of(runner).get("LAKEHOUSE_SPARK_MASTER") == MASTER_URL
    assert command_tokens(runner.get("command"))[:2] == ["lakehouse", "run"]
    assert "--env" in command_tokens(runner.get("command"))
    assert set(WORKERS) <= depends_on(runner), "the runner must wait for the workers"


def test_healthchecks_of_cluster_services(services):
    for name in ("spark-master", *WORKERS):
        test = (services[name].get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    for name in (*WORKERS, "runner"):
        conditions = services[name].get("depends_on") or {}
        assert isinstance(conditions, dict), f"{name} should wait for health, not just start order"
        assert conditions["spark-master"].get("condition") == "service_healthy"


def test_one_named_volume_is_the_lakehouse_root_of_every_service(compose, services, instructions):
    assert DATA_VOLUME in (compose.get("volumes") or {}), f"top-level volume {DATA_VOLUME} missing"
    for name in SERVICES:
        mounts = volume_mounts(services[name])
        assert mounts.get(LAKEHOUSE_ROOT) == DATA_VOLUME, (
            f"{name} does not mount {DATA_VOLUME} at {LAKEHOUSE_ROOT}: {mounts}"
        )
    assert dockerfile_env(instructions).get("LAKEHOUSE_ROOT") == LAKEHOUSE_ROOT, (
        "the image's LAKEHOUSE_ROOT must be where the shared volume is mounted"
    )


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_docker_compose_config_accepts_the_file():
    probe = subprocess.run(
        ["docker", "compose", "version"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip() or probe.stdout.strip()).splitlines()[:1]
        pytest.skip(f"the `docker compose` plugin is not installed ({''.join(reason)})")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 and "Cannot connect to the Docker daemon" in result.stderr:
        pytest.skip(f"`docker compose config` needs a Docker engine here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


# ---------------------------------------------------------------------------------------------
# Dockerfile: the same stack as the venv


def test_dockerfile_python_is_the_venv_python(instructions):
    image = final_base_image(instructions)
    match = re.match(r"^(?:docker\.io/)?(?:library/)?python:(\d+)\.(\d+)", image)
    assert match, f"the image is not built FROM an official python:X.Y image: {image}"
    assert (int(match[1]), int(match[2])) == sys.version_info[:2], (
        f"FROM {image} but the venv runs Python {sys.version_info.major}.{sys.version_info.minor}"
    )
    spark_home = dockerfile_env(instructions).get("SPARK_HOME")
    assert spark_home == f"/usr/local/lib/python{match[1]}.{match[2]}/site-packages/pyspark", (
        f"SPARK_HOME={spark_home} is not the pip pyspark of the image's Python"
    )


def test_dockerfile_installs_java_17(instructions):
    installs = " ".join(
        arguments
        for keyword, arguments in instructions
        if keyword == "RUN" and "apt-get install" in arguments
    )
    java_packages = re.findall(r"\bopenjdk-(\d+)-(?:jre|jdk)(?:-headless)?\b", installs)
    assert java_packages, "the Dockerfile installs no openjdk package"
    assert set(java_packages) == {"17"}, f"Java must be OpenJDK 17, found openjdk-{java_packages}"
    assert "maven" in installs.split(), "maven is needed to resolve jars/pom.xml"
    java_home = dockerfile_env(instructions).get("JAVA_HOME", "")
    assert java_home.startswith("/usr/lib/jvm/"), f"JAVA_HOME={java_home!r}"


def test_dockerfile_takes_pyspark_from_the_repository_pins(instructions):
    text = " ".join(arguments for _, arguments in instructions)
    assert not re.search(r"pyspark\s*(?:[=<>~!]=|[<>]|@)", text, re.IGNORECASE), (
        "the Dockerfile pins pyspark itself; it must come from pyproject.toml/requirements.lock"
    )
    copied = " ".join(arguments for keyword, arguments in instructions if keyword in ("COPY", "ADD"))
    assert "requirements.lock" in copied.split() and "pyproject.toml" in copied.split()
    pip_installs = [
        arguments
        for keyword, arguments in instructions
        if keyword == "RUN" and re.search(r"\bpip3? install\b", arguments)
    ]
    assert pip_installs, "the Dockerfile runs no pip install"
    assert all(
        re.search(r"(?:-c|--constraint|-r|--requirement)\s+requirements\.lock", run) for run in pip_installs
    ), "every pip install must be constrained by requirements.lock"
    assert any(re.search(r"\binstall\b.*\s(?:-e\s+)?\.(?:\s|$)", run) for run in pip_installs), (
        "the Dockerfile never installs the project (pyproject.toml) itself"
    )


def test_pyproject_pins_the_venv_pyspark(pyproject):
    pins = [
        dependency
        for dependency in pyproject["project"]["dependencies"]
        if re.match(r"^pyspark\s*==", dependency, re.IGNORECASE)
    ]
    assert pins, "pyproject.toml does not pin pyspark== in [project].dependencies"
    assert pins == [f"pyspark=={pyspark.__version__}"], (
        f"pyproject pins {pins} but the venv has pyspark {pyspark.__version__}"
    )


def test_lock_pins_the_venv_pyspark():
    assert LOCK_FILE.is_file(), "requirements.lock, which the Dockerfile installs from, is missing"
    pins = re.findall(
        r"^pyspark==([^\s;\\#]+)", LOCK_FILE.read_text(encoding="utf-8"), re.IGNORECASE | re.MULTILINE
    )
    assert pins == [pyspark.__version__], (
        f"requirements.lock pins pyspark {pins}, the venv has {pyspark.__version__}"
    )


def test_dockerfile_copies_only_files_the_repository_has(instructions):
    for keyword, arguments in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        words = [word for word in shlex.split(arguments) if not word.startswith("--")]
        if any(word.startswith("--from") for word in shlex.split(arguments)):
            continue
        sources = words[:-1]
        matched = [source for source in sources if glob.glob(str(ROOT / source))]
        assert matched, f"{keyword} {arguments}: nothing to copy in the repository"
        for source in sources:
            if not glob.has_magic(source):  # a wildcard may match nothing; a plain path must exist
                assert (ROOT / source).exists(), f"{keyword} {arguments}: {source} does not exist"


def test_dockerfile_resolves_the_jvm_jars_and_runs_the_cli(instructions, pyproject):
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any("lakehouse jars resolve" in run for run in runs)
    assert (ROOT / "lakehouse" / "spark" / "jars.py").is_file()
    env = dockerfile_env(instructions)
    assert re.search(r"\$\{?SPARK_HOME\}?/bin", env.get("PATH", "")), "PATH lacks $SPARK_HOME/bin"
    assert env.get("PYSPARK_PYTHON") == "python3"
    cmd = [arguments for keyword, arguments in instructions if keyword == "CMD"]
    assert cmd and yaml.safe_load(cmd[-1]) == ["lakehouse", "--help"]
    assert "lakehouse" in pyproject["project"]["scripts"], "the image's CMD needs the lakehouse script"


def test_dockerfile_runs_as_a_non_root_user(instructions):
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0"), f"the image runs as {users[-1]}"


def test_published_ports_are_on_loopback_and_rpc_authentication_is_on(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    for name in ("spark-master", *WORKERS):
        service = services[name]
        words = command_tokens(service.get("command"))
        properties = words[words.index("--properties-file") + 1]
        # the entrypoint writes the secret from the environment into that file, with a builtin
        entrypoint = " ".join(service.get("entrypoint") or [])
        assert (
            f"> {properties}" in entrypoint and "umask 077" in entrypoint and 'exec "$$@"' in entrypoint
        )  # compose's $$ is a literal $
        assert "spark.authenticate true" in entrypoint
        assert "LAKEHOUSE_SPARK_AUTH_SECRET" in environment_of(service)
        assert "spark.authenticate.secret=" not in " ".join(words)  # never on a command line
    assert environment_of(services["runner"])["LAKEHOUSE_SPARK_AUTH_SECRET"].startswith(
        "${LAKEHOUSE_SPARK_AUTH_SECRET:?"
    )
