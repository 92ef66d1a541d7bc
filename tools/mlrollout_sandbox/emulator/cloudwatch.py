"""CloudWatch for the sandbox: a metric store and alarms evaluated on sandbox time.

moto 5.2.5 keeps every datum as an object in one list and scans all of it for every query, expands
Values/Counts into one object per count, has no percentiles, evaluates no metric math beyond a bare id, and
never evaluates alarms. This module replaces moto's metric side (PutMetricData, GetMetricData,
GetMetricStatistics, ListMetrics), adds DescribeAlarmHistory, and evaluates every alarm moto holds once a
virtual minute. On each state transition (evaluation or SetAlarmState) it puts one "CloudWatch Alarm State
Change" event (source aws.cloudwatch) on the default EventBridge bus, whether or not the alarm has actions, and
publishes CloudWatch's notification JSON to the alarm's SNS topic actions.
Alarm definitions stay moto's objects (PutMetricAlarm, DescribeAlarms, DeleteAlarms, SetAlarmState), so
their API surface is moto's; this module only keeps their state the way CloudWatch would.

Faults armed on `Emulator.faults` fail a CloudWatch API call before it runs, in the protocol the client spoke:

    operation        matched on          modes
    cloudwatch.api   action=<Action>     throttle (HTTP 400 Throttling), error (HTTP 500 InternalServiceError)

`params={"message": "..."}` replaces the error message.

Fidelity notes (where CloudWatch is unspecified, the choice is named):
- Storage follows CloudWatch's resolution: standard-resolution data is aggregated per minute, high-resolution
  data (StorageResolution=1) per second. Each (minute, unit) cell keeps count/sum/min/max and the weighted
  distinct values, so Values/Counts are never expanded and percentiles stay exact.
- Percentiles use the nearest-rank rule on the weighted values (the smallest value with at least p% of the
  weight at or below it). CloudWatch documents no interpolation rule of its own.
- State change events follow the samples in CloudWatch's "Alarm events and EventBridge": `time` and
  state.timestamp are the transition's sandbox time, reasonData is left out when a state has none, and
  configuration.description when the alarm has none. A single-metric alarm's metric gets a UUID-shaped id
  that changes with each configuration (CloudWatch's own ids are opaque).
- An alarm's evaluation range is EvaluationPeriods + 2 periods, as in the worked example of CloudWatch's
  "How alarm state is evaluated when data is missing" (5 datapoints retrieved for 3 evaluation periods), and
  the decision reproduces every row of the two tables in that section.

Not implemented, and said so rather than approximated: trimmed/winsorized means and other extended statistics
besides percentiles (InvalidParameterValue naming them); metric math and Metrics Insights, that is any
Expression in GetMetricData's MetricDataQueries or PutMetricAlarm's Metrics, anomaly-detection alarms included
(SandboxUnsupportedOperation: nothing mlrollout sends has one, and a refusal fails where a guess would answer
wrongly); an alarm otherwise beyond the evaluator, such as one on a statistic it does not compute (left in
INSUFFICIENT_DATA with the reason, and listed in `evaluation_errors`); composite alarms (not evaluated);
"CloudWatch Alarm Configuration Change" events; alarm actions other than SNS topics and those another emulated
service handles (`action_handlers`: Application Auto Scaling policies), recorded as undelivered notifications
and failed-action history; dynamic labels and LabelOptions. PutMetricData accepts AWS/
namespaces, unlike CloudWatch, because the sandbox publishes the AWS services' own metrics through it. moto's
S3 bucket metrics (its CloudWatchMetricProvider) are no longer listed or queried.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import heapq
import inspect
import itertools
import json
import logging
import math
import re
import threading
import uuid
import warnings
import weakref
from array import array
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.exceptions import (
    CloudWatchException,
    InvalidParameterCombination,
    InvalidParameterValue,
    ValidationError,
)

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

__all__ = [
    "AlarmNotification",
    "AlarmTransition",
    "CloudWatchService",
    "MetricStore",
    "SandboxUnsupported",
    "alarm_state_change_event",
    "decide_alarm_state",
    "install",
    "parse_statistic",
    "percentile",
]

log = logging.getLogger(__name__)

# cloudwatch.api fault modes: (error code, default message). Throttling is CloudWatch's documented common error
# code (not in its service model, so moto's serializer answers it with the default HTTP 400); InternalServiceError
# is the modelled InternalServiceFault (HTTP 500).
API_FAULTS = {
    "throttle": ("Throttling", "Rate exceeded"),
    "error": ("InternalServiceError", "Internal service error (injected fault)"),
}
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
TWO_WEEKS = 14 * 86400
TWO_HOURS = 2 * 3600
THREE_HOURS = 3 * 3600
FIFTEEN_DAYS = 15 * 86400
SIXTY_THREE_DAYS = 63 * 86400
MAX_STATISTICS_DATAPOINTS = 1440
LIST_METRICS_PAGE = 500
MAX_DATA_PER_PUT = 1000
MAX_VALUES_PER_DATUM = 150
DEFAULT_MAX_DATAPOINTS = 100_800
EVALUATION_SECONDS = 60  # CloudWatch evaluates each alarm once a minute
MAX_CATCH_UP = 30  # minutes a late ticker replays

_PERCENTILE_RE = re.compile(r"p(\d{1,3}(?:\.\d{1,10})?)")
# Extended statistics CloudWatch has and the sandbox does not compute: named in the error, never guessed.
_UNSUPPORTED_STATISTIC_RE = re.compile(r"(?i)(?:tm|wm|tc|ts|pr)(?:\d|\()|iqm$")
_QUERY_ID_RE = re.compile(r"[a-z][A-Za-z0-9_]*")


# ---------------------------------------------------------------------------------------------------------
# time helpers
# ---------------------------------------------------------------------------------------------------------
def _epoch(value: datetime | float | str) -> float:
    """POSIX seconds from what moto's parser (naive UTC), boto3 or in-process callers (aware) hand us."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _naive_utc(ts: float) -> datetime:
    # moto stores alarm timestamps as naive UTC; stay consistent with the objects we update.
    return _utc(ts).replace(tzinfo=None)


def _iso_millis(ts: float) -> str:
    """CloudWatch's notification timestamp format: 2022-07-09T02:39:54.536+0000."""
    moment = _utc(ts)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _reason_time(ts: float) -> str:
    return _utc(ts).strftime("%d/%m/%y %H:%M:%S")


def _java_double(value: float) -> str:
    """Java's Double.toString, which CloudWatch's state reasons use: 1.0, 0.059, 1.0E7, 1.5E-4."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "." in text else f"{text}.0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    mantissa = f"{text[0]}.{text[1:] or '0'}"
    return f"{'-' if sign else ''}{mantissa}E{len(digits) - 1 + exponent}"


def _plural(count: float, singular: str, plural: str | None = None) -> str:
    return singular if count == 1 else (plural or f"{singular}s")


# ---------------------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------------------
class InvalidStatistic(ValueError):
    """A statistic name CloudWatch rejects, or one the sandbox does not compute (the message says which)."""


@dataclass(frozen=True)
class Statistic:
    name: str
    percentile: Fraction | None = None

    @property
    def is_percentile(self) -> bool:
        return self.percentile is not None

    def low_sample_threshold(self) -> float:
        """Samples below which EvaluateLowSampleCountPercentile=ignore applies (CloudWatch's 10/(1-p) rule).

        Exact fractions: in floats 10 / (1 - 0.9) is 100.00000000000001, and 100 samples would count as too few.
        """
        if self.percentile is None:
            return 0.0
        share = self.percentile / 100
        if share >= Fraction(1, 2):
            return math.inf if share >= 1 else float(10 / (1 - share))
        return math.inf if share <= 0 else float(10 / share)


def parse_statistic(name: str) -> Statistic:
    """SampleCount, Sum, Average, Minimum, Maximum, or a percentile pNN / pNN.NN between p0 and p100."""
    if name in BASIC_STATISTICS:
        return Statistic(name)
    match = _PERCENTILE_RE.fullmatch(name or "")
    if match and Fraction(match.group(1)) <= 100:
        return Statistic(name, Fraction(match.group(1)))
    if _UNSUPPORTED_STATISTIC_RE.match(name or ""):
        raise InvalidStatistic(
            f"The sandbox does not compute the statistic {name!r}; it supports "
            f"{', '.join(BASIC_STATISTICS)} and percentiles pNN.NN"
        )
    raise InvalidStatistic(f"The statistic {name!r} is not valid; use one of {', '.join(BASIC_STATISTICS)} or pNN.NN")


def percentile(values: Sequence[float], weights: Sequence[float], rank: Fraction | float | str) -> float | None:
    """Nearest-rank percentile of a weighted distribution whose `values` are sorted ascending.

    Returns the smallest value such that at least `rank`% of the total weight lies at or below it, or None
    when there is no weight. The target is computed exactly (Fraction) so p99.9 of 1000 samples is the
    999th, not the 1000th, value.
    """
    total = math.fsum(weights)
    if total <= 0 or not values:
        return None
    target = Fraction(rank) * Fraction(total) / 100
    if target <= 0:
        return next((v for v, w in zip(values, weights, strict=True) if w > 0), None)
    tolerance = total * 1e-12
    threshold = float(target) - tolerance
    cumulative = 0.0
    for value, weight in zip(values, weights, strict=True):
        cumulative += weight
        if cumulative >= threshold:
            return value
    return values[-1]


# ---------------------------------------------------------------------------------------------------------
# storage
# ---------------------------------------------------------------------------------------------------------
class _Cell:
    """Everything published for one metric, one unit and one storage slot (a minute or a second)."""

    __slots__ = ("count", "high", "low", "percentiles", "sorted", "total", "values", "weights")

    def __init__(self) -> None:
        self.count = 0.0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.values = array("d")
        self.weights = array("d")
        self.sorted = True
        # False once a statistic set whose values CloudWatch cannot know was merged in.
        self.percentiles = True

    def add_values(self, values: Sequence[float], weights: Sequence[float]) -> None:
        if any(w <= 0 for w in weights):
            kept = [(v, w) for v, w in zip(values, weights, strict=True) if w > 0]
            values, weights = [v for v, _w in kept], [w for _v, w in kept]
        if not values:
            return
        self.count += math.fsum(weights)
        self.total += math.fsum(v * w for v, w in zip(values, weights, strict=True))
        self.low = min(self.low, *values)
        self.high = max(self.high, *values)
        if not self.values:
            # The common case (one histogram per metric and minute) arrives sorted and distinct: store it as
            # is, in exactly sized arrays, so no read ever has to compact it.
            self.values, self.weights = array("d", values), array("d", weights)
            self.sorted = all(a < b for a, b in itertools.pairwise(values))
        else:
            self.values.extend(values)
            self.weights.extend(weights)
            self.sorted = False

    def add_statistic_set(self, count: float, total: float, low: float, high: float) -> None:
        self.count += count
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        # CloudWatch can derive percentiles from a statistic set only when it hides no spread.
        if count == 1 or low == high:
            self.values.append(low)
            self.weights.append(count)
            self.sorted = len(self.values) <= 1
        else:
            self.percentiles = False

    def distribution(self) -> tuple[array[float], array[float]]:
        """Sorted distinct values and their weights; compacted in place on first read after a write."""
        if not self.sorted:
            merged: dict[float, float] = {}
            for value, weight in zip(self.values, self.weights, strict=True):
                merged[value] = merged.get(value, 0.0) + weight
            keys = sorted(merged)
            self.values = array("d", keys)
            self.weights = array("d", (merged[k] for k in keys))
            self.sorted = True
        return self.values, self.weights


SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


def series_key(namespace: str, metric_name: str, dimensions: Sequence[dict[str, Any]] | None) -> SeriesKey:
    return (
        namespace,
        metric_name,
        tuple(sorted((str(d["Name"]), str(d.get("Value", ""))) for d in dimensions or ())),
    )


class _Series:
    __slots__ = ("cells", "key", "last_put", "times")

    def __init__(self, key: SeriesKey) -> None:
        self.key = key
        self.times: list[int] = []
        self.cells: dict[int, dict[str, _Cell]] = {}
        self.last_put = -math.inf

    def cell(self, slot: int, unit: str) -> _Cell:
        by_unit = self.cells.get(slot)
        if by_unit is None:
            by_unit = self.cells[slot] = {}
            if not self.times or slot > self.times[-1]:
                self.times.append(slot)
            else:
                bisect.insort(self.times, slot)
        found = by_unit.get(unit)
        if found is None:
            found = by_unit[unit] = _Cell()
        return found

    def cells_between(self, start: int, end: int, unit: str | None) -> Iterator[tuple[int, str, _Cell]]:
        """Cells with start <= slot < end (bisect on the sorted slot list), optionally of one unit."""
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_left(self.times, end)
        for slot in self.times[lo:hi]:
            by_unit = self.cells[slot]
            if unit is None:
                for cell_unit, found in by_unit.items():
                    yield slot, cell_unit, found
            elif unit in by_unit:
                yield slot, unit, by_unit[unit]


@dataclass
class _Aggregate:
    """Statistics of the cells that fall into one period bucket."""

    cells: list[_Cell] = field(default_factory=list)

    @property
    def sample_count(self) -> float:
        return math.fsum(c.count for c in self.cells)

    def value(self, statistic: Statistic) -> float | None:
        if statistic.percentile is not None:
            return self._percentile(statistic.percentile)
        count = self.sample_count
        if count <= 0:
            return None
        if statistic.name == "SampleCount":
            return count
        if statistic.name == "Sum":
            return math.fsum(c.total for c in self.cells)
        if statistic.name == "Average":
            return math.fsum(c.total for c in self.cells) / count
        if statistic.name == "Minimum":
            return min(c.low for c in self.cells)
        return max(c.high for c in self.cells)

    def _percentile(self, rank: Fraction) -> float | None:
        # CloudWatch: no percentiles over statistic sets that hide their spread, nor over negative values.
        if not self.cells or not all(c.percentiles for c in self.cells):
            return None
        if min(c.low for c in self.cells) < 0:
            return None
        if len(self.cells) == 1:
            values, weights = self.cells[0].distribution()
            return percentile(values, weights, rank)
        pairs = list(heapq.merge(*(zip(*c.distribution(), strict=True) for c in self.cells)))
        return percentile([p[0] for p in pairs], [p[1] for p in pairs], rank)


class MetricStore:
    """Every metric of one account and region; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._series: dict[SeriesKey, _Series] = {}

    # writes ------------------------------------------------------------------------------------------
    def put(self, namespace: str, metric_data: Sequence[dict[str, Any]], now: float) -> None:
        """PutMetricData: validates the whole request first (CloudWatch rejects it as a whole)."""
        if not namespace:
            raise InvalidParameterValue("The parameter Namespace is required.")
        if len(metric_data) > MAX_DATA_PER_PUT:
            raise InvalidParameterValue(
                f"The collection MetricData must not have a size greater than {MAX_DATA_PER_PUT}."
            )
        prepared = [_prepare_datum(namespace, datum, number, now) for number, datum in enumerate(metric_data, 1)]
        with self._lock:
            for datum in prepared:
                series = self._series.get(datum.key)
                if series is None:
                    series = self._series[datum.key] = _Series(datum.key)
                datum.write(series.cell(datum.slot, datum.unit))
                series.last_put = now

    # reads -------------------------------------------------------------------------------------------
    def aggregate(
        self, key: SeriesKey, statistic: Statistic, unit: str | None, start: int, end: int, period: int
    ) -> list[tuple[int, float, float]]:
        """(bucket start, value, sample count) for buckets start + k*period below `end`; empty ones omitted."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return []
            buckets: dict[int, _Aggregate] = {}
            for slot, _unit, cell in series.cells_between(start, end, unit):
                bucket = start + (slot - start) // period * period
                buckets.setdefault(bucket, _Aggregate()).cells.append(cell)
            out: list[tuple[int, float, float]] = []
            for bucket in sorted(buckets):
                value = buckets[bucket].value(statistic)
                if value is not None:
                    out.append((bucket, value, buckets[bucket].sample_count))
            return out

    def statistics(
        self,
        key: SeriesKey,
        statistics: Sequence[Statistic],
        unit: str | None,
        start: int,
        end: int,
        period: int,
    ) -> list[dict[str, Any]]:
        """GetMetricStatistics datapoints: one per bucket and unit (CloudWatch does not merge units here)."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return []
            buckets: dict[tuple[int, str], _Aggregate] = {}
            for slot, cell_unit, cell in series.cells_between(start, end, unit):
                bucket = start + (slot - start) // period * period
                buckets.setdefault((bucket, cell_unit), _Aggregate()).cells.append(cell)
            return [
                point
                for (bucket, cell_unit), agg in sorted(buckets.items())
                if (point := _datapoint(bucket, cell_unit, agg, statistics)) is not None
            ]

    def list_metrics(
        self,
        namespace: str | None,
        metric_name: str | None,
        dimension_filters: Sequence[dict[str, Any]],
        active_since: float,
    ) -> list[dict[str, Any]]:
        with self._lock:
            keys = [k for k, s in self._series.items() if s.last_put >= active_since]
        out = []
        for ns, name, dims in sorted(keys):
            if namespace and ns != namespace:
                continue
            if metric_name and name != metric_name:
                continue
            if not all(_dimension_matches(dims, f) for f in dimension_filters):
                continue
            out.append(
                {
                    "Namespace": ns,
                    "MetricName": name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
                }
            )
        return out

    def series_count(self) -> int:
        with self._lock:
            return len(self._series)

    def cell_count(self) -> int:
        with self._lock:
            return sum(len(by_unit) for s in self._series.values() for by_unit in s.cells.values())


def _dimension_matches(dims: tuple[tuple[str, str], ...], wanted: dict[str, Any]) -> bool:
    value = wanted.get("Value")
    return any(n == wanted.get("Name") and (value is None or v == value) for n, v in dims)


def _datapoint(bucket: int, unit: str, agg: _Aggregate, statistics: Sequence[Statistic]) -> dict[str, Any] | None:
    point: dict[str, Any] = {"Timestamp": _utc(bucket), "Unit": unit}
    extended: dict[str, float] = {}
    for statistic in statistics:
        value = agg.value(statistic)
        if value is None:
            continue
        if statistic.is_percentile:
            extended[statistic.name] = value
        else:
            point[statistic.name] = value
    if extended:
        point["ExtendedStatistics"] = extended
    return point if len(point) > 2 else None


def _finite(raw: Any, parameter: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"The value {raw!r} for parameter {parameter} is invalid.") from None
    if not math.isfinite(value):
        raise InvalidParameterValue(f"The value {value} for parameter {parameter} is invalid.")
    return value


def _datum_timestamp(datum: dict[str, Any], number: int, now: float) -> float:
    raw = datum.get("Timestamp")
    when = now if raw is None else _epoch(raw)
    if when < now - TWO_WEEKS:
        raise InvalidParameterValue(
            f"The parameter MetricData.member.{number}.Timestamp must specify a time within the past two weeks."
        )
    if when > now + TWO_HOURS:
        raise InvalidParameterValue(
            f"The parameter MetricData.member.{number}.Timestamp must specify a time no more than two hours "
            "in the future."
        )
    return when


@dataclass(frozen=True)
class _PreparedDatum:
    key: SeriesKey
    slot: int  # the storage slot: the minute, or the second for high-resolution data
    unit: str
    write: Callable[[_Cell], None]


def _prepare_datum(namespace: str, datum: dict[str, Any], number: int, now: float) -> _PreparedDatum:
    """Validate one MetricDatum and say where it goes and how it is added there."""
    name = datum.get("MetricName")
    if not name:
        raise InvalidParameterValue(f"The parameter MetricData.member.{number}.MetricName is required.")
    dimensions = list(datum.get("Dimensions") or [])
    if len(dimensions) > 30:
        raise InvalidParameterValue(
            f"The collection MetricData.member.{number}.Dimensions must not have a size greater than 30."
        )
    resolution = int(datum.get("StorageResolution") or 60)
    if resolution not in (1, 60):
        raise InvalidParameterValue(
            f"The value {resolution} for parameter MetricData.member.{number}.StorageResolution is invalid."
        )
    when = _datum_timestamp(datum, number, now)
    return _PreparedDatum(
        key=series_key(namespace, str(name), dimensions),
        slot=int(when // resolution * resolution),
        unit=str(datum.get("Unit") or "None"),
        write=_datum_writer(datum, number),
    )


def _datum_writer(datum: dict[str, Any], number: int) -> Callable[[_Cell], None]:
    has_value = datum.get("Value") is not None
    values = datum.get("Values") or []
    statistic_values = datum.get("StatisticValues")
    if has_value and values:
        raise InvalidParameterValue(
            f"The parameters MetricData.member.{number}.Value and MetricData.member.{number}.Values are "
            "mutually exclusive and you have specified both."
        )
    if statistic_values and (has_value or values):
        raise InvalidParameterCombination(
            f"The parameters MetricData.member.{number}.Value and MetricData.member.{number}.StatisticValues "
            "are mutually exclusive and you have specified both."
        )
    if statistic_values:
        return _statistic_set_writer(statistic_values, number)
    if values:
        return _values_writer(datum, number)
    # moto (and the sandbox) accept a datum without any value as the value 0.
    value = _finite(datum["Value"], f"MetricData.member.{number}.Value") if has_value else 0.0
    return lambda cell: cell.add_values((value,), (1.0,))


def _values_writer(datum: dict[str, Any], number: int) -> Callable[[_Cell], None]:
    if len(datum["Values"]) > MAX_VALUES_PER_DATUM:
        raise InvalidParameterValue(
            f"The collection MetricData.member.{number}.Values must not have a size greater than "
            f"{MAX_VALUES_PER_DATUM}."
        )
    values = _finite_list(datum["Values"], f"MetricData.member.{number}.Values")
    counts_raw = datum.get("Counts") or [1.0] * len(values)
    if len(counts_raw) != len(values):
        raise InvalidParameterValue(
            f"The parameters MetricData.member.{number}.Values and MetricData.member.{number}.Counts must be "
            "of the same size."
        )
    counts = _finite_list(counts_raw, f"MetricData.member.{number}.Counts")
    if any(c < 0 for c in counts):
        raise InvalidParameterValue(f"The parameter MetricData.member.{number}.Counts must not be negative.")
    return lambda cell: cell.add_values(values, counts)


def _finite_list(raw: Sequence[Any], parameter: str) -> list[float]:
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        values = [_finite(v, parameter) for v in raw]  # names the offending value
    if not all(map(math.isfinite, values)):
        values = [_finite(v, parameter) for v in values]
    return values


def _statistic_set_writer(stats: dict[str, Any], number: int) -> Callable[[_Cell], None]:
    for required in ("Sum", "Maximum", "Minimum", "SampleCount"):
        if stats.get(required) is None:
            raise InvalidParameterValue(
                f'Missing required parameter in MetricData[{number}].StatisticValues: "{required}"'
            )
    count, total, low, high = (
        _finite(stats[f], f"MetricData.member.{number}.StatisticValues.{f}")
        for f in ("SampleCount", "Sum", "Minimum", "Maximum")
    )
    if count <= 0 or low > high:
        raise InvalidParameterValue(
            f"The parameter MetricData.member.{number}.StatisticValues is invalid: SampleCount must be positive "
            "and Minimum must not exceed Maximum."
        )
    return lambda cell: cell.add_statistic_set(count, total, low, high)


# ---------------------------------------------------------------------------------------------------------
# GetMetricData: queries, alignment, results
# ---------------------------------------------------------------------------------------------------------
def _flag[T](value: Any, default: T) -> bool | T:
    """A boolean parameter as moto's parser (bool) or an in-process caller ("true"/"false") passes it."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _validate_period(period: Any, parameter: str) -> int:
    try:
        value = int(period)
    except (TypeError, ValueError):
        raise ValidationError(f"The parameter {parameter} is required and must be an integer.") from None
    if value < 1 or (value not in HIGH_RESOLUTION_PERIODS and value % 60):
        raise InvalidParameterValue(f"The parameter {parameter} must be 1, 5, 10, 20, 30, or a multiple of 60.")
    return value


def _aligned_start(start: float, period: int, now: float) -> int:
    """CloudWatch's start-time rounding: to the period below a minute, else by the age of the start time."""
    age = now - start
    if period < 60:
        step = period
    elif age < FIFTEEN_DAYS:
        step = 60
    elif age < SIXTY_THREE_DAYS:
        step = 300
    else:
        step = 3600
    return int(start // step * step)


def _period_available(start: float, period: int, now: float) -> bool:
    """CloudWatch returns no datapoints when the period is finer than what it keeps for data that old."""
    age = now - start
    if age > SIXTY_THREE_DAYS:
        return period % 3600 == 0
    if age > FIFTEEN_DAYS:
        return period % 300 == 0
    if age > THREE_HOURS:
        return period % 60 == 0
    return True


def _statistic(name: Any, parameter: str) -> Statistic:
    try:
        return parse_statistic(str(name or ""))
    except InvalidStatistic as exc:
        raise InvalidParameterValue(f"{exc} (parameter {parameter}).") from None


class SandboxUnsupported(CloudWatchException):
    """A real CloudWatch feature the sandbox does not emulate: refused loudly instead of answered wrongly.

    A moto ServiceException (not SageMaker's HTTPException of the same name), so the client reads it in whichever
    protocol it spoke (query, JSON or CBOR)."""

    code = "SandboxUnsupportedOperation"


def _refuse_expression(parameter: str, query_id: Any, expression: Any) -> SandboxUnsupported:
    # Metric math and Metrics Insights share the Expression field; nothing mlrollout sends uses either.
    return SandboxUnsupported(
        f"metric math is not emulated by the sandbox: {parameter} of query {query_id!r} is the expression "
        f"{str(expression)!r}; query each metric with a MetricStat instead"
    )


@dataclass(frozen=True)
class _Query:
    number: int
    id: str
    label: str | None
    return_data: bool
    key: SeriesKey
    statistic: Statistic
    unit: str | None
    period: int


def _parse_query(query: dict[str, Any], number: int) -> _Query:
    prefix = f"MetricDataQueries.member.{number}"
    query_id = str(query.get("Id") or "")
    if not _QUERY_ID_RE.fullmatch(query_id):
        raise ValidationError(
            f"The value {query_id!r} for parameter {prefix}.Id is invalid: an id starts with a lowercase letter "
            "and contains only letters, digits and underscores."
        )
    stat: dict[str, Any] = query.get("MetricStat") or {}
    expression = query.get("Expression")
    if bool(stat) == bool(expression):
        raise ValidationError(f"Exactly one of {prefix}.MetricStat and {prefix}.Expression must be specified.")
    if expression:
        raise _refuse_expression(f"{prefix}.Expression", query_id, expression)
    metric = stat.get("Metric") or {}
    if not metric.get("Namespace") or not metric.get("MetricName"):
        raise ValidationError(f"The parameters {prefix}.MetricStat.Metric.Namespace and MetricName are required.")
    return _Query(
        number,
        query_id,
        query.get("Label"),
        _flag(query.get("ReturnData"), default=True),
        key=series_key(metric["Namespace"], metric["MetricName"], metric.get("Dimensions")),
        statistic=_statistic(stat.get("Stat"), f"{prefix}.MetricStat.Stat"),
        unit=stat.get("Unit"),
        period=_validate_period(stat.get("Period"), f"{prefix}.MetricStat.Period"),
    )


class _QueryRun:
    """One GetMetricData request: every query computed (ReturnData=false ones too), only the others returned."""

    def __init__(
        self, store: MetricStore, queries: Sequence[dict[str, Any]], start: float, end: float, now: float
    ) -> None:
        if start > end:
            raise ValidationError("The parameter EndTime must be greater than StartTime.")
        if start == end:
            raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
        if not queries:
            raise ValidationError("The parameter MetricDataQueries is required.")
        self.store, self.start, self.end, self.now = store, start, end, now
        self.queries = [_parse_query(q, n) for n, q in enumerate(queries, start=1)]
        self.by_id: dict[str, _Query] = {}
        for query in self.queries:
            if query.id in self.by_id:
                raise ValidationError(f"The value {query.id} for MetricDataQueries Id is used more than once.")
            self.by_id[query.id] = query

    def points(self, query_id: str) -> dict[int, float]:
        """The query's datapoints: bucket start (POSIX seconds) -> value."""
        query = self.by_id[query_id]
        if not _period_available(self.start, query.period, self.now):
            return {}
        start = _aligned_start(self.start, query.period, self.now)
        rows = self.store.aggregate(query.key, query.statistic, query.unit, start, math.ceil(self.end), query.period)
        return {t: v for t, v, _count in rows}

    def results(self, scan_by: str) -> list[dict[str, Any]]:
        computed = [(query, self.points(query.id)) for query in self.queries]
        return [
            _result(query.id, query.label or query.key[1], found, scan_by)
            for query, found in computed
            if query.return_data
        ]


def _result(query_id: str, label: str, found: dict[int, float], scan_by: str) -> dict[str, Any]:
    ordered = sorted(found.items(), reverse=scan_by != "TimestampAscending")
    return {
        "Id": query_id,
        "Label": label,
        "Timestamps": [_utc(t) for t, _v in ordered],
        "Values": [v for _t, v in ordered],
        "StatusCode": "Complete",
        "Messages": [],
    }


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(_compact_json({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise InvalidParameterValue("The parameter NextToken is invalid.") from None
    return max(offset, 0)


def _paginate(
    results: list[dict[str, Any]], max_datapoints: int, offset: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Page through datapoints in result order; a result cut short is marked PartialData."""
    page: list[dict[str, Any]] = []
    skip, room, total = offset, max_datapoints, sum(len(r["Values"]) for r in results)
    for result in results:
        size = len(result["Values"])
        if size == 0:
            if offset == 0:
                page.append(result)
            continue
        if skip >= size:
            skip -= size
            continue
        if room <= 0:
            break
        first, last = skip, min(size, skip + room)
        skip = 0
        room -= last - first
        page.append(
            {
                **result,
                "Timestamps": result["Timestamps"][first:last],
                "Values": result["Values"][first:last],
                "StatusCode": "Complete" if last == size else "PartialData",
            }
        )
    delivered = offset + (max_datapoints - room)
    return page, (_encode_token(delivered) if delivered < total else None)


# ---------------------------------------------------------------------------------------------------------
# alarms: the decision (pure), reasons, notification JSON
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlarmPoint:
    """One period of an alarm's evaluation range; value None when the period has no datapoint."""

    timestamp: int
    value: float | None
    sample_count: float | None = None


@dataclass(frozen=True)
class AlarmDecision:
    state: str | None  # None: keep the current state (TreatMissingData=ignore, or too few samples)
    evaluated: tuple[AlarmPoint, ...]  # newest first; a point with value None is a filled missing datapoint
    breaching: tuple[bool, ...]
    filled_as: str | None = None  # "Breaching" / "NonBreaching" when missing datapoints were filled


def decide_alarm_state(
    points: Sequence[AlarmPoint],
    breaches: Callable[[float], bool],
    evaluation_periods: int,
    datapoints_to_alarm: int,
    treat_missing_data: str,
) -> AlarmDecision:
    """CloudWatch's decision over an evaluation range (`points`, newest first, one per period).

    With at least EvaluationPeriods real datapoints, the most recent ones decide and missing data is not
    consulted. Otherwise every real datapoint is kept and as few missing ones as needed are filled:
    breaching/notBreaching count them as such; missing/ignore leave them unknown, so the real ones decide
    when they can (enough breaching -> ALARM, any non-breaching -> OK), a breach followed only by missing
    data for at least DatapointsToAlarm periods is ALARM for `missing`, and anything else is
    INSUFFICIENT_DATA (`missing`) or the current state (`ignore`).
    """
    n, m = evaluation_periods, datapoints_to_alarm
    real = [p for p in points if p.value is not None]
    if len(real) >= n:
        evaluated = tuple(real[:n])
        flags = tuple(breaches(p.value) for p in evaluated if p.value is not None)
        return AlarmDecision(ALARM if sum(flags) >= m else OK, evaluated, flags)
    filled = [p for p in points if p.value is None][: n - len(real)]
    evaluated = tuple(sorted(real + filled, key=lambda p: p.timestamp, reverse=True))
    if treat_missing_data in ("breaching", "notBreaching"):
        as_breach = treat_missing_data == "breaching"
        flags = tuple(as_breach if p.value is None else breaches(p.value) for p in evaluated)
        return AlarmDecision(
            ALARM if sum(flags) >= m else OK, evaluated, flags, "Breaching" if as_breach else "NonBreaching"
        )
    flags = tuple(p.value is not None and breaches(p.value) for p in evaluated)
    healthy = sum(1 for p, f in zip(evaluated, flags, strict=True) if p.value is not None and not f)
    oldest_breach_age = max(
        (age for age, p in enumerate(points, start=1) if p.value is not None and breaches(p.value)), default=0
    )
    if sum(flags) >= m:
        state: str | None = ALARM
    elif healthy:
        state = OK
    elif treat_missing_data != "ignore" and oldest_breach_age >= m:
        state = ALARM
    else:
        state = None if treat_missing_data == "ignore" else INSUFFICIENT_DATA
    return AlarmDecision(state, evaluated, flags)


_COMPARATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
_TREAT_MISSING = ("missing", "ignore", "breaching", "notBreaching")
_STATISTIC_IN_TRIGGER = {
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Sum": "SUM",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}


class _AlarmNotEvaluable(Exception):
    """The alarm uses something the sandbox's evaluator does not implement (the message says what)."""


@dataclass(frozen=True)
class _AlarmSpec:
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    operator: str
    treat_missing_data: str
    statistic: Statistic | None = None  # single-metric alarms
    key: SeriesKey | None = None
    unit: str | None = None
    queries: tuple[dict[str, Any], ...] = ()  # alarms on Metrics (MetricStat queries)
    return_id: str | None = None
    low_samples_ignored: bool = False


def _alarm_queries(alarm: Any) -> tuple[tuple[dict[str, Any], ...], str, int]:
    queries: list[dict[str, Any]] = []
    explicit: list[str] = []  # ReturnData=true
    implicit: list[str] = []  # ReturnData left out
    periods: set[int] = set()
    for q in alarm.metric_data_queries:
        returns = _flag(q.return_data, default=None)
        (explicit if returns is True else implicit if returns is None else []).append(q.id)
        query: dict[str, Any] = {"Id": q.id, "ReturnData": returns is not False}
        if q.expression:
            query["Expression"] = q.expression
        elif q.metric_stat is not None:
            metric = q.metric_stat.metric
            query["MetricStat"] = {
                "Metric": {
                    "Namespace": metric.namespace,
                    "MetricName": metric.metric_name,
                    "Dimensions": [{"Name": d.name, "Value": d.value} for d in metric.dimensions],
                },
                "Period": int(q.metric_stat.period or 60),
                "Stat": q.metric_stat.stat,
                "Unit": q.metric_stat.unit,
            }
            periods.add(int(q.metric_stat.period or 60))
        queries.append(query)
    returned = explicit or implicit
    if len(returned) != 1 or len(periods) > 1:
        raise _AlarmNotEvaluable(
            "an alarm on Metrics needs exactly one query with ReturnData=true and metrics that share one period"
        )
    return tuple(queries), returned[0], periods.pop() if periods else int(alarm.period or 60)


def _alarm_spec(alarm: Any) -> _AlarmSpec:
    operator = str(alarm.comparison_operator or "")
    if operator not in _COMPARATORS:
        raise _AlarmNotEvaluable(f"ComparisonOperator {operator} (anomaly detection bands) is not supported")
    treat = alarm.treat_missing_data or "missing"
    if treat not in _TREAT_MISSING:
        raise _AlarmNotEvaluable(f"TreatMissingData {treat!r} is not one of {', '.join(_TREAT_MISSING)}")
    n = int(alarm.evaluation_periods or 1)
    common: dict[str, Any] = {
        "evaluation_periods": n,
        "datapoints_to_alarm": int(alarm.datapoints_to_alarm or n),
        "threshold": float(alarm.threshold),
        "operator": operator,
        "treat_missing_data": treat,
    }
    if alarm.metric_data_queries:
        queries, return_id, period = _alarm_queries(alarm)
        return _AlarmSpec(period=period, queries=queries, return_id=return_id, **common)
    try:
        statistic = parse_statistic(alarm.extended_statistic or alarm.statistic or "")
    except InvalidStatistic as exc:
        raise _AlarmNotEvaluable(str(exc)) from None
    dimensions = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    return _AlarmSpec(
        period=int(alarm.period or 60),
        statistic=statistic,
        unit=alarm.unit,
        key=series_key(alarm.namespace or "", alarm.metric_name or "", dimensions),
        low_samples_ignored=alarm.evaluate_low_sample_count_percentile == "ignore" and statistic.is_percentile,
        **common,
    )


def _window_end(now: float, period: int) -> int:
    # CloudWatch evaluates every minute (every period for 10/30-second alarms) over periods that have ended.
    step = 60 if period >= 60 else period
    return int(now // step * step)


def _datapoint_list(points: Sequence[AlarmPoint]) -> str:
    return ", ".join(f"{_java_double(p.value)} ({_reason_time(p.timestamp)})" for p in points if p.value is not None)


def _state_reason(decision: AlarmDecision, spec: _AlarmSpec) -> str:
    n, m = spec.evaluation_periods, spec.datapoints_to_alarm
    if decision.state == INSUFFICIENT_DATA:
        unknown = sum(1 for p in decision.evaluated if p.value is None) or n
        verb = _plural(unknown, "was", "were")
        return f"Insufficient Data: {unknown} {_plural(unknown, 'datapoint')} {verb} unknown."
    alarming = decision.state == ALARM
    # Unknown datapoints count toward the new state only when TreatMissingData filled them.
    counted = [
        p
        for p, f in zip(decision.evaluated, decision.breaching, strict=True)
        if f == alarming and (p.value is not None or decision.filled_as)
    ]
    real = [p for p in counted if p.value is not None]
    filled = len(counted) - len(real)
    treated = f"[{decision.filled_as}]" if decision.filled_as else ""
    if not real:
        return (
            f"Threshold Crossed: no datapoints were received for {n} {_plural(n, 'period')} and {filled} "
            f"missing {_plural(filled, 'datapoint')} {_plural(filled, 'was', 'were')} treated as {treated}."
        )
    words = _COMPARATORS[spec.operator][1] if alarming else f"not {_COMPARATORS[spec.operator][1]}"
    minimum, transition = (m, "OK -> ALARM") if alarming else (n - m + 1, "ALARM -> OK")
    extra = (
        f" and {filled} missing {_plural(filled, 'datapoint')} {_plural(filled, 'was', 'were')} treated as {treated}"
        if filled
        else ""
    )
    return (
        f"Threshold Crossed: {len(real)} out of the last {n} datapoints [{_datapoint_list(real)}] "
        f"{_plural(len(real), 'was', 'were')} {words} the threshold ({_java_double(spec.threshold)}){extra} "
        f"(minimum {minimum} {_plural(minimum, 'datapoint')} for {transition} transition)."
    )


def _state_reason_data(
    decision: AlarmDecision, spec: _AlarmSpec, points: Sequence[AlarmPoint], now: float
) -> dict[str, Any]:
    evaluated = []
    for p in decision.evaluated:
        entry: dict[str, Any] = {"timestamp": _iso_millis(p.timestamp)}
        if p.sample_count is not None:
            entry["sampleCount"] = p.sample_count
        if p.value is not None:
            entry["value"] = p.value
        evaluated.append(entry)
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso_millis(now)}
    if decision.evaluated:
        data["startDate"] = _iso_millis(min(p.timestamp for p in decision.evaluated))
    if spec.statistic is not None:
        data["statistic"] = spec.statistic.name
    if spec.unit:
        data["unit"] = spec.unit
    data.update(
        {
            "period": spec.period,
            "recentDatapoints": [p.value for p in reversed(points) if p.value is not None],
            "threshold": spec.threshold,
            "evaluatedDatapoints": evaluated,
        }
    )
    return data


@functools.cache
def _region_description(region: str) -> str:
    """The long region name CloudWatch puts in notifications ("US East (N. Virginia)"), from botocore's data."""
    import botocore.session

    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return str(partition["regions"][region].get("description", region))
    return region


def _trigger(alarm: Any, spec: _AlarmSpec | None) -> dict[str, Any]:
    trigger: dict[str, Any] = {}
    if alarm.metric_data_queries:
        trigger["Metrics"] = [_trigger_query(q) for q in alarm.metric_data_queries]
        trigger["Period"] = spec.period if spec else alarm.period
    else:
        trigger.update({"MetricName": alarm.metric_name, "Namespace": alarm.namespace})
        if alarm.extended_statistic:
            trigger.update({"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.extended_statistic})
        else:
            trigger.update(
                {"StatisticType": "Statistic", "Statistic": _STATISTIC_IN_TRIGGER.get(alarm.statistic, alarm.statistic)}
            )
        dimensions = [{"value": d.value, "name": d.name} for d in alarm.dimensions]
        trigger.update({"Unit": alarm.unit, "Dimensions": dimensions, "Period": alarm.period})
    trigger["EvaluationPeriods"] = alarm.evaluation_periods
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = alarm.datapoints_to_alarm
    trigger.update(
        {
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data or "missing",
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        }
    )
    return trigger


def _trigger_query(query: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": query.id}
    if query.expression:
        entry.update({"Expression": query.expression, "Label": query.label})
    elif query.metric_stat is not None:
        metric = query.metric_stat.metric
        entry["MetricStat"] = {
            "Metric": {
                "Dimensions": [{"value": d.value, "name": d.name} for d in metric.dimensions],
                "MetricName": metric.metric_name,
                "Namespace": metric.namespace,
            },
            "Period": query.metric_stat.period,
            "Stat": query.metric_stat.stat,
        }
    entry["ReturnData"] = _flag(query.return_data, default=True)
    return entry


# ---------------------------------------------------------------------------------------------------------
# alarms: the EventBridge "CloudWatch Alarm State Change" event
# ---------------------------------------------------------------------------------------------------------
STATE_CHANGE = "CloudWatch Alarm State Change"


def _event_state(value: str, reason: str | None, reason_data: str | None, timestamp: float) -> dict[str, Any]:
    """An event's `state` / `previousState`. CloudWatch leaves reasonData out when the state has none (the
    initial INSUFFICIENT_DATA of a new alarm, SetAlarmState without StateReasonData)."""
    state: dict[str, Any] = {"reason": reason or ""}
    if reason_data and reason_data.strip() not in ("", "{}"):
        state["reasonData"] = reason_data
    state.update({"timestamp": _iso_millis(timestamp), "value": value})
    return state


def _previous_state(alarm: Any) -> dict[str, Any]:
    """The alarm's current state, as the next state change event's `previousState` will show it."""
    return _event_state(
        alarm.state_value, alarm.state_reason, alarm.state_reason_data, _epoch(alarm.state_updated_timestamp)
    )


def _configuration_metric_id(alarm: Any) -> str:
    """The id CloudWatch gives a single-metric alarm's metric in events: UUID-shaped, new with each
    configuration. Derived from the alarm and its configuration time, so one configuration keeps one id."""
    digest = hashlib.sha256(f"{alarm.alarm_arn}@{_epoch(alarm.configuration_updated_timestamp)}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _event_metric(namespace: str | None, name: str | None, dimensions: Sequence[Any]) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "dimensions": {d.name: d.value for d in dimensions}}


def _event_configuration(alarm: Any) -> dict[str, Any]:
    """detail.configuration: the description and the metrics in the events' lower-camel-case shape."""
    configuration: dict[str, Any] = {}
    if alarm.description:
        configuration["description"] = alarm.description
    metrics: list[dict[str, Any]] = []
    if alarm.metric_data_queries:
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {}
            if query.expression:
                entry["expression"] = query.expression
            entry["id"] = query.id
            if query.label:
                entry["label"] = query.label
            if not query.expression and query.metric_stat is not None:
                stat = query.metric_stat
                entry["metricStat"] = {
                    "metric": _event_metric(stat.metric.namespace, stat.metric.metric_name, stat.metric.dimensions),
                    "period": int(stat.period or 60),
                    "stat": stat.stat,
                }
            entry["returnData"] = _flag(query.return_data, default=True)
            metrics.append(entry)
    else:
        metrics.append(
            {
                "id": _configuration_metric_id(alarm),
                "metricStat": {
                    "metric": _event_metric(alarm.namespace, alarm.metric_name, alarm.dimensions),
                    "period": int(alarm.period or 60),
                    "stat": alarm.extended_statistic or alarm.statistic,
                },
                "returnData": True,
            }
        )
    configuration["metrics"] = metrics
    return configuration


def alarm_state_change_event(
    alarm: Any, previous: dict[str, Any], now: float, account_id: str, region: str
) -> dict[str, Any]:
    """The event CloudWatch puts on the default bus when `alarm` has just changed state at `now`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATE_CHANGE,
        "source": "aws.cloudwatch",
        "account": account_id,
        "time": now,
        "region": region,
        "resources": [alarm.alarm_arn],
        "detail": {
            "alarmName": alarm.name,
            "state": _event_state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, now),
            "previousState": previous,
            "configuration": _event_configuration(alarm),
        },
    }


# ---------------------------------------------------------------------------------------------------------
# the service object
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlarmTransition:
    alarm_name: str
    old_state: str
    new_state: str
    reason: str
    time: datetime
    account_id: str
    region: str


@dataclass
class AlarmNotification:
    """One alarm action fired on a transition: delivered to an SNS topic, or why it was not."""

    alarm_name: str
    old_state: str
    new_state: str
    action: str
    time: datetime
    message: dict[str, Any]
    subject: str
    message_id: str | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None

    @property
    def topic_arn(self) -> str:
        return self.action


@dataclass
class _Region:
    account_id: str
    region: str
    store: MetricStore = field(default_factory=MetricStore)
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Pending:
    """A transition decided under the alarm lock, whose actions are published after releasing it."""

    region: _Region
    transition: AlarmTransition
    actions: list[str]
    message: dict[str, Any]
    subject: str


class CloudWatchService:
    """The sandbox's CloudWatch state beyond moto: metric stores, alarm evaluation, notifications.

    `notifications` and `transitions` are append-only records for tests and the sandbox report;
    `evaluation_errors` lists alarms the evaluator could not evaluate and why.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.clock = emulator.clock
        self.notifications: list[AlarmNotification] = []
        self.transitions: list[AlarmTransition] = []
        self.evaluation_errors: list[tuple[str, str]] = []
        self._regions: weakref.WeakKeyDictionary[Any, _Region] = weakref.WeakKeyDictionary()
        self._regions_lock = threading.Lock()
        # Serialises alarm decisions so a transition is applied (and its actions queued) exactly once.
        self._alarm_lock = threading.RLock()
        self._records_lock = threading.Lock()
        # Called before any read of metrics (queries and alarm evaluation): a component that produces metrics
        # in the sandbox (the data plane) catches up with the clock here, as a real-time producer would be.
        self.before_read: list[Callable[[], None]] = []
        self._last_evaluation: float | None = None  # the ticker's, see evaluate_each_minute
        # Alarm actions another emulated service runs, by the service in the action's ARN ("autoscaling": a
        # scaling policy, see emulator/autoscaling.py): (action ARN, notification message) -> an id for history.
        self.action_handlers: dict[str, Callable[[str, dict[str, Any]], str]] = {}

    def _catch_up(self) -> None:
        for hook in list(self.before_read):
            hook()

    # regions -----------------------------------------------------------------------------------------
    def _backend(self, account_id: str | None, region: str | None) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[account_id or self.emulator.account_id][region or self.emulator.region]

    def _region_of(self, backend: Any) -> _Region:
        # Keyed by moto's backend object, so moto's reset (new backends) also resets the sandbox's data.
        with self._regions_lock:
            found = self._regions.get(backend)
            if found is None:
                found = self._regions[backend] = _Region(backend.account_id, backend.region_name)
            return found

    def store(self, account_id: str | None = None, region: str | None = None) -> MetricStore:
        return self._region_of(self._backend(account_id, region)).store

    # metrics -----------------------------------------------------------------------------------------
    def put_metric_data(
        self,
        namespace: str,
        metric_data: Sequence[dict[str, Any]],
        *,
        account_id: str | None = None,
        region: str | None = None,
    ) -> None:
        self.store(account_id, region).put(namespace, metric_data, self.clock.time())

    def get_metric_data(
        self,
        queries: Sequence[dict[str, Any]],
        start_time: datetime | float,
        end_time: datetime | float,
        *,
        scan_by: str = "TimestampDescending",
        max_datapoints: int | None = None,
        next_token: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> dict[str, Any]:
        """GetMetricData's response body: MetricDataResults, NextToken, Messages."""
        self._catch_up()
        run = _QueryRun(
            self.store(account_id, region), queries, _epoch(start_time), _epoch(end_time), self.clock.time()
        )
        results = run.results(scan_by or "TimestampDescending")
        page, token = _paginate(results, int(max_datapoints or DEFAULT_MAX_DATAPOINTS), _decode_token(next_token))
        return {"MetricDataResults": page, "NextToken": token, "Messages": []}

    def get_metric_statistics(
        self,
        namespace: str,
        metric_name: str,
        start_time: datetime | float,
        end_time: datetime | float,
        period: int,
        *,
        statistics: Sequence[str] = (),
        extended_statistics: Sequence[str] = (),
        dimensions: Sequence[dict[str, Any]] = (),
        unit: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> list[dict[str, Any]]:
        if not statistics and not extended_statistics:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
        if statistics and extended_statistics:
            raise InvalidParameterCombination("Statistics and ExtendedStatistics are mutually exclusive.")
        basic = [_statistic(s, "Statistics") for s in statistics]
        extended = [_statistic(s, "ExtendedStatistics") for s in extended_statistics]
        if any(s.is_percentile for s in basic) or not all(s.is_percentile for s in extended):
            raise InvalidParameterValue("Statistics takes basic statistics; percentiles go in ExtendedStatistics.")
        key = series_key(namespace, metric_name, dimensions)
        self._catch_up()
        return self._statistics(key, basic + extended, start_time, end_time, period, unit, account_id, region)

    def _statistics(
        self,
        key: SeriesKey,
        statistics: Sequence[Statistic],
        start_time: datetime | float,
        end_time: datetime | float,
        period: int,
        unit: str | None,
        account_id: str | None,
        region: str | None,
    ) -> list[dict[str, Any]]:
        start, end, now = _epoch(start_time), _epoch(end_time), self.clock.time()
        if start >= end:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        size = _validate_period(period, "Period")
        aligned = _aligned_start(start, size, now)
        requested = math.ceil((end - aligned) / size)
        if requested > MAX_STATISTICS_DATAPOINTS:
            raise InvalidParameterCombination(
                f"You have requested up to {requested:,} datapoints, which exceeds the limit of 1,440. You may "
                "reduce the datapoints requested by increasing Period, or decreasing the time range."
            )
        if not _period_available(start, size, now):
            return []
        return self.store(account_id, region).statistics(key, statistics, unit, aligned, math.ceil(end), size)

    def list_metrics(
        self,
        *,
        namespace: str | None = None,
        metric_name: str | None = None,
        dimensions: Sequence[dict[str, Any]] = (),
        recently_active: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> list[dict[str, Any]]:
        """Metrics with data put in the last two weeks (three hours with RecentlyActive=PT3H)."""
        now = self.clock.time()
        since = now - (THREE_HOURS if recently_active == "PT3H" else TWO_WEEKS)
        return self.store(account_id, region).list_metrics(namespace, metric_name, dimensions, since)

    # alarms ------------------------------------------------------------------------------------------
    def evaluate_alarms(
        self, now: datetime | float | None = None, *, names: Collection[str] | None = None
    ) -> list[AlarmTransition]:
        """Evaluate every metric alarm moto holds (or those named) at `now` (default: the sandbox clock).

        Runs on the ticker once a virtual minute. Actions fire once per transition, after the decision.
        """
        from moto.cloudwatch.models import cloudwatch_backends

        if now is None:
            self._catch_up()
        moment = self.clock.time() if now is None else _epoch(now)
        pending: list[_Pending] = []
        with self._alarm_lock:
            for _account, _region_name, backend in list(cloudwatch_backends.iter_backends()):
                region = self._region_of(backend)
                for alarm in list(backend.alarms.values()):  # type: ignore[attr-defined]
                    if alarm.rule is not None or (names is not None and alarm.name not in names):
                        continue
                    try:
                        decided = self._evaluate(region, alarm, moment)
                    except Exception as exc:  # one broken alarm must not stop the others
                        log.exception("evaluating alarm %s failed", alarm.name)
                        self._record_error(alarm.name, f"{type(exc).__name__}: {exc}")
                        continue
                    if decided is not None:
                        pending.append(decided)
        for item in pending:
            self._deliver(item)
        return [item.transition for item in pending]

    def evaluate_each_minute(self) -> list[AlarmTransition]:
        """The ticker's job: evaluate now, and first at each minute the ticker missed since its last run.

        A late ticker would otherwise jump over minutes CloudWatch evaluates, and a datapoint that only those
        minutes' ranges hold (EvaluationPeriods + 2 periods) would never be seen. At most MAX_CATCH_UP minutes
        are replayed, the newest ones.
        """
        self._catch_up()
        now = self.clock.time()
        last, self._last_evaluation = self._last_evaluation, now
        missed = (
            []
            if last is None
            else [last + k * EVALUATION_SECONDS for k in range(1, int((now - last) // EVALUATION_SECONDS))]
        )
        transitions: list[AlarmTransition] = []
        for moment in [*missed[-MAX_CATCH_UP:], now]:
            transitions += self.evaluate_alarms(moment)
        return transitions

    def alarm_history(
        self, alarm_name: str | None = None, *, account_id: str | None = None, region: str | None = None
    ) -> list[dict[str, Any]]:
        """History items (oldest first), as DescribeAlarmHistory returns them."""
        items = self._region_of(self._backend(account_id, region)).history
        with self._records_lock:
            return [dict(i) for i in items if alarm_name is None or i["AlarmName"] == alarm_name]

    def notifications_for(self, alarm_name: str) -> list[AlarmNotification]:
        with self._records_lock:
            return [n for n in self.notifications if n.alarm_name == alarm_name]

    def summary(self) -> dict[str, Any]:
        """Counts for the sandbox report."""
        store = self.store()
        with self._records_lock:
            return {
                "series": store.series_count(),
                "cells": store.cell_count(),
                "transitions": len(self.transitions),
                "notifications": len(self.notifications),
                "undelivered_notifications": sum(1 for n in self.notifications if not n.delivered),
                "evaluation_errors": list(self.evaluation_errors),
            }

    def _record_error(self, alarm_name: str, message: str) -> None:
        with self._records_lock:
            if (alarm_name, message) not in self.evaluation_errors:
                self.evaluation_errors.append((alarm_name, message))

    def _evaluate(self, region: _Region, alarm: Any, now: float) -> _Pending | None:
        try:
            spec = _alarm_spec(alarm)
            end = _window_end(now, spec.period)
            # The evaluation range: EvaluationPeriods + 2 periods that have fully ended (see module docstring).
            points = self._alarm_points(region, spec, end - (spec.evaluation_periods + 2) * spec.period, end, now)
        except _AlarmNotEvaluable as exc:
            return self._not_evaluable(region, alarm, str(exc), now)
        operator = _COMPARATORS[spec.operator][0]
        decision = decide_alarm_state(
            points,
            lambda v: operator(v, spec.threshold),
            spec.evaluation_periods,
            spec.datapoints_to_alarm,
            spec.treat_missing_data,
        )
        if spec.low_samples_ignored and spec.statistic is not None:
            needed = spec.statistic.low_sample_threshold()
            if any(
                p.sample_count is not None and p.sample_count < needed
                for p in decision.evaluated
                if p.value is not None
            ):
                return None
        if decision.state is None or decision.state == alarm.state_value:
            return None
        reason = _state_reason(decision, spec)
        data = _state_reason_data(decision, spec, points, now)
        return self._transition(region, alarm, decision.state, reason, _compact_json(data), now, spec)

    def _alarm_points(self, region: _Region, spec: _AlarmSpec, start: int, end: int, now: float) -> list[AlarmPoint]:
        """One point per period of the evaluation range, newest first."""
        found: dict[int, tuple[float, float | None]] = {}
        if spec.statistic is not None and spec.key is not None:
            rows = region.store.aggregate(spec.key, spec.statistic, spec.unit, start, end, spec.period)
            found = {t: (v, n) for t, v, n in rows}
        else:
            try:
                values = _QueryRun(region.store, spec.queries, start, end, now).points(spec.return_id or "")
            except (SandboxUnsupported, ValidationError, InvalidParameterValue) as exc:
                raise _AlarmNotEvaluable(str(exc)) from None
            found = {t: (v, None) for t, v in values.items()}
        slots = range(end - spec.period, start - 1, -spec.period)
        return [AlarmPoint(t, *found[t]) if t in found else AlarmPoint(t, None) for t in slots]

    def _not_evaluable(self, region: _Region, alarm: Any, message: str, now: float) -> _Pending | None:
        self._record_error(alarm.name, message)
        reason = f"Unchecked: the sandbox cannot evaluate this alarm: {message}"
        if alarm.state_value == INSUFFICIENT_DATA:
            alarm.state_reason = reason
            return None
        return self._transition(region, alarm, INSUFFICIENT_DATA, reason, "{}", now, None)

    def _transition(
        self,
        region: _Region,
        alarm: Any,
        new_state: str,
        reason: str,
        reason_data: str,
        now: float,
        spec: _AlarmSpec | None,
    ) -> _Pending:
        old_state, old_reason, previous = alarm.state_value, alarm.state_reason, _previous_state(alarm)
        alarm.state_value, alarm.state_reason, alarm.state_reason_data = new_state, reason, reason_data
        alarm.state_updated_timestamp = alarm.state_transitioned_timestamp = _naive_utc(now)
        return self._record_transition(region, alarm, old_state, old_reason, now, spec, previous)

    def _record_transition(
        self,
        region: _Region,
        alarm: Any,
        old_state: str,
        old_reason: str,
        now: float,
        spec: _AlarmSpec | None,
        previous: dict[str, Any],
    ) -> _Pending:
        """Record a transition the caller has applied (under the alarm lock, so once and in order)."""
        new_state = alarm.state_value
        transition = AlarmTransition(
            alarm.name, old_state, new_state, alarm.state_reason, _utc(now), region.account_id, region.region
        )
        history_data = {
            "version": "1.0",
            "oldState": {"stateValue": old_state, "stateReason": old_reason},
            "newState": {
                "stateValue": new_state,
                "stateReason": alarm.state_reason,
                "stateReasonData": _json_or_text(alarm.state_reason_data),
            },
        }
        self._add_history(
            region, alarm.name, now, "StateUpdate", f"Alarm updated from {old_state} to {new_state}", history_data
        )
        with self._records_lock:
            self.transitions.append(transition)
        self._emit(alarm_state_change_event(alarm, previous, now, region.account_id, region.region), region)
        actions_by_state = {
            ALARM: alarm.alarm_actions,
            OK: alarm.ok_actions,
            INSUFFICIENT_DATA: alarm.insufficient_data_actions,
        }
        actions = list(actions_by_state.get(new_state) or []) if alarm.actions_enabled else []
        message = {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description or None,
            "AWSAccountId": region.account_id,
            "AlarmConfigurationUpdatedTimestamp": _iso_millis(_epoch(alarm.configuration_updated_timestamp)),
            "NewStateValue": new_state,
            "NewStateReason": alarm.state_reason,
            "StateChangeTime": _iso_millis(now),
            "Region": _region_description(region.region),
            "AlarmArn": alarm.alarm_arn,
            "OldStateValue": old_state,
            "OKActions": list(alarm.ok_actions or []),
            "AlarmActions": list(alarm.alarm_actions or []),
            "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
            "Trigger": _trigger(alarm, spec),
        }
        subject = f'{new_state}: "{alarm.name}" in {message["Region"]}'[:100]
        return _Pending(region, transition, actions, message, subject)

    def _emit(self, event: dict[str, Any], region: _Region) -> None:
        # Emitted under the alarm lock, so an alarm's events reach the bus in the order of its transitions.
        # CloudWatch never fails an evaluation because EventBridge did; the sandbox logs instead of hiding it.
        events = self.emulator.services.get("events")
        if events is None:
            return
        try:
            events.emit(event, account=region.account_id, region=region.region)
        except Exception:
            log.exception("alarm state change event for %s not sent to EventBridge", event["detail"]["alarmName"])

    def _add_history(
        self, region: _Region, alarm_name: str, now: float, item_type: str, summary: str, data: dict[str, Any]
    ) -> None:
        item = {
            "AlarmName": alarm_name,
            "AlarmType": "MetricAlarm",
            "Timestamp": _utc(now),
            "HistoryItemType": item_type,
            "HistorySummary": summary,
            "HistoryData": _compact_json(data),
        }
        with self._records_lock:
            region.history.append(item)

    def _deliver(self, pending: _Pending) -> None:
        """Publish the notification to each SNS topic action (so SQS/Lambda subscribers receive it)."""
        body = _compact_json(pending.message)
        transition = pending.transition
        now = transition.time.timestamp()
        for action in pending.actions:
            notification = AlarmNotification(
                transition.alarm_name,
                transition.old_state,
                transition.new_state,
                action,
                transition.time,
                pending.message,
                pending.subject,
            )
            handler = self.action_handlers.get(action.split(":")[2] if action.count(":") >= 2 else "")
            try:
                if handler is not None:
                    notification.message_id = handler(action, pending.message)
                else:
                    notification.message_id = _publish_to_sns(action, body, pending.subject)
            except Exception as exc:  # a broken action is recorded, like CloudWatch's failed-action history
                notification.error = f"{type(exc).__name__}: {exc}"
            with self._records_lock:
                self.notifications.append(notification)
            summary = (
                f"Successfully executed action {action}"
                if notification.delivered
                else f"Failed to execute action {action}. Received error: {notification.error}"
            )
            self._add_history(
                pending.region,
                transition.alarm_name,
                now,
                "Action",
                summary,
                {
                    "actionState": "Succeeded" if notification.delivered else "Failed",
                    "notificationResource": action,
                    "stateUpdateTimestamp": int(now * 1000),
                    "publishedMessage": notification.message_id,
                },
            )

    # moto hooks --------------------------------------------------------------------------------------
    def on_alarm_put(self, backend: Any, alarm: Any, previous: Any | None) -> None:
        """PutMetricAlarm: a new alarm starts in INSUFFICIENT_DATA; an update keeps its state (CloudWatch)."""
        now = self.clock.time()
        alarm.configuration_updated_timestamp = _naive_utc(now)
        region = self._region_of(backend)
        if previous is not None and previous is not alarm:
            for attribute in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                setattr(alarm, attribute, getattr(previous, attribute))
            alarm.state_transitioned_timestamp = getattr(
                previous, "state_transitioned_timestamp", previous.state_updated_timestamp
            )
            summary = f'Alarm "{alarm.name}" updated'
        else:
            alarm.state_value, alarm.state_reason = INSUFFICIENT_DATA, "Unchecked: Initial alarm creation"
            alarm.state_reason_data = "{}"
            alarm.state_updated_timestamp = alarm.state_transitioned_timestamp = _naive_utc(now)
            summary = f'Alarm "{alarm.name}" created'
        self._add_history(
            region,
            alarm.name,
            now,
            "ConfigurationUpdate",
            summary,
            {
                "version": "1.0",
                "type": "Update" if previous is not None else "Create",
                "updatedAlarm": _trigger(alarm, None),
            },
        )

    def on_state_set(
        self, backend: Any, alarm: Any, old_state: str, old_reason: str, previous: dict[str, Any] | None = None
    ) -> _Pending | None:
        """SetAlarmState: CloudWatch sends the state change event and runs the new state's actions when the
        state changed. `previous` is the state before the call (`_previous_state` taken before moto's update)."""
        now = self.clock.time()
        alarm.state_updated_timestamp = alarm.state_transitioned_timestamp = _naive_utc(now)
        if alarm.state_value == old_state:
            return None
        if previous is None:
            previous = _event_state(old_state, old_reason, None, now)
        return self._record_transition(self._region_of(backend), alarm, old_state, old_reason, now, None, previous)

    def describe_alarm_history(self, backend: Any, params: dict[str, Any]) -> dict[str, Any]:
        region = self._region_of(backend)
        with self._records_lock:
            items = list(region.history)
        name = params.get("AlarmName")
        item_type = params.get("HistoryItemType")
        types = params.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
        start = _epoch(params["StartDate"]) if params.get("StartDate") else -math.inf
        end = _epoch(params["EndDate"]) if params.get("EndDate") else math.inf
        selected = [
            i
            for i in items
            if (not name or i["AlarmName"] == name)
            and (not item_type or i["HistoryItemType"] == item_type)
            and i["AlarmType"] in types
            and start <= i["Timestamp"].timestamp() <= end
        ]
        if (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending":
            selected.reverse()
        offset = _decode_token(params.get("NextToken"))
        size = int(params.get("MaxRecords") or 100)
        page = selected[offset : offset + size]
        token = _encode_token(offset + size) if offset + size < len(selected) else None
        return {"AlarmHistoryItems": page, "NextToken": token}


def _compact_json(value: Any) -> str:
    # CloudWatch's JSON (notifications, StateReasonData, history) has no spaces after separators.
    return json.dumps(value, separators=(",", ":"))


def _json_or_text(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


def _publish_to_sns(action: str, body: str, subject: str) -> str:
    parts = action.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sns":
        raise ValueError("the sandbox delivers only SNS topic actions")
    from moto.sns.models import sns_backends

    return str(sns_backends[parts[4]][parts[3]].publish(body, arn=action, subject=subject))


# ---------------------------------------------------------------------------------------------------------
# installation: every change to moto goes through the Patcher
# ---------------------------------------------------------------------------------------------------------
def install(emulator: Emulator, patcher: Patcher) -> CloudWatchService:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    service = CloudWatchService(emulator)
    _patch_backend(service, patcher, CloudWatchBackend)
    _patch_alarms(service, patcher, CloudWatchBackend)
    _patch_api_faults(emulator, patcher, CloudWatchResponse)

    def get_metric_data(self: CloudWatchResponse) -> ActionResult | tuple[str, dict[str, Any]]:
        params = self._get_params()
        try:
            result = service.get_metric_data(
                params.get("MetricDataQueries") or [],
                params["StartTime"],
                params["EndTime"],
                scan_by=params.get("ScanBy") or "TimestampDescending",
                max_datapoints=params.get("MaxDatapoints"),
                next_token=params.get("NextToken"),
                account_id=self.current_account,
                region=self.region,
            )
        except SandboxUnsupported as refusal:
            return _refused(self, refusal)
        return ActionResult(result)

    def put_metric_alarm(self: CloudWatchResponse) -> Any:
        try:
            return moto_put_metric_alarm(self)
        except SandboxUnsupported as refusal:  # raised by the backend's put_metric_alarm, see _patch_alarms
            return _refused(self, refusal)

    def get_metric_statistics(self: CloudWatchResponse) -> ActionResult:
        params = self._get_params()
        datapoints = service.get_metric_statistics(
            params.get("Namespace") or "",
            params.get("MetricName") or "",
            params["StartTime"],
            params["EndTime"],
            params.get("Period") or 0,
            statistics=params.get("Statistics") or [],
            extended_statistics=params.get("ExtendedStatistics") or [],
            dimensions=params.get("Dimensions") or [],
            unit=params.get("Unit"),
            account_id=self.current_account,
            region=self.region,
        )
        return ActionResult({"Label": params.get("MetricName"), "Datapoints": datapoints})

    def list_metrics(self: CloudWatchResponse) -> ActionResult:
        params = self._get_params()
        metrics = service.list_metrics(
            namespace=params.get("Namespace"),
            metric_name=params.get("MetricName"),
            dimensions=params.get("Dimensions") or [],
            recently_active=params.get("RecentlyActive"),
            account_id=self.current_account,
            region=self.region,
        )
        offset = _decode_token(params.get("NextToken"))
        end = offset + LIST_METRICS_PAGE
        token = _encode_token(end) if end < len(metrics) else None
        return ActionResult({"Metrics": metrics[offset:end], "NextToken": token})

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        return ActionResult(service.describe_alarm_history(self.cloudwatch_backend, self._get_params()))

    patcher.replace(CloudWatchResponse, "get_metric_data", get_metric_data)
    patcher.replace(CloudWatchResponse, "get_metric_statistics", get_metric_statistics)
    patcher.replace(CloudWatchResponse, "list_metrics", list_metrics)
    patcher.add(CloudWatchResponse, "describe_alarm_history", describe_alarm_history)
    moto_put_metric_alarm = patcher.replace(CloudWatchResponse, "put_metric_alarm", put_metric_alarm)

    # CloudWatch evaluates alarms once a minute; so does the sandbox, on sandbox time, minute after minute even when
    # its ticker runs late (a busy machine, a long job before it).
    emulator.ticker.every("cloudwatch:evaluate-alarms", EVALUATION_SECONDS, service.evaluate_each_minute)
    return service


def _refused(response: Any, refusal: SandboxUnsupported) -> tuple[str, dict[str, Any]]:
    """A refusal as a response method's (body, headers), serialised for the client's protocol. moto would warn that
    SandboxUnsupportedOperation is not in CloudWatch's service model, which is the point of it; silenced."""
    from moto.core.responses import ActionResult

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, headers, body = response.serialized(ActionResult(refusal))
    return body, {**headers, "status": status}


def _patch_api_faults(emulator: Emulator, patcher: Patcher, response_class: type) -> None:
    """Every CloudWatch action passes one hook before moto dispatches it: an armed cloudwatch.api fault answers
    instead, serialised by moto for the protocol the client used (query, JSON or CBOR)."""
    from moto.cloudwatch.exceptions import CloudWatchException
    from moto.core.responses import ActionResult

    def call_action(response: Any) -> Any:
        action = response._get_action() or ""
        fault = emulator.faults.take("cloudwatch.api", action=action)
        if fault is None:
            return moto_call_action(response)
        if fault.mode not in API_FAULTS:
            raise ValueError(f"fault 'cloudwatch.api' supports modes {sorted(API_FAULTS)}, not {fault.mode!r}")
        code, message = API_FAULTS[fault.mode]
        error = CloudWatchException(code, str(fault.params.get("message", message)))
        with warnings.catch_warnings():  # moto warns that Throttling is not in the service model; it is not
            warnings.simplefilter("ignore")
            return response.serialized(ActionResult(error))

    moto_call_action = patcher.replace(response_class, "call_action", call_action)


def _patch_backend(service: CloudWatchService, patcher: Patcher, backend_class: type) -> None:
    """In-process callers (other emulator modules) use the backend directly; route them to the store too."""

    def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        service._region_of(self).store.put(namespace, metric_data, service.clock.time())

    def get_metric_data(
        self: Any,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        result = service.get_metric_data(
            queries, start_time, end_time, scan_by=scan_by, account_id=self.account_id, region=self.region_name
        )
        return list(result["MetricDataResults"])

    def get_metric_statistics(
        self: Any,
        namespace: str,
        metric_name: str,
        start_time: datetime,
        end_time: datetime,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> list[dict[str, Any]]:
        # moto's signature takes one list of names; percentiles are accepted in it for in-process callers.
        parsed = [_statistic(name, "Statistics") for name in stats]
        key = series_key(namespace, metric_name, dimensions)
        return service._statistics(key, parsed, start_time, end_time, period, unit, self.account_id, self.region_name)

    def list_metrics(
        self: Any, next_token: str | None, namespace: str, metric_name: str, dimensions: list[dict[str, str]]
    ) -> tuple[str | None, list[dict[str, Any]]]:
        metrics = service.list_metrics(
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            account_id=self.account_id,
            region=self.region_name,
        )
        offset = _decode_token(next_token)
        end = offset + LIST_METRICS_PAGE
        return (_encode_token(end) if end < len(metrics) else None), metrics[offset:end]

    patcher.replace(backend_class, "put_metric_data", put_metric_data)
    patcher.replace(backend_class, "get_metric_data", get_metric_data)
    patcher.replace(backend_class, "get_metric_statistics", get_metric_statistics)
    patcher.replace(backend_class, "list_metrics", list_metrics)


def _patch_alarms(service: CloudWatchService, patcher: Patcher, backend_class: type) -> None:
    def put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs["name"] if "name" in kwargs else args[0]
        queries = inspect.signature(original_put).bind(self, *args, **kwargs).arguments.get("metric_data_queries")
        for query in queries or ():
            if query.expression:
                raise _refuse_expression("PutMetricAlarm Metrics", query.id, query.expression)
        with service._alarm_lock:
            previous = self.alarms.get(name)
            alarm = original_put(self, *args, **kwargs)
            service.on_alarm_put(self, alarm, previous)
        return alarm

    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        with service._alarm_lock:
            alarm = self.alarms.get(alarm_name)
            old_state = alarm.state_value if alarm is not None else None
            old_reason = alarm.state_reason if alarm is not None else ""
            previous = _previous_state(alarm) if alarm is not None else None
            original_set(self, alarm_name, reason, reason_data, state_value)
            pending = service.on_state_set(self, self.alarms[alarm_name], old_state or "", old_reason, previous)
        if pending is not None:
            service._deliver(pending)

    # The wrappers delegate to moto's originals, which Patcher.replace hands back.
    original_put = patcher.replace(backend_class, "put_metric_alarm", put_metric_alarm)
    original_set = patcher.replace(backend_class, "set_alarm_state", set_alarm_state)
