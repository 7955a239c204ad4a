"""The linear learner: Spark ML's LogisticRegression (binary or multinomial) / LinearRegression.

Categories are one-hot encoded (a missing or unseen one has its own slot); numeric features are
cast to double and their missing values replaced by the training mean, kept in the fitted
pipeline. Spark standardises the features inside the fit and reports coefficients on their
original scale.
"""

from __future__ import annotations

from lakehouse.models.learners.base import (
    VECTOR_COLUMN,
    Dimension,
    FeatureSet,
    Learner,
    Space,
    slot_features,
    spark_ml_pipeline,
)


class Linear(Learner):
    name = "linear"
    relative_cost = 0.5
    model_classes = ("LogisticRegressionModel", "LinearRegressionModel")

    def space(self, task: str, train_rows: int) -> Space:
        return {
            "regParam": Dimension(1e-6, 10.0, log=True, init=1e-3),
            "elasticNetParam": Dimension(0.0, 1.0, init=0.0),
            "maxIter": Dimension(10, 200, log=True, integer=True, init=100, cheap=25),
        }

    def pipeline(self, task, features, label, params, threads, validation_column, early_stopping_rounds, key):
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.regression import LinearRegression

        estimator = LogisticRegression if task == "classification" else LinearRegression
        linear = estimator(featuresCol=VECTOR_COLUMN, labelCol=label, **dict(params))
        return spark_ml_pipeline(features, "mean", one_hot=True, estimator=linear)

    def importances(self, model, features):
        """The absolute coefficients on the features' own scale, summed over a category's slots
        and over classes."""
        import numpy as np

        estimator = model.stages[-1]
        if hasattr(estimator, "coefficientMatrix"):
            weights = np.abs(estimator.coefficientMatrix.toArray()).sum(axis=0)
        else:
            weights = np.abs(estimator.coefficients.toArray())
        slots = slot_features(model, features)
        totals = dict.fromkeys(features, 0.0)
        for name, weight in zip(slots, weights, strict=False):
            totals[name] += float(weight)
        return {name: {"|coefficient|": value} for name, value in totals.items()}

    def preparation(self, features: FeatureSet, fitted_on: str = "the training rows") -> dict[str, str]:
        return {
            "missing values": f"mean of {fitted_on} ({', '.join(features.continuous)})"
            if features.continuous
            else "none numeric",
            "categories": "one-hot encoded",
        }
