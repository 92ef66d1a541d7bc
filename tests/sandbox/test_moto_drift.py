"""Every extension of moto lives in mlrollout_sandbox.emulator; these tests fail loudly when moto moves."""

from importlib import metadata

import pytest

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator import Emulator, MotoDrift
from mlrollout_sandbox.emulator._patching import MOTO_VERSION, Patcher, check_moto_version

pytestmark = pytest.mark.sandbox


def test_moto_is_the_pinned_version() -> None:
    assert metadata.version("moto") == MOTO_VERSION
    pyproject = (__import__("pathlib").Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert f"=={MOTO_VERSION}" in pyproject
    assert (
        f"moto=={MOTO_VERSION}"
        in (__import__("pathlib").Path(__file__).parents[2] / "requirements" / "dev.lock").read_text()
    )


def test_another_moto_version_refuses_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "version", lambda name: "5.9.0")
    with pytest.raises(MotoDrift, match="extends moto 5.2.5 but moto 5.9.0 is installed"):
        check_moto_version()


def test_every_patch_target_exists_and_uninstall_restores_moto_exactly() -> None:
    emulator = Emulator(SandboxClock(warp=100))
    patcher = emulator.patcher
    emulator.install()
    try:
        replaced = list(patcher._undo)
        assert len(replaced) > 40  # every service module patched something
        installed = {(id(owner), name): getattr(owner, name) for owner, name, _ in replaced}
    finally:
        emulator.uninstall()
    for owner, name, previous in replaced:
        current = owner.__dict__.get(name, "absent") if hasattr(owner, "__dict__") else getattr(owner, name, "absent")
        if previous is not patcher_missing():
            assert current is previous, f"{owner}.{name} was not restored"
        else:
            assert current == "absent", f"{owner}.{name} was added and not removed"
        assert installed[(id(owner), name)] is not None


def patcher_missing() -> object:
    from mlrollout_sandbox.emulator import _patching

    return _patching._MISSING


def test_a_second_install_is_refused_while_the_first_is_active() -> None:
    first = Emulator(SandboxClock())
    first.install()
    try:
        with pytest.raises(MotoDrift, match="moto now implements"):
            Emulator(SandboxClock()).install()
    finally:
        first.uninstall()
    Emulator(SandboxClock()).install().uninstall()  # and it installs again cleanly afterwards


def test_a_vanished_attribute_is_named() -> None:
    class Fake:
        pass

    with pytest.raises(MotoDrift, match="no longer has 'update_endpoint'"):
        Patcher().replace(Fake, "update_endpoint", lambda: None)
