"""Judge Canary: one look at the canary against the current variant; the decision record goes to S3."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import JudgeInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.evaluate import evaluate_canary
from mlrollout.services.ledger import lease_minutes, note_look
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request, settings = JudgeInput.model_validate(event), get_settings()
    output, _ = evaluate_canary(
        request,
        metrics=wiring.metrics(),
        alarms=wiring.alarms(),
        artifacts=wiring.artifacts(),
        bucket=settings.require("artifact_bucket"),
    )
    minutes = lease_minutes(settings, request.rollout)
    ledger = {"records": wiring.records(), "leases": wiring.leases(), "lease_minutes": minutes}
    look = note_look(request.rollout, output, now=request.now, **ledger)
    judged = look.judgement
    logger.info(
        "canary judged", extra={"verdict": judged.verdict, "action": judged.action, "lease_kept": look.lease_kept}
    )
    return judged.model_dump(mode="json")
