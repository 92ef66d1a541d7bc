"""Data drift of captured endpoint traffic against a SageMaker Model Monitor baseline, in pure Python.

The data-quality analyzer of Model Monitor, reduced to what a Lambda (or the sandbox) can run without numpy:

Reading. `CaptureReader` streams SageMaker data-capture JSONL and yields `(features, outputs)` per record.
Features are the request's `"features"` object when it has one, otherwise the request object itself; outputs
are the response object's scalar fields, named `output.<field>`. CSV capture (text/csv models) is read row by
row, each cell named by the baseline's column order. Lines that cannot be used (bad JSON, no
captureData, a request that is not a JSON object, an unreadable inferenceTime when a window is asked for) are
counted by reason on the reader and skipped, never raised: one bad line must not fail an hour of monitoring.

Accumulating. One `FeatureAccumulator` per feature, constant memory whatever the window size: type
observations (number / string / bool / null / nested), a `NumericAccumulator` (count, min, max, sum, sum of
squares, counts in the baseline's bins plus an underflow and an overflow bin) and, for categorical features, a
`CategoricalAccumulator` (counts of the baseline's categories plus at most `category_cap` new ones, then one
"other" bucket). Scalars are numbers, strings, booleans and null; a nested value (object or array) is a schema
violation. Non-finite numbers (JSON NaN/Infinity) count as missing: they have no place in a distribution.

Statistics. With p the baseline's shares and q the current window's shares over the same bins or categories:
- PSI (population stability index) = Σ_i (q_i - p_i) · ln(q_i / p_i), after flooring every share at
  ε = PSI_EPSILON = 1e-4 so that a bin empty on one side contributes a large but finite term instead of an
  infinite one. Shares are not renormalised after flooring, so identical distributions give exactly 0. The usual
  reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one.
- KS (Kolmogorov-Smirnov distance, binned) = max_k |P(e_k) - Q(e_k)| over the bin edges e_0 … e_K, where P and Q
  are the cumulative shares up to each edge (the underflow bin included). Disjoint distributions give 1.
- JS (Jensen-Shannon distance) = sqrt(½ KL(p‖m) + ½ KL(q‖m)) with m = (p + q) / 2 and log base 2, so it lies
  in [0, 1]: 0 for identical distributions, 1 for disjoint ones.
- L∞ = max_i |p_i - q_i| over category frequencies.
- `baseline_drift(feature)`: the sandbox's approximation of Model Monitor's `feature_baseline_drift_<name>`
  metric (see its docstring).

Baselines. `build_baseline` writes Model Monitor's statistics.json and constraints.json documents (10
equal-width buckets between min and max for numeric features, every category for string features);
`read_baseline` reads them back (ours or Model Monitor's) into the bins the accumulators count in.

Reporting. `DriftAnalyzer` feeds records to the accumulators; `DriftReport` has one `FeatureDrift` per feature,
the totals, the current window's statistics.json and `violations()` in the shape of Model Monitor's
constraint_violations.json.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_CATEGORY_CAP",
    "OTHER",
    "OUTPUT_PREFIX",
    "PSI_EPSILON",
    "Baseline",
    "BaselineInvalid",
    "CaptureReader",
    "CategoricalAccumulator",
    "DriftAnalyzer",
    "DriftReport",
    "FeatureAccumulator",
    "FeatureBaseline",
    "FeatureDrift",
    "MonitoringConfig",
    "NumericAccumulator",
    "TypeObservations",
    "Violation",
    "analyze_capture",
    "baseline_drift",
    "baseline_from_capture_lines",
    "baseline_from_csv",
    "build_baseline",
    "js_distance",
    "ks_distance",
    "linf_distance",
    "population_stability_index",
    "read_baseline",
    "value_type",
]

PSI_EPSILON: Final = 1e-4
DEFAULT_BINS: Final = 10
DEFAULT_CATEGORY_CAP: Final = 1000
DEFAULT_EXTRA_FEATURE_CAP: Final = 100
DEFAULT_DOMAIN_LIMIT: Final = 20
OUTPUT_PREFIX: Final = "output."
OTHER: Final = "__other__"

Kind = Literal["numerical", "categorical", "unknown"]
InferredType = Literal["Integral", "Fractional", "String", "Unknown"]
ValueType = Literal["number", "string", "bool", "null", "nested"]
Window = tuple[datetime, datetime]

_INFERRED_TYPES: Final = frozenset({"Integral", "Fractional", "String", "Unknown"})


class _Absent:
    """The value of a feature a record does not name at all (as opposed to an explicit null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


class BaselineInvalid(ValueError):
    """A statistics.json or constraints.json document that cannot be used as a baseline (the message says why)."""


# --------------------------------------------------------------------------------------------------- values


def value_type(value: object) -> ValueType:
    """The JSON type of a value as the analyzer sees it; NaN and ±Infinity are missing values ("null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass in Python, never a number in JSON
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "null"
    if isinstance(value, str):
        return "string"
    return "nested"


def _label(value: object) -> str:
    """A scalar's category label: strings as they are, booleans and numbers as their JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


# --------------------------------------------------------------------------------------------- accumulators


class TypeObservations:
    """How many values of each JSON type a feature has shown."""

    __slots__ = ("boolean", "nested", "null", "number", "string")

    def __init__(self) -> None:
        self.number = 0
        self.string = 0
        self.boolean = 0
        self.null = 0
        self.nested = 0

    def add(self, kind: ValueType) -> None:
        if kind == "number":
            self.number += 1
        elif kind == "string":
            self.string += 1
        elif kind == "bool":
            self.boolean += 1
        elif kind == "null":
            self.null += 1
        else:
            self.nested += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "number": self.number,
            "string": self.string,
            "bool": self.boolean,
            "null": self.null,
            "nested": self.nested,
        }


class NumericAccumulator:
    """count, min, max, sum, sum of squares and counts in bins, for a stream of numbers.

    With edges e_0 < … < e_K (K buckets) the bins are: underflow (x < e_0), bucket j for e_{j-1} <= x < e_j
    (j = 1 … K, the last one closed: e_{K-1} <= x <= e_K) and overflow (x > e_K); `bins` has K + 2 counts.
    Without edges only the moments are kept.
    """

    __slots__ = ("bins", "count", "edges", "maximum", "minimum", "sum", "sum_squares")

    def __init__(self, edges: Sequence[float] = ()) -> None:
        self.edges: tuple[float, ...] = tuple(float(e) for e in edges)
        if len(self.edges) == 1:
            raise ValueError("bins need at least two edges (a lower and an upper bound)")
        self.bins: list[int] = [0] * (len(self.edges) + 1) if self.edges else []
        self.count = 0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.sum = 0.0
        self.sum_squares = 0.0

    def bin_index(self, value: float) -> int:
        """0 = underflow, 1 … K = the buckets, K + 1 = overflow."""
        index = bisect.bisect_right(self.edges, value)
        if index == len(self.edges) and value == self.edges[-1]:
            index -= 1  # the upper bound of the last bucket is inside it (it is the baseline's max)
        return index

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.sum_squares += value * value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if self.edges:
            self.bins[self.bin_index(value)] += 1

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    @property
    def std_dev(self) -> float | None:
        """Population standard deviation sqrt(Σx²/n - mean²), clamped at 0 against rounding."""
        if not self.count:
            return None
        mean = self.sum / self.count
        return math.sqrt(max(0.0, self.sum_squares / self.count - mean * mean))


class CategoricalAccumulator:
    """Value counts with bounded memory: the baseline's categories always, `cap` new ones, then `OTHER`."""

    __slots__ = ("cap", "counts", "known", "new", "other")

    def __init__(self, known: Iterable[str] = (), cap: int = DEFAULT_CATEGORY_CAP) -> None:
        self.counts: dict[str, int] = dict.fromkeys(known, 0)
        self.known: frozenset[str] = frozenset(self.counts)
        self.cap = cap
        self.new = 0
        self.other = 0

    def add(self, value: str) -> None:
        if value in self.counts:
            self.counts[value] += 1
        elif self.new < self.cap:
            self.counts[value] = 1
            self.new += 1
        else:
            self.other += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.other

    def frequencies(self) -> dict[str, int]:
        """Non-zero counts, with the overflow of new categories under `OTHER`."""
        out = {k: v for k, v in self.counts.items() if v}
        if self.other:
            out[OTHER] = out.get(OTHER, 0) + self.other
        return out


# ------------------------------------------------------------------------------------------------- baseline


@dataclass(frozen=True)
class FeatureBaseline:
    """One feature of a baseline: its type, its distribution and its constraints."""

    name: str
    inferred_type: InferredType
    num_present: float = 0.0
    num_missing: float = 0.0
    edges: tuple[float, ...] = ()
    bucket_counts: tuple[float, ...] = ()
    categories: Mapping[str, float] = field(default_factory=dict)
    completeness: float | None = None  # from constraints.json; None: not checked
    domains: tuple[str, ...] | None = None  # from constraints.json string_constraints; None: not checked

    @property
    def kind(self) -> Kind:
        if self.inferred_type in {"Integral", "Fractional"}:
            return "numerical"
        if self.inferred_type == "String":
            return "categorical"
        return "unknown"

    def distribution(self) -> list[float]:
        """Numerical: counts per bin of a NumericAccumulator (no baseline data below e_0 or above e_K)."""
        return [0.0, *self.bucket_counts, 0.0] if self.bucket_counts else []


@dataclass(frozen=True)
class MonitoringConfig:
    """constraints.json's monitoring_config (Model Monitor's documented defaults when a value is absent)."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 0.1
    domain_content_threshold: float = 0.1
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_comparison_threshold: float | None = None

    def drift_threshold(self, kind: Kind) -> float:
        if kind == "categorical" and self.categorical_comparison_threshold is not None:
            return self.categorical_comparison_threshold
        return self.comparison_threshold


@dataclass(frozen=True)
class Baseline:
    features: Mapping[str, FeatureBaseline]
    item_count: int = 0
    config: MonitoringConfig = field(default_factory=MonitoringConfig)

    @property
    def has_outputs(self) -> bool:
        return any(name.startswith(OUTPUT_PREFIX) for name in self.features)


def read_baseline(statistics: Mapping[str, Any], constraints: Mapping[str, Any] | None = None) -> Baseline:
    """A baseline from statistics.json (and optionally constraints.json), in Model Monitor's formats.

    Numerical features: the KLL buckets, sorted by lower bound, are taken as contiguous bins (as Model Monitor
    writes them): edges = [first lower_bound, each upper_bound]. Without buckets, one bucket [min, max] holding
    every present value. Categorical features: the categorical buckets' counts. Shares are relative to the
    bucket counts, not to num_present, so a truncated bucket list still gives a distribution that sums to 1.
    Without constraints.json, completeness and categorical-values checks are not made and monitoring_config
    takes its defaults.
    """
    if not isinstance(statistics, Mapping) or not isinstance(statistics.get("features"), list):
        raise BaselineInvalid("statistics.json must be an object with a 'features' list")
    constrained = _constraints_by_name(constraints)
    features: dict[str, FeatureBaseline] = {}
    for number, entry in enumerate(statistics["features"]):
        feature = _read_feature(entry, number, constrained)
        features[feature.name] = feature
    dataset = statistics.get("dataset")
    item_count = dataset.get("item_count", 0) if isinstance(dataset, Mapping) else 0
    config = _read_monitoring_config(constraints.get("monitoring_config") if constraints else None)
    return Baseline(features=features, item_count=int(item_count or 0), config=config)


def _constraints_by_name(constraints: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if constraints is None:
        return {}
    if not isinstance(constraints, Mapping) or not isinstance(constraints.get("features", []), list):
        raise BaselineInvalid("constraints.json must be an object with a 'features' list")
    return {
        str(entry["name"]): entry
        for entry in constraints.get("features", [])
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str)
    }


def _read_feature(entry: Any, number: int, constrained: Mapping[str, Mapping[str, Any]]) -> FeatureBaseline:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise BaselineInvalid(f"statistics.json features[{number}] has no name")
    name: str = entry["name"]
    inferred = entry.get("inferred_type", "Unknown")
    if inferred not in _INFERRED_TYPES:
        raise BaselineInvalid(f"feature {name}: inferred_type {inferred!r} is not one of {sorted(_INFERRED_TYPES)}")
    constraint = constrained.get(name, {})
    completeness = constraint.get("completeness")
    domains = (constraint.get("string_constraints") or {}).get("domains")
    stats = entry.get("numerical_statistics") or entry.get("string_statistics") or {}
    common = stats.get("common") or {}
    base: dict[str, Any] = {
        "name": name,
        "inferred_type": inferred,
        "num_present": float(common.get("num_present", 0) or 0),
        "num_missing": float(common.get("num_missing", 0) or 0),
        "completeness": float(completeness) if isinstance(completeness, int | float) else None,
        "domains": tuple(str(d) for d in domains) if isinstance(domains, list) else None,
    }
    if inferred in {"Integral", "Fractional"}:
        edges, counts = _read_buckets(name, stats)
        return FeatureBaseline(**base, edges=edges, bucket_counts=counts)
    if inferred == "String":
        buckets = ((stats.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
        categories: dict[str, float] = {}
        for bucket in buckets:
            if not isinstance(bucket, Mapping) or "value" not in bucket:
                raise BaselineInvalid(f"feature {name}: a categorical bucket has no value")
            key = _label(bucket["value"])
            categories[key] = categories.get(key, 0.0) + float(bucket.get("count", 0) or 0)
        return FeatureBaseline(**base, categories=categories)
    return FeatureBaseline(**base)


def _read_buckets(name: str, stats: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    buckets = ((stats.get("distribution") or {}).get("kll") or {}).get("buckets") or []
    try:
        ordered = sorted(
            (float(b["lower_bound"]), float(b["upper_bound"]), float(b.get("count", 0) or 0)) for b in buckets
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineInvalid(f"feature {name}: a kll bucket needs numeric lower_bound, upper_bound, count") from exc
    if ordered:
        edges = (ordered[0][0], *(upper for _, upper, _ in ordered))
        if any(b > a for a, b in zip(edges[1:], edges[:-1], strict=True)):
            raise BaselineInvalid(f"feature {name}: kll buckets overlap or run backwards")
        return edges, tuple(count for _, _, count in ordered)
    low, high = stats.get("min"), stats.get("max")
    if isinstance(low, int | float) and isinstance(high, int | float):
        present = float((stats.get("common") or {}).get("num_present", 0) or 0)
        return (float(low), float(high)), (present,)
    return (), ()


def _enabled(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).lower() == "enabled"


def _read_monitoring_config(raw: Any) -> MonitoringConfig:
    if not isinstance(raw, Mapping):
        return MonitoringConfig()
    defaults = MonitoringConfig()
    distribution = raw.get("distribution_constraints") or {}
    categorical = distribution.get("categorical_comparison_threshold")
    return MonitoringConfig(
        evaluate_constraints=_enabled(raw.get("evaluate_constraints"), True),
        emit_metrics=_enabled(raw.get("emit_metrics"), True),
        datatype_check_threshold=float(raw.get("datatype_check_threshold", defaults.datatype_check_threshold)),
        domain_content_threshold=float(raw.get("domain_content_threshold", defaults.domain_content_threshold)),
        perform_comparison=_enabled(distribution.get("perform_comparison"), True),
        comparison_threshold=float(distribution.get("comparison_threshold", defaults.comparison_threshold)),
        comparison_method=str(distribution.get("comparison_method", defaults.comparison_method)),
        categorical_comparison_threshold=float(categorical) if categorical is not None else None,
    )


# --------------------------------------------------------------------------------------------- per feature


class FeatureAccumulator:
    """Everything the analyzer keeps about one feature over one window, in constant memory.

    `observe(value)` takes the feature's value in one record (`ABSENT` when the record does not name it). A value
    conforms to the baseline's inferred type when: Integral, a number with an integral value; Fractional, any
    number; String, a string or a boolean (booleans are the categories "true"/"false"); Unknown, anything.
    Non-conforming scalars are counted and still accumulated where they fit (a number in a String feature is
    the category of its JSON text; a string in a numerical feature is not binned). Nested values are counted as
    type mismatches and not accumulated.
    """

    __slots__ = (
        "absent",
        "baseline",
        "categorical",
        "floats",
        "name",
        "numeric",
        "records",
        "type_mismatches",
        "types",
    )

    def __init__(
        self, name: str, baseline: FeatureBaseline | None = None, *, category_cap: int = DEFAULT_CATEGORY_CAP
    ) -> None:
        self.name = name
        self.baseline = baseline
        self.types = TypeObservations()
        self.records = 0
        self.absent = 0
        self.type_mismatches = 0
        self.floats = 0  # numbers that arrived as JSON floats: Integral vs Fractional for the current data
        kind = baseline.kind if baseline is not None else "unknown"
        self.numeric = NumericAccumulator(baseline.edges if baseline is not None and kind == "numerical" else ())
        self.categorical: CategoricalAccumulator | None = None
        if kind != "numerical":
            known = baseline.categories if baseline is not None else ()
            self.categorical = CategoricalAccumulator(known, category_cap)

    @property
    def kind(self) -> Kind:
        return self.baseline.kind if self.baseline is not None else "unknown"

    def observe(self, value: object) -> None:
        self.records += 1
        if value is ABSENT:
            self.absent += 1
            return
        kind = value_type(value)
        self.types.add(kind)
        if kind == "null":
            return
        if kind == "nested":
            self.type_mismatches += 1
            return
        expected = self.baseline.inferred_type if self.baseline is not None else "Unknown"
        if kind == "number" and isinstance(value, int | float):
            if isinstance(value, float):
                self.floats += 1
            integral = isinstance(value, int) or value.is_integer()
            if expected == "String" or (expected == "Integral" and not integral):
                self.type_mismatches += 1
            if self.categorical is not None and self.kind == "categorical":
                self.categorical.add(_label(value))
            else:
                self.numeric.add(float(value))
            return
        # A string or a boolean.
        if expected in {"Integral", "Fractional"}:
            self.type_mismatches += 1
        if self.categorical is not None:
            self.categorical.add(_label(value))

    def pad_to(self, records: int) -> None:
        """Count the records this accumulator never saw (features first seen mid-window) as absent."""
        if records > self.records:
            self.absent += records - self.records
            self.records = records

    @property
    def missing(self) -> int:
        """Absent keys plus explicit nulls (and non-finite numbers)."""
        return self.absent + self.types.null

    @property
    def present(self) -> int:
        return self.records - self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.records if self.records else 0.0

    def observed_type(self) -> InferredType:
        """The inferred type of the values seen: any string or boolean makes it String, numbers alone Integral
        (all JSON integers) or Fractional, nothing at all Unknown."""
        if self.types.string or self.types.boolean:
            return "String"
        if self.types.number:
            return "Fractional" if self.floats else "Integral"
        return "Unknown"


# --------------------------------------------------------------------------------------------- statistics


def _shares(counts: Sequence[float]) -> list[float]:
    total = math.fsum(counts)
    if total <= 0:
        raise ValueError("a distribution needs at least one observation")
    return [c / total for c in counts]


def _aligned(expected: Sequence[float], actual: Sequence[float]) -> tuple[list[float], list[float]]:
    if len(expected) != len(actual):
        raise ValueError(f"distributions over different bins ({len(expected)} vs {len(actual)})")
    return _shares(expected), _shares(actual)


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], *, epsilon: float = PSI_EPSILON
) -> float:
    """PSI = Σ (q_i - p_i) · ln(q_i / p_i) over aligned bins; counts are normalised to shares p (expected) and
    q (actual), then each share is floored at `epsilon` so empty bins give a finite term."""
    p, q = _aligned(expected, actual)
    total = 0.0
    for share_p, share_q in zip(p, q, strict=True):
        pi, qi = max(share_p, epsilon), max(share_q, epsilon)
        total += (qi - pi) * math.log(qi / pi)
    return total


def ks_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """max_k |P_k - Q_k| over the cumulative shares of ordered bins (the CDFs at the bin edges)."""
    p, q = _aligned(expected, actual)
    cp = cq = worst = 0.0
    for pi, qi in zip(p, q, strict=True):
        cp += pi
        cq += qi
        worst = max(worst, abs(cp - cq))
    return min(1.0, worst)  # summing shares can overshoot 1 by an ulp


def js_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """sqrt(½ Σ p log2(p/m) + ½ Σ q log2(q/m)), m = (p + q)/2; terms with a zero share are 0."""
    p, q = _aligned(expected, actual)
    divergence = 0.0
    for pi, qi in zip(p, q, strict=True):
        mi = (pi + qi) / 2
        if pi > 0:
            divergence += 0.5 * pi * math.log2(pi / mi)
        if qi > 0:
            divergence += 0.5 * qi * math.log2(qi / mi)
    return math.sqrt(min(1.0, max(0.0, divergence)))


def linf_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """max_i |p_i - q_i| over aligned frequency vectors."""
    p, q = _aligned(expected, actual)
    return max(abs(pi - qi) for pi, qi in zip(p, q, strict=True))


def aligned_counts(feature: FeatureAccumulator) -> tuple[list[float], list[float]] | None:
    """(baseline counts, current counts) over the same bins or categories, or None when either side is empty.

    Numerical: the K + 2 bins of the baseline's edges (underflow and overflow included). Categorical: the
    baseline's categories in order, then the window's new categories sorted, then `OTHER` if it was used.
    """
    baseline = feature.baseline
    if baseline is None:
        return None
    if baseline.kind == "numerical":
        expected = baseline.distribution()
        actual = [float(c) for c in feature.numeric.bins]
    elif baseline.kind == "categorical" and feature.categorical is not None:
        current = feature.categorical.frequencies()
        keys = list(baseline.categories) + sorted(k for k in current if k not in baseline.categories)
        expected = [float(baseline.categories.get(k, 0.0)) for k in keys]
        actual = [float(current.get(k, 0)) for k in keys]
    else:
        return None
    if not expected or math.fsum(expected) <= 0 or math.fsum(actual) <= 0:
        return None
    return expected, actual


def baseline_drift(feature: FeatureAccumulator) -> float | None:
    """The sandbox's approximation of Model Monitor's baseline drift distance (`feature_baseline_drift_<name>`).

    Numerical features: the L∞ distance between the baseline's CDF and the current window's CDF, both taken at
    the baseline's bin edges (the binned KS distance); categorical features: the L∞ distance between the
    category frequency vectors. Model Monitor compares KLL sketches; comparing bin counts is how the sandbox
    approximates that distance without a sketch. None when the feature has no baseline distribution or no
    current values to compare.
    """
    counts = aligned_counts(feature)
    if counts is None:
        return None
    if feature.kind == "numerical":
        return ks_distance(*counts)
    return linf_distance(*counts)


# --------------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: str
    description: str

    def as_dict(self) -> dict[str, str]:
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison; distances are None where they do not apply or there was nothing to compare."""

    name: str
    kind: Kind
    inferred_type: str
    in_baseline: bool
    count: int
    missing_rate: float
    psi: float | None
    ks: float | None
    js: float | None
    baseline_drift: float | None
    type_mismatches: int
    types: Mapping[str, int]
    violations: tuple[Violation, ...]


@dataclass(frozen=True)
class DriftReport:
    features: tuple[FeatureDrift, ...]
    records: int
    malformed_lines: int
    config: MonitoringConfig
    current_statistics: Mapping[str, Any]
    malformed_reasons: Mapping[str, int] = field(default_factory=dict)

    def feature(self, name: str) -> FeatureDrift:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def violations(self) -> dict[str, list[dict[str, str]]]:
        """constraint_violations.json: {"violations": [{"feature_name", "constraint_check_type", "description"}]}."""
        return {"violations": [v.as_dict() for f in self.features for v in f.violations]}

    @property
    def has_violations(self) -> bool:
        return any(f.violations for f in self.features)

    def metrics(self) -> dict[str, float]:
        """`feature_baseline_drift_<name>` for every baseline feature that had something to compare."""
        return {
            f"feature_baseline_drift_{f.name}": f.baseline_drift
            for f in self.features
            if f.in_baseline and f.baseline_drift is not None
        }

    def statistics(self) -> dict[str, Any]:
        """The current window's statistics.json (Model Monitor's format)."""
        return copy.deepcopy(dict(self.current_statistics))


class DriftAnalyzer:
    """Feeds records to one accumulator per feature and reports against the baseline.

    Output fields (`output.<field>`) are monitored when `monitor_outputs` says so; by default when the baseline
    has any output field, since a baseline of inputs alone would otherwise flag every output as an extra column.
    At most `extra_feature_cap` features absent from the baseline are tracked; more are only counted.
    """

    def __init__(
        self,
        baseline: Baseline,
        *,
        monitor_outputs: bool | None = None,
        category_cap: int = DEFAULT_CATEGORY_CAP,
        extra_feature_cap: int = DEFAULT_EXTRA_FEATURE_CAP,
    ) -> None:
        self.baseline = baseline
        self.monitor_outputs = baseline.has_outputs if monitor_outputs is None else monitor_outputs
        self.category_cap = category_cap
        self.extra_feature_cap = extra_feature_cap
        self.records = 0
        self.malformed_lines = 0
        self.malformed_reasons: dict[str, int] = {}
        self.untracked_extra_features = 0
        self._inputs: dict[str, FeatureAccumulator] = {}
        self._outputs: dict[str, FeatureAccumulator] = {}
        for name, feature in baseline.features.items():
            accumulator = FeatureAccumulator(name, feature, category_cap=category_cap)
            if name.startswith(OUTPUT_PREFIX):
                if self.monitor_outputs:
                    self._outputs[name] = accumulator
            else:
                self._inputs[name] = accumulator
        self._extras: dict[str, FeatureAccumulator] = {}

    def add(self, features: Mapping[str, object], outputs: Mapping[str, object] | None = None) -> None:
        self.records += 1
        for name, accumulator in self._inputs.items():
            accumulator.observe(features.get(name, ABSENT))
        if any(k not in self._inputs for k in features):
            self._observe_extras(features, self._inputs)
        if self.monitor_outputs:
            seen = outputs or {}
            for name, accumulator in self._outputs.items():
                accumulator.observe(seen.get(name, ABSENT))
            if any(k not in self._outputs for k in seen):
                self._observe_extras(seen, self._outputs)

    def _observe_extras(self, row: Mapping[str, object], known: Mapping[str, FeatureAccumulator]) -> None:
        for name, value in row.items():
            if name in known:
                continue
            accumulator = self._extras.get(name)
            if accumulator is None:
                if len(self._extras) >= self.extra_feature_cap:
                    self.untracked_extra_features += 1
                    continue
                accumulator = self._extras[name] = FeatureAccumulator(name, category_cap=self.category_cap)
            accumulator.pad_to(self.records - 1)  # earlier records did not name it
            accumulator.observe(value)

    def add_capture(self, lines: Iterable[str | bytes], *, window: Window | None = None) -> CaptureReader:
        """Read data-capture JSONL into the analyzer; returns the reader with its counts."""
        inputs = [name for name in self.baseline.features if not name.startswith(OUTPUT_PREFIX)]
        outputs_named = [name for name in self.baseline.features if name.startswith(OUTPUT_PREFIX)]
        reader = CaptureReader(lines, window=window, columns=inputs, output_columns=outputs_named)
        for features, outputs in reader:
            self.add(features, outputs)
        self.malformed_lines += reader.malformed
        for reason, count in reader.malformed_reasons.items():
            self.malformed_reasons[reason] = self.malformed_reasons.get(reason, 0) + count
        return reader

    def accumulators(self) -> list[FeatureAccumulator]:
        return [*self._inputs.values(), *self._outputs.values(), *(self._extras[k] for k in sorted(self._extras))]

    def report(self) -> DriftReport:
        config = self.baseline.config
        results: list[FeatureDrift] = []
        for accumulator in self.accumulators():
            accumulator.pad_to(self.records)
            results.append(_feature_drift(accumulator, config, self.records))
        statistics = {
            "version": 0,
            "dataset": {"item_count": self.records},
            "features": [_statistics_entry(a) for a in self.accumulators() if a.present or a.baseline is not None],
        }
        return DriftReport(
            features=tuple(results),
            records=self.records,
            malformed_lines=self.malformed_lines,
            config=config,
            current_statistics=statistics,
            malformed_reasons=dict(self.malformed_reasons),
        )


def analyze_capture(
    lines: Iterable[str | bytes],
    baseline: Baseline,
    *,
    window: Window | None = None,
    monitor_outputs: bool | None = None,
) -> DriftReport:
    """Read data-capture JSONL and report its drift from `baseline` in one call."""
    analyzer = DriftAnalyzer(baseline, monitor_outputs=monitor_outputs)
    analyzer.add_capture(lines, window=window)
    return analyzer.report()


def _feature_drift(accumulator: FeatureAccumulator, config: MonitoringConfig, records: int) -> FeatureDrift:
    baseline = accumulator.baseline
    counts = aligned_counts(accumulator)
    psi = ks = js = drift = None
    if counts is not None:
        psi = population_stability_index(*counts)
        js = js_distance(*counts)
        if accumulator.kind == "numerical":
            ks = ks_distance(*counts)
        drift = baseline_drift(accumulator)
    violations = _violations(accumulator, config, drift, records) if config.evaluate_constraints else ()
    return FeatureDrift(
        name=accumulator.name,
        kind=accumulator.kind if baseline is not None else _observed_kind(accumulator),
        inferred_type=baseline.inferred_type if baseline is not None else accumulator.observed_type(),
        in_baseline=baseline is not None,
        count=accumulator.present,
        missing_rate=accumulator.missing_rate,
        psi=psi,
        ks=ks,
        js=js,
        baseline_drift=drift,
        type_mismatches=accumulator.type_mismatches,
        types=accumulator.types.as_dict(),
        violations=violations,
    )


def _observed_kind(accumulator: FeatureAccumulator) -> Kind:
    observed = accumulator.observed_type()
    if observed in {"Integral", "Fractional"}:
        return "numerical"
    return "categorical" if observed == "String" else "unknown"


def _percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def _violations(
    accumulator: FeatureAccumulator, config: MonitoringConfig, drift: float | None, records: int
) -> tuple[Violation, ...]:
    name = accumulator.name
    baseline = accumulator.baseline
    if records == 0:
        return ()
    if baseline is None:
        return (
            Violation(
                name,
                "extra_column_check",
                f"Column {name} is not in the baseline; it was present in {accumulator.present} of {records} records.",
            ),
        )
    if accumulator.absent == records:
        return (Violation(name, "missing_column_check", f"Column {name} of the baseline is absent from every record."),)
    found: list[Violation] = []
    non_null = accumulator.present
    if non_null and accumulator.type_mismatches / non_null > config.datatype_check_threshold:
        share = 1 - accumulator.type_mismatches / non_null
        found.append(
            Violation(
                name,
                "data_type_check",
                f"Data type match requirement is not met. Expected data type: {baseline.inferred_type}, expected "
                f"match: {_percent(1 - config.datatype_check_threshold)}. Observed: only {_percent(share)} of "
                f"{non_null} values match ({accumulator.types.nested} nested).",
            )
        )
    completeness = 1 - accumulator.missing_rate
    if baseline.completeness is not None and completeness < baseline.completeness:
        found.append(
            Violation(
                name,
                "completeness_check",
                f"Data completeness requirement is not met. Expected completeness: {_percent(baseline.completeness)}."
                f" Observed: only {_percent(completeness)} of records have a value.",
            )
        )
    threshold = config.drift_threshold(accumulator.kind)
    if config.perform_comparison and drift is not None and drift > threshold:
        found.append(
            Violation(
                name,
                "baseline_drift_check",
                f"Baseline drift distance: {drift:.6g} exceeds threshold: {threshold:g}",
            )
        )
    unknown = _unknown_value_share(accumulator)
    if unknown is not None and unknown > config.domain_content_threshold:
        found.append(
            Violation(
                name,
                "categorical_values_check",
                f"Data content requirement is not met. Expected at most {_percent(config.domain_content_threshold)}"
                f" of values outside the baseline's domain. Observed: {_percent(unknown)} of values are outside it.",
            )
        )
    return tuple(found)


def _unknown_value_share(accumulator: FeatureAccumulator) -> float | None:
    baseline, categorical = accumulator.baseline, accumulator.categorical
    if baseline is None or baseline.domains is None or categorical is None or not categorical.total:
        return None
    domain = set(baseline.domains)
    outside = sum(c for k, c in categorical.counts.items() if k not in domain) + categorical.other
    return outside / categorical.total


# ---------------------------------------------------------------------------------------- statistics.json


def _common(accumulator: FeatureAccumulator) -> dict[str, int]:
    return {"num_present": accumulator.present, "num_missing": accumulator.missing}


def _numerical_entry(
    name: str, inferred: str, common: Mapping[str, int], numeric: NumericAccumulator, buckets: list[dict[str, float]]
) -> dict[str, Any]:
    stats: dict[str, Any] = {"common": dict(common)}
    if numeric.count:
        stats.update(
            mean=numeric.mean,
            sum=numeric.sum,
            std_dev=numeric.std_dev,
            min=numeric.minimum,
            max=numeric.maximum,
            distribution={"kll": {"buckets": buckets}},
        )
    return {"name": name, "inferred_type": inferred, "numerical_statistics": stats}


def _string_entry(name: str, common: Mapping[str, int], frequencies: Mapping[str, float]) -> dict[str, Any]:
    ordered = sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": dict(common),
            "distinct_count": len(ordered),
            "distribution": {"categorical": {"buckets": [{"value": k, "count": c} for k, c in ordered]}},
        },
    }


def _current_buckets(numeric: NumericAccumulator) -> list[dict[str, float]]:
    """The window's counts in the baseline's buckets, plus open-ended buckets for values outside them."""
    if not numeric.count:
        return []
    if not numeric.edges:
        return [{"lower_bound": numeric.minimum, "upper_bound": numeric.maximum, "count": numeric.count}]
    edges, bins = numeric.edges, numeric.bins
    out: list[dict[str, float]] = []
    if bins[0]:
        out.append({"lower_bound": numeric.minimum, "upper_bound": edges[0], "count": bins[0]})
    out.extend(
        {"lower_bound": edges[i], "upper_bound": edges[i + 1], "count": bins[i + 1]} for i in range(len(edges) - 1)
    )
    if bins[-1]:
        out.append({"lower_bound": edges[-1], "upper_bound": numeric.maximum, "count": bins[-1]})
    return out


def _statistics_entry(accumulator: FeatureAccumulator) -> dict[str, Any]:
    observed = accumulator.observed_type()
    inferred = accumulator.baseline.inferred_type if accumulator.baseline is not None else observed
    kind = accumulator.kind if accumulator.baseline is not None else _observed_kind(accumulator)
    common = _common(accumulator)
    if kind == "numerical":
        if inferred == "Integral" and accumulator.floats:
            inferred = observed
        return _numerical_entry(
            accumulator.name, inferred, common, accumulator.numeric, _current_buckets(accumulator.numeric)
        )
    if kind == "categorical" and accumulator.categorical is not None:
        return _string_entry(accumulator.name, common, accumulator.categorical.frequencies())
    return _unknown_entry(accumulator.name, common)


def _unknown_entry(name: str, common: Mapping[str, int]) -> dict[str, Any]:
    return {"name": name, "inferred_type": "Unknown", "string_statistics": {"common": dict(common)}}


# ------------------------------------------------------------------------------------------------ building


def build_baseline(
    records: Iterable[Mapping[str, object]], *, bins: int = DEFAULT_BINS, domain_limit: int = DEFAULT_DOMAIN_LIMIT
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics.json, constraints.json) for a baseline dataset given as feature dicts.

    Inferred type per feature: any string or boolean value makes it String (numbers then count as the category
    of their JSON text), numbers alone Integral (all JSON integers) or Fractional, no value at all Unknown.
    Numerical features get `bins` equal-width buckets between min and max (one bucket when min == max), filled
    exactly (not a KLL sketch); String features every category. Completeness is the share of records with a
    scalar value (a nested value in a baseline dataset counts as missing); `string_constraints.domains` lists
    the categories of features with at most `domain_limit` of them; `is_non_negative` is min >= 0.
    The numeric values are held in memory until the bucket edges are known: a baseline is a sample.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    seen: dict[str, FeatureAccumulator] = {}
    numbers: dict[str, list[int | float]] = {}
    item_count = 0
    for record in records:
        item_count += 1
        for name, raw in record.items():
            accumulator = seen.get(name)
            if accumulator is None:
                accumulator = seen[name] = FeatureAccumulator(name, category_cap=1 << 62)
                numbers[name] = []
                accumulator.pad_to(item_count - 1)
            kind = value_type(raw)
            # A nested value is not representable in a baseline: it counts as missing.
            value = None if kind == "nested" else raw
            accumulator.observe(value)
            if kind == "number" and isinstance(value, int | float):
                numbers[name].append(value)
    statistics_features: list[dict[str, Any]] = []
    constraint_features: list[dict[str, Any]] = []
    for name, accumulator in seen.items():
        accumulator.pad_to(item_count)
        observed = accumulator.observed_type()
        common = _common(accumulator)
        constraint: dict[str, Any] = {
            "name": name,
            "inferred_type": observed,
            "completeness": accumulator.present / item_count if item_count else 0.0,
        }
        if observed in {"Integral", "Fractional"}:
            values = numbers[name]
            low, high = min(values), max(values)
            edges = _equal_width_edges(float(low), float(high), bins)
            binned = NumericAccumulator(edges)
            for value in values:
                binned.add(float(value))
            buckets = [
                {"lower_bound": edges[i], "upper_bound": edges[i + 1], "count": binned.bins[i + 1]}
                for i in range(len(edges) - 1)
            ]
            statistics_features.append(_numerical_entry(name, observed, common, binned, buckets))
            constraint["num_constraints"] = {"is_non_negative": low >= 0}
        elif observed == "String":
            frequencies: dict[str, float] = {}
            if accumulator.categorical is not None:
                frequencies.update(accumulator.categorical.frequencies())
            for value in numbers[name]:
                label = _label(value)
                frequencies[label] = frequencies.get(label, 0) + 1
            statistics_features.append(_string_entry(name, common, frequencies))
            if len(frequencies) <= domain_limit:
                constraint["string_constraints"] = {"domains": sorted(frequencies)}
        else:
            statistics_features.append(_unknown_entry(name, common))
        constraint_features.append(constraint)
    statistics = {"version": 0, "dataset": {"item_count": item_count}, "features": statistics_features}
    constraints = {"version": 0, "features": constraint_features, "monitoring_config": _default_monitoring_config()}
    return statistics, constraints


def _equal_width_edges(low: float, high: float, bins: int) -> tuple[float, ...]:
    if high <= low:
        return (low, high)
    width = (high - low) / bins
    # The last edge is the max itself, not low + bins * width, which rounding can put just below it.
    return (*(low + i * width for i in range(bins)), high)


def _default_monitoring_config() -> dict[str, Any]:
    defaults = MonitoringConfig()
    return {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": defaults.datatype_check_threshold,
        "domain_content_threshold": defaults.domain_content_threshold,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": defaults.comparison_threshold,
            "comparison_method": defaults.comparison_method,
            "categorical_comparison_threshold": defaults.comparison_threshold,
            "categorical_drift_method": "LInfinity",
        },
    }


def baseline_from_capture_lines(
    lines: Iterable[str | bytes], *, bins: int = DEFAULT_BINS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics.json, constraints.json) from data-capture JSONL: inputs and `output.<field>` outputs."""
    reader = CaptureReader(lines)
    return build_baseline(({**features, **outputs} for features, outputs in reader), bins=bins)


def baseline_from_csv(
    text: str, *, header: bool = True, bins: int = DEFAULT_BINS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics.json, constraints.json) from CSV text.

    With `header`, the first row names the features; without, they are `_c0`, `_c1`, … as Model Monitor names
    headerless CSV columns. An empty cell is missing; a cell that parses as an int or a finite float is a number;
    anything else is a string.
    """
    rows = csv.reader(io.StringIO(text))
    names: list[str] | None = None
    if header:
        first = next(rows, None)
        if first is None:
            return build_baseline([], bins=bins)
        names = [n.strip() for n in first]

    def records() -> Iterator[dict[str, object]]:
        for row in rows:
            if not row:
                continue
            keys = names or [f"_c{i}" for i in range(len(row))]
            yield {key: _csv_cell(cell) for key, cell in zip(keys, row, strict=False)}

    return build_baseline(records(), bins=bins)


def _csv_cell(cell: str) -> object:
    text = cell.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


# ------------------------------------------------------------------------------------------------- reading


class CaptureReader:
    """Iterates `(features, outputs)` over SageMaker data-capture JSONL lines; malformed lines are counted.

    Malformed (counted in `malformed` and `malformed_reasons`, skipped): not JSON, no captureData object, no
    endpointInput data, request data that is not JSON or not a JSON object, and, when a `window` (start
    inclusive, end exclusive) is given, an eventMetadata.inferenceTime that is missing or unreadable. Records
    outside the window are counted in `outside_window`. BASE64-encoded capture data is decoded. Outputs: the
    response object's scalar fields as `output.<field>`; a response that is not a JSON object gives no outputs
    and is counted in `unreadable_outputs` (the record itself is still used).

    CSV capture (SageMaker writes `encoding: CSV` for the endpoint config's CsvContentTypes, or BASE64 of the CSV
    bytes with `observedContentType` text/csv when they are not listed): each row of the request is one record,
    its cells named by `columns` in order (the baseline's input features, as statistics.json lists them; without
    `columns`, `_c0`, `_c1`, ... as Model Monitor names headerless CSV). A row whose cell count differs from
    `columns` is malformed. Response rows map to `output_columns` the same way, row for row.
    """

    def __init__(
        self,
        lines: Iterable[str | bytes],
        *,
        window: Window | None = None,
        columns: Sequence[str] | None = None,
        output_columns: Sequence[str] | None = None,
    ) -> None:
        self._lines = lines
        self.window = window
        self.columns = tuple(columns) if columns else None
        self.output_columns = tuple(output_columns) if output_columns else None
        self.lines = 0
        self.records = 0
        self.malformed = 0
        self.malformed_reasons: dict[str, int] = {}
        self.outside_window = 0
        self.unreadable_outputs = 0

    def _reject(self, reason: str) -> None:
        self.malformed += 1
        self.malformed_reasons[reason] = self.malformed_reasons.get(reason, 0) + 1

    def __iter__(self) -> Iterator[tuple[dict[str, object], dict[str, object]]]:
        for raw in self._lines:
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            if not text.strip():
                continue
            self.lines += 1
            for parsed in self._parse(text):
                self.records += 1
                yield parsed

    def _parse(self, text: str) -> list[tuple[dict[str, object], dict[str, object]]]:
        try:
            record = json.loads(text)
        except ValueError:
            self._reject("bad JSON")
            return []
        capture = record.get("captureData") if isinstance(record, dict) else None
        if not isinstance(capture, dict):
            self._reject("missing captureData")
            return []
        if self.window is not None and not self._in_window(record, self.window):
            return []
        endpoint_input = capture.get("endpointInput")
        if not isinstance(endpoint_input, dict) or not isinstance(endpoint_input.get("data"), str):
            self._reject("missing endpointInput data")
            return []
        if _is_csv(endpoint_input):
            return self._parse_csv(endpoint_input, capture.get("endpointOutput"))
        request = _decode_json(endpoint_input)
        if request is _UNREADABLE:
            self._reject("input is not JSON")
            return []
        if not isinstance(request, dict):
            self._reject("input is not a JSON object")
            return []
        nested = request.get("features")
        features: dict[str, object] = nested if isinstance(nested, dict) else request
        return [(features, self._outputs(capture.get("endpointOutput")))]

    def _parse_csv(
        self, endpoint_input: Mapping[str, Any], endpoint_output: object
    ) -> list[tuple[dict[str, object], dict[str, object]]]:
        rows = _decode_csv(endpoint_input)
        if rows is None:
            self._reject("input is not CSV")
            return []
        records: list[dict[str, object]] = []
        for row in rows:
            features = _csv_record(row, self.columns)
            if features is None:
                self._reject("CSV row does not have the baseline's columns")
                continue
            records.append(features)
        outputs = self._csv_outputs(endpoint_output, len(rows)) if records else []
        if len(records) != len(rows):  # rows no longer line up with the response rows
            outputs = []
        return [(features, outputs[i] if i < len(outputs) else {}) for i, features in enumerate(records)]

    def _csv_outputs(self, endpoint_output: object, count: int) -> list[dict[str, object]]:
        if not isinstance(endpoint_output, dict) or not isinstance(endpoint_output.get("data"), str):
            return []
        if not _is_csv(endpoint_output):
            single = self._outputs(endpoint_output)
            return [single] * count if count == 1 else []
        rows = _decode_csv(endpoint_output)
        named = [_csv_record(row, self.output_columns, prefix=OUTPUT_PREFIX) for row in rows or []]
        if rows is None or len(rows) != count or any(row is None for row in named):
            self.unreadable_outputs += 1
            return []
        return [row for row in named if row is not None]

    def _in_window(self, record: Mapping[str, Any], window: Window) -> bool:
        metadata = record.get("eventMetadata")
        stamp = metadata.get("inferenceTime") if isinstance(metadata, dict) else None
        when = _parse_time(stamp) if isinstance(stamp, str) else None
        if when is None:
            self._reject("missing or unreadable inferenceTime")
            return False
        start, end = window
        if not start <= when < end:
            self.outside_window += 1
            return False
        return True

    def _outputs(self, endpoint_output: object) -> dict[str, object]:
        if not isinstance(endpoint_output, dict) or not isinstance(endpoint_output.get("data"), str):
            return {}
        response = _decode_json(endpoint_output)
        if not isinstance(response, dict):
            self.unreadable_outputs += 1
            return {}
        return {f"{OUTPUT_PREFIX}{key}": value for key, value in response.items() if value_type(value) != "nested"}


_UNREADABLE: Final = object()


def _is_csv(section: Mapping[str, Any]) -> bool:
    """CSV capture: written as CSV text, or base64 of a request whose Content-Type was a CSV type."""
    encoding = str(section.get("encoding", "")).upper()
    return encoding == "CSV" or (encoding == "BASE64" and "csv" in str(section.get("observedContentType", "")).lower())


def _decode_csv(section: Mapping[str, Any]) -> list[list[str]] | None:
    data: str = section["data"]
    if str(section.get("encoding", "")).upper() == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    try:
        rows = [row for row in csv.reader(io.StringIO(data)) if row]
    except csv.Error:
        return None
    return rows or None


def _csv_record(row: Sequence[str], columns: Sequence[str] | None, prefix: str = "") -> dict[str, object] | None:
    names = [name.removeprefix(prefix) for name in columns] if columns else [f"_c{i}" for i in range(len(row))]
    if len(row) != len(names):
        return None
    return {f"{prefix}{name}": _csv_cell(cell) for name, cell in zip(names, row, strict=True)}


def _decode_json(section: Mapping[str, Any]) -> object:
    data: str = section["data"]
    if str(section.get("encoding", "")).upper() == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _UNREADABLE
    try:
        decoded: object = json.loads(data)
    except ValueError:
        return _UNREADABLE
    return decoded


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
