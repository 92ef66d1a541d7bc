"""The shadow phase end to end in the sandbox: the candidate as the endpoint's shadow variant (copies of production
requests, answers discarded), judged at the shipped defaults against the current variant, then the canary steps
with the shadow's evidence counted, or a rollback before any user request reached it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from mlrollout.adapters.ledger import DynamoDeployments
from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, RolloutOutcome, Sandbox

pytestmark = pytest.mark.sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
SHADOWED = f"""image: {IMAGE}
strategy:
  type: {{type}}
  steps: [50]
  bake_minutes: 5
  shadow:
    percent: 100
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=31) as running:
        yield running


@pytest.fixture
def model(sandbox: Sandbox) -> Iterator[str]:
    name = f"sh-{uuid.uuid4().hex[:6]}"
    sandbox.send_traffic(name, TrafficProfile(rps=10))
    yield name
    assert sandbox.dataplane is not None
    sandbox.dataplane.stop_traffic(name)


def roll(sandbox: Sandbox, model: str, version: str, directory: str, *, strategy: str = "canary") -> RolloutOutcome:
    sandbox.put_config(model, SHADOWED.format(type=strategy))
    upload = sandbox.upload(model, version, package_model(DEMO_MODELS / "fraud-scorer" / directory))
    return sandbox.wait_for_rollout(upload, timeout=240)


def endpoint(sandbox: Sandbox, name: str) -> dict[str, object]:
    return sandbox.client("sagemaker").describe_endpoint(EndpointName=name)


def test_a_healthy_candidate_proves_itself_in_shadow_then_takes_the_steps(sandbox: Sandbox, model: str) -> None:
    assert roll(sandbox, model, "v1", "v1").outcome == "promoted"  # a first deployment has no shadow phase
    outcome = roll(sandbox, model, "v2", "v2")

    assert outcome.outcome == "promoted", outcome.cause
    entered = outcome.states_entered()
    # Shadow First? starts the shadow's bake: its looks come before the endpoint leaves the shadow config.
    shadow_starts = entered.index("Shadow First?")
    assert shadow_starts < entered.index("Wait Evaluation Interval") < entered.index("End Shadow")
    assert entered.index("End Shadow") < entered.index("Leave Shadow")
    assert entered.index("Leave Shadow") < entered.index("Pre-Traffic Check") < entered.index("Shift Traffic")
    # Every endpoint change (the shadow config, the canary config, each shift, the promotion) ended by its
    # state-change event: no Await state had to re-check.
    assert entered.count("Await Deployed") == 2 and entered.count("Await Promoted") == 1
    assert not [e for e in outcome.history if e["type"] == "TaskTimedOut"]
    [plan] = outcome.task_results("Plan Deployment")
    [deployed] = outcome.task_results("Deploy Candidate")
    assert deployed["config_name"] == plan["shadow_config"]
    assert deployed["weights"] == {plan["current_variant"]: 1.0}  # users are served by the current variant alone
    looks = outcome.task_results("Judge Canary")
    shadow_looks = [j for j in looks if j["shadow"]]
    assert shadow_looks and shadow_looks[-1]["verdict"] == "PASS" and shadow_looks[-1]["action"] == "advance"
    assert all(j["weight"] == 0.0 for j in shadow_looks)
    step_looks = [j for j in looks if not j["shadow"]]
    assert step_looks[-1]["verdict"] == "PASS"
    # the steps' looks judge the shadow's minutes too: their windows start where the shadow's did
    assert step_looks[-1]["window_start"] == shadow_looks[0]["window_start"]
    described = endpoint(sandbox, model)
    assert described["EndpointConfigName"] == plan["final_config"] and "ShadowProductionVariants" not in described
    # operators were told it starts in shadow; the record marks the shadow's looks
    sandbox.drain()
    started = [
        json.loads(a["Message"])
        for a in sandbox.alerts()
        if json.loads(a["Message"]).get("model") == model and json.loads(a["Message"]).get("event") == "started"
    ]
    assert "is being deployed as the shadow of the current version" in started[-1]["reason"]
    table = DynamoDeployments(sandbox.client("dynamodb"), sandbox.stack.physical("DeploymentsTable"))
    [v2] = [r for r in table.by_model(model) if r["version_label"] == "v2"]
    assert v2["decisions"][-1].get("shadow") is None and any(d.get("shadow") for d in v2["decisions"])


def test_a_faulty_candidate_is_rolled_back_from_the_shadow_before_any_user_request(
    sandbox: Sandbox, model: str
) -> None:
    assert roll(sandbox, model, "v1", "v1").outcome == "promoted"
    before = endpoint(sandbox, model)["EndpointConfigName"]
    outcome = roll(sandbox, model, "v3", "v3-faulty")

    assert outcome.outcome == "rolled back"
    entered = outcome.states_entered()
    assert entered.index("Shadow First?") < entered.index("Wait Evaluation Interval")
    assert not {"Leave Shadow", "Pre-Traffic Check", "Shift Traffic"} & set(entered)
    [failed] = [j for j in outcome.task_results("Judge Canary") if j["verdict"] == "FAIL"]
    assert failed["shadow"] and "error rate" in failed["reason"]
    described = endpoint(sandbox, model)
    assert described["EndpointConfigName"] == before and "ShadowProductionVariants" not in described
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["v1"]


def test_shadow_then_all_at_once_switches_after_the_proof(sandbox: Sandbox, model: str) -> None:
    assert roll(sandbox, model, "v1", "v1", strategy="all_at_once").outcome == "promoted"
    outcome = roll(sandbox, model, "v2", "v2", strategy="all_at_once")

    assert outcome.outcome == "promoted", outcome.cause
    entered = outcome.states_entered()
    assert entered.index("Shadow First?") < entered.index("End Shadow") < entered.index("Leave Shadow")
    # the pre-traffic check (and manual approval, when configured) still come before the switch
    assert entered.index("Leave Shadow") < entered.index("Pre-Traffic Check") < entered.index("Promote")
    assert "Shift Traffic" not in entered
