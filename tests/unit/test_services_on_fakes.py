"""Register, Pre-Traffic Check and Request Approval on in-memory fakes of their ports (tests/fakes.py): the rules
each service keeps, with no emulator, network or clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fakes import FakeInvocations, FakeLeases, FakeRecords, FakeRegistry
from mlrollout.contracts import ApprovalInput, NotifyInput, PreTrafficInput, RegisterInput
from mlrollout.domain.alerts import EventType
from mlrollout.domain.config import RolloutConfig
from mlrollout.domain.errors import LeaseLost, PreTrafficCheckFailed
from mlrollout.domain.naming import MAX_METADATA_VALUE
from mlrollout.ports import InvokeResult
from mlrollout.services.approval import request_approval
from mlrollout.services.ledger import LeaseKeeper
from mlrollout.services.pretraffic import EXCERPT, check_candidate
from mlrollout.services.register import register_version
from support import IMAGE, a_deployment, a_rollout

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SAMPLE = {"pre_traffic": {"sample_request": {"body": '{"amount": 12.5}'}}}


def lease(held_by: str | None = "d") -> LeaseKeeper:
    leases = FakeLeases()
    if held_by is not None:
        leases.take("ep", held_by, f"x-{held_by}", NOW, NOW + timedelta(hours=1))
    return LeaseKeeper(leases, FakeRecords(), minutes=60)


# ------------------------------------------------------------------------------------------------ register
def test_a_version_is_a_pending_package_in_its_models_group_with_what_the_registry_keeps() -> None:
    rollout = a_rollout().model_copy(update={"metadata": {"notes": "retrained", "git-sha": "a" * 400}})
    registry = FakeRegistry()

    registration = register_version(RegisterInput(rollout=rollout, now=NOW), registry=registry)

    package = registry.describe(registration.package_arn)
    assert (registration.group_name, registration.package_version, package.status) == ("ep", 1, "PendingManualApproval")
    spec = registry.specs[registration.package_arn]
    assert spec.description == f"ep v2 (sha256 {'0' * 12}): retrained"
    assert (spec.image, spec.model_data_url) == (IMAGE, rollout.artifact.uri)
    assert spec.metadata["mlrollout:deployment-id"] == "d" and spec.metadata["mlrollout:version-label"] == "v2"
    # the uploader's own metadata, prefixed, and cut to what the registry keeps
    assert len(spec.metadata["upload:git-sha"]) == MAX_METADATA_VALUE
    assert spec.metadata["upload:git-sha"].endswith("...")


def test_a_retried_registration_gets_the_package_it_made_and_the_next_upload_the_next_number() -> None:
    registry = FakeRegistry()
    first = register_version(RegisterInput(rollout=a_rollout(deployment_id="ep-1"), now=NOW), registry=registry)
    again = register_version(RegisterInput(rollout=a_rollout(deployment_id="ep-1"), now=NOW), registry=registry)
    later = register_version(RegisterInput(rollout=a_rollout(deployment_id="ep-2"), now=NOW), registry=registry)
    assert again == first  # Lambda retried: the client token makes it the same call
    assert (first.package_version, later.package_version) == (1, 2)
    assert len(registry.packages) == 2 and list(registry.groups) == ["ep"]


# ------------------------------------------------------------------------------------------------ pre-traffic
def test_the_candidate_must_answer_the_sample_before_any_traffic() -> None:
    rollout = a_rollout(RolloutConfig.model_validate({"image": IMAGE, **SAMPLE}))
    answers = FakeInvocations({"v2": InvokeResult(True, 200, '{"score": 0.1}', "v2", 42.0)})

    result = check_candidate(
        PreTrafficInput(rollout=rollout, deployment=a_deployment(), now=NOW), endpoints=answers, lease=lease()
    )

    assert (result.status, result.latency_ms) == ("passed", 42.0)
    assert answers.requests == [("ep", "v2", '{"amount": 12.5}')]  # the candidate variant, not the endpoint


def test_a_candidate_that_fails_the_sample_is_refused_with_its_answer() -> None:
    rollout = a_rollout(RolloutConfig.model_validate({"image": IMAGE, **SAMPLE}))
    answers = FakeInvocations({"v2": InvokeResult(False, 500, "Traceback: " + "x" * 1000, "v2", 3.0)})

    with pytest.raises(PreTrafficCheckFailed, match="variant v2 answered the sample request with HTTP 500") as refused:
        check_candidate(
            PreTrafficInput(rollout=rollout, deployment=a_deployment(), now=NOW), endpoints=answers, lease=lease()
        )
    assert len(refused.value.reason) < EXCERPT + 100  # the model's answer, cut


def test_without_a_sample_it_is_skipped_and_without_the_lease_nothing_is_asked() -> None:
    answers = FakeInvocations({})
    skipped = check_candidate(
        PreTrafficInput(rollout=a_rollout(), deployment=a_deployment(), now=NOW), endpoints=answers, lease=lease()
    )
    assert skipped.status == "skipped" and answers.requests == []
    rollout = a_rollout(RolloutConfig.model_validate({"image": IMAGE, **SAMPLE}))
    with pytest.raises(LeaseLost, match="will not take traffic"):
        check_candidate(
            PreTrafficInput(rollout=rollout, deployment=a_deployment(), now=NOW),
            endpoints=answers,
            lease=lease(held_by="another-rollout"),
        )
    assert answers.requests == []


# ------------------------------------------------------------------------------------------------ approval
def test_a_manual_approval_records_the_token_keeps_the_lease_past_the_wait_and_asks_once() -> None:
    rollout = a_rollout(RolloutConfig.model_validate({"image": IMAGE, "approval": "manual"}))
    records, leases, asked = FakeRecords(), FakeLeases(), []
    records.records["d"] = {"deployment_id": "d", "state": "deploying"}
    leases.take("ep", "d", "x-d", NOW, NOW + timedelta(minutes=20))

    def announce(notice: NotifyInput) -> str:
        asked.append(notice)
        return "message-1"

    request = ApprovalInput(
        rollout=rollout, deployment=a_deployment(), task_token="token-1", execution_id="x-d", now=NOW
    )
    answer = request_approval(request, records=records, leases=leases, lease_minutes=30, announce=announce)

    expires = NOW + timedelta(minutes=rollout.config.approval_timeout_minutes)
    assert (answer.recorded, answer.expires_at, answer.message_id) == (True, expires, "message-1")
    record = records.records["d"]
    assert record["state"] == "awaiting_approval"
    assert record["approval"] == {
        "token": "token-1",
        "requested_at": NOW.isoformat(),
        "expires_at": expires.isoformat(),
        "execution_id": "x-d",
    }
    held = leases.holder("ep")
    assert held is not None and held.expires_at == expires + timedelta(minutes=30)  # no look renews it meanwhile
    assert [n.event for n in asked] == [EventType.APPROVAL_REQUESTED]


def test_an_approval_for_a_record_that_already_ended_is_not_recorded() -> None:
    rollout = a_rollout(RolloutConfig.model_validate({"image": IMAGE, "approval": "manual"}))
    records = FakeRecords()
    records.records["d"] = {"deployment_id": "d", "outcome": "superseded"}
    request = ApprovalInput(rollout=rollout, deployment=a_deployment(), task_token="t", execution_id="x-d", now=NOW)
    answer = request_approval(request, records=records, leases=FakeLeases(), lease_minutes=30, announce=lambda _: None)
    assert answer.recorded is False and "approval" not in records.records["d"]
