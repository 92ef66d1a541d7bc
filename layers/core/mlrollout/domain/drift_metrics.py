"""The builtin drift backend's verdict on one window: per-feature metrics, a drift score, and what it means.

Each feature of the baseline gets, when there was something to compare:
- PSI and KSDistance (numeric), JSDistance (both kinds), MissingRate, TypeMismatchRate;
- DriftScore = the largest of the ratios that apply: PSI / psi_threshold (numeric), JS / js_threshold
  (categorical), (missing rate - baseline missing rate) / missing_rate_threshold, and type-mismatch rate / the
  baseline's datatype_check_threshold. A score above 1 means at least one threshold is crossed, so one alarm per
  feature (DriftScore > 1) covers every test, and its evidence names which.
The endpoint gets Records, MalformedRecords and, when the window had records, SchemaViolations (new fields,
absent fields, wrong types) and FeaturesDrifted. Everything is published in one namespace with dimensions
Endpoint (+ Feature).

CloudWatch dimension values must be ASCII, without control characters, with a non-whitespace character, at most
1024 characters (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html); one value
that is not fails the whole PutMetricData batch, and PutMetricAlarm. A feature name is free text (`température`),
so the Feature dimension is `feature_dimension(name)`, used by whatever publishes, alarms on or reads the metrics.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field

from mlrollout.domain.drift import Baseline, DriftReport, FeatureDrift

NAMESPACE = "mlrollout/DataDrift"
# Where Model Monitor's data-quality jobs publish their per-feature metrics.
DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
SCORE_METRIC = "DriftScore"
SCHEMA_METRIC = "SchemaViolations"
COUNTS = frozenset({"Records", "MalformedRecords", SCHEMA_METRIC, "FeaturesDrifted"})
SCHEMA_CHECKS = frozenset({"extra_column_check", "missing_column_check", "data_type_check"})


MAX_DIMENSION_VALUE = 1024
DIGEST_CHARS = 12  # 48 bits of sha256: names that fold to the same ASCII stay apart


def dimension_value_problem(value: str) -> str | None:
    """Why CloudWatch would refuse `value` as a dimension value (None: it accepts it)."""
    if not 1 <= len(value) <= MAX_DIMENSION_VALUE:
        return f"is {len(value)} characters (CloudWatch takes 1 to {MAX_DIMENSION_VALUE})"
    if not all(" " <= c <= "~" for c in value):
        return "has characters other than printable ASCII"
    if not value.strip():
        return "has no character other than whitespace"
    return None


def feature_dimension(feature: str) -> str:
    """The Feature dimension value of a feature: the name itself when CloudWatch accepts it (readable, and the
    metrics of existing features keep their identity); otherwise its ASCII transliteration (accents dropped, any
    other character `_`) followed by `~` and a digest of the exact name, so that distinct names stay distinct."""
    if dimension_value_problem(feature) is None:
        return feature
    folded = unicodedata.normalize("NFKD", feature).encode("ascii", "ignore").decode("ascii")
    readable = "".join(c if " " <= c <= "~" else "_" for c in folded).strip() or "feature"
    digest = hashlib.sha256(feature.encode("utf-8")).hexdigest()[:DIGEST_CHARS]
    return f"{readable[: MAX_DIMENSION_VALUE - DIGEST_CHARS - 1]}~{digest}"


def dimension_clashes(features: list[str]) -> list[tuple[str, str]]:
    """Pairs of features that would share one Feature dimension value (and so one metric and one alarm)."""
    seen: dict[str, str] = {}
    clashes = []
    for feature in features:
        value = feature_dimension(feature)
        if value in seen:
            clashes.append((seen[value], feature))
        seen.setdefault(value, feature)
    return clashes


@dataclass(frozen=True)
class Thresholds:
    psi: float
    js: float
    missing_rate: float


@dataclass(frozen=True)
class FeatureScore:
    feature: str
    kind: str
    values: dict[str, float]
    limits: dict[str, float]
    score: float
    crossed: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return self.score > 1


@dataclass(frozen=True)
class WindowVerdict:
    records: int
    malformed: int
    schema_violations: list[dict[str, str]]
    features: list[FeatureScore] = field(default_factory=list)
    judged: bool = True  # False: too few records to say anything (only the counts are published)

    @property
    def drifted(self) -> list[FeatureScore]:
        return [f for f in self.features if f.drifted]

    def datapoints(self, endpoint: str) -> list[tuple[str, dict[str, str], float]]:
        """(metric, dimensions, value) for every number this window produced.

        A window without a usable record judges nothing: it reports its Records and MalformedRecords only. A
        SchemaViolations (or FeaturesDrifted) of 0 would read as "schema fine" and let the schema alarm return to
        OK on a quiet night, although its TreatMissingData=ignore is there to keep the state until traffic says.
        """
        points: list[tuple[str, dict[str, str], float]] = [
            ("Records", {"Endpoint": endpoint}, float(self.records)),
            ("MalformedRecords", {"Endpoint": endpoint}, float(self.malformed)),
        ]
        if not self.records or not self.judged:
            return points
        points += [
            (SCHEMA_METRIC, {"Endpoint": endpoint}, float(len(self.schema_violations))),
            ("FeaturesDrifted", {"Endpoint": endpoint}, float(len(self.drifted))),
        ]
        for feature in self.features:
            dimensions = {"Endpoint": endpoint, "Feature": feature_dimension(feature.feature)}
            points += [(name, dimensions, value) for name, value in feature.values.items()]
            points.append((SCORE_METRIC, dimensions, feature.score))
        return points


def score_feature(drift: FeatureDrift, baseline: Baseline, thresholds: Thresholds) -> FeatureScore | None:
    """None when the window had nothing to compare for this feature (no records)."""
    if drift.count == 0 and drift.missing_rate == 0:
        return None
    expected = baseline.features[drift.name]
    seen = expected.num_present + expected.num_missing
    baseline_missing = expected.num_missing / seen if seen else 0.0
    values: dict[str, float] = {"MissingRate": drift.missing_rate}
    limits: dict[str, float] = {"MissingRate": min(1.0, baseline_missing + thresholds.missing_rate)}
    ratios: dict[str, float] = {
        "MissingRate": max(0.0, drift.missing_rate - baseline_missing) / thresholds.missing_rate
    }
    if drift.psi is not None:
        values["PSI"] = drift.psi
    if drift.ks is not None:
        values["KSDistance"] = drift.ks
    if drift.js is not None:
        values["JSDistance"] = drift.js
    if drift.kind == "numerical" and drift.psi is not None:
        limits["PSI"] = thresholds.psi
        ratios["PSI"] = drift.psi / thresholds.psi
    if drift.kind == "categorical" and drift.js is not None:
        limits["JSDistance"] = thresholds.js
        ratios["JSDistance"] = drift.js / thresholds.js
    if drift.count:
        mismatch = drift.type_mismatches / drift.count
        values["TypeMismatchRate"] = mismatch
        limits["TypeMismatchRate"] = baseline.config.datatype_check_threshold
        ratios["TypeMismatchRate"] = mismatch / baseline.config.datatype_check_threshold
    score = max(ratios.values())
    crossed = tuple(sorted(name for name, ratio in ratios.items() if ratio > 1))
    return FeatureScore(drift.name, drift.kind, values, limits, score, crossed)


def judge_window(
    report: DriftReport,
    baseline: Baseline,
    thresholds: Thresholds,
    features: list[str] | None = None,
    *,
    min_records: int = 1,
) -> WindowVerdict:
    """Scores for every wanted baseline feature; a window under `min_records` is counted but not judged (a PSI over
    a handful of records is noise, and would page someone)."""
    if report.records < max(1, min_records):
        return WindowVerdict(report.records, report.malformed_lines, [], [], judged=False)
    wanted = set(features) if features else None
    scores: list[FeatureScore] = []
    schema: list[dict[str, str]] = []
    for drift in report.features:
        schema += [v.as_dict() for v in drift.violations if v.constraint_check_type in SCHEMA_CHECKS]
        if not drift.in_baseline or (wanted is not None and drift.name not in wanted):
            continue
        scored = score_feature(drift, baseline, thresholds)
        if scored is not None:
            scores.append(scored)
    return WindowVerdict(
        records=report.records, malformed=report.malformed_lines, schema_violations=schema, features=scores
    )
