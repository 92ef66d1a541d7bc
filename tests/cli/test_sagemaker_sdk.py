"""The sagemaker SDK through `mlrollout_cli.extras`, on whichever major version is installed: 2.x in .venv
(requirements/dev.lock), 3.x in .venv-sdk3 (`make test-sdk3`, which sets MLROLLOUT_TEST_SAGEMAKER_MAJOR=3 so that
these tests fail there if they ever find 2.x instead). No network: the image registry is a table in the SDK."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
import pytest_socket

from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.extras import _sagemaker_modules, sagemaker_image_uris, sagemaker_model_monitor
from mlrollout_cli.main import run

pytestmark = pytest.mark.unit

EXPECTED_MAJOR = int(os.environ.get("MLROLLOUT_TEST_SAGEMAKER_MAJOR", "2"))
# The distribution that provides the `sagemaker` package in each major, and its own major: 3.x splits the SDK into
# sagemaker-core 2.x (`sagemaker.core`), sagemaker-train, -serve and -mlops, and its `sagemaker` meta-package holds
# none of the code.
PROVIDER = {2: ("sagemaker", "2"), 3: ("sagemaker-core", "2")}
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No sockets and nothing from the developer's AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no region from the instance metadata either
    pytest_socket.disable_socket()
    yield
    pytest_socket.enable_socket()


def test_the_installed_major_is_found_where_it_keeps_each_module() -> None:
    images = sagemaker_image_uris(needed_for="the test")
    monitor = sagemaker_model_monitor(needed_for="the test")

    assert (images.major, monitor.major) == (EXPECTED_MAJOR, EXPECTED_MAJOR)
    package = "sagemaker.core" if EXPECTED_MAJOR == 3 else "sagemaker"
    assert images.retrieve.__module__ == f"{package}.image_uris"
    assert monitor.DefaultModelMonitor.__module__ == f"{package}.model_monitor.model_monitoring"
    # What pip installed agrees, read from the distributions' metadata rather than from the shim's choice.
    [provider] = metadata.packages_distributions()["sagemaker"]
    assert (provider, metadata.version(provider).split(".")[0]) == PROVIDER[EXPECTED_MAJOR]


def test_model_monitor_has_the_signatures_baseline_calls() -> None:
    """What `mlrollout baseline --backend model-monitor` passes, by keyword (tools/mlrollout_cli/baseline.py); the
    sandbox test of the command runs the job itself."""
    sdk = sagemaker_model_monitor(needed_for="the test")

    def parameters(function: Callable[..., object]) -> set[str]:
        return set(inspect.signature(function).parameters)

    assert {"boto_session", "sagemaker_client"} <= parameters(sdk.Session)
    assert {"role", "instance_count", "instance_type", "sagemaker_session"} <= parameters(sdk.DefaultModelMonitor)
    assert {"baseline_dataset", "dataset_format", "output_s3_uri", "wait", "logs"} <= parameters(
        sdk.DefaultModelMonitor.suggest_baseline
    )
    assert callable(sdk.DefaultModelMonitor.baseline_statistics)
    assert callable(sdk.DefaultModelMonitor.suggested_constraints)
    assert sdk.DatasetFormat.csv(header=True) == {"csv": {"header": True, "output_columns_position": "START"}}
    assert sdk.DatasetFormat.json(lines=True) == {"json": {"lines": True}}
    assert issubclass(sdk.UnexpectedStatusException, Exception)


def test_init_framework_writes_the_image_the_sdk_names(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        ["--region", "us-east-1", "init", "--model", "fraud-scorer", "--framework", "pytorch",
         "--framework-version", "2.3", "--py-version", "py311", "--out", "-"]
    )  # fmt: skip

    captured = capsys.readouterr()
    assert code == 0, captured.err
    # Nothing of the SDK's own (its config-file notices, its v2 deprecation notice) on stdout: only the file.
    assert captured.out.startswith("# models/fraud-scorer/rollout.yaml: ")
    assert f"\nimage: {PYTORCH_IMAGE}\n" in captured.out
    assert "\nframework: pytorch\n" in captured.out


def test_a_version_sagemaker_has_no_image_for_is_refused_with_the_sdks_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(
        ["--region", "us-east-1", "init", "--model", "fraud-scorer", "--framework", "pytorch",
         "--framework-version", "0.1", "--out", "-"]
    )  # fmt: skip

    captured = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert captured.err.startswith("error: SageMaker has no pytorch 0.1 inference image for ml.m5.large in us-east-1: ")
    assert "Unsupported pytorch version: 0.1" in captured.err
    assert captured.err.endswith(" (choose a --framework-version (and --py-version) from the list, or pass --image)\n")
    assert captured.out == ""


def test_framework_without_a_region_is_an_aws_setting_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["init", "--model", "fraud-scorer", "--framework", "pytorch", "--framework-version", "2.3"])

    assert code == ExitCode.AWS_ACCESS
    assert capsys.readouterr().err == (
        "error: --framework pytorch needs a region to find its image in (pass --region or set AWS_REGION)\n"
    )


def test_the_smoke_tests_image_is_found_too() -> None:
    from mlrollout_dev.smoke import serving_image

    assert serving_image("us-east-1") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )


def test_without_the_sdk_the_refusal_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # What an environment without the extra looks like, for this process that has imported the SDK already.
    for name in [name for name in sys.modules if name.split(".")[0] == "sagemaker"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sagemaker", None)

    with pytest.raises(CliError) as refused:
        sagemaker_image_uris(needed_for="the test finds an image", instead="pass --image")

    assert refused.value.line() == (
        "error: the test finds an image through the sagemaker SDK, which is not installed "
        "(pip install 'mlrollout[sagemaker]', or pass --image)"
    )
    assert refused.value.code == ExitCode.USAGE


def test_an_sdk_that_is_there_but_cannot_import_is_not_called_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dependency of the SDK missing (a partial install) says so, instead of sending the user to install what
    they have."""
    (tmp_path / "sdk_of_the_test").mkdir()
    (tmp_path / "sdk_of_the_test" / "__init__.py").write_text("import dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(CliError) as refused:
        _sagemaker_modules({3: ("sdk_of_the_test",)}, "the test", None)

    assert refused.value.what == (
        "the sagemaker SDK is installed but cannot be imported: No module named 'dependency_that_is_not_installed'"
    )
    assert refused.value.fix == "reinstall it: pip install 'mlrollout[sagemaker]'"
