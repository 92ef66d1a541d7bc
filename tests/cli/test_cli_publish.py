"""`mlrollout publish` and `mlrollout init`: packaging (no network), refusals before any upload, the bucket side
on moto, and whole rollouts in the sandbox followed by the command in a subprocess."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
import typer
from botocore.exceptions import ClientError
from rich.console import Console

from mlrollout.domain import naming
from mlrollout.domain.artifact import inspect_artifact
from mlrollout.domain.config import load_config_text
from mlrollout_cli.publish import Published, follow
from mlrollout_files.package import PackageInvalid, members, package_model, write_package
from support import invoke_cli as invoke

unit = pytest.mark.unit
aws = pytest.mark.aws
sandbox = pytest.mark.sandbox

DEMO = Path(__file__).resolve().parents[2] / "tools" / "mlrollout_sandbox" / "demo_models" / "fraud-scorer"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _sockets_off_in_unit_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    pytest_socket.disable_socket()
    yield
    pytest_socket.enable_socket()


def model_dir(root: Path, *, code: bool = True, requirements: bool = True) -> Path:
    directory = root / "model"
    (directory / "weights").mkdir(parents=True)
    (directory / "model.json").write_text('{"threshold": 0.5}\n')
    (directory / "weights" / "layer.bin").write_bytes(bytes(range(256)) * 64)
    if code:
        (directory / "code").mkdir()
        (directory / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return model_dir\n")
        if requirements:
            (directory / "code" / "requirements.txt").write_text("numpy==2.1.0\n")
    return directory


def archive_of(body: bytes) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(body), mode="r:gz")


# ------------------------------------------------------------------------------------------------ packaging


@unit
def test_the_same_directory_gives_the_same_bytes_wherever_and_whenever_it_is_packaged(tmp_path: Path) -> None:
    first = model_dir(tmp_path / "a")
    body = package_model(first, require_code=True)
    copy = tmp_path / "b" / "model"
    shutil.copytree(first, copy)  # other inodes, other times
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    (copy / "model.json").chmod(0o600)  # only the executable bit is kept

    assert hashlib.sha256(package_model(copy, require_code=True)).digest() == hashlib.sha256(body).digest()
    assert body[4:8] == b"\0\0\0\0"  # no time in the gzip header (tarfile's own w:gz writes the current time)
    assert hashlib.sha256(package_model(first, extra={"BUILD": b"2"})).digest() != hashlib.sha256(body).digest()


@unit
def test_the_layout_is_sagemakers_model_files_at_the_root_and_code_under_code(tmp_path: Path) -> None:
    directory = model_dir(tmp_path)
    (directory / "code" / "__pycache__").mkdir()
    (directory / "code" / "__pycache__" / "inference.cpython-313.pyc").write_bytes(b"cache")
    (directory / ".git").mkdir()
    (directory / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (directory / ".DS_Store").write_bytes(b"finder")
    (directory / "code" / "serve.sh").write_text("#!/bin/sh\n")
    (directory / "code" / "serve.sh").chmod(0o775)

    with (tmp_path / "model.tar.gz").open("wb") as out:
        package = write_package(out, directory)
    body = (tmp_path / "model.tar.gz").read_bytes()

    names = ["code/inference.py", "code/requirements.txt", "code/serve.sh", "model.json", "weights/layer.bin"]
    assert package.files == names
    assert package.has_code
    assert package.sha256 == hashlib.sha256(body).hexdigest() and package.size == len(body)
    members_ = archive_of(body).getmembers()
    assert [m.name for m in members_] == names
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members_} == {(0, 0, "", "", 0)}
    assert {m.name: m.mode for m in members_}["code/serve.sh"] == 0o755
    assert {m.mode for m in members_ if m.name != "code/serve.sh"} == {0o644}
    report = inspect_artifact(io.BytesIO(body), max_bytes=10**9, framework="pytorch")  # the pipeline's check
    assert report.sha256 == package.sha256


@unit
def test_a_code_folder_from_elsewhere_goes_under_code(tmp_path: Path) -> None:
    directory = model_dir(tmp_path, code=False)
    serving = tmp_path / "serving"
    serving.mkdir()
    (serving / "inference.py").write_text("def model_fn(d):\n    return d\n")

    files = [name for name, _ in members(directory, code=serving)]

    assert files == ["code/inference.py", "model.json", "weights/layer.bin"]
    with pytest.raises(PackageInvalid, match="keep the inference code in one place"):
        members(model_dir(tmp_path / "both"), code=serving)


@unit
def test_a_directory_without_the_inference_script_is_refused_unless_no_code(tmp_path: Path) -> None:
    directory = model_dir(tmp_path, code=False)
    with pytest.raises(PackageInvalid, match=r"no code/inference\.py.*pass --no-code"):
        members(directory)
    assert [name for name, _ in members(directory, require_code=False)] == ["model.json", "weights/layer.bin"]

    result = invoke("publish", str(directory), "--model", "fraud-scorer", "--dry-run")
    assert result.exit_code == 2
    assert "has no code/inference.py; add the inference script as code/inference.py" in result.stderr
    assert invoke("publish", str(directory), "--model", "fraud-scorer", "--dry-run", "--no-code").exit_code == 0


@unit
def test_links_and_special_files_are_refused_naming_each(tmp_path: Path) -> None:
    directory = model_dir(tmp_path)
    (directory / "latest.bin").symlink_to(directory / "weights" / "layer.bin")
    (directory / "shared").symlink_to(tmp_path)
    os.mkfifo(directory / "pipe")

    with pytest.raises(PackageInvalid) as refused:
        members(directory)

    message = str(refused.value)
    assert "3 entries cannot go into model.tar.gz" in message
    assert f"latest.bin (a link to {directory / 'weights' / 'layer.bin'})" in message
    assert f"shared (a link to {tmp_path})" in message
    assert "pipe (a device, FIFO or socket)" in message
    assert "replace links with the files they point to" in message
    result = invoke("publish", str(directory), "--model", "fraud-scorer", "--dry-run")
    assert result.exit_code == 2 and "cannot go into model.tar.gz" in result.stderr


@unit
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: (root / "file.bin").write_bytes(b"x") and root / "file.bin", "is not a directory"),
        (lambda root: (root / "empty").mkdir() or root / "empty", "has no files to package"),
    ],
    ids=["missing", "a file", "empty"],
)
def test_what_is_not_a_model_directory(tmp_path: Path, make: Any, expected: str) -> None:
    with pytest.raises(PackageInvalid, match=expected):
        members(make(tmp_path))


@unit
def test_a_dry_run_prints_the_deployment_id_the_pipeline_will_derive(tmp_path: Path) -> None:
    directory = model_dir(tmp_path)
    body = package_model(directory)

    result = invoke("publish", str(directory), "--model", "fraud-scorer", "--dry-run", "--notes", "retrained", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    sha256 = hashlib.sha256(body).hexdigest()
    assert document["sha256"] == sha256
    assert document["deployment_id"] == naming.deployment_id("fraud-scorer", sha256)
    assert document["metadata"]["notes"] == "retrained" and document["metadata"]["sha256"] == sha256
    assert document["files"] == ["code/inference.py", "code/requirements.txt", "model.json", "weights/layer.bin"]


@unit
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--notes", "retrained, again"], "metadata 'notes' has characters the model registry rejects (',')"),
        (["--notes", "x" * 257], "metadata 'notes' is 257 characters (at most 256)"),
        (["--notes", ""], "metadata 'notes' is empty"),
        (["--notes", "réentraîné"], "metadata 'notes' is not ASCII"),
        (["--metadata", "ticket"], "write it as KEY=VALUE"),
        (["--metadata", "my ticket=1"], "keys are letters, digits and _.+-"),
        (["--version", "v 1!"], "has characters the model registry cannot record ('!')"),
        (["--model", "fraud_scorer"], "is not a valid SageMaker name"),
    ],
    ids=["comma", "long", "empty", "accents", "no equals", "space in key", "version", "model"],
)
def test_what_the_pipeline_would_refuse_is_refused_before_packaging(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    directory = model_dir(tmp_path)
    model = [] if "--model" in args else ["--model", "fraud-scorer"]

    result = invoke("publish", str(directory), *model, *args, "--dry-run")

    assert result.exit_code == 2
    assert expected in result.stderr


@unit
def test_the_git_commit_and_state_go_into_the_metadata(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    directory = model_dir(tmp_path)
    git = ["git", "-C", str(directory), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "model"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    clean = json.loads(invoke("publish", str(directory), "--model", "m", "--dry-run", "--json").stdout)
    (directory / "model.json").write_text('{"threshold": 0.6}\n')
    dirty = json.loads(invoke("publish", str(directory), "--model", "m", "--dry-run", "--json").stdout)

    assert (clean["metadata"]["git-sha"], clean["metadata"]["git-dirty"]) == (sha, "false")
    assert (dirty["metadata"]["git-sha"], dirty["metadata"]["git-dirty"]) == (sha, "true")


# -------------------------------------------------------------------------------------------------- following

PUBLISHED = Published("m", "v2", "b", "models/m/v2/model.tar.gz", "ver-2", "ab" * 32, "m-abababababab")


class Looks:
    """The deployment records the ledger answers, one answer a look (a ClientError to answer with one)."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[list[str]] = []

    def get_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        self.asked.append(list(ids))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ours(**fields: Any) -> dict[str, dict[str, Any]]:
    record = {"deployment_id": PUBLISHED.deployment_id, "artifact": PUBLISHED.uri, "artifact_version": "ver-2"}
    return {PUBLISHED.deployment_id: record | fields}


def follow_looks(looks: Looks) -> tuple[dict[str, Any], list[str]]:
    console = Console(record=True, width=300, markup=False)
    record = follow(looks, PUBLISHED, console, interval=0, timeout=None, start_timeout=1)  # type: ignore[arg-type]
    return record, console.export_text().splitlines()


@unit
def test_following_prints_each_state_once_and_each_decision_as_it_comes() -> None:
    first = {"step": 0, "weight": 50.0, "verdict": "INCONCLUSIVE", "action": "continue", "reason": "Too few requests."}
    second = {"step": 0, "weight": 50.0, "verdict": "PASS", "action": "advance", "reason": "Canary v2 is healthy."}
    blip = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "BatchGetItem"
    )
    looks = Looks(
        {},
        ours(state="received"),
        blip,
        ours(state="deploying"),
        ours(state="deploying", decisions=[first]),
        ours(state="deploying", decisions=[first]),
        ours(state="promoted", outcome="promoted", reason="Canary v2 is healthy.", decisions=[first, second]),
    )

    record, lines = follow_looks(looks)

    assert record["outcome"] == "promoted"
    assert lines == [
        "m-abababababab: validated, about to take the endpoint",
        "m-abababababab: deploying the candidate",
        "  step 1 at 50%: INCONCLUSIVE, continue: Too few requests.",
        "  step 1 at 50%: PASS, advance: Canary v2 is healthy.",
        "m-abababababab: promoted: Canary v2 is healthy.",
    ]
    assert looks.asked[0] == [PUBLISHED.deployment_id, PUBLISHED.rejected_id]  # one BatchGetItem a look


@unit
def test_an_upload_rejected_before_its_bytes_were_read_is_found_under_its_upload_id() -> None:
    rejected = {"deployment_id": PUBLISHED.rejected_id, "state": "rejected", "outcome": "rejected",
                "reason": "s3://b/models/m/rollout.yaml does not exist"}  # fmt: skip

    record, lines = follow_looks(Looks({}, {PUBLISHED.rejected_id: rejected}))

    assert record["outcome"] == "rejected"
    assert lines == [f"{PUBLISHED.rejected_id}: rejected: s3://b/models/m/rollout.yaml does not exist"]


@unit
def test_the_same_bytes_uploaded_meanwhile_by_someone_else_are_a_duplicate_not_a_wait(
    capsys: pytest.CaptureFixture[str],
) -> None:
    earlier = {"deployment_id": PUBLISHED.deployment_id, "artifact": "s3://b/models/m/v1/model.tar.gz",
               "version_label": "v1", "model_name": "m", "state": "deploying"}  # fmt: skip

    with pytest.raises(typer.Exit) as ended:
        follow_looks(Looks({PUBLISHED.deployment_id: earlier}))

    assert ended.value.exit_code == 1
    assert (
        "duplicate: these bytes are deployment m-abababababab already, uploaded as s3://b/models/m/v1/model.tar.gz"
        in (capsys.readouterr().out)
    )


# ------------------------------------------------------------------------------------------------------- init


@unit
def test_init_writes_a_rollout_yaml_the_pipeline_accepts(tmp_path: Path) -> None:
    out = tmp_path / "rollout.yaml"

    result = invoke(
        "init", "--model", "fraud-scorer", "--image", IMAGE, "--instance-type", "ml.g5.xlarge",
        "--endpoint-name", "fraud", "--out", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    config = load_config_text(out.read_text(), model_name="fraud-scorer")
    assert (config.image, config.instance_type, config.endpoint_name) == (IMAGE, "ml.g5.xlarge", "fraud")
    again = invoke("init", "--model", "fraud-scorer", "--image", IMAGE, "--out", str(out))
    assert again.exit_code == 2 and "exists already (pass --force" in again.stderr
    assert invoke("init", "--model", "fraud-scorer", "--image", IMAGE, "--out", str(out), "--force").exit_code == 0


@unit
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--image", "fraud-scorer:1.4"], "image: has no registry host"),
        (["--image", IMAGE, "--instance-type", "m5.large"], "did you mean 'ml.m5.large'?"),
        (["--image", IMAGE, "--framework", "pytorch"], "either --image or --framework"),
        ([], "say which image serves the model"),
        (["--framework", "pytorch"], "needs --framework-version"),
        (["--image", IMAGE, "--py-version", "py311"], "go with --framework"),
    ],
    ids=["no registry", "instance type", "both", "neither", "no version", "py-version with image"],
)
def test_init_refuses_a_config_that_would_not_validate(tmp_path: Path, args: list[str], expected: str) -> None:
    result = invoke("init", "--model", "fraud-scorer", *args, "--out", str(tmp_path / "rollout.yaml"))

    assert result.exit_code == 2
    assert expected in result.stderr
    assert not (tmp_path / "rollout.yaml").exists()


@unit
def test_framework_without_the_sagemaker_sdk_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an environment without the extra looks like, even after a test that imported the SDK (make test-sdk3).
    for name in [name for name in sys.modules if name.split(".")[0] == "sagemaker"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sagemaker", None)

    result = invoke(
        "--region", "us-east-1", "init", "--model", "fraud-scorer", "--framework", "pytorch",
        "--framework-version", "2.3", "--out", str(tmp_path / "rollout.yaml"),
    )  # fmt: skip

    assert result.exit_code == 2
    assert "through the sagemaker SDK, which is not installed (pip install 'mlrollout[sagemaker]'" in result.stderr
    assert "or pass the image URI with --image)" in result.stderr


# ---------------------------------------------------------------------------------------------- S3, on moto


@pytest.fixture
def embedded_aws() -> Iterator[Any]:
    """The embedded AWS for one test: it patches moto process-wide, and this module's sandbox tests start their
    own afterwards (the shared module-scoped one would still be up)."""
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.server import EmbeddedAws

    with EmbeddedAws(SandboxClock(warp=1000)) as started:
        yield started


@pytest.fixture
def cli_env(embedded_aws: Any) -> dict[str, Any]:
    """The CLI pointed at the embedded AWS, with a fresh bucket; nothing from the developer's configuration."""
    bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
    embedded_aws.client("s3").create_bucket(Bucket=bucket)
    return {
        **embedded_aws.environment(),
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "MLROLLOUT_BUCKET": bucket,
        "MLROLLOUT_DEPLOYMENTS_TABLE": "not-read-before-the-config-is-there",
    }


@aws
def test_init_upload_puts_the_config_in_the_bucket_and_will_not_replace_it_unasked(
    embedded_aws: Any, cli_env: dict[str, Any], tmp_path: Path
) -> None:
    bucket = cli_env["MLROLLOUT_BUCKET"]
    args = ["init", "--model", "fraud-scorer", "--image", IMAGE, "--upload", "--out", str(tmp_path / "a.yaml")]

    first = invoke(*args, env=cli_env)
    again = invoke(*args[:-1], str(tmp_path / "b.yaml"), env=cli_env)
    forced = invoke(*args[:-1], str(tmp_path / "c.yaml"), "--force", env=cli_env)

    assert first.exit_code == 0, first.output
    assert f"uploaded s3://{bucket}/models/fraud-scorer/rollout.yaml" in first.stderr
    stored = embedded_aws.client("s3").get_object(Bucket=bucket, Key="models/fraud-scorer/rollout.yaml")
    assert stored["Body"].read().decode() == (tmp_path / "a.yaml").read_text()
    assert again.exit_code == 2 and "exists already (pass --force to replace it" in again.stderr
    assert not (tmp_path / "b.yaml").exists()  # refused before anything was written
    assert forced.exit_code == 0, forced.output


@aws
def test_publish_without_a_config_says_how_to_make_one(cli_env: dict[str, Any], tmp_path: Path) -> None:
    result = invoke("publish", str(model_dir(tmp_path)), "--model", "fraud-scorer", env=cli_env)

    assert result.exit_code == 2
    assert "models/fraud-scorer/rollout.yaml does not exist" in result.stderr
    assert "pass --image URI (or --framework F --framework-version V) to create it" in result.stderr


@aws
def test_publish_with_framework_and_no_sdk_says_how_to_install_it(
    cli_env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sagemaker", None)
    monkeypatch.setitem(sys.modules, "sagemaker.image_uris", None)

    result = invoke(
        "publish", str(model_dir(tmp_path)), "--model", "fraud-scorer", "--framework", "pytorch",
        "--framework-version", "2.3", env=cli_env,
    )  # fmt: skip

    assert result.exit_code == 2
    assert "pip install 'mlrollout[sagemaker]'" in result.stderr


# ---------------------------------------------------------------------------------------------- the sandbox

CONFIG = f"image: {IMAGE}\n"  # the shipped defaults


@pytest.fixture(scope="module")
def running() -> Iterator[Any]:
    from mlrollout_sandbox.session import Sandbox

    with Sandbox(warp=600, seed=11) as started:
        yield started


@pytest.fixture(scope="module")
def published(running: Any) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    """A model whose first version `mlrollout publish` uploaded (creating its rollout.yaml from --image) and
    followed to the end; then configured for quick canaries, with traffic."""
    from mlrollout_sandbox.dataplane import TrafficProfile

    name = f"pub-{uuid.uuid4().hex[:6]}"
    running.send_traffic(name, TrafficProfile(rps=10))
    first = mlrollout(running, "publish", str(DEMO / "v1"), "--model", name, "--image", IMAGE,
                      "--notes", "first cut", "--interval", "0.2")  # fmt: skip
    running.put_config(name, CONFIG)  # the default steps, 10% then 50%, for the updates
    yield name, first
    running.dataplane.stop_traffic(name)


def mlrollout(running: Any, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it against the sandbox: its own process, the sandbox's environment."""
    return subprocess.run(
        [str(BIN / "mlrollout"), *args],
        env={**os.environ, **running.environment()},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def record(running: Any, deployment_id: str) -> dict[str, Any] | None:
    from mlrollout.adapters.ledger import DynamoDeployments

    return DynamoDeployments(running.client("dynamodb"), running.stack.physical("DeploymentsTable")).get(deployment_id)


@sandbox
def test_a_first_version_gets_its_config_created_and_is_followed_to_promoted(
    running: Any, published: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    model, first = published

    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.strip().splitlines()
    assert f"created s3://{running.bucket}/models/{model}/rollout.yaml" in lines
    assert any(line.startswith(f"uploaded s3://{running.bucket}/models/{model}/v1/model.tar.gz") for line in lines)
    deployment = naming.deployment_id(model, hashlib.sha256(package_model(DEMO / "v1")).hexdigest())
    assert lines[-1] == f"{deployment}: promoted"
    stored = running.client("s3").head_object(Bucket=running.bucket, Key=f"models/{model}/v1/model.tar.gz")
    assert stored["Metadata"]["notes"] == "first cut"
    assert {"git-sha", "git-dirty", "user", "sha256"} <= set(stored["Metadata"])


@sandbox
def test_an_update_is_followed_decision_by_decision_to_promoted(
    running: Any, published: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    model, _ = published

    update = mlrollout(running, "publish", str(DEMO / "v2"), "--model", model, "--interval", "0.2", "--json")

    assert update.returncode == 0, update.stdout + update.stderr
    document = json.loads(update.stdout)
    sha256 = hashlib.sha256(package_model(DEMO / "v2")).hexdigest()
    assert document["version"] == "v2"  # the next version folder after v1
    assert document["deployment_id"] == naming.deployment_id(model, sha256)
    assert (document["outcome"], document["record"]["state"]) == ("promoted", "promoted")
    # each decision as it came, progress on stderr: the first step advances without harm, the second on proof
    assert re.search(r"step 1 at 10%: (INCONCLUSIVE|PASS), advance:", update.stderr)
    assert "step 2 at 50%: PASS, advance:" in update.stderr
    shown = update.stderr.count("  step 1 at 10%: ") + update.stderr.count("  step 2 at 50%: ")
    # a look that says again what the one before it said is counted on one line, not printed again
    repeated = update.stderr.count("… the same once more") + sum(
        int(n) for n in re.findall(r"… the same (\d+) more times", update.stderr)
    )
    assert len(document["record"]["decisions"]) == shown + repeated
    assert record(running, document["deployment_id"])["outcome"] == "promoted"


@sandbox
def test_publishing_the_same_bytes_again_points_at_the_earlier_deployment(
    running: Any, published: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    model, _ = published
    earlier = naming.deployment_id(model, hashlib.sha256(package_model(DEMO / "v1")).hexdigest())
    before = running.client("s3").list_objects_v2(Bucket=running.bucket, Prefix=f"models/{model}/")["Contents"]

    again = mlrollout(running, "publish", str(DEMO / "v1"), "--model", model, "--interval", "0.2")

    assert again.returncode == 1
    assert f"duplicate: these bytes are deployment {earlier} already" in again.stdout
    assert f"models/{model}/v1/model.tar.gz (version v1: promoted)" in again.stdout
    assert f"mlrollout history {model} --deployment {earlier}" in again.stdout
    after = running.client("s3").list_objects_v2(Bucket=running.bucket, Prefix=f"models/{model}/")["Contents"]
    assert [o["Key"] for o in after] == [o["Key"] for o in before]  # nothing uploaded


@sandbox
def test_a_faulty_version_is_followed_to_its_rollback_and_exits_1(
    running: Any, published: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    model, _ = published

    faulty = mlrollout(running, "publish", str(DEMO / "v3-faulty"), "--model", model, "--interval", "0.2")

    assert faulty.returncode == 1, faulty.stdout + faulty.stderr
    assert "step 1 at 10%: FAIL, rollback:" in faulty.stdout
    assert ": rolled back: " in faulty.stdout.strip().splitlines()[-1]


@sandbox
def test_framework_resolves_the_serving_image_through_the_sagemaker_sdk(running: Any) -> None:
    """The extra installed (as `make setup` does): the SDK's image registry names the image rollout.yaml gets."""
    from mlrollout.domain.config import load_config_text
    from mlrollout_sandbox.dataplane import TrafficProfile

    name = f"fw-{uuid.uuid4().hex[:6]}"
    running.send_traffic(name, TrafficProfile(rps=10))
    try:
        first = mlrollout(running, "publish", str(DEMO / "v1"), "--model", name, "--framework", "pytorch",
                          "--framework-version", "2.3", "--py-version", "py311", "--interval", "0.2")  # fmt: skip
    finally:
        running.dataplane.stop_traffic(name)

    assert first.returncode == 0, first.stdout + first.stderr
    text = running.client("s3").get_object(Bucket=running.bucket, Key=f"models/{name}/rollout.yaml")["Body"].read()
    config = load_config_text(text.decode(), model_name=name)
    # SageMaker's PyTorch 2.3 inference image in us-east-1 (the account that publishes the framework images)
    assert config.image == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
    assert config.framework == "pytorch"
    assert first.stdout.strip().splitlines()[-1].endswith(": promoted")
