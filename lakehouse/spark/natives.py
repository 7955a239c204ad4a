"""LightGBM's native libraries in one folder on the JVM's library path, loaded once per JVM.

SynapseML 1.1.3 loads ``lib_lightgbm.so`` and ``lib_lightgbm_swig.so`` on every fit (and every
training task). It first asks the JVM's library path (``System.loadLibrary``); when they are not
there, it extracts both from the ``lightgbmlib`` jar into a new ``/tmp/mml-natives<random>``
folder and loads that copy. So every fit leaves 7.4 MB in ``/tmp`` and maps one more copy of the
library into the JVM. A run of about 6,500 LightGBM fits in one JVM (``benchmarks/automl.py``)
left 12,917 such folders (60 GB) and then the JVM died: it had no memory maps left
(``vm.max_map_count`` 65,530).

Extracted once into a fixed folder named by ``spark.driver.extraLibraryPath`` and
``spark.executor.extraLibraryPath``, the libraries are found on the library path and loaded
once. A JVM without the folder (an executor on another machine) falls back to SynapseML's
extraction, as before.
"""

from __future__ import annotations

import logging
import os
import platform
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)
JAR_PREFIX = "lightgbmlib-"
RESOURCES = "com/microsoft/ml/lightgbm/linux/x86_64/"
LIBRARIES = ("lib_lightgbm.so", "lib_lightgbm_swig.so")
LIBRARY_PATH_KEYS = ("spark.driver.extraLibraryPath", "spark.executor.extraLibraryPath")


def lightgbm_jar(jars: Iterable[str]) -> Path | None:
    """The ``lightgbmlib`` jar among a session's jar files (None: not a local jar)."""
    for jar in jars:
        path = Path(jar)
        if path.name.startswith(JAR_PREFIX) and path.suffix == ".jar" and path.is_file():
            return path
    return None


def extract_natives(jar: Path, cache: Path) -> Path | None:
    """The folder ``<cache>/natives/<jar name>`` holding the jar's Linux x86-64 libraries,
    extracted once (a library already there with the jar's size is kept). None on another
    platform, or when the jar holds no such library."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    target = cache / "natives" / jar.stem
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
        entries = {name: archive.getinfo(RESOURCES + name) for name in LIBRARIES if RESOURCES + name in names}
        if len(entries) != len(LIBRARIES):
            return None
        target.mkdir(parents=True, exist_ok=True)
        for name, entry in entries.items():
            path = target / name
            if path.is_file() and path.stat().st_size == entry.file_size:
                continue
            partial = target / f".{name}.{os.getpid()}"  # sessions may start side by side
            with archive.open(entry) as source, open(partial, "wb") as sink:
                sink.write(source.read())
            os.replace(partial, path)
    return target


def library_path_properties(properties: Mapping[str, str], cache: Path) -> dict[str, str]:
    """``spark.driver.extraLibraryPath`` and ``spark.executor.extraLibraryPath`` naming the
    extracted libraries ahead of any folder the properties already name; empty when the session
    has no local ``lightgbmlib`` jar."""
    jar = lightgbm_jar((properties.get("spark.jars") or "").split(","))
    folder = extract_natives(jar, cache) if jar is not None else None
    if folder is None:
        return {}
    return {
        key: os.pathsep.join([str(folder), *([properties[key]] if properties.get(key) else [])])
        for key in LIBRARY_PATH_KEYS
    }
