"""`mlrollout cost`: the pure computation against a hand-built history, then one real rollout in the sandbox.

The hand-built history (`rollout_history`) is a small rollout whose expected numbers are worked out by hand in
the comments: which states were entered, which attempts were retried, which REPORT line each Lambda attempt is
billed from, and how long the candidate ran beside the current variant.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
from rich.console import Console
from typer.testing import CliRunner

from mlrollout.contracts import DecisionRecord
from mlrollout_cli import cost
from mlrollout_cli.cost import FunctionInfo, Inputs, Report, breakdown, function_name, parse_report
from mlrollout_cli.errors import CliError, ExitCode

unit = pytest.mark.unit
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:mlrollout-rollout:one"


@pytest.fixture(autouse=True)
def _sockets_off_in_unit_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    pytest_socket.disable_socket()
    yield
    pytest_socket.enable_socket()


class History:
    """Builds execution history events the way get_execution_history returns them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def add(self, kind: str, seconds: float, **details: Any) -> History:
        event: dict[str, Any] = {"type": kind, "timestamp": self.at(seconds), "id": len(self.events) + 1}
        event.update(details)
        self.events.append(event)
        return self

    def enter(self, kind: str, name: str, seconds: float) -> History:
        return self.add(f"{kind}StateEntered", seconds, stateEnteredEventDetails={"name": name})

    def task(
        self,
        function: str | None,
        scheduled: float,
        ended: float,
        *,
        output: dict[str, Any] | None = None,
        failed: bool = False,
        resource: tuple[str, str] = ("lambda", "invoke"),
    ) -> History:
        kind, name = resource if function is None else ("lambda", "invoke")
        parameters = {"FunctionName": f"{ARN}{function}"} if function else {}
        self.add(
            "TaskScheduled",
            scheduled,
            taskScheduledEventDetails={"resourceType": kind, "resource": name, "parameters": json.dumps(parameters)},
        )
        self.add("TaskStarted", scheduled, taskStartedEventDetails={"resourceType": kind, "resource": name})
        if failed:
            return self.add("TaskFailed", ended, taskFailedEventDetails={"error": "Lambda.ServiceException"})
        body = json.dumps({"StatusCode": 200, **(output or {})})
        return self.add("TaskSucceeded", ended, taskSucceededEventDetails={"resourceType": kind, "output": body})


def rollout_history() -> list[dict[str, Any]]:
    h = History()
    h.add("ExecutionStarted", 0)
    h.enter("Task", "Validate Artifact", 0)  # state 1
    h.task("validate", 1, 3, output={"Payload": {"config": {"instance_type": "ml.m5.large", "instance_count": 2}}})
    h.enter("Task", "Plan Deployment", 4)  # state 2
    h.task("plan", 4, 5, failed=True)  # attempt 1: no REPORT line, billed its span: 1000 ms
    h.task("plan", 7, 8, output={"Payload": {"first_deployment": False}})  # retry 1: REPORT 20.01 ms -> 21 ms
    h.enter("Task", "Deploy Candidate", 10)  # state 3
    h.task("deploy", 10, 12, output={"Payload": {"config_name": "c"}})  # no REPORT line: 2000 ms; canary starts
    h.enter("Wait", "Wait Evaluation Interval", 12)  # state 4
    h.enter("Task", "Shift Traffic", 60)  # state 5
    h.task(None, 60, 61, resource=("aws-sdk:sagemaker", "updateEndpointWeightsAndCapacities"))  # not a Lambda
    h.task(None, 62, 63, resource=("aws-sdk:sagemaker", "updateEndpointWeightsAndCapacities"))  # retry 2 (a transition)
    h.enter("Choice", "Canary Verdict?", 64)  # state 6
    h.enter("Task", "Announce Rollout", 130)  # state 7
    h.task("notify", 130, 131, output={"Payload": {"message_id": "m-1", "subject": "started"}})
    h.enter("Task", "Judge Canary", 140)  # state 8
    judged = {"Payload": {"verdict": "PASS"}, "SdkResponseMetadata": {"RequestId": "r-judge"}}
    h.task("judge", 140, 141, output=judged)  # its REPORT found by request id, though logged outside the window
    h.enter("Task", "Notify Promoted", 150)  # state 9
    h.task("notify", 150, 151, output={"Payload": {"message_id": "m-2", "subject": "promoted"}})
    h.enter("Task", "Finalize Promotion", 1812)  # state 10: the endpoint is on one config again, 1800 s later
    h.task("finalize", 1812, 1813, output={"Payload": {}})
    h.enter("Succeed", "Rollout Promoted", 1814)  # state 11
    return h.add("ExecutionSucceeded", 1815).events


def reports() -> list[Report]:
    def line(function: str, request: str, seconds: float, text: str) -> Report:
        found = parse_report(function, f"REPORT RequestId: {request}\t{text}", int((T0.timestamp() + seconds) * 1000))
        assert found is not None
        return found

    return [
        line("validate", "r-validate", 2, "Duration: 101.20 ms\tBilled Duration: 102 ms\tMemory Size: 512 MB"),
        line("plan", "r-plan", 7.5, "Duration: 20.01 ms\tMemory Size: 256 MB"),
        line("judge", "r-judge", 500, "Duration: 300.50 ms\tBilled Duration: 301 ms"),
        # Two invocations of notify logged while Announce Rollout ran (another execution's too): the longer is billed.
        line("notify", "r-notify-a", 130.2, "Duration: 9.99 ms"),
        line("notify", "r-notify-other", 130.5, "Duration: 49.50 ms"),
        line("notify", "r-notify-b", 150.4, "Duration: 9.99 ms"),
        line("finalize", "r-finalize", 1812.5, "Duration: 0.40 ms"),
    ]


FUNCTIONS = {
    "validate": FunctionInfo("validate", 512),
    "plan": FunctionInfo("plan", 256),
    "deploy": FunctionInfo("deploy", 256),
    "judge": FunctionInfo("judge", 256),
    "notify": FunctionInfo("notify", 128, "arm64"),
    "finalize": FunctionInfo("finalize", 1024),
}
QUERY = {"Id": "inv0", "MetricStat": {}, "ReturnData": True}


def look(**fields: Any) -> DecisionRecord:
    """A decision record with what cost reads set by the test, the rest a plain look's."""
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=5)).isoformat()}
    base = {"deployment_id": "fraud-scorer-abc", "endpoint": "fraud-scorer", "canary_variant": "v2", "step_index": 0}
    base |= {"weight": 10.0, "look": 1, "now": window["end"], "window": window, "thresholds": {}}
    return DecisionRecord.model_validate(
        base | {"verdict": "INCONCLUSIVE", "action": "continue", "reason": ""} | fields
    )


LOOKS = [
    look(queries=[QUERY] * 12),
    look(queries=[QUERY] * 12, rollback_alarms={"p99-alarm": "OK"}),
    look(),  # before the step's first complete minute: nothing requested
    None,  # a record that could not be read
]


def inputs(**changes: Any) -> Inputs:
    fields: dict[str, Any] = {
        "deployment_id": "fraud-scorer-abc",
        "histories": {EXECUTION: rollout_history()},
        "functions": FUNCTIONS,
        "reports": reports(),
        "looks": LOOKS,
    }
    fields.update(changes)
    return Inputs(**fields)


def items(result: cost.Breakdown) -> dict[str, tuple[float, float]]:
    return {f"{i.service} {i.item}": (i.quantity, i.cost) for i in result.items}


@unit
def test_transitions_are_states_entered_plus_retries() -> None:
    result = breakdown(inputs())
    assert (result.states_entered, result.retries, result.state_transitions) == (11, 2, 13)
    assert items(result)["Step Functions state transitions (Standard)"] == pytest.approx((13, 13 * 0.025 / 1000))


@unit
def test_each_lambda_attempt_is_billed_from_its_report_line_or_its_history_span() -> None:
    result = breakdown(inputs())
    billed = [(a.state, a.function, a.billed_ms, a.source) for a in result.attempts]
    assert billed == [
        ("Validate Artifact", "validate", 102, "report"),  # Billed Duration as Lambda reported it
        ("Plan Deployment", "plan", 1000, "history"),  # the failed attempt: no REPORT line, TaskStarted to TaskFailed
        ("Plan Deployment", "plan", 21, "report"),  # 20.01 ms rounded up to the next millisecond
        ("Deploy Candidate", "deploy", 2000, "history"),
        ("Announce Rollout", "notify", 50, "report"),  # the longer of the two REPORT lines in its window
        ("Judge Canary", "judge", 301, "report"),  # matched on the request id in the task's output
        ("Notify Promoted", "notify", 10, "report"),
        ("Finalize Promotion", "finalize", 1, "report"),  # 0.40 ms: Lambda bills at least 1 ms
    ]
    assert result.lambda_requests == 8
    assert result.lambda_billed_from == {"report": 6, "history": 2}
    # x86: 0.102 s x 0.5 GB + (1.000 + 0.021 + 2.000 + 0.301) s x 0.25 GB + 0.001 s x 1 GB = 0.8825 GB-s
    # arm: (0.050 + 0.010) s x 0.125 GB = 0.0075 GB-s
    found = items(result)
    assert found["Lambda compute, x86 (first tier)"] == pytest.approx((0.8825, 0.8825 * 0.0000166667))
    assert found["Lambda compute, Arm (first tier)"] == pytest.approx((0.0075, 0.0075 * 0.0000133334))
    assert found["Lambda requests"] == pytest.approx((8, 8 * 0.20 / 1_000_000))
    assert result.lambda_gb_seconds == pytest.approx(0.89)
    assert "2 of 8 Lambda attempts had no REPORT line" in result.notes[0]


@unit
def test_endpoint_changed_invocations_outside_the_execution_are_billed_with_the_rest() -> None:
    def line(request: str, text: str) -> Report:
        found = parse_report("changed", f"REPORT RequestId: {request}\t{text}", int(T0.timestamp() * 1000) + 70_000)
        assert found is not None
        return found

    events = [line("r-e1", "Duration: 30.20 ms"), line("r-e2", "Duration: 11.00 ms\tBilled Duration: 12 ms")]
    functions = {**FUNCTIONS, "changed": FunctionInfo("changed", 512)}
    without, result = breakdown(inputs()), breakdown(inputs(functions=functions, event_reports=events))

    billed = [(a.state, a.function, a.billed_ms, a.memory_mb) for a in result.attempts[len(without.attempts) :]]
    assert billed == [(cost.EVENT_STATE, "changed", 31, 512), (cost.EVENT_STATE, "changed", 12, 512)]
    assert result.lambda_requests == without.lambda_requests + 2
    assert result.lambda_gb_seconds == pytest.approx(without.lambda_gb_seconds + 0.043 * 0.5)
    assert result.state_transitions == without.state_transitions  # no state was entered for them


@unit
def test_metrics_decision_records_alarm_checks_and_messages() -> None:
    result = breakdown(inputs())
    found = items(result)
    assert (result.looks, result.looks_with_metrics, result.metrics_requested) == (4, 2, 24)
    assert found["CloudWatch GetMetricData metrics requested"] == pytest.approx((24, 24 * 0.01 / 1000))
    assert found["CloudWatch API requests (DescribeAlarms)"] == pytest.approx((1, 0.01 / 1000))
    assert found["S3 PUT requests (decision records)"] == pytest.approx((3, 3 * 0.005 / 1000))
    assert found["SNS publishes (standard topic)"] == pytest.approx((2, 2 * 0.50 / 1_000_000))
    assert result.notes[1] == "decision records that could not be read: 1 (their metrics are not counted)"


def with_plan_estimate(estimate: dict[str, Any], *, include_4xx: bool = False) -> list[dict[str, Any]]:
    """The hand-built history with Plan Deployment's output carrying `estimate`, and the config's include_4xx."""
    events = rollout_history()
    for event in events:
        details = event.get("taskSucceededEventDetails")
        if details and '"first_deployment"' in details["output"]:
            details["output"] = json.dumps({"Payload": {"first_deployment": False, "estimate": estimate}})
        elif details and '"instance_type"' in details["output"]:
            config = {"instance_type": "ml.m5.large", "instance_count": 2, "judge": {"include_4xx": include_4xx}}
            details["output"] = json.dumps({"Payload": {"config": config}})
    return events


@unit
def test_plans_traffic_read_is_counted_with_the_looks_metrics() -> None:
    read = {"requests_per_minute": 700.0, "error_rate": 0.001, "traffic_minutes": 60}
    result = breakdown(inputs(histories={EXECUTION: with_plan_estimate(read)}))
    # Invocations and 5XX of the current variant, in one GetMetricData call, besides the looks' 24
    assert (result.plan_metrics_requested, result.metrics_requested) == (2, 24)
    assert items(result)["CloudWatch GetMetricData metrics requested"] == pytest.approx((26, 26 * 0.01 / 1000))
    counting = breakdown(inputs(histories={EXECUTION: with_plan_estimate(read, include_4xx=True)}))
    assert counting.plan_metrics_requested == 3  # and 4XX, when the judge counts them
    failed = {"unavailable": "CloudWatch GetMetricData failed for the current variant v1: Throttling"}
    assert breakdown(inputs(histories={EXECUTION: with_plan_estimate(failed)})).plan_metrics_requested == 0
    assert breakdown(inputs()).plan_metrics_requested == 0  # no estimate at all (a Plan without a traffic read)


@unit
def test_the_total_is_the_sum_of_the_lines_and_names_the_largest() -> None:
    result = breakdown(inputs())
    expected = (
        13 * 0.000025  # transitions
        + 8 * 0.0000002  # Lambda requests
        + 0.8825 * 0.0000166667
        + 0.0075 * 0.0000133334
        + 24 * 0.00001  # metrics requested
        + 1 * 0.00001  # DescribeAlarms
        + 3 * 0.000005  # decision records
        + 2 * 0.0000005  # publishes
    )
    assert result.total_usd == pytest.approx(expected)
    assert result.total_usd == pytest.approx(0.0006074084, abs=1e-10)
    assert result.dominant == "Step Functions state transitions (Standard)"  # $0.000325 against $0.00024 of metrics


@unit
def test_the_canary_ran_from_deploy_candidate_until_the_endpoint_was_on_one_config_again() -> None:
    canary = breakdown(inputs()).canary
    assert (canary.first_deployment, canary.instance_type, canary.instance_count) == (False, "ml.m5.large", 2)
    assert (canary.started, canary.ended) == (
        (T0 + timedelta(seconds=12)).isoformat(),
        (T0 + timedelta(seconds=1812)).isoformat(),
    )
    assert (canary.hours, canary.instance_hours) == (0.5, 1.0)


@unit
def test_the_canary_instances_are_priced_at_the_on_demand_rate_outside_the_total() -> None:
    result = breakdown(inputs())
    canary = result.canary
    # 2 x ml.m5.large for 0.5 h: 1 instance-hour at $0.115
    assert canary.usd_per_instance_hour == pytest.approx(0.115)
    assert canary.usd == pytest.approx(0.115)
    assert result.total_usd == pytest.approx(0.0006074084, abs=1e-10)  # the control-plane total is unchanged
    console = Console(record=True, width=250, force_terminal=True)
    cost.print_breakdown(console, result)
    assert "= 1.00 instance-hours x $0.115 = $0.1150 at the on-demand price" in " ".join(console.export_text().split())


@unit
def test_an_instance_type_without_a_price_is_reported_in_hours_only() -> None:
    events = rollout_history()
    for event in events:
        details = event.get("taskSucceededEventDetails")
        if details and "instance_type" in details["output"]:
            config = {"instance_type": "ml.r7i.48xlarge", "instance_count": 2}
            details["output"] = json.dumps({"Payload": {"config": config}})
    result = breakdown(inputs(histories={EXECUTION: events}))
    assert (result.canary.instance_hours, result.canary.usd_per_instance_hour, result.canary.usd) == (1.0, None, None)
    console = Console(record=True, width=250, force_terminal=True)
    cost.print_breakdown(console, result)
    assert "(no price for ml.r7i.48xlarge in the table)" in " ".join(console.export_text().split())


@unit
def test_a_first_deployment_adds_no_instance_hours() -> None:
    events = rollout_history()
    for event in events:
        details = event.get("taskSucceededEventDetails")
        if details and "first_deployment" in details["output"]:
            details["output"] = json.dumps({"Payload": {"first_deployment": True}})
    canary = breakdown(inputs(histories={EXECUTION: events})).canary
    assert (canary.first_deployment, canary.hours, canary.instance_hours) == (True, 0.0, 0.0)
    assert "first deployment" in canary.note


@unit
def test_a_restore_execution_is_costed_with_the_rollout_and_ends_its_canary() -> None:
    stopped = [e for e in rollout_history() if e["timestamp"] < T0 + timedelta(seconds=1000)]
    restore = History()
    restore.enter("Pass", "Start Rollout", 2000).enter("Task", "Roll Back", 2001)
    restore.task("rollback", 2001, 2002, output={"Payload": {"status": "done"}})
    restore.enter("Choice", "Rollback Complete?", 2003).enter("Task", "Reject Version", 2012)
    result = breakdown(inputs(histories={EXECUTION: stopped, "restore": restore.events}))
    assert result.executions == [EXECUTION, "restore"]
    assert result.states_entered == 9 + 4
    assert result.canary.hours == pytest.approx(2000 / 3600, abs=1e-4)  # Deploy Candidate's end (12 s) to 2012 s
    assert "rollback" in {a.function for a in result.attempts}


@unit
def test_a_rollout_that_never_came_back_to_one_config_counts_to_its_last_event() -> None:
    stopped = [e for e in rollout_history() if e["timestamp"] < T0 + timedelta(seconds=1000)]
    canary = breakdown(inputs(histories={EXECUTION: stopped})).canary
    assert canary.ended == (T0 + timedelta(seconds=151)).isoformat()
    assert "never seen back on one config" in canary.note


@unit
def test_report_lines_of_aws_and_of_the_sandbox() -> None:
    aws = (
        "REPORT RequestId: 6f1c\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 80 MB\tInit Duration: 401.00 ms\t"
    )
    assert parse_report("f", aws, 0) == Report("f", "6f1c", datetime(1970, 1, 1, tzinfo=UTC), 12.34, 13)
    sandbox = parse_report("f", "REPORT RequestId: ab-1 Duration: 510.40 ms Memory Size: 512 MB", 1_000)
    assert sandbox is not None and (sandbox.billed_ms, sandbox.at.timestamp()) == (511, 1.0)
    cold = parse_report("f", "REPORT RequestId: c Duration: 1.5 ms Init Duration: 200.2 ms", 0)
    assert cold is not None and cold.billed_ms == 202  # no Billed Duration: the init phase is billed too
    assert parse_report("f", '{"level": "INFO", "message": "REPORT"}', 0) is None


@unit
def test_the_table_lists_each_line_the_total_and_the_canary() -> None:
    console = Console(record=True, width=200, force_terminal=True)
    cost.print_breakdown(console, breakdown(inputs()))
    text = " ".join(console.export_text().split())
    assert "Step Functions │ state transitions (Standard) │ 13 │ $0.025 / 1,000 transitions │ 0.000325" in text
    assert "Lambda │ compute, x86 (first tier) │ 0.8825 │ $0.0000166667 / GB-second │ 0.000015" in text
    assert "Lambda │ compute, Arm (first tier) │ 0.0075 │ $0.0000133334 / GB-second │ 1.00e-07" in text
    assert "│ total │ │ │ 0.000607 │" in text
    assert "canary: 2 x ml.m5.large beside the current variant for 0.50 h = 1.00 instance-hours" in text
    assert "note: 2 of 8 Lambda attempts had no REPORT line" in text


@unit
def test_function_names_from_arns_and_qualifiers() -> None:
    assert function_name(f"{ARN}mlrollout-Judge-1") == "mlrollout-Judge-1"
    assert function_name(f"{ARN}mlrollout-Judge-1:live") == "mlrollout-Judge-1"
    assert function_name("mlrollout-Judge-1") == "mlrollout-Judge-1"


@unit
def test_every_line_has_one_price_with_its_source() -> None:
    result = breakdown(inputs())
    as_json = result.as_dict()
    assert as_json["prices_taken"] == cost.PRICES_TAKEN
    assert {p["source"].split("/")[2] for p in as_json["prices"].values()} == {"aws.amazon.com"}
    assert all(p["confirmed"] for p in as_json["prices"].values())
    assert {p["source"].split("/")[2] for p in as_json["instance_prices"].values()} == {"aws.amazon.com"}
    assert all(p["confirmed"] and p["unit"] == "instance-hour" for p in as_json["instance_prices"].values())
    assert "ml.m5.large" in as_json["instance_prices"]  # the default instance type of a candidate
    json.dumps(as_json, default=str)


# the sandbox --------------------------------------------------------------------------------------------------
CONFIG = """image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4
instance_count: 2
strategy:
  steps: [50]
  bake_minutes: 3
"""


@pytest.mark.sandbox
def test_cost_of_a_real_rollout_in_the_sandbox() -> None:
    from mlrollout.adapters.ledger import DynamoDeployments
    from mlrollout_cli.main import app
    from mlrollout_files.package import package_model
    from mlrollout_sandbox.dataplane import TrafficProfile
    from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

    with Sandbox(warp=600, seed=11) as sandbox:
        sandbox.put_config("cost-model", CONFIG)
        sandbox.send_traffic("cost-model", TrafficProfile(rps=5))
        models = DEMO_MODELS / "fraud-scorer"
        assert sandbox.wait_for_rollout(sandbox.upload("cost-model", "v1", package_model(models / "v1"))).outcome
        outcome = sandbox.wait_for_rollout(sandbox.upload("cost-model", "v2", package_model(models / "v2")))
        table = sandbox.stack.physical("DeploymentsTable")
        records = DynamoDeployments(sandbox.client("dynamodb"), table)
        record = next(r for r in records.by_model("cost-model") if r["version_label"] == "v2")
        environment = {**os.environ, **sandbox.environment()}
        shown = subprocess.run(
            [str(Path(sys.executable).parent / "mlrollout"), "cost", record["deployment_id"], "--json"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        found = json.loads(shown.stdout)

        history = outcome.history
        entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
        scheduled = [e for e in history if e["type"] == "TaskScheduled"]
        lambdas = [e for e in scheduled if e["taskScheduledEventDetails"]["resourceType"] == "lambda"]
        assert found["executions"] == [outcome.execution_arn]
        assert found["states_entered"] == entered
        assert found["state_transitions"] == entered + found["retries"]
        # Every Lambda task attempt, and the Endpoint Changed invocations SageMaker's state-change events made for
        # this endpoint (outside the execution): at least one for each of the changes it awaited.
        events = [a for a in found["attempts"] if a["state"] == cost.EVENT_STATE]
        awaited = sum(1 for name in outcome.states_entered() if name.startswith("Await "))
        assert awaited == 3 and len(events) >= awaited  # deploy, the one shift, promote
        assert {a["function"] for a in events} == {sandbox.stack.physical("EndpointChangedFunction")}
        assert found["lambda_requests"] == len(lambdas) + len(events)
        # The sandbox's Lambda logs carry a REPORT line for every invocation: no duration comes from the warped
        # clock of the history.
        assert found["lambda_billed_from"] == {"report": len(lambdas) + len(events), "history": 0}
        assert all(1 <= a["billed_ms"] < 5_000 for a in found["attempts"])
        decisions = record.get("decisions") or []
        assert found["looks"] == len(decisions) == len(outcome.task_results("Judge Canary")) > 0
        # 5 queries for each of 2 variants: Invocation4XXErrors only when judge.include_4xx counts it
        assert found["metrics_requested"] == 10 * found["looks_with_metrics"]
        assert found["looks_with_metrics"] >= found["looks"] - 1
        messages = {
            result["message_id"]
            for state in set(outcome.states_entered())
            for result in outcome.task_results(state)
            if "message_id" in result
        }
        lines = {f"{i['service']} {i['item']}": i for i in found["items"]}
        assert lines["SNS publishes (standard topic)"]["quantity"] == len(messages)
        assert lines["S3 PUT requests (decision records)"]["quantity"] == len(decisions)
        assert found["total_usd"] == pytest.approx(sum(i["cost"] for i in found["items"]))
        canary = found["canary"]
        assert (canary["first_deployment"], canary["instance_count"]) == (False, 2)
        assert canary["instance_hours"] == pytest.approx(2 * canary["hours"], abs=1e-3)
        assert 0.05 < canary["hours"] < outcome.virtual_seconds / 3600
        assert canary["usd"] == pytest.approx(canary["instance_hours"] * cost.INSTANCE_PRICES["ml.m5.large"].each)

        runner, wide = CliRunner(), {**sandbox.environment(), "COLUMNS": "200"}
        # Raised as the CLI's one error contract (mlrollout_cli.main.run prints the line and exits with its code).
        unknown = runner.invoke(app, ["cost", "no-such-deployment"], env=wide)
        assert isinstance(unknown.exception, CliError) and unknown.exception.code == ExitCode.USAGE
        assert "no deployment no-such-deployment is recorded" in unknown.exception.what
        sandbox.client("dynamodb").put_item(
            TableName=table, Item={"deployment_id": {"S": "never-ran"}, "model_name": {"S": "cost-model"}}
        )
        unrun = runner.invoke(app, ["cost", "never-ran"], env=wide)
        assert isinstance(unrun.exception, CliError) and unrun.exception.code == ExitCode.NOT_SUCCEEDED
        assert "has no execution recorded" in unrun.exception.what


@unit
def test_piped_the_breakdown_is_tab_separated_rows_with_the_total_last() -> None:
    out = io.StringIO()
    cost.print_breakdown(Console(file=out, force_terminal=False), breakdown(inputs()))
    rows = [line.split("\t") for line in out.getvalue().splitlines() if "\t" in line]
    assert rows[0] == ["service", "item", "quantity", "unit price", "cost (USD)"]
    assert ["Step Functions", "state transitions (Standard)", "13", "$0.025 / 1,000 transitions", "0.000325"] in rows
    assert rows[-1] == ["", "total", "", "", "0.000607"]
