"""LightGBM's native libraries: extracted once, named on the library path, loaded once per JVM
(SynapseML would otherwise extract 7.4 MB into a new /tmp/mml-natives folder on every fit)."""

from __future__ import annotations

import glob
import os

from pyspark.ml.feature import VectorAssembler

from lakehouse.jvm import source_checkout
from lakehouse.spark.jars import local_jars
from lakehouse.spark.natives import LIBRARIES, LIBRARY_PATH_KEYS, library_path_properties, lightgbm_jar


def test_the_libraries_are_extracted_once_and_put_before_the_users_library_path(tmp_path):
    jars = local_jars(source_checkout() / "jars" / "lib")
    properties = {"spark.jars": ",".join(jars), "spark.executor.extraLibraryPath": "/opt/own"}

    paths = library_path_properties(properties, tmp_path)

    folder = tmp_path / "natives" / lightgbm_jar(jars).stem
    assert paths["spark.driver.extraLibraryPath"] == str(folder)
    assert paths["spark.executor.extraLibraryPath"] == f"{folder}{os.pathsep}/opt/own"
    assert sorted(p.name for p in folder.iterdir()) == sorted(LIBRARIES)
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert library_path_properties(properties, tmp_path) == paths  # a second start extracts nothing
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    # no local lightgbmlib jar (spark.jars.packages, a platform's own jars): nothing to name
    assert library_path_properties({"spark.jars": ""}, tmp_path) == {}


def test_a_lightgbm_fit_loads_the_libraries_from_the_library_path_not_a_new_temp_folder(spark):
    from synapse.ml.lightgbm import LightGBMRegressor

    conf = spark.sparkContext.getConf()
    folder = conf.get(LIBRARY_PATH_KEYS[0])
    assert folder and all(os.path.isfile(os.path.join(folder.split(os.pathsep)[0], n)) for n in LIBRARIES)
    values = [(float(i % 7), float(i % 5), float(i % 3)) for i in range(200)]
    rows = spark.createDataFrame(values, ["a", "b", "y"])
    rows = VectorAssembler(inputCols=["a", "b"], outputCol="features").transform(rows)
    before = set(glob.glob("/tmp/mml-natives*"))
    for _ in range(2):
        LightGBMRegressor(labelCol="y", numIterations=3, verbosity=-1).fit(rows).transform(rows).count()
    assert set(glob.glob("/tmp/mml-natives*")) - before == set()
