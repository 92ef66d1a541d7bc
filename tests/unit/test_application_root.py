"""Where the sandbox finds the application it deploys (template.yaml and the folders it names): the demo and
`sandbox up` work from any clone, and say how to point at one when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout_cli.main import run
from mlrollout_sandbox import session
from mlrollout_sandbox.session import ApplicationNotFound, application_root


def an_application(folder: Path) -> Path:
    (folder / "functions").mkdir(parents=True)
    (folder / "template.yaml").write_text("Resources: {}\n")
    return folder


@pytest.fixture
def not_installed_from_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CLI installed from a wheel: the package sits in site-packages, far from any clone."""
    monkeypatch.setattr(session, "INSTALLED_FROM", tmp_path / "site-packages")
    monkeypatch.delenv(session.APP_VARIABLE, raising=False)
    return tmp_path


def test_the_checkout_this_package_runs_from_is_found_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(session.APP_VARIABLE, raising=False)
    assert (application_root() / "template.yaml").is_file()


def test_from_a_clone_or_one_of_its_folders_the_clone_is_found(
    not_installed_from_a_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = an_application(not_installed_from_a_checkout / "clone")
    (clone / "models" / "fraud").mkdir(parents=True)
    monkeypatch.chdir(clone / "models" / "fraud")
    assert application_root() == clone.resolve()


def test_the_variable_names_the_application_and_a_wrong_one_is_refused(
    not_installed_from_a_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = an_application(not_installed_from_a_checkout / "elsewhere")
    monkeypatch.setenv(session.APP_VARIABLE, str(clone))
    assert application_root() == clone.resolve()
    monkeypatch.setenv(session.APP_VARIABLE, str(not_installed_from_a_checkout))
    with pytest.raises(ApplicationNotFound, match="MLROLLOUT_APP=.* is not an mlrollout application"):
        application_root()


def test_without_an_application_the_demo_says_where_it_looked_and_how_to_point_at_one(
    not_installed_from_a_checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(not_installed_from_a_checkout)
    assert run(["demo"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: the sandbox deploys the mlrollout application"), error
    assert error.endswith("(run from a clone of the mlrollout repository, or set MLROLLOUT_APP to one)")
    assert run(["sandbox", "up"]) == 2  # refused before a detached process could only log it
