"""The sandbox as one object: embedded AWS, the deployed stack, the data plane, Model Monitor, a Slack stand-in.

    with Sandbox(warp=600) as sandbox:
        sandbox.put_config("fraud-scorer", "image: ...")
        upload = sandbox.upload("fraud-scorer", "v1", artifact_bytes)
        outcome = sandbox.wait_for_rollout(upload)

Everything the product does happens for real inside: the S3 upload emits the EventBridge event, the rule
starts the state machine from statemachines/rollout.asl.json, the handlers from functions/ run, SageMaker
(emulated) changes the endpoint, the data plane serves traffic and writes metrics, the judge reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.dataplane import DataPlane, TrafficProfile
from mlrollout_sandbox.server import EmbeddedAws
from mlrollout_sandbox.slack import SlackStandIn

# The application the sandbox deploys: template.yaml and what it names (functions/, layers/, statemachines/). It is
# the repository, not the Python package: `application_root()` finds it.
APP_VARIABLE = "MLROLLOUT_APP"
INSTALLED_FROM = Path(__file__).resolve().parents[2]  # the checkout, for an editable install (or a source tree)
DEMO_MODELS = Path(__file__).resolve().parent / "demo_models"
OPERATOR_EMAIL = "operators@example.com"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class ApplicationNotFound(RuntimeError):
    """No mlrollout application (template.yaml beside functions/) where the sandbox looked: `what` says where it
    looked, `fix` how to point at one."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what, self.fix = what, fix


def _is_application(folder: Path) -> bool:
    return (folder / "template.yaml").is_file() and (folder / "functions").is_dir()


def application_root() -> Path:
    """The mlrollout application the sandbox deploys: $MLROLLOUT_APP, else the checkout this package is installed
    from (an editable install), else the current directory or the nearest one above it that holds the application
    (a clone, with the CLI installed from anywhere)."""
    named = os.environ.get(APP_VARIABLE)
    if named:
        if _is_application(Path(named)):
            return Path(named).resolve()
        raise ApplicationNotFound(
            f"{APP_VARIABLE}={named} is not an mlrollout application (no template.yaml beside functions/ there)",
            f"point {APP_VARIABLE} at a clone of the mlrollout repository",
        )
    here = Path.cwd().resolve()
    for folder in (INSTALLED_FROM, here, *here.parents):
        if _is_application(folder):
            return folder
    raise ApplicationNotFound(
        "the sandbox deploys the mlrollout application (template.yaml, functions/, layers/, statemachines/), and "
        f"none was found in {here} or above it, nor where this package is installed",
        f"run from a clone of the mlrollout repository, or set {APP_VARIABLE} to one",
    )


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str | None
    uploaded_at: datetime


@dataclass
class RolloutOutcome:
    upload: Upload
    execution_arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    started: datetime
    stopped: datetime | None
    wall_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.status == "SUCCEEDED":  # promoted, or a duplicate / superseded upload that deployed nothing
            return str((self.output or {}).get("outcome") or "promoted")
        return {"RolledBack": "rolled back", "Rejected": "rejected", "RollbackFailed": "rollback failed"}.get(
            self.error or "", (self.error or self.status).lower()
        )

    @property
    def virtual_seconds(self) -> float:
        return (self.stopped - self.started).total_seconds() if self.stopped else 0.0

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def task_results(self, state: str) -> list[dict[str, Any]]:
        """Payloads the Lambda behind `state` returned, in order (from the execution history)."""
        results, current = [], None
        for event in self.history:
            if "stateEnteredEventDetails" in event:
                current = event["stateEnteredEventDetails"]["name"]
            elif event["type"] == "TaskSucceeded" and current == state:
                output = json.loads(event["taskSucceededEventDetails"]["output"])
                results.append(output.get("Payload", output))
        return results


class Sandbox:
    def __init__(
        self,
        *,
        warp: float = 600.0,
        seed: int = 7,
        stack_name: str = "mlrollout",
        parameters: dict[str, str] | None = None,
        port: int = 0,
        template: Path | None = None,
    ) -> None:
        self.clock = SandboxClock(warp=warp)
        self.template = template or application_root() / "template.yaml"
        self.seed = seed
        self.stack_name = stack_name
        self.parameters = parameters or {}
        self.port = port
        self.aws: EmbeddedAws | None = None
        self.slack: SlackStandIn | None = None
        self.dataplane: DataPlane | None = None
        self.monitor: Any = None
        self.stack: Any = None
        self._inbox_url = ""
        self._received: list[dict[str, Any]] = []

    # lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        from mlrollout_sandbox.deployer import deploy_template
        from mlrollout_sandbox.emulator import monitor

        try:
            self.aws = EmbeddedAws(self.clock, port=self.port).start()
            self.slack = SlackStandIn().start()
            parameters = {
                "AlertEmail": OPERATOR_EMAIL,
                "SlackWebhookUrl": self.slack.url,
                **self.parameters,
            }
            self.stack = deploy_template(self.aws, self.template, stack_name=self.stack_name, parameters=parameters)
            self.dataplane = DataPlane(self.aws, seed=self.seed).start()
            # Capture is flushed to S3 every 5 sandbox minutes: analyse an hour once its last file is written.
            self.monitor = monitor.install(self.aws.emulator, start_delay_seconds=300)
            self._subscribe_inbox()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for closer in (
            self.dataplane.stop if self.dataplane else None,
            getattr(self.monitor, "close", None),
            self.aws.stop if self.aws else None,  # ends the Lambda execution environments too
            self.slack.stop if self.slack else None,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer()
        self.dataplane = None
        self.slack = None
        self.aws = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # what users do ----------------------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return str(self.stack.output("ArtifactBucketName"))

    @property
    def state_machine_arn(self) -> str:
        return str(self.stack.output("RolloutStateMachineArn"))

    def client(self, service: str) -> Any:
        assert self.aws is not None, "the sandbox is not running"
        return self.aws.client(service)

    def put_config(self, model: str, text: str) -> None:
        self.client("s3").put_object(Bucket=self.bucket, Key=f"models/{model}/rollout.yaml", Body=text.encode())

    def put_object(self, key: str, body: bytes) -> None:
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)

    def upload(
        self,
        model: str,
        version: str,
        artifact: bytes,
        metadata: dict[str, str] | None = None,
        *,
        key: str | None = None,
    ) -> Upload:
        key = key or f"models/{model}/{version}/model.tar.gz"
        uploaded_at = self.clock.now()
        result = self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=artifact, Metadata=metadata or {})
        return Upload(self.bucket, key, result.get("VersionId"), uploaded_at)

    def send_traffic(self, endpoint: str, profile: TrafficProfile) -> None:
        assert self.dataplane is not None
        self.dataplane.send_traffic(endpoint, profile)

    def find_execution(self, upload: Upload, timeout: float = 30.0) -> str:
        """The execution EventBridge started for this upload (matched on key and object version); the first
        one if a duplicate delivery started more."""
        return self.find_executions(upload, timeout)[0]

    def find_executions(self, upload: Upload, timeout: float = 30.0, *, at_least: int = 1) -> list[str]:
        """Every execution started for this upload, oldest first (several when EventBridge delivered twice)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = []
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
                for execution in page["executions"]:
                    described = sfn.describe_execution(executionArn=execution["executionArn"])
                    detail = json.loads(described.get("input") or "{}").get("detail", {})
                    obj = detail.get("object", {})
                    if obj.get("key") == upload.key and obj.get("version-id") == upload.version_id:
                        found.append((described["startDate"], str(execution["executionArn"])))
            if len(found) >= at_least:
                return [arn for _, arn in sorted(found)]
            time.sleep(0.05)
        raise TimeoutError(f"no rollout started for s3://{upload.bucket}/{upload.key} within {timeout} s")

    def wait_for_rollout(
        self, upload: Upload, timeout: float = 120.0, *, execution: str | None = None
    ) -> RolloutOutcome:
        began = time.monotonic()
        arn = execution or self.find_execution(upload)
        sfn = self.client("stepfunctions")
        deadline = began + timeout
        while True:
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"rollout {arn} still {described['status']} after {timeout} s")
            time.sleep(0.05)
        history: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            history.extend(page["events"])
        return RolloutOutcome(
            upload=upload,
            execution_arn=arn,
            status=described["status"],
            output=json.loads(described["output"]) if described.get("output") else None,
            error=described.get("error"),
            cause=described.get("cause"),
            started=described["startDate"],
            stopped=described.get("stopDate"),
            wall_seconds=time.monotonic() - began,
            history=history,
        )

    def advance(self, virtual_seconds: float) -> None:
        """Let sandbox time pass (traffic flows, schedules fire, alarms evaluate)."""
        self.clock.sleep(virtual_seconds)

    # what operators receive -------------------------------------------------------------------------------
    def _subscribe_inbox(self) -> None:
        sqs, sns = self.client("sqs"), self.client("sns")
        self._inbox_url = sqs.create_queue(QueueName=f"{self.stack_name}-operator-inbox-{uuid.uuid4().hex[:6]}")[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=self._inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.stack.output("AlertsTopicArn"), Protocol="sqs", Endpoint=arn)

    def alerts(self) -> list[dict[str, Any]]:
        """Every message the alerts topic delivered so far (SNS envelope: Subject, Message, attributes)."""
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self._inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return list(self._received)
            for message in batch:
                self._received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._inbox_url, ReceiptHandle=message["ReceiptHandle"])

    def emails(self) -> list[Any]:
        assert self.aws is not None
        return list(self.aws.emulator.services["sns"].outbox)

    def slack_posts(self) -> list[Any]:
        return list(self.slack.posts) if self.slack else []

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for asynchronous deliveries (SNS to Lambda, EventBridge targets) to finish."""
        assert self.aws is not None
        self.aws.emulator.services["sns"].drain(timeout)

    def environment(self) -> dict[str, str]:
        assert self.aws is not None
        return {
            **self.aws.environment(),
            "MLROLLOUT_BUCKET": self.bucket,
            "MLROLLOUT_STATE_MACHINE": self.state_machine_arn,
            "MLROLLOUT_DEPLOYMENTS_TABLE": self.stack.physical("DeploymentsTable"),
            "MLROLLOUT_STATE_TABLE": self.stack.physical("StateTable"),
            "MLROLLOUT_ENDPOINT_CHANGED_FUNCTION": self.stack.physical("EndpointChangedFunction"),
            # Where operators' messages land in the sandbox (`mlrollout sandbox alerts` reads both): the alerts
            # topic's SQS subscription, and the Slack stand-in's posts.
            "MLROLLOUT_ALERTS_QUEUE_URL": self._inbox_url,
            **({"MLROLLOUT_SLACK_POSTS_URL": self.slack.posts_url} if self.slack else {}),
        }
