"""Bad input: every kind of unusable upload is refused with the problem and the fix, and nothing is lost.

One sandbox runs the real template, state machine and handlers for the whole module. It is deployed with
MaxArtifactMiB=1, the smallest limit the stack parameter allows, so the size limit is reached by a 1 MiB upload; every
other upload here is a few hundred bytes.

Every check in the table runs in Validate Artifact, before Register Model Version: no refused upload is ever
registered, so "nothing half-deployed" means no model package group, model, endpoint config or endpoint under the
model's name at all (not a Rejected package). Keys outside models/<name>/ are the exception to "operators are told":
the EventBridge rule never matches them, so those rows assert that no execution starts.

Each row names the upload and the fragments of the problem and of the fix that must reach operators; the test checks
them in the execution's cause, the SNS alert, the email and the Slack post.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlrollout_sandbox.session import RolloutOutcome, Sandbox, Upload

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
CONFIG = f"image: {IMAGE}\n"
MIB = 1024 * 1024


def tarball(members: dict[str, bytes], special: tuple[tarfile.TarInfo, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in special:
            archive.addfile(info)
    return buffer.getvalue()


def member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


MODEL = tarball({"model.joblib": b"weights", "code/inference.py": b"def predict(x):\n    return x\n"})


def with_model(*special: tarfile.TarInfo) -> bytes:
    """A deployable archive plus the given members: only the unsafe member is wrong with it."""
    return tarball({"model.joblib": b"weights"}, special)


@dataclass(frozen=True)
class Case:
    """One bad upload and what operators must be told about it."""

    id: str
    reason: tuple[str, ...]  # fragments of the problem, before " Fix: "
    fix: tuple[str, ...]  # fragments of the fix, after " Fix: "
    artifact: bytes = MODEL
    config: str | None = CONFIG  # models/<model>/rollout.yaml; None: there is none
    metadata: dict[str, str] = field(default_factory=dict)
    key: str | None = None  # default: models/<model>/v1/model.tar.gz
    error: str = "ArtifactInvalid"  # the business error Validate Artifact raises
    starts: bool = True  # False: the key is outside models/<name>/ and no rollout may start at all

    @property
    def model(self) -> str:
        """The model name SageMaker resources would carry ("" when the key has none)."""
        if self.key is None:
            return f"bad-{self.id}"
        parts = self.key.split("/")
        return parts[1] if parts[0] == "models" and len(parts) > 2 else ""

    @property
    def object_key(self) -> str:
        return self.key or f"models/{self.model}/v1/model.tar.gz"


NAMES_THE_FIELDS = ("correct the fields named above in rollout.yaml", "then upload the artifact again")

CASES = [
    # the archive itself
    Case(
        "not-gzip",
        reason=("the artifact is not gzip-compressed", "starts with bytes 504b"),
        fix=("tar -czf model.tar.gz -C <model dir> .",),
        artifact=b"PK\x03\x04 a zip archive, not a tarball",
    ),
    Case(
        "gzip-not-tar",
        reason=("the artifact is gzip but not a readable tar archive",),
        fix=("tar -czf model.tar.gz", "a .gz of a single file is not enough"),
        artifact=gzip.compress(b"weights, not an archive\n" * 40),
    ),
    Case(
        "empty-object",
        reason=("the artifact is empty (0 bytes)",),
        fix=("upload the model.tar.gz again",),
        artifact=b"",
    ),
    Case(
        "over-size-limit",
        reason=("over the stack's limit of 1 MiB (1,048,576 bytes)",),
        fix=("raise the stack parameter MaxArtifactMiB",),
        artifact=tarball({"model.joblib": random.Random(6).randbytes(MIB + 4096)}),  # incompressible
    ),
    Case(
        "absolute-path",
        reason=("1 unsafe member", "'/etc/cron.d/model' has an absolute path"),
        fix=("archive relative paths", "-C <model dir> ."),
        artifact=with_model(member("/etc/cron.d/model", tarfile.REGTYPE)),
    ),
    Case(
        "dot-dot",
        reason=("'../../opt/ml/code/inference.py' climbs out of the archive with '..'",),
        fix=("archive relative paths",),
        artifact=with_model(member("../../opt/ml/code/inference.py", tarfile.REGTYPE)),
    ),
    Case(
        "symlink",
        reason=("'weights.bin' is a link (symbolic, to '/etc/shadow')",),
        fix=("replace links with the files they point to", "tar -czhf"),
        artifact=with_model(member("weights.bin", tarfile.SYMTYPE, "/etc/shadow")),
    ),
    Case(
        "hard-link",
        reason=("'copy.joblib' is a link (hard, to 'model.joblib')",),
        fix=("replace links with the files they point to",),
        artifact=with_model(member("copy.joblib", tarfile.LNKTYPE, "model.joblib")),
    ),
    Case(
        "device-file",
        reason=("'dev/sda' is a device or FIFO (block device)", "'dev/null' is a device or FIFO (character device)"),
        fix=("leave device files, FIFOs and other special files out",),
        artifact=with_model(member("dev/sda", tarfile.BLKTYPE), member("dev/null", tarfile.CHRTYPE)),
    ),
    Case(
        "fifo",
        reason=("'pipe' is a device or FIFO (named pipe)",),
        fix=("leave device files, FIFOs and other special files out",),
        artifact=with_model(member("pipe", tarfile.FIFOTYPE)),
    ),
    Case(
        "framework-files-missing",
        reason=(
            "no model file for framework 'pytorch'",
            "expected a *.pt/*.pth model",
            "found model.joblib, README.md",
        ),
        fix=("add the model file at the archive root", "`framework: custom`"),
        artifact=tarball({"model.joblib": b"weights", "README.md": b"trained with scikit-learn"}),
        config=f"{CONFIG}framework: pytorch\n",
    ),
    # rollout.yaml
    Case(
        "no-rollout-yaml",
        reason=("models/bad-no-rollout-yaml/rollout.yaml does not exist",),
        fix=("write models/bad-no-rollout-yaml/rollout.yaml with at least `image: <serving image URI>`",),
        config=None,
        error="ConfigInvalid",
    ),
    Case(
        "rollout-yaml-unparseable",
        reason=(
            "models/bad-rollout-yaml-unparseable/rollout.yaml is not valid YAML",
            "while parsing a flow sequence that starts at line 3, column 10",
        ),
        fix=("correct the YAML syntax of rollout.yaml", "then upload the artifact again"),
        config=f"{CONFIG}strategy:\n  steps: [10, 50\n",
        error="ConfigInvalid",
    ),
    Case(
        "rollout-yaml-empty",
        reason=("must be a YAML mapping of settings", "got an empty file"),
        fix=("start rollout.yaml from the example in docs/configuration.md", "at least `image:` is required"),
        config="",
        error="ConfigInvalid",
    ),
    Case(
        "schema-errors",
        reason=(
            "has 4 problems",
            "image: required field is missing",
            "instance_count: Input should be greater than or equal to 1 (got 0)",
            "strategy.steps: must be strictly ascending",
            "judge.max_error_rate: Input should be less than 1 (got 2)",
        ),
        fix=NAMES_THE_FIELDS,
        config="instance_count: 0\nstrategy:\n  steps: [50, 10]\njudge:\n  max_error_rate: 2\n",
        error="ConfigInvalid",
    ),
    Case(
        "unknown-fields",
        reason=(
            "instance_typ: unknown field; did you mean 'instance_type'?",
            "strategy.bake_minute: unknown field; did you mean 'bake_minutes'?",
            "min_requests: unknown field; did you mean 'judge.min_requests'?",
        ),
        fix=NAMES_THE_FIELDS,
        config=f"{CONFIG}instance_typ: ml.m5.large\nstrategy:\n  bake_minute: 3\nmin_requests: 50\n",
        error="ConfigInvalid",
    ),
    Case(
        "instance-type-malformed",
        reason=("instance_type: must be a SageMaker instance type ml.<family>.<size>", "did you mean 'ml.m5.large'?"),
        fix=NAMES_THE_FIELDS,
        config=f"{CONFIG}instance_type: m5.large\n",
        error="ConfigInvalid",
    ),
    Case(
        "instance-size-misspelt",
        reason=("size is medium, large, xlarge or <n>xlarge", "did you mean 'ml.g5.2xlarge'?"),
        fix=NAMES_THE_FIELDS,
        config=f"{CONFIG}instance_type: ml.g5.2xlarg\n",
        error="ConfigInvalid",
    ),
    Case(
        "image-without-registry",
        reason=("image: has no registry host", "(got 'fraud-scorer:1.4')"),
        fix=NAMES_THE_FIELDS,
        config="image: fraud-scorer:1.4\n",
        error="ConfigInvalid",
    ),
    Case(
        "image-without-tag",
        reason=("image: has no tag or digest", "add :<tag> or @sha256:<digest>"),
        fix=NAMES_THE_FIELDS,
        config="image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer\n",
        error="ConfigInvalid",
    ),
    # the key
    Case(
        "empty-model-folder",
        reason=("the object key 'models//v1/model.tar.gz' is not in the layout models/<model-name>/<version>/",),
        fix=("e.g. models/fraud-scorer/v7/model.tar.gz",),
        key="models//v1/model.tar.gz",
        config=None,
    ),
    Case(
        "model-name-sagemaker-rejects",
        reason=("('fraud_scorer.v2') cannot be used", "1-63 characters of letters, digits and hyphens"),
        fix=("rename the folder models/fraud_scorer.v2/ to e.g. models/fraud-scorer-v2/",),
        key="models/fraud_scorer.v2/v1/model.tar.gz",
        config=None,
    ),
    Case("outside-models", reason=(), fix=(), key="uploads/fraud-scorer/v1/model.tar.gz", config=None, starts=False),
    Case("no-model-folder", reason=(), fix=(), key="models/model.tar.gz", config=None, starts=False),
    # object metadata
    Case(
        "metadata-value-too-long",
        reason=("object metadata cannot be recorded in the model registry", "'notes' is 300 characters (at most 256)"),
        fix=("values (up to 256)",),
        metadata={"notes": "x" * 300},
    ),
    Case(
        "metadata-too-many-entries",
        reason=("41 metadata entries (at most 40)",),
        fix=("at most 40 x-amz-meta-* entries",),
        metadata={f"k{i:02d}": "1" for i in range(41)},
    ),
    Case(
        "metadata-key-too-long",
        reason=("is 122 characters (at most 121)",),
        fix=("keys (up to 121 characters)",),
        metadata={"k" * 122: "1"},
    ),
    Case(
        "metadata-characters-and-empty",
        reason=(
            "metadata 'notes' has characters the model registry rejects (',' '(' ')')",
            "metadata 'reviewer' is empty",
        ),
        fix=("non-empty values", "use only letters, digits, spaces and _.:/=+-@"),
        metadata={"notes": "retrained, v2 (October)", "reviewer": ""},
    ),
]

REFUSED = [pytest.param(case, id=case.id) for case in CASES if case.starts]
IGNORED = [pytest.param(case, id=case.id) for case in CASES if not case.starts]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=6, parameters={"MaxArtifactMiB": "1"}) as running:
        yield running


def put(sandbox: Sandbox, case: Case) -> Upload:
    if case.config is not None:
        sandbox.put_config(case.model, case.config)
    return sandbox.upload(case.model, "v1", case.artifact, case.metadata, key=case.object_key)


@pytest.mark.parametrize("case", REFUSED)
def test_bad_input_is_rejected_with_the_problem_and_the_fix(
    sandbox: Sandbox, case: Case, observed: Callable[[str], None]
) -> None:
    upload = put(sandbox, case)
    outcome = sandbox.wait_for_rollout(upload, timeout=60)

    # The execution: refused in Validate Artifact with the named business error, never registered.
    assert outcome.outcome == "rejected", (outcome.status, outcome.error, outcome.cause)
    assert failed_state(outcome) == ("Validate Artifact", case.error)
    assert "Register Model Version" not in outcome.states_entered()
    problem, fix = split_reason(outcome.cause or "")
    assert_fragments(problem, case.reason)
    assert_fragments(fix, case.fix)

    # Operators: one `rejected` alert on the topic with the same reason, read as email and in Slack.
    sandbox.drain()
    alert = only(d for d in alert_documents(sandbox) if d.get("artifact") == f"s3://{upload.bucket}/{upload.key}")
    assert (alert["event"], alert["severity"]) == ("rejected", "warning")
    assert alert["reason"] == outcome.cause
    assert {"name": "failed step", "value": f"Validate Artifact ({case.error})", "limit": None} in alert["evidence"]
    email = only(e for e in sandbox.emails() if f"Artifact: s3://{upload.bucket}/{upload.key}\n" in e.body)
    assert f"Why: {alert['reason']}\n" in email.body
    headline = alert["subject"].removeprefix("[mlrollout] ")
    assert any(post.body.get("text") == f"{headline}: {alert['reason']}" for post in sandbox.slack_posts())

    # Nothing is lost, nothing is half-deployed.
    assert_kept(sandbox, upload, case.artifact)
    assert sagemaker_resources(sandbox, case.model) == []
    observed(f"rejected ({case.error}): {outcome.cause}; artifact kept, nothing created in SageMaker")


@pytest.mark.parametrize("case", IGNORED)
def test_a_key_outside_models_name_starts_nothing(
    sandbox: Sandbox, case: Case, observed: Callable[[str], None]
) -> None:
    upload = put(sandbox, case)
    assert sandbox.aws is not None
    events = sandbox.aws.emulator.services["events"]
    assert events.drain(10.0)
    emitted = [e["detail"]["object"]["key"] for e in events.emitted if e.get("detail-type") == "Object Created"]
    assert upload.key in emitted  # S3 did announce the object: the rule is what keeps it out
    assert executions_for(sandbox, upload.key) == []
    assert not [d for d in alert_documents(sandbox) if d.get("artifact") == f"s3://{upload.bucket}/{upload.key}"]
    assert_kept(sandbox, upload, case.artifact)
    assert sagemaker_resources(sandbox, case.model) == []
    observed(f"S3 announced {upload.key}; the rule started no execution, no alert; the object is kept")


# ------------------------------------------------------------------------------------------------------------------


def split_reason(text: str) -> tuple[str, str]:
    """RolloutError's message: '<problem> Fix: <fix>'; a message without a fix fails the test."""
    problem, marker, fix = text.partition(" Fix: ")
    assert marker, f"no fix in {text!r}"
    return problem, fix


def assert_fragments(text: str, fragments: tuple[str, ...]) -> None:
    missing = [fragment for fragment in fragments if fragment not in text]
    assert not missing, f"{missing} not in {text!r}"


def failed_state(outcome: RolloutOutcome) -> tuple[str | None, str | None]:
    """The first state whose task failed, and the error it failed with."""
    state = None
    for event in outcome.history:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in {"TaskFailed", "LambdaFunctionFailed"}:
            details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
            return state, details.get("error")
    return None, None


def only(found: Iterator[Any]) -> Any:
    matches = list(found)
    assert len(matches) == 1, matches
    return matches[0]


def alert_documents(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [json.loads(a["Message"]) for a in sandbox.alerts() if a.get("Subject", "").startswith("[mlrollout]")]


def assert_kept(sandbox: Sandbox, upload: Upload, body: bytes) -> None:
    """The uploaded version is still there, byte for byte, and still the object's current version."""
    s3 = sandbox.client("s3")
    kept = s3.get_object(Bucket=upload.bucket, Key=upload.key, VersionId=upload.version_id)
    assert kept["Body"].read() == body
    assert s3.head_object(Bucket=upload.bucket, Key=upload.key)["VersionId"] == upload.version_id


def executions_for(sandbox: Sandbox, key: str) -> list[str]:
    sfn = sandbox.client("stepfunctions")
    found = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=sandbox.state_machine_arn):
        for execution in page["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described.get("input") or "{}").get("detail", {}).get("object", {}).get("key") == key:
                found.append(execution["executionArn"])
    return found


def sagemaker_resources(sandbox: Sandbox, model: str) -> list[str]:
    """Everything a rollout of `model` would have created, all named after it. A key without a model name is
    checked against every name: no upload in this module may deploy anything."""
    sm = sandbox.client("sagemaker")

    def ours(name: str) -> bool:
        return not model or name == model or name.startswith(f"{model}-")

    listed = [
        *(f"model-package-group/{g['ModelPackageGroupName']}" for g in paged(sm, "list_model_package_groups")),
        *(f"model/{m['ModelName']}" for m in paged(sm, "list_models")),
        *(f"endpoint-config/{c['EndpointConfigName']}" for c in paged(sm, "list_endpoint_configs")),
        *(f"endpoint/{e['EndpointName']}" for e in paged(sm, "list_endpoints")),
    ]
    return [name for name in listed if ours(name.split("/", 1)[1])]


def paged(client: Any, operation: str) -> Iterator[dict[str, Any]]:
    results = {
        "list_model_package_groups": "ModelPackageGroupSummaryList",
        "list_models": "Models",
        "list_endpoint_configs": "EndpointConfigs",
        "list_endpoints": "Endpoints",
    }[operation]
    for page in client.get_paginator(operation).paginate():
        yield from page[results]
