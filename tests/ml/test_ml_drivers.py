"""Drivers: LightGBM's pred_contrib rows (features + bias) add up to the raw score, and the drivers
shown are exactly those contributions."""

import numpy as np

from ml.explain import CONTEXT_FEATURES, MIN_CONTRIBUTION, explain


def test_contributions_plus_bias_equal_the_raw_margin_on_every_holdout_row(run):
    model = run.model
    x = model.matrix(run.holdout)
    contributions = model.contributions(x)
    assert contributions.shape == (len(x), len(model.features) + 1)  # one per feature, then the bias
    bias = contributions[:, -1]
    assert np.allclose(bias, bias[0])  # the bias is the model's expected margin: one value
    margin = model.margin(x)
    assert np.allclose(contributions[:, :-1].sum(axis=1) + bias, margin, atol=1e-9)
    # and the probability the account is scored with is the calibrator applied to that margin
    assert np.allclose(model.predict_proba(run.holdout), np.clip(model.calibrator.predict(margin), 0, 1))


def test_drivers_are_the_largest_risk_raising_contributions(run):
    model = run.model
    frame = run.holdout.head(200)
    contributions = model.contributions(model.matrix(frame))
    index = {f: i for i, f in enumerate(model.features)}
    shown = 0
    for row, drivers in zip(contributions, explain(model, frame), strict=True):
        for driver in drivers:
            assert driver["contribution"] == round(float(row[index[driver["feature"]]]), 4)
        eligible = sorted(
            (row[i] for f, i in index.items() if f not in CONTEXT_FEATURES and row[i] >= MIN_CONTRIBUTION),
            reverse=True,
        )[:3]
        assert [d["contribution"] for d in drivers] == [round(float(c), 4) for c in eligible]
        shown += len(drivers)
    assert shown > 0
