"""S3: the uploaded artifacts, each model's rollout.yaml and the decision records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.ports import ObjectHead

MIN_PART = 5 * 1024 * 1024  # S3's smallest part of a multipart upload (all but the last)


class S3Artifacts:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            response = self.s3.head_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}:
                return None
            raise
        return ObjectHead(
            size=int(response.get("ContentLength", 0)),
            version_id=response.get("VersionId"),
            metadata=dict(response.get("Metadata", {})),
            content_type=response.get("ContentType"),
        )

    def open(self, bucket: str, key: str, version_id: str | None = None) -> BinaryIO:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        body: BinaryIO = self.s3.get_object(**kwargs)["Body"]
        return body

    def read_text(self, bucket: str, key: str) -> str | None:
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise
        data: bytes = body.read()
        return data.decode("utf-8", errors="replace")

    def read_json(self, uri: str) -> Any:
        bucket, key = split_uri(uri)
        text = self.read_text(bucket, key)
        return None if text is None else json.loads(text)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def folders(self, bucket: str, prefix: str) -> list[str]:
        """The "folders" right under a prefix (common prefixes with delimiter /)."""
        found: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            found.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
        return found

    def lines(self, bucket: str, key: str) -> Iterator[bytes]:
        """An object's lines, streamed: a large capture file is never held in memory whole."""
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_lines()

    def copy(
        self,
        source: str,
        bucket: str,
        key: str,
        *,
        metadata: dict[str, str],
        version_id: str | None = None,
        multipart_threshold: int | None = None,
    ) -> None:
        """Copy an object under new metadata, of any size: CopyObject takes at most 5 GB in one request
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html) and an artifact may be 10 GiB, so
        boto3's managed copy switches to a multipart copy (UploadPartCopy) above `multipart_threshold` bytes."""
        from boto3.s3.transfer import TransferConfig

        source_bucket, source_key = split_uri(source)
        copy_source: dict[str, str] = {"Bucket": source_bucket, "Key": source_key}
        if version_id:
            copy_source["VersionId"] = version_id
        config = (
            TransferConfig()
            if multipart_threshold is None
            else TransferConfig(
                multipart_threshold=multipart_threshold, multipart_chunksize=max(multipart_threshold, MIN_PART)
            )
        )
        self.s3.copy(
            copy_source,
            bucket,
            key,
            ExtraArgs={"MetadataDirective": "REPLACE", "Metadata": metadata},
            Config=config,
        )

    def put_json(self, bucket: str, key: str, document: Any) -> str:
        self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, indent=2, sort_keys=True, default=str).encode(),
            ContentType="application/json",
        )
        return f"s3://{bucket}/{key}"


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
