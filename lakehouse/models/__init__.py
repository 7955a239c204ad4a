"""Models: training sets split by time, SynapseML LightGBM training with a hyperparameter search,
evaluation, the MLflow registry, the training report and batch scoring.

Pure parts (``dataset``, ``search``, ``learner``, ``evaluation``, ``scoring``) take and return
DataFrames or plain values; ``training`` and ``registry`` do the reading, writing and tracking.
"""
