"""Names of everything a rollout creates, derived deterministically so any step can find them again."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mlrollout.domain.errors import ArtifactInvalid

# SageMaker's pattern for model, endpoint, endpoint-config, model-package-group and monitoring names.
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
SAGEMAKER_NAME_RULE = (
    "SageMaker names are 1-63 characters of letters, digits and hyphens, and must start and end with a "
    "letter or digit (no underscores, dots or spaces)"
)
MAX_NAME = 63
# What SageMaker accepts in model registry metadata (CustomerMetadataProperties) keys and values. The registry
# records the upload's key, version folder and x-amz-meta-* entries there, so those are held to it at validation.
REGISTRY_TEXT_RULE = "letters, digits, spaces and _.:/=+-@"
MAX_METADATA_VALUE = 256  # a CustomerMetadataProperties value's length limit
_REGISTRY_CHARACTER = re.compile(r"[\w .:/=+\-@]")

ARTIFACT_FILE = "model.tar.gz"
CONFIG_FILE = "rollout.yaml"
MODELS_PREFIX = "models/"
CAPTURE_PREFIX = "capture/"
DECISIONS_PREFIX = "decisions/"
# Where baselines live: the template grants the functions that read them (Validate Artifact) only this prefix.
BASELINES_PREFIX = "baselines/"


def is_baseline_uri(uri: str, artifact_bucket: str) -> bool:
    """Whether `uri` is an object under baselines/ in the artifact bucket (s3://<bucket>/baselines/...)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return (
        uri.startswith("s3://")
        and bucket == artifact_bucket
        and key.startswith(BASELINES_PREFIX)
        and ".." not in key.split("/")
    )


def sagemaker_name_problem(name: str) -> str | None:
    if SAGEMAKER_NAME.match(name):
        return None
    return f"{name!r} is not a valid SageMaker name: {SAGEMAKER_NAME_RULE}"


def registry_rejected_characters(text: str) -> str:
    """The characters of `text` the model registry refuses, each quoted once ('' when there are none)."""
    rejected = dict.fromkeys(c for c in text if not _REGISTRY_CHARACTER.fullmatch(c))
    return " ".join(repr(c) for c in rejected)


def suggest_name(name: str) -> str:
    """The closest valid SageMaker name, for error messages."""
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-")
    return cleaned[:MAX_NAME].rstrip("-") or "my-model"


@dataclass(frozen=True)
class ArtifactKey:
    """`models/<model>/<version path>/model.tar.gz`, the only layout that starts a rollout."""

    model_name: str
    version_label: str

    @property
    def config_key(self) -> str:
        return config_key(self.model_name)


def config_key(model_name: str) -> str:
    return f"{MODELS_PREFIX}{model_name}/{CONFIG_FILE}"


def parse_artifact_key(key: str) -> ArtifactKey:
    parts = key.split("/")
    if len(parts) < 4 or parts[0] != MODELS_PREFIX.rstrip("/") or parts[-1] != ARTIFACT_FILE or "" in parts:
        raise ArtifactInvalid(
            f"the object key {key!r} is not in the layout models/<model-name>/<version>/{ARTIFACT_FILE}",
            fix=f"upload to s3://<bucket>/models/<model-name>/<version>/{ARTIFACT_FILE}, "
            f"e.g. models/fraud-scorer/v7/{ARTIFACT_FILE}",
        )
    model_name = parts[1]
    problem = sagemaker_name_problem(model_name)
    if problem:
        raise ArtifactInvalid(
            f"the model name in the key ({model_name!r}) cannot be used: {SAGEMAKER_NAME_RULE}",
            fix=f"rename the folder models/{model_name}/ to e.g. models/{suggest_name(model_name)}/",
        )
    if len(parts) > 4:
        # The upload rule's wildcard matches deeper keys too (its `*` matches '/'), so they are refused here.
        flat = "-".join(parts[2:-1])
        raise ArtifactInvalid(
            f"the object key {key!r} has sub-folders under the version folder {parts[2]!r}: only "
            f"models/<model-name>/<version>/{ARTIFACT_FILE}, one folder per version, starts a rollout",
            fix=f"upload to models/{model_name}/{flat}/{ARTIFACT_FILE} (or models/{model_name}/{parts[2]}/"
            f"{ARTIFACT_FILE}) instead",
        )
    version_label = parts[2]
    rejected = registry_rejected_characters(version_label)
    if rejected:
        cleaned = re.sub(r"[^\w.:/=+\-@]+", "-", version_label).strip("-") or "v1"
        raise ArtifactInvalid(
            f"the version folder {version_label!r} has characters the model registry cannot record ({rejected}): "
            f"version folders may use {REGISTRY_TEXT_RULE}",
            fix=f"upload to models/{model_name}/{cleaned}/{ARTIFACT_FILE} instead",
        )
    return ArtifactKey(model_name=model_name, version_label=version_label)


def model_from_key(key: str | None) -> str | None:
    """The model name of a key under models/<model>/..., whether or not the rest of the key is valid."""
    if key and key.startswith("models/") and key.count("/") >= 2:
        return key.split("/")[1] or None
    return None


# An upload whose object metadata carries this key (x-amz-meta-mlrollout-redeploy) is a deliberate new rollout of
# bytes rolled out before (`mlrollout rollback`): its value, unique per request, becomes part of the deployment id.
REDEPLOY_METADATA = "mlrollout-redeploy"


def deployment_id(model_name: str, sha256: str, redeploy: str | None = None) -> str:
    """One id per model and artifact content: re-uploads of the same bytes are the same deployment, unless an
    operator asks for the same bytes again (`redeploy`, one id per request: its duplicate deliveries stay one)."""
    base = f"{model_name}-{sha256[:12]}"
    return f"{base}-r{short_token(redeploy)}" if redeploy else base


def short_token(value: str, length: int = 6) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:length]


def fit(*parts: str, max_len: int = MAX_NAME) -> str:
    """Join parts with hyphens, shortening the first (the user's name) so the result fits SageMaker's limit."""
    tail = "-".join(p for p in parts[1:] if p)
    room = max_len - len(tail) - (1 if tail else 0)
    head = parts[0][: max(room, 1)].rstrip("-")
    return f"{head}-{tail}" if tail else head


def variant_name(version_label: str, package_version: int, taken: frozenset[str] = frozenset()) -> str:
    """The candidate's production variant: the version label the user uploaded (`v11`), so that every message, metric
    dimension and table names the version as the user does. Characters a variant name cannot hold (SageMaker allows
    letters, digits and hyphens) become hyphens (`1.2.0` is `1-2-0`); a label the current variant already carries
    gets the registry's package number beside it (`v11-p6`)."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", version_label).strip("-")[:MAX_NAME].rstrip("-") or f"v{package_version}"
    # Compared without case: SageMaker documents endpoint names as case-insensitive and says nothing of variants.
    used = {name.casefold() for name in taken}
    candidate = base if base.casefold() not in used else fit(base, f"p{package_version}")
    suffix = 2
    while candidate.casefold() in used:
        candidate = fit(base, f"p{package_version}", str(suffix))
        suffix += 1
    return candidate


@dataclass(frozen=True)
class RolloutNames:
    """The SageMaker resources of one deployment."""

    model: str
    canary_config: str
    final_config: str
    shadow_config: str

    @classmethod
    def for_deployment(cls, endpoint: str, model_name: str, package_version: int, deployment: str) -> RolloutNames:
        token = short_token(deployment)
        return cls(
            model=fit(model_name, f"v{package_version}", token),
            canary_config=fit(endpoint, f"v{package_version}", token, "canary"),
            final_config=fit(endpoint, f"v{package_version}", token),
            shadow_config=fit(endpoint, f"v{package_version}", token, "shadow"),
        )


def monitoring_schedule_name(endpoint: str) -> str:
    return fit(endpoint, "data-quality")


def monitoring_job_definition_name(endpoint: str, package_version: int, deployment: str) -> str:
    return fit(endpoint, "dq", f"v{package_version}", short_token(deployment))


def is_monitoring_job_definition(name: str, endpoint: str) -> bool:
    """Whether `name` is one of monitoring_job_definition_name(endpoint, ...)."""
    found = re.fullmatch(r".+-dq-v(?P<version>[0-9]+)-(?P<token>[0-9a-f]{6})", name)
    return found is not None and fit(endpoint, "dq", f"v{found['version']}", found["token"]) == name


def drift_schedule_name(endpoint: str) -> str:
    """EventBridge Scheduler names: at most 64 characters (a long endpoint name is cut and made unique)."""
    name = f"{endpoint}-drift"
    return name if len(name) <= 64 else fit(endpoint, short_token(endpoint), "drift", max_len=64)


SCHEMA_FEATURE = "@schema"  # the endpoint-wide schema alarm; "@" is not in feature names the analyzer emits


def drift_alarm_name(stack_prefix: str, endpoint: str, feature: str) -> str:
    # "." cannot occur in an endpoint name, so one endpoint's alarm prefix never matches another endpoint's alarms.
    return f"{stack_prefix}-{endpoint}.drift.{feature}"[:255]


# Tag on the monitoring schedules a stack creates: Model Monitor's violation events carry the schedule's ARN, and the
# relay reports only runs of its own stack's schedules (others in the account, or another mlrollout stack's, are not
# its operators' business).
STACK_TAG = "mlrollout:stack"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, "..." marking the cut (for AWS fields with a length limit)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
