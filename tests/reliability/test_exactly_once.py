"""Duplicates and concurrency in the sandbox: one rollout per upload, one rollout per endpoint at a time.

Assertions are on state: the deployment records, the registry, the endpoint, the leases and what operators got.
"""

import itertools
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import Sandbox
from support import demo_artifact, run_cli

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
CONFIG = f"""image: {IMAGE}
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=5) as running:
        yield running


@pytest.fixture
def new_model(sandbox: Sandbox) -> Iterator[Callable[[], str]]:
    """Models with their own endpoint and traffic; the traffic stops when the test ends."""
    made: list[str] = []

    def make() -> str:
        name = f"m-{uuid.uuid4().hex[:6]}"
        sandbox.put_config(name, CONFIG)
        sandbox.send_traffic(name, TrafficProfile(rps=10))
        made.append(name)
        return name

    yield make
    assert sandbox.dataplane is not None
    for name in made:
        sandbox.dataplane.stop_traffic(name)


def records(sandbox: Sandbox, model: str) -> list[dict[str, Any]]:
    from mlrollout.adapters.ledger import DynamoDeployments

    table = sandbox.stack.physical("DeploymentsTable")
    return DynamoDeployments(sandbox.client("dynamodb"), table).by_model(model)


def lease(sandbox: Sandbox, endpoint: str) -> dict[str, Any] | None:
    table = sandbox.stack.physical("StateTable")
    item = sandbox.client("dynamodb").get_item(TableName=table, Key={"id": {"S": f"lease#{endpoint}"}})
    return item.get("Item")


def events_about(sandbox: Sandbox, model: str) -> list[str]:
    sandbox.drain()
    found = []
    for alert in sandbox.alerts():
        document = json.loads(alert["Message"])
        if document.get("model") == model:
            found.append(document["event"])
    return found


def test_a_duplicate_delivery_rolls_out_once(
    sandbox: Sandbox, new_model: Callable[[], str], observed: Callable[[str], None]
) -> None:
    """EventBridge delivers one upload's event twice"""
    model = new_model()
    rule = f"{sandbox.stack_name}-uploads"
    sandbox.aws.emulator.faults.arm("events:Deliver", "duplicate", times=1, rule=rule)
    upload = sandbox.upload(model, "v1", demo_artifact("v1"))
    first, second = sandbox.find_executions(upload, at_least=2)
    ended = [sandbox.wait_for_rollout(upload, execution=arn, timeout=180) for arn in (first, second)]
    assert sorted(o.outcome for o in ended) == ["duplicate", "promoted"], [o.cause for o in ended]
    [record] = records(sandbox, model)
    assert (record["outcome"], record["state"]) == ("promoted", "promoted")
    assert len(record["duplicates"]) == 1
    packages = sandbox.client("sagemaker").list_model_packages(ModelPackageGroupName=model)["ModelPackageSummaryList"]
    assert len(packages) == 1
    events = events_about(sandbox, model)
    assert events.count("started") == 1 and events.count("promoted") == 1, events
    assert lease(sandbox, model) is None
    observed(
        f"2 executions ended {sorted(o.outcome for o in ended)}; 1 record (promoted, 1 duplicate noted), "
        f"{len(packages)} model package, 1 started and 1 promoted message, lease released"
    )


def test_a_re_upload_of_the_same_bytes_is_a_duplicate(
    sandbox: Sandbox, new_model: Callable[[], str], observed: Callable[[str], None]
) -> None:
    """The same bytes uploaded again under another version folder"""
    model = new_model()
    body = demo_artifact("v1")
    assert sandbox.wait_for_rollout(sandbox.upload(model, "v1", body), timeout=180).outcome == "promoted"
    again = sandbox.wait_for_rollout(sandbox.upload(model, "v1-again", body), timeout=180)
    assert again.outcome == "duplicate"
    assert again.output is not None and again.output["state"] == "promoted"
    [record] = records(sandbox, model)
    assert [d["artifact"] for d in record["duplicates"]] == [
        f"s3://{sandbox.bucket}/models/{model}/v1-again/model.tar.gz"
    ]
    assert "Deploy Candidate" not in again.states_entered()
    observed("second execution ended as duplicate before registering; noted on the first record; nothing deployed")


def test_uploads_for_one_endpoint_take_turns_and_only_the_newest_waiting_one_proceeds(
    sandbox: Sandbox, new_model: Callable[[], str], observed: Callable[[str], None]
) -> None:
    """v3 and then v4 are uploaded while v2 rolls out on the same endpoint"""
    model = new_model()
    assert sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=180).outcome == "promoted"
    running = sandbox.upload(model, "v2", demo_artifact("v2"))
    sandbox.find_execution(running)
    _wait_for_state(sandbox, model, "v2", "deploying")
    older = sandbox.upload(model, "v3", demo_artifact("v2", salt="three"))
    _wait_for_state(sandbox, model, "v3", "waiting")
    newer = sandbox.upload(model, "v4", demo_artifact("v2", salt="four"))

    outcomes = {u.key.split("/")[2]: sandbox.wait_for_rollout(u, timeout=240) for u in (running, older, newer)}
    assert {v: o.outcome for v, o in outcomes.items()} == {"v2": "promoted", "v3": "superseded", "v4": "promoted"}
    by_version = {r["version_label"]: r for r in records(sandbox, model)}
    assert (by_version["v3"]["outcome"], by_version["v3"]["reason"]) == (
        "superseded",
        f"a newer upload ({by_version['v4']['deployment_id']}) is waiting for endpoint {model}; only the newest "
        "waiting version is rolled out",
    )
    assert "Deploy Candidate" not in outcomes["v3"].states_entered()
    # The registry says why v3 never ran; operators were told (info).
    sm = sandbox.client("sagemaker")
    packages = {
        p["ModelPackageVersion"]: sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
        for p in sm.list_model_packages(ModelPackageGroupName=model)["ModelPackageSummaryList"]
    }
    rejected = [p for p in packages.values() if p["ModelApprovalStatus"] == "Rejected"]
    assert len(rejected) == 1 and "newer upload" in rejected[0]["ApprovalDescription"]
    assert "superseded" in events_about(sandbox, model)
    # Never two at once on the endpoint: each holder's time with the lease ends before the next one's begins.
    spans = sorted(
        (datetime.fromisoformat(r["lease_acquired_at"]), datetime.fromisoformat(r["ended_at"]))
        for r in by_version.values()
        if "lease_acquired_at" in r
    )
    assert len(spans) == 3
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert lease(sandbox, model) is None
    described = sm.describe_endpoint(EndpointName=model)
    assert outcomes["v4"].output is not None
    assert described["EndpointConfigName"] == outcomes["v4"].output["config"]
    assert len(described["ProductionVariants"]) == 1
    observed(
        "v2 promoted, v3 superseded (never deployed, registry Rejected with the reason, info alert), v4 waited and "
        "promoted; lease holders never overlapped; endpoint on v4's config"
    )


def test_different_endpoints_roll_out_in_parallel(
    sandbox: Sandbox, new_model: Callable[[], str], observed: Callable[[str], None]
) -> None:
    """Two endpoints get an update at the same time"""
    first, second = new_model(), new_model()
    for model in (first, second):
        assert (
            sandbox.wait_for_rollout(sandbox.upload(model, "v1", demo_artifact("v1")), timeout=180).outcome
            == "promoted"
        )
    uploads = [sandbox.upload(model, "v2", demo_artifact("v2")) for model in (first, second)]
    _wait_for_state(sandbox, first, "v2", "deploying")
    _wait_for_state(sandbox, second, "v2", "deploying")  # both hold their endpoint's lease at once
    assert {sandbox.wait_for_rollout(u, timeout=180).outcome for u in uploads} == {"promoted"}
    observed("both held their endpoint's lease at the same time; both promoted")


def _wait_for_state(sandbox: Sandbox, model: str, version: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        found = [r for r in records(sandbox, model) if r.get("version_label") == version]
        seen = found[0].get("state") if found else None
        if seen == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"{model} {version} never reached {state} (last seen {seen})")


def test_history_lists_what_became_of_every_upload(
    sandbox: Sandbox, new_model: Callable[[], str], observed: Callable[[str], None]
) -> None:
    """An upload, a re-upload of it and a broken one, then `mlrollout history`"""
    model = new_model()
    body = demo_artifact("v1")
    sandbox.wait_for_rollout(sandbox.upload(model, "v1", body), timeout=180)
    sandbox.wait_for_rollout(sandbox.upload(model, "v1-copy", body), timeout=180)
    broken = sandbox.wait_for_rollout(sandbox.upload(model, "v2", b"not a tarball"), timeout=180)
    assert broken.outcome == "rejected"

    def mlrollout(*args: str) -> subprocess.CompletedProcess[str]:
        done: subprocess.CompletedProcess[str] = run_cli(sandbox, *args, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    rows = json.loads(mlrollout("history", model, "--json").stdout)
    assert [(r.get("version_label"), r["outcome"]) for r in rows] == [(None, "rejected"), ("v1", "promoted")]
    assert "not gzip" in rows[0]["reason"]
    one = mlrollout("history", model, "--deployment", rows[1]["deployment_id"]).stdout
    assert "outcome: promoted" in one
    assert f"duplicate upload s3://{sandbox.bucket}/models/{model}/v1-copy/model.tar.gz" in one
    # Piped, the table is a header and tab-separated rows: ids and reasons whole, one outcome column.
    table = mlrollout("history", model).stdout.splitlines()
    assert table[0].split("\t") == ["received", "version", "deployment", "outcome", "took", "reason"]
    fields = [line.split("\t") for line in table[1:]]
    assert [(f[2], f[3]) for f in fields] == [(r["deployment_id"], r["outcome"]) for r in rows]
    assert fields[0][5] == " ".join(rows[0]["reason"].split())
    assert all(r["duration_seconds"] is not None and r["duration_seconds"] >= 0 for r in rows)
    everyone = json.loads(mlrollout("history", "--json", "--limit", "500").stdout)  # every model's, newest first
    assert {r["deployment_id"] for r in rows} <= {r["deployment_id"] for r in everyone}
    assert [r["created_at"] for r in everyone] == sorted((r["created_at"] for r in everyone), reverse=True)
    observed("history lists 2 records (rejected: not gzip; promoted with its duplicate noted)")
