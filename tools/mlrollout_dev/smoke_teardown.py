"""The smoke test's teardown: everything one smoke run created, deleted, and a check that nothing is left.

The stack's own resources go with the stack, except those the template retains on purpose (the artifact bucket,
the deployments table and the data key keep a real installation's history when its stack is deleted): for a
smoke run those are deleted explicitly. What the pipeline created at run time is not in the stack at all and is
found by the smoke run's unique names: the endpoint and its configs, the models, the model package group and
its versions, monitoring schedules and job definitions, drift schedules and alarms, log groups.

Every call goes through `client(service)`, so the same code tears down a real account and the sandbox. A step
that fails is recorded and the teardown goes on: at the end, `remaining` lists what is still there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.domain.naming import drift_schedule_name

# KMS never deletes a key at once: 7 days is the shortest waiting period ScheduleKeyDeletion accepts
# (https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-scheduling-key-deletion.html).
KEY_PENDING_DAYS = 7
NOT_FOUND = {
    "ResourceNotFoundException",
    "ResourceNotFound",
    "NoSuchBucket",
    "NotFoundException",
    "NoSuchEntity",
    "NotFound",
    "404",
    "StateMachineDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ValidationException",  # SageMaker's answer for an endpoint, config or model that does not exist
    "ValidationError",
}

Say = Callable[[str], None]
Client = Callable[[str], Any]


@dataclass(frozen=True)
class Resource:
    """One resource of the stack, as CloudFormation lists it."""

    logical_id: str
    type: str
    physical_id: str


@dataclass
class EndpointLife:
    """When the endpoint was created and when its deletion was seen complete (for the instance-hours)."""

    created: datetime | None = None
    deleted: datetime | None = None
    instance_type: str | None = None
    instances: int = 0


@dataclass
class TeardownResult:
    deleted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    # What the target cannot delete at all (the sandbox lacks an API), with the reason: left, and said so.
    not_emulated: list[str] = field(default_factory=list)
    endpoint: EndpointLife = field(default_factory=EndpointLife)

    @property
    def clean(self) -> bool:
        return not self.remaining and not self.problems


class Teardown:
    """Deletes one smoke run: `run()` does every step in order, whatever failed before."""

    def __init__(
        self,
        client: Client,
        *,
        stack: str,
        model: str,
        resources: list[Resource],
        delete_stack: Callable[[], list[str]],
        stack_exists: Callable[[], bool],
        now: Callable[[], datetime],
        poll_seconds: float,
        endpoint_timeout_seconds: float,
        say: Say,
        gaps: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.stack = stack
        self.model = model
        self.endpoint = model  # rollout.yaml names no endpoint: it is the model's name
        self.resources = resources
        self._delete_stack = delete_stack
        self._stack_exists = stack_exists
        self.now = now
        self.poll_seconds = poll_seconds
        self.endpoint_timeout = endpoint_timeout_seconds
        self.say = say
        self.gaps = gaps or {}
        self.result = TeardownResult()

    # the steps ------------------------------------------------------------------------------------------
    def run(self) -> TeardownResult:
        for step in (
            self.stop_executions,
            self.delete_monitoring,
            self.delete_endpoint,
            self.delete_endpoint_configs,
            self.delete_models,
            self.delete_model_packages,
            self.delete_run_time_extras,
            self.empty_buckets,
            self.delete_the_stack,
            self.delete_retained,
            self.check_nothing_is_left,
        ):
            if step.__name__ in self.gaps:
                self.result.not_emulated.append(self.gaps[step.__name__])
                continue
            try:
                step()
            except (ClientError, BotoCoreError) as exc:
                self.problem(f"{step.__name__.replace('_', ' ')}: {exc}")
        return self.result

    def stop_executions(self) -> None:
        """A rollout still running would go on changing the endpoint while it is being deleted."""
        sfn = self.client("stepfunctions")
        for machine in self._of_type("AWS::StepFunctions::StateMachine"):
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine.physical_id, statusFilter="RUNNING"
            ):
                for execution in page["executions"]:
                    self._try(
                        f"stop execution {execution['name']}",
                        partial(
                            sfn.stop_execution,
                            executionArn=execution["executionArn"],
                            cause="the smoke test is tearing down",
                        ),
                    )

    def delete_monitoring(self) -> None:
        sm = self.client("sagemaker")
        for schedule in sm.list_monitoring_schedules(EndpointName=self.endpoint).get("MonitoringScheduleSummaries", []):
            name = schedule["MonitoringScheduleName"]
            self._try(
                f"monitoring schedule {name}",
                partial(sm.delete_monitoring_schedule, MonitoringScheduleName=name),
            )
        for definition in sm.list_data_quality_job_definitions(NameContains=self.endpoint).get(
            "JobDefinitionSummaries", []
        ):
            name = definition["MonitoringJobDefinitionName"]
            if name.startswith(self.endpoint):
                self._try(
                    f"data quality job definition {name}",
                    partial(sm.delete_data_quality_job_definition, JobDefinitionName=name),
                )

    def delete_endpoint(self) -> None:
        sm = self.client("sagemaker")
        described = self._describe_endpoint()
        if described is None:
            return
        life = self.result.endpoint
        life.created = described.get("CreationTime")
        variants = described.get("ProductionVariants") or []
        life.instances = sum(int(v.get("CurrentInstanceCount") or 0) for v in variants) or len(variants)
        config = self._describe_config(str(described.get("EndpointConfigName") or ""))
        life.instance_type = next(
            (v.get("InstanceType") for v in (config or {}).get("ProductionVariants", []) if v.get("InstanceType")),
            None,
        )
        deadline = time.monotonic() + self.endpoint_timeout
        # DeleteEndpoint is refused while the endpoint is being created or updated: retry until it is accepted.
        while True:
            try:
                sm.delete_endpoint(EndpointName=self.endpoint)
                break
            except ClientError as exc:
                if self._describe_endpoint() is None:
                    break
                if time.monotonic() > deadline:
                    self.problem(f"endpoint {self.endpoint}: DeleteEndpoint refused until the deadline: {exc}")
                    return
                time.sleep(self.poll_seconds)
        # The endpoint reports Deleting for a while; its instances are billed until it is gone.
        while self._describe_endpoint() is not None:
            if time.monotonic() > deadline:
                self.problem(f"endpoint {self.endpoint} was still being deleted after {self.endpoint_timeout:.0f} s")
                return
            time.sleep(self.poll_seconds)
        life.deleted = self.now()
        self.result.deleted.append(f"SageMaker endpoint {self.endpoint}")

    def delete_endpoint_configs(self) -> None:
        sm = self.client("sagemaker")
        for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=self.endpoint):
            for config in page["EndpointConfigs"]:
                name = config["EndpointConfigName"]
                if name.startswith(self.endpoint):
                    self._try(
                        f"SageMaker endpoint config {name}",
                        partial(sm.delete_endpoint_config, EndpointConfigName=name),
                    )

    def delete_models(self) -> None:
        sm = self.client("sagemaker")
        for page in sm.get_paginator("list_models").paginate(NameContains=self.model):
            for model in page["Models"]:
                name = model["ModelName"]
                if name.startswith(self.model):
                    self._try(f"SageMaker model {name}", partial(sm.delete_model, ModelName=name))

    def delete_model_packages(self) -> None:
        """The registry group can only be deleted once it holds no versions."""
        sm = self.client("sagemaker")
        try:
            sm.describe_model_package_group(ModelPackageGroupName=self.model)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return
            raise
        for page in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=self.model):
            for package in page["ModelPackageSummaryList"]:
                arn = package["ModelPackageArn"]
                version = arn.rsplit("/", 1)[-1]
                self._try(
                    f"model package {self.model}/{version}",
                    partial(sm.delete_model_package, ModelPackageName=arn),
                )
        self._try(
            f"model package group {self.model}",
            lambda: sm.delete_model_package_group(ModelPackageGroupName=self.model),
        )

    def delete_run_time_extras(self) -> None:
        """Drift schedule and alarms (when monitoring was configured), the endpoint's log group."""
        groups = [r.physical_id for r in self._of_type("AWS::Scheduler::ScheduleGroup")]
        scheduler = self.client("scheduler")
        for group in groups:
            name = drift_schedule_name(self.endpoint)
            try:
                scheduler.delete_schedule(Name=name, GroupName=group)
                self.result.deleted.append(f"drift schedule {group}/{name}")
            except ClientError as exc:
                if error_code(exc) not in NOT_FOUND:
                    self.problem(f"drift schedule {group}/{name}: {exc}")
        cloudwatch = self.client("cloudwatch")
        ours = {r.physical_id for r in self._of_type("AWS::CloudWatch::Alarm")}
        names = [
            alarm["AlarmName"]
            for page in cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=f"{self.stack}-{self.endpoint}"
            )
            for alarm in page.get("MetricAlarms", [])
            if alarm["AlarmName"] not in ours
        ]
        for start in range(0, len(names), 100):
            batch = names[start : start + 100]
            self._try(f"{len(batch)} alarm(s)", partial(cloudwatch.delete_alarms, AlarmNames=batch))
        self._delete_log_group(f"/aws/sagemaker/Endpoints/{self.endpoint}")

    def empty_buckets(self) -> None:
        """Every version and delete marker (the artifact bucket is versioned): a bucket must be empty to go."""
        for bucket in self._of_type("AWS::S3::Bucket"):
            if self._bucket_exists(bucket.physical_id):
                count = self._empty_bucket(bucket.physical_id)
                self.result.deleted.append(f"{count} object version(s) in s3://{bucket.physical_id}")

    def delete_the_stack(self) -> None:
        if not self._stack_exists():
            return
        self.say(f"deleting stack {self.stack}")
        problems = self._delete_stack()
        for problem in problems:
            self.problem(f"stack {self.stack}: {problem}")
        if not problems:
            self.result.deleted.append(f"stack {self.stack} ({len(self.resources)} resources)")

    def delete_retained(self) -> None:
        """What the stack keeps on deletion (DeletionPolicy: Retain), and the functions' own log groups."""
        for resource in self.resources:
            kind, name = resource.type, resource.physical_id
            if kind == "AWS::S3::Bucket" and self._bucket_exists(name):
                self._empty_bucket(name)
                self._try(f"bucket {name}", partial(self.client("s3").delete_bucket, Bucket=name))
            elif kind == "AWS::DynamoDB::Table" and self._table_exists(name):
                self._try(f"table {name}", partial(self.client("dynamodb").delete_table, TableName=name))
            elif kind == "AWS::KMS::Key" and self._key_state(name) not in {None, "PendingDeletion"}:
                self._try(
                    f"KMS key {name} (scheduled for deletion in {KEY_PENDING_DAYS} days, the shortest wait KMS allows)",
                    partial(self.client("kms").schedule_key_deletion, KeyId=name, PendingWindowInDays=KEY_PENDING_DAYS),
                )
            elif kind == "AWS::Logs::LogGroup":
                self._delete_log_group(name)
            elif kind == "AWS::Lambda::Function":
                self._delete_log_group(f"/aws/lambda/{name}")

    def check_nothing_is_left(self) -> None:
        remaining = self.result.remaining
        if self._stack_exists():
            remaining.append(f"stack {self.stack}")
        if self._describe_endpoint() is not None:
            remaining.append(f"SageMaker endpoint {self.endpoint}")
        sm = self.client("sagemaker")
        remaining.extend(
            f"SageMaker endpoint config {c['EndpointConfigName']}"
            for c in sm.list_endpoint_configs(NameContains=self.endpoint)["EndpointConfigs"]
            if c["EndpointConfigName"].startswith(self.endpoint)
        )
        remaining.extend(
            f"SageMaker model {m['ModelName']}"
            for m in sm.list_models(NameContains=self.model)["Models"]
            if m["ModelName"].startswith(self.model)
        )
        try:
            sm.describe_model_package_group(ModelPackageGroupName=self.model)
            if "delete_model_packages" not in self.gaps:
                remaining.append(f"model package group {self.model}")
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND:
                raise
        for resource in self.resources:
            if self._exists(resource):
                remaining.append(f"{resource.type} {resource.physical_id} ({resource.logical_id})")

    # helpers ----------------------------------------------------------------------------------------------
    def problem(self, text: str) -> None:
        self.result.problems.append(text)
        self.say(f"could not delete: {text}")

    def _try(self, what: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND:
                self.problem(f"{what}: {exc}")
            return
        self.result.deleted.append(what)

    def _of_type(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.type == kind]

    def _describe_endpoint(self) -> dict[str, Any] | None:
        try:
            return dict(self.client("sagemaker").describe_endpoint(EndpointName=self.endpoint))
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise

    def _describe_config(self, name: str) -> dict[str, Any] | None:
        if not name:
            return None
        try:
            return dict(self.client("sagemaker").describe_endpoint_config(EndpointConfigName=name))
        except ClientError:
            return None

    def _bucket_exists(self, name: str) -> bool:
        try:
            self.client("s3").head_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return False
            raise
        return True

    def _empty_bucket(self, name: str) -> int:
        s3 = self.client("s3")
        count = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(doomed), 1000):  # DeleteObjects takes up to 1,000 keys
                batch = doomed[start : start + 1000]
                answer = s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
                for error in answer.get("Errors", []):
                    self.problem(f"s3://{name}/{error.get('Key')} ({error.get('VersionId')}): {error.get('Message')}")
                count += len(batch) - len(answer.get("Errors", []))
        return count

    def _table_exists(self, name: str) -> bool:
        try:
            self.client("dynamodb").describe_table(TableName=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return False
            raise
        return True

    def _key_state(self, key: str) -> str | None:
        try:
            return str(self.client("kms").describe_key(KeyId=key)["KeyMetadata"]["KeyState"])
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise

    def _log_group_exists(self, name: str) -> bool:
        groups = self.client("logs").describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
        return any(g["logGroupName"] == name for g in groups)

    def _delete_log_group(self, name: str) -> None:
        if self._log_group_exists(name):
            self._try(f"log group {name}", lambda: self.client("logs").delete_log_group(logGroupName=name))

    def _exists(self, resource: Resource) -> bool:
        """Whether a resource of the stack is still there (types we cannot check count as gone with the stack)."""
        kind, name = resource.type, resource.physical_id
        try:
            if kind == "AWS::S3::Bucket":
                return self._bucket_exists(name)
            if kind == "AWS::DynamoDB::Table":
                return self._table_exists(name)
            if kind == "AWS::KMS::Key":
                return self._key_state(name) not in {None, "PendingDeletion"}
            if kind == "AWS::Logs::LogGroup":
                return self._log_group_exists(name)
            if kind == "AWS::Lambda::Function":
                self.client("lambda").get_function_configuration(FunctionName=name)
                return True
            if kind == "AWS::StepFunctions::StateMachine":
                self.client("stepfunctions").describe_state_machine(stateMachineArn=name)
                return True
            if kind == "AWS::SNS::Topic":
                self.client("sns").get_topic_attributes(TopicArn=name)
                return True
            if kind == "AWS::SQS::Queue":
                self.client("sqs").get_queue_attributes(QueueUrl=name, AttributeNames=["QueueArn"])
                return True
            if kind == "AWS::IAM::Role":
                self.client("iam").get_role(RoleName=name)
                return True
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND or "does not exist" in str(exc) or "not found" in str(exc).lower():
                return False
            raise
        return False
