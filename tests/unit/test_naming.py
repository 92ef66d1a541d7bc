import pytest

from mlrollout.domain import naming
from mlrollout.domain.errors import ArtifactInvalid


@pytest.mark.parametrize(
    ("key", "model", "label"),
    [
        ("models/fraud-scorer/v7/model.tar.gz", "fraud-scorer", "v7"),
        ("models/m1/2026-11-25-run-3/model.tar.gz", "m1", "2026-11-25-run-3"),
    ],
)
def test_artifact_keys_name_model_and_version(key: str, model: str, label: str) -> None:
    parsed = naming.parse_artifact_key(key)
    assert (parsed.model_name, parsed.version_label) == (model, label)
    assert parsed.config_key == f"models/{model}/rollout.yaml"


@pytest.mark.parametrize(
    "key",
    [
        "uploads/model.tar.gz",
        "models/m/model.tar.gz",
        "models/m/v1/model.tgz",
        "models//v1/model.tar.gz",
        "m/a/b/model.tar.gz",
    ],
)
def test_keys_outside_the_layout_are_rejected_with_the_layout(key: str) -> None:
    with pytest.raises(ArtifactInvalid, match=r"models/<model-name>/<version>/model.tar.gz"):
        naming.parse_artifact_key(key)


@pytest.mark.parametrize(
    ("key", "flat"),
    [
        ("models/fraud-scorer/v7/sub/model.tar.gz", "v7-sub"),
        ("models/m1/2026/11/25/run-3/model.tar.gz", "2026-11-25-run-3"),
    ],
)
def test_a_key_below_the_version_folder_starts_nothing_and_says_which_key_would(key: str, flat: str) -> None:
    # README: keys outside models/<model>/<version>/model.tar.gz never start a rollout. The upload rule's wildcard
    # lets them through (EventBridge's "*" matches "/"), so the validator refuses them with the key to use.
    with pytest.raises(ArtifactInvalid) as raised:
        naming.parse_artifact_key(key)
    assert "has sub-folders under the version folder" in raised.value.reason
    model = key.split("/")[1]
    assert f"models/{model}/{flat}/model.tar.gz" in raised.value.fix


def test_invalid_model_names_explain_the_rule_and_suggest_one() -> None:
    with pytest.raises(ArtifactInvalid) as raised:
        naming.parse_artifact_key("models/fraud_scorer.v2/v1/model.tar.gz")
    assert "letters, digits and hyphens" in str(raised.value)
    assert "models/fraud-scorer-v2/" in str(raised.value)


def test_generated_names_fit_sagemaker_limits() -> None:
    long = "a" * 63
    names = naming.RolloutNames.for_deployment(long, long, 1234, "d-1")
    for name in (names.model, names.canary_config, names.final_config):
        assert len(name) <= 63
        assert naming.sagemaker_name_problem(name) is None
    assert names.canary_config != names.final_config


def test_names_are_deterministic_per_deployment() -> None:
    a = naming.RolloutNames.for_deployment("ep", "m", 3, "m-abc")
    assert a == naming.RolloutNames.for_deployment("ep", "m", 3, "m-abc")
    assert a != naming.RolloutNames.for_deployment("ep", "m", 3, "m-abd")


def test_a_variant_is_named_after_the_uploaded_label() -> None:
    assert naming.variant_name("v11", 6) == "v11"
    assert naming.variant_name("1.2.0_rc 1", 6) == "1-2-0-rc-1"
    assert naming.variant_name("@@", 6) == "v6"
    name = naming.variant_name("x" * 80, 6)
    assert len(name) == 63
    for label in ("v11", "1.2.0_rc 1", "-a-", "a" * 80, "@:=+"):
        assert naming.sagemaker_name_problem(naming.variant_name(label, 6)) is None


def test_variant_names_avoid_the_current_variant() -> None:
    assert naming.variant_name("v4", 7, frozenset({"v4"})) == "v4-p7"
    assert naming.variant_name("v4", 7, frozenset({"v4", "v4-p7"})) == "v4-p7-2"
    assert naming.variant_name("v4", 7, frozenset({"V4"})) == "v4-p7"  # compared without case
    long = "a" * 63
    renamed = naming.variant_name(long, 7, frozenset({long}))
    assert renamed.endswith("-p7") and len(renamed) == 63


def test_deployment_id_is_model_and_content() -> None:
    assert naming.deployment_id("m", "ab" * 32) == "m-abababababab"
