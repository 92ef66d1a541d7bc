"""Network isolation, VPC, customer keys and large models (issue 12): the config's rules, the wait they imply, and
what Deploy Candidate, Promote and Validate Artifact make of them, against small working fakes of their ports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fakes import FakeEndpoints, held_lease
from mlrollout.contracts import DeployInput, PromoteInput
from mlrollout.domain.config import RolloutConfig, change_wait_seconds, parse_config
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.ports import SecurityGroup, Subnet
from mlrollout.services.deploy import deploy_candidate, promote_candidate
from mlrollout.services.ledger import LeaseKeeper
from mlrollout.services.validate import check_network_and_keys
from mlrollout.settings import Settings
from support import IMAGE, a_deployment, a_rollout

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CAPTURE_KEY = "arn:aws:kms:us-east-1:123456789012:key/99999999-12ab-34cd-56ef-1234567890ab"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
GROUP = "sg-0123456789abcdef0"
PRIVATE_IMAGE = "registry.corp.example:5000/team/fraud:1.4"


def config(**fields: Any) -> RolloutConfig:
    return parse_config({"image": IMAGE, **fields}, model_name="fraud")


def problems(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(document, model_name="fraud")
    return caught.value.reason


# ----------------------------------------------------------------------------------------- the config


def test_a_large_model_in_a_vpc_with_its_own_keys_is_a_valid_config() -> None:
    parsed = config(
        instance_type="ml.g5.12xlarge",
        vpc={"subnets": SUBNETS, "security_groups": [GROUP]},
        network_isolation=True,
        kms_key=KEY,
        data_capture={"kms_key": CAPTURE_KEY},
        volume_size_gb=512,
        model_data_download_timeout=3600,
        container_startup_health_check_timeout=1200,
    )
    assert parsed.vpc is not None and parsed.vpc.subnets == SUBNETS
    assert (parsed.kms_key, parsed.data_capture.kms_key) == (KEY, CAPTURE_KEY)


@pytest.mark.parametrize(
    "instance_type", ["ml.g5.48xlarge", "ml.p4d.24xlarge", "ml.inf2.xlarge", "ml.trn1.32xlarge", "ml.p5.48xlarge"]
)
def test_accelerator_instance_types_are_accepted(instance_type: str) -> None:
    assert config(instance_type=instance_type).instance_type == instance_type


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("model_data_download_timeout", 59, "greater than or equal to 60"),
        ("model_data_download_timeout", 3601, "less than or equal to 3600"),
        ("container_startup_health_check_timeout", 59, "greater than or equal to 60"),
        ("container_startup_health_check_timeout", 3601, "less than or equal to 3600"),
        ("volume_size_gb", 0, "greater than or equal to 1"),
        ("volume_size_gb", 513, "less than or equal to 512"),
    ],
)
def test_the_production_variant_ranges_are_sagemakers(field: str, value: int, limit: str) -> None:
    assert f"{field}: Input should be {limit} (got {value})" in problems({"image": IMAGE, field: value})


def test_every_problem_is_reported_at_once_with_its_field_path() -> None:
    reason = problems(
        {
            "image": PRIVATE_IMAGE,  # a private registry without image_access: vpc
            "vpc": {"subnets": ["subnet-xyz", "subnet-xyz"], "security_groups": []},
            "kms_key": "alias/my-key",
            "data_capture": {"kms_key": "1234abcd-12ab-34cd-56ef-1234567890ab"},
            "volume_size_gb": 1000,
        }
    )
    assert reason.startswith("models/fraud/rollout.yaml has 6 problems: ")
    for path in (
        "vpc.subnets: 'subnet-xyz', 'subnet-xyz' are not EC2 ids: subnet- and 8 or 17 hex digits",
        "vpc.security_groups: List should have at least 1 item",
        "kms_key: must be a KMS key ARN like",
        "data_capture.kms_key: must be a KMS key ARN like",
        "volume_size_gb: Input should be less than or equal to 512",
        "image: is in registry registry.corp.example:5000, not a private Amazon ECR registry",
    ):
        assert path in reason


def test_a_private_registry_needs_vpc_access_and_a_vpc() -> None:
    # The image is outside ECR: SageMaker pulls it only with RepositoryAccessMode Vpc, through the model's VPC.
    assert "set `image_access: vpc` and `vpc`" in problems({"image": PRIVATE_IMAGE})
    reason = problems({"image": PRIVATE_IMAGE, "image_access": "vpc"})
    assert "image_access: `vpc` pulls the image from a private registry through the model's VPC" in reason
    assert "has 1 problem" in reason
    parsed = config(image=PRIVATE_IMAGE, image_access="vpc", vpc={"subnets": SUBNETS, "security_groups": [GROUP]})
    assert parsed.image == PRIVATE_IMAGE


def test_vpc_ids_are_checked_for_form_count_and_repetition() -> None:
    reason = problems(
        {"image": IMAGE, "vpc": {"subnets": [f"subnet-{i:017x}" for i in range(17)], "security_groups": [GROUP] * 2}}
    )
    assert "vpc.subnets: List should have at most 16 items" in reason
    assert "vpc.security_groups: lists an id twice; name each once" in reason


# ---------------------------------------------------------------------------------------- the wait


def test_the_wait_is_the_default_for_an_ordinary_model() -> None:
    assert change_wait_seconds(config(), 3600) == 3600


def test_the_wait_allows_a_large_models_download_and_start_up() -> None:
    # A 20-minute start-up after a 40-minute download is not a failure: the wait outlasts both.
    large = config(model_data_download_timeout=2400, container_startup_health_check_timeout=1200)
    assert change_wait_seconds(large, 3600) == 3600 + 2400 + 1200
    assert change_wait_seconds(config(container_startup_health_check_timeout=1200), 600) >= 1200
    assert change_wait_seconds(large, 0) >= 2400 + 1200


# ------------------------------------------------------------------------------- deploy and promote


LARGE = {
    "instance_type": "ml.g5.12xlarge",
    "vpc": {"subnets": SUBNETS, "security_groups": [GROUP]},
    "network_isolation": True,
    "kms_key": KEY,
    "data_capture": {"kms_key": CAPTURE_KEY},
    "volume_size_gb": 300,
    "model_data_download_timeout": 1800,
    "container_startup_health_check_timeout": 1200,
}


def settings() -> Settings:
    return Settings(artifact_bucket="b", sagemaker_role_arn="arn:aws:iam::123456789012:role/sm")


def lease() -> LeaseKeeper:
    return held_lease("ep", "d", NOW)


def test_deploy_candidate_sends_the_network_keys_and_large_model_options() -> None:
    endpoints = FakeEndpoints()
    endpoints.configs["ep-v1"] = {
        "ProductionVariants": [
            {
                "VariantName": "v1",
                "ModelName": "ep-v1",
                "InstanceType": "ml.g5.12xlarge",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ]
    }
    endpoints.endpoints["ep"] = "ep-v1"
    rollout = a_rollout(config(**LARGE))
    expected = deploy_candidate(
        DeployInput(rollout=rollout, registration=_registration(), deployment=a_deployment(), now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    model = endpoints.models["ep-v2"]
    assert model["VpcConfig"] == {"Subnets": SUBNETS, "SecurityGroupIds": [GROUP]}
    assert model["EnableNetworkIsolation"] is True
    assert "ImageConfig" not in model["PrimaryContainer"]  # ECR: RepositoryAccessMode Platform, SageMaker's default
    canary = endpoints.configs["ep-v2-canary"]
    assert canary["KmsKeyId"] == KEY
    assert canary["DataCaptureConfig"]["KmsKeyId"] == CAPTURE_KEY
    candidate = canary["ProductionVariants"][1]
    assert {k: candidate[k] for k in ("VariantName", "VolumeSizeInGB", "ModelDataDownloadTimeoutInSeconds",
                                      "ContainerStartupHealthCheckTimeoutInSeconds")} == {
        "VariantName": "v2", "VolumeSizeInGB": 300, "ModelDataDownloadTimeoutInSeconds": 1800,
        "ContainerStartupHealthCheckTimeoutInSeconds": 1200}  # fmt: skip
    assert expected.wait_seconds == 60 * 60 + 1800 + 1200  # the stack's 60-minute wait plus both timeouts


def test_an_ordinary_model_gets_none_of_the_options_and_the_stacks_own_wait() -> None:
    endpoints = FakeEndpoints()
    expected = deploy_candidate(
        DeployInput(rollout=a_rollout(), registration=_registration(), deployment=a_deployment(first=True), now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    assert endpoints.models["ep-v2"] == {
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/models/ep/v2/model.tar.gz"}
    }
    assert "KmsKeyId" not in endpoints.configs["ep-v2"]
    assert "KmsKeyId" not in endpoints.configs["ep-v2"]["DataCaptureConfig"]
    assert set(endpoints.configs["ep-v2"]["ProductionVariants"][0]) == {
        "VariantName", "ModelName", "InstanceType", "InitialInstanceCount", "InitialVariantWeight"}  # fmt: skip
    assert expected.wait_seconds is None  # the stack's EndpointWaitMinutes


def test_a_private_registry_image_is_pulled_through_the_vpc() -> None:
    endpoints = FakeEndpoints()
    private = config(image=PRIVATE_IMAGE, image_access="vpc", vpc={"subnets": SUBNETS, "security_groups": [GROUP]})
    deploy_candidate(
        DeployInput(
            rollout=a_rollout(private), registration=_registration(), deployment=a_deployment(first=True), now=NOW
        ),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    assert endpoints.models["ep-v2"]["PrimaryContainer"]["ImageConfig"] == {"RepositoryAccessMode": "Vpc"}
    assert endpoints.models["ep-v2"]["VpcConfig"]["Subnets"] == SUBNETS


def test_promote_keeps_the_key_and_the_options_and_waits_as_long() -> None:
    endpoints = FakeEndpoints()
    rollout = a_rollout(config(**LARGE))
    expected = promote_candidate(
        PromoteInput(rollout=rollout, deployment=a_deployment(), now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    final = endpoints.configs["ep-v2"]
    assert final["KmsKeyId"] == KEY
    assert final["ProductionVariants"][0]["ContainerStartupHealthCheckTimeoutInSeconds"] == 1200
    assert expected.config_name == "ep-v2"
    assert expected.wait_seconds == change_wait_seconds(rollout.config, 3600)


def _registration() -> Any:
    from mlrollout.contracts import Registration

    return Registration(
        group_name="ep", package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/ep/2", package_version=2
    )


# ------------------------------------------------------------------------------------- validation


class InMemoryNetwork:
    def __init__(self, subnets: dict[str, str], groups: dict[str, str]) -> None:
        self._subnets = {i: Subnet(i, vpc, "us-east-1a") for i, vpc in subnets.items()}
        self._groups = {i: SecurityGroup(i, vpc) for i, vpc in groups.items()}

    def subnets(self, ids: list[str]) -> dict[str, Subnet]:
        return {i: self._subnets[i] for i in ids if i in self._subnets}

    def security_groups(self, ids: list[str]) -> dict[str, SecurityGroup]:
        return {i: self._groups[i] for i in ids if i in self._groups}


def check(parsed: RolloutConfig, network: InMemoryNetwork, settings: Settings | None = None) -> str | None:
    try:
        check_network_and_keys(parsed, network, settings or Settings(), where="models/fraud/rollout.yaml")
    except ConfigInvalid as exc:
        return exc.reason
    return None


def test_subnets_and_security_groups_that_exist_in_one_vpc_pass() -> None:
    network = InMemoryNetwork({SUBNETS[0]: "vpc-1", SUBNETS[1]: "vpc-1"}, {GROUP: "vpc-1"})
    parsed = config(vpc={"subnets": SUBNETS, "security_groups": [GROUP]})
    assert check(parsed, network) is None
    assert check(parsed, network, Settings(model_vpc_ids="vpc-1,vpc-2")) is None  # type: ignore[arg-type]


def test_missing_ids_and_a_second_vpc_are_all_refused_at_once() -> None:
    other = "sg-0123456789abcdef9"
    network = InMemoryNetwork({SUBNETS[0]: "vpc-1"}, {other: "vpc-2"})
    parsed = config(vpc={"subnets": SUBNETS, "security_groups": [GROUP, other]})
    reason = check(parsed, network)
    assert reason is not None
    assert f"vpc.subnets: {SUBNETS[1]} not found in this account and region" in reason
    assert f"vpc.security_groups: {GROUP} not found" in reason
    assert f"vpc.security_groups: {other} in vpc-2, not the subnets' VPC vpc-1" in reason


def test_subnets_of_two_vpcs_are_refused() -> None:
    network = InMemoryNetwork({SUBNETS[0]: "vpc-1", SUBNETS[1]: "vpc-2"}, {GROUP: "vpc-1"})
    reason = check(config(vpc={"subnets": SUBNETS, "security_groups": [GROUP]}), network)
    assert reason is not None and "vpc.subnets: they are in 2 VPCs" in reason


def test_a_vpc_or_key_the_stack_does_not_allow_is_refused_with_the_parameter_to_change() -> None:
    network = InMemoryNetwork({SUBNETS[0]: "vpc-1", SUBNETS[1]: "vpc-1"}, {GROUP: "vpc-1"})
    parsed = config(vpc={"subnets": SUBNETS, "security_groups": [GROUP]}, kms_key=KEY, data_capture={"kms_key": KEY})
    # The template passes an empty parameter as "": the stack allows no VPC and no key.
    reason = check(parsed, network, Settings(model_vpc_ids="", model_kms_key_arns=""))  # type: ignore[arg-type]
    assert reason is not None
    assert "vpc: vpc-1 is not in the stack's ModelVpcIds" in reason
    assert f"kms_key: {KEY} is not in the stack's ModelKmsKeyArns" in reason
    assert f"data_capture.kms_key: {KEY} is not in the stack's ModelKmsKeyArns" in reason
    allowed = Settings(model_vpc_ids="vpc-1", model_kms_key_arns=KEY)  # type: ignore[arg-type]
    assert check(parsed, network, allowed) is None


def test_the_documented_example_is_a_valid_config() -> None:
    import yaml

    from support import ROOT

    example = yaml.safe_load((ROOT / "docs" / "examples" / "rollout-large-model-vpc.yaml").read_text())
    parsed = parse_config(example, model_name="llm-assistant")
    assert parsed.vpc is not None and parsed.network_isolation and parsed.kms_key
    assert change_wait_seconds(parsed, 3600) == 3600 + 2400 + 1200
