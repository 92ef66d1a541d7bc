"""Baseline samples: a file of a model's input, checked line by line, made into Model Monitor's baseline documents.

The statistics themselves are `mlrollout.domain.drift`'s (`baseline_from_csv`, `build_baseline`,
`baseline_from_capture_lines`); this module only decides the format and refuses a sample those functions would
read silently into a wrong baseline: they skip or pad what they cannot read, which suits an hour of live traffic,
not the one file every drift alert will be measured against. Every `SampleInvalid` message names the line, the
problem and the fix.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal, get_args

from mlrollout.domain.drift import (
    CaptureReader,
    baseline_from_capture_lines,
    baseline_from_csv,
    build_baseline,
)

SampleFormat = Literal["csv", "jsonl", "capture"]
FORMATS: tuple[str, ...] = get_args(SampleFormat)
_EXTENSIONS: dict[str, SampleFormat] = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


class SampleInvalid(ValueError):
    """A sample that cannot make a baseline; the message says where, why and what to do."""


@dataclass(frozen=True)
class SampleBaseline:
    format: SampleFormat
    statistics: dict[str, Any]
    constraints: dict[str, Any]
    notes: tuple[str, ...] = ()


def decode(data: bytes) -> str:
    """The sample's text: UTF-8, with the byte-order mark spreadsheets write dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SampleInvalid(
            f"line {line} is not UTF-8 text (byte {exc.start}): save the sample as UTF-8 CSV or JSON lines"
        ) from exc


def detect_format(name: str, text: str) -> SampleFormat:
    """By extension: .csv is CSV; .jsonl, .json and .ndjson are JSON lines, read as data capture when the first
    record is one (it has a captureData object: no model has a feature of that name)."""
    found = _EXTENSIONS.get(PurePath(name).suffix.lower())
    if found is None:
        raise SampleInvalid(
            f"cannot tell the format of {name} from its extension: name it .csv or .jsonl, or pass --format "
            + "|".join(FORMATS)
        )
    if found == "jsonl":
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            record = json.loads(first)
        except ValueError:
            return found  # reported with its line number when the lines are read
        if isinstance(record, dict) and isinstance(record.get("captureData"), dict):
            return "capture"
    return found


def baseline_from_sample(text: str, sample_format: SampleFormat, *, bins: int) -> SampleBaseline:
    """statistics.json and constraints.json for a sample, or `SampleInvalid` saying what to fix."""
    if not text.strip():
        raise SampleInvalid("the sample is empty: give a file with at least one record of the model's input")
    notes: list[str] = []
    if sample_format == "csv":
        _check_csv(text)
        statistics, constraints = baseline_from_csv(text, bins=bins)
    elif sample_format == "jsonl":
        statistics, constraints = build_baseline(list(_feature_lines(text)), bins=bins)
    else:
        without_outputs = _check_capture(text)
        if without_outputs:
            notes.append(
                f"responses that are not a JSON object: {without_outputs} (no output.* features from those records)"
            )
        statistics, constraints = baseline_from_capture_lines(text.splitlines(), bins=bins)
    if not statistics["dataset"]["item_count"]:
        raise SampleInvalid("the sample has no records, only a header row: add rows of the model's input")
    if not statistics["features"]:
        raise SampleInvalid(
            "the sample's records name no features (every record is an empty object): "
            "each record must carry the model's input fields"
        )
    empty = [feature["name"] for feature in statistics["features"] if feature["inferred_type"] == "Unknown"]
    if empty:
        notes.append(f"no values in the sample for {', '.join(empty)}: drift cannot be measured on them")
    return SampleBaseline(sample_format, statistics, constraints, tuple(notes))


def _check_csv(text: str) -> None:
    """A header row naming every column once, then rows of as many cells: `baseline_from_csv` would otherwise
    pair cells with the wrong names or drop them."""
    rows = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(rows)
        names = [name.strip() for name in header]
        if not any(names):
            raise SampleInvalid("line 1 is empty: the first line of a CSV sample must be the header row")
        for column, name in enumerate(names, 1):
            if not name:
                raise SampleInvalid(f"line 1: column {column} has no name; the header row must name every column")
            if names.index(name) != column - 1:
                raise SampleInvalid(f"line 1: column {name!r} appears twice in the header row; rename one")
        for row in rows:
            if row and len(row) != len(names):
                raise SampleInvalid(
                    f"line {rows.line_num}: {len(row)} cells where the header names {len(names)} columns; "
                    "quote cells that contain a comma, or fix the row"
                )
    except csv.Error as exc:
        raise SampleInvalid(f"line {rows.line_num} is not readable CSV ({exc}); fix its quoting") from exc


def _feature_lines(text: str) -> Iterator[dict[str, object]]:
    """One JSON object per line. A line whose "features" member is an object is read as the drift monitor reads
    a captured request: the features are that object, so the baseline names what the monitor will count."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise SampleInvalid(
                f"line {number} is not JSON ({exc}): a JSON-lines sample holds one JSON object per line"
            ) from exc
        if not isinstance(record, dict):
            kind = "null" if record is None else _JSON_TYPES[type(record)]
            raise SampleInvalid(
                f'line {number} is {kind}, not an object of features: write one object per line, e.g. {{"age": 42}}'
            )
        nested = record.get("features")
        yield nested if isinstance(nested, dict) else record


def _check_capture(text: str) -> int:
    """Every line a data-capture record (the reader skips those that are not); returns how many records have a
    response that is not a JSON object."""
    without_outputs = 0
    for number, line in enumerate(text.splitlines(), 1):
        reader = CaptureReader([line])
        for _ in reader:
            pass
        if reader.malformed:
            reason = next(iter(reader.malformed_reasons))
            raise SampleInvalid(
                f"line {number} is not a SageMaker data-capture record ({reason}); if the file holds one object "
                "of features per line, pass --format jsonl"
            )
        without_outputs += reader.unreadable_outputs
    return without_outputs
