"""The random forest learner: Spark ML's RandomForestClassifier / RandomForestRegressor.

Categories are indexed and split as categories (Spark's trees read the indexer's metadata);
numeric features are cast to double and their missing values replaced by the training median,
kept in the fitted pipeline, since Spark's trees cannot take NaN.
"""

from __future__ import annotations

from lakehouse.models.learners.base import (
    VECTOR_COLUMN,
    Choice,
    Dimension,
    FeatureSet,
    Learner,
    Space,
    spark_ml_pipeline,
)

MIN_BINS = 32


class RandomForest(Learner):
    name = "random_forest"
    relative_cost = 2.0
    model_classes = ("RandomForestClassificationModel", "RandomForestRegressionModel")

    def space(self, task: str, train_rows: int) -> Space:
        return {
            # Spark grows the trees of a forest together, a pass over the data per level: the
            # depth is the cost, more trees add little to it on small data
            "numTrees": Dimension(4, 256, log=True, integer=True, init=32),
            "maxDepth": Dimension(2, 16, integer=True, init=6),
            "minInstancesPerNode": Dimension(1, 64, log=True, integer=True, init=1),
            "featureSubsetStrategy": Choice(("sqrt", "onethird", "0.5", "all"), "sqrt"),
            "subsamplingRate": Dimension(0.5, 1.0, init=1.0),
        }

    def pipeline(self, task, features, label, params, threads, validation_column, early_stopping_rounds, key):
        from pyspark.ml.classification import RandomForestClassifier
        from pyspark.ml.regression import RandomForestRegressor

        estimator = RandomForestClassifier if task == "classification" else RandomForestRegressor
        # every category needs a bin (one more for a missing or unseen one)
        bins = max([MIN_BINS, *[count + 2 for count in features.cardinality.values()]])
        forest = estimator(featuresCol=VECTOR_COLUMN, labelCol=label, maxBins=bins, seed=7, **dict(params))
        return spark_ml_pipeline(features, "median", one_hot=False, estimator=forest)

    def importances(self, model, features):
        values = model.stages[-1].featureImportances.toArray()
        return {name: {"impurity": float(values[index])} for index, name in enumerate(features)}

    def preparation(self, features: FeatureSet, fitted_on: str = "the training rows") -> dict[str, str]:
        return {
            "missing values": f"median of {fitted_on} ({', '.join(features.continuous)})"
            if features.continuous
            else "none numeric",
            "categories": "indexed, split as categories",
        }
