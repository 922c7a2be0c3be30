"""The churn model: features and labels, training, calibration, registry, scoring and drivers.

Plain Python over DataFrames, no Dagster: `ml.pipeline` holds the two entry points the assets and
the CLI call (`train_and_promote`, `score_current`).
"""
