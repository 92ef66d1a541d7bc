"""Shared fixtures: the embedded AWS, the function environment, handlers loaded from functions/, artifacts."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support import FUNCTIONS, IMAGE, ROOT, make_tarball, s3_event, table_from_template


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers = {
        "handlers": "aws",
        "adapters": "aws",
        "static": "static",
        "statemachine": "statemachine",
        "sandbox": "sandbox",
        "reliability": "sandbox",
    }
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in tiers:
            item.add_marker(getattr(pytest.mark, tiers[parts[0]]))


@pytest.fixture(scope="module")
def embedded_aws() -> Iterator[Any]:
    """One embedded AWS per test module (the emulator patches moto process-wide: one instance at a time),
    at a warp where a 3-minute endpoint creation takes 0.18 s."""
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.server import EmbeddedAws

    with EmbeddedAws(SandboxClock(warp=1000)) as aws:
        yield aws


@dataclass
class Stack:
    """The resources the functions' environment names, created fresh for each test."""

    aws: Any
    bucket: str
    topic_arn: str
    inbox_url: str
    role_arn: str
    state_table: str
    schedule_group: str
    deployments_table: str

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def messages(self) -> list[dict[str, Any]]:
        """Everything published to the alerts topic, as the SQS subscriber received it."""
        sqs = self.client("sqs")
        received: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def stack(embedded_aws: Any, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A bucket, an alerts topic with an SQS inbox, a SageMaker role; the functions' environment points at them."""
    from mlrollout import wiring
    from mlrollout.adapters import aws as aws_clients

    suffix = uuid.uuid4().hex[:8]
    s3 = embedded_aws.client("s3")
    bucket = f"artifacts-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    sns = embedded_aws.client("sns")
    topic_arn = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    sqs = embedded_aws.client("sqs")
    inbox_url = sqs.create_queue(QueueName=f"inbox-{suffix}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    role_arn = embedded_aws.client("iam").create_role(
        RoleName=f"sagemaker-{suffix}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    state_table = f"state-{suffix}"
    embedded_aws.client("dynamodb").create_table(**table_from_template("StateTable", state_table))
    deployments_table = f"deployments-{suffix}"
    embedded_aws.client("dynamodb").create_table(**table_from_template("DeploymentsTable", deployments_table))
    schedule_group = f"drift-{suffix}"
    embedded_aws.client("scheduler").create_schedule_group(Name=schedule_group)

    for key, value in {
        **embedded_aws.environment(),
        "STACK_NAME": f"test-{suffix}",
        "ARTIFACT_BUCKET": bucket,
        "ALERTS_TOPIC_ARN": topic_arn,
        "SAGEMAKER_ROLE_ARN": role_arn,
        "STATE_TABLE": state_table,
        "DEPLOYMENTS_TABLE": deployments_table,
        "ROLLOUT_STATE_MACHINE_ARN": f"arn:aws:states:us-east-1:123456789012:stateMachine:rollout-{suffix}",
        "SCHEDULE_GROUP": schedule_group,
        "DRIFT_FUNCTION_ARN": f"arn:aws:lambda:us-east-1:123456789012:function:detect-drift-{suffix}",
        "SCHEDULER_ROLE_ARN": role_arn,
        "POWERTOOLS_SERVICE_NAME": "mlrollout",
        "POWERTOOLS_METRICS_NAMESPACE": "mlrollout",
    }.items():
        monkeypatch.setenv(key, value)
    # Clients and adapters are cached per container; a test process is one container per test.
    aws_clients.client.cache_clear()
    aws_clients._session.cache_clear()
    for name in dir(wiring):
        factory = getattr(wiring, name)
        if hasattr(factory, "cache_clear"):
            factory.cache_clear()
    return Stack(embedded_aws, bucket, topic_arn, inbox_url, role_arn, state_table, schedule_group, deployments_table)


_HANDLERS: dict[str, ModuleType] = {}


@pytest.fixture
def handler() -> Callable[[str], Callable[[dict[str, Any]], Any]]:
    """`handler("validate_artifact")(event)` invokes functions/validate_artifact/app.py as Lambda would."""

    def load(name: str) -> Callable[[dict[str, Any]], Any]:
        if name not in _HANDLERS:
            spec = importlib.util.spec_from_file_location(f"fn_{name}", FUNCTIONS / name / "app.py")
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _HANDLERS[name] = module
        module = _HANDLERS[name]

        def invoke(event: dict[str, Any]) -> Any:
            # Settings are parsed, and the adapters built from them, once per container; a test that changes the
            # environment between invocations stands for a configuration update, which Lambda serves from new
            # containers.
            from mlrollout import wiring
            from mlrollout.settings import get_settings

            get_settings.cache_clear()
            for factory in vars(wiring).values():
                if hasattr(factory, "cache_clear"):
                    factory.cache_clear()
            return module.lambda_handler(json.loads(json.dumps(event, default=str)), LambdaContextStub(name))

        return invoke

    return load


class LambdaContextStub:
    """The context attributes Powertools reads; handlers themselves do not use the context."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def upload(stack: Stack) -> Callable[..., dict[str, Any]]:
    """Put rollout.yaml and an artifact in the stack's bucket; returns the S3 event for the artifact."""

    def put(
        model: str = "fraud-scorer",
        version: str = "v1",
        *,
        config: str | None = f"image: {IMAGE}\n",
        artifact: bytes | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        s3 = stack.client("s3")
        if config is not None:
            s3.put_object(Bucket=stack.bucket, Key=f"models/{model}/rollout.yaml", Body=config.encode())
        body = artifact if artifact is not None else make_tarball({"model.json": json.dumps({"v": version}).encode()})
        key = f"models/{model}/{version}/model.tar.gz"
        put_result = s3.put_object(Bucket=stack.bucket, Key=key, Body=body, Metadata=metadata or {})
        return s3_event(stack.bucket, key, put_result.get("VersionId"), len(body))

    return put
