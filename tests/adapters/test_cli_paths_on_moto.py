"""What `mlrollout rollback` and `mlrollout history` do in S3 and DynamoDB, against plain moto: an artifact copy of
any size (CopyObject takes at most 5 GB: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html), and
a model's history across Query pages (a page stops at 1 MB:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.artifacts import MIN_PART, S3Artifacts
from mlrollout.adapters.ledger import DynamoDeployments
from support import table_from_template

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class Calls:
    """The S3/DynamoDB operations a client made (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call", lambda model, **_: self.names.append(model.name))


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_a_small_artifact_is_copied_in_one_request_with_the_new_metadata(aws: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="models/m/v1/model.tar.gz", Body=b"x" * 1000, Metadata={"old": "1"})
    calls = Calls(s3)
    S3Artifacts(s3).copy(
        "s3://artifacts/models/m/v1/model.tar.gz", "artifacts", "models/m/v1-r/model.tar.gz", metadata={"to": "v1"}
    )
    assert "CopyObject" in calls.names and "UploadPartCopy" not in calls.names
    head = s3.head_object(Bucket="artifacts", Key="models/m/v1-r/model.tar.gz")
    assert (head["ContentLength"], head["Metadata"]) == (1000, {"to": "v1"})


def test_an_artifact_above_the_threshold_is_copied_in_parts_byte_for_byte(aws: None) -> None:
    # The path a 10 GiB artifact takes (above 5 GB a single CopyObject is refused), shown at a 5 MiB threshold.
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_bucket_versioning(Bucket="artifacts", VersioningConfiguration={"Status": "Enabled"})
    body = bytes(range(256)) * (MIN_PART * 2 // 256 + 1000)  # a little over two parts
    first = s3.put_object(Bucket="artifacts", Key="models/m/v1/model.tar.gz", Body=body)["VersionId"]
    s3.put_object(Bucket="artifacts", Key="models/m/v1/model.tar.gz", Body=b"a later upload")
    calls = Calls(s3)
    S3Artifacts(s3).copy(
        "s3://artifacts/models/m/v1/model.tar.gz",
        "artifacts",
        "models/m/v1-r/model.tar.gz",
        metadata={"mlrollout-redeploy": "r-1"},
        version_id=first,
        multipart_threshold=MIN_PART,
    )
    assert "CopyObject" not in calls.names
    assert calls.names.count("UploadPartCopy") == 3 and "CompleteMultipartUpload" in calls.names
    copied = s3.get_object(Bucket="artifacts", Key="models/m/v1-r/model.tar.gz")
    assert copied["Body"].read() == body  # the named version, not the later upload
    assert copied["Metadata"] == {"mlrollout-redeploy": "r-1"}


def test_a_models_history_reads_on_past_a_full_query_page(aws: None) -> None:
    db = boto3.client("dynamodb", region_name="us-east-1")
    db.create_table(**table_from_template("DeploymentsTable", "deployments"))
    records = DynamoDeployments(db, "deployments")
    for n in range(15):  # 15 records of ~100 KB: a Query page (1 MB) holds fewer than 10 of them
        at = (NOW + timedelta(minutes=n)).isoformat()
        assert records.claim(
            {"deployment_id": f"d-{n:02d}", "model_name": "m", "created_at": at, "reason": "r" * 100_000}
        )
    calls = Calls(db)
    found = records.by_model("m", limit=20)
    assert [r["deployment_id"] for r in found] == [f"d-{n:02d}" for n in reversed(range(15))]
    assert calls.names.count("Query") >= 2
    assert [r["deployment_id"] for r in records.by_model("m", limit=3)] == ["d-14", "d-13", "d-12"]
