"""Build hook of the lakehouse wheel: the JVM part travels inside the package.

When a wheel is built, ``build_py`` compiles ``jars/src`` (our layer catalog and LightGBM batch
scorer) with ``javac`` into ``lakehouse/jvm/lakehouse-catalog.jar`` and copies ``jars/pom.xml``
(the Maven dependencies, resolved once at run time into the user cache) to
``lakehouse/jvm/pom.xml``. An editable install (``make setup``) skips it: a source checkout uses
``jars/lib``, which ``lakehouse jars resolve`` fills.

Build with ``pip wheel --no-deps --no-build-isolation .`` in an environment that has pyspark (its
jars are the compile classpath), a JDK 17 and, unless ``jars/lib`` is resolved, Maven.
Everything else is declared in pyproject.toml.
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE_ROOT = Path(__file__).resolve().parent


class BuildWithJvm(build_py):
    """``build_py`` that also puts the compiled jar and the pom into ``lakehouse/jvm``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        sys.path.insert(0, str(SOURCE_ROOT))  # lakehouse.jvm is standard library only
        try:
            from lakehouse.jvm.build import package_jvm
        finally:
            sys.path.remove(str(SOURCE_ROOT))
        written = package_jvm(SOURCE_ROOT, Path(self.build_lib) / "lakehouse" / "jvm")
        for path in written:
            print(f"lakehouse build hook: wrote {path}")


setup(cmdclass={"build_py": BuildWithJvm})
