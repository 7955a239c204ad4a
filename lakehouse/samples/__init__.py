"""Small real public data sets, shipped offline inside PyPI packages, landed as files for examples."""

from lakehouse.samples.datasets import (
    SAMPLE_DATASETS,
    SampleDataset,
    land_sample,
    sample_dataset,
    sample_frame,
)

__all__ = ["SAMPLE_DATASETS", "SampleDataset", "land_sample", "sample_dataset", "sample_frame"]
