"""Detect Drift: the builtin backend's scheduled run over one window of captured traffic."""

from datetime import UTC, datetime
from typing import Any

from mlrollout import wiring
from mlrollout.contracts import DriftRunInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.detect_drift import detect_drift
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result, verdict = detect_drift(
        DriftRunInput.model_validate(event),
        artifacts=wiring.artifacts(),
        captures=wiring.artifacts(),
        metrics=wiring.metrics(),
        record_bucket=get_settings().require("artifact_bucket"),
        now=datetime.now(UTC),
    )
    drifted = {f.feature: list(f.crossed) for f in verdict.drifted}
    logger.info("drift window", extra={**result.model_dump(mode="json"), "crossed": drifted})
    return result.model_dump(mode="json")
