"""Real public data sets bundled with scikit-learn, as tables a lakehouse example can ingest.

scikit-learn ships them inside its package, so nothing is downloaded:

- ``breast_cancer``: the Wisconsin diagnostic breast cancer data (569 tumours, 30 measurements of
  their cell nuclei), target ``diagnosis``, the string label ``malignant`` or ``benign``;
- ``diabetes``: 442 diabetes patients (age, sex, body mass index, blood pressure and six blood
  serum measurements, in their original units), target ``progression``, a measure of the disease
  one year after baseline.

Each becomes one row per sample with a ``sample_id`` (1, 2, ...: the row's position in the data
set), snake_case column names and the target last; :func:`land_sample` writes it as one CSV file
into the landing folder, where ``bronze_ingest`` picks it up.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from lakehouse.io import files

ID_COLUMN = "sample_id"


@dataclass(frozen=True)
class SampleDataset:
    """One bundled data set and how it becomes a table.

    Attributes:
        name: the data set's name (``breast_cancer``), also its landing folder and table name.
        title: a short title for people.
        question: what a model of it answers, for descriptions.
        target: the column to predict.
        problem: ``binary`` classification or ``regression``.
        load: builds the frame from scikit-learn: one row per sample, features then target.
    """

    name: str
    title: str
    question: str
    target: str
    problem: str
    load: Callable[[], pd.DataFrame]


def snake_case(name: str) -> str:
    """A column name in snake_case: ``"mean concave points"`` -> ``"mean_concave_points"``.

    Args:
        name: any name.

    Returns:
        Lower case letters and digits, runs of anything else as one ``_``.
    """
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=snake_case)
    # scikit-learn codes the classes 0 and 1; the table keeps their names (0: malignant)
    frame["diagnosis"] = bunch.target.map(dict(enumerate(bunch.target_names))).astype(str)
    return frame


# the diabetes data set's six blood serum measurements, s1 .. s6, by what they measure
_DIABETES_NAMES = {
    "bp": "blood_pressure",
    "s1": "total_cholesterol",
    "s2": "ldl",
    "s3": "hdl",
    "s4": "cholesterol_hdl_ratio",
    "s5": "log_triglycerides",
    "s6": "blood_sugar",
}


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)  # original units, not mean-centred
    frame = bunch.data.rename(columns=lambda name: _DIABETES_NAMES.get(name, snake_case(name)))
    frame = frame.astype({"age": "int64", "sex": "int64"})
    frame["progression"] = bunch.target.astype("float64")
    return frame


SAMPLE_DATASETS: dict[str, SampleDataset] = {
    "breast_cancer": SampleDataset(
        name="breast_cancer",
        title="Breast cancer (Wisconsin diagnostic)",
        question="Is a tumour malignant, from the 30 measurements of its cell nuclei?",
        target="diagnosis",
        problem="binary",
        load=_breast_cancer,
    ),
    "diabetes": SampleDataset(
        name="diabetes",
        title="Diabetes progression",
        question="How far will a patient's diabetes progress in a year, from ten baseline measurements?",
        target="progression",
        problem="regression",
        load=_diabetes,
    ),
}


def sample_dataset(name: str) -> SampleDataset:
    """The bundled data set of that name.

    Args:
        name: ``breast_cancer`` or ``diabetes``.

    Returns:
        Its description and loader.

    Raises:
        ValueError: an unknown name, with the known ones and a did-you-mean.
    """
    if name in SAMPLE_DATASETS:
        return SAMPLE_DATASETS[name]
    close = difflib.get_close_matches(name, list(SAMPLE_DATASETS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"no sample data set {name!r}; {hint}known: {', '.join(SAMPLE_DATASETS)}")


def sample_frame(name: str) -> pd.DataFrame:
    """A bundled data set as a table: one row per sample.

    Args:
        name: ``breast_cancer`` or ``diabetes``.

    Returns:
        ``sample_id`` (1, 2, ... in the data set's order), the features (snake_case), the target.

    Raises:
        ValueError: an unknown name.
    """
    dataset = sample_dataset(name)
    frame = dataset.load().reset_index(drop=True)
    frame.insert(0, ID_COLUMN, range(1, len(frame) + 1))
    return frame


@dataclass(frozen=True)
class LandedSample:
    """What :func:`land_sample` did.

    Attributes:
        location: the file.
        rows: the data set's rows.
        written: False when the file already held exactly this data (left untouched).
    """

    location: str
    rows: int
    written: bool


def land_sample(spark: SparkSession, landing: str, name: str) -> LandedSample:
    """Write a bundled data set to ``<landing>/<name>/<name>.csv``, once.

    The file name never changes and a file that already holds the same bytes is left as it is
    (same modification time): the bronze ingestion, which takes each file once, never sees it
    as new, so landing again adds no rows.

    Args:
        spark: the session (its Hadoop file system writes ``abfss://`` landing folders).
        landing: the landing folder (``<root>/files/landing``).
        name: the data set.

    Returns:
        The file, its rows, and whether it was written.

    Raises:
        ValueError: an unknown data set.
    """
    frame = sample_frame(name)
    data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    location = f"{landing.rstrip('/')}/{name}/{name}.csv"
    if files.read_bytes(spark, location) == data:
        return LandedSample(location, len(frame), written=False)
    written = files.write_bytes(spark, location, data)
    return LandedSample(str(written) if isinstance(written, Path) else written, len(frame), written=True)
