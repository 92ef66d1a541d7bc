"""IAM evaluated as AWS evaluates it, for every request the embedded AWS serves.

moto can check a request's signature and find who made it (an IAM user's access key, or an STS session of an
assumed role), but its policy evaluation ignores most of what decides a real request: `Resource` patterns
(moto compares them with "*" for every service but S3, SQS and IAM), `Condition` blocks (a condition it cannot
evaluate makes the statement a Deny, whatever its Effect), resource policies (SQS queue policies, KMS key
policies), the permissions a service asks of the caller on its behalf (KMS for encrypted tables, queues,
topics, objects and secrets; iam:PassRole; sagemaker:AddTags) and S3's 403-instead-of-404 rule. This module
replaces moto's `IAMRequestBase.check_action_permitted` with an evaluator that does those things:

- The request's action and resource ARN are worked out from its parameters (`Targets`), the way the service's
  authorization reference lists them ("Actions, resources, and condition keys for ..."):
  https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
- Policy evaluation logic within one account: an explicit Deny anywhere wins; otherwise an Allow in an
  identity policy or in the resource's policy grants, except for KMS, where the key policy must allow the
  principal itself or delegate to the account's IAM policies:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
- Conditions: a key missing from the request context makes the condition false, except for the negated
  operators, `...IfExists` and `Null`:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- KMS asked of the caller: DynamoDB tables with a customer managed key (kms:Decrypt via DynamoDB,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html), SQS senders
  (kms:GenerateDataKey and kms:Decrypt,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html), SNS
  publishers (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html), S3 SSE-KMS writes and reads
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html) and Secrets Manager reads
  (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
- S3 answers a read of a missing key with 404 only when the caller may s3:ListBucket, else 403:
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html

Services that act with a role (Lambda functions, Step Functions tasks, EventBridge and Scheduler targets) get
STS sessions of that role from `session()`, after the role's trust policy is checked for the service principal;
services that deliver as themselves (EventBridge to Lambda, SNS, SQS and its dead-letter queues; SNS to Lambda)
are checked with `authorize_service()` against the resource and key policies only.

moto patches (each through the Patcher, so a moto upgrade that moves them fails with MotoDrift):
`IAMRequestBase.check_action_permitted` (this evaluator), `IAMRequestBase.check_signature` (authentication by
access key, see `install`), moto's INITIAL_NO_AUTH_ACTION_COUNT (0: every request is authorized) and the Step
Functions interpreter's `boto_client_for` (Task states sign with the state machine's role).

Session credentials: moto records an expiry on each STS session but never checks it, so neither does the
sandbox; a long run never sees an expired session. (On AWS, Lambda and Step Functions renew the credentials
themselves; nothing in our code handles expiry.)

The sandbox's own clients sign with the access key in `CREDENTIALS`, which belongs to an IAM user with
AdministratorAccess (`ADMIN_USER`). `enforcing = False` turns the checks off, for debugging only.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

from mlrollout_sandbox.emulator._patching import MotoDrift

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

log = logging.getLogger(__name__)

ADMIN_USER = "sandbox-administrator"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
# Signing names whose IAM service prefix differs (the credential scope says "monitoring" for CloudWatch).
_IAM_PREFIX = {"monitoring": "cloudwatch"}
# The loopback HTTP between the sandbox's clients and moto stands in for TLS (see emulator/s3.py).
_REQUEST_CONTEXT = {"aws:SecureTransport": "true"}

ALLOW, DENY, NEUTRAL = "allow", "explicit-deny", "neutral"


class AccessDenied(Exception):
    """A request the policies do not allow; `str()` names the principal, the action, the resource and why."""

    def __init__(self, principal: str, action: str, resource: str, reason: str) -> None:
        super().__init__(f"{principal} is not authorized to perform: {action} on resource: {resource} ({reason})")
        self.principal = principal
        self.action = action
        self.resource = resource
        self.reason = reason


@dataclass(frozen=True)
class Check:
    """One permission a request needs: `action` on `resource`, with the request's condition context."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    key_arn: str | None = None  # set for KMS checks: the key policy takes part


@dataclass
class Denial:
    principal: str
    action: str
    resource: str
    reason: str


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special.
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


# ------------------------------------------------------------------------------------------- conditions
def condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """Every operator in the block holds; an operator holds when each of its keys matches one of its values."""
    for raw_operator, clauses in condition.items():
        operator = raw_operator.split(":", 1)[-1]  # ForAnyValue:/ForAllValues: on our single-valued keys
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, expected in clauses.items():
            actual = _context_value(context, key)
            values = [str(v) for v in _as_list(expected)]
            if operator == "Null":
                if (actual is None) != (values[0].lower() == "true"):
                    return False
                continue
            if actual is None:
                if if_exists or "Not" in operator:
                    continue
                return False
            if not _operator_holds(operator, actual, values):
                return False
    return True


def _context_value(context: dict[str, str], key: str) -> str | None:
    # Condition keys are case-insensitive; their values are not.
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _operator_holds(operator: str, actual: str, values: list[str]) -> bool:
    if operator in {"StringEquals", "ArnEquals"}:
        return actual in values
    if operator in {"StringNotEquals", "ArnNotEquals"}:
        return actual not in values
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() in {v.lower() for v in values}
    if operator == "StringNotEqualsIgnoreCase":
        return actual.lower() not in {v.lower() for v in values}
    if operator in {"StringLike", "ArnLike"}:
        return any(_glob(v, actual) for v in values)
    if operator in {"StringNotLike", "ArnNotLike"}:
        return not any(_glob(v, actual) for v in values)
    if operator == "Bool":
        return actual.lower() in {v.lower() for v in values}
    raise ValueError(f"the sandbox cannot evaluate the IAM condition operator {operator}; add it to emulator/iam.py")


# ------------------------------------------------------------------------------------------- statements
@dataclass(frozen=True)
class Principal:
    """Who makes a request: an IAM user, a role session (`role_arn` set), or an AWS service."""

    arn: str
    account: str
    role_arn: str | None = None
    service: str | None = None

    def matches(self, element: Any) -> bool:
        """Whether a resource policy's Principal element names this principal (an account names all of its
        users and roles, which then also need an identity policy: see `evaluate`)."""
        if element == "*":
            return True
        if not isinstance(element, dict):
            return False
        if self.service is not None:
            return self.service in _as_list(element.get("Service"))
        return any(
            str(value) == "*" or str(value) in {self.arn, self.role_arn} for value in _as_list(element.get("AWS"))
        )

    def names_account(self, element: Any) -> bool:
        if self.service is not None or not isinstance(element, dict):
            return False
        roots = {self.account, f"arn:aws:iam::{self.account}:root"}
        return any(str(value) in roots for value in _as_list(element.get("AWS")))


def _statement_applies(statement: dict[str, Any], check: Check, context: dict[str, str]) -> bool:
    if "NotAction" in statement:
        if any(_glob(str(a), check.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    elif not any(_glob(str(a), check.action, ignore_case=True) for a in _as_list(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_glob(str(r), check.resource) for r in _as_list(statement["NotResource"])):
            return False
    elif "Resource" in statement and not any(_glob(str(r), check.resource) for r in _as_list(statement["Resource"])):
        return False
    return condition_holds(statement.get("Condition") or {}, context)


def identity_decision(policies: Iterable[dict[str, Any]], check: Check, context: dict[str, str]) -> str:
    decision = NEUTRAL
    for policy in policies:
        for statement in _as_list(policy.get("Statement")):
            if _statement_applies(statement, check, context):
                if statement.get("Effect") == "Deny":
                    return DENY
                decision = ALLOW
    return decision


def resource_decision(
    policy: dict[str, Any] | None, principal: Principal, check: Check, context: dict[str, str]
) -> tuple[str, bool]:
    """(decision for this principal, whether an Allow names the principal's account, i.e. delegates to IAM)."""
    if not policy:
        return NEUTRAL, False
    decision, delegated = NEUTRAL, False
    for statement in _as_list(policy.get("Statement")):
        element = statement.get("Principal")
        named = principal.matches(element)
        account = principal.names_account(element)
        if not (named or account) or not _statement_applies(statement, check, context):
            continue
        if statement.get("Effect") == "Deny":
            return DENY, delegated
        if named:
            decision = ALLOW
        else:
            delegated = True
    return decision, delegated


def evaluate(
    principal: Principal,
    identity_policies: list[dict[str, Any]],
    resource_policy: dict[str, Any] | None,
    check: Check,
) -> str | None:
    """None when the request is allowed, else why it is denied."""
    context = {**_REQUEST_CONTEXT, **check.context, "aws:PrincipalAccount": principal.account}
    if principal.service is None:
        context.setdefault("aws:PrincipalArn", principal.role_arn or principal.arn)
    identity = identity_decision(identity_policies, check, context) if principal.service is None else NEUTRAL
    resource, delegated = resource_decision(resource_policy, principal, check, context)
    if DENY in (identity, resource):
        return "an explicit Deny applies"
    if check.key_arn is not None:  # KMS: the key policy decides, or hands the decision to IAM
        if resource == ALLOW or (delegated and identity == ALLOW):
            return None
        if delegated:
            return f"no identity-based policy allows {check.action}"
        return f"the key policy of {check.key_arn} does not allow it"
    if ALLOW in (identity, resource):
        return None
    if principal.service is not None:
        return f"no resource-based policy allows {principal.service}"
    return f"no identity-based policy allows {check.action}"


# ------------------------------------------------------------------------------------------- requests
@dataclass
class Request:
    """What the evaluator needs from one HTTP request moto received."""

    service: str  # the IAM prefix (cloudwatch, not monitoring)
    operation: str
    params: dict[str, Any]
    path: str
    query: dict[str, str]
    region: str
    account: str
    resource: str  # what moto worked out (S3 buckets and keys, SQS queues); "*" otherwise


def parse_request(
    service: str,
    operation: str,
    data: Any,
    body: bytes | str | None,
    path: str,
    region: str,
    account: str,
    resource: str,
) -> Request:
    params: dict[str, Any] = {}
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    if text.startswith("{"):
        try:
            params = json.loads(text)
        except ValueError:
            params = {}
    if not params and isinstance(data, dict):
        params = {str(k): (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in data.items()}
    parsed = urlparse(path)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return Request(
        service=_IAM_PREFIX.get(service, service),
        operation=operation,
        params=params,
        path=unquote(parsed.path),
        query=query,
        region=region,
        account=account,
        resource=resource,
    )


class Iam:
    """The installed evaluator: identities, sessions for service roles, and the checks."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.enforcing = True
        self.denials: list[Denial] = []
        self._sessions: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    @property
    def account(self) -> str:
        return self.emulator.account_id

    # identities ---------------------------------------------------------------------------------------
    def ensure_administrator(self, access_key_id: str, secret_access_key: str) -> None:
        """The IAM user the sandbox's own clients sign as: AdministratorAccess, with the sandbox's access key."""
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account]["aws"]
        if ADMIN_USER not in backend.users:
            backend.create_user(region_name=self.emulator.region, user_name=ADMIN_USER, path="/")
            try:
                backend.attach_user_policy(ADMINISTRATOR_ACCESS, ADMIN_USER)
            except Exception:  # AWS managed policies are loaded only when moto is configured to (server.py does)
                everything = {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
                backend.put_user_policy(ADMIN_USER, "AdministratorAccess", json.dumps(everything))
        user = backend.users[ADMIN_USER]
        if not any(key.access_key_id == access_key_id for key in user.access_keys):
            key = backend.create_access_key(ADMIN_USER)
            key.access_key_id = access_key_id  # the key the sandbox hands out, instead of a random one
            key.secret_access_key = secret_access_key

    def session(self, role_arn: str, service_principal: str, *, source_arn: str | None = None) -> dict[str, str]:
        """STS credentials of `role_arn` as `service_principal` assumes it (trust policy checked), cached."""
        with self._lock:
            cached = self._sessions.get((role_arn, service_principal))
            if cached is not None:
                return cached
        role = self._role(role_arn)
        if role is None:
            raise AccessDenied(service_principal, "sts:AssumeRole", role_arn, "the role does not exist")
        trust = json.loads(role.assume_role_policy_document)
        service = Principal(arn=service_principal, account=self.account, service=service_principal)
        context = {"aws:SourceAccount": self.account, **({"aws:SourceArn": source_arn} if source_arn else {})}
        reason = evaluate(service, [], trust, Check("sts:AssumeRole", role_arn, context))
        if reason is not None and self.enforcing:
            self._denied(service_principal, "sts:AssumeRole", role_arn, f"the role's trust policy: {reason}")
        from moto.sts.models import sts_backends

        assumed = sts_backends[self.account]["aws"].assume_role(
            region_name=self.emulator.region,
            role_session_name=service_principal.split(".", maxsplit=1)[0],
            role_arn=role_arn,
            policy="",
            duration=int(getattr(role, "max_session_duration", 3600) or 3600),
            external_id="",
        )
        credentials = {
            "aws_access_key_id": assumed.access_key_id,
            "aws_secret_access_key": assumed.secret_access_key,
            "aws_session_token": assumed.session_token,
        }
        with self._lock:
            self._sessions[(role_arn, service_principal)] = credentials
        return credentials

    def _role(self, role_arn: str) -> Any:
        from moto.iam.models import iam_backends

        try:
            return iam_backends[self.account]["aws"].get_role_by_arn(role_arn)
        except Exception:
            return None

    def role_policies(self, role_name: str) -> list[dict[str, Any]]:
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account]["aws"]
        documents = [
            json.loads(backend.get_role_policy(role_name, n)[1]) for n in backend.list_role_policies(role_name)
        ]
        attached, _ = backend.list_attached_role_policies(role_name)
        for policy in attached:
            version = next(v for v in policy.versions if v.is_default)
            document = version.document
            documents.append(json.loads(document) if isinstance(document, str) else document)
        return documents

    # checks -------------------------------------------------------------------------------------------
    def authorize_role(self, role_arn: str, checks: Iterable[Check]) -> None:
        """A service acting with `role_arn` (an EventBridge or Scheduler target's RoleArn): identity policies of
        the role plus the resource's policy."""
        name = role_arn.rsplit("/", 1)[-1]
        principal = Principal(
            arn=f"arn:aws:sts::{self.account}:assumed-role/{name}/service", account=self.account, role_arn=role_arn
        )
        policies = self.role_policies(name) if self._role(role_arn) is not None else []
        for check in checks:
            self._decide(principal, policies, check)

    def authorize_service(self, service_principal: str, checks: Iterable[Check]) -> None:
        """A service delivering as itself (EventBridge to a dead-letter queue): the resource's policy must allow."""
        principal = Principal(arn=service_principal, account=self.account, service=service_principal)
        for check in checks:
            self._decide(principal, [], check)

    def delivery_checks(self, action: str, target_arn: str, source_arn: str) -> list[Check]:
        """What a service sending to `target_arn` needs: the action, plus the customer managed key of an
        encrypted queue or topic (kms:GenerateDataKey and kms:Decrypt, granted in the key policy to a service
        principal), with the confused-deputy context keys the service sends."""
        context = {"aws:SourceAccount": self.account, "aws:SourceArn": source_arn}
        checks = [Check(action, target_arn, context)]
        key_id = None
        if target_arn.startswith("arn:aws:sqs:"):
            key_id = getattr(sqs_queue(target_arn), "kms_master_key_id", None)
        elif target_arn.startswith("arn:aws:sns:"):
            key_id = getattr(sns_topic(target_arn), "kms_master_key_id", None)
        key = kms_key(key_id, self.account, self.emulator.region) if key_id else None
        if key is not None and getattr(key, "key_manager", "CUSTOMER") == "CUSTOMER":
            checks += [Check(f"kms:{a}", key.arn, context, key_arn=key.arn) for a in ("GenerateDataKey", "Decrypt")]
        return checks

    def authorize_request(self, access_key: Any, request: Request) -> None:
        """A signed request moto received (raises AccessDenied)."""
        from moto.iam.access_control import AssumedRoleAccessKey

        if isinstance(access_key, AssumedRoleAccessKey):
            role_name = access_key._owner_role_name
            principal = Principal(arn=access_key.arn, account=self.account, role_arn=self._role_arn(role_name))
            policies = self.role_policies(role_name)
        else:
            principal = Principal(arn=access_key.arn, account=self.account)
            policies = [json.loads(p) if isinstance(p, str) else _document(p) for p in access_key.collect_policies()]
        for check in Targets(self, request).checks():
            self._decide(principal, policies, check)

    def _role_arn(self, role_name: str) -> str:
        from moto.iam.models import iam_backends

        return str(iam_backends[self.account]["aws"].get_role(role_name).arn)

    def _decide(self, principal: Principal, policies: list[dict[str, Any]], check: Check) -> None:
        if not self.enforcing:
            return
        resource_policy = self.resource_policy(check)
        reason = evaluate(principal, policies, resource_policy, check)
        if reason is not None:
            self._denied(principal.arn, check.action, check.resource, reason)

    def _denied(self, principal: str, action: str, resource: str, reason: str) -> None:
        self.denials.append(Denial(principal, action, resource, reason))
        log.info("AccessDenied: %s %s %s (%s)", principal, action, resource, reason)
        raise AccessDenied(principal, action, resource, reason)

    def resource_policy(self, check: Check) -> dict[str, Any] | None:
        """The policy attached to the resource a check names, for the services whose policies decide here."""
        text: Any = None
        service = check.resource.split(":", 3)[2] if check.resource.startswith("arn:") else ""
        if check.key_arn is not None:
            text = getattr(kms_key(check.key_arn), "policy", None)
        elif service == "sqs":
            text = getattr(sqs_queue(check.resource), "policy", None)
        elif service == "s3":
            text = getattr(s3_bucket(check.resource.split(":::", 1)[1].split("/", 1)[0]), "policy", None)
        elif service == "sns":
            text = getattr(sns_topic(check.resource), "_policy_json", None)
        elif service == "lambda":
            text = lambda_policy(check.resource)
        if isinstance(text, bytes):
            text = text.decode()
        policy = json.loads(text) if isinstance(text, str) and text else text
        return policy if isinstance(policy, dict) else None


def _document(policy: Any) -> dict[str, Any]:
    """An attached managed policy (moto's Policy) or an inline one as a dict."""
    versions = getattr(policy, "versions", None)
    if versions is not None:
        document = next(v for v in versions if v.is_default).document
    else:
        document = policy["policy_document"] if isinstance(policy, dict) else policy
    return json.loads(document) if isinstance(document, str) else dict(document)


# ------------------------------------------------------------------------------------------- backends
def kms_key(key_id: str, account: str | None = None, region: str | None = None) -> Any:
    from moto.kms.models import kms_backends

    if key_id.startswith("arn:"):
        _, _, _, region, account, _ = key_id.split(":", 5)
    if not key_id or account is None or region is None:
        return None
    backend = kms_backends[account][region]
    try:
        return backend.keys[backend.any_id_to_key_id(key_id)]
    except Exception:
        return None


def sqs_queue(arn: str) -> Any:
    from moto.sqs.models import sqs_backends

    _, _, _, region, account, name = arn.split(":", 5)
    try:
        return sqs_backends[account][region].get_queue(name)
    except Exception:
        return None


def sns_topic(arn: str) -> Any:
    from moto.sns.models import sns_backends

    _, _, _, region, account, _ = arn.split(":", 5)
    return sns_backends[account][region].topics.get(arn)


def s3_bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    for account_backends in s3_backends.values():
        backend = account_backends.get("aws")
        if backend is not None and name in backend.buckets:
            return backend.buckets[name]
    return None


def lambda_policy(arn: str) -> dict[str, Any] | None:
    from moto.awslambda.utils import get_backend

    _, _, _, region, account, rest = arn.split(":", 5)
    name = rest.split(":")[1] if ":" in rest else rest
    try:
        text = get_backend(account, region).get_policy(name, None)
    except Exception:
        return None
    document = json.loads(text) if isinstance(text, str) else text
    if isinstance(document, dict) and isinstance(document.get("Policy"), str):  # GetPolicy's wire format
        document = json.loads(document["Policy"])
    return document if isinstance(document, dict) else None


# ------------------------------------------------------------------------------------------- targets
_DYNAMODB_DATA = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "ConditionCheckItem",
}  # fmt: skip
_SAGEMAKER_RESOURCE = {
    "EndpointName": "endpoint",
    "EndpointConfigName": "endpoint-config",
    "ModelName": "model",
    "ModelPackageGroupName": "model-package-group",
    "MonitoringScheduleName": "monitoring-schedule",
    "JobDefinitionName": "data-quality-job-definition",
    "ProcessingJobName": "processing-job",
}
_SAGEMAKER_ROLE_FIELDS = ("ExecutionRoleArn", "RoleArn")


class Targets:
    """The permissions one request needs: its own action on its resource, plus what the service asks of the
    caller on its behalf (KMS, iam:PassRole, sagemaker:AddTags, s3:ListBucket for a missing key)."""

    def __init__(self, iam: Iam, request: Request) -> None:
        self.iam = iam
        self.r = request

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.r.region}:{self.r.account}:{resource}"

    def checks(self) -> list[Check]:
        handler = getattr(self, f"_{self.r.service.replace('-', '_')}", None)
        action = f"{self.r.service}:{self.r.operation}"
        found: list[Check] = handler(action) if handler is not None else [Check(action, self.r.resource)]
        return found

    def _kms_via(self, key_id: str | None, actions: Iterable[str], via: str) -> list[Check]:
        """What a service asks KMS on the caller's behalf for a customer managed key (AWS managed keys and
        AWS owned keys need nothing of the caller)."""
        if not key_id or key_id.startswith("alias/aws/"):
            return []
        key = kms_key(key_id, self.r.account, self.r.region)
        if key is None or getattr(key, "key_manager", "CUSTOMER") != "CUSTOMER":
            return []
        context = {"kms:ViaService": f"{via}.{self.r.region}.amazonaws.com", "kms:CallerAccount": self.r.account}
        return [Check(f"kms:{a}", key.arn, context, key_arn=key.arn) for a in actions]

    # services -----------------------------------------------------------------------------------------
    def _s3(self, action: str) -> list[Check]:
        resource = self.r.resource
        context: dict[str, str] = {}
        if action == "s3:ListBucket" and "prefix" in self.r.query:
            context["s3:prefix"] = self.r.query["prefix"]
        checks = [Check(action, resource, context)]
        if ":::" not in resource or "/" not in resource.split(":::", 1)[1]:
            return checks
        bucket_name, key_name = resource.split(":::", 1)[1].split("/", 1)
        bucket = s3_bucket(bucket_name)
        if bucket is None:
            return checks
        if action in {"s3:GetObject", "s3:GetObjectVersion"}:
            found = bucket.keys.get(key_name) if hasattr(bucket, "keys") else None
            if found is None:
                # 404 only for a caller who may list the bucket; otherwise S3 answers 403 (API_GetObject.html).
                checks.append(Check("s3:ListBucket", f"arn:aws:s3:::{bucket_name}", {"s3:prefix": key_name}))
            elif getattr(found, "encryption", None) == "aws:kms":
                checks += self._kms_via(found.kms_key_id or _bucket_key(bucket), ["Decrypt"], "s3")
        elif action == "s3:PutObject":
            header_key = None
            if self.r.params.get("x-amz-server-side-encryption") == "aws:kms":
                header_key = self.r.params.get("x-amz-server-side-encryption-aws-kms-key-id")
            checks += self._kms_via(header_key or _bucket_key(bucket), ["GenerateDataKey"], "s3")
        return checks

    def _dynamodb(self, action: str) -> list[Check]:
        from moto.dynamodb.models import dynamodb_backends

        names = [self.r.params.get("TableName")]
        if self.r.operation in {"BatchGetItem", "BatchWriteItem"}:
            names = list((self.r.params.get("RequestItems") or {}).keys())
        elif self.r.operation.startswith("Transact"):
            names = [
                part.get("TableName")
                for item in self.r.params.get("TransactItems") or []
                for part in item.values()
                if isinstance(part, dict)
            ]
        checks: list[Check] = []
        for name in {n for n in names if n}:
            resource = self.arn("dynamodb", f"table/{name}")
            if self.r.params.get("IndexName"):
                resource += f"/index/{self.r.params['IndexName']}"
            checks.append(Check(action, resource))
            if self.r.operation in _DYNAMODB_DATA:
                table = dynamodb_backends[self.r.account][self.r.region].tables.get(name)
                sse = getattr(table, "sse_specification", None) or {}
                if sse.get("Enabled") and sse.get("SSEType") == "KMS":
                    checks += self._kms_via(sse.get("KMSMasterKeyId"), ["Decrypt"], "dynamodb")
        return checks or [Check(action, "*")]

    def _sqs(self, action: str) -> list[Check]:
        checks = [Check(action, self.r.resource)]
        if self.r.operation in {"SendMessage", "SendMessageBatch", "ReceiveMessage"} and self.r.resource.startswith(
            "arn:"
        ):
            queue = sqs_queue(self.r.resource)
            key = getattr(queue, "kms_master_key_id", None)
            actions = ["GenerateDataKey", "Decrypt"] if self.r.operation.startswith("Send") else ["Decrypt"]
            checks += self._kms_via(key, actions, "sqs")
        return checks

    def _sns(self, action: str) -> list[Check]:
        arn = self.r.params.get("TopicArn") or self.r.params.get("TargetArn") or "*"
        checks = [Check(action, arn)]
        if self.r.operation == "Publish" and arn.startswith("arn:"):
            topic = sns_topic(arn)
            checks += self._kms_via(getattr(topic, "kms_master_key_id", None), ["GenerateDataKey", "Decrypt"], "sns")
        return checks

    def _kms(self, action: str) -> list[Check]:
        key_id = self.r.params.get("KeyId")
        key = kms_key(str(key_id), self.r.account, self.r.region) if key_id else None
        if key is None:
            return [Check(action, "*")]
        return [Check(action, key.arn, key_arn=key.arn)]

    def _secretsmanager(self, action: str) -> list[Check]:
        from moto.secretsmanager.models import secretsmanager_backends

        secret_id = self.r.params.get("SecretId")
        if not secret_id:
            return [Check(action, "*")]
        backend = secretsmanager_backends[self.r.account][self.r.region]
        secret = backend.secrets.get(secret_id) if hasattr(backend.secrets, "get") else None
        if secret is None:
            return [Check(action, str(secret_id) if str(secret_id).startswith("arn:") else "*")]
        checks = [Check(action, secret.arn)]
        if self.r.operation == "GetSecretValue":
            checks += self._kms_via(getattr(secret, "kms_key_id", None), ["Decrypt"], "secretsmanager")
        return checks

    def _application_autoscaling(self, action: str) -> list[Check]:
        """Application Auto Scaling: the request's namespace and dimension as the condition keys
        `application-autoscaling:service-namespace` and `application-autoscaling:scalable-dimension` (the Service
        Authorization Reference's keys for its scalable-target actions); the resource is "*" (a scalable target's
        ARN carries an id AWS assigns at registration, so policies name none).
        https://docs.aws.amazon.com/service-authorization/latest/reference/list_applicationautoscaling.html"""
        p = self.r.params
        context = {
            key: str(p[field])
            for key, field in (
                ("application-autoscaling:service-namespace", "ServiceNamespace"),
                ("application-autoscaling:scalable-dimension", "ScalableDimension"),
            )
            if p.get(field)
        }
        return [Check(action, "*", context)]

    def _sagemaker(self, action: str) -> list[Check]:
        p = self.r.params
        if self.r.operation == "InvokeEndpoint" and self.r.path.startswith("/endpoints/"):
            name = self.r.path.split("/")[2]
            return [Check(action, self.arn("sagemaker", f"endpoint/{name.lower()}"))]
        resource = "*"
        package = p.get("ModelPackageName") or p.get("ModelPackageArn")
        if package:
            resource = (
                package
                if str(package).startswith("arn:")
                else self.arn("sagemaker", f"model-package/{str(package).lower()}")
            )
        elif self.r.operation in {"CreateModelPackage", "ListModelPackages"} and p.get("ModelPackageGroupName"):
            # The Service Authorization Reference lists model-package as ListModelPackages' resource type, so a
            # policy naming model-package ARNs grants it; the group's packages are the ones it lists:
            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html
            resource = self.arn("sagemaker", f"model-package/{str(p['ModelPackageGroupName']).lower()}/*")
        elif p.get("ResourceArn"):
            # AddTags, ListTags and DeleteTags name their resource by ARN (resource types: every taggable type).
            resource = str(p["ResourceArn"])
        else:
            for param, kind in _SAGEMAKER_RESOURCE.items():
                if p.get(param) and not str(self.r.operation).startswith("List"):
                    resource = self.arn("sagemaker", f"{kind}/{str(p[param]).lower()}")
                    break
        checks = [Check(action, resource)]
        if self.r.operation.startswith("Create") and p.get("Tags"):
            checks.append(Check("sagemaker:AddTags", resource))
        for role in _passed_roles(p):
            checks.append(Check("iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"}))
        return checks

    def _cloudwatch(self, action: str) -> list[Check]:
        p = self.r.params
        if self.r.operation == "PutMetricAlarm" and p.get("AlarmName"):
            return [Check(action, self.arn("cloudwatch", f"alarm:{p['AlarmName']}"))]
        if self.r.operation == "DeleteAlarms":
            names = p.get("AlarmNames") or [v for k, v in p.items() if k.startswith("AlarmNames.member")]
            return [Check(action, self.arn("cloudwatch", f"alarm:{n}")) for n in _as_list(names)] or [
                Check(action, "*")
            ]
        if self.r.operation == "PutMetricData" and p.get("Namespace"):
            return [Check(action, "*", {"cloudwatch:namespace": str(p["Namespace"])})]
        return [Check(action, "*")]

    def _scheduler(self, action: str) -> list[Check]:
        parts = [part for part in self.r.path.split("/") if part]
        if len(parts) >= 2 and parts[0] == "schedules":
            group = self.r.params.get("GroupName") or self.r.query.get("groupName") or "default"
            checks = [Check(action, self.arn("scheduler", f"schedule/{group}/{parts[1]}"))]
            role = (self.r.params.get("Target") or {}).get("RoleArn")
            if role and self.r.operation in {"CreateSchedule", "UpdateSchedule"}:
                checks.append(Check("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"}))
            return checks
        if len(parts) >= 2 and parts[0] == "schedule-groups":
            return [Check(action, self.arn("scheduler", f"schedule-group/{parts[1]}"))]
        return [Check(action, "*")]

    def _lambda(self, action: str) -> list[Check]:
        parts = [part for part in self.r.path.split("/") if part]
        if len(parts) >= 3 and parts[1] == "functions":
            name = parts[2]
            if name.startswith("arn:"):
                name = name.split(":")[6]
            action = "lambda:InvokeFunction" if self.r.operation == "Invoke" else action
            return [Check(action, self.arn("lambda", f"function:{name}"))]
        return [Check(action, "*")]

    def _logs(self, action: str) -> list[Check]:
        """CloudWatch Logs: the log group a request names (the reference's log-group resource type,
        arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}); "*" for one that names none.
        https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html"""
        group = self.r.params.get("logGroupName")
        identifier = str(self.r.params.get("logGroupIdentifier") or "")  # a name or an ARN (FilterLogEvents)
        if not group and identifier.startswith("arn:"):
            return [Check(action, identifier.removesuffix(":*"))]
        group = group or identifier
        return [Check(action, self.arn("logs", f"log-group:{group}") if group else "*")]

    def _states(self, action: str) -> list[Check]:
        p = self.r.params
        arn = p.get("stateMachineArn") or p.get("executionArn") or "*"
        return [Check(action, str(arn))]


def _bucket_key(bucket: Any) -> str | None:
    rules = (getattr(bucket, "encryption", None) or {}).get("Rule") or []
    for rule in _as_list(rules):
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") == "aws:kms":
            return default.get("KMSMasterKeyID")
    return None


def _passed_roles(params: Any) -> list[str]:
    """Role ARNs anywhere in a SageMaker request (CreateModel's ExecutionRoleArn, a job definition's RoleArn)."""
    found: list[str] = []
    if isinstance(params, dict):
        for key, value in params.items():
            if key in _SAGEMAKER_ROLE_FIELDS and isinstance(value, str):
                found.append(value)
            else:
                found += _passed_roles(value)
    elif isinstance(params, list):
        for value in params:
            found += _passed_roles(value)
    return found


# ------------------------------------------------------------------------------------------- install
# Every module of moto's Step Functions interpreter that builds a boto3 client for a Task state.
_TASK_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    *(
        f"moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_{name}"
        for name in ("unsupported", "glue", "events", "ecs", "sqs", "sfn", "dynamodb", "batch", "sns", "aws_sdk")
    ),
)


def _sign_state_machine_tasks_with_its_role(iam: Iam, patcher: Patcher) -> None:
    """moto's interpreter signs every Task's call with the keys "ak"/"sk"; Step Functions makes it with the
    state machine's role (the execution's RoleArn, or the state's Credentials.RoleArn), which it assumes as
    states.amazonaws.com: https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html"""
    import importlib

    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = str(getattr(state_credentials, "role_arn", "") or "")
        if not role_arn:
            raise AccessDenied("states.amazonaws.com", f"{service}:*", "*", "the execution has no role to act with")
        with lock:
            found = clients.get((role_arn, region, service))
        if found is not None:
            return found
        found = boto3.client(
            service_name=service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=f"http://localhost:{moto_server_port()}",
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
            **iam.session(role_arn, "states.amazonaws.com"),
        )
        with lock:
            clients[(role_arn, region, service)] = found
        return found

    modules = [importlib.import_module(name) for name in _TASK_CLIENT_MODULES]  # all bound before any patch
    original = modules[0].boto_client_for
    for module in modules:
        if getattr(module, "boto_client_for", None) is not original:
            raise MotoDrift(f"moto changed: {module.__name__}.boto_client_for is not the interpreter's client factory")
    for module in modules:
        patcher.replace(module, "boto_client_for", boto_client_for)


# Services whose wire protocol is XML (query): their errors are XML documents; the rest answer JSON.
_XML_ERRORS = {"sns": "AuthorizationError", "iam": "AccessDenied", "sts": "AccessDenied"}


def _access_denied_error(service: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError, _RESTError

    if service in _XML_ERRORS:
        error: Exception = _RESTError(_XML_ERRORS[service], message)
    else:
        error = JsonRESTError("AccessDeniedException", message)
    error.code = 403  # type: ignore[attr-defined]
    return error


def install(emulator: Emulator, patcher: Patcher) -> Iam:
    """Switch on moto's request authentication and route its authorization through `Iam`."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequestBase, S3IAMRequest

    from mlrollout_sandbox.emulator import CREDENTIALS

    iam = Iam(emulator)
    iam.ensure_administrator(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"])

    def check_action_permitted(self: Any, resource: str) -> None:
        service, _, operation = self._action.partition(":")
        if service == "sts" and operation == "GetCallerIdentity":  # always allowed, as on AWS
            return
        request = parse_request(
            service, operation, self._data, self._body, self._path, self._region, self.account_id, resource
        )
        try:
            iam.authorize_request(self._access_key, request)
        except AccessDenied as denied:
            if isinstance(self, S3IAMRequest):
                self._raise_access_denied()  # S3's own 403 AccessDenied
            raise _access_denied_error(service, str(denied)) from None

    def check_signature(self: Any) -> None:
        """moto recomputes SigV4 from the request as its web server parsed it, and gets a different answer for
        some query strings (Scheduler's ListSchedules); authentication here is by access key (it must exist,
        and a session's token must match it: moto checks both before this), not by signature."""

    patcher.replace(IAMRequestBase, "check_action_permitted", check_action_permitted)
    patcher.replace(IAMRequestBase, "check_signature", check_signature)
    _sign_state_machine_tasks_with_its_role(iam, patcher)
    # moto authenticates every request once INITIAL_NO_AUTH_ACTION_COUNT requests have been served.
    patcher.replace(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    patcher.replace(ActionAuthenticatorMixin, "request_count", 0)
    return iam
