import json
from pathlib import Path

import pytest

from mlrollout.contracts import Failure, Upload
from mlrollout.domain.alerts import Alert, EventType, Evidence
from mlrollout.domain.errors import ArtifactInvalid

EVENTS = Path(__file__).parents[2] / "events"


def test_upload_is_read_from_the_sample_event() -> None:
    upload = Upload.from_event(json.loads((EVENTS / "s3-object-created.json").read_text()))
    assert upload.bucket == "mlrollout-artifacts-example"
    assert upload.key == "models/fraud-scorer/v2/model.tar.gz"
    assert upload.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"


def test_an_event_of_the_wrong_shape_is_an_artifact_error() -> None:
    with pytest.raises(ArtifactInvalid, match="not an S3 'Object Created' EventBridge event"):
        Upload.from_event({"detail": {"bucket": {}}})


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (
            Failure(
                error="ArtifactInvalid", cause=json.dumps({"errorMessage": "bad tar", "errorType": "ArtifactInvalid"})
            ),
            "bad tar",
        ),
        (
            Failure(error="SageMaker.ValidationException", cause="Cannot update in-progress endpoint"),
            "Cannot update in-progress endpoint",
        ),
        (Failure(error="States.Timeout", state="Judge Canary"), "States.Timeout in Judge Canary"),
    ],
)
def test_failure_reason_is_the_human_sentence(failure: Failure, reason: str) -> None:
    assert failure.reason == reason


def test_alert_subject_fits_sns_and_the_email_says_why_and_what_to_do() -> None:
    alert = Alert(
        event=EventType.ROLLED_BACK,
        reason="Canary v2 has 4.00% errors against 0.50% on v1.",
        model="m" * 80,
        version="v2",
        endpoint="ep",
        evidence=[Evidence("error_rate", "4.00%", "1.00%")],
        links={"execution": "https://example.invalid/x"},
    )
    subject = alert.subject()
    assert len(subject) == 99 and subject.endswith("...") and subject.isascii() and "\n" not in subject
    assert Alert(event=EventType.PROMOTED, reason="r", model="modèle\nb").subject() == ("[mlrollout] mod?le?b promoted")
    body = alert.email_body()
    assert "Why: Canary v2 has 4.00% errors" in body
    assert "What to do:" in body and "error_rate: 4.00% (limit 1.00%)" in body
    document = alert.as_dict()
    assert (
        document["severity"] == "warning" and document["event"] == "rolled_back" and document["schema_version"] == "1"
    )


def test_what_to_do_names_the_alerts_own_deployment_and_replay_after_a_rollback() -> None:
    from mlrollout.domain.slack import slack_message

    rolled_back = Alert(event=EventType.ROLLED_BACK, reason="r", deployment_id="fraud-scorer-3f6")
    assert "`mlrollout replay fraud-scorer-3f6`" in rolled_back.what_to_do()
    assert "What to do: The endpoint is back on its previous version. See every look" in rolled_back.email_body()
    waiting = Alert(event=EventType.APPROVAL_REQUESTED, reason="r", deployment_id="fraud-scorer-3f6")
    assert "`mlrollout approve fraud-scorer-3f6`" in waiting.what_to_do()
    assert "mlrollout reject fraud-scorer-3f6" in json.dumps(slack_message(waiting))


def test_the_version_is_the_uploaded_label_with_the_registry_package_beside_it() -> None:
    from mlrollout.domain.alerts import alert_from_document
    from mlrollout.domain.slack import slack_message

    alert = Alert(event=EventType.PROMOTED, reason="r", model="fraud", version="v11", package=6)
    assert "fraud version v11 promoted" in alert.subject() and "6" not in alert.subject()
    assert "Version: v11 (model registry package 6)" in alert.email_body()
    assert "v11 (model registry package 6)" in json.dumps(slack_message(alert))
    assert alert_from_document(alert.as_dict()) == alert
    assert Alert(event=EventType.PROMOTED, reason="r", version="v11").version_fact() == "v11"
