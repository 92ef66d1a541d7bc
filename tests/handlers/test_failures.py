"""The main failure of the handlers not covered elsewhere: each surfaces a clear error Step Functions can route."""

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout.domain.errors import ChangeRefused, EndpointChanging
from support import IMAGE, hold_lease

NOW = "2026-11-25T12:00:00Z"


@pytest.fixture
def rollout(stack: Any, upload: Any, handler: Any) -> dict[str, Any]:
    model = f"f-{uuid.uuid4().hex[:8]}"
    event = upload(model=model, version="v1", config=f"image: {IMAGE}\n")
    validated = dict(handler("validate_artifact")({"event": event, "execution_id": "x:f", "now": NOW}))
    hold_lease(stack, validated)
    return validated


def test_register_surfaces_a_registry_refusal(stack: Any, handler: Any, rollout: dict[str, Any]) -> None:
    stack.aws.emulator.faults.arm("sagemaker.api", "throttle", action="CreateModelPackage", times=10)
    with pytest.raises(ClientError, match="ThrottlingException"):
        handler("register_model")({"rollout": rollout, "now": NOW})
    stack.aws.emulator.faults.clear()


def test_deploy_surfaces_an_endpoint_that_refuses_the_update(stack: Any, handler: Any, rollout: dict[str, Any]) -> None:
    registration = handler("register_model")({"rollout": rollout, "now": NOW})
    deployment = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    request = {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
    handler("deploy_candidate")(request)  # creates the endpoint: now Creating
    with pytest.raises(ChangeRefused, match="refused CreateEndpoint of endpoint .*already existing endpoint"):
        handler("deploy_candidate")(request)


def test_finalize_refuses_to_approve_an_unconfirmed_promotion(
    stack: Any, handler: Any, rollout: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An hour of creation (3.6 s of wall time at this warp): still Creating when Finalize looks, on a loaded machine.
    monkeypatch.setattr(stack.aws.emulator.services["sagemaker"], "create_seconds", 3600)
    registration = handler("register_model")({"rollout": rollout, "now": NOW})
    deployment = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    request = {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
    handler("deploy_candidate")(request)
    with pytest.raises(EndpointChanging, match="is Creating"):  # retried by the ASL until the change ends
        handler("finalize_promotion")(request)
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=registration["package_arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"


def test_notify_surfaces_a_missing_topic(
    stack: Any, handler: Any, rollout: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    with pytest.raises(ClientError, match="NotFound|does not exist"):
        handler("notify")({"event": "promoted", "execution_id": "x:f", "now": NOW, "rollout": rollout})


def test_a_handler_with_an_input_of_the_wrong_shape_names_the_field(stack: Any, handler: Any) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="rollout"):
        handler("register_model")({"now": NOW})
