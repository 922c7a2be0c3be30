"""The churn model: features and labels, training, calibration, registry, scoring and drivers.

Plain Python over DataFrames, no Dagster: `ml.pipeline` holds the two entry points the assets and
the CLI call (`train_and_promote`, `score_current`); `ml.backtest.run_backtest` is the backtest
(`healthwatch backtest --out DIR`); `ml.leakage` checks features for data from after their date.
"""
