"""Model Monitor's baselining job in the sandbox, seen through boto3 the way the sagemaker SDK sees it.

The requests are the ones `DefaultModelMonitor.suggest_baseline` sends (recorded from sagemaker 2.257.7): the
analyzer image, the baselining environment, one input at /opt/ml/processing/input/baseline_dataset_input and
one output at /opt/ml/processing/output. The expected numbers are worked out by hand from the samples below.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout.domain.drift import build_baseline, read_baseline
from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator.processing import DEFAULT_RUN_SECONDS, DEFAULT_STARTUP_SECONDS
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
DATASET_PATH = "/opt/ml/processing/input/baseline_dataset_input"
OUTPUT_PATH = "/opt/ml/processing/output"
CSV_FORMAT = json.dumps({"csv": {"header": True, "output_columns_position": "START"}})
JSONL_FORMAT = json.dumps({"json": {"lines": True}})
CSV_SAMPLE = "age,country,score\n34,FR,0.5\n41,DE,0.25\n,FR,1.0\n29,US,\n"
# The same records as CSV_SAMPLE reads them: integers, floats, strings, an empty cell missing.
CSV_RECORDS = [
    {"age": 34, "country": "FR", "score": 0.5},
    {"age": 41, "country": "DE", "score": 0.25},
    {"age": None, "country": "FR", "score": 1.0},
    {"age": 29, "country": "US", "score": None},
]
JOB_SECONDS = DEFAULT_STARTUP_SECONDS + DEFAULT_RUN_SECONDS
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=600)) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def role(aws: EmbeddedAws) -> str:
    created = aws.client("iam").create_role(RoleName="monitor", AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    return str(created["Role"]["Arn"])


@pytest.fixture
def bucket(aws: EmbeddedAws) -> str:
    name = f"baselining-{uuid.uuid4().hex[:8]}"
    aws.client("s3").create_bucket(Bucket=name)
    return name


def put(aws: EmbeddedAws, bucket: str, key: str, body: str | bytes) -> str:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return f"s3://{bucket}/{key}"


def baselining_request(
    role: str, dataset: str, output: str, *, dataset_format: str = CSV_FORMAT, image: str = ANALYZER
) -> dict[str, Any]:
    """CreateProcessingJob as suggest_baseline sends it."""
    return {
        "ProcessingJobName": f"baseline-suggestion-job-{uuid.uuid4().hex[:12]}",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
        },
        "AppSpecification": {"ImageUri": image},
        "RoleArn": role,
        "ProcessingInputs": [
            {
                "InputName": "baseline_dataset_input",
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": dataset,
                    "LocalPath": DATASET_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "monitoring_output",
                    "AppManaged": False,
                    "S3Output": {"S3Uri": output, "LocalPath": OUTPUT_PATH, "S3UploadMode": "EndOfJob"},
                }
            ]
        },
        "Environment": {
            "output_path": OUTPUT_PATH,
            "publish_cloudwatch_metrics": "Disabled",
            "dataset_format": dataset_format,
            "dataset_source": DATASET_PATH,
        },
    }


def create(aws: EmbeddedAws, request: dict[str, Any]) -> str:
    aws.client("sagemaker").create_processing_job(**request)
    return str(request["ProcessingJobName"])


def describe(aws: EmbeddedAws, name: str) -> dict[str, Any]:
    described = aws.client("sagemaker").describe_processing_job(ProcessingJobName=name)
    described.pop("ResponseMetadata")
    return dict(described)


def ended(aws: EmbeddedAws, name: str, seconds: float = JOB_SECONDS) -> dict[str, Any]:
    aws.clock.sleep(seconds + 1)
    return describe(aws, name)


def slow_jobs(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, startup: float, run: float) -> None:
    """Durations for the jobs created next, long enough that a busy machine cannot skip a state in between."""
    service = aws.emulator.services["processing"]
    monkeypatch.setattr(service, "startup_seconds", startup)
    monkeypatch.setattr(service, "run_seconds", run)


def s3_json(aws: EmbeddedAws, bucket: str, key: str) -> Any:
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def keys(aws: EmbeddedAws, bucket: str, prefix: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def state_changes(aws: EmbeddedAws, name: str) -> list[dict[str, Any]]:
    return [
        event
        for event in aws.emulator.services["events"].emitted
        if event["detail-type"] == "SageMaker Processing Job State Change"
        and event["detail"]["ProcessingJobName"] == name
    ]


# ------------------------------------------------------------------------------------------------ running


def test_a_baselining_job_runs_on_sandbox_time_and_writes_the_baseline(
    aws: EmbeddedAws, role: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    startup, run = 300.0, 1200.0  # half a second, then two, at warp 600
    slow_jobs(aws, monkeypatch, startup, run)
    dataset = put(aws, bucket, "samples/fraud.csv", CSV_SAMPLE)
    request = baselining_request(role, dataset, f"s3://{bucket}/baselines/fraud")

    # Sandbox time at wall-clock speed while the job is looked at before it starts (its 300 s are half a second at
    # warp 600: a loaded machine once took longer between the create and the describe, and saw it started).
    warp = aws.clock.warp
    aws.clock.set_warp(1.0)
    try:
        before = aws.clock.now()
        name = create(aws, request)
        running = describe(aws, name)
    finally:
        aws.clock.set_warp(warp)

    assert running["ProcessingJobStatus"] == "InProgress"
    created = running["CreationTime"]
    assert before - timedelta(seconds=1) <= created <= aws.clock.now()
    assert "ProcessingEndTime" not in running and "ProcessingStartTime" not in running
    assert "ExitMessage" not in running and "FailureReason" not in running
    # What moto drops and DescribeProcessingJob shows.
    assert running["Environment"] == request["Environment"]
    assert running["ProcessingResources"] == request["ProcessingResources"]
    assert keys(aws, bucket, "baselines/") == []

    aws.clock.sleep(startup + 1)
    started = describe(aws, name)
    assert started["ProcessingJobStatus"] == "InProgress"
    assert started["ProcessingStartTime"] == created + timedelta(seconds=startup)

    done = ended(aws, name, run)
    assert done["ProcessingJobStatus"] == "Completed"
    assert done["ExitMessage"] == "Completed: Job completed successfully with no violations."
    assert done["ProcessingEndTime"] == created + timedelta(seconds=startup + run)
    assert done["LastModifiedTime"] == done["ProcessingEndTime"]
    assert "FailureReason" not in done
    listed = aws.client("sagemaker").list_processing_jobs(StatusEquals="Completed")["ProcessingJobSummaries"]
    assert name in [summary["ProcessingJobName"] for summary in listed]

    assert keys(aws, bucket, "baselines/") == ["baselines/fraud/constraints.json", "baselines/fraud/statistics.json"]
    statistics = s3_json(aws, bucket, "baselines/fraud/statistics.json")
    constraints = s3_json(aws, bucket, "baselines/fraud/constraints.json")
    assert (statistics, constraints) == build_baseline(CSV_RECORDS)
    baseline = read_baseline(statistics, constraints)
    assert baseline.item_count == 4
    age, country, score = (baseline.features[f] for f in ("age", "country", "score"))
    assert (age.inferred_type, age.num_present, age.num_missing) == ("Integral", 3, 1)
    assert (score.inferred_type, score.num_present, score.num_missing) == ("Fractional", 3, 1)
    by_name = {feature["name"]: feature for feature in statistics["features"]}
    assert math.isclose(by_name["age"]["numerical_statistics"]["mean"], (34 + 41 + 29) / 3)
    assert math.isclose(by_name["score"]["numerical_statistics"]["sum"], 0.5 + 0.25 + 1.0)
    assert dict(country.categories) == {"FR": 2.0, "DE": 1.0, "US": 1.0}


def test_each_status_change_sends_its_state_change_event(aws: EmbeddedAws, role: str, bucket: str) -> None:
    name = create(aws, baselining_request(role, put(aws, bucket, "s.csv", CSV_SAMPLE), f"s3://{bucket}/out"))
    done = ended(aws, name)

    events = state_changes(aws, name)
    assert [e["detail"]["ProcessingJobStatus"] for e in events] == ["InProgress", "Completed"]
    completed = events[1]
    assert completed["source"] == "aws.sagemaker"
    assert completed["resources"] == [done["ProcessingJobArn"]]
    assert completed["detail"]["ExitMessage"] == done["ExitMessage"]
    assert completed["detail"]["ProcessingEndTime"] == round(done["ProcessingEndTime"].timestamp() * 1000)
    assert completed["detail"]["Environment"]["dataset_source"] == DATASET_PATH


def test_every_object_under_the_prefix_is_read(aws: EmbeddedAws, role: str, bucket: str) -> None:
    put(aws, bucket, "data/part-1.jsonl", '{"amount": 10, "channel": "web"}\n{"amount": 30, "channel": "app"}\n')
    put(aws, bucket, "data/part-2.jsonl", '{"features": {"amount": 20.5, "channel": "web"}}\n')
    request = baselining_request(role, f"s3://{bucket}/data/", f"s3://{bucket}/out/", dataset_format=JSONL_FORMAT)

    assert ended(aws, create(aws, request))["ProcessingJobStatus"] == "Completed"

    baseline = read_baseline(s3_json(aws, bucket, "out/statistics.json"), s3_json(aws, bucket, "out/constraints.json"))
    assert baseline.item_count == 3
    assert baseline.features["amount"].inferred_type == "Fractional"
    assert dict(baseline.features["channel"].categories) == {"web": 2.0, "app": 1.0}


# --------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("a,b\n1,2\n3\n", "AlgorithmError: s3://{bucket}/bad/sample.csv: line 3: 1 cells where the header names 2"),
        ("", "AlgorithmError: s3://{bucket}/bad/sample.csv: the sample is empty"),
        (
            "city\nParis\nSão Paulo\n".encode("latin-1"),
            "AlgorithmError: s3://{bucket}/bad/sample.csv: line 3 is not UTF-8 text",
        ),
        (None, 'ClientError: No S3 objects found under S3 URL "s3://{bucket}/bad/sample.csv" given in input data'),
    ],
    ids=["short-row", "empty", "latin-1", "no-object"],
)
def test_a_dataset_that_cannot_be_read_fails_the_job_saying_why(
    aws: EmbeddedAws, role: str, bucket: str, content: str | bytes | None, reason: str
) -> None:
    dataset = f"s3://{bucket}/bad/sample.csv"
    if content is not None:
        put(aws, bucket, "bad/sample.csv", content)
    name = create(aws, baselining_request(role, dataset, f"s3://{bucket}/out"))

    failed = ended(aws, name)

    assert failed["ProcessingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith(reason.format(bucket=bucket)), failed["FailureReason"]
    assert failed["ProcessingEndTime"] == failed["CreationTime"] + timedelta(seconds=JOB_SECONDS)
    assert "ExitMessage" not in failed
    assert keys(aws, bucket, "out") == []
    assert [e["detail"]["ProcessingJobStatus"] for e in state_changes(aws, name)] == ["InProgress", "Failed"]
    assert state_changes(aws, name)[1]["detail"]["FailureReason"] == failed["FailureReason"]


def test_objects_with_different_columns_fail_the_job(aws: EmbeddedAws, role: str, bucket: str) -> None:
    put(aws, bucket, "parts/1.csv", "a,b\n1,2\n")
    put(aws, bucket, "parts/2.csv", "a,c\n3,4\n")

    failed = ended(aws, create(aws, baselining_request(role, f"s3://{bucket}/parts/", f"s3://{bucket}/out")))

    assert failed["ProcessingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith(
        f"AlgorithmError: s3://{bucket}/parts/2.csv: its header row (a,c) is not the header row of "
        f"s3://{bucket}/parts/1.csv (a,b)"
    )


def test_what_sagemaker_refuses_at_creation(aws: EmbeddedAws, role: str, bucket: str) -> None:
    sm = aws.client("sagemaker")
    dataset = put(aws, bucket, "s.csv", CSV_SAMPLE)
    missing_role = "arn:aws:iam::123456789012:role/nobody"
    lambda_trust = json.dumps(SAGEMAKER_TRUST).replace("sagemaker.amazonaws.com", "lambda.amazonaws.com")
    untrusted = aws.client("iam").create_role(RoleName="a-lambda-role", AssumeRolePolicyDocument=lambda_trust)
    untrusted_arn = untrusted["Role"]["Arn"]

    for bad_role in (missing_role, untrusted_arn):
        with pytest.raises(ClientError) as refused:
            sm.create_processing_job(**baselining_request(bad_role, dataset, f"s3://{bucket}/out"))
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert f"Could not assume role {bad_role}" in refused.value.response["Error"]["Message"]

    request = baselining_request(role, dataset, f"s3://{bucket}/out")
    sm.create_processing_job(**request)
    with pytest.raises(ClientError) as duplicate:
        sm.create_processing_job(**request)
    assert "Job name must be unique within an AWS account and region" in duplicate.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("dataset_format", "message"),
    [
        (json.dumps({"csv": {"header": False}}), "reads CSV with a header row"),
        (json.dumps({"json": {"lines": False}}), "reads JSON lines"),
        (json.dumps({"parquet": {}}), "reads CSV or JSON lines"),
    ],
)
def test_a_baselining_option_the_sandbox_does_not_emulate_is_refused(
    aws: EmbeddedAws, role: str, bucket: str, dataset_format: str, message: str
) -> None:
    request = baselining_request(role, f"s3://{bucket}/s.csv", f"s3://{bucket}/out", dataset_format=dataset_format)

    with pytest.raises(ClientError) as refused:
        aws.client("sagemaker").create_processing_job(**request)

    assert refused.value.response["Error"]["Code"] == "SandboxUnsupportedOperation"
    assert message in refused.value.response["Error"]["Message"]


def test_stopping_a_job_in_progress_writes_nothing_and_an_ended_job_cannot_be_stopped(
    aws: EmbeddedAws, role: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm = aws.client("sagemaker")
    dataset = put(aws, bucket, "s.csv", CSV_SAMPLE)
    completed = create(aws, baselining_request(role, dataset, f"s3://{bucket}/completed"))
    assert ended(aws, completed)["ProcessingJobStatus"] == "Completed"
    slow_jobs(aws, monkeypatch, 300.0, 300.0)
    stopped = create(aws, baselining_request(role, dataset, f"s3://{bucket}/stopped"))

    sm.stop_processing_job(ProcessingJobName=stopped)
    halted = ended(aws, stopped, 600.0)
    assert halted["ProcessingJobStatus"] == "Stopped"
    assert halted["ProcessingEndTime"] < halted["CreationTime"] + timedelta(seconds=600)
    with pytest.raises(ClientError) as refused:
        sm.stop_processing_job(ProcessingJobName=completed)

    assert "the processing job is in status Completed" in refused.value.response["Error"]["Message"]
    assert keys(aws, bucket, "stopped") == []
    assert keys(aws, bucket, "completed/") == ["completed/constraints.json", "completed/statistics.json"]


# ---------------------------------------------------------------------------------------- other jobs


def test_other_processing_jobs_keep_motos_behaviour(aws: EmbeddedAws, role: str, bucket: str) -> None:
    dataset = put(aws, bucket, "s.csv", CSV_SAMPLE)
    own_image = baselining_request(
        role, dataset, f"s3://{bucket}/own", image="123456789012.dkr.ecr.us-east-1.amazonaws.com/preprocess:1"
    )
    no_contract = baselining_request(role, dataset, f"s3://{bucket}/analyzer")
    no_contract["Environment"] = {}

    for request in (own_image, no_contract):
        described = describe(aws, create(aws, request))
        # moto stores the job as Completed at once, drops the environment and runs nothing.
        assert described["ProcessingJobStatus"] == "Completed"
        assert "Environment" not in described and "ExitMessage" not in described
        assert state_changes(aws, request["ProcessingJobName"]) == []
    aws.clock.sleep(JOB_SECONDS + 1)
    assert keys(aws, bucket, "own") == keys(aws, bucket, "analyzer") == []
