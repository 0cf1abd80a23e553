"""gradient_boosting: labels, threshold rule, determinism, contributions, macro alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mltrainer.errors import InvalidParameterError
from mltrainer.models import create_model
from mltrainer.models.gradient_boosting import align_macro


@pytest.fixture(scope="module")
def boosted(fitted_models):
    return fitted_models[("gradient_boosting", "AAPL")]


def test_training_rows_drop_warmup_and_unknown_labels(boosted, train_bars):
    model, _ = boosted
    assert model.n_training_rows_ == train_bars - model.warmup_bars - model.horizon
    assert 0.4 < model.training_up_fraction_ < 0.65


def test_signal_follows_the_probability_threshold(boosted):
    model, pred = boosted
    live = pred.iloc[model.warmup_bars:]
    p = live["probability_up"]
    assert p.between(0, 1).all() and p.nunique() > 100
    expected = np.where(p > 0.55, 1, np.where(p < 0.45, -1, 0))
    assert (live["signal"].to_numpy() == expected).all()
    # Strength is the probability margin while a position is held, 0 when flat.
    np.testing.assert_allclose(live["strength"], np.where(expected != 0, np.abs(2 * p - 1), 0.0), rtol=1e-12)
    assert pred["probability_up"].iloc[: model.warmup_bars].isna().all()


def test_long_only_never_shorts(aapl, train_bars):
    model = create_model("gradient_boosting", allow_short=False, n_estimators=30).fit(aapl.iloc[:train_bars])
    signal = model.predict(aapl)["signal"]
    assert (signal >= 0).all() and (signal == 1).any()


def test_training_is_deterministic(boosted, aapl, train_bars):
    model, pred = boosted
    again = create_model("gradient_boosting").fit(aapl.iloc[:train_bars])
    np.testing.assert_array_equal(again.predict(aapl)["probability_up"], pred["probability_up"])


def test_feature_contributions_sum_to_the_log_odds(boosted, aapl):
    model, _ = boosted
    bars = aapl.iloc[-400:]  # pred_contrib is slow per row; a recent window is enough
    pred = model.predict(bars)
    contrib = model.feature_contributions(bars)
    assert list(contrib.columns) == [*model.feature_names_, "bias"]
    assert contrib.index.equals(bars.index)
    live = slice(model.warmup_bars, None)
    p = pred["probability_up"].iloc[live]
    np.testing.assert_allclose(contrib.iloc[live].sum(axis=1), np.log(p / (1 - p)), atol=1e-9)
    assert contrib.iloc[: model.warmup_bars].isna().all().all()


def test_macro_values_are_used_only_after_publication():
    # Monthly FRED values are dated at the start of their month: April's value (dated 04-01) is usable
    # from 04-01 + 1 month + 30 days = 05-31, May's from 07-01, June's from 07-31.
    monthly = pd.Series([1.0, 2.0, 4.0], index=pd.to_datetime(["2010-04-01", "2010-05-01", "2010-06-01"]))
    dates = pd.DatetimeIndex(pd.to_datetime(["2010-05-28", "2010-06-01", "2010-06-30", "2010-07-01",
                                             "2010-07-30", "2010-08-02"]))
    aligned = align_macro(monthly, dates, lag_days=30)
    assert aligned["level"].tolist()[1:] == [1.0, 1.0, 2.0, 2.0, 4.0]
    assert np.isnan(aligned["level"].iloc[0])
    assert aligned["change"].iloc[3] == 1.0 and aligned["change"].iloc[5] == 2.0
    # A daily value (a close) is usable from the next day on.
    daily = pd.Series([10.0, 11.0, 12.0, 13.0],
                      index=pd.to_datetime(["2010-06-01", "2010-06-02", "2010-06-03", "2010-06-04"]))
    aligned = align_macro(daily, pd.DatetimeIndex(pd.to_datetime(["2010-06-02", "2010-06-04"])), lag_days=30)
    assert aligned["level"].tolist() == [10.0, 12.0]


def test_macro_features_fit_predict_and_stay_causal(aapl, train_bars):
    from mltrainer.backtest import check_lookahead

    model = create_model("gradient_boosting", macro_series="CPILFESL,BAA", n_estimators=30)
    model.fit(aapl.iloc[:train_bars])
    assert model.feature_names_[-4:] == (
        "macro_CPILFESL", "macro_CPILFESL_change", "macro_BAA", "macro_BAA_change"
    )
    assert model.macro_series == "CPILFESL,BAA"  # fit never rewrites params
    assert check_lookahead(model, aapl.iloc[:2600], n_cuts=4) == []


def test_macro_series_that_misses_the_training_bars_is_refused(aapl):
    from mltrainer.errors import InsufficientDataError

    # The offline VIXCLS starts in 2014; AAPL 2005-2012 would train on an all-NaN VIX feature.
    model = create_model("gradient_boosting", macro_series="VIXCLS", n_estimators=10)
    with pytest.raises(InsufficientDataError) as info:
        model.fit(aapl.loc["2005-01-01":"2012-12-31"])
    assert str(info.value) == (
        "gradient_boosting macro series VIXCLS has values for 0.0% of the training bars "
        "(2005-03-31 to 2012-12-21); the offline VIXCLS covers 2014-01-03 to 2019-01-03. "
        "Drop it from macro_series or change the date range."
    )


def test_macro_coverage_needs_half_of_the_training_bars(gspc):
    from mltrainer.errors import InsufficientDataError

    # The first offline VIX close (2014-01-03) is usable from the next bar, 2014-01-06. Training bars
    # are those after the 60-bar warm-up with a known 5-bar label; 1,251 of them fall on or after
    # 2014-01-06 when the bars end on 2018-12-31 (last training bar 2018-12-21).
    # ^GSPC from 2008-12-01: training bars 2009-02-27..2018-12-21, 1,251 / 2,473 = 50.6% -> accepted;
    # from 2008-10-01: 2008-12-26..2018-12-21, 1,251 / 2,515 = 49.7% -> refused.
    model = create_model("gradient_boosting", macro_series="VIXCLS", n_estimators=10)
    model.fit(gspc.loc["2008-12-01":"2018-12-31"])
    assert model.feature_names_[-2:] == ("macro_VIXCLS", "macro_VIXCLS_change")
    assert model.n_training_rows_ == 2473
    with pytest.raises(InsufficientDataError, match=r"VIXCLS has values for 49\.7% of the training bars "
                                                    r"\(2008-12-26 to 2018-12-21\)"):
        create_model("gradient_boosting", macro_series="VIXCLS", n_estimators=10).fit(
            gspc.loc["2008-10-01":"2018-12-31"])


def test_macro_source_is_fixed_at_fit_time(aapl, train_bars, monkeypatch):
    # Trained without a FRED key: the macro features come from the offline series ...
    model = create_model("gradient_boosting", macro_series="CPILFESL", n_estimators=20)
    model.fit(aapl.iloc[:train_bars])
    assert model.macro_source_ == "offline"
    expected = model.predict(aapl)
    # ... and stay offline when the model is served where a key is set (here FRED is unreachable,
    # so asking it would fail): the served features are the ones it was trained on.
    monkeypatch.setenv("FRED_API_KEY", "a-key-that-must-not-be-used")
    monkeypatch.setenv("MLTRAINER_FRED_BASE_URL", "http://127.0.0.1:9/fred")
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "0")
    pd.testing.assert_frame_equal(model.predict(aapl), expected)
    assert create_model("gradient_boosting").fit(aapl.iloc[:train_bars]).macro_source_ is None


def test_feature_contributions_last_n_equal_the_full_computation(boosted, aapl):
    model, _ = boosted
    bars = aapl.iloc[-300:]
    full = model.feature_contributions(bars)
    last = model.feature_contributions(bars, last_n=2)
    assert last.index.equals(bars.index[-2:])
    pd.testing.assert_frame_equal(last, full.iloc[-2:], check_exact=True)
    # More rows than bars: every row, warm-up rows still NaN, as the full call.
    pd.testing.assert_frame_equal(model.feature_contributions(bars.iloc[:80], last_n=500),
                                  model.feature_contributions(bars.iloc[:80]), check_exact=True)
    assert model.warmup_bars > 40
    assert model.feature_contributions(bars.iloc[:40], last_n=1).isna().all().all()  # still warm-up


@pytest.mark.parametrize("last_n", [0, -1, 1.5, True, "1"])
def test_feature_contributions_rejects_a_bad_last_n(boosted, aapl, last_n):
    from mltrainer.errors import InvalidParameterError

    model, _ = boosted
    with pytest.raises(InvalidParameterError, match="last_n must be a whole number"):
        model.feature_contributions(aapl.iloc[-100:], last_n=last_n)


def test_feature_contributions_equal_lightgbms_own_on_the_feature_frame(boosted, aapl):
    """The numpy-matrix path gives LightGBM's sklearn pred_contrib on the model's DataFrame, to the bit."""
    model, _ = boosted
    bars = aapl.iloc[-400:]
    ours = model.feature_contributions(bars)
    theirs = model.classifier_.predict_proba(model._matrix(bars), pred_contrib=True)
    live = slice(model.warmup_bars, None)
    np.testing.assert_array_equal(ours.to_numpy()[live], np.asarray(theirs)[live])


@pytest.mark.parametrize("last_n", [1, 3, 5000])
def test_predict_explained_is_predict_and_feature_contributions_side_by_side(boosted, aapl, last_n):
    model, _ = boosted
    explained = model.predict_explained(aapl, last_n=last_n)
    plain = model.predict(aapl, last_n=last_n)
    pd.testing.assert_frame_equal(explained[list(plain.columns)], plain, check_exact=True)
    contrib = model.feature_contributions(aapl, last_n=last_n)
    given = explained[[f"contribution:{c}" for c in contrib.columns]]
    np.testing.assert_array_equal(given.to_numpy(), contrib.to_numpy())
    assert given.index.equals(contrib.index)


def test_predict_explained_needs_a_positive_whole_number_of_rows(boosted, aapl):
    model, _ = boosted
    with pytest.raises(InvalidParameterError, match="last_n"):
        model.predict_explained(aapl, last_n=0)
