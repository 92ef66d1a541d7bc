"""The EventBridge Scheduler adapter on plain moto: a drift schedule is created, then updated in place (a redeploy
sends the same name again), and deleted once; deleting one that is gone answers False."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlrollout.adapters.scheduler import EventBridgeScheduler
from mlrollout.ports import DriftSchedule

GROUP = "drift"
SCHEDULE = DriftSchedule(
    name="fraud-drift",
    group=GROUP,
    expression="rate(1 hour)",
    target_arn="arn:aws:lambda:us-east-1:123456789012:function:detect-drift",
    role_arn="arn:aws:iam::123456789012:role/scheduler",
    payload={"endpoint": "fraud", "baseline": "s3://artifacts/baselines/fraud/v1/"},
    description="drift checks for endpoint fraud",
)


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("scheduler", region_name="us-east-1")
        client.create_schedule_group(Name=GROUP)
        yield client


def test_upsert_creates_an_enabled_schedule_that_invokes_the_target_with_the_payload(scheduler: Any) -> None:
    EventBridgeScheduler(scheduler).upsert(SCHEDULE)

    stored = scheduler.get_schedule(Name="fraud-drift", GroupName=GROUP)
    assert (stored["ScheduleExpression"], stored["State"], stored["FlexibleTimeWindow"]) == (
        "rate(1 hour)",
        "ENABLED",
        {"Mode": "OFF"},
    )
    assert stored["Description"] == "drift checks for endpoint fraud"
    target = stored["Target"]
    assert (target["Arn"], target["RoleArn"]) == (SCHEDULE.target_arn, SCHEDULE.role_arn)
    assert json.loads(target["Input"]) == SCHEDULE.payload
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}


def test_upsert_of_an_existing_schedule_updates_it_in_place(scheduler: Any) -> None:
    schedules = EventBridgeScheduler(scheduler)
    schedules.upsert(SCHEDULE)
    scheduler.update_schedule(  # an operator paused it by hand
        Name="fraud-drift",
        GroupName=GROUP,
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        State="DISABLED",
        Target={"Arn": SCHEDULE.target_arn, "RoleArn": SCHEDULE.role_arn},
    )

    changed = replace(SCHEDULE, expression="cron(0 */6 * * ? *)", payload={"endpoint": "fraud", "baseline": "v2"})
    schedules.upsert(changed)

    listed = scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    assert [s["Name"] for s in listed] == ["fraud-drift"]
    stored = scheduler.get_schedule(Name="fraud-drift", GroupName=GROUP)
    assert (stored["ScheduleExpression"], stored["State"]) == ("cron(0 */6 * * ? *)", "ENABLED")
    assert json.loads(stored["Target"]["Input"]) == {"endpoint": "fraud", "baseline": "v2"}


def test_a_long_description_is_clipped_to_schedulers_512_characters(scheduler: Any) -> None:
    EventBridgeScheduler(scheduler).upsert(replace(SCHEDULE, description="d" * 600))
    assert scheduler.get_schedule(Name="fraud-drift", GroupName=GROUP)["Description"] == "d" * 512


def test_delete_answers_whether_there_was_a_schedule_to_delete(scheduler: Any) -> None:
    schedules = EventBridgeScheduler(scheduler)
    schedules.upsert(SCHEDULE)

    assert schedules.delete("fraud-drift", GROUP) is True
    with pytest.raises(ClientError) as gone:
        scheduler.get_schedule(Name="fraud-drift", GroupName=GROUP)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert schedules.delete("fraud-drift", GROUP) is False
    assert schedules.delete("fraud-drift", "no-such-group") is False
