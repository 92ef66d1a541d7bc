import hashlib
import json
from typing import Any

import pytest

from mlrollout.domain.errors import ArtifactInvalid, ConfigInvalid
from support import make_tarball


def validate_input(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:m:e1",
        "now": "2026-11-25T12:00:00Z",
    }


def test_a_good_upload_becomes_a_validated_rollout(stack: Any, upload: Any, handler: Any) -> None:
    artifact = make_tarball({"model.joblib": b"weights", "code/inference.py": b"def predict(x): return x"})
    event = upload(
        config="image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4\nframework: sklearn\n",
        artifact=artifact,
        metadata={"git-sha": "4f2a9c1", "notes": "retrained on October data"},
    )
    rollout = handler("validate_artifact")(validate_input(event))
    assert rollout["model_name"] == "fraud-scorer"
    assert rollout["version_label"] == "v1"
    assert rollout["endpoint_name"] == "fraud-scorer"
    assert rollout["artifact"]["sha256"] == hashlib.sha256(artifact).hexdigest()
    assert rollout["artifact"]["version_id"] == event["detail"]["object"]["version-id"]
    assert rollout["deployment_id"] == f"fraud-scorer-{hashlib.sha256(artifact).hexdigest()[:12]}"
    assert rollout["metadata"] == {"git-sha": "4f2a9c1", "notes": "retrained on October data"}
    assert rollout["steps"] == [10.0, 50.0]
    assert rollout["config"]["framework"] == "sklearn"


def test_stack_parameters_are_the_defaults(
    stack: Any, upload: Any, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_CANARY_STEPS", "5,20,60")
    monkeypatch.setenv("DEFAULT_BAKE_MINUTES", "3")
    rollout = handler("validate_artifact")(validate_input(upload()))
    assert rollout["steps"] == [5.0, 20.0, 60.0]
    assert rollout["config"]["strategy"]["bake_minutes"] == 3.0


def test_a_broken_artifact_is_rejected_and_kept(stack: Any, upload: Any, handler: Any) -> None:
    event = upload(artifact=b"this is not a tarball at all")
    with pytest.raises(ArtifactInvalid, match="not gzip-compressed"):
        handler("validate_artifact")(validate_input(event))
    s3 = stack.client("s3")
    kept = s3.get_object(Bucket=stack.bucket, Key=event["detail"]["object"]["key"])["Body"].read()
    assert kept == b"this is not a tarball at all"


def test_a_missing_rollout_yaml_says_what_to_write(stack: Any, upload: Any, handler: Any) -> None:
    event = upload(model="no-config", config=None)
    with pytest.raises(ConfigInvalid, match=r"models/no-config/rollout.yaml does not exist.*at least `image:"):
        handler("validate_artifact")(validate_input(event))


def test_schema_errors_are_all_listed(stack: Any, upload: Any, handler: Any) -> None:
    event = upload(config="image: nope\ninstance_count: 0\nstrategy:\n  stepz: [1]\n")
    with pytest.raises(ConfigInvalid) as raised:
        handler("validate_artifact")(validate_input(event))
    message = str(raised.value)
    assert "3 problems" in message
    assert "image:" in message
    assert "instance_count:" in message
    assert "strategy.stepz: unknown field; did you mean 'steps'?" in message


def test_metadata_the_registry_cannot_hold_is_rejected(stack: Any, upload: Any, handler: Any) -> None:
    event = upload(metadata={"notes": "x" * 300})
    with pytest.raises(ArtifactInvalid, match="metadata 'notes' is 300 characters"):
        handler("validate_artifact")(validate_input(event))


def test_monitoring_without_its_baseline_is_rejected_before_anything_deploys(
    stack: Any, upload: Any, handler: Any
) -> None:
    config = (
        "image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4\n"
        "monitoring:\n"
        f"  baseline_statistics: s3://{stack.bucket}/baselines/m/statistics.json\n"
        f"  baseline_constraints: s3://{stack.bucket}/baselines/m/constraints.json\n"
    )
    with pytest.raises(ConfigInvalid, match=r"monitoring.baseline_statistics s3://.* does not exist"):
        handler("validate_artifact")(validate_input(upload(config=config)))
    statistics = {"version": 0, "features": [{"name": "amount", "inferred_type": "Fractional"}]}
    stack.client("s3").put_object(Bucket=stack.bucket, Key="baselines/m/statistics.json", Body=json.dumps(statistics))
    stack.client("s3").put_object(Bucket=stack.bucket, Key="baselines/m/constraints.json", Body=b"{}")
    assert handler("validate_artifact")(validate_input(upload(config=config)))["config"]["monitoring"] is not None


@pytest.mark.parametrize(
    "where",
    [
        "s3://{bucket}/monitoring/m/statistics.json",  # the artifact bucket, outside baselines/
        "s3://someone-elses-bucket/baselines/m/statistics.json",  # baselines/, another bucket
    ],
)
def test_a_baseline_the_stack_may_not_read_is_refused_naming_where_it_may(
    stack: Any, upload: Any, handler: Any, where: str
) -> None:
    # ValidateArtifact's role reads s3://<ArtifactBucket>/baselines/* only (template.yaml, CheckBaselines): anywhere
    # else S3 answers AccessDenied, so the config is refused first, in words that say where baselines go.
    uri = where.format(bucket=stack.bucket)
    config = f"image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4\nmonitoring:\n  baseline_statistics: {uri}\n"
    with pytest.raises(ConfigInvalid) as raised:
        handler("validate_artifact")(validate_input(upload(config=config)))
    assert f"monitoring.baseline_statistics {uri} is outside s3://{stack.bucket}/baselines/" in raised.value.reason
    assert f"s3://{stack.bucket}/baselines/<model>/" in (raised.value.fix or "")


def test_an_artifact_below_the_version_folder_is_refused_with_the_key_to_use(
    stack: Any, upload: Any, handler: Any
) -> None:
    event = upload(version="v7/sub")
    with pytest.raises(ArtifactInvalid) as raised:
        handler("validate_artifact")(validate_input(event))
    assert "has sub-folders under the version folder 'v7'" in raised.value.reason
    assert "models/fraud-scorer/v7-sub/model.tar.gz" in (raised.value.fix or "")


def test_an_artifact_whose_gzip_trailer_was_cut_is_refused(stack: Any, upload: Any, handler: Any) -> None:
    artifact = make_tarball({"model.json": b"{}"})
    with pytest.raises(ArtifactInvalid, match="gzip stream is cut or corrupt"):
        handler("validate_artifact")(validate_input(upload(artifact=artifact[:-8])))


def test_an_image_outside_ecr_is_refused_at_validation(stack: Any, upload: Any, handler: Any) -> None:
    with pytest.raises(ConfigInvalid, match=r"image: is in registry ghcr.io, not a private Amazon ECR registry"):
        handler("validate_artifact")(validate_input(upload(config="image: ghcr.io/acme/fraud-scorer:1.4\n")))
