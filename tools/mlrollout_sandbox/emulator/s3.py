"""S3 bucket policies evaluated as AWS does, for the conditions our template uses.

moto 5.2.5 treats a statement whose Condition does not hold as a Deny, whatever its Effect, so the
template's TLS-only policy (Deny when aws:SecureTransport is false) would refuse every request. Here a
statement applies only when its action, resource and conditions all match; then Deny wins over Allow.

The sandbox's loopback HTTP stands in for TLS: requests carry aws:SecureTransport = true. (boto3 and the
AWS CLI use HTTPS against real S3, so the policy behaves there as it does here.)
"""

from __future__ import annotations

import fnmatch
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

SANDBOX_REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(pattern)) for pattern in _as_list(patterns))


def condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """All operators must hold; an operator holds when every key in it matches one of its values."""
    for operator, clauses in condition.items():
        for key, expected in clauses.items():
            actual = context.get(key)
            values = [str(v) for v in _as_list(expected)]
            if operator == "Bool":
                holds = actual is not None and actual.lower() in {v.lower() for v in values}
            elif operator in {"StringEquals", "ArnEquals"}:
                holds = actual is not None and actual in values
            elif operator in {"StringNotEquals", "ArnNotEquals"}:
                holds = actual is None or actual not in values
            elif operator in {"StringLike", "ArnLike"}:
                holds = actual is not None and _matches(values, actual)
            else:
                raise ValueError(f"the sandbox cannot evaluate the bucket-policy condition operator {operator}")
            if not holds:
                return False
    return True


def bucket_permission(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> str:
    """'PERMITTED', 'DENIED' or 'NEUTRAL' for one request against one bucket policy."""
    permitted = False
    for statement in _as_list(policy.get("Statement", [])):
        if "NotAction" in statement:
            if _matches(statement["NotAction"], action):
                continue
        elif not _matches(statement.get("Action", []), action):
            continue
        if "Resource" in statement and not _matches(statement["Resource"], resource):
            continue
        if not condition_holds(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return "DENIED"
        permitted = True
    return "PERMITTED" if permitted else "NEUTRAL"


def install(emulator: Emulator, patcher: Patcher) -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        return PermissionResult[bucket_permission(policy, action, resource, SANDBOX_REQUEST_CONTEXT)]

    patcher.replace(FakeBucket, "get_permission", get_permission)
