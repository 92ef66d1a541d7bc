"""The IAM policies docs/iam/ documents for the CLI's users, proven in the sandbox with IAM enforced (emulator/iam.py).

Two IAM users hold exactly the documented policies, their placeholders filled from the sandbox's stack: a CI uploader
publishes every version of a model, an operator steers and inspects its rollouts with every command. Each command
must succeed; the uploader must be refused an operator's action (exit code 3 and an `error:` line). Every permission
check the evaluator made for the two users is recorded, and each statement of each policy must be needed: some
check made during the run is denied once that statement is taken out, so removing it makes a command fail (or, for
the few reads a command does without, lose what it shows).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlrollout_files.package import package_model
from mlrollout_files.samples import baseline_from_sample
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.emulator import iam as evaluator
from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "docs" / "iam"
BIN = Path(sys.executable).parent
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
AUTO = f"image: {IMAGE}\n"
# Bakes long enough that an operator's request comes before the judge advances on its own (as in
# test_operator_controls.py), and an approval wait long enough for a CLI process on a loaded machine.
LONG_BAKE = AUTO + "strategy:\n  bake_minutes: 240\n  max_bake_minutes: 240\n"
# Plan refuses a rollout whose worst case outlasts the execution's day: the approval wait and both bakes fit.
MANUAL = LONG_BAKE + "approval: manual\napproval_timeout_minutes: 360\n"
SAMPLE = "age,country,score\n34,FR,0.5\n41,DE,0.25\n,FR,1.0\n29,US,\n"
# Statements no sandbox run can use: the sandbox deploys no CloudFormation stack (the CLI finds its resources in the
# MLROLLOUT_* variables instead), so nothing calls DescribeStacks.
NOT_IN_THE_SANDBOX = {"FindTheStack"}
# Actions the sandbox checks as another: moto authorizes a read of an object version (HeadObject or CopyObject with a
# versionId, as `rollback` makes) as s3:GetObject, where S3 asks s3:GetObjectVersion
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
CHECKED_AS_ANOTHER = {"s3:GetObjectVersion"}


@dataclass
class Recorded:
    """Every permission check the evaluator made for the watched users: (user, check, denied reason or None)."""

    users: set[str]
    checks: list[tuple[str, evaluator.Check, str | None]] = field(default_factory=list)

    def of(self, user: str) -> list[evaluator.Check]:
        return [check for who, check, _ in self.checks if who == user]

    def denied(self, user: str) -> list[tuple[evaluator.Check, str | None]]:
        return [(check, why) for who, check, why in self.checks if who == user and why is not None]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=29) as running:
        yield running


@pytest.fixture
def recorded(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    assert sandbox.aws is not None
    iam = sandbox.aws.emulator.services["iam"]
    record = Recorded(users=set())
    decide = iam._decide

    def recording(principal: evaluator.Principal, policies: list[dict[str, Any]], check: evaluator.Check) -> None:
        user = principal.arn.rsplit(":user/", 1)[-1] if ":user/" in principal.arn else None
        try:
            decide(principal, policies, check)
        except evaluator.AccessDenied as denied:
            if user in record.users:
                record.checks.append((user, check, denied.reason))
            raise
        if user in record.users:
            record.checks.append((user, check, None))

    monkeypatch.setattr(iam, "_decide", recording)
    return record


def placeholders(sandbox: Sandbox) -> dict[str, str]:
    """What docs/operations.md says to fill in, as the sandbox's stack has it."""
    assert sandbox.aws is not None
    return {
        "Region": sandbox.aws.region,
        "Account": sandbox.aws.emulator.account_id,
        "Stack": sandbox.stack_name,
        "ArtifactBucket": sandbox.bucket,
        "DeploymentsTable": sandbox.stack.physical("DeploymentsTable"),
        "StateTable": sandbox.stack.physical("StateTable"),
        "StateMachineName": sandbox.state_machine_arn.rsplit(":", 1)[-1],
        "KeyArn": sandbox.stack.arn("DataKey"),
    }


def policy(name: str, values: dict[str, str]) -> dict[str, Any]:
    text = (POLICIES / name).read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text, f"{name}: a placeholder is left unfilled"
    document: dict[str, Any] = json.loads(text)
    return document


def create_user(sandbox: Sandbox, name: str, documents: dict[str, dict[str, Any]]) -> dict[str, str]:
    """An IAM user holding exactly `documents` (customer managed policies, as docs/operations.md creates them);
    the environment that runs the CLI as that user against the sandbox."""
    iam = sandbox.client("iam")
    iam.create_user(UserName=name)
    for policy_name, document in documents.items():
        arn = iam.create_policy(PolicyName=f"{name}-{policy_name}", PolicyDocument=json.dumps(document))["Policy"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn["Arn"])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        **os.environ,
        **sandbox.environment(),
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "COLUMNS": "200",
    }


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process (the sandbox swaps os.environ while it runs handlers), as the user `env` names."""
    command = [str(BIN / "mlrollout"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def succeeded(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{' '.join(done.args[1:])}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def refused(done: subprocess.CompletedProcess[str]) -> None:
    """Refused by AWS: the error contract's exit code 3 and one `error:` line naming the refusal."""
    assert done.returncode == 3, f"{' '.join(done.args[1:])}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stderr.startswith("error: AWS refused "), done.stderr
    assert "AccessDenied" in done.stderr


def version_dir(tmp_path: Path, source: str, salt: str) -> Path:
    """A demo model version whose bytes (and so its deployment id) are its own."""
    directory = tmp_path / salt
    shutil.copytree(DEMO_MODELS / "fraud-scorer" / source, directory)
    (directory / "BUILD").write_text(salt)
    return directory


def deployment_of(sandbox: Sandbox, model: str, version: str) -> Callable[[], dict[str, Any] | None]:
    from mlrollout.adapters.ledger import DynamoDeployments

    table = DynamoDeployments(sandbox.client("dynamodb"), sandbox.stack.physical("DeploymentsTable"))
    return lambda: next((r for r in table.by_model(model) if r.get("version_label") == version), None)


def wait_for(read: Callable[[], dict[str, Any] | None], test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline, seen = time.monotonic() + 90, None
    while time.monotonic() < deadline:
        seen = read()
        if seen is not None and test(seen):
            return seen
        assert seen is None or not seen.get("outcome"), f"the rollout ended otherwise: {seen}"
        time.sleep(0.1)
    raise AssertionError(f"the record never got there; last seen {seen}")


def needed(document: dict[str, Any], checks: list[evaluator.Check], sandbox: Sandbox) -> dict[str, list[str]]:
    """For each statement (by Sid): the checks of the run that the policy without it denies."""
    assert sandbox.aws is not None
    iam = sandbox.aws.emulator.services["iam"]
    principal = evaluator.Principal(arn=f"arn:aws:iam::{iam.account}:user/x", account=iam.account)

    def allows(policy: dict[str, Any], check: evaluator.Check) -> bool:
        return evaluator.evaluate(principal, [policy], iam.resource_policy(check), check) is None

    granted = [c for c in checks if allows(document, c)]
    found: dict[str, list[str]] = {}
    for statement in document["Statement"]:
        rest = {**document, "Statement": [s for s in document["Statement"] if s is not statement]}
        found[statement["Sid"]] = sorted({f"{c.action} {c.resource}" for c in granted if not allows(rest, c)})
    return found


def actions_used(document: dict[str, Any], checks: list[evaluator.Check]) -> dict[str, set[str]]:
    """For each statement (by Sid): the actions it lists that no check of the run was granted by it."""
    unused: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        alone = [{"Statement": [statement]}]
        granted = {c.action for c in checks if evaluator.identity_decision(alone, c, dict(c.context)) == "allow"}
        listed = set(statement["Action"])
        unused[statement["Sid"]] = {a for a in listed if a.lower() not in {g.lower() for g in granted}}
    return unused


def test_the_documented_policies_run_every_command_and_need_each_statement(
    sandbox: Sandbox, recorded: Recorded, tmp_path: Path
) -> None:
    values = placeholders(sandbox)
    uploader_name, operator_name = f"ci-{uuid.uuid4().hex[:6]}", f"operator-{uuid.uuid4().hex[:6]}"
    recorded.users |= {uploader_name, operator_name}
    uploader_policy = policy("ci-uploader-policy.json", values)
    operator_policy = policy("operator-policy.json", values)
    uploader = create_user(sandbox, uploader_name, {"uploader": uploader_policy})
    operator = create_user(sandbox, operator_name, {"operator": operator_policy})
    model = f"iam-{uuid.uuid4().hex[:6]}"
    # A baseline half written is removed (s3:DeleteObject): this one's constraints.json is refused by an extra Deny.
    half = f"baselines/{model}/half/"
    deny = {
        "Effect": "Deny",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{sandbox.bucket}/{half}constraints.json",
    }
    sandbox.client("iam").put_user_policy(UserName=operator_name, PolicyName="deny-constraints",
                                          PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))  # fmt: skip
    sample = f"s3://{sandbox.bucket}/capture/{model}/sample.csv"
    sandbox.put_object(sample.split("/", 3)[-1], SAMPLE.encode())
    record = {v: deployment_of(sandbox, model, v) for v in ("v1", "v2", "v3", "v4")}
    sandbox.put_config(model, AUTO)
    sandbox.send_traffic(model, TrafficProfile(rps=10))
    try:
        # CI: the first version, followed to its promotion.
        first = succeeded(cli(uploader, "publish", str(version_dir(tmp_path, "v1", "a")), "--model", model,
                              "--interval", "0.2"))  # fmt: skip
        assert first.stdout.strip().splitlines()[-1].endswith(": promoted")

        # A manual approval the operator rejects; the uploader may not answer it.
        sandbox.put_config(model, MANUAL)
        succeeded(cli(uploader, "publish", str(version_dir(tmp_path, "v2", "b")), "--model", model, "--no-wait"))
        v2 = wait_for(record["v2"], lambda r: r.get("state") == "awaiting_approval")
        refused(cli(uploader, "approve", v2["deployment_id"], "--no-wait"))
        succeeded(cli(operator, "reject", v2["deployment_id"], "--reason", "wrong build", "--no-wait"))
        wait_for(record["v2"], lambda r: r.get("outcome") == "rolled_back")

        # One the operator approves, then promotes before the bake ends.
        succeeded(cli(uploader, "publish", str(version_dir(tmp_path, "v2", "c")), "--model", model, "--no-wait"))
        v3 = wait_for(record["v3"], lambda r: r.get("state") == "awaiting_approval")
        succeeded(cli(operator, "approve", v3["deployment_id"], "--no-wait"))
        wait_for(record["v3"], lambda r: len(r.get("decisions") or []) >= 1)
        succeeded(cli(operator, "promote", v3["deployment_id"], "--yes", "--no-wait"))
        wait_for(record["v3"], lambda r: r.get("outcome") == "promoted")

        # The operator's reads of the promoted rollout, each command as docs/operations.md lists it, run beside the
        # last rollout (one the operator aborts; the uploader may not).
        promoted = v3["deployment_id"]
        reads = (
            ["status", model],
            ["models"],
            ["history"],
            ["history", model],
            ["watch", promoted],
            ["cost", promoted],
            ["replay", promoted, "--fresh"],
            ["baseline", sample, "--out", f"s3://{sandbox.bucket}/baselines/{model}/"],
        )
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = [pool.submit(cli, operator, *args) for args in reads]
            partial = pool.submit(cli, operator, "baseline", sample, "--out", f"s3://{sandbox.bucket}/{half}")
            sandbox.put_config(model, LONG_BAKE)
            succeeded(cli(uploader, "publish", str(version_dir(tmp_path, "v2", "d")), "--model", model, "--no-wait"))
            v4 = wait_for(record["v4"], lambda r: len(r.get("decisions") or []) >= 1)
            # While v4 holds the endpoint: status reads the lease holder's record too.
            succeeded(cli(operator, "status"))
            refused(cli(uploader, "abort", v4["deployment_id"], "--yes", "--no-wait"))
            succeeded(cli(operator, "abort", v4["deployment_id"], "--yes", "--no-wait"))
            wait_for(record["v4"], lambda r: r.get("outcome") == "rolled_back")
        for future in done:
            succeeded(future.result())
    finally:
        assert sandbox.dataplane is not None
        sandbox.dataplane.stop_traffic(model)
    went_back = succeeded(cli(operator, "rollback", model, "--yes", "--no-wait"))
    assert f"goes back to {model} v1" in went_back.stdout
    refusal = partial.result()
    assert refusal.returncode == 3 and refusal.stderr.startswith("error: cannot write to "), refusal.stderr
    assert "could not be removed" not in refusal.stderr
    assert sandbox.client("s3").list_objects_v2(Bucket=sandbox.bucket, Prefix=half).get("Contents", []) == []

    # Least privilege: nothing the two users did was refused but what the uploader must not do and the Deny above.
    uploader_denied = {(c.action, why) for c, why in recorded.denied(uploader_name)}
    assert {action for action, _ in uploader_denied} == {"dynamodb:UpdateItem"}, uploader_denied
    operator_denied = [(c.action, c.resource) for c, _ in recorded.denied(operator_name)]
    assert operator_denied == [("s3:PutObject", f"arn:aws:s3:::{sandbox.bucket}/{half}constraints.json")]
    for document, user in ((uploader_policy, uploader_name), (operator_policy, operator_name)):
        checks = recorded.of(user)
        unneeded = [sid for sid, denied in needed(document, checks, sandbox).items() if not denied]
        assert set(unneeded) == NOT_IN_THE_SANDBOX, f"{user}: statements no command needed: {unneeded}"
        unused = {
            sid: a - CHECKED_AS_ANOTHER for sid, a in actions_used(document, checks).items() if a - CHECKED_AS_ANOTHER
        }
        assert set(unused) == NOT_IN_THE_SANDBOX, f"{user}: actions no command used: {unused}"


def test_the_model_monitor_statements_run_sagemakers_baselining_job(sandbox: Sandbox, recorded: Recorded) -> None:
    """`baseline --backend model-monitor` with the operator's policy and the optional one docs/iam/ adds for it."""
    trust = {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role = sandbox.client("iam").create_role(
        RoleName=f"baselining-{uuid.uuid4().hex[:6]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]["Arn"]
    values = {**placeholders(sandbox), "BaselineJobRoleArn": role}
    name = f"monitor-{uuid.uuid4().hex[:6]}"
    recorded.users.add(name)
    optional = policy("model-monitor-baseline-policy.json", values)
    env = create_user(sandbox, name, {"operator": policy("operator-policy.json", values), "baselining": optional})
    sample = f"capture/{name}/sample.csv"
    sandbox.put_object(sample, SAMPLE.encode())
    out = f"s3://{sandbox.bucket}/baselines/{name}/"

    done = succeeded(cli(env, "baseline", f"s3://{sandbox.bucket}/{sample}", "--backend", "model-monitor",
                         "--role-arn", role, "--out", out))  # fmt: skip

    assert "(SageMaker's baselining job): 4 records, 3 features" in done.stdout
    assert recorded.denied(name) == []
    checks = recorded.of(name)
    assert all(needed(optional, checks, sandbox).values()), needed(optional, checks, sandbox)
    assert not any(actions_used(optional, checks).values()), actions_used(optional, checks)


@pytest.mark.parametrize(
    ("service", "operation", "params", "resource"),
    [
        # AddTags, ListTags and DeleteTags name their resource by ARN (`rollback` reads the endpoint's model tag).
        ("sagemaker", "ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/m"},
         "arn:aws:sagemaker:us-east-1:123456789012:endpoint/m"),
        # The reference lists model-package as ListModelPackages' resource type: a group's packages.
        ("sagemaker", "ListModelPackages", {"ModelPackageGroupName": "Fraud"},
         "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/*"),
        # The reference's log-group resource type (`cost` reads the functions' REPORT lines).
        ("logs", "FilterLogEvents", {"logGroupName": "/aws/lambda/f"},
         "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f"),
    ],
)  # fmt: skip
def test_the_evaluator_checks_the_resource_the_reference_names(
    sandbox: Sandbox, service: str, operation: str, params: dict[str, str], resource: str
) -> None:
    """The requests emulator/iam.py checks against the resource the Service Authorization Reference gives their
    action (list_amazonsagemaker.html, list_amazoncloudwatchlogs.html), which the operator policy scopes."""
    assert sandbox.aws is not None
    request = evaluator.Request(service, operation, params, "/", {}, "us-east-1", "123456789012", "*")
    [check] = evaluator.Targets(sandbox.aws.emulator.services["iam"], request).checks()
    assert (check.action, check.resource) == (f"{service}:{operation}", resource)


def test_only_the_optional_statement_lets_an_uploader_create_a_rollout_config(
    sandbox: Sandbox, recorded: Recorded
) -> None:
    """rollout.yaml decides how a version is judged and whether a person approves it: the uploader policy cannot
    write it; ci-uploader-rollout-config-policy.json adds exactly that."""
    values = placeholders(sandbox)
    name, model = f"ci-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
    recorded.users.add(name)
    uploader = create_user(sandbox, name, {"uploader": policy("ci-uploader-policy.json", values)})
    init = ("init", "--model", model, "--image", IMAGE, "--upload", "--out", "-")

    refusal = cli(uploader, *init)
    refused_by_aws = f"error: cannot write s3://{sandbox.bucket}/models/{model}/rollout.yaml: AWS refused PutObject"
    assert refusal.returncode == 3 and refusal.stderr.startswith(refused_by_aws), refusal.stderr
    config = policy("ci-uploader-rollout-config-policy.json", values)
    arn = sandbox.client("iam").create_policy(PolicyName=f"{name}-config", PolicyDocument=json.dumps(config))
    sandbox.client("iam").attach_user_policy(UserName=name, PolicyArn=arn["Policy"]["Arn"])
    succeeded(cli(uploader, *init))

    text = sandbox.client("s3").get_object(Bucket=sandbox.bucket, Key=f"models/{model}/rollout.yaml")["Body"].read()
    assert f"image: {IMAGE}" in text.decode()
    assert all(needed(config, recorded.of(name), sandbox).values())


def test_the_dry_run_statements_let_ci_see_the_plan_and_each_is_needed(
    sandbox: Sandbox, recorded: Recorded, tmp_path: Path
) -> None:
    """`publish --dry-run` reads what Plan Deployment reads: ci-uploader-dry-run-policy.json beside the uploader
    policy is enough, with nothing refused, and each statement a dry run of an update exercises is needed (rollback
    alarms, a VPC and drift baselines are read only when rollout.yaml names them)."""
    values = placeholders(sandbox)
    name, model = f"ci-{uuid.uuid4().hex[:6]}", f"dry-{uuid.uuid4().hex[:6]}"
    recorded.users.add(name)
    dry_run = policy("ci-uploader-dry-run-policy.json", values)
    uploader = create_user(sandbox, name, {"uploader": policy("ci-uploader-policy.json", values), "dry-run": dry_run})
    sandbox.put_config(model, AUTO)
    sandbox.send_traffic(model, TrafficProfile(rps=10))
    try:
        first = sandbox.upload(model, "v1", package_model(DEMO_MODELS / "fraud-scorer" / "v1"))
        assert sandbox.wait_for_rollout(first, timeout=120).outcome == "promoted"
        planned = succeeded(cli(uploader, "publish", str(version_dir(tmp_path, "v2", "e")), "--model", model,
                                "--dry-run"))  # fmt: skip
    finally:
        assert sandbox.dataplane is not None
        sandbox.dataplane.stop_traffic(model)
    assert f"would upload s3://{sandbox.bucket}/models/{model}/v2/model.tar.gz" in planned.stdout
    assert "the stack's (function" in planned.stdout  # the stack's settings were read, not the template's defaults
    # With drift monitoring in rollout.yaml, the pipeline reads the baseline it names before anything changes.
    made = baseline_from_sample(SAMPLE, "csv", bins=10)
    where = f"baselines/{model}"
    sandbox.put_object(f"{where}/statistics.json", json.dumps(made.statistics).encode())
    sandbox.put_object(f"{where}/constraints.json", json.dumps(made.constraints).encode())
    monitored = AUTO + (
        f"monitoring:\n  baseline_statistics: s3://{sandbox.bucket}/{where}/statistics.json\n"
        f"  baseline_constraints: s3://{sandbox.bucket}/{where}/constraints.json\n"
    )
    sandbox.put_config(model, monitored)
    succeeded(cli(uploader, "publish", str(version_dir(tmp_path, "v2", "f")), "--model", model, "--dry-run"))
    assert recorded.denied(name) == []
    needed_by = needed(dry_run, recorded.of(name), sandbox)
    read_only_when_configured = {"ReadTheRollbackAlarms", "CheckTheModelNetwork"}
    assert {sid for sid, denied in needed_by.items() if not denied} == read_only_when_configured, needed_by
