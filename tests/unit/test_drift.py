"""Drift statistics against hand-computed values, the capture reader, baselines, and speed.

Every expected number is worked out in the comment above it (ln is the natural logarithm, log2 base 2).
"""

from __future__ import annotations

import base64
import json
import math
import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from mlrollout.domain.drift import (
    OTHER,
    PSI_EPSILON,
    BaselineInvalid,
    CaptureReader,
    CategoricalAccumulator,
    DriftAnalyzer,
    FeatureAccumulator,
    NumericAccumulator,
    analyze_capture,
    baseline_drift,
    baseline_from_capture_lines,
    baseline_from_csv,
    build_baseline,
    js_distance,
    ks_distance,
    linf_distance,
    population_stability_index,
    read_baseline,
    value_type,
)

# --------------------------------------------------------------------------------------------------- fixtures

# A numerical feature x with four buckets [0,1) [1,2) [2,3) [3,4] holding 1, 2, 3, 4 baseline values (shares
# p = .1 .2 .3 .4), and a categorical feature m with a:5 b:3 c:2 (shares p = .5 .3 .2).
STATISTICS: dict[str, Any] = {
    "version": 0,
    "dataset": {"item_count": 10},
    "features": [
        {
            "name": "x",
            "inferred_type": "Fractional",
            "numerical_statistics": {
                "common": {"num_present": 10, "num_missing": 0},
                "mean": 2.0,
                "sum": 20.0,
                "std_dev": 1.0,
                "min": 0.0,
                "max": 4.0,
                "distribution": {
                    "kll": {
                        "buckets": [
                            {"lower_bound": 0.0, "upper_bound": 1.0, "count": 1},
                            {"lower_bound": 1.0, "upper_bound": 2.0, "count": 2},
                            {"lower_bound": 2.0, "upper_bound": 3.0, "count": 3},
                            {"lower_bound": 3.0, "upper_bound": 4.0, "count": 4},
                        ]
                    }
                },
            },
        },
        {
            "name": "m",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 10, "num_missing": 0},
                "distinct_count": 3,
                "distribution": {
                    "categorical": {
                        "buckets": [{"value": "a", "count": 5}, {"value": "b", "count": 3}, {"value": "c", "count": 2}]
                    }
                },
            },
        },
    ],
}


def capture_line(request: Any, response: Any = None, when: str = "2030-01-15T12:30:00Z", **extra: Any) -> str:
    record: dict[str, Any] = {
        "captureData": {
            "endpointInput": {"observedContentType": "application/json", "mode": "INPUT", "data": json.dumps(request)},
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": json.dumps(response if response is not None else {"fraud_probability": 0.1, "flag": False}),
            },
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": when},
        "eventVersion": "0",
    }
    record["captureData"]["endpointInput"].update(extra)
    return json.dumps(record)


# -------------------------------------------------------------------------------------- distances on counts


def test_psi_on_a_textbook_score_band_example() -> None:
    # Four score bands, 25% each at development; now 10%, 20%, 30%, 40%.
    # PSI = (.10-.25)ln(.10/.25) + (.20-.25)ln(.20/.25) + (.30-.25)ln(.30/.25) + (.40-.25)ln(.40/.25)
    #     = (-.15)(-0.916291) + (-.05)(-0.223144) + (.05)(0.182322) + (.15)(0.470004)
    #     = 0.137444 + 0.011157 + 0.009116 + 0.070501 = 0.228218: a moderate shift (between 0.1 and 0.25).
    assert population_stability_index([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(0.228218, abs=1e-6)
    # Counts are normalised first: the same shares from other totals give the same PSI.
    assert population_stability_index([1, 1, 1, 1], [100, 200, 300, 400]) == pytest.approx(0.228218, abs=1e-6)


def test_identical_distributions_give_zero_everywhere() -> None:
    counts = [3, 0, 5, 2]
    assert population_stability_index(counts, counts) == 0.0
    assert ks_distance(counts, counts) == 0.0
    assert js_distance(counts, counts) == 0.0
    assert linf_distance(counts, counts) == 0.0
    # Same shares, different totals.
    assert population_stability_index([1, 2], [10, 20]) == pytest.approx(0.0, abs=1e-15)
    assert js_distance([1, 2], [10, 20]) == pytest.approx(0.0, abs=1e-7)


def test_disjoint_distributions_give_the_maximum() -> None:
    # All mass in bin 1 against all mass in bin 2.
    # KS: CDFs at the edges are (1, 1) and (0, 1): max |diff| = 1. L-inf: |1 - 0| = 1.
    assert ks_distance([1, 0], [0, 1]) == 1.0
    assert linf_distance([5, 0], [0, 7]) == 1.0
    # JS: m = (.5, .5); KL(p||m) = 1 * log2(1/.5) = 1 = KL(q||m); JSD = 1, distance sqrt(1) = 1.
    assert js_distance([1, 0], [0, 1]) == 1.0
    # PSI with empty shares floored at eps = 1e-4:
    # (eps - 1)ln(eps/1) + (1 - eps)ln(1/eps) = 2(1 - eps)ln(1/eps) = 2 * 0.9999 * 9.210340 = 18.418839,
    # the largest PSI two distributions can reach with this eps (all mass on either side of one bin).
    assert PSI_EPSILON == 1e-4
    assert population_stability_index([1, 0], [0, 1]) == pytest.approx(2 * 0.9999 * math.log(1e4))
    assert population_stability_index([1, 0], [0, 1]) == pytest.approx(18.418839, abs=1e-6)
    assert population_stability_index([1, 0], [0, 1]) > population_stability_index([1, 1], [0, 1])


def test_ks_on_ordered_bins() -> None:
    # p = .1 .2 .3 .4, q = .4 .3 .2 .1: cumulative P = .1 .3 .6 1.0, Q = .4 .7 .9 1.0,
    # |P - Q| = .3 .4 .3 0 -> KS = 0.4.
    assert ks_distance([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(0.4)


def test_distances_refuse_misaligned_or_empty_distributions() -> None:
    with pytest.raises(ValueError, match="different bins"):
        ks_distance([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least one observation"):
        js_distance([0, 0], [1, 1])


# ---------------------------------------------------------------------------------------- feature level


def test_numerical_feature_against_hand_computed_values() -> None:
    baseline = read_baseline(STATISTICS)
    analyzer = DriftAnalyzer(baseline)
    # Current: 4 values in [0,1), 3 in [1,2), 2 in [2,3), 1 in [3,4] -> q = .4 .3 .2 .1 (p = .1 .2 .3 .4).
    for x in [0.5] * 4 + [1.5] * 3 + [2.5] * 2 + [3.5]:
        analyzer.add({"x": x, "m": "a"})
    x = analyzer.report().feature("x")
    # PSI: underflow and overflow bins are empty on both sides: (eps - eps)ln(1) = 0; then
    # (.4-.1)ln(4) + (.3-.2)ln(1.5) + (.2-.3)ln(2/3) + (.1-.4)ln(1/4)
    # = .3(1.386294) + .1(0.405465) + (-.1)(-0.405465) + (-.3)(-1.386294) = 0.415888 + 0.040547 * 2 + 0.415888
    # = 0.912870.
    assert x.psi == pytest.approx(0.912870, abs=1e-6)
    # KS: CDFs at the edges 0,1,2,3,4: P = 0 .1 .3 .6 1, Q = 0 .4 .7 .9 1 -> max |P - Q| = .4.
    assert x.ks == pytest.approx(0.4)
    # JS: m = .25 everywhere; KL(p||m) = .1 log2(.4) + .2 log2(.8) + .3 log2(1.2) + .4 log2(1.6)
    # = .1(-1.321928) + .2(-0.321928) + .3(0.263034) + .4(0.678072) = 0.153561; KL(q||m) is the same sum
    # (q is p reversed), so JSD = 0.153561 and the distance is sqrt(0.153561) = 0.391868.
    assert x.js == pytest.approx(0.391868, abs=1e-6)
    # Baseline drift of a numerical feature: the L-inf distance between the CDFs = the binned KS.
    assert x.baseline_drift == pytest.approx(0.4)
    assert (x.kind, x.count, x.missing_rate) == ("numerical", 10, 0.0)


def test_values_outside_the_baseline_range_land_in_underflow_and_overflow_bins() -> None:
    numeric = NumericAccumulator([0.0, 1.0, 2.0, 3.0, 4.0])
    for value in (-1.0, 0.0, 0.999, 1.0, 4.0, 4.0001, 9.0):
        numeric.add(value)
    # bins: underflow (-1), [0,1) (0, .999), [1,2) (1), [2,3) (), [3,4] (4: the last bucket is closed), overflow.
    assert numeric.bins == [1, 2, 1, 0, 1, 2]
    # Baseline p over the six bins = 0 .1 .2 .3 .4 0; a window entirely above the max has q = 0 0 0 0 0 1:
    # P at the edges = 0 .1 .3 .6 1, Q = 0 0 0 0 0 -> KS = 1 (disjoint).
    baseline = read_baseline(STATISTICS)
    above = FeatureAccumulator("x", baseline.features["x"])
    for _ in range(3):
        above.observe(12.0)
    assert baseline_drift(above) == 1.0


def test_moments_of_the_numeric_accumulator() -> None:
    numeric = NumericAccumulator()
    for value in (2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0):
        numeric.add(value)
    # sum = 40, mean = 5, sum of squares = 4+16+16+16+25+25+49+81 = 232; variance = 232/8 - 25 = 4; std = 2.
    assert (numeric.count, numeric.sum, numeric.mean, numeric.sum_squares, numeric.std_dev) == (
        8,
        40.0,
        5.0,
        232.0,
        2.0,
    )
    assert (numeric.minimum, numeric.maximum, numeric.bins) == (2.0, 9.0, [])


def test_categorical_feature_against_hand_computed_values() -> None:
    baseline = read_baseline(STATISTICS)
    analyzer = DriftAnalyzer(baseline)
    rows: list[dict[str, object]] = [{"x": 1.0, "m": v} for v in ("a", "b", "b", "d", "d")]
    rows += [{"x": 1.0}] * 3 + [{"x": 1.0, "m": None}] * 2  # 3 records without m, 2 with an explicit null
    for row in rows:
        analyzer.add(row)
    m = analyzer.report().feature("m")
    # p over (a, b, c, d) = .5 .3 .2 0; q = 1/5 2/5 0 2/5 = .2 .4 0 .4.
    # L-inf = max(|.5-.2|, |.3-.4|, |.2-0|, |0-.4|) = max(.3, .1, .2, .4) = .4.
    assert m.baseline_drift == pytest.approx(0.4)
    # PSI (empty shares floored at eps = 1e-4):
    # a: (.2-.5)ln(.2/.5) = (-.3)(-0.916291) = 0.274887
    # b: (.4-.3)ln(.4/.3) = (.1)(0.287682) = 0.028768
    # c: (eps-.2)ln(eps/.2) = (-.1999)(-7.600902) = 1.519420
    # d: (.4-eps)ln(.4/eps) = (.3999)(8.294050) = 3.316791
    # total = 5.139866.
    assert m.psi == pytest.approx(5.139866, abs=1e-6)
    # JS: m = (.35, .35, .1, .2).
    # KL(p||m) = .5 log2(.5/.35) + .3 log2(.3/.35) + .2 log2(.2/.1) = .5(0.514573) + .3(-0.222392) + .2(1)
    #          = 0.390569
    # KL(q||m) = .2 log2(.2/.35) + .4 log2(.4/.35) + .4 log2(.4/.2) = .2(-0.807355) + .4(0.192645) + .4(1)
    #          = 0.315587
    # JSD = (0.390569 + 0.315587) / 2 = 0.353078; distance = sqrt(0.353078) = 0.594204.
    assert m.js == pytest.approx(0.594204, abs=1e-6)
    assert m.ks is None  # categories have no order, so no CDF
    # Missing: 3 absent + 2 null of 10 records.
    assert (m.count, m.missing_rate) == (5, 0.5)


def test_new_categories_are_capped_into_an_other_bucket() -> None:
    categorical = CategoricalAccumulator(known=["a", "b"], cap=2)
    for value in ("a", "x", "y", "z", "w", "b", "x"):
        categorical.add(value)
    # a, b are the baseline's and always tracked; x, y are the two new ones the cap allows; z, w go to OTHER.
    assert categorical.frequencies() == {"a": 1, "b": 1, "x": 2, "y": 1, OTHER: 2}
    assert categorical.total == 7


def test_value_types() -> None:
    assert [value_type(v) for v in (1, 2.5, "s", True, None, math.nan, math.inf, [1], {"a": 1})] == [
        "number",
        "number",
        "string",
        "bool",
        "null",
        "null",
        "null",
        "nested",
        "nested",
    ]


# -------------------------------------------------------------------------------------------- violations


def test_schema_violations_in_model_monitors_shape() -> None:
    statistics, constraints = build_baseline(
        [
            {"hour": h, "merchant": m, "amount": 10.0 + h}
            for h, m in zip(range(24), ["grocery", "fuel"] * 12, strict=True)
        ]
    )
    baseline = read_baseline(statistics, constraints)
    analyzer = DriftAnalyzer(baseline)
    for i in range(10):
        # hour: 3 of 10 are not integral (2.5, "7", [1]) -> 30% mismatched > datatype_check_threshold 10%.
        hour: object = {0: 2.5, 1: "7", 2: [1]}.get(i, i)
        # merchant: 1 of 10 missing -> completeness 90% < 100% in the baseline; "crypto" in 2 of the 9 present
        # values -> 22% outside the domain > domain_content_threshold 10%.
        row: dict[str, object] = {"hour": hour, "session": "abc"}  # session is not in the baseline
        if i:
            row["merchant"] = "crypto" if i < 3 else "grocery"
        analyzer.add(row)  # amount is never sent
    report = analyzer.report()
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in report.violations()["violations"]}
    assert checks >= {
        ("hour", "data_type_check"),
        ("merchant", "completeness_check"),
        ("merchant", "categorical_values_check"),
        ("amount", "missing_column_check"),
        ("session", "extra_column_check"),
    }
    hour = report.feature("hour")
    assert (hour.type_mismatches, hour.types["nested"], hour.types["string"]) == (3, 1, 1)
    assert all(
        set(v) == {"feature_name", "constraint_check_type", "description"} for v in report.violations()["violations"]
    )
    assert report.has_violations
    assert "session" not in {name.removeprefix("feature_baseline_drift_") for name in report.metrics()}


def test_thresholds_come_from_the_constraints_monitoring_config() -> None:
    constraints = {
        "version": 0,
        "features": [],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.5},
        },
    }
    analyzer = DriftAnalyzer(read_baseline(STATISTICS, constraints))
    for x in [0.5] * 4 + [1.5] * 3 + [2.5] * 2 + [3.5]:
        analyzer.add({"x": x, "m": "a"})
    report = analyzer.report()
    # x drifts by 0.4 (see above), under the 0.5 threshold; m (all "a": q = 1 0 0, p = .5 .3 .2) by .5, not over it.
    assert report.feature("x").baseline_drift == pytest.approx(0.4)
    assert report.feature("m").baseline_drift == pytest.approx(0.5)
    assert report.violations() == {"violations": []}
    disabled = {"monitoring_config": {"evaluate_constraints": "Disabled"}, "features": []}
    quiet = DriftAnalyzer(read_baseline(STATISTICS, disabled))
    quiet.add({"surprise": 1})
    assert quiet.report().violations() == {"violations": []}


# ------------------------------------------------------------------------------------------------ reading


def test_malformed_lines_are_counted_and_skipped() -> None:
    lines = [
        capture_line({"features": {"x": 1.0, "m": "a"}}),
        "{not json",
        json.dumps({"eventMetadata": {}}),  # no captureData
        json.dumps({"captureData": {"endpointInput": {"data": "[1, 2]"}}}),  # input is not an object
        json.dumps({"captureData": {"endpointInput": {"data": "x=1"}}}),  # input is not JSON
        json.dumps({"captureData": {}}),  # no endpointInput
        "",  # blank lines are not records and not malformed
        capture_line({"x": 2.0, "m": "b"}, {"fraud_probability": 0.5, "flag": True, "explanation": {"top": "x"}}),
    ]
    reader = CaptureReader(lines)
    records = list(reader)
    assert (reader.lines, reader.records, reader.malformed) == (7, 2, 5)
    assert reader.malformed_reasons == {
        "bad JSON": 1,
        "missing captureData": 1,
        "input is not a JSON object": 1,
        "input is not JSON": 1,
        "missing endpointInput data": 1,
    }
    # Features: the request's "features" object, otherwise the request itself; outputs prefixed, nested dropped.
    assert records[0] == ({"x": 1.0, "m": "a"}, {"output.fraud_probability": 0.1, "output.flag": False})
    assert records[1] == ({"x": 2.0, "m": "b"}, {"output.fraud_probability": 0.5, "output.flag": True})

    report = analyze_capture(lines, read_baseline(STATISTICS))
    assert (report.records, report.malformed_lines) == (2, 5)


def test_capture_window_base64_and_unreadable_outputs() -> None:
    encoded = base64.b64encode(json.dumps({"features": {"x": 3.0}}).encode()).decode()
    lines = [
        capture_line({"x": 1.0}, when="2030-01-15T11:59:59Z"),  # before the window
        capture_line({"x": 1.0}, when="2030-01-15T12:00:00Z"),  # start is inclusive
        capture_line({"x": 1.0}, when="2030-01-15T13:00:00Z"),  # end is exclusive
        capture_line({"x": 1.0}, when="yesterday"),
        capture_line({"ignored": True}, when="2030-01-15T12:10:00Z", data=encoded, encoding="BASE64"),
        capture_line({"x": 4.0}, response="not an object", when="2030-01-15T12:20:00Z"),
    ]
    window = (datetime(2030, 1, 15, 12, tzinfo=UTC), datetime(2030, 1, 15, 13, tzinfo=UTC))
    reader = CaptureReader(lines, window=window)
    records = list(reader)
    assert [features for features, _ in records] == [{"x": 1.0}, {"x": 3.0}, {"x": 4.0}]
    assert (reader.outside_window, reader.malformed, reader.unreadable_outputs) == (2, 1, 1)
    assert reader.malformed_reasons == {"missing or unreadable inferenceTime": 1}


def test_outputs_are_monitored_when_the_baseline_has_them() -> None:
    inputs_only = analyze_capture([capture_line({"x": 1.0, "m": "a"})], read_baseline(STATISTICS))
    assert [f.name for f in inputs_only.features] == ["x", "m"]
    statistics, constraints = baseline_from_capture_lines(
        [capture_line({"x": float(i), "m": "a"}, {"fraud_probability": i / 10, "flag": i > 5}) for i in range(10)]
    )
    assert [f["name"] for f in statistics["features"]] == ["x", "m", "output.fraud_probability", "output.flag"]
    report = analyze_capture(
        [capture_line({"x": 1.0, "m": "a"}, {"fraud_probability": 0.9, "flag": True})],
        read_baseline(statistics, constraints),
    )
    flag = report.feature("output.flag")
    # The baseline's flag is False 6 times (i = 0..5) and True 4 times: p(false, true) = .6 .4, q = 0 1 -> .6.
    assert (flag.kind, flag.baseline_drift) == ("categorical", pytest.approx(0.6))
    assert "feature_baseline_drift_output.fraud_probability" in report.metrics()


# ----------------------------------------------------------------------------------------------- baselines


def test_build_baseline_against_hand_computed_statistics() -> None:
    records: list[dict[str, object]] = [
        {"amount": float(v), "hour": v, "merchant": "fuel" if v % 2 else "grocery", "note": None} for v in range(1, 12)
    ]
    records[0]["merchant"] = None
    statistics, constraints = build_baseline(records)
    by_name = {f["name"]: f for f in statistics["features"]}
    assert statistics["dataset"] == {"item_count": 11}
    assert {n: f["inferred_type"] for n, f in by_name.items()} == {
        "amount": "Fractional",
        "hour": "Integral",
        "merchant": "String",
        "note": "Unknown",
    }
    amount = by_name["amount"]["numerical_statistics"]
    # 1..11: sum 66, mean 6, sum of squares 506 -> variance 506/11 - 36 = 10, std sqrt(10) = 3.162278.
    assert (amount["sum"], amount["mean"], amount["min"], amount["max"]) == (66.0, 6.0, 1.0, 11.0)
    assert amount["std_dev"] == pytest.approx(3.162278, abs=1e-6)
    # 10 equal-width buckets between 1 and 11 (width 1): [1,2) … [9,10) one value each, [10,11] two (10 and 11).
    buckets = amount["distribution"]["kll"]["buckets"]
    assert [(b["lower_bound"], b["upper_bound"]) for b in buckets] == [(float(i), float(i + 1)) for i in range(1, 11)]
    assert [b["count"] for b in buckets] == [1] * 9 + [2]
    merchant = by_name["merchant"]["string_statistics"]
    # v = 2..11 present: odd 3,5,7,9,11 -> fuel 5; even 2,4,6,8,10 -> grocery 5; v = 1 is missing.
    assert merchant["common"] == {"num_present": 10, "num_missing": 1}
    assert merchant["distribution"]["categorical"]["buckets"] == [
        {"value": "fuel", "count": 5},
        {"value": "grocery", "count": 5},
    ]
    constrained = {f["name"]: f for f in constraints["features"]}
    assert constrained["merchant"]["completeness"] == pytest.approx(10 / 11)
    assert constrained["merchant"]["string_constraints"] == {"domains": ["fuel", "grocery"]}
    assert constrained["hour"]["num_constraints"] == {"is_non_negative": True}
    assert constrained["note"]["completeness"] == 0.0
    config = constraints["monitoring_config"]
    assert (config["evaluate_constraints"], config["emit_metrics"]) == ("Enabled", "Enabled")
    assert config["distribution_constraints"]["perform_comparison"] == "Enabled"
    assert config["distribution_constraints"]["comparison_threshold"] == 0.1
    assert config["distribution_constraints"]["comparison_method"] == "Robust"


def test_baseline_round_trip_gives_zero_drift_and_no_violations() -> None:
    rng = random.Random(3)
    records = [
        {"amount": round(rng.lognormvariate(4, 1), 2), "merchant": rng.choice("abc"), "hour": rng.randrange(24)}
        for _ in range(500)
    ]
    statistics, constraints = build_baseline(records)
    # Through JSON, as the documents travel through S3.
    baseline = read_baseline(json.loads(json.dumps(statistics)), json.loads(json.dumps(constraints)))
    amount = baseline.features["amount"]
    assert len(amount.edges) == 11
    assert amount.edges[0] == min(r["amount"] for r in records)
    assert amount.edges[-1] == max(r["amount"] for r in records)
    assert sum(amount.bucket_counts) == 500
    analyzer = DriftAnalyzer(baseline)
    for record in records:
        analyzer.add(record)
    report = analyzer.report()
    for feature in report.features:
        assert (feature.psi, feature.js, feature.baseline_drift) == (0.0, 0.0, 0.0), feature.name
    assert report.feature("amount").ks == 0.0
    assert report.violations() == {"violations": []}
    # The window's own statistics.json reads back as a baseline with the same buckets.
    again = read_baseline(report.statistics())
    assert again.features["amount"].edges == amount.edges
    assert again.features["amount"].bucket_counts == amount.bucket_counts


def test_a_constant_feature_has_one_bucket() -> None:
    statistics, _ = build_baseline([{"v": 5}] * 3)
    buckets = statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]["buckets"]
    assert buckets == [{"lower_bound": 5.0, "upper_bound": 5.0, "count": 3}]
    baseline = read_baseline(statistics)
    same = FeatureAccumulator("v", baseline.features["v"])
    same.observe(5)
    assert baseline_drift(same) == 0.0


def test_baseline_from_csv() -> None:
    statistics, constraints = baseline_from_csv("amount,merchant,hour\n12.5,grocery,3\n40,fuel,\n7.25,grocery,23\n")
    by_name = {f["name"]: f for f in statistics["features"]}
    assert {n: f["inferred_type"] for n, f in by_name.items()} == {
        "amount": "Fractional",
        "merchant": "String",
        "hour": "Integral",
    }
    # hour: 3 and 23 present, one empty cell -> completeness 2/3.
    assert by_name["hour"]["numerical_statistics"]["common"] == {"num_present": 2, "num_missing": 1}
    assert next(f for f in constraints["features"] if f["name"] == "hour")["completeness"] == pytest.approx(2 / 3)
    headerless, _ = baseline_from_csv("1,a\n2,b\n", header=False)
    assert [f["name"] for f in headerless["features"]] == ["_c0", "_c1"]


def test_read_baseline_reports_what_is_wrong() -> None:
    with pytest.raises(BaselineInvalid, match="'features' list"):
        read_baseline({"version": 0})
    with pytest.raises(BaselineInvalid, match=r"features\[0\] has no name"):
        read_baseline({"features": [{"inferred_type": "String"}]})
    with pytest.raises(BaselineInvalid, match="inferred_type 'Boolean'"):
        read_baseline({"features": [{"name": "f", "inferred_type": "Boolean"}]})
    bad_bucket = {"numerical_statistics": {"distribution": {"kll": {"buckets": [{"lower_bound": 0}]}}}}
    with pytest.raises(BaselineInvalid, match="kll bucket"):
        read_baseline({"features": [{"name": "f", "inferred_type": "Fractional", **bad_bucket}]})


# ------------------------------------------------------------------------------------------------- speed


def test_a_window_of_5000_records_is_processed_well_under_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(11)
    merchants = ["grocery", "fuel", "electronics", "travel", "gaming"]

    def request() -> dict[str, Any]:
        return {
            "features": {
                "amount": round(rng.lognormvariate(math.log(60), 1), 2),
                "merchant": rng.choice(merchants),
                "hour": rng.randrange(24),
            }
        }

    statistics, constraints = build_baseline(request()["features"] for _ in range(2000))
    baseline = read_baseline(statistics, constraints)
    lines = [
        capture_line(request(), {"fraud_probability": rng.random(), "flag": rng.random() < 0.1}) for _ in range(5000)
    ]
    started = time.perf_counter()
    report = analyze_capture(lines, baseline)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n5,000 capture records read and analysed in {elapsed * 1000:.1f} ms")
    assert report.records == 5000
    assert elapsed < 1.0


def csv_capture_line(data: str, *, output: str | None = None, base64_encoded: bool = False) -> str:
    """One data-capture record of a text/csv request, as SageMaker writes it (encoding CSV when text/csv is among
    the endpoint config's CsvContentTypes, BASE64 of the same bytes otherwise)."""

    def section(text: str, mode: str) -> dict[str, str]:
        if base64_encoded:
            return {
                "observedContentType": "text/csv",
                "mode": mode,
                "data": base64.b64encode(text.encode()).decode(),
                "encoding": "BASE64",
            }
        return {"observedContentType": "text/csv", "mode": mode, "data": text, "encoding": "CSV"}

    capture: dict[str, Any] = {"endpointInput": section(data, "INPUT")}
    if output is not None:
        capture["endpointOutput"] = section(output, "OUTPUT")
    return json.dumps(
        {
            "captureData": capture,
            "eventMetadata": {"eventId": "e", "inferenceTime": "2030-01-15T12:10:00Z"},
            "eventVersion": "0",
        }
    )


def test_csv_capture_is_read_by_the_baselines_column_order() -> None:
    # STATISTICS lists x then m: a text/csv request "2.5,b" is x=2.5, m="b"
    baseline = read_baseline(STATISTICS)
    lines = [
        csv_capture_line("2.5,b"),
        csv_capture_line("0.5,a", base64_encoded=True),
        csv_capture_line("1.5,c\n3.5,a"),
    ]
    report = analyze_capture(lines, baseline)
    assert (report.records, report.malformed_lines) == (4, 0)
    x, m = report.feature("x"), report.feature("m")
    assert x.psi is not None and m.psi is not None  # both compared against the baseline, nothing is "extra"
    assert [f.name for f in report.features] == ["x", "m"]
    reader = CaptureReader(lines, columns=["x", "m"])
    assert [features for features, _ in reader] == [
        {"x": 2.5, "m": "b"},
        {"x": 0.5, "m": "a"},
        {"x": 1.5, "m": "c"},
        {"x": 3.5, "m": "a"},
    ]


def test_csv_rows_that_do_not_match_the_baseline_are_malformed_and_outputs_line_up() -> None:
    reader = CaptureReader(
        [csv_capture_line("1,a,extra"), csv_capture_line("1,a\n2,b", output="0.1\n0.9")],
        columns=["x", "m"],
        output_columns=["output.score"],
    )
    records = list(reader)
    assert reader.malformed_reasons == {"CSV row does not have the baseline's columns": 1}
    assert records == [
        ({"x": 1, "m": "a"}, {"output.score": 0.1}),
        ({"x": 2, "m": "b"}, {"output.score": 0.9}),
    ]
    # without a baseline's columns, Model Monitor's names for headerless CSV
    assert next(iter(CaptureReader([csv_capture_line("7,z")])))[0] == {"_c0": 7, "_c1": "z"}
