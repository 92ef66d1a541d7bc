"""An operator steering rollouts in the sandbox with the CLI: manual approval, promote, abort, rollback.

Every command goes through the state machine (task tokens, requests the judge applies); the assertions are on the
endpoint, the registry, the deployment records and the messages operators got.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import Sandbox
from support import demo_artifact, run_cli

pytestmark = pytest.mark.sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
AUTO = f"image: {IMAGE}\n"  # the shipped defaults
# A bake long enough that an operator's request always comes before the judge could advance on its own (48 s of
# wall time at warp 600), and short enough that its worst case fits in the execution's day (Plan refuses more).
LONG_BAKE = AUTO + "strategy:\n  bake_minutes: 480\n  max_bake_minutes: 480\n"
# The longest approval wait the config allows (72 s of wall time at warp 600): an operator's CLI call, a new
# process on a loaded machine, always arrives within it.
MANUAL = AUTO + "approval: manual\napproval_timeout_minutes: 720\n"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=23) as running:
        yield running


@pytest.fixture
def new_model(sandbox: Sandbox) -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def make(config: str) -> str:
        name = f"op-{uuid.uuid4().hex[:6]}"
        sandbox.put_config(name, config)
        sandbox.send_traffic(name, TrafficProfile(rps=10))
        made.append(name)
        return name

    yield make
    assert sandbox.dataplane is not None
    for name in made:
        sandbox.dataplane.stop_traffic(name)


def record(sandbox: Sandbox, model: str, version: str) -> dict[str, Any] | None:
    from mlrollout.adapters.ledger import DynamoDeployments

    table = DynamoDeployments(sandbox.client("dynamodb"), sandbox.stack.physical("DeploymentsTable"))
    return next((r for r in table.by_model(model) if r.get("version_label") == version), None)


def wait_for(sandbox: Sandbox, model: str, version: str, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline, seen = time.monotonic() + 90, None
    while time.monotonic() < deadline:
        seen = record(sandbox, model, version)
        if seen is not None and test(seen):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{model} {version}: the record never got there; last seen {seen}")


def events_about(sandbox: Sandbox, model: str) -> list[dict[str, Any]]:
    sandbox.drain()
    documents = [json.loads(a["Message"]) for a in sandbox.alerts()]
    return [d for d in documents if d.get("model") == model]


def package_status(sandbox: Sandbox, arn: str) -> dict[str, Any]:
    return dict(sandbox.client("sagemaker").describe_model_package(ModelPackageName=arn))


def test_manual_approval_waits_before_any_traffic_and_approve_lets_it_through(
    sandbox: Sandbox, new_model: Callable[[str], str]
) -> None:
    model = new_model(MANUAL)
    first = sandbox.upload(model, "v1", demo_artifact("v1"))
    waiting = wait_for(sandbox, model, "v1", lambda r: r.get("state") == "awaiting_approval")
    # A first deployment waits before the endpoint exists: creating it would serve the candidate at once.
    assert sandbox.client("sagemaker").list_endpoints(NameContains=model)["Endpoints"] == []
    [asked] = [e for e in events_about(sandbox, model) if e["event"] == "approval_requested"]
    assert f"mlrollout approve {waiting['deployment_id']}" in asked["reason"]
    assert asked["severity"] == "warning"

    approved = run_cli(sandbox, "approve", waiting["deployment_id"], "--note", "release 7", "--no-wait")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert sandbox.wait_for_rollout(first, timeout=120).outcome == "promoted"

    update = sandbox.upload(model, "v2", demo_artifact("v2"))
    candidate = wait_for(sandbox, model, "v2", lambda r: r.get("state") == "awaiting_approval")
    described = sandbox.client("sagemaker").describe_endpoint(EndpointName=model)
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    assert weights == {"v1": 1.0, "v2": 0.0}  # deployed beside the current version, with no traffic
    approved = run_cli(sandbox, "approve", candidate["deployment_id"], "--no-wait")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    outcome = sandbox.wait_for_rollout(update, timeout=120)
    assert outcome.outcome == "promoted"
    ended = record(sandbox, model, "v2")
    assert ended is not None and ended["approval"]["decision"]["approved"] is True
    assert ended["approval"]["decision"]["by"]
    assert [d["weight"] for d in ended["decisions"]][:1] == [10]  # traffic only after the approval


def test_reject_undoes_the_waiting_candidate(sandbox: Sandbox, new_model: Callable[[str], str]) -> None:
    model = new_model(AUTO)
    assert sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=120).outcome == "promoted"
    before = sandbox.client("sagemaker").describe_endpoint(EndpointName=model)["EndpointConfigName"]
    sandbox.put_config(model, MANUAL)
    update = sandbox.upload(model, "v2", demo_artifact("v2"))
    waiting = wait_for(sandbox, model, "v2", lambda r: r.get("state") == "awaiting_approval")

    rejected = run_cli(sandbox, "reject", waiting["deployment_id"], "--reason", "wrong build", "--no-wait")
    assert rejected.returncode == 0, rejected.stdout + rejected.stderr
    outcome = sandbox.wait_for_rollout(update, timeout=120)
    assert outcome.outcome == "rolled back"
    described = sandbox.client("sagemaker").describe_endpoint(EndpointName=model)
    assert described["EndpointConfigName"] == before
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["v1"]
    ended = record(sandbox, model, "v2")
    assert ended is not None and ended["outcome"] == "rolled_back"
    assert "wrong build" in ended["reason"] and "rejected by" in ended["reason"]
    assert package_status(sandbox, ended["model_package_arn"])["ModelApprovalStatus"] == "Rejected"
    again = run_cli(sandbox, "approve", waiting["deployment_id"], "--no-wait")
    assert again.returncode == 1 and "already ended: rolled_back" in again.stderr


def test_an_approval_nobody_gives_is_undone_when_the_wait_ends(
    sandbox: Sandbox, new_model: Callable[[str], str]
) -> None:
    model = new_model(MANUAL.replace("approval_timeout_minutes: 720", "approval_timeout_minutes: 2"))
    outcome = sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=120)
    assert outcome.outcome == "rejected"  # a first deployment: nothing was created
    ended = record(sandbox, model, "v1")
    assert ended is not None and "nobody approved v1 within 2 minutes" in ended["reason"]
    assert sandbox.client("sagemaker").list_endpoints(NameContains=model)["Endpoints"] == []
    late = run_cli(sandbox, "approve", ended["deployment_id"], "--no-wait")
    assert late.returncode == 1 and "already ended" in late.stderr


def test_promote_skips_the_rest_of_the_bake_through_the_state_machine(
    sandbox: Sandbox, new_model: Callable[[str], str]
) -> None:
    model = new_model(AUTO)
    assert sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=120).outcome == "promoted"
    sandbox.put_config(model, LONG_BAKE)
    update = sandbox.upload(model, "v2", demo_artifact("v2"))
    looked = wait_for(sandbox, model, "v2", lambda r: len(r.get("decisions") or []) >= 1)

    promoted = run_cli(sandbox, "promote", looked["deployment_id"], "--yes", "--reason", "hotfix", "--no-wait")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "the judge's last look" in promoted.stdout  # the current verdict is shown before anything is asked
    outcome = sandbox.wait_for_rollout(update, timeout=120)
    assert outcome.outcome == "promoted"
    ended = record(sandbox, model, "v2")
    assert ended is not None
    last = ended["decisions"][-1]
    assert last["action"] == "promote" and last["operator"]["action"] == "promote"
    assert last["reason"].startswith("Promoted by ") and "hotfix" in last["reason"]
    assert (outcome.stopped - outcome.started).total_seconds() < 480 * 60  # well before the 480-minute bake
    [message] = [e for e in events_about(sandbox, model) if e["event"] == "promoted" and e["version"] == "v2"]
    assert message["reason"].startswith("Promoted by ")
    # Re-attaching to an ended rollout shows its looks and its end, and exits 0 as it was promoted.
    watched = run_cli(sandbox, "watch", looked["deployment_id"])
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "step 1 at 10%" in watched.stdout and f"{looked['deployment_id']}: promoted" in watched.stdout


def test_abort_rolls_a_canary_back_now(sandbox: Sandbox, new_model: Callable[[str], str]) -> None:
    model = new_model(AUTO)
    assert sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=120).outcome == "promoted"
    before = sandbox.client("sagemaker").describe_endpoint(EndpointName=model)["EndpointConfigName"]
    sandbox.put_config(model, LONG_BAKE)
    update = sandbox.upload(model, "v2", demo_artifact("v2"))
    looked = wait_for(sandbox, model, "v2", lambda r: len(r.get("decisions") or []) >= 1)

    aborted = run_cli(sandbox, "abort", looked["deployment_id"], "--yes", "--reason", "pager storm", "--no-wait")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    outcome = sandbox.wait_for_rollout(update, timeout=120)
    assert outcome.outcome == "rolled back"
    assert sandbox.client("sagemaker").describe_endpoint(EndpointName=model)["EndpointConfigName"] == before
    ended = record(sandbox, model, "v2")
    assert ended is not None and ended["reason"].startswith("Aborted by ") and "pager storm" in ended["reason"]
    twice = run_cli(sandbox, "abort", looked["deployment_id"], "--yes", "--no-wait")
    assert twice.returncode == 1 and "already ended" in twice.stderr
    watched = run_cli(sandbox, "watch", looked["deployment_id"])  # rolled back: not what `watch` waits for
    assert watched.returncode == 1 and f"{looked['deployment_id']}: rolled_back" in watched.stdout
    unknown = run_cli(sandbox, "watch", "no-such-deployment")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no deployment no-such-deployment")


def test_rollback_goes_back_to_the_previous_approved_version_as_a_new_rollout(
    sandbox: Sandbox, new_model: Callable[[str], str]
) -> None:
    model = new_model(AUTO)
    first = sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=120)
    assert first.outcome == "promoted"
    assert sandbox.wait_for_rollout(sandbox.upload(model, "v2", demo_artifact("v2")), timeout=120).outcome == "promoted"

    went_back = run_cli(sandbox, "rollback", model, "--yes")
    assert went_back.returncode == 0, went_back.stdout + went_back.stderr
    assert "goes back to " + model + " v1" in went_back.stdout
    records = [r for r in _all(sandbox, model) if str(r.get("version_label", "")).startswith("v1-rollback-")]
    assert len(records) == 1 and records[0]["outcome"] == "promoted"
    v1 = record(sandbox, model, "v1")
    assert v1 is not None and records[0]["sha256"] == v1["sha256"]  # the same bytes, rolled out again
    assert records[0]["deployment_id"] != v1["deployment_id"]
    sm = sandbox.client("sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=model)["EndpointConfigName"]
    )
    [variant] = config["ProductionVariants"]
    assert sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]["ModelDataUrl"].endswith(
        records[0]["artifact"].split("/", 3)[-1]
    )
    assert variant["VariantName"] == records[0]["version_label"]  # one name per version: the label uploaded
    looks = [line.split(": ")[:2] for line in went_back.stdout.splitlines() if line.startswith(("  step", "  shadow"))]
    assert looks and all(a != b for a, b in itertools.pairwise(looks))  # a repeated look is counted, not reprinted
    nowhere = run_cli(sandbox, "rollback", model, "--to", "v9", "--yes", "--no-wait")
    assert nowhere.returncode == 2 and "no Approved version 'v9'" in nowhere.stderr


def _all(sandbox: Sandbox, model: str) -> list[dict[str, Any]]:
    from mlrollout.adapters.ledger import DynamoDeployments

    return DynamoDeployments(sandbox.client("dynamodb"), sandbox.stack.physical("DeploymentsTable")).by_model(model)
