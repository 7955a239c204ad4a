"""``lakehouse init``: scaffold a project of one's own, with a working example on real data.

A project is the template ``lakehouse/templates/project`` (configuration, a ``jobs`` package, a
test, a README) plus the files of one example, ``lakehouse/templates/examples/<example>`` (its
source, silver table, expectations and model). Both ship inside the package. In template text,
``{{name}}`` stands for a value of the project or its data set (:func:`template_values`); the
repository's ``examples/<example>`` folders are this function's output, checked by a test.
"""

from __future__ import annotations

import re
from pathlib import Path

from lakehouse.errors import ProjectExistsError
from lakehouse.samples.datasets import SAMPLE_DATASETS, sample_dataset

TEMPLATES = Path(__file__).resolve().parent / "templates"
PROJECT_TEMPLATE = TEMPLATES / "project"
EXAMPLE_TEMPLATES = TEMPLATES / "examples"
DEFAULT_EXAMPLE = "breast_cancer"
# template files stored under another name: a dotfile would be left out of the package data
RENAMED = {"gitignore": ".gitignore"}
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
_PROBLEMS = {"binary": "binary classification", "multiclass": "multiclass classification"}


def examples() -> list[str]:
    """The examples ``lakehouse init --example`` knows.

    Returns:
        The names of the bundled data sets that have a template, sorted.
    """
    return sorted(path.name for path in EXAMPLE_TEMPLATES.iterdir() if path.name in SAMPLE_DATASETS)


def template_values(example: str, project: str) -> dict[str, str]:
    """The values of a project's ``{{placeholders}}``.

    Args:
        example: the example's data set.
        project: the project's name (its folder's name).

    Returns:
        ``project``, ``package`` (a distribution name for pyproject.toml), and of the data set:
        ``dataset``, ``title``, ``question``, ``target``, ``problem``.
    """
    dataset = sample_dataset(example)
    return {
        "project": project,
        "package": re.sub(r"[^a-z0-9]+", "-", project.lower()).strip("-") or "lakehouse-project",
        "dataset": dataset.name,
        "title": dataset.title,
        "question": dataset.question,
        "target": dataset.target,
        "problem": _PROBLEMS.get(dataset.problem, dataset.problem),
    }


def render_project(example: str, project: str) -> dict[str, str]:
    """The files of a new project (pure: reads the templates, writes nothing).

    Args:
        example: ``breast_cancer`` or ``diabetes``.
        project: the project's name.

    Returns:
        Relative path (POSIX) -> text, sorted by path.

    Raises:
        ValueError: an unknown example, or a template naming a value that does not exist.
    """
    if example not in examples():
        raise ValueError(f"no example {example!r}; examples: {', '.join(examples())}")
    values = template_values(example, project)
    files: dict[str, str] = {}
    for root in (PROJECT_TEMPLATE, EXAMPLE_TEMPLATES / example):
        for path in sorted(root.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(root)
            target = relative.with_name(RENAMED.get(relative.name, relative.name)).as_posix()
            files[target] = _fill(path.read_text(encoding="utf-8"), values, path)
    return dict(sorted(files.items()))


def _fill(text: str, values: dict[str, str], template: Path) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ValueError(f"{template}: unknown placeholder {match.group(0)}; known: {', '.join(values)}")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(value, text)


def init_project(folder: str | Path, example: str = DEFAULT_EXAMPLE) -> list[Path]:
    """Create a project in ``folder`` with a working example.

    Args:
        folder: where to create it; it may exist if it is empty. Its name is the project's name.
        example: the example data set (``breast_cancer`` or ``diabetes``).

    Returns:
        The files written, sorted.

    Raises:
        ProjectExistsError: ``folder`` is a file, or a folder with anything in it (nothing is
            overwritten).
        ValueError: an unknown example.
    """
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ProjectExistsError(
            f"{folder} already exists and is not an empty folder; `lakehouse init` writes only into "
            "a new or empty folder (choose another path, or remove it first)"
        )
    files = render_project(example, folder.name)
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
