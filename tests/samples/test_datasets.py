"""The real data sets bundled with scikit-learn, as tables, and their landing as one CSV file."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from lakehouse.samples.datasets import SAMPLE_DATASETS, land_sample, sample_dataset, sample_frame


def test_breast_cancer_is_one_row_per_tumour_with_the_diagnosis_as_a_string_label():
    frame = sample_frame("breast_cancer")

    assert frame.shape == (569, 32)
    assert list(frame.columns[:3]) == ["sample_id", "mean_radius", "mean_texture"]
    assert frame.columns[-1] == "diagnosis"
    assert "worst_concave_points" in frame.columns and "fractal_dimension_error" in frame.columns
    assert frame["sample_id"].tolist() == list(range(1, 570))
    # scikit-learn codes malignant 0 and benign 1; the published counts are 212 and 357
    assert frame["diagnosis"].value_counts().to_dict() == {"benign": 357, "malignant": 212}
    assert frame.loc[0, "mean_radius"] == 17.99 and frame.loc[0, "diagnosis"] == "malignant"
    assert not frame.isna().any().any()


def test_diabetes_keeps_original_units_and_a_numeric_target():
    frame = sample_frame("diabetes")

    assert frame.shape == (442, 12)
    assert list(frame.columns) == [
        "sample_id", "age", "sex", "bmi", "blood_pressure", "total_cholesterol", "ldl", "hdl",
        "cholesterol_hdl_ratio", "log_triglycerides", "blood_sugar", "progression",
    ]  # fmt: skip
    assert frame.loc[0, ["age", "sex", "bmi", "progression"]].tolist() == [59, 2, 32.1, 151.0]
    assert frame["progression"].dtype == "float64" and frame["age"].dtype == "int64"
    assert frame["progression"].nunique() > 100  # a regression target


def test_every_column_name_is_snake_case():
    for name in SAMPLE_DATASETS:
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", column) for column in sample_frame(name).columns), name


def test_an_unknown_data_set_is_refused_with_the_known_ones():
    with pytest.raises(
        ValueError, match=r"no sample data set 'breast_cancr'; did you mean 'breast_cancer'\?"
    ):
        sample_dataset("breast_cancr")


def test_landing_writes_one_csv_file_once(spark, tmp_path):
    landing = str(tmp_path / "files" / "landing")

    landed_file = tmp_path / "files" / "landing" / "breast_cancer" / "breast_cancer.csv"

    first = land_sample(spark, landing, "breast_cancer")
    modified = landed_file.stat().st_mtime_ns
    again = land_sample(spark, landing, "breast_cancer")

    assert first.location == f"{landing}/breast_cancer/breast_cancer.csv"
    assert (first.rows, first.written) == (569, True)
    assert (again.location, again.rows, again.written) == (first.location, 569, False)
    assert (
        tmp_path / "files" / "landing" / "breast_cancer" / "breast_cancer.csv"
    ).stat().st_mtime_ns == modified
    with open(first.location, encoding="utf-8") as landed:
        read_back = pd.read_csv(io.StringIO(landed.read()))
    pd.testing.assert_frame_equal(read_back, sample_frame("breast_cancer"))
