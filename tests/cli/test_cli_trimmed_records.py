"""The CLI reads a deployment record that keeps only its last decisions (adapters/ledger.py, DECISIONS_KEPT): costs
are computed from every look's record in S3, and counts come from `decisions_total`. Against plain moto."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.artifacts import S3Artifacts
from mlrollout_cli.cost import _look_records


@pytest.fixture
def artifacts() -> Iterator[S3Artifacts]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        yield S3Artifacts(s3)


def look_uri(look: int) -> str:
    return f"s3://artifacts/decisions/d-1/step-01/look-{look:03d}.json"


def test_costs_read_every_looks_record_when_the_record_keeps_only_the_last(artifacts: S3Artifacts) -> None:
    for look in range(1, 31):
        artifacts.put_json("artifacts", look_uri(look).removeprefix("s3://artifacts/"), {"look": look})
    kept = [{"record": look_uri(look)} for look in range(21, 31)]
    record = {"deployment_id": "d-1", "decisions": kept, "decisions_total": 30}
    uris = _look_records(artifacts, record)
    assert uris == [look_uri(look) for look in range(1, 31)]
    assert json.loads(json.dumps(artifacts.read_json(str(uris[0])))) == {"look": 1}


def test_a_whole_record_is_read_as_it_is(artifacts: S3Artifacts) -> None:
    decisions = [{"record": look_uri(1)}, {"record": None}]
    assert _look_records(artifacts, {"deployment_id": "d-1", "decisions": decisions}) == [look_uri(1), None]


def test_following_a_rollout_shows_each_decision_once_when_the_record_keeps_only_the_last() -> None:
    from mlrollout_cli.records import decisions_since, decisions_total

    def record(total: int, kept: int = 20) -> dict[str, object]:
        return {"decisions": [{"looks": n} for n in range(max(total - kept, 0), total)], "decisions_total": total}

    shown, seen = 0, []
    for total in (3, 19, 20, 21, 35, 35, 60):  # the record as `mlrollout publish` sees it at each poll
        seen += [d["looks"] for d in decisions_since(record(total), shown)]
        shown = decisions_total(record(total))
    # every decision the record still held when it was read is shown, once, in order: 35..39 had left the record
    # before the poll that saw 60 (their full records are in S3)
    assert seen == [*range(35), *range(40, 60)]
    assert decisions_since({"decisions": [{"looks": 0}]}, 0) == [{"looks": 0}]  # a record from before the count


def test_a_follower_prints_a_repeated_look_once_and_then_how_many_times_it_came_again() -> None:
    from mlrollout_cli.records import DecisionLines

    def look(minute: int, verdict: str = "INCONCLUSIVE", action: str = "hold", step: int = 0) -> dict[str, object]:
        return {
            "step": step,
            "weight": 10,
            "verdict": verdict,
            "action": action,
            "at": f"2026-12-07T10:{minute:02d}:00+00:00",
            "reason": f"not worse so far over {minute * 100} requests",
        }

    lines, printed = DecisionLines(), []
    for decision in [look(1), *(look(m) for m in range(2, 40)), look(40, "PASS", "advance"), look(41, step=1)]:
        printed += lines.add(decision)
    printed += lines.flush()
    assert printed == [
        "step 1 at 10%: INCONCLUSIVE, hold: not worse so far over 100 requests",
        "  … the same 38 more times, the last at 10:39: not worse so far over 3900 requests",
        "step 1 at 10%: PASS, advance: not worse so far over 4000 requests",
        "step 2 at 10%: INCONCLUSIVE, hold: not worse so far over 4100 requests",
    ]
    assert lines.flush() == []  # nothing is counted twice
    once = DecisionLines()
    assert once.add(look(1)) + once.add(look(2)) + once.flush() == [
        "step 1 at 10%: INCONCLUSIVE, hold: not worse so far over 100 requests",
        "  … the same once more, the last at 10:02: not worse so far over 200 requests",
    ]
