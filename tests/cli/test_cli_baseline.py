"""`mlrollout baseline`: samples in, Model Monitor's statistics.json and constraints.json out, read back here.

The expected numbers are worked out by hand from the samples below: equal-width buckets between each numeric
feature's min and max, every category of a string feature, completeness = present / records.
"""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

from mlrollout.domain.drift import Baseline, read_baseline
from support import invoke_cli as invoke

unit = pytest.mark.unit
aws = pytest.mark.aws
sandbox = pytest.mark.sandbox

CSV_SAMPLE = "age,country,score\n34,FR,0.5\n41,DE,0.25\n,FR,1.0\n29,US,\n"


@pytest.fixture(autouse=True)
def _sockets_off_in_unit_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    pytest_socket.disable_socket()
    yield
    pytest_socket.enable_socket()


def read_folder(folder: Path) -> Baseline:
    statistics = json.loads((folder / "statistics.json").read_text())
    constraints = json.loads((folder / "constraints.json").read_text())
    return read_baseline(statistics, constraints)


def capture_line(request: dict[str, Any], response: Any, *, base64_input: bool = False) -> str:
    data = json.dumps(request)
    endpoint_input = {"observedContentType": "application/json", "mode": "INPUT", "data": data, "encoding": "JSON"}
    if base64_input:
        endpoint_input.update(data=base64.b64encode(data.encode()).decode(), encoding="BASE64")
    return json.dumps(
        {
            "captureData": {
                "endpointInput": endpoint_input,
                "endpointOutput": {"mode": "OUTPUT", "data": json.dumps(response), "encoding": "JSON"},
            },
            "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": "2025-01-06T10:00:00Z"},
            "eventVersion": "0",
        }
    )


# ------------------------------------------------------------------------------------------- local output


@unit
def test_a_csv_sample_gives_a_baseline_in_a_local_folder(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(CSV_SAMPLE)

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "baseline"), "--bins", "2")

    assert result.exit_code == 0, result.output
    baseline = read_folder(tmp_path / "baseline")
    assert baseline.item_count == 4
    age, country, score = (baseline.features[name] for name in ("age", "country", "score"))
    # age 34, 41, (empty), 29: min 29, max 41, two buckets of width 6: [29, 35) holds 34 and 29, [35, 41] holds 41
    assert (age.inferred_type, age.num_present, age.num_missing) == ("Integral", 3, 1)
    assert age.edges == (29.0, 35.0, 41.0)
    assert age.bucket_counts == (2.0, 1.0)
    assert age.completeness == 0.75
    # score 0.5, 0.25, 1.0, (empty): [0.25, 0.625) holds 0.5 and 0.25, [0.625, 1.0] holds 1.0
    assert (score.inferred_type, score.num_present, score.num_missing) == ("Fractional", 3, 1)
    assert score.edges == (0.25, 0.625, 1.0)
    assert score.bucket_counts == (2.0, 1.0)
    assert (country.inferred_type, country.num_present, country.num_missing) == ("String", 4, 0)
    assert dict(country.categories) == {"FR": 2.0, "DE": 1.0, "US": 1.0}
    assert country.domains == ("DE", "FR", "US")
    assert country.completeness == 1.0

    assert "baseline of " in result.stdout
    assert "(csv): 4 records, 3 features" in result.stdout
    assert "  age      Integral    3 present, 1 missing" in result.stdout
    assert "  country  String      4 present, 0 missing" in result.stdout
    assert f"wrote {tmp_path / 'baseline' / 'statistics.json'}" in result.stdout
    # Only S3 URIs are valid in rollout.yaml: a local baseline gets the upload command and placeholders.
    assert f"aws s3 cp {tmp_path / 'baseline'}/ s3://<bucket>/baselines/<model>/ --recursive" in result.stdout
    assert "monitoring:\n  baseline_statistics: s3://<bucket>/baselines/<model>/statistics.json\n" in result.stdout


@unit
def test_the_default_is_ten_equal_width_bins(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text("x\n" + "".join(f"{v}\n" for v in (0, 1, 5, 9.5, 10)))

    assert invoke("baseline", str(sample), "--out", str(tmp_path)).exit_code == 0

    x = read_folder(tmp_path).features["x"]
    assert x.edges == tuple(float(e) for e in range(11))
    # 0 -> [0,1), 1 -> [1,2), 5 -> [5,6), 9.5 and 10 -> [9,10] (the last bucket includes the max)
    assert x.bucket_counts == (1, 1, 0, 0, 0, 1, 0, 0, 0, 2)


@unit
def test_a_jsonl_sample_of_feature_objects(tmp_path: Path) -> None:
    sample = tmp_path / "requests.jsonl"
    lines = [
        {"amount": 10, "channel": "web", "flag": True},
        {"features": {"amount": 30, "channel": "app"}},  # a request body: its "features" object is what is read
        {"amount": 20.5, "channel": "web", "flag": False},
    ]
    sample.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"))

    assert result.exit_code == 0, result.output
    baseline = read_folder(tmp_path / "out")
    assert baseline.item_count == 3
    assert set(baseline.features) == {"amount", "channel", "flag"}
    amount = baseline.features["amount"]
    assert amount.inferred_type == "Fractional"  # 20.5 among the integers
    assert amount.edges == tuple(float(e) for e in range(10, 31, 2))
    assert amount.bucket_counts == (1, 0, 0, 0, 0, 1, 0, 0, 0, 1)  # 10 in [10,12), 20.5 in [20,22), 30 in [28,30]
    assert dict(baseline.features["channel"].categories) == {"web": 2.0, "app": 1.0}
    flag = baseline.features["flag"]
    assert (flag.inferred_type, flag.num_present, flag.num_missing) == ("String", 2, 1)
    assert dict(flag.categories) == {"true": 1.0, "false": 1.0}
    assert "(jsonl): 3 records, 3 features" in result.stdout


@unit
def test_a_data_capture_sample_is_recognised_and_includes_the_outputs(tmp_path: Path) -> None:
    sample = tmp_path / "capture.jsonl"
    sample.write_text(
        "\n".join(
            [
                capture_line({"x": 1.0, "segment": "a"}, {"score": 0.9}),
                capture_line({"features": {"x": 3.0, "segment": "b"}}, {"score": 0.1}, base64_input=True),
                capture_line({"x": 2.0, "segment": "a"}, 0.3),  # a bare number: no output.* fields
            ]
        )
    )

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"), "--bins", "2")

    assert result.exit_code == 0, result.output
    baseline = read_folder(tmp_path / "out")
    assert baseline.item_count == 3
    assert list(baseline.features) == ["x", "segment", "output.score"]
    x = baseline.features["x"]
    assert (x.inferred_type, x.edges, x.bucket_counts) == ("Fractional", (1.0, 2.0, 3.0), (1.0, 2.0))
    assert dict(baseline.features["segment"].categories) == {"a": 2.0, "b": 1.0}
    score = baseline.features["output.score"]
    assert (score.num_present, score.num_missing) == (2, 1)
    assert "(capture): 3 records, 3 features" in result.stdout
    assert "note: responses that are not a JSON object: 1 (no output.* features from those records)" in result.stdout


@unit
def test_a_feature_without_values_is_kept_and_pointed_out(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1,\n2,\n")

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"))

    assert result.exit_code == 0, result.output
    b = read_folder(tmp_path / "out").features["b"]
    assert (b.inferred_type, b.num_present, b.num_missing, b.completeness) == ("Unknown", 0, 2, 0.0)
    assert "  b  Unknown     0 present, 2 missing" in result.stdout
    assert "note: no values in the sample for b: drift cannot be measured on them" in result.stdout


@unit
def test_format_overrides_the_extension(tmp_path: Path) -> None:
    sample = tmp_path / "traffic.log"
    sample.write_text(capture_line({"x": 1}, {"y": 2}) + "\n")

    refused = invoke("baseline", str(sample), "--out", str(tmp_path / "out"))
    assert refused.exit_code == 2
    assert "cannot tell the format of" in refused.stderr
    assert "pass --format csv|jsonl|capture" in refused.stderr

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"), "--format", "capture")
    assert result.exit_code == 0, result.output
    assert list(read_folder(tmp_path / "out").features) == ["x", "output.y"]


# ------------------------------------------------------------------------------------------------ bad input


@unit
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty.csv: the sample is empty"),
        ("header.csv", "age,country\n", "the sample has no records, only a header row"),
        ("short.csv", "a,b\n1,2\n3\n", "line 3: 1 cells where the header names 2 columns; quote cells that contain"),
        ("quotes.csv", 'a,b\n1,2\n"3"x,4\n', "line 3 is not readable CSV"),
        ("unnamed.csv", "a,,c\n1,2,3\n", "line 1: column 2 has no name"),
        ("twice.csv", "a,b,a\n1,2,3\n", "line 1: column 'a' appears twice"),
        ("blank.csv", "\na,b\n1,2\n", "line 1 is empty: the first line of a CSV sample must be the header row"),
        ("broken.jsonl", '{"a": 1}\n{"a": 2\n', "line 2 is not JSON"),
        ("array.jsonl", '{"a": 1}\n\n[1, 2]\n', "line 3 is an array, not an object of features"),
        ("none.jsonl", "{}\n{}\n", "the sample's records name no features"),
        ("capture.jsonl", capture_line({"a": 1}, {}) + '\n{"captureData": {}}\n', "line 2 is not a SageMaker"),
    ],
)
def test_bad_samples_exit_2_naming_the_problem_and_write_nothing(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    sample = tmp_path / name
    sample.write_text(content)

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"))

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith(f"error: {sample}: ")
    assert not (tmp_path / "out").exists()


@unit
def test_a_capture_file_read_as_feature_lines_says_how_to_read_it(tmp_path: Path) -> None:
    sample = tmp_path / "features.jsonl"
    sample.write_text('{"a": 1}\n{"b": 2}\n')

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"), "--format", "capture")

    assert result.exit_code == 2
    assert "line 1 is not a SageMaker data-capture record (missing captureData)" in result.stderr
    assert "pass --format jsonl" in result.stderr


@unit
def test_a_sample_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    sample = tmp_path / "latin1.csv"
    sample.write_bytes("city\nParis\nSão Paulo\n".encode("latin-1"))

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"))

    assert result.exit_code == 2
    assert "line 3 is not UTF-8 text" in result.stderr
    assert not (tmp_path / "out").exists()


@unit
def test_a_missing_sample_file(tmp_path: Path) -> None:
    result = invoke("baseline", str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "out"))

    assert result.exit_code == 2
    assert f"error: {tmp_path / 'nowhere.csv'}: no such file" in result.stderr
    assert not (tmp_path / "out").exists()


@unit
def test_out_must_be_a_folder(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(CSV_SAMPLE)
    (tmp_path / "taken").write_text("a file")

    named = invoke("baseline", str(sample), "--out", str(tmp_path / "statistics.json"))
    taken = invoke("baseline", str(sample), "--out", str(tmp_path / "taken"))

    assert (named.exit_code, taken.exit_code) == (2, 2)
    assert "give the folder statistics.json and constraints.json go to, not a file name" in named.stderr
    assert f"--out {tmp_path / 'taken'} is a file" in taken.stderr
    assert (tmp_path / "taken").read_text() == "a file"


@unit
def test_model_monitor_options_on_the_builtin_backend_are_refused(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(CSV_SAMPLE)

    result = invoke("baseline", str(sample), "--out", str(tmp_path / "out"), "--role-arn", "arn:aws:iam::1:role/r")

    assert result.exit_code == 2
    assert "--role-arn and --instance-type are for --backend model-monitor" in result.stderr
    assert not (tmp_path / "out").exists()


@unit
def test_model_monitor_without_the_sagemaker_sdk_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an environment without the extra looks like, even after a test that imported the SDK (make test-sdk3).
    for name in [name for name in sys.modules if name.split(".")[0] == "sagemaker"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sagemaker", None)

    result = invoke(
        "baseline",
        "s3://data/samples/sample.csv",
        "--out",
        "s3://data/baselines/fraud/",
        "--backend",
        "model-monitor",
        "--role-arn",
        "arn:aws:iam::123456789012:role/monitor",
    )

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --backend model-monitor runs SageMaker's baselining job through the sagemaker SDK, which is not "
        "installed (pip install 'mlrollout[sagemaker]', or leave out --backend for the builtin baseline)\n"
    )


# ----------------------------------------------------------------------------------------------------- S3


@pytest.fixture
def cli_env(embedded_aws: Any) -> dict[str, Any]:
    """The CLI's AWS settings for the embedded AWS; nothing from the developer's own configuration."""
    return {
        **embedded_aws.environment(),
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@pytest.fixture
def bucket(embedded_aws: Any) -> str:
    name = f"baselines-{uuid.uuid4().hex[:8]}"
    embedded_aws.client("s3").create_bucket(Bucket=name)
    return name


def s3_json(embedded_aws: Any, bucket: str, key: str) -> Any:
    return json.loads(embedded_aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@aws
def test_upload_to_s3_and_a_local_copy(embedded_aws: Any, cli_env: dict[str, Any], bucket: str, tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(CSV_SAMPLE)

    result = invoke(
        "--endpoint-url",
        embedded_aws.url,
        "baseline",
        str(sample),
        "--out",
        f"s3://{bucket}/baselines/fraud-scorer",
        "--out",
        str(tmp_path / "copy"),
        "--bins",
        "2",
        env=cli_env,
    )

    assert result.exit_code == 0, result.output
    statistics = s3_json(embedded_aws, bucket, "baselines/fraud-scorer/statistics.json")
    constraints = s3_json(embedded_aws, bucket, "baselines/fraud-scorer/constraints.json")
    baseline = read_baseline(statistics, constraints)
    assert baseline.item_count == 4
    assert baseline.features["age"].bucket_counts == (2.0, 1.0)
    assert dict(baseline.features["country"].categories) == {"FR": 2.0, "DE": 1.0, "US": 1.0}
    assert json.loads((tmp_path / "copy" / "statistics.json").read_text()) == statistics
    assert json.loads((tmp_path / "copy" / "constraints.json").read_text()) == constraints
    assert f"wrote s3://{bucket}/baselines/fraud-scorer/statistics.json" in result.stdout
    assert (
        "In the model's rollout.yaml:\n\nmonitoring:\n"
        f"  baseline_statistics: s3://{bucket}/baselines/fraud-scorer/statistics.json\n"
        f"  baseline_constraints: s3://{bucket}/baselines/fraud-scorer/constraints.json\n"
    ) in result.stdout


@aws
def test_a_sample_read_from_s3(embedded_aws: Any, cli_env: dict[str, Any], bucket: str, tmp_path: Path) -> None:
    embedded_aws.client("s3").put_object(Bucket=bucket, Key="samples/fraud.csv", Body=CSV_SAMPLE.encode())

    result = invoke("baseline", f"s3://{bucket}/samples/fraud.csv", "--out", str(tmp_path), env=cli_env)
    missing = invoke("baseline", f"s3://{bucket}/samples/other.csv", "--out", str(tmp_path / "no"), env=cli_env)

    assert result.exit_code == 0, result.output
    # score 0.5, 0.25, 1.0 in ten buckets of width 0.075 from 0.25: the 4th, the 1st and the 10th
    assert read_folder(tmp_path).features["score"].bucket_counts == (1, 0, 0, 1, 0, 0, 0, 0, 0, 1)
    assert missing.exit_code == 2
    assert f"cannot read the sample s3://{bucket}/samples/other.csv: no such object" in missing.stderr


@aws
def test_a_missing_bucket_is_explained_and_nothing_is_written(cli_env: dict[str, Any], tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(CSV_SAMPLE)
    missing = f"nobody-{uuid.uuid4().hex[:8]}"

    result = invoke(
        "baseline", str(sample), "--out", f"s3://{missing}/baselines/", "--out", str(tmp_path / "out"), env=cli_env
    )

    assert result.exit_code == 2
    assert f"cannot write to s3://{missing}/baselines/: bucket {missing} does not exist" in result.stderr
    assert f"create it (aws s3 mb s3://{missing})" in result.stderr
    assert not (tmp_path / "out").exists()  # S3 is written first: a refusal leaves no local half either


@aws
def test_access_denied_names_the_permission(
    embedded_aws: Any, cli_env: dict[str, Any], bucket: str, tmp_path: Path
) -> None:
    from moto.core.authorization import enable_iam_authentication

    iam = embedded_aws.client("iam")
    user = f"reader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    read_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="read-only", PolicyDocument=json.dumps(read_only))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    sample = tmp_path / "sample.csv"
    sample.write_text(CSV_SAMPLE)

    with enable_iam_authentication():
        result = invoke(
            "baseline",
            str(sample),
            "--out",
            f"s3://{bucket}/baselines/fraud/",
            env={**cli_env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]},
        )

    assert result.exit_code == 3  # AWS refuses the credentials in use
    assert result.stderr.startswith(
        f"error: cannot write to s3://{bucket}/baselines/fraud/: access denied (AccessDenied) ("
    )
    assert f"need s3:PutObject on arn:aws:s3:::{bucket}/baselines/fraud/*; choose them with --profile)" in result.stderr
    assert embedded_aws.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# ---------------------------------------------------------------------------------- model-monitor backend


@sandbox
def test_model_monitor_runs_sagemakers_baselining_job_through_the_sdk(
    embedded_aws: Any, cli_env: dict[str, Any], bucket: str
) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    created = embedded_aws.client("iam").create_role(
        RoleName=f"monitor-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps(trust)
    )
    role = created["Role"]["Arn"]
    embedded_aws.client("s3").put_object(Bucket=bucket, Key="samples/sample.csv", Body=CSV_SAMPLE.encode())
    sample, out = f"s3://{bucket}/samples/sample.csv", f"s3://{bucket}/baselines/m/"

    # Unset while the command runs (and after it): the CLI itself silences the SDK's v2 warnings.
    env = {**cli_env, "SAGEMAKER_SUPPRESS_V2_WARNING": None}

    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke("baseline", sample, "--backend", "model-monitor", "--role-arn", role, "--out", out, env=env)
    waited = time.monotonic() - started

    assert result.exit_code == 0, result.output
    statistics = s3_json(embedded_aws, bucket, "baselines/m/statistics.json")
    constraints = s3_json(embedded_aws, bucket, "baselines/m/constraints.json")
    baseline = read_baseline(statistics, constraints)
    assert baseline.item_count == 4
    assert list(baseline.features) == ["age", "country", "score"]
    age, country = baseline.features["age"], baseline.features["country"]
    assert (age.inferred_type, age.num_present, age.num_missing) == ("Integral", 3, 1)
    assert dict(country.categories) == {"FR": 2.0, "DE": 1.0, "US": 1.0}
    # The job the SDK started, as SageMaker (the sandbox) ran it.
    jobs = embedded_aws.client("sagemaker").list_processing_jobs(NameContains="baseline-suggestion-job")
    [job] = [j for j in jobs["ProcessingJobSummaries"] if j["ProcessingJobStatus"] == "Completed"]
    described = embedded_aws.client("sagemaker").describe_processing_job(ProcessingJobName=job["ProcessingJobName"])
    assert described["ProcessingInputs"][0]["S3Input"]["S3Uri"] == sample
    assert described["Environment"]["dataset_source"] == "/opt/ml/processing/input/baseline_dataset_input"

    assert f"baseline of {sample} (SageMaker's baselining job): 4 records, 3 features" in result.stdout
    assert result.stdout.startswith("baseline of ")  # nothing of the SDK's waiter (a dot per poll) before it
    assert (
        "monitoring:\n  backend: model-monitor\n"
        f"  baseline_statistics: {out}statistics.json\n  baseline_constraints: {out}constraints.json\n"
    ) in result.stdout
    assert not [w for w in caught if type(w.message).__name__ == "SageMakerV2DeprecationWarning"]
    assert waited < 30, f"the SDK waited {waited:.1f} s"
