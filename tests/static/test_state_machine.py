"""The ASL's conventions, checked statically: names, wiring, retries, catches, substitutions."""

import json
import re
from typing import Any

import pytest

from mlrollout_sandbox.template import load_template
from support import ROOT

ASL = json.loads((ROOT / "statemachines" / "rollout.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
TEMPLATE = load_template(ROOT / "template.yaml")
MACHINE = TEMPLATE["Resources"]["RolloutStateMachine"]["Properties"]
TRANSIENT_LAMBDA = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# What an aws-sdk:sagemaker task raises when SageMaker throttles or fails transiently: Step Functions names errors
# of AWS SDK integrations ServiceName.ErrorName, always with the Exception suffix
# (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html). SageMaker's API model
# declares none of its throttling and server errors, and an error the service does not model arrives as
# SageMaker.SageMakerException; the modelled spellings are retried too, in case the service starts declaring them,
# and so is SageMaker.AmazonSageMakerException, the name the optimized integration used: no AWS page says which of
# these an aws-sdk task raises for a throttle, and retrying a name that never comes costs nothing.
TRANSIENT_SAGEMAKER = {
    "SageMaker.SageMakerException",
    "SageMaker.ThrottlingException",
    "SageMaker.ServiceUnavailableException",
    "SageMaker.InternalFailureException",
    "SageMaker.AmazonSageMakerException",
}
TITLE_WORD = re.compile(r"^([A-Z][A-Za-z0-9-]*|a|an|the|for|to|of|on|in|at|by|before|after)$")


def targets(state: dict[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def test_machine_level_settings() -> None:
    assert ASL["QueryLanguage"] == "JSONata"
    assert isinstance(ASL["TimeoutSeconds"], int)
    assert ASL["TimeoutSeconds"] > 0
    assert ASL["StartAt"] in STATES


def test_every_transition_leads_to_a_state_and_every_state_is_reachable() -> None:
    for name, state in STATES.items():
        for target in targets(state):
            assert target in STATES, f"{name} -> {target} does not exist"
    seen, todo = set(), [ASL["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(targets(STATES[name]))
    assert seen == set(STATES), f"unreachable: {set(STATES) - seen}"


def test_every_path_ends() -> None:
    ends = [n for n, s in STATES.items() if s["Type"] in {"Succeed", "Fail"} or s.get("End")]
    assert ends
    for name, state in STATES.items():
        if state["Type"] not in {"Succeed", "Fail"}:
            assert targets(state), f"{name} leads nowhere"


@pytest.mark.parametrize("name", sorted(STATES))
def test_state_names_are_title_case_and_choices_are_questions(name: str) -> None:
    assert all(TITLE_WORD.match(word) for word in name.rstrip("?").split()), name
    assert name.endswith("?") == (STATES[name]["Type"] == "Choice"), name


@pytest.mark.parametrize("name", sorted(n for n, s in STATES.items() if s["Type"] == "Task"))
def test_every_task_retries_only_transient_errors_and_catches_everything(name: str) -> None:
    state = STATES[name]
    retried = {error for retry in state.get("Retry", []) for error in retry["ErrorEquals"]}
    assert retried, f"{name} has no Retry"
    assert "States.ALL" not in retried, f"{name} retries business failures"
    for retry in state["Retry"]:
        assert retry.get("JitterStrategy") == "FULL"
        assert retry.get("BackoffRate", 1) >= 1
    if state["Resource"] == "arn:aws:states:::lambda:invoke":
        assert retried == TRANSIENT_LAMBDA | ({"EndpointChanging"} if name in WAITS_FOR_OTHER_CHANGES else set()), name
    if state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken":
        # An Await state's TimeoutSeconds is its re-check interval: the timeout is retried (a new look, a new
        # token); approval's timeout is the operator's deadline and is caught.
        assert retried - {"States.Timeout"} == TRANSIENT_LAMBDA, name
    if state["Resource"].startswith("arn:aws:states:::aws-sdk:sagemaker:"):
        assert retried == TRANSIENT_SAGEMAKER, name
    catches = state.get("Catch", [])
    assert any("States.ALL" in c["ErrorEquals"] for c in catches), f"{name} has no catch-all"
    for catch in catches:
        handled = STATES[catch["Next"]]
        # A catch goes somewhere that records or reports the failure, never straight to the end; the last
        # steps (telling operators, settling the record) end anyway: the execution-ended rule settles again.
        assert handled["Type"] not in {"Succeed", "Fail"} or name.startswith(("Notify", "Settle"))


# The Lambda steps that read or change the endpoint where another change may be running (an auto scaling activity
# puts it in Updating): they raise EndpointChanging, which is not a business failure but a moment to wait out. A
# Retry re-runs the task with the state's same input, whose `now` is the time the state was entered: a step that
# renews the endpoint's lease renews it to the same time on every attempt, so no retry outlasts the lease.
WAITS_FOR_OTHER_CHANGES = {"Plan Deployment", "Deploy Candidate", "Promote", "Finalize Promotion"}


def shortest_lease_minutes() -> float:
    from mlrollout.domain.config import Strategy
    from mlrollout.domain.ledger import lease_minutes

    interval = next(m.ge for m in Strategy.model_fields["evaluation_interval_seconds"].metadata if hasattr(m, "ge"))
    return lease_minutes(TEMPLATE["Parameters"]["EndpointRecheckSeconds"]["MinValue"], interval)


def test_a_change_refused_while_another_runs_is_tried_again_within_the_lease() -> None:
    lease = shortest_lease_minutes()
    for name in sorted(WAITS_FOR_OTHER_CHANGES):
        (retry,) = [r for r in STATES[name]["Retry"] if r["ErrorEquals"] == ["EndpointChanging"]]
        delays = [
            min(retry["IntervalSeconds"] * retry["BackoffRate"] ** k, retry.get("MaxDelaySeconds", 10**9))
            for k in range(retry["MaxAttempts"])
        ]
        assert max(delays) <= 120, name  # a change that ends is noticed within two minutes
        assert sum(delays) / 60 < lease, name  # even without jitter, within the lease
        assert sum(delays) / 60 > 10, name  # and over ten minutes (no AWS page gives a scaling activity's duration)
    # The aws-sdk steps (Shift Traffic, Leave Shadow) cannot raise a name of ours: a refusal goes to a look at the
    # endpoint's status, and to a one-minute wait and another try while another change runs. Nothing on that loop
    # renews the lease: its worst case (each round the task's own retries without jitter, then the wait) fits in it.
    choice = STATES["Endpoint Changing?"]
    assert choice["Default"] == "Roll Back"
    (most,) = {int(re.findall(r"\$changeWaits < (\d+)", rule["Condition"])[0]) for rule in choice["Choices"]}
    (sdk_retry,) = STATES["Shift Traffic"]["Retry"]
    one_round = sum(
        sdk_retry["IntervalSeconds"] * sdk_retry["BackoffRate"] ** k for k in range(sdk_retry["MaxAttempts"])
    )
    assert ((most + 1) * one_round + most * 60) / 60 < lease
    for rule in choice["Choices"]:
        wait = STATES[rule["Next"]]
        assert wait["Type"] == "Wait" and wait["Seconds"] == 60
        assert wait["Next"] in {"Shift Traffic", "Leave Shadow"}
        assert f"'{wait['Next']}'" in rule["Condition"] or wait["Next"] == "Shift Traffic"
    for name in ("Shift Traffic", "Leave Shadow"):
        refused = [c for c in STATES[name]["Catch"] if c["Next"] == "Describe Refused Endpoint"]
        assert refused and "States.ALL" not in refused[0]["ErrorEquals"], name
        assert STATES[name]["Assign"]["changeWaits"] == 0, name  # the patience is per change


ENDPOINT_CHANGING = {
    "Deploy Candidate",
    "Shift Traffic",
    "Promote",
    "Leave Shadow",
    "Await Deployed",
    "Await Shift",
    "Await Promoted",
    "Pre-Traffic Check",
    "Judge Canary",
    "Finalize Promotion",
}


@pytest.mark.parametrize("name", sorted(ENDPOINT_CHANGING))
def test_steps_after_the_endpoint_changed_fail_into_the_rollback(name: str) -> None:
    catch_targets = {c["Next"] for c in STATES[name]["Catch"]}
    if name in {"Shift Traffic", "Leave Shadow"}:  # through a look at whether another change runs
        assert catch_targets == {"Roll Back", "Describe Refused Endpoint"}, name
        assert {c["Next"] for c in STATES["Describe Refused Endpoint"]["Catch"]} == {"Roll Back"}
    else:
        assert catch_targets == {"Roll Back"}, name


def test_every_substitution_is_defined_and_every_definition_is_used() -> None:
    text = (ROOT / "statemachines" / "rollout.asl.json").read_text()
    used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
    defined = set(MACHINE["DefinitionSubstitutions"])
    assert used == defined


def test_no_arn_or_account_is_hard_coded() -> None:
    text = (ROOT / "statemachines" / "rollout.asl.json").read_text()
    assert not re.search(r"arn:aws:(lambda|sagemaker|sns|s3)", text)
    assert not re.search(r"\b\d{12}\b", text)


def test_single_api_calls_are_native_integrations() -> None:
    native = {s["Resource"] for s in STATES.values() if s["Type"] == "Task" and "aws-sdk" in s["Resource"]}
    assert native == {
        "arn:aws:states:::aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
        "arn:aws:states:::aws-sdk:sagemaker:updateEndpoint",  # Leave Shadow
        "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",  # Describe Refused Endpoint
    }


def test_waiting_is_done_by_wait_states_and_task_tokens() -> None:
    assert {n for n, s in STATES.items() if s["Type"] == "Wait"} == {
        "Wait Evaluation Interval",
        "Wait Before Rollback Step",
        "Wait For Lease",
        "Wait Then Shift Traffic",
        "Wait Then Leave Shadow",
    }


def test_the_reconciler_knows_how_long_an_execution_can_run() -> None:
    # The reconciler lists executions back to (its lookback + the longest run): a shorter figure than the machine's
    # TimeoutSeconds would miss an execution that started long ago and ended recently.
    from mlrollout.settings import Settings

    assert Settings.model_fields["execution_timeout_seconds"].default == ASL["TimeoutSeconds"]


def test_leaving_the_shadow_always_passes_the_pre_traffic_check_and_the_approval_gate() -> None:
    """From the shadow's proof, every forward path to 100% goes through Pre-Traffic Check and First Deployment?
    (where `approval: manual` waits), even with no canary steps. Leave Shadow sets the phase to 'deploy', so
    Shadow First?'s choice for the shadow phase is not a path from there."""
    assert STATES["Leave Shadow"]["Assign"]["phase"] == "deploy"

    def forward(name: str) -> list[str]:
        state = STATES[name]
        choices = state.get("Choices", [])
        if name == "Shadow First?":
            choices = [c for c in choices if "$phase = 'shadow'" not in c["Condition"]]
        return [state[k] for k in ("Next", "Default") if k in state] + [c["Next"] for c in choices]

    for gate in ("Pre-Traffic Check", "First Deployment?"):
        seen, todo = set(), ["End Shadow"]
        while todo:
            name = todo.pop()
            if name in seen or name == gate:
                continue
            seen.add(name)
            todo += forward(name)
        assert "Promote" not in seen, f"Promote is reachable from End Shadow without {gate}"


AWAITS = {"Await Deployed": "Shadow First?", "Await Shift": "Announce Step", "Await Promoted": "Finalize Promotion"}


def test_every_endpoint_change_is_awaited_by_the_same_task_token_wait() -> None:
    """Each state that changes the endpoint goes to an Await state; the Await states differ only in where they go
    next and the name their failures carry (one per phase saves a Choice transition per change)."""
    changes = {"Deploy Candidate": "Await Deployed", "Leave Shadow": "Await Deployed"}
    changes |= {"Shift Traffic": "Await Shift", "Promote": "Await Promoted"}
    for change, awaited in changes.items():
        assert STATES[change]["Next"] == awaited, change
        assert STATES[change]["Assign"]["changedAt"] == "{% $states.context.State.EnteredTime %}", change

    def shape(name: str) -> str:
        state = {k: v for k, v in STATES[name].items() if k not in {"Next", "Comment"}}
        return json.dumps(state, sort_keys=True).replace(name, "<name>")

    assert len({shape(name) for name in AWAITS}) == 1
    for name, following in AWAITS.items():
        state = STATES[name]
        assert state["Next"] == following
        assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
        assert state["Arguments"]["Payload"]["task_token"] == "{% $states.context.Task.Token %}"
        assert state["TimeoutSeconds"] == "{% ${EndpointRecheckSeconds} %}"
        timeouts = [r for r in state["Retry"] if r["ErrorEquals"] == ["States.Timeout"]]
        # The re-checks outlast the execution's own TimeoutSeconds at the smallest EndpointRecheckSeconds allowed:
        # the Lambda's time limit (EndpointWaitMinutes, or the model's) decides when a change is stuck, not Retry.
        minimum = TEMPLATE["Parameters"]["EndpointRecheckSeconds"]["MinValue"]
        assert timeouts and timeouts[0]["MaxAttempts"] * minimum >= ASL["TimeoutSeconds"]


def test_a_version_that_replaced_the_current_one_is_judged_against_history_before_promote() -> None:
    """Deployment.against_history (a serverless endpoint): after the pre-traffic check the bake starts at Announce
    Step, with the switch's request time as the end of the history, and the judge gets it; the choice comes before
    the one that promotes a strategy without steps, and after the first deployment's (which has no history)."""
    choices = STATES["First Deployment?"]["Choices"]
    conditions = [c["Condition"] for c in choices]
    history = next(i for i, c in enumerate(conditions) if "$deployment.against_history" in c)
    assert conditions.index("{% $deployment.first_deployment %}") < history
    assert history < next(i for i, c in enumerate(conditions) if "$count($rollout.steps) = 0" in c)
    assert choices[history]["Next"] == "Announce Step"
    assert choices[history]["Assign"] == {"historyBefore": "{% $changedAt %}"}
    # $changedAt there is Deploy Candidate's: no other change is requested on that path.
    assert "changedAt" in STATES["Deploy Candidate"]["Assign"]
    assert STATES["Start Rollout"]["Assign"]["historyBefore"] is None
    assert STATES["Judge Canary"]["Arguments"]["Payload"]["history_before"] == "{% $historyBefore %}"
    assert STATES["Announce Step"]["Next"] == "Wait Evaluation Interval"
