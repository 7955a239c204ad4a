"""The jobs of this project.

A job is a ``lakehouse.runs.Job`` subclass. Name it in ``conf/base/pipelines.yml`` as
``jobs.<module>:<JobClass>`` (this folder is on the Python path whenever lakehouse reads this
project's configuration), or register a short name in ``pyproject.toml`` under
``[project.entry-points."lakehouse.jobs"]`` and ``pip install -e .`` this project.
"""
