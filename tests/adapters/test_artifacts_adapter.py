"""The S3 adapter on plain moto: an artifact's head (by version too), reads that tell a missing object from a
missing bucket, the decision records it writes, and listings that page on (ListObjectsV2 returns at most 1,000 keys
a page: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlrollout.adapters.artifacts import S3Artifacts, split_uri
from mlrollout.ports import ObjectHead

BUCKET = "artifacts"
KEY = "models/fraud/v1/model.tar.gz"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def pages_of(client: Any, size: int) -> list[str]:
    """Shrinks every ListObjectsV2 page to `size` keys (MaxKeys, set on the request): S3 itself then pages, as it
    does past 1,000 keys, without a test putting 1,001 objects. Returns the operations called, in order."""
    called: list[str] = []

    def shrink(params: dict[str, Any], **_: Any) -> None:
        params["MaxKeys"] = size

    client.meta.events.register("before-parameter-build.s3.ListObjectsV2", shrink)
    client.meta.events.register("before-call", lambda model, **_: called.append(model.name))
    return called


def test_head_reads_size_version_metadata_and_content_type(s3: Any) -> None:
    first = s3.put_object(
        Bucket=BUCKET, Key=KEY, Body=b"first", Metadata={"sha256": "abc"}, ContentType="application/gzip"
    )["VersionId"]
    latest = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"the second upload")["VersionId"]
    artifacts = S3Artifacts(s3)

    assert artifacts.head(BUCKET, KEY) == ObjectHead(
        size=17, version_id=latest, metadata={}, content_type="binary/octet-stream"
    )
    assert artifacts.head(BUCKET, KEY, first) == ObjectHead(
        size=5, version_id=first, metadata={"sha256": "abc"}, content_type="application/gzip"
    )


def test_head_of_a_missing_key_a_missing_version_or_a_deleted_object_is_none(s3: Any) -> None:
    artifacts = S3Artifacts(s3)
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"x")["VersionId"]

    assert artifacts.head(BUCKET, "models/fraud/v9/model.tar.gz") is None
    assert artifacts.head(BUCKET, KEY, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo") is None
    s3.delete_object(Bucket=BUCKET, Key=KEY)  # a delete marker: the key is gone, its version is not
    assert artifacts.head(BUCKET, KEY) is None
    head = artifacts.head(BUCKET, KEY, version)
    assert head is not None and head.size == 1


def test_open_streams_the_named_version_and_lets_a_missing_one_raise(s3: Any) -> None:
    first = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"version one")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"version two")
    artifacts = S3Artifacts(s3)

    assert artifacts.open(BUCKET, KEY, first).read() == b"version one"
    assert artifacts.open(BUCKET, KEY).read() == b"version two"
    with pytest.raises(ClientError) as missing:
        artifacts.open(BUCKET, "models/fraud/v9/model.tar.gz")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as no_version:
        artifacts.open(BUCKET, KEY, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")
    assert no_version.value.response["Error"]["Code"] == "NoSuchVersion"


def test_read_text_is_none_for_a_missing_key_but_a_missing_bucket_raises(s3: Any) -> None:
    artifacts = S3Artifacts(s3)
    s3.put_object(Bucket=BUCKET, Key="models/fraud/rollout.yaml", Body="image: x # café\n".encode())
    s3.put_object(Bucket=BUCKET, Key="models/fraud/broken.yaml", Body=b"a: \xff\n")

    assert artifacts.read_text(BUCKET, "models/fraud/rollout.yaml") == "image: x # café\n"
    assert artifacts.read_text(BUCKET, "models/fraud/broken.yaml") == "a: \ufffd\n"  # not a UnicodeDecodeError
    assert artifacts.read_text(BUCKET, "models/other/rollout.yaml") is None
    with pytest.raises(ClientError) as missing_bucket:  # a misconfigured stack is not "no config uploaded"
        artifacts.read_text("no-such-bucket", "models/fraud/rollout.yaml")
    assert missing_bucket.value.response["Error"]["Code"] == "NoSuchBucket"


def test_put_json_writes_a_sorted_json_document_that_read_json_reads_back(s3: Any) -> None:
    artifacts = S3Artifacts(s3)
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    document = {"verdict": "PASS", "at": at, "steps": [10.0, 50.0]}

    uri = artifacts.put_json(BUCKET, "decisions/d-1/step-0.json", document)

    assert uri == f"s3://{BUCKET}/decisions/d-1/step-0.json"
    stored = s3.get_object(Bucket=BUCKET, Key="decisions/d-1/step-0.json")
    assert stored["ContentType"] == "application/json"
    text = stored["Body"].read().decode()
    assert list(json.loads(text)) == ["at", "steps", "verdict"] and text.startswith('{\n  "at"')
    assert artifacts.read_json(uri) == {"verdict": "PASS", "at": str(at), "steps": [10.0, 50.0]}
    assert artifacts.read_json(f"s3://{BUCKET}/decisions/d-1/missing.json") is None


def test_an_uri_that_is_not_s3_is_refused() -> None:
    assert split_uri("s3://bucket/a/b.json") == ("bucket", "a/b.json")
    with pytest.raises(ValueError, match="not an S3 URI"):
        split_uri("https://bucket.s3.amazonaws.com/a/b.json")


def test_keys_reads_every_page_under_the_prefix_only(s3: Any) -> None:
    for n in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"capture/ep/v1/2026/11/25/12/part-{n}.jsonl", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="capture/ep/v10/2026/11/25/12/part-0.jsonl", Body=b"{}")
    called = pages_of(s3, 2)

    keys = S3Artifacts(s3).keys(BUCKET, "capture/ep/v1/")

    assert keys == [f"capture/ep/v1/2026/11/25/12/part-{n}.jsonl" for n in range(5)]
    assert called == ["ListObjectsV2"] * 3
    assert S3Artifacts(s3).keys(BUCKET, "capture/none/") == []


def test_folders_are_the_common_prefixes_right_under_the_prefix_across_pages(s3: Any) -> None:
    for hour in ("09", "10", "11"):
        s3.put_object(Bucket=BUCKET, Key=f"capture/ep/v1/2026/11/25/{hour}/a.jsonl", Body=b"{}")
        s3.put_object(Bucket=BUCKET, Key=f"capture/ep/v1/2026/11/25/{hour}/b.jsonl", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="capture/ep/v1/2026/11/25/stray.jsonl", Body=b"{}")  # an object, no folder
    called = pages_of(s3, 2)

    folders = S3Artifacts(s3).folders(BUCKET, "capture/ep/v1/2026/11/25/")

    assert folders == [f"capture/ep/v1/2026/11/25/{hour}/" for hour in ("09", "10", "11")]
    assert called.count("ListObjectsV2") == 2


def test_lines_streams_an_objects_lines(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="capture/part.jsonl", Body=b'{"a": 1}\n{"a": 2}\n\n{"a": 3}')
    assert list(S3Artifacts(s3).lines(BUCKET, "capture/part.jsonl")) == [b'{"a": 1}', b'{"a": 2}', b"", b'{"a": 3}']
