"""CloudWatch for the sandbox: a metric store, metric math, and alarms evaluated on sandbox time.

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
besides percentiles (InvalidParameterValue naming them); Metrics Insights (SELECT) queries and the math
functions in _UNSUPPORTED_FUNCTIONS (ValidationError naming the function); anomaly-detection alarms (left in
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

from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

__all__ = [
    "AlarmNotification",
    "AlarmTransition",
    "CloudWatchService",
    "MetricMathError",
    "MetricStore",
    "TimeSeries",
    "alarm_state_change_event",
    "decide_alarm_state",
    "evaluate_expression",
    "install",
    "parse_expression",
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
# metric math: tokenizer, parser, evaluator (no eval(): a small recursive-descent parser of our own)
# ---------------------------------------------------------------------------------------------------------
class MetricMathError(ValueError):
    """An expression CloudWatch would reject, or one using a function the sandbox does not implement."""


@dataclass(frozen=True)
class _Token:
    kind: str  # number | name | string | op | end
    text: str
    pos: int


_TOKEN_RE = re.compile(
    r"""(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<string>"[^"]*"|'[^']*'|\u201c[^\u201d]*\u201d)
      |(?P<op>==|!=|<=|>=|&&|\|\||[-+*/^<>(),\[\]])""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.lastgroup is None:
            raise MetricMathError(f"Syntax error at position {pos + 1}: unexpected character {text[pos]!r}")
        tokens.append(_Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Keyword:
    """An upper-case word that is not a call: REPEAT, LINEAR, ..."""

    name: str


@dataclass(frozen=True)
class Ref:
    """The id of another query in the request."""

    name: str


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class ArrayLiteral:
    items: tuple[Node, ...]


type Node = Number | String | Keyword | Ref | Unary | Binary | Call | ArrayLiteral


class _Parser:
    """Precedence, loosest first: OR/||, AND/&&, comparisons, + -, * /, unary -, ^ (right-associative)."""

    _COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    def parse(self) -> Node:
        if self.tokens[0].kind == "end":
            raise MetricMathError("The expression is empty")
        node = self._or()
        token = self.tokens[self.index]
        if token.kind != "end":
            raise self._error(token, f"unexpected {token.text!r}")
        return node

    def _accept(self, *texts: str) -> _Token | None:
        token = self.tokens[self.index]
        if token.kind in ("op", "name") and token.text in texts:
            self.index += 1
            return token
        return None

    def _expect(self, text: str) -> None:
        if self._accept(text) is None:
            token = self.tokens[self.index]
            found = "the end of the expression" if token.kind == "end" else repr(token.text)
            raise self._error(token, f"expected {text!r} but found {found}")

    @staticmethod
    def _error(token: _Token, message: str) -> MetricMathError:
        return MetricMathError(f"Syntax error at position {token.pos + 1}: {message}")

    def _or(self) -> Node:
        node = self._and()
        while self._accept("OR", "||"):
            node = Binary("OR", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._comparison()
        while self._accept("AND", "&&"):
            node = Binary("AND", node, self._comparison())
        return node

    def _comparison(self) -> Node:
        node = self._additive()
        token = self._accept(*self._COMPARISONS)
        if token is not None:
            node = Binary(token.text, node, self._additive())
        return node

    def _additive(self) -> Node:
        node = self._multiplicative()
        while (token := self._accept("+", "-")) is not None:
            node = Binary(token.text, node, self._multiplicative())
        return node

    def _multiplicative(self) -> Node:
        node = self._unary()
        while (token := self._accept("*", "/")) is not None:
            node = Binary(token.text, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._accept("-"):
            return Unary("-", self._unary())
        if self._accept("+"):
            return self._unary()
        base = self._primary()
        if self._accept("^"):
            return Binary("^", base, self._unary())
        return base

    def _primary(self) -> Node:
        token = self.tokens[self.index]
        self.index += 1
        if token.kind == "number":
            return Number(float(token.text))
        if token.kind == "string":
            return String(token.text[1:-1])
        if token.kind == "name":
            return self._name(token)
        if token.text == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.text == "[":
            return ArrayLiteral(self._items("]"))
        found = "end of expression" if token.kind == "end" else repr(token.text)
        raise self._error(token, f"unexpected {found}")

    def _name(self, token: _Token) -> Node:
        if self._accept("("):
            return Call(token.text, self._items(")"))
        if token.text in ("AND", "OR"):
            raise self._error(token, f"unexpected {token.text}")
        return Ref(token.text) if token.text[0].islower() else Keyword(token.text)

    def _items(self, closing: str) -> tuple[Node, ...]:
        if self._accept(closing):
            return ()
        items = [self._or()]
        while not self._accept(closing):
            self._expect(",")
            items.append(self._or())
        return tuple(items)


def parse_expression(text: str) -> Node:
    """Parse a CloudWatch metric math expression into a small AST; raises MetricMathError."""
    return _Parser(text).parse()


@dataclass
class TimeSeries:
    """A metric math time series: bucket start (POSIX seconds) -> value, on the grid start + k*period < end."""

    points: dict[int, float]
    period: int
    start: int
    end: int
    label: str = ""

    def derive(self, points: dict[int, float], label: str | None = None) -> TimeSeries:
        kept = {t: v for t, v in points.items() if math.isfinite(v)}
        return TimeSeries(kept, self.period, self.start, self.end, self.label if label is None else label)

    def grid(self) -> range:
        return range(self.start, self.end, self.period)

    def sorted_points(self) -> list[tuple[int, float]]:
        return sorted(self.points.items())


type Value = float | TimeSeries | list[TimeSeries]


@dataclass
class MathContext:
    """What an expression can see: other queries by id, the request's metrics, and a default grid."""

    resolve: Callable[[str], Value]
    metrics: Callable[[], list[tuple[str, TimeSeries]]]
    grid: tuple[int, int, int]  # (start, end, period) for series built from a number alone


def _divide(a: float, b: float) -> float:
    # CloudWatch drops a datapoint whose computation divides by zero.
    return a / b if b != 0 else math.nan


def _power(a: float, b: float) -> float:
    try:
        result = a**b
    except (OverflowError, ZeroDivisionError):
        return math.nan
    return float(result) if isinstance(result, int | float) else math.nan


def _log(value: float, base: float | None = None) -> float:
    if value <= 0:
        return math.nan
    return math.log(value) if base is None else math.log(value, base)


_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "^": _power,
    "==": lambda a, b: float(a == b),
    "!=": lambda a, b: float(a != b),
    "<": lambda a, b: float(a < b),
    "<=": lambda a, b: float(a <= b),
    ">": lambda a, b: float(a > b),
    ">=": lambda a, b: float(a >= b),
    "AND": lambda a, b: float(a != 0 and b != 0),
    "OR": lambda a, b: float(a != 0 or b != 0),
}

_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "ABS": abs,
    "CEIL": lambda v: float(math.ceil(v)),
    "FLOOR": lambda v: float(math.floor(v)),
    "LOG": _log,
    "LOG10": lambda v: _log(v, 10),
}

_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "MIN": min,
    "MAX": max,
    "SUM": math.fsum,
    "AVG": lambda xs: math.fsum(xs) / len(xs),
}

# Functions CloudWatch has that the sandbox does not compute: an expression using one fails with its name.
_UNSUPPORTED_FUNCTIONS = frozenset(
    {
        "ANOMALY_DETECTION_BAND",
        "CONCAT",
        "DATE",
        "DAY",
        "EPOCH",
        "HOUR",
        "INSIGHT_RULE_METRIC",
        "LAMBDA",
        "MINUTE",
        "MONTH",
        "SEARCH",
        "SERVICE_QUOTA",
        "SLICE",
        "SORT",
        "STDDEV",
        "YEAR",
    }
)


def _map(value: Value, fn: Callable[[float], float]) -> Value:
    if isinstance(value, list):
        return [s.derive({t: fn(v) for t, v in s.points.items()}) for s in value]
    if isinstance(value, TimeSeries):
        return value.derive({t: fn(v) for t, v in value.points.items()})
    return fn(value) if math.isfinite(value) else math.nan


def _combine(left: Value, right: Value, fn: Callable[[float, float], float]) -> Value:
    if isinstance(left, list):
        if isinstance(right, list):
            raise MetricMathError("An operation between two arrays of time series is not supported")
        return [_series(_combine(s, right, fn)) for s in left]
    if isinstance(right, list):
        return [_series(_combine(left, s, fn)) for s in right]
    if isinstance(left, TimeSeries) and isinstance(right, TimeSeries):
        # CloudWatch treats a value missing from one of the two series as 0.
        keys = left.points.keys() | right.points.keys()
        template = left if left.period <= right.period else right
        return template.derive({t: fn(left.points.get(t, 0.0), right.points.get(t, 0.0)) for t in keys}, "")
    if isinstance(left, TimeSeries):
        return left.derive({t: fn(v, float(right)) for t, v in left.points.items()})  # type: ignore[arg-type]
    if isinstance(right, TimeSeries):
        return right.derive({t: fn(float(left), v) for t, v in right.points.items()})
    return fn(left, right) if math.isfinite(left) and math.isfinite(right) else math.nan


def _series(value: Value) -> TimeSeries:
    if not isinstance(value, TimeSeries):
        raise MetricMathError("Expected a time series")
    return value


def _consecutive(series: TimeSeries, fn: Callable[[int, float, int, float], float]) -> TimeSeries:
    ordered = series.sorted_points()
    return series.derive({t: fn(pt, pv, t, v) for (pt, pv), (t, v) in itertools.pairwise(ordered)})


def _running_sum(series: TimeSeries) -> TimeSeries:
    total, out = 0.0, {}
    for t, v in series.sorted_points():
        total += v
        out[t] = total
    return series.derive(out)


_SERIES_TRANSFORMS: dict[str, Callable[[TimeSeries], TimeSeries]] = {
    "DIFF": lambda s: _consecutive(s, lambda _pt, pv, _t, v: v - pv),
    "DIFF_TIME": lambda s: _consecutive(s, lambda pt, _pv, t, _v: float(t - pt)),
    "RATE": lambda s: _consecutive(s, lambda pt, pv, t, v: (v - pv) / (t - pt)),
    "RUNNING_SUM": _running_sum,
}


def _fill_series(series: TimeSeries, filler: str | float | TimeSeries) -> TimeSeries:
    points = dict(series.points)
    if filler == "REPEAT":
        last: float | None = None
        for t in series.grid():
            if t in points:
                last = points[t]
            elif last is not None:
                points[t] = last
    elif filler == "LINEAR":
        known = sorted(points)
        for a, b in itertools.pairwise(known):
            for t in range(a + series.period, b, series.period):
                points[t] = points[a] + (points[b] - points[a]) * (t - a) / (b - a)
    elif isinstance(filler, TimeSeries):
        for t in series.grid():
            if t not in points and t in filler.points:
                points[t] = filler.points[t]
    elif isinstance(filler, float) and math.isfinite(filler):
        for t in series.grid():
            points.setdefault(t, filler)
    return series.derive(points)


class _Evaluator:
    def __init__(self, context: MathContext) -> None:
        self.context = context
        self._handlers: dict[type, Callable[[Any], Value]] = {
            Number: lambda n: n.value,
            Ref: lambda n: self.context.resolve(n.name),
            Unary: lambda n: _map(self.eval(n.operand), lambda v: -v),
            Binary: lambda n: _combine(self.eval(n.left), self.eval(n.right), _BINARY[n.op]),
            Call: lambda n: self._call(n.name, n.args),
            ArrayLiteral: lambda n: self._array(n.items),
            String: self._misplaced,
            Keyword: self._misplaced,
        }
        self._functions: dict[str, Callable[[str, tuple[Node, ...]], Value]] = {
            **dict.fromkeys(_ELEMENTWISE, self._elementwise),
            **dict.fromkeys(_REDUCERS, self._reduce),
            **dict.fromkeys(_SERIES_TRANSFORMS, self._transform),
            "DATAPOINT_COUNT": self._datapoint_count,
            "FILL": self._fill,
            "FIRST": self._pick,
            "LAST": self._pick,
            "IF": self._if,
            "METRICS": self._metrics,
            "METRIC_COUNT": self._metric_count,
            "PERIOD": self._period,
            "REMOVE_EMPTY": self._remove_empty,
            "TIME_SERIES": self._time_series,
        }

    def eval(self, node: Node) -> Value:
        return self._handlers[type(node)](node)

    @staticmethod
    def _misplaced(node: String | Keyword) -> Value:
        text = f'"{node.value}"' if isinstance(node, String) else node.name
        raise MetricMathError(f"{text} is not valid here")

    def _call(self, name: str, args: tuple[Node, ...]) -> Value:
        function = self._functions.get(name)
        if function is not None:
            return function(name, args)
        if name in _UNSUPPORTED_FUNCTIONS:
            raise MetricMathError(f"The sandbox does not support the metric math function {name}")
        raise MetricMathError(f"Unrecognized function {name}")

    @staticmethod
    def _arity(name: str, args: tuple[Node, ...], low: int, high: int | None = None) -> tuple[Node, ...]:
        high = low if high is None else high
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise MetricMathError(f"{name} takes {expected} argument(s), got {len(args)}")
        return args

    def _array(self, items: tuple[Node, ...]) -> list[TimeSeries]:
        out: list[TimeSeries] = []
        for item in items:
            value = self.eval(item)
            if isinstance(value, list):
                out.extend(value)
            elif isinstance(value, TimeSeries):
                out.append(value)
            else:
                raise MetricMathError("An array [...] may contain only time series")
        return out

    def _series_list(self, name: str, node: Node) -> list[TimeSeries]:
        value = self.eval(node)
        if not isinstance(value, list):
            raise MetricMathError(f"{name} needs an array of time series")
        return value

    def _elementwise(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        return _map(self.eval(arg), _ELEMENTWISE[name])

    def _reduce(self, name: str, args: tuple[Node, ...]) -> Value:
        """Over one series: a number. Over an array: a series, point by point (CloudWatch's semantics)."""
        (arg,) = self._arity(name, args, 1)
        value = self.eval(arg)
        if isinstance(value, TimeSeries):
            return _REDUCERS[name](list(value.points.values())) if value.points else math.nan
        if not isinstance(value, list):
            return value
        if not value:
            raise MetricMathError(f"{name} of an empty array of time series")
        out: dict[int, float] = {}
        for t in set().union(*(s.points for s in value)):
            present = [s.points[t] for s in value if t in s.points]
            if name in ("SUM", "AVG"):
                # Documented for SUM/AVG of an array: a missing value counts as 0.
                total = math.fsum(present)
                out[t] = total if name == "SUM" else total / len(value)
            else:
                out[t] = _REDUCERS[name](present)
        return value[0].derive(out, "")

    def _transform(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        value = self.eval(arg)
        if isinstance(value, list):
            return [_SERIES_TRANSFORMS[name](s) for s in value]
        if not isinstance(value, TimeSeries):
            raise MetricMathError(f"{name} needs a time series")
        return _SERIES_TRANSFORMS[name](value)

    def _datapoint_count(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        value = self.eval(arg)
        if isinstance(value, TimeSeries):
            return float(len(value.points))
        if not isinstance(value, list) or not value:
            raise MetricMathError(f"{name} needs a time series or an array of time series")
        keys = set().union(*(s.points for s in value))
        return value[0].derive({t: float(sum(t in s.points for s in value)) for t in keys}, "")

    def _metric_count(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        return float(len(self._series_list(name, arg)))

    def _pick(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        series = self._series_list(name, arg)
        if not series:
            raise MetricMathError(f"{name} of an empty array of time series")
        return series[0] if name == "FIRST" else series[-1]

    def _remove_empty(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        return [s for s in self._series_list(name, arg) if s.points]

    def _metrics(self, name: str, args: tuple[Node, ...]) -> Value:
        self._arity(name, args, 0, 1)
        if args and not isinstance(args[0], String):
            raise MetricMathError('METRICS takes no argument or one string, as in METRICS("errors")')
        needle = args[0].value if args and isinstance(args[0], String) else ""
        return [s for query_id, s in self.context.metrics() if needle in query_id]

    def _period(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        return float(_series(self.eval(arg)).period)

    def _time_series(self, name: str, args: tuple[Node, ...]) -> Value:
        (arg,) = self._arity(name, args, 1)
        value = self.eval(arg)
        if not isinstance(value, float):
            raise MetricMathError("TIME_SERIES needs a number")
        start, end, period = self.context.grid
        return TimeSeries({}, period, start, end).derive(dict.fromkeys(range(start, end, period), value))

    def _fill(self, name: str, args: tuple[Node, ...]) -> Value:
        target_node, filler_node = self._arity(name, args, 2)
        filler: str | float | TimeSeries
        if isinstance(filler_node, Keyword):
            if filler_node.name not in ("REPEAT", "LINEAR"):
                raise MetricMathError(f"FILL does not accept {filler_node.name}; use a number, REPEAT or LINEAR")
            filler = filler_node.name
        else:
            value = self.eval(filler_node)
            if isinstance(value, list):
                raise MetricMathError("FILL cannot fill with an array of time series")
            filler = value
        target = self.eval(target_node)
        if isinstance(target, list):
            return [_fill_series(s, filler) for s in target]
        return _fill_series(_series(target), filler)

    def _if(self, name: str, args: tuple[Node, ...]) -> Value:
        condition_node, true_node, *rest = self._arity(name, args, 2, 3)
        condition, when_true = self.eval(condition_node), self.eval(true_node)
        when_false = self.eval(rest[0]) if rest else None
        if any(isinstance(v, list) for v in (condition, when_true, when_false)):
            raise MetricMathError("IF does not accept arrays of time series")
        if isinstance(condition, TimeSeries):
            return _if_series(condition, when_true, when_false)  # type: ignore[arg-type]
        if isinstance(condition, float) and math.isfinite(condition) and condition != 0:
            return when_true
        if when_false is not None:
            return when_false
        template = next((v for v in (when_true,) if isinstance(v, TimeSeries)), None)
        if template is not None:
            return template.derive({})
        start, end, period = self.context.grid
        return TimeSeries({}, period, start, end)


def _if_series(
    condition: TimeSeries, when_true: float | TimeSeries, when_false: float | TimeSeries | None
) -> TimeSeries:
    """IF over a series condition, as CloudWatch documents it point by point."""
    out: dict[int, float] = {}
    for t, flag in condition.points.items():
        if flag != 0:
            # A true condition with no datapoint in the true-series yields 0.
            out[t] = when_true.points.get(t, 0.0) if isinstance(when_true, TimeSeries) else when_true
        elif isinstance(when_false, TimeSeries):
            if t in when_false.points:
                out[t] = when_false.points[t]
        elif when_false is not None:
            out[t] = when_false
    return condition.derive(out, "")


def evaluate_expression(expression: str | Node, context: MathContext) -> Value:
    """Evaluate a metric math expression (text or parsed) against `context`; raises MetricMathError."""
    node = parse_expression(expression) if isinstance(expression, str) else expression
    return _Evaluator(context).eval(node)


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


@dataclass(frozen=True)
class _Query:
    number: int
    id: str
    label: str | None
    return_data: bool
    expression: Node | None = None
    key: SeriesKey | None = None
    statistic: Statistic | None = None
    unit: str | None = None
    period: int = 60


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
    label, return_data = query.get("Label"), _flag(query.get("ReturnData"), default=True)
    if expression:
        if str(expression).lstrip().upper().startswith("SELECT"):
            raise ValidationError(f"The sandbox does not support Metrics Insights queries ({prefix}.Expression).")
        try:
            node = parse_expression(str(expression))
        except MetricMathError as exc:
            raise ValidationError(f"Error in expression {query_id}: {exc}") from None
        return _Query(number, query_id, label, return_data, expression=node)
    metric = stat.get("Metric") or {}
    if not metric.get("Namespace") or not metric.get("MetricName"):
        raise ValidationError(f"The parameters {prefix}.MetricStat.Metric.Namespace and MetricName are required.")
    return _Query(
        number,
        query_id,
        label,
        return_data,
        key=series_key(metric["Namespace"], metric["MetricName"], metric.get("Dimensions")),
        statistic=_statistic(stat.get("Stat"), f"{prefix}.MetricStat.Stat"),
        unit=stat.get("Unit"),
        period=_validate_period(stat.get("Period"), f"{prefix}.MetricStat.Period"),
    )


class _ExpressionFailed(MetricMathError):
    def __init__(self, query_id: str, cause: MetricMathError) -> None:
        super().__init__(f"Error in expression {query_id}: {cause}")


class _QueryRun:
    """One GetMetricData request: every query computed once (ReturnData=false ones too), lazily by id."""

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
        periods = [q.period for q in self.queries if q.key is not None] or [60]
        grid_period = min(periods)
        self.grid = (_aligned_start(start, grid_period, now), math.ceil(end), grid_period)
        self._values: dict[str, Value] = {}
        self._pending: set[str] = set()

    def value(self, query_id: str) -> Value:
        if query_id in self._values:
            return self._values[query_id]
        query = self.by_id.get(query_id)
        if query is None:
            raise MetricMathError(f"Unrecognized metric id {query_id}")
        if query_id in self._pending:
            raise MetricMathError(f"Circular reference through {query_id}")
        self._pending.add(query_id)
        try:
            result = self._metric(query) if query.expression is None else self._expression(query)
        finally:
            self._pending.discard(query_id)
        self._values[query_id] = result
        return result

    def _metric(self, query: _Query) -> TimeSeries:
        assert query.key is not None
        assert query.statistic is not None
        start = _aligned_start(self.start, query.period, self.now)
        end = math.ceil(self.end)
        points: dict[int, float] = {}
        if _period_available(self.start, query.period, self.now):
            rows = self.store.aggregate(query.key, query.statistic, query.unit, start, end, query.period)
            points = {t: v for t, v, _count in rows}
        return TimeSeries(points, query.period, start, end, query.key[1])

    def _expression(self, query: _Query) -> Value:
        assert query.expression is not None
        context = MathContext(
            resolve=self.value,
            metrics=lambda: [(q.id, _series(self.value(q.id))) for q in self.queries if q.key is not None],
            grid=self.grid,
        )
        try:
            result = evaluate_expression(query.expression, context)
        except _ExpressionFailed:
            raise
        except MetricMathError as exc:
            raise _ExpressionFailed(query.id, exc) from None
        if isinstance(result, float) and query.return_data:
            raise _ExpressionFailed(
                query.id,
                MetricMathError(
                    "the result is a single number; the final result of an expression must be a "
                    "time series or an array of time series"
                ),
            )
        return result

    def compute(self) -> list[tuple[_Query, Value]]:
        try:
            return [(q, self.value(q.id)) for q in self.queries]
        except MetricMathError as exc:
            raise ValidationError(str(exc)) from None

    def results(self, scan_by: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for query, value in self.compute():
            if not query.return_data:
                continue
            if isinstance(value, list):
                for series in value:
                    label = f"{query.label} {series.label}".strip() if query.label else series.label
                    out.append(_result(query.id, label, series, scan_by))
            elif isinstance(value, TimeSeries):
                default = query.key[1] if query.key is not None else query.id
                out.append(_result(query.id, query.label or default, value, scan_by))
        return out


def _result(query_id: str, label: str, series: TimeSeries, scan_by: str) -> dict[str, Any]:
    points = sorted(series.points.items(), reverse=scan_by != "TimestampAscending")
    return {
        "Id": query_id,
        "Label": label,
        "Timestamps": [_utc(t) for t, _v in points],
        "Values": [v for _t, v in points],
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
    queries: tuple[dict[str, Any], ...] = ()  # metric math alarms
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
            "a metric math alarm needs exactly one query with ReturnData=true and metrics that share one period"
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
                value = _QueryRun(region.store, spec.queries, start, end, now).value(spec.return_id or "")
            except (MetricMathError, ValidationError, InvalidParameterValue) as exc:
                raise _AlarmNotEvaluable(str(exc)) from None
            if not isinstance(value, TimeSeries):
                raise _AlarmNotEvaluable("the alarm's expression does not produce a single time series")
            found = {t: (v, None) for t, v in value.points.items()}
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

    def get_metric_data(self: CloudWatchResponse) -> ActionResult:
        params = self._get_params()
        return ActionResult(
            service.get_metric_data(
                params.get("MetricDataQueries") or [],
                params["StartTime"],
                params["EndTime"],
                scan_by=params.get("ScanBy") or "TimestampDescending",
                max_datapoints=params.get("MaxDatapoints"),
                next_token=params.get("NextToken"),
                account_id=self.current_account,
                region=self.region,
            )
        )

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

    # CloudWatch evaluates alarms once a minute; so does the sandbox, on sandbox time, minute after minute even when
    # its ticker runs late (a busy machine, a long job before it).
    emulator.ticker.every("cloudwatch:evaluate-alarms", EVALUATION_SECONDS, service.evaluate_each_minute)
    return service


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
