"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"


def make_tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def s3_event(bucket: str, key: str, version_id: str | None, size: int) -> dict[str, Any]:
    """The sample event in events/, pointed at an object that exists."""
    event: dict[str, Any] = json.loads((EVENTS / "s3-object-created.json").read_text())
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update({"key": key, "version-id": version_id, "size": size})
    return event


def demo_artifact(version: str, salt: str = "") -> bytes:
    """A demo model's real package; `salt` changes its bytes (and so its sha256) without changing what it does."""
    from mlrollout_sandbox.session import DEMO_MODELS, package_model

    return package_model(DEMO_MODELS / "fraud-scorer" / version, extra={"BUILD": salt.encode()} if salt else None)


def run_cli(sandbox: Any, *args: str, timeout: float = 120) -> Any:
    """The CLI as an operator runs it against the sandbox: its own process (the sandbox swaps os.environ while it
    runs handlers, which would race an in-process CLI), pointed at the sandbox by its environment."""
    import os
    import subprocess
    import sys

    environment = {**os.environ, **sandbox.environment(), "COLUMNS": "200"}
    command = [str(Path(sys.executable).with_name("mlrollout")), *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, check=False)
