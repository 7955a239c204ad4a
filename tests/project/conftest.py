"""Each test of a project of one's own starts and ends without another project's modules.

Loading a project puts its folder on ``sys.path`` and its ``jobs`` package into ``sys.modules``
(as ``lakehouse run`` does, once per process); tests load several projects in one process.
"""

import sys

import pytest


def _forget_project_jobs() -> None:
    for name in [name for name in sys.modules if name == "jobs" or name.startswith("jobs.")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def isolated_project_modules(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    _forget_project_jobs()
    yield
    _forget_project_jobs()
