"""The demo's seven scenarios through the real template, state machine and handlers; assertions on AWS state."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrollout_sandbox.demo import AUTOSCALED, MODEL, SCALING_BOUNDS, SERVERLESS, Demo, ScenarioResult
from mlrollout_sandbox.session import Sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, dict[str, ScenarioResult], Path]]:
    output = tmp_path_factory.mktemp("demo")
    with Sandbox(warp=600, seed=7) as sandbox:
        results = {r.name: r for r in Demo(sandbox, output, pictures=True).run()}
        yield sandbox, results, output


def package(sandbox: Sandbox, arn: str) -> dict[str, Any]:
    return dict(sandbox.client("sagemaker").describe_model_package(ModelPackageName=arn))


def test_first_version_creates_the_endpoint_and_attaches_monitoring(demo: Any) -> None:
    sandbox, results, _ = demo
    first = results["first-version"]
    assert first.outcome == "promoted"
    assert package(sandbox, first.model_package_arn)["ModelApprovalStatus"] == "Approved"
    scheduler = sandbox.client("scheduler")
    schedule = scheduler.get_schedule(Name=f"{MODEL}-drift", GroupName=f"{sandbox.stack_name}-drift")
    assert (schedule["State"], schedule["ScheduleExpression"]) == ("ENABLED", "rate(30 minutes)")
    assert schedule["Target"]["Arn"].endswith(":function:" + sandbox.stack.physical("DetectDriftFunction"))
    alarms = sandbox.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"mlrollout-{MODEL}.drift.")["MetricAlarms"]
    features = {
        next(d["Value"] for d in a["Dimensions"] if d["Name"] == "Feature")
        for a in alarms
        if a["MetricName"] == "DriftScore"
    }
    assert features == {"amount", "merchant", "hour"}
    assert all(a.get("AlarmActions", []) == [] for a in alarms)
    assert any("v1 promoted" in subject for subject in first.emails)
    assert any("rollout started" in subject for subject in first.emails)


def test_a_healthy_version_is_canaried_then_promoted(demo: Any) -> None:
    sandbox, results, _ = demo
    healthy = results["healthy-update"]
    assert healthy.outcome == "promoted"
    assert healthy.weights == {"v2": 1.0}
    assert package(sandbox, healthy.model_package_arn)["ModelApprovalStatus"] == "Approved"
    transitions = sandbox.aws.emulator.services["sagemaker"].transitions(MODEL)
    shifted = [t.weights for t in transitions if t.operation == "UpdateEndpointWeightsAndCapacities"]
    assert {"v1": 90.0, "v2": 10.0} in shifted
    assert {"v1": 50.0, "v2": 50.0} in shifted
    assert [look["action"] for look in healthy.details["looks"]].count("advance") == 2


def test_a_faulty_version_is_rolled_back_with_the_judges_evidence(demo: Any) -> None:
    sandbox, results, _ = demo
    faulty = results["faulty-update"]
    assert faulty.outcome == "rolled back"
    assert faulty.endpoint_config == faulty.details["config_before"]
    assert faulty.weights == {"v2": 1.0}
    described = package(sandbox, faulty.model_package_arn)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert "error rate" in described["ApprovalDescription"]
    assert described["CustomerMetadataProperties"]["mlrollout:outcome"] == "rejected"
    [message] = [a for a in sandbox.alerts() if "v3 rolled back" in a.get("Subject", "") and MODEL in a["Subject"]]
    document = json.loads(message["Message"])
    assert document["event"] == "rolled_back"
    # The judge fails the canary on its error rate at the first conclusive look: the absolute cap or the relative
    # signal, whichever bound crosses first (that depends on how many requests the look saw, not on the model).
    failing = {e["name"]: e for e in document["evidence"] if e["value"].endswith("(fail)")}
    assert failing.keys() & {"5XX error rate (cap)", "5XX error rate over 1.25x the current variant's"}, failing
    # in the units of the reason: a rate in percent against a cap, an excess in points against a tolerance
    for name, seen in failing.items():
        unit = "%" if name.endswith("(cap)") else " points"
        assert re.fullmatch(rf"canary [+]?[0-9.]+{unit}(, current [0-9.]+%)? \(fail\)", seen["value"]), seen
        assert seen["limit"].endswith(unit), seen
    assert any(e["name"] == "rollback verified" and e["value"] == "yes" for e in document["evidence"])


def test_drift_reaches_sns_and_slack_once(demo: Any) -> None:
    sandbox, results, _ = demo
    drift = results["drift"]
    assert "amount" in drift.outcome
    assert drift.details["drift_reports"], "the drift check wrote no report"
    drift_posts = [p for p in sandbox.slack_posts() if "input drifted" in p.text]
    assert drift_posts
    assert len({p.text for p in drift_posts}) == len(drift_posts)  # no duplicates
    [amount] = [p for p in drift_posts if "Feature amount" in p.text]
    fields = {
        f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1]
        for block in amount.body["attachments"][0]["blocks"]
        for f in block.get("fields", [])
    }
    psi = re.fullmatch(r"([0-9.]+) \(limit 0.25\)", fields["PSI of amount"])
    assert psi is not None and float(psi.group(1)) > 0.25, fields
    assert any("input drifted" in subject for subject in drift.alerts)


def test_an_alarm_firing_again_within_its_cooldown_posts_nothing(demo: Any) -> None:
    sandbox, _, _ = demo
    cloudwatch = sandbox.client("cloudwatch")
    name = f"mlrollout-{MODEL}.drift.amount"
    assert cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM"
    sandbox.drain()

    def drifted_amount() -> int:
        # Only "input drifted" posts: the demo's traffic is back to normal, so the drift check's next run may
        # legitimately resolve the alarm while this test runs, and its recovery is said once.
        return len([p for p in sandbox.slack_posts() if "input drifted" in p.text and "Feature amount" in p.text])

    posted = drifted_amount()
    assert posted == 1
    # The alarm leaves ALARM without a recovery (no data) and fires again: CloudWatch sends both changes.
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="test: no data")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: drifted again")
    sandbox.drain()
    assert drifted_amount() == posted


def test_a_broken_artifact_is_rejected_and_nothing_else_changes(demo: Any) -> None:
    _, results, _ = demo
    broken = results["broken-artifact"]
    assert broken.outcome == "rejected"
    assert "not a readable tar archive" in broken.reason
    assert broken.details["packages_after"] == broken.details["packages_before"]
    assert broken.details["artifact_kept_bytes"] > 0
    assert broken.weights == {"v2": 1.0}
    assert any("rejected" in text for text in broken.slack)


def test_every_rollout_draws_its_timeline(demo: Any) -> None:
    _, results, output = demo
    pictures = sorted(p.name for p in output.glob("*.png"))
    assert pictures == [
        "1-first-version.png",
        "2-healthy-update.png",
        "3-faulty-update.png",
        "5-broken-artifact.png",
        "6-auto-scaled-update.png",
        "7-serverless-faulty-update.png",
    ]
    assert all((output / name).stat().st_size > 10_000 for name in pictures)
    assert all(r.passed for r in results.values())


def test_rollout_outcomes_reach_the_dashboards_metrics(demo: Any) -> None:
    sandbox, _, _ = demo
    metrics = sandbox.client("cloudwatch").list_metrics(Namespace="mlrollout", MetricName="RolloutEvents")["Metrics"]
    outcomes = {d["Value"] for m in metrics for d in m["Dimensions"] if d["Name"] == "Outcome"}
    assert {"promoted", "rolled_back", "rejected"} <= outcomes


def test_replay_reruns_every_look_from_the_decision_records(demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mlrollout_cli.main import app

    sandbox, results, _ = demo
    faulty = results["faulty-update"]
    deployment = package(sandbox, faulty.model_package_arn)["CustomerMetadataProperties"]["mlrollout:deployment-id"]
    for key, value in sandbox.environment().items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()

    stored = runner.invoke(app, ["replay", deployment, "--json"])
    assert stored.exit_code == 0, stored.output
    looks = json.loads(stored.output)
    assert len(looks) == len(faulty.details["looks"])
    assert [look["recorded"] for look in looks] == [look["replayed"] for look in looks]
    assert looks[-1]["replayed"] == "FAIL"

    fresh_run = runner.invoke(app, ["replay", deployment, "--json", "--fresh"])
    assert fresh_run.exit_code == 0, fresh_run.output + repr(fresh_run.exception)
    fresh = json.loads(fresh_run.output)
    assert fresh[-1]["replayed"] == "FAIL"

    lenient = json.loads(
        runner.invoke(
            app, ["replay", deployment, "--json", "--set", "max_error_rate=0.5", "--set", "max_error_rate_ratio=40"]
        ).output
    )
    assert lenient[-1]["replayed"] != "FAIL"  # with thresholds that tolerate the bug, the last look would not fail


def test_an_auto_scaled_endpoint_is_promoted_with_its_scaling_carried_to_the_new_variant(demo: Any) -> None:
    sandbox, results, _ = demo
    scaled = results["auto-scaled-update"]
    assert scaled.passed, scaled.details
    assert scaled.details["first_version"] == "promoted"
    [(v1, grown)] = scaled.details["instances_before"].items()
    [(v2, at_promotion)] = scaled.details["instances_at_promotion"].items()
    assert grown >= 2 and at_promotion >= 1  # target tracking had grown v1 under the traffic
    assert scaled.details["instances_after_traffic_doubled"][v2] > at_promotion
    aas = sandbox.client("application-autoscaling")
    [target] = aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{AUTOSCALED}/variant/{v2}"]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == SCALING_BOUNDS
    assert not aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{AUTOSCALED}/variant/{v1}"]
    )["ScalableTargets"]
    assert scaled.weights == {v2: 1.0}
    # The scenario's messages are its own endpoint's, not the main model's.
    assert scaled.emails and all(AUTOSCALED in subject for subject in scaled.emails)


def test_a_faulty_serverless_version_is_judged_against_history_and_reverted(
    demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mlrollout_cli.main import app

    sandbox, results, _ = demo
    faulty = results["serverless-faulty-update"]
    assert faulty.passed, faulty.details
    assert faulty.details["first_version"] == "promoted"
    assert faulty.endpoint_config == faulty.details["config_before"]
    described = sandbox.client("sagemaker").describe_endpoint(EndpointName=SERVERLESS)
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"]["MaxConcurrency"] == 20
    assert faulty.emails and all(SERVERLESS in subject for subject in faulty.emails)
    assert not any("v1 promoted" in subject for subject in faulty.emails)  # the first version's are not the scenario's
    # The decision records say what the new version was compared with, and replay re-judges them as they were.
    deployment = package(sandbox, faulty.model_package_arn)["CustomerMetadataProperties"]["mlrollout:deployment-id"]
    for key, value in sandbox.environment().items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    for extra in ([], ["--fresh"]):
        replayed = runner.invoke(app, ["replay", deployment, "--json", *extra])
        assert replayed.exit_code == 0, replayed.output + repr(replayed.exception)
        looks = json.loads(replayed.output)
        assert [look["replayed"] for look in looks] == [look["recorded"] for look in looks]
        assert looks[-1]["replayed"] == "FAIL" and all(look["record"].split("/")[-2] == "history" for look in looks)
    # One name per version: the upload labelled v3 (the endpoint's second package) is the variant v3 in every look.
    assert "v3" in faulty.details["looks"][-1]["reason"] and "v2" not in faulty.details["looks"][-1]["reason"]
