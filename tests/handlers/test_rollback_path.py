"""Roll Back (the reconciler), Reject Version and Notify against the embedded AWS."""

import json
import time
import uuid
from typing import Any

import pytest

from support import IMAGE, hold_lease

NOW = "2026-11-25T12:00:00Z"


def settle(stack: Any, endpoint: str) -> None:
    sm = stack.client("sagemaker")
    for _ in range(400):
        status = sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        if status not in {"Creating", "Updating", "Deleting"}:
            return
        time.sleep(0.02)
    raise AssertionError(f"{endpoint} did not settle")


def gone(stack: Any, endpoint: str) -> bool:
    return endpoint not in {e["EndpointName"] for e in stack.client("sagemaker").list_endpoints()["Endpoints"]}


@pytest.fixture
def canary(stack: Any, upload: Any, handler: Any) -> dict[str, Any]:
    """v1 promoted on its endpoint, then v2 deployed beside it as a canary with 50% of the traffic."""
    model = f"rb-{uuid.uuid4().hex[:8]}"
    state: dict[str, Any] = {"model": model}
    for version in ("v1", "v2"):
        event = upload(model=model, version=version, config=f"image: {IMAGE}\n")
        rollout = handler("validate_artifact")({"event": event, "execution_id": f"x:{version}", "now": NOW})
        registration = handler("register_model")({"rollout": rollout, "now": NOW})
        deployment = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
        hold_lease(stack, rollout)  # v1's rollout ended; v2's holds the endpoint
        handler("deploy_candidate")(
            {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
        )
        settle(stack, model)
        if version == "v1":
            handler("finalize_promotion")(
                {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
            )
        state.update(rollout=rollout, registration=registration, deployment=deployment)
    deployment = state["deployment"]
    stack.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName=model,
        DesiredWeightsAndCapacities=[
            {"VariantName": deployment["current_variant"], "DesiredWeight": 50},
            {"VariantName": deployment["candidate_variant"], "DesiredWeight": 50},
        ],
    )
    settle(stack, model)
    return state


def run_rollback(stack: Any, handler: Any, state: dict[str, Any], failure: dict[str, Any]) -> list[dict[str, Any]]:
    """Drive the reconciler the way the state machine does: call, wait while it says waiting."""
    results: list[dict[str, Any]] = []
    previous = None
    for _ in range(12):
        result = handler("roll_back")(
            {
                "rollout": state["rollout"],
                "registration": state["registration"],
                "deployment": state["deployment"],
                "failure": failure,
                "previous": previous,
                "now": NOW,
            }
        )
        results.append(result)
        if result["status"] != "waiting":
            return results
        previous = result
        time.sleep(0.25)  # the state machine's Wait (250 virtual seconds at this warp)
    raise AssertionError(f"rollback did not finish: {results}")


FAILURE = {"error": "CanaryFailed", "cause": "Canary v2 has 4.00% errors against 0.50% on v1.", "state": "Judge Canary"}


def test_rollback_moves_traffic_first_then_restores_and_verifies(stack: Any, handler: Any, canary: dict) -> None:
    results = run_rollback(stack, handler, canary, FAILURE)
    assert [r["step"] for r in results] == ["set_weights", "restore_config", "done"]
    assert results[-1]["verified"] is True
    deployment = canary["deployment"]
    described = stack.client("sagemaker").describe_endpoint(EndpointName=canary["model"])
    assert described["EndpointConfigName"] == deployment["previous_config"]
    assert [(v["VariantName"], v["CurrentWeight"]) for v in described["ProductionVariants"]] == [
        (deployment["current_variant"], 1.0)
    ]
    sm = stack.client("sagemaker")
    assert deployment["canary_config"] not in {
        c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]
    }
    assert deployment["candidate_model"] not in {m["ModelName"] for m in sm.list_models()["Models"]}
    # the weights changed before the config did, as SageMaker recorded it
    transitions = stack.aws.emulator.services["sagemaker"].transitions(canary["model"])
    operations = [t.operation for t in transitions]
    last_weights = len(operations) - 1 - operations[::-1].index("UpdateEndpointWeightsAndCapacities")
    last_update = len(operations) - 1 - operations[::-1].index("UpdateEndpoint")
    assert last_weights < last_update


def test_a_failed_endpoint_is_recreated_on_its_previous_config(stack: Any, handler: Any, canary: dict) -> None:
    deployment = canary["deployment"]
    stack.aws.emulator.faults.arm("sagemaker.update_endpoint_weights", "fail", endpoint=canary["model"])
    results = run_rollback(stack, handler, canary, FAILURE)
    steps = [r["step"] for r in results]
    assert steps[0] == "set_weights"
    assert "delete_endpoint" in steps
    assert "recreate_endpoint" in steps
    assert steps[-1] == "done"
    described = stack.client("sagemaker").describe_endpoint(EndpointName=canary["model"])
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == deployment["previous_config"]


def test_rollback_refuses_to_touch_a_config_it_did_not_create(stack: Any, handler: Any, canary: dict) -> None:
    sm = stack.client("sagemaker")
    deployment = canary["deployment"]
    variants = sm.describe_endpoint_config(EndpointConfigName=deployment["previous_config"])["ProductionVariants"]
    sm.create_endpoint_config(EndpointConfigName=f"{canary['model']}-manual", ProductionVariants=variants)
    sm.update_endpoint(EndpointName=canary["model"], EndpointConfigName=f"{canary['model']}-manual")
    settle(stack, canary["model"])
    results = run_rollback(stack, handler, canary, FAILURE)
    assert results[-1]["status"] == "failed"
    assert "did not create" in results[-1]["reason"]


def test_first_deployment_rollback_removes_the_endpoint(
    stack: Any, upload: Any, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Creating lasts 900 virtual seconds here (0.9 s at this warp; the EndpointInService waiter allows 60 minutes),
    # so the rollback's first look lands in it however slowly a loaded machine runs the steps before.
    monkeypatch.setattr(stack.aws.emulator.services["sagemaker"], "create_seconds", 900.0)
    model = f"first-{uuid.uuid4().hex[:8]}"
    event = upload(model=model, version="v1", config=f"image: {IMAGE}\n")
    rollout = handler("validate_artifact")({"event": event, "execution_id": "x:1", "now": NOW})
    registration = handler("register_model")({"rollout": rollout, "now": NOW})
    deployment = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    handler("deploy_candidate")(
        {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
    )
    state = {"rollout": rollout, "registration": registration, "deployment": deployment}
    results = run_rollback(stack, handler, state, {"error": "PreTrafficCheckFailed", "cause": "HTTP 500"})
    assert results[-1]["status"] == "done"
    assert "wait" in [r["step"] for r in results]  # it waited for Creating to end before deleting
    assert gone(stack, model)


def test_reject_marks_the_version_rejected_with_the_reason(stack: Any, handler: Any, canary: dict) -> None:
    failure = {
        "error": "CanaryFailed",
        "cause": json.dumps({"errorMessage": "too many errors"}),
        "state": "Judge Canary",
    }
    result = handler("reject_version")(
        {"rollout": canary["rollout"], "registration": canary["registration"], "failure": failure, "now": NOW}
    )
    assert result == {"rejected": True, "reason": "too many errors"}
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=canary["registration"]["package_arn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "too many errors" in package["ApprovalDescription"]
    assert package["CustomerMetadataProperties"]["mlrollout:outcome"] == "rejected"
    assert package["CustomerMetadataProperties"]["mlrollout:failed-state"] == "Judge Canary"


def test_reject_without_a_registration_records_nothing(stack: Any, handler: Any) -> None:
    result = handler("reject_version")({"failure": {"error": "ArtifactInvalid", "cause": "not gzip"}, "now": NOW})
    assert result["rejected"] is False
    assert result["reason"] == "not gzip"


def test_notify_publishes_one_readable_message(stack: Any, handler: Any, canary: dict) -> None:
    result = handler("notify")(
        {
            "event": "rolled_back",
            "execution_id": "arn:aws:states:us-east-1:123456789012:execution:rollout:abc",
            "now": NOW,
            "rollout": canary["rollout"],
            "registration": canary["registration"],
            "deployment": canary["deployment"],
            "failure": FAILURE,
        }
    )
    [message] = stack.messages()
    assert message["Subject"] == result["subject"]
    assert "rolled back" in message["Subject"]
    document = json.loads(message["Message"])
    assert document["event"] == "rolled_back"
    assert document["severity"] == "warning"
    assert document["reason"] == FAILURE["cause"]
    assert document["deployment_id"] == canary["rollout"]["deployment_id"]
    assert document["links"]["execution"].endswith("execution:rollout:abc")
    assert message["MessageAttributes"]["severity"]["Value"] == "warning"


def notify_request(canary: dict, event: str, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:rollout:abc",
        "now": NOW,
        "rollout": canary["rollout"],
        "registration": canary["registration"],
        "deployment": canary["deployment"],
        **extra,
    }


def test_each_event_is_sent_once_per_deployment_event_and_step(stack: Any, handler: Any, canary: dict) -> None:
    first = handler("notify")(notify_request(canary, "step_shifted", step=0))
    retried = handler("notify")(notify_request(canary, "step_shifted", step=0))  # a Step Functions retry
    assert retried == first
    handler("notify")(notify_request(canary, "started"))
    handler("notify")(notify_request(canary, "started"))
    handler("notify")(notify_request(canary, "step_shifted", step=1))
    events = [(json.loads(m["Message"])["event"], m["Subject"]) for m in stack.messages()]
    assert [e for e, _ in events] == ["step_shifted", "started", "step_shifted"]
    assert all("[mlrollout]" in subject for _, subject in events)


def test_a_re_upload_of_the_same_artifact_is_news_again(stack: Any, handler: Any, canary: dict) -> None:
    handler("notify")(notify_request(canary, "started"))
    reuploaded = {**canary["rollout"], "artifact": {**canary["rollout"]["artifact"], "version_id": "another-version"}}
    handler("notify")({**notify_request(canary, "started"), "rollout": reuploaded})
    assert [json.loads(m["Message"])["event"] for m in stack.messages()] == ["started", "started"]


def test_started_and_step_messages_say_what_happens_next(stack: Any, handler: Any, canary: dict) -> None:
    handler("notify")(notify_request(canary, "step_shifted", step=0))
    [message] = stack.messages()
    document = json.loads(message["Message"])
    steps = canary["rollout"]["steps"]
    assert document["severity"] == "info"
    assert document["reason"].startswith(f"The canary now receives {steps[0]:g}% of traffic (step 1 of {len(steps)})")
    assert {e["name"] for e in document["evidence"]} >= {"canary steps", "bake per step", "candidate variant"}
