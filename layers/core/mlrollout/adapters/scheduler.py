"""EventBridge Scheduler: the builtin drift backend's schedule, one per endpoint."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.ports import DriftSchedule


class EventBridgeScheduler:
    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def upsert(self, schedule: DriftSchedule) -> None:
        arguments = {
            "Name": schedule.name,
            "GroupName": schedule.group,
            "ScheduleExpression": schedule.expression,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Description": schedule.description[:512],
            "State": "ENABLED",
            "Target": {
                "Arn": schedule.target_arn,
                "RoleArn": schedule.role_arn,
                "Input": json.dumps(schedule.payload),
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
            },
        }
        try:
            self.scheduler.create_schedule(**arguments)
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            self.scheduler.update_schedule(**arguments)

    def delete(self, name: str, group: str) -> bool:
        try:
            self.scheduler.delete_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True
