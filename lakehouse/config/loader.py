"""Find the project, then read its ``conf/base`` and ``conf/<env>`` into one :class:`LakehouseConfig`.

A project is a folder with ``conf/base`` (``lakehouse init DIR`` makes one). It is found from
``--project DIR`` (or ``--conf-dir DIR/conf``), else ``$LAKEHOUSE_PROJECT`` (or
``$LAKEHOUSE_CONF_DIR``), else the current folder; see :func:`find_conf_dir`.

Layering follows Kedro: every ``*.yml`` under ``conf/base`` is read, then every ``*.yml``
under ``conf/<env>`` is merged on top (mappings merge key by key, any other value replaces).
Strings may refer to the environment with ``${VAR}`` (required) or ``${VAR:-default}``
(default when unset or empty); ``$${`` writes a literal ``${``. Each key remembers the file
that set it, so that every error names the file and the key path at fault.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.section import is_secret_property
from lakehouse.errors import ConfigError, UnknownEnvironmentError
from lakehouse.jvm import source_checkout

DEFAULT_ENV = "local"
ENV_VARIABLE = "LAKEHOUSE_ENV"
CONF_DIR_VARIABLE = "LAKEHOUSE_CONF_DIR"
PROJECT_VARIABLE = "LAKEHOUSE_PROJECT"
BASE = "base"

# Keys the loader fills in itself; a YAML file may not set them.
_RESERVED_KEYS = ("env", "project_dir", "conf_dir")
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")

KeyPath = tuple[str, ...]


def load_config(
    env: str | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    project: str | os.PathLike[str] | None = None,
) -> LakehouseConfig:
    """Load the configuration of one environment of a project.

    The project folder is also put on ``sys.path`` (after the installed packages), so that jobs
    of its own named ``package.module:JobClass`` in ``pipelines.yml`` (e.g. ``jobs.profile:...``)
    load when run from anywhere.

    Args:
        env: environment folder under ``conf/``; defaults to ``$LAKEHOUSE_ENV``, then ``local``.
        conf_dir: the ``conf`` folder (``--conf-dir``); give this or ``project``, not both.
        environ: variables for ``${VAR}`` references and the search; defaults to ``os.environ``.
        project: the project folder (``--project``), whose ``conf`` is read.

    Returns:
        The validated configuration, with relative paths resolved against the project folder
        (the parent of ``conf``).

    Raises:
        UnknownEnvironmentError: ``conf/<env>`` does not exist.
        ConfigError: no project is found (see :func:`find_conf_dir`), a file cannot be parsed, or
            a key is unknown, of the wrong type, missing, refers to an unset variable, or holds a
            secret written into the file.
    """
    environ = os.environ if environ is None else environ
    conf_path = find_conf_dir(conf_dir, environ, project)
    env = env or environ.get(ENV_VARIABLE) or DEFAULT_ENV
    environments = available_environments(conf_path)
    if env not in environments:
        raise UnknownEnvironmentError(
            f"{conf_path}: environment {env!r} has no folder conf/{env}; "
            f"available environments: {', '.join(environments) or 'none'}"
        )

    tree, origins = _merged_layers(conf_path, env)
    problems: list[str] = []
    from_environment: set[KeyPath] = set()
    tree = _interpolate(tree, (), environ, origins, from_environment, problems)
    if problems:
        raise ConfigError(problems)

    try:
        config = LakehouseConfig.model_validate(
            {**tree, "env": env, "project_dir": conf_path.parent, "conf_dir": conf_path}
        )
    except ValidationError as error:
        raise ConfigError(_describe_validation_errors(error, tree, origins)) from None

    # before the checks: they import the project's own builders and jobs (package.module:name)
    _make_importable(config.project_dir)
    problems = _secrets_written_in_files(config, origins, from_environment)
    problems += [f"{_locate(origins, path)}: {'.'.join(path)}: {message}" for path, message in config.check()]
    if problems:
        raise ConfigError(problems)
    return config


def _merged_layers(conf_path: Path, env: str) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    """``conf/base`` with ``conf/<env>`` merged over it, and the file each key came from."""
    tree: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    problems: list[str] = []
    for folder in (BASE, env) if env != BASE else (BASE,):
        layer, layer_origins = _read_folder(conf_path / folder, conf_path.parent, problems)
        _merge(tree, layer, (), origins, layer_origins)
    for key in _RESERVED_KEYS:
        if key in tree:
            problems.append(f"{origins[(key,)]}: {key}: reserved key, set by the loader; remove it")
    if problems:
        raise ConfigError(problems)
    return tree, origins


def find_conf_dir(
    conf_dir: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    project: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the ``conf`` folder of the project to read.

    The first of these that is given decides; it must then hold ``base/``:

    1. ``conf_dir`` (``--conf-dir``) or ``project`` (``--project``: its ``conf``);
    2. ``$LAKEHOUSE_CONF_DIR``, else ``$LAKEHOUSE_PROJECT`` (its ``conf``);
    3. the ``conf`` of the current folder or of its nearest parent that has one. Inside this
       package's own source checkout (a subfolder of it) that checkout's ``conf`` is read; a
       folder elsewhere never falls back to it.

    Args:
        conf_dir: the ``conf`` folder, or None.
        environ: the environment to read the variables from.
        project: the project folder, or None.

    Returns:
        The ``conf`` folder, resolved.

    Raises:
        ConfigError: both ``conf_dir`` and ``project``, or no ``conf/base`` where the search
            ended, naming the folder and the ways to point at a project.
    """
    if conf_dir is not None and project is not None:
        raise ConfigError(
            f"--conf-dir {conf_dir} and --project {project}: give one (a project's configuration "
            "is its conf folder)"
        )
    if conf_dir is not None:
        candidate, source = Path(conf_dir), "--conf-dir"
    elif project is not None:
        candidate, source = Path(project) / "conf", "--project"
    elif environ.get(CONF_DIR_VARIABLE):
        candidate, source = Path(environ[CONF_DIR_VARIABLE]), CONF_DIR_VARIABLE
    elif environ.get(PROJECT_VARIABLE):
        candidate, source = Path(environ[PROJECT_VARIABLE]) / "conf", PROJECT_VARIABLE
    else:
        candidate, source = _conf_of_current_folder(), "the current folder"
    candidate = candidate.expanduser()
    if (candidate / BASE).is_dir():
        return candidate.resolve()
    raise ConfigError(
        f"no lakehouse project at {candidate.parent} (from {source}): {candidate / BASE} does not "
        f"exist; run from a project folder, pass --project DIR, set {PROJECT_VARIABLE}, or create "
        "one with `lakehouse init DIR`"
    )


def _conf_of_current_folder() -> Path:
    """``./conf`` of the current folder or of the nearest parent that has one (run from a project's
    subfolder, e.g. its ``jobs/``); inside the source checkout this package runs from, the
    checkout's ``conf``."""
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "conf" / BASE).is_dir():
            return folder / "conf"
    checkout = source_checkout()
    if checkout is not None and here.resolve().is_relative_to(checkout.resolve()):
        return checkout / "conf"
    return here / "conf"


def _make_importable(project_dir: Path) -> None:
    """Put a project folder that holds Python code at the end of ``sys.path``: its own job modules
    then import by name, and never shadow an installed package."""
    folder = str(project_dir)
    if folder in sys.path:
        return
    has_code = any(project_dir.glob("*.py")) or any(project_dir.glob("*/__init__.py"))
    if has_code:
        sys.path.append(folder)


def available_environments(conf_dir: Path) -> list[str]:
    """List the environment folders of ``conf_dir`` (every subfolder but ``base``)."""
    return sorted(p.name for p in conf_dir.iterdir() if p.is_dir() and p.name != BASE)


def _read_folder(
    folder: Path, project_dir: Path, problems: list[str]
) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    """Merge the YAML files of one folder; two files of one folder may not set the same key."""
    tree: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    for file in files:
        name = _display_name(file, project_dir)
        try:
            content = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problems.append(f"{name}:{where} invalid YAML: {getattr(error, 'problem', error)}")
            continue
        if content is None:
            continue
        if not isinstance(content, dict):
            problems.append(f"{name}: the file must hold a mapping of keys, not {type(content).__name__}")
            continue
        file_origins = {path: name for path in _paths(content, ())}
        for path in _leaf_paths(content, ()):
            if path in origins and _is_leaf_in(tree, path):
                problems.append(
                    f"{name}: {'.'.join(path)}: already set by {origins[path]} in the same folder; "
                    "set each key in one file per folder"
                )
        _merge(tree, content, (), origins, file_origins)
    return tree, origins


def _display_name(file: Path, project_dir: Path) -> str:
    try:
        return str(file.resolve().relative_to(project_dir))
    except ValueError:
        return str(file)


def _paths(node: Any, prefix: KeyPath):
    if isinstance(node, dict):
        for key, value in node.items():
            path = (*prefix, str(key))
            yield path
            yield from _paths(value, path)


def _leaf_paths(node: Any, prefix: KeyPath):
    for key, value in node.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            yield from _leaf_paths(value, path)
        else:
            yield path


def _is_leaf_in(tree: dict[str, Any], path: KeyPath) -> bool:
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _merge(
    target: dict[str, Any],
    layer: dict[str, Any],
    prefix: KeyPath,
    origins: dict[KeyPath, str],
    layer_origins: dict[KeyPath, str],
) -> None:
    for key, value in layer.items():
        key = str(key)
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            origins[path] = layer_origins[path]
            _merge(target[key], value, path, origins, layer_origins)
            continue
        for stale in [p for p in origins if p[: len(path)] == path]:
            del origins[stale]
        target[key] = _copy(value)
        origins.update({p: f for p, f in layer_origins.items() if p[: len(path)] == path})


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _interpolate(
    node: Any,
    path: KeyPath,
    environ: Mapping[str, str],
    origins: dict[KeyPath, str],
    from_environment: set[KeyPath],
    problems: list[str],
) -> Any:
    if isinstance(node, dict):
        return {
            key: _interpolate(value, (*path, key), environ, origins, from_environment, problems)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(value, path, environ, origins, from_environment, problems) for value in node]
    if not isinstance(node, str) or "$" not in node:
        return node

    # A value counts as "from the environment" (the only place a secret may come from) when
    # it is one reference, nothing around it, whose value the environment really supplied.
    whole_reference = _REFERENCE.fullmatch(node.strip()) is not None and node.strip() != "$${"

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, operator, default = match.group(1), match.group(2), match.group(3)
        value = environ.get(name)
        if (operator == ":-" and not value) or (operator == "-" and value is None):
            return default
        if whole_reference:
            from_environment.add(path)
        if value is None:
            problems.append(
                f"{_locate(origins, path)}: {'.'.join(path)}: environment variable {name} is not set "
                f"(set it, or give a default with ${{{name}:-value}})"
            )
            return ""
        return value

    return _REFERENCE.sub(substitute, node)


def _locate(origins: dict[KeyPath, str], path: KeyPath | tuple[Any, ...]) -> str:
    """Name the file that set ``path`` or, failing that, its nearest parent."""
    path = tuple(str(p) for p in path)
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return "conf"


def _describe_validation_errors(
    error: ValidationError, tree: dict[str, Any], origins: dict[KeyPath, str]
) -> list[str]:
    problems: dict[str, list[str]] = {}
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"] if not _is_union_branch(part))
        key = ".".join(loc)
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            hint = difflib.get_close_matches(loc[-1], allowed, n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            message = f"unknown key; {suggestion}expected one of: {', '.join(allowed)}"
        elif item["type"] == "missing":
            message = "required key is missing"
        elif _is_secret(loc):
            message = f"{item['msg']} (value not shown: it is a secret)"
        else:
            message = f"{item['msg']} (got {_short(item.get('input'))})"
        # a union (e.g. spark.config values) reports once per type it tried: say it once
        problems.setdefault(f"{_locate(origins, loc)}: {key}", []).append(message)
    return [f"{where}: {' / '.join(dict.fromkeys(messages))}" for where, messages in problems.items()]


def _is_secret(loc: KeyPath) -> bool:
    if loc[:2] == ("spark", "config") and len(loc) > 2 and is_secret_property(loc[2]):
        return True
    model: type[BaseModel] | None = LakehouseConfig
    for part in loc:
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return False
        if "SecretStr" in repr(field.annotation):
            return True
        model = _model_in(field.annotation)
    return False


def _is_union_branch(part: Any) -> bool:
    # pydantic puts the tried type of a union into the location, e.g. ('x', 'str'); drop it
    return isinstance(part, str) and part in {"str", "int", "float", "bool", "function-after[...]"}


def _allowed_keys(loc: KeyPath) -> list[str]:
    """Field names of the model section at ``loc`` (dictionary keys such as job names skipped)."""
    model: type[BaseModel] = LakehouseConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            continue
        annotation = _model_in(field.annotation)
        if annotation is None:
            return []
        model = annotation
    return [name for name in model.model_fields if name not in _RESERVED_KEYS]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _secrets_written_in_files(
    config: LakehouseConfig, origins: dict[KeyPath, str], from_environment: set[KeyPath]
) -> list[str]:
    """Secrets may only come from the environment: refuse any literal secret in a YAML file."""
    return [
        f"{_locate(origins, path)}: {'.'.join(path)}: secrets may not be written in "
        "configuration files; write ${SOME_VARIABLE} and set the variable in the environment"
        for path, value in config.secrets()
        if value and path not in from_environment
    ]
