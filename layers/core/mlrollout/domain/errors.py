"""Business errors. Each class name is the error name Step Functions sees, catches and routes on."""

from __future__ import annotations


class RolloutError(Exception):
    """A failure a human can act on: `reason` says what is wrong, `fix` what to do about it."""

    def __init__(self, reason: str, fix: str | None = None) -> None:
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason} Fix: {fix}" if fix else reason)


class ArtifactInvalid(RolloutError):
    """The uploaded object is not a deployable model artifact (or sits at a key we cannot deploy from)."""


class ConfigInvalid(RolloutError):
    """The model's rollout.yaml is missing, unparseable or fails validation."""


class EndpointNotReady(RolloutError):
    """The endpoint is in a state that a rollout cannot start from (updating, failed, several variants)."""


class EndpointChanging(RolloutError):
    """SageMaker refused a change because another change of the endpoint is in progress (an auto scaling activity,
    an operator's update): the state machine tries the step again once it is over (Retry on this name)."""


class ChangeRefused(RolloutError):
    """SageMaker refused a change of an endpoint for another reason than a change in progress (a quota, a config
    that does not exist, permissions); the reason ends with AWS's own message."""


class PreTrafficCheckFailed(RolloutError):
    """The candidate variant failed the sample request before it received any traffic."""


class LeaseLost(RolloutError):
    """Another rollout took the endpoint's lease (ours expired): this one must not change the endpoint further."""


class RollbackFailed(RolloutError):
    """The endpoint could not be brought back to its previous configuration, or the result did not verify."""


class RollbackAlarmFiring(RolloutError):
    """A CloudWatch alarm the model's config names in judge.rollback_alarms is in ALARM: no rollout starts."""


class MetricsUnavailable(RolloutError):
    """CloudWatch did not answer (after the SDK's retries): a look without its data is inconclusive, never a pass."""


class TokenExpired(Exception):
    """The task a token belonged to no longer waits (it was answered, timed out, or its execution ended)."""


class ScalingRefused(Exception):
    """Application Auto Scaling refused a call or did not answer (after the SDK's retries); the message is AWS's."""
