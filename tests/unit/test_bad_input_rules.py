"""The bad-input rules added for issue 6 that the sandbox table (tests/reliability/test_bad_input.py) does not reach."""

import io
import tarfile

import pytest

from mlrollout.domain import naming
from mlrollout.domain.artifact import inspect_artifact
from mlrollout.domain.config import RolloutConfig, image_problem, parse_config
from mlrollout.domain.errors import ArtifactInvalid, ConfigInvalid

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{ECR}/fraud-scorer:1.4"


@pytest.mark.parametrize(
    "instance_type", ["ml.t2.medium", "ml.g5.12xlarge", "ml.p6-b200.48xlarge", "ml.p6e-gb200.36xlarge"]
)
def test_instance_types_with_suffixed_families_are_accepted(instance_type: str) -> None:
    assert RolloutConfig.model_validate({"image": IMAGE, "instance_type": instance_type}).instance_type == instance_type


def test_monitoring_instance_types_follow_the_same_rule() -> None:
    monitoring = {"baseline_statistics": "s3://bucket/statistics.json", "instance_type": "ml.m7i-flex.large"}
    assert parse_config({"image": IMAGE, "monitoring": monitoring}, model_name="m").monitoring is not None
    with pytest.raises(ConfigInvalid, match=r"monitoring.instance_type: .*did you mean 'ml.m5.xlarge'\?"):
        parse_config({"image": IMAGE, "monitoring": {**monitoring, "instance_type": "ml.m5.xlarg"}}, model_name="m")


def test_an_instance_type_with_nothing_close_gets_no_guess() -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config({"image": IMAGE, "instance_type": "the biggest gpu"}, model_name="m")
    assert "instance_type: must be a SageMaker instance type ml.<family>.<size>" in str(raised.value)
    assert "did you mean" not in str(raised.value)


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("fraud/scorer:1.4", "has no registry host"),  # a Docker Hub short name
        (f"{ECR}/Fraud-Scorer:1.4", "malformed repository name 'Fraud-Scorer'"),
        (f"{ECR}/fraud-scorer/:1.4", "malformed repository name 'fraud-scorer/'"),
        (f"{ECR}/fraud-scorer:-rc1", "malformed tag '-rc1'"),
        (f"{ECR}/fraud-scorer@sha256:abc", "malformed digest 'sha256:abc'"),
        (f"{ECR}/{'a' * 250}:1", "at most 255"),
        (f"{IMAGE} ", "without spaces"),
        # CreateModel without ImageConfig pulls from Amazon ECR only (RepositoryAccessMode Platform)
        ("ghcr.io/acme/fraud-scorer:1.4", "is in registry ghcr.io, not a private Amazon ECR registry"),
        ("docker.io/library/python:3.13", "is in registry docker.io, not a private Amazon ECR registry"),
        ("localhost:5000/m:v2", "is in registry localhost:5000, not a private Amazon ECR registry"),
        ("public.ecr.aws/acme/fraud-scorer:1.4", "is in ECR Public, not a private Amazon ECR registry"),
        ("123456789012.dkr.ecr.us-east-1.example.com/m:1", "copy the image into an ECR repository"),
    ],
)
def test_malformed_images_say_what_is_wrong(image: str, problem: str) -> None:
    assert problem in (image_problem(image) or "")


@pytest.mark.parametrize(
    "image",
    [
        IMAGE,
        f"{ECR}/team/fraud-scorer@sha256:{'a' * 64}",
        f"{IMAGE}@sha256:{'b' * 64}",
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/m:v2",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/m:v2",
    ],
)
def test_well_formed_images_pass(image: str) -> None:
    assert image_problem(image) is None


def test_an_unknown_field_with_no_near_name_lists_the_sections_fields() -> None:
    with pytest.raises(ConfigInvalid, match=r"judge.zzz: unknown field; the fields here are min_requests, min_periods"):
        parse_config({"image": IMAGE, "judge": {"zzz": 1}}, model_name="m")


def test_a_version_folder_the_registry_cannot_record_is_refused_with_a_clean_name() -> None:
    with pytest.raises(ArtifactInvalid) as raised:
        naming.parse_artifact_key("models/fraud-scorer/v1 (final)/model.tar.gz")
    assert (
        "version folder 'v1 (final)' has characters the model registry cannot record ('(' ')')" in raised.value.reason
    )
    assert raised.value.fix == "upload to models/fraud-scorer/v1-final/model.tar.gz instead"
    assert naming.parse_artifact_key("models/fraud-scorer/2026-11.run=7@main/model.tar.gz").version_label == (
        "2026-11.run=7@main"
    )


def test_unsafe_members_of_several_kinds_name_each_fix_once() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, kind, target in [
            ("\\windows\\evil.dll", tarfile.REGTYPE, ""),
            ("a", tarfile.SYMTYPE, "/etc/passwd"),
            ("b", tarfile.SYMTYPE, "/etc/shadow"),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    with pytest.raises(ArtifactInvalid) as raised:
        inspect_artifact(io.BytesIO(buffer.getvalue()), max_bytes=10**6)
    assert "'\\\\windows\\\\evil.dll' has an absolute path" in raised.value.reason
    assert raised.value.fix is not None
    assert raised.value.fix.count("archive relative paths") == 1
    assert raised.value.fix.count("replace links with the files they point to") == 1
