"""Step Functions: start a restore execution; read what a finished execution's states returned; list the
executions that ended, for the reconciler."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.domain.errors import TokenExpired


class StepFunctionsExecutions:
    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self.sfn = stepfunctions
        self.state_machine_arn = state_machine_arn

    def start(self, name: str, document: dict[str, Any]) -> str:
        """Start an execution by name; the same name again (a retried event) returns the first one."""
        try:
            started = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(document, default=str)
            )
        except ClientError as exc:
            if error_code(exc) != "ExecutionAlreadyExists":
                raise
            return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return str(started["executionArn"])

    def ended_since(self, since: datetime, longest: timedelta) -> list[dict[str, Any]]:
        """Executions that stopped at or after `since`, each as the detail of its "Execution Status Change" event.

        ListExecutions pages newest start first, and an execution stops at most `longest` (the state machine's
        TimeoutSeconds) after it started, so the listing ends at the first one that started before since - longest.
        """
        found: list[dict[str, Any]] = []
        oldest_start = since - longest
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            for listed in page.get("executions", []):
                if listed["startDate"] < oldest_start:
                    return found
                stopped = listed.get("stopDate")
                if stopped is None or stopped < since:
                    continue
                described = self.sfn.describe_execution(executionArn=listed["executionArn"])
                found.append(
                    {
                        key: described.get(key)
                        for key in ("executionArn", "stateMachineArn", "name", "status", "input", "output")
                    }
                    | {"error": described.get("error"), "cause": described.get("cause")}
                )
        return found

    def outputs(self, execution: str, states: list[str]) -> dict[str, dict[str, Any]]:
        """The latest output of each named state (a Lambda task's Payload), newest history first."""
        wanted, found = set(states), {}
        for page in self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution, reverseOrder=True, includeExecutionData=True
        ):
            for event in page.get("events", []):
                exited = event.get("stateExitedEventDetails")
                if not exited or exited.get("name") not in wanted or exited["name"] in found:
                    continue
                try:
                    output = json.loads(exited.get("output") or "null")
                except ValueError:
                    continue
                if isinstance(output, dict):
                    payload = output.get("Payload", output)
                    if isinstance(payload, dict):
                        found[exited["name"]] = payload
            if len(found) == len(wanted):
                break
        return found


class TaskTokens:
    """Answers to a task that waits for its token (manual approval: `mlrollout approve|reject`; the end of an
    endpoint change: Await Endpoint and the state-change handler)."""

    def __init__(self, stepfunctions: Any) -> None:
        self.sfn = stepfunctions

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self._send(self.sfn.send_task_success, taskToken=token, output=json.dumps(output, default=str))

    def fail(self, token: str, error: str, cause: str) -> None:
        self._send(self.sfn.send_task_failure, taskToken=token, error=error, cause=cause[:32768])

    @staticmethod
    def _send(call: Any, **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except ClientError as exc:
            if error_code(exc) in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}:
                raise TokenExpired(str(exc)) from exc
            raise
