"""CloudFormation for the sandbox: deploy a translated template into the embedded AWS, and tear it down.

The deployer does what CloudFormation does with the template `mlrollout_sandbox.template` produces: it
validates the parameters, evaluates the conditions, orders the resources by their references (Ref, Fn::GetAtt,
Fn::Sub, DependsOn), resolves the intrinsic functions and creates each resource through the boto3 API of its
service on the embedded AWS, never by reaching into moto. Lambda functions are also registered with the
sandbox's LambdaRuntime so that invoking them runs the real handler from the repository.

It is strict where CloudFormation is strict, and stricter where the sandbox could otherwise be quietly wrong:
a resource type, property or intrinsic function it does not implement is an error that names it, never a
silent skip. A failed deployment rolls back what it created, as a stack does. It handles exactly the resource
types, properties and intrinsic functions the template uses, plus each type's name property and Tags
(tests/sandbox/test_deployer.py checks the types and the properties).

Why not moto's CloudFormation: given this template, moto 5.2.5's CreateStack reports CREATE_COMPLETE while it
skips 6 of the 19 types and drops what the pipeline depends on: bucket versioning, table TTL, function layers,
managed policies, JSON policy documents, the state machine's DefinitionSubstitutions. A failed resource leaves
the stack in progress, with nothing rolled back. tests/sandbox/test_moto_cloudformation_gaps.py pins each gap
and fails when a moto upgrade closes one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import random
import re
import string
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from mlrollout_sandbox.template import PLACEHOLDER_BUCKET, TranslatedTemplate

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator.lambda_runtime import LambdaRuntime
    from mlrollout_sandbox.server import EmbeddedAws

__all__ = [
    "NO_VALUE",
    "DependencyCycleError",
    "DeployError",
    "Intrinsics",
    "ParameterError",
    "Stack",
    "StackDeleteError",
    "StackLookupError",
    "StackResource",
    "UnsupportedPropertyError",
    "UnsupportedResourceError",
    "deploy",
    "deploy_template",
    "resolve_parameters",
    "supported_resource_types",
]

log = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "mlrollout"
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
_SUB_REFERENCE = re.compile(r"\$\{([^}]*)\}")
# What is left of a DefinitionSubstitutions placeholder after substitution; JSONata never writes "${Name}".
_LEFTOVER_SUBSTITUTION = re.compile(r"\$\{[A-Za-z0-9_]+\}")
_RESOURCE_KEYS = frozenset(
    {"Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy", "UpdateReplacePolicy"}
    | {"CreationPolicy", "UpdatePolicy"}
)
_RETAINED = frozenset({"Retain", "RetainExceptOnCreate"})


# ------------------------------------------------------------------------------------------ errors


class DeployError(Exception):
    """The stack cannot be deployed as written; the message names the resource and the problem."""


class ParameterError(DeployError):
    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid parameters:\n" + "\n".join(f"  - {p}" for p in self.problems))


class UnsupportedResourceError(DeployError):
    pass


class UnsupportedPropertyError(DeployError):
    pass


class DependencyCycleError(DeployError):
    pass


class StackDeleteError(Exception):
    """Teardown finished, but some resources could not be deleted (all of them are listed)."""

    def __init__(self, stack_name: str, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        listed = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"stack {stack_name}: {len(self.errors)} resource(s) could not be deleted:\n{listed}")


class StackLookupError(LookupError):
    pass


class _NoValue:
    """AWS::NoValue: a property, list item or If branch that resolves to it is removed."""

    _instance: ClassVar[_NoValue | None] = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# ------------------------------------------------------------------------------------------ parameters


def resolve_parameters(
    declared: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str | list[str]]:
    """Parameter values as CloudFormation would accept them: defaults, overrides and every constraint.

    Values are strings (a Number parameter's Ref is its text), list types are lists of strings. All problems
    are reported together.
    """
    overrides = dict(overrides or {})
    problems: list[str] = []
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        problems.append(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, str | list[str]] = {}
    for name, spec in declared.items():
        if not isinstance(spec, Mapping) or "Type" not in spec:
            problems.append(f"Parameter '{name}' has no Type")
            continue
        if name in overrides:
            raw: Any = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            problems.append(f"Parameter '{name}' must have a value (it has no Default)")
            continue
        try:
            values[name] = _parameter_value(name, spec, raw)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ParameterError(problems)
    return values


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_value(name: str, spec: Mapping[str, Any], raw: Any) -> str | list[str]:
    kind = str(spec["Type"])
    if kind.startswith("AWS::SSM::Parameter::"):
        raise ValueError(f"Parameter '{name}': type {kind} reads SSM, which the sandbox deployer does not support")
    is_list = kind in {"CommaDelimitedList", "List<Number>"} or kind.startswith("List<")
    is_number = kind in {"Number", "List<Number>"}
    if is_list:
        items = [_parameter_text(v) for v in raw] if isinstance(raw, list) else _parameter_text(raw).split(",")
        items = [item.strip() for item in items] if kind != "CommaDelimitedList" else items
        for item in items:
            _check_constraints(name, spec, item, is_number)
        return items
    text = _parameter_text(raw)
    _check_constraints(name, spec, text, is_number)
    return text


def _check_constraints(name: str, spec: Mapping[str, Any], value: str, is_number: bool) -> None:
    described = spec.get("ConstraintDescription")

    def fail(problem: str) -> NoReturn:
        raise ValueError(f"Parameter '{name}' {problem}" + (f" ({described})" if described else ""))

    if is_number:
        try:
            number = float(value)
        except ValueError:
            fail(f"must be a number, got {value!r}")
        if not math.isfinite(number):
            fail(f"must be a finite number, got {value!r}")
        if "MinValue" in spec and number < float(spec["MinValue"]):
            fail(f"must be a number not less than {spec['MinValue']}, got {value}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            fail(f"must be a number not greater than {spec['MaxValue']}, got {value}")
        if "AllowedValues" in spec and number not in {float(v) for v in spec["AllowedValues"]}:
            fail(f"must be one of AllowedValues {list(spec['AllowedValues'])}, got {value}")
        return
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        fail(f"must contain at least {spec['MinLength']} characters, got {value!r}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        fail(f"must contain at most {spec['MaxLength']} characters, got {value!r}")
    if "AllowedValues" in spec and value not in {_parameter_text(v) for v in spec["AllowedValues"]}:
        fail(f"must be one of AllowedValues {[_parameter_text(v) for v in spec['AllowedValues']]}, got {value!r}")
    # CloudFormation matches the whole value against the pattern (Java's matches()), with or without ^...$.
    if "AllowedPattern" in spec and re.fullmatch(str(spec["AllowedPattern"]), value) is None:
        fail(f"must satisfy regular expression pattern {spec['AllowedPattern']}, got {value!r}")


# ------------------------------------------------------------------------------------------ the stack


@dataclass
class StackResource:
    """One created resource: what Ref returns (`physical_id`) and what Fn::GetAtt can read."""

    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    deletion_policy: str = "Delete"

    def attribute(self, name: str) -> Any:
        if name not in self.attributes:
            raise StackLookupError(
                f"{self.logical_id} ({self.type}) has no attribute {name!r}; it has {sorted(self.attributes)}"
            )
        return self.attributes[name]


class Stack:
    """A deployed stack: its resources in creation order, resolved outputs and parameters."""

    def __init__(
        self,
        *,
        name: str,
        stack_id: str,
        region: str,
        account_id: str,
        parameters: dict[str, str | list[str]],
        conditions: dict[str, bool],
        deployment: _Deployment,
    ) -> None:
        self.name = name
        self.stack_id = stack_id
        self.region = region
        self.account_id = account_id
        self.parameters = parameters
        self.conditions = conditions
        self.resources: dict[str, StackResource] = {}
        self.outputs: dict[str, Any] = {}
        self.exports: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.deleted = False
        self._deployment = deployment

    def resource(self, logical_id: str) -> StackResource:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise StackLookupError(
                f"stack {self.name} has no resource {logical_id!r}; it has {sorted(self.resources)}"
            ) from None

    def physical(self, logical_id: str) -> str:
        """What `!Ref logical_id` returns: a name, URL, ARN or id, depending on the type."""
        return self.resource(logical_id).physical_id

    def attribute(self, logical_id: str, name: str) -> Any:
        """What `!GetAtt logical_id.name` returns."""
        return self.resource(logical_id).attribute(name)

    def arn(self, logical_id: str) -> str:
        return str(self.attribute(logical_id, "Arn"))

    def output(self, name: str) -> Any:
        try:
            return self.outputs[name]
        except KeyError:
            raise StackLookupError(f"stack {self.name} has no output {name!r}; it has {sorted(self.outputs)}") from None

    def of_type(self, resource_type: str) -> list[StackResource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    def delete(self, *, empty_buckets: bool = False) -> None:
        """Delete every resource in reverse creation order; raise StackDeleteError listing what failed.

        Like CloudFormation, a bucket that still holds objects cannot be deleted unless `empty_buckets`, and a
        resource whose DeletionPolicy is Retain is left in place.
        """
        if self.deleted:
            return
        errors, failed = self._deployment.delete_resources(list(self.resources.values()), empty_buckets=empty_buckets)
        # What could not be deleted stays in the stack, so calling delete() again retries exactly that.
        for logical_id in [k for k in self.resources if k not in failed]:
            del self.resources[logical_id]
        if errors:
            raise StackDeleteError(self.name, errors)
        self.deleted = True

    def __repr__(self) -> str:
        return f"Stack({self.name!r}, {len(self.resources)} resources)"


# ------------------------------------------------------------------------------------------ intrinsics


_FUNCTIONS = (
    "Ref",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::If",
    "Fn::FindInMap",
)
_CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::Not"})
# CloudFormation has these too; no template the sandbox deploys uses them, so they are refused by name.
_UNSUPPORTED_FUNCTIONS = frozenset(
    {"Fn::ImportValue", "Fn::Cidr", "Fn::Transform", "Fn::ForEach", "Fn::Select", "Fn::Split", "Fn::GetAZs"}
    | {"Fn::Base64", "Fn::ToJsonString", "Fn::Length", "Fn::And", "Fn::Or"}
)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), *_ = value.items()
        if key == "Ref" or key.startswith("Fn::"):
            return key, argument
    return None


class Intrinsics:
    """CloudFormation's intrinsic functions and conditions over one template.

    `parameters` are resolved parameter values (see resolve_parameters); `resources` holds the resources
    created so far and is read at resolution time, so the deployer fills it as it goes.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameters: Mapping[str, str | list[str]],
        resources: Mapping[str, StackResource] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        stack_id: str | None = None,
    ) -> None:
        self.template = template
        self.declared: Mapping[str, Any] = template.get("Resources", {})
        self.parameters = parameters
        self.resources: Mapping[str, StackResource] = resources if resources is not None else {}
        self.region = region
        self.account_id = account_id
        self.partition = _partition(region)
        self.stack_name = stack_name
        self.stack_id = stack_id or (
            f"arn:{self.partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/{uuid.uuid4()}"
        )
        self.pseudo: dict[str, Any] = {
            "AWS::AccountId": account_id,
            "AWS::Region": region,
            "AWS::Partition": self.partition,
            "AWS::StackName": stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        self._conditions: dict[str, bool] = {}
        self._evaluating: list[str] = []

    # conditions -------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        declared = self.template.get("Conditions", {})
        if name not in declared:
            raise DeployError(f"condition {name!r} is not defined in Conditions")
        if name in self._evaluating:
            cycle = " -> ".join([*self._evaluating[self._evaluating.index(name) :], name])
            raise DeployError(f"conditions refer to each other in a circle: {cycle}")
        self._evaluating.append(name)
        try:
            result = self._condition_value(declared[name], f"Conditions.{name}")
        finally:
            self._evaluating.pop()
        self._conditions[name] = result
        return result

    def conditions(self) -> dict[str, bool]:
        return {name: self.condition(name) for name in self.template.get("Conditions", {})}

    def _condition_value(self, value: Any, where: str) -> bool:
        if isinstance(value, dict) and list(value) == ["Condition"]:
            return self.condition(str(value["Condition"]))
        if isinstance(value, bool):
            return value
        call = _intrinsic(value)
        if call is not None and call[0] in _UNSUPPORTED_FUNCTIONS:
            raise DeployError(f"{where}: intrinsic function {call[0]} is not supported by the sandbox deployer")
        if call is None or call[0] not in _CONDITION_FUNCTIONS:
            raise DeployError(f"{where}: {value!r} is not a condition function (Fn::Equals/Not, Condition)")
        name, argument = call
        if not isinstance(argument, list):
            raise DeployError(f"{where}: {name} takes a list")
        if name == "Fn::Equals":
            if len(argument) != 2:
                raise DeployError(f"{where}: Fn::Equals takes two values")
            left, right = (self.resolve(v, where) for v in argument)
            return bool(_comparable(left) == _comparable(right))
        if len(argument) != 1:
            raise DeployError(f"{where}: Fn::Not takes one condition")
        return not self._condition_value(argument[0], where)

    def is_active(self, logical_id: str) -> bool:
        """False for a resource whose Condition is false: CloudFormation does not create it."""
        condition = self.declared[logical_id].get("Condition")
        return condition is None or self.condition(str(condition))

    # resolution -------------------------------------------------------------------------------------
    def resolve(self, value: Any, where: str = "") -> Any:
        """`value` with every intrinsic function evaluated; AWS::NoValue removes keys and list items."""
        call = _intrinsic(value)
        if call is not None:
            return self._call(call[0], call[1], where)
        if isinstance(value, dict):
            resolved = {k: self.resolve(v, f"{where}.{k}" if where else k) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        return value

    def _call(self, name: str, argument: Any, where: str) -> Any:
        if name in _CONDITION_FUNCTIONS:
            return self._condition_value({name: argument}, where)
        if name in _UNSUPPORTED_FUNCTIONS:
            raise DeployError(f"{where}: intrinsic function {name} is not supported by the sandbox deployer")
        if name not in _FUNCTIONS:
            raise DeployError(f"{where}: {name} is not a CloudFormation intrinsic function")
        result: Any = getattr(self, "_fn_" + name.removeprefix("Fn::").lower())(argument, where)
        return result

    def _fn_ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise DeployError(f"{where}: Ref takes a name, got {name!r}")
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._resource(name, where).physical_id

    def _resource(self, logical_id: str, where: str) -> StackResource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        if logical_id not in self.declared:
            raise DeployError(f"{where}: {logical_id!r} is not a parameter or resource of the template")
        if not self.is_active(logical_id):
            condition = self.declared[logical_id]["Condition"]
            raise DeployError(f"{where}: {logical_id} is not created because its condition {condition} is false")
        raise DeployError(f"{where}: {logical_id} has not been created yet (a missing dependency)")

    def _fn_getatt(self, argument: Any, where: str) -> Any:
        logical_id, attribute = self._getatt_target(argument, where)
        resource = self._resource(logical_id, where)
        try:
            return resource.attribute(attribute)
        except StackLookupError as exc:
            raise DeployError(f"{where}: Fn::GetAtt: {exc}") from None

    def _getatt_target(self, argument: Any, where: str) -> tuple[str, str]:
        if isinstance(argument, str) and "." in argument:
            logical_id, attribute = argument.split(".", 1)
            return logical_id, attribute
        if isinstance(argument, list) and len(argument) == 2:
            attribute = self.resolve(argument[1], where) if _intrinsic(argument[1]) else argument[1]
            if isinstance(argument[0], str) and isinstance(attribute, str):
                return argument[0], attribute
        raise DeployError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute], got {argument!r}")

    def _fn_sub(self, argument: Any, where: str) -> str:
        text, variables = self._sub_parts(argument, where)
        values = {k: self.resolve(v, f"{where}.{k}") for k, v in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                value = values[name]
            elif name in self.pseudo or name in self.parameters:
                value = self._fn_ref(name, where)
            elif "." in name:
                value = self._fn_getatt(name, where)
            else:
                value = self._fn_ref(name, where)
            if isinstance(value, list | dict) or value is NO_VALUE:
                raise DeployError(f"{where}: Fn::Sub variable {name} is not a string ({value!r})")
            return _scalar_text(value)

        return _SUB_REFERENCE.sub(substitute, text)

    @staticmethod
    def _sub_parts(argument: Any, where: str) -> tuple[str, Mapping[str, Any]]:
        if isinstance(argument, str):
            return argument, {}
        if (
            isinstance(argument, list)
            and len(argument) == 2
            and isinstance(argument[0], str)
            and isinstance(argument[1], dict)
        ):
            return argument[0], argument[1]
        raise DeployError(f"{where}: Fn::Sub takes a string or [string, {{variables}}], got {argument!r}")

    def _fn_join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
            raise DeployError(f"{where}: Fn::Join takes [delimiter, [values]], got {argument!r}")
        items = self.resolve(argument[1], where)
        if not isinstance(items, list) or any(isinstance(i, list | dict) for i in items):
            raise DeployError(f"{where}: Fn::Join needs a list of strings, got {items!r}")
        return argument[0].join(_scalar_text(i) for i in items)

    def _fn_if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
            raise DeployError(f"{where}: Fn::If takes [condition, value if true, value if false]")
        branch = argument[1] if self.condition(argument[0]) else argument[2]
        return self.resolve(branch, where)

    def _fn_findinmap(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise DeployError(f"{where}: Fn::FindInMap takes [map, top-level key, second-level key]")
        names = [self.resolve(v, where) for v in argument]
        try:
            return self.template["Mappings"][names[0]][names[1]][names[2]]
        except (KeyError, TypeError):
            raise DeployError(f"{where}: Fn::FindInMap found nothing at {names}") from None

    # dependencies -----------------------------------------------------------------------------------
    def references(self, value: Any, where: str = "", *, all_branches: bool = False) -> set[str]:
        """Logical ids of the resources `value` refers to.

        Only the Fn::If branches the conditions select count (a reference in the other branch is no
        dependency), unless `all_branches`. A name that is neither a parameter nor a resource is an error.
        """
        found: set[str] = set()
        self._collect(value, where, found, all_branches)
        return found

    def _collect(self, value: Any, where: str, found: set[str], all_branches: bool) -> None:
        call = _intrinsic(value)
        if call is None:
            if isinstance(value, dict):
                for key, item in value.items():
                    self._collect(item, f"{where}.{key}", found, all_branches)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    self._collect(item, f"{where}[{i}]", found, all_branches)
            return
        name, argument = call
        if name == "Ref":
            if isinstance(argument, str):
                self._note(argument, where, found)
        elif name == "Fn::GetAtt":
            logical_id, _ = self._getatt_target(argument, where)
            self._note(logical_id, where, found, resource_only=True)
        elif name == "Fn::Sub":
            text, variables = self._sub_parts(argument, where)
            for match in _SUB_REFERENCE.finditer(text):
                reference = match.group(1).strip()
                if reference.startswith("!") or reference in variables:
                    continue
                if reference in self.pseudo or reference in self.parameters:
                    continue
                self._note(reference.split(".", 1)[0], where, found, resource_only="." in reference)
            self._collect(dict(variables), where, found, all_branches)
        elif name == "Fn::If" and isinstance(argument, list) and len(argument) == 3 and not all_branches:
            self._collect(argument[1] if self.condition(argument[0]) else argument[2], where, found, all_branches)
        else:
            self._collect(argument, where, found, all_branches)

    def _note(self, name: str, where: str, found: set[str], *, resource_only: bool = False) -> None:
        if not resource_only and (name in self.pseudo or name in self.parameters):
            return
        if name not in self.declared:
            raise DeployError(f"{where}: {name!r} is not a parameter or resource of the template")
        found.add(name)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return _scalar_text(value) if isinstance(value, str | int | float | bool) else value


# ------------------------------------------------------------------------------------------ botocore glue


def _coerce(value: Any, shape: Any) -> Any:
    """CloudFormation's loose scalars ("365" for an integer, 8 for a string) in the types the API takes."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _coerce(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_coerce(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _coerce(v, shape.value) for k, v in value.items()}
    if kind in {"integer", "long"} and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if kind in {"float", "double"} and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if kind == "string" and isinstance(value, bool | int | float):
        return _scalar_text(value)
    return value


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _tag_list(tags: Any) -> list[dict[str, str]]:
    if isinstance(tags, dict):
        return [{"Key": str(k), "Value": _scalar_text(v)} for k, v in tags.items()]
    return [{"Key": str(t["Key"]), "Value": _scalar_text(t["Value"])} for t in tags or []]


def _tag_map(tags: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in _tag_list(tags)}


def _lower_camel(value: Any) -> Any:
    """Step Functions' API spells CloudFormation's LoggingConfiguration keys in lowerCamelCase."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _lower_camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_camel(v) for v in value]
    return value


def _placeholder_zip(note: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SANDBOX.txt", note)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ handlers


@dataclass
class _Creation:
    """A resource about to be created: its resolved properties and the stack it belongs to."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    deployment: _Deployment
    tracked: tuple[str, dict[str, Any]] | None = None

    def track(self, physical_id: str, attributes: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Record what exists as soon as it exists, so a failure in a later step can still roll it back."""
        self.tracked = (physical_id, attributes)
        return self.tracked

    @property
    def where(self) -> str:
        return f"{self.logical_id} ({self.type})"

    def get(self, name: str, default: Any = None) -> Any:
        return self.properties.get(name, default)

    def required(self, name: str) -> Any:
        if name not in self.properties:
            raise DeployError(f"{self.where}: property {name} is required")
        return self.properties[name]

    def only(self, path: str, value: Any, allowed: Iterable[str]) -> Mapping[str, Any]:
        """`value` (a nested property) after checking it uses only keys the deployer maps."""
        if not isinstance(value, Mapping):
            raise DeployError(f"{self.where}: property {path} must be an object, got {value!r}")
        extra = sorted(set(value) - set(allowed))
        if extra:
            raise UnsupportedPropertyError(
                f"{self.where}: property {path}.{extra[0]} is not supported by the sandbox deployer"
                + (f" (nor {', '.join(extra[1:])})" if extra[1:] else "")
            )
        return value

    def name(self, explicit: str | None, *, max_length: int, lowercase: bool = False) -> str:
        """The explicit name, or CloudFormation's <stack>-<LogicalId>-<random> within the type's limit."""
        if explicit:
            return str(explicit)
        return self.deployment.generated_name(self.logical_id, max_length, lowercase=lowercase)

    def call(self, service: str, operation: str, **params: Any) -> Any:
        return self.deployment.call(service, operation, **params)


class _Handler:
    """How one resource type is created, what Ref and Fn::GetAtt return, and how it is deleted."""

    type: ClassVar[str]
    properties: ClassVar[frozenset[str]]

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        raise NotImplementedError


_HANDLERS: dict[str, _Handler] = {}


def _register(cls: type[_Handler]) -> type[_Handler]:
    _HANDLERS[cls.type] = cls()
    return cls


def supported_resource_types() -> dict[str, frozenset[str]]:
    """Resource type -> the properties the deployer creates it with."""
    return {kind: handler.properties for kind, handler in sorted(_HANDLERS.items())}


@_register
class _KmsKey(_Handler):
    type = "AWS::KMS::Key"
    properties = frozenset({"Description", "KeyPolicy", "EnableKeyRotation", "Tags"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tag_list(res.get("Tags"))]
        policy = res.get("KeyPolicy")
        key = res.call(
            "kms",
            "create_key",
            Description=res.get("Description"),
            Policy=_json_text(policy) if policy is not None else None,
            Tags=tags or None,
        )["KeyMetadata"]
        res.track(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})
        if _truthy(res.get("EnableKeyRotation")):
            res.call("kms", "enable_key_rotation", KeyId=key["KeyId"])
        return key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        # CloudFormation's default PendingWindowInDays is 30; a sandbox teardown waits the least KMS allows.
        deployment.call("kms", "schedule_key_deletion", KeyId=resource.physical_id, PendingWindowInDays=7)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


@_register
class _S3Bucket(_Handler):
    type = "AWS::S3::Bucket"
    properties = frozenset(
        {"BucketName", "VersioningConfiguration", "BucketEncryption", "PublicAccessBlockConfiguration"}
        | {"OwnershipControls", "NotificationConfiguration", "LifecycleConfiguration", "Tags"}
    )

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        # Every configuration is translated (and checked) before the bucket exists, so a property the
        # deployer cannot map fails without leaving anything behind.
        configure: list[tuple[str, dict[str, Any]]] = []
        if (versioning := res.get("VersioningConfiguration")) is not None:
            res.only("VersioningConfiguration", versioning, {"Status"})
            configure.append(("put_bucket_versioning", {"VersioningConfiguration": dict(versioning)}))
        if res.get("BucketEncryption") is not None:
            configure.append(("put_bucket_encryption", {"ServerSideEncryptionConfiguration": _encryption(res)}))
        if (block := res.get("PublicAccessBlockConfiguration")) is not None:
            configure.append(("put_public_access_block", {"PublicAccessBlockConfiguration": block}))
        if (ownership := res.get("OwnershipControls")) is not None:
            configure.append(("put_bucket_ownership_controls", {"OwnershipControls": ownership}))
        if res.get("LifecycleConfiguration") is not None:
            lifecycle = {"Rules": _lifecycle_rules(res)}
            configure.append(("put_bucket_lifecycle_configuration", {"LifecycleConfiguration": lifecycle}))
        if res.get("NotificationConfiguration") is not None:
            notifications = _notifications(res)
            configure.append(("put_bucket_notification_configuration", {"NotificationConfiguration": notifications}))
        if res.get("Tags"):
            configure.append(("put_bucket_tagging", {"Tagging": {"TagSet": _tag_list(res.get("Tags"))}}))

        name = res.name(res.get("BucketName"), max_length=63, lowercase=True)
        region = res.deployment.region
        location = None if region == "us-east-1" else {"LocationConstraint": region}
        res.call("s3", "create_bucket", Bucket=name, CreateBucketConfiguration=location)
        attributes = {
            "Arn": f"arn:{res.deployment.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
        }
        res.track(name, attributes)
        for operation, params in configure:
            res.call("s3", operation, Bucket=name, **params)
        return name, attributes

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        if empty_buckets:
            s3 = deployment.client("s3")
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=resource.physical_id):
                doomed = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                ]
                if doomed:
                    s3.delete_objects(Bucket=resource.physical_id, Delete={"Objects": doomed, "Quiet": True})
        deployment.call("s3", "delete_bucket", Bucket=resource.physical_id)


def _encryption(res: _Creation) -> dict[str, Any]:
    config = res.only("BucketEncryption", res.get("BucketEncryption"), {"ServerSideEncryptionConfiguration"})
    rules = []
    for i, rule in enumerate(config.get("ServerSideEncryptionConfiguration", [])):
        path = f"BucketEncryption.ServerSideEncryptionConfiguration[{i}]"
        res.only(path, rule, {"ServerSideEncryptionByDefault", "BucketKeyEnabled"})
        api_rule: dict[str, Any] = {}
        if "ServerSideEncryptionByDefault" in rule:
            default = res.only(
                f"{path}.ServerSideEncryptionByDefault",
                rule["ServerSideEncryptionByDefault"],
                {"SSEAlgorithm", "KMSMasterKeyID"},
            )
            api_rule["ApplyServerSideEncryptionByDefault"] = dict(default)
        if "BucketKeyEnabled" in rule:
            api_rule["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
        rules.append(api_rule)
    return {"Rules": rules}


def _lifecycle_rules(res: _Creation) -> list[dict[str, Any]]:
    """CloudFormation's lifecycle rule shape, rewritten in PutBucketLifecycleConfiguration's (the keys the
    template uses; transitions, tag and size filters are refused by name)."""
    config = res.only("LifecycleConfiguration", res.get("LifecycleConfiguration"), {"Rules"})
    rules = []
    for i, rule in enumerate(config.get("Rules", [])):
        path = f"LifecycleConfiguration.Rules[{i}]"
        res.only(
            path,
            rule,
            {"Id", "Status", "Prefix", "ExpirationInDays", "NoncurrentVersionExpiration"}
            | {"AbortIncompleteMultipartUpload"},
        )
        api: dict[str, Any] = {"Status": rule.get("Status", "Enabled"), "Filter": {}}
        if "Id" in rule:
            api["ID"] = rule["Id"]
        if "Prefix" in rule:
            api["Filter"] = {"Prefix": rule["Prefix"]}
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": rule["ExpirationInDays"]}
        for key, allowed in (
            ("NoncurrentVersionExpiration", {"NoncurrentDays", "NewerNoncurrentVersions"}),
            ("AbortIncompleteMultipartUpload", {"DaysAfterInitiation"}),
        ):
            if key in rule:
                api[key] = dict(res.only(f"{path}.{key}", rule[key], allowed))
        rules.append(api)
    return rules


def _notifications(res: _Creation) -> dict[str, Any]:
    """S3 events to EventBridge, the only notification the pipeline uses."""
    config = res.only("NotificationConfiguration", res.get("NotificationConfiguration"), {"EventBridgeConfiguration"})
    if "EventBridgeConfiguration" not in config:
        return {}
    path = "NotificationConfiguration.EventBridgeConfiguration"
    eventbridge = res.only(path, config["EventBridgeConfiguration"], {"EventBridgeEnabled"})
    # The API has no flag: an (empty) EventBridgeConfiguration element is what turns delivery on.
    return {"EventBridgeConfiguration": {}} if _truthy(eventbridge.get("EventBridgeEnabled", True)) else {}


@_register
class _S3BucketPolicy(_Handler):
    type = "AWS::S3::BucketPolicy"
    properties = frozenset({"Bucket", "PolicyDocument"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        bucket = res.required("Bucket")
        res.call("s3", "put_bucket_policy", Bucket=bucket, Policy=_json_text(res.required("PolicyDocument")))
        _probe_object_access(res, bucket, res.required("PolicyDocument"))
        return bucket, {}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("s3", "delete_bucket_policy", Bucket=resource.physical_id)


def _probe_object_access(res: _Creation, bucket: str, document: Any) -> None:
    """Warn when the embedded S3 refuses every object request on `bucket` because of its new policy.

    moto 5.2.5 (IAMPolicyStatement.is_action_permitted) answers DENIED for any statement whose Condition it
    cannot evaluate, whatever the statement's Effect, so a correct "deny unless aws:SecureTransport"
    statement denies everything over the sandbox's plain HTTP. The deployer keeps the policy as written (it
    is right for AWS) and says why the bucket's objects answer 403.
    """
    try:
        res.deployment.client("s3").get_object(Bucket=bucket, Key=".mlrollout-sandbox/policy-probe")
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"403", "AccessDenied"}:
            statements = (json.loads(document) if isinstance(document, str) else document).get("Statement", [])
            keys = sorted(
                {
                    key
                    for statement in (statements if isinstance(statements, list) else [statements])
                    for tests in (statement.get("Condition") or {}).values()
                    for key in tests
                }
            )
            res.deployment.warn(
                f"{res.where}: the embedded S3 answers 403 to every object request on {bucket}: moto treats a "
                f"bucket-policy statement whose Condition it cannot evaluate ({', '.join(keys) or 'none found'}) "
                "as a deny whatever its Effect; the S3 emulator has to handle it"
            )


@_register
class _SnsTopic(_Handler):
    type = "AWS::SNS::Topic"
    _attributes = ("DisplayName", "KmsMasterKeyId")
    properties = frozenset({"TopicName", "Tags", *_attributes})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("TopicName"), max_length=256)
        attributes = {key: _scalar_text(res.get(key)) for key in self._attributes if res.get(key) is not None}
        arn = res.call(
            "sns", "create_topic", Name=name, Attributes=attributes or None, Tags=_tag_list(res.get("Tags")) or None
        )["TopicArn"]
        return arn, {"TopicArn": arn, "TopicName": name}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("sns", "delete_topic", TopicArn=resource.physical_id)


@_register
class _SnsSubscription(_Handler):
    type = "AWS::SNS::Subscription"
    _attributes = ("FilterPolicy", "FilterPolicyScope")
    properties = frozenset({"TopicArn", "Protocol", "Endpoint", *_attributes})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        attributes = {
            key: _json_text(res.get(key)) if isinstance(res.get(key), dict) else _scalar_text(res.get(key))
            for key in self._attributes
            if res.get(key) is not None
        }
        arn = res.call(
            "sns",
            "subscribe",
            TopicArn=res.required("TopicArn"),
            Protocol=res.required("Protocol"),
            Endpoint=res.get("Endpoint"),
            Attributes=attributes or None,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return arn, {"Arn": arn}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("sns", "unsubscribe", SubscriptionArn=resource.physical_id)


@_register
class _SqsQueue(_Handler):
    type = "AWS::SQS::Queue"
    _attributes = ("KmsMasterKeyId", "MessageRetentionPeriod")
    properties = frozenset({"QueueName", "Tags", *_attributes})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("QueueName"), max_length=80)
        attributes = {key: _scalar_text(res.get(key)) for key in self._attributes if res.get(key) is not None}
        url = res.call(
            "sqs", "create_queue", QueueName=name, Attributes=attributes or None, tags=_tag_map(res.get("Tags")) or None
        )["QueueUrl"]
        res.track(url, {"QueueName": name, "QueueUrl": url})
        arn = res.call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("sqs", "delete_queue", QueueUrl=resource.physical_id)


@_register
class _SqsQueuePolicy(_Handler):
    type = "AWS::SQS::QueuePolicy"
    properties = frozenset({"Queues", "PolicyDocument"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        policy = _json_text(res.required("PolicyDocument"))
        for queue in res.required("Queues"):
            res.call("sqs", "set_queue_attributes", QueueUrl=queue, Attributes={"Policy": policy})
        physical = res.name(None, max_length=256)
        return physical, {"Id": physical}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        for queue in resource.properties.get("Queues", []):
            deployment.call("sqs", "set_queue_attributes", QueueUrl=queue, Attributes={"Policy": ""})


@_register
class _IamRole(_Handler):
    type = "AWS::IAM::Role"
    properties = frozenset(
        {"RoleName", "AssumeRolePolicyDocument", "Description", "Policies", "ManagedPolicyArns", "Tags"}
    )

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        # The emulator's IAM (emulator/iam.py) enforces these policies: each function, the state machine and
        # each rule target acts with its role's STS session.
        name = res.name(res.get("RoleName"), max_length=64)
        role = res.call(
            "iam",
            "create_role",
            RoleName=name,
            AssumeRolePolicyDocument=_json_text(res.required("AssumeRolePolicyDocument")),
            Description=res.get("Description"),
            Tags=_tag_list(res.get("Tags")) or None,
        )["Role"]
        attributes = {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        res.track(name, attributes)
        for i, policy in enumerate(res.get("Policies") or []):
            res.only(f"Policies[{i}]", policy, {"PolicyName", "PolicyDocument"})
            res.call(
                "iam",
                "put_role_policy",
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=_identity_policy(res, policy["PolicyName"], policy["PolicyDocument"]),
            )
        for arn in res.get("ManagedPolicyArns") or []:
            _attach_managed_policy(res, name, arn)
        return name, attributes

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        iam = deployment.client("iam")
        name = resource.physical_id
        for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)


def _attach_managed_policy(res: _Creation, role_name: str, arn: str) -> None:
    try:
        res.deployment.client("iam").attach_role_policy(RoleName=role_name, PolicyArn=arn)
    except ClientError as exc:
        aws_managed = re.match(r"arn:[^:]+:iam::aws:policy/", arn) is not None
        if exc.response["Error"]["Code"] != "NoSuchEntity" or not aws_managed:
            raise
        # moto knows AWS managed policies only when started with them loaded (moto's
        # iam.load_aws_managed_policies setting, off by default). The ARN SAM added is correct, and moto
        # would not enforce it anyway, so the gap is reported (Stack.warnings) instead of failing the stack.
        res.deployment.unattached_policies.setdefault(res.logical_id, []).append(arn)


def _identity_policy(res: _Creation, policy_name: str, document: Any) -> str:
    """An inline policy as JSON text, with the Version IAM assumes when the document has none.

    IAM reads a document without Version as 2008-10-17 (SAM writes its policy templates and `- Statement:`
    policies that way), but moto refuses it; the sandbox sends such a document as 2012-10-17, which only
    differs for policy variables, and notes it in Stack.warnings.
    """
    if isinstance(document, str):
        document = json.loads(document)
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
        res.deployment.versionless_policies.append(f"{res.logical_id}/{policy_name}")
    return json.dumps(document)


def _local_code(res: _Creation, prop: str, folders: Mapping[str, Path]) -> Path:
    location = res.required(prop)
    folder = folders.get(res.logical_id)
    if not isinstance(location, dict) or location.get("S3Bucket") != PLACEHOLDER_BUCKET or folder is None:
        raise UnsupportedPropertyError(
            f"{res.where}: property {prop} {location!r} is not local code; the sandbox runs code only from the "
            "repository folders a template's CodeUri/ContentUri names"
        )
    return folder


@_register
class _LambdaLayerVersion(_Handler):
    type = "AWS::Lambda::LayerVersion"
    properties = frozenset({"LayerName", "Content", "CompatibleRuntimes", "CompatibleArchitectures", "Description"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        folder = _local_code(res, "Content", res.deployment.translated.layer_content_dirs)
        name = res.name(res.get("LayerName"), max_length=140)
        version = res.call(
            "lambda",
            "publish_layer_version",
            LayerName=name,
            Description=res.get("Description"),
            Content={"ZipFile": _placeholder_zip(f"the sandbox imports this layer from {folder}")},
            CompatibleRuntimes=res.get("CompatibleRuntimes"),
            CompatibleArchitectures=res.get("CompatibleArchitectures"),
        )
        arn = version["LayerVersionArn"]
        res.deployment.layer_dirs[arn] = folder
        _check_layer_requirements(res, folder)
        return arn, {"LayerVersionArn": arn, "LayerName": name, "Version": version["Version"]}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call(
            "lambda",
            "delete_layer_version",
            LayerName=resource.attributes["LayerName"],
            VersionNumber=resource.attributes["Version"],
        )
        deployment.layer_dirs.pop(resource.physical_id, None)


def _check_layer_requirements(res: _Creation, folder: Path) -> None:
    """Warn about what a layer's requirements.txt names but the sandbox's environment lacks.

    `sam build` installs those requirements into the layer; the sandbox imports them from its own
    environment instead, so a missing one would only surface as an ImportError inside a handler.
    """
    from importlib import metadata

    requirements = folder / "requirements.txt"
    if not requirements.is_file():
        return
    missing = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if match is None:
            continue
        try:
            metadata.version(match.group(1))
        except metadata.PackageNotFoundError:
            missing.append(match.group(1))
    if missing:
        res.deployment.warn(
            f"{res.where}: {requirements} needs {', '.join(missing)}, which the sandbox's Python environment does "
            "not have; functions using this layer will fail to import it (pip install -r that file)"
        )


@_register
class _LambdaFunction(_Handler):
    type = "AWS::Lambda::Function"
    properties = frozenset(
        {"FunctionName", "Code", "Role", "Handler", "Runtime", "Description", "Timeout", "MemorySize"}
        | {"Environment", "Layers", "Architectures", "TracingConfig", "Tags", "DeadLetterConfig"}
    )

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        from mlrollout_sandbox.emulator.lambda_runtime import LocalFunction

        folder = _local_code(res, "Code", res.deployment.translated.function_code_dirs)
        name = res.name(res.get("FunctionName"), max_length=64)
        handler = res.required("Handler")
        environment = res.only("Environment", res.get("Environment") or {}, {"Variables"}).get("Variables") or {}
        variables = {str(k): _scalar_text(v) for k, v in environment.items()}
        layers = list(res.get("Layers") or [])
        layer_dirs = []
        for arn in layers:
            if arn not in res.deployment.layer_dirs:
                raise UnsupportedPropertyError(
                    f"{res.where}: layer {arn} is not a layer of this stack, and the sandbox has no code for it"
                )
            layer_dirs.append(res.deployment.layer_dirs[arn])
        timeout = int(res.get("Timeout", 3))
        memory = int(res.get("MemorySize", 128))
        function = res.call(
            "lambda",
            "create_function",
            FunctionName=name,
            Runtime=res.get("Runtime"),
            Role=res.required("Role"),
            Handler=handler,
            Code={"ZipFile": _placeholder_zip(f"the sandbox runs this function from {folder}")},
            Description=res.get("Description"),
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": variables} if variables else None,
            Layers=layers or None,
            Architectures=res.get("Architectures"),
            TracingConfig=res.get("TracingConfig"),
            Tags=_tag_map(res.get("Tags")) or None,
            DeadLetterConfig=res.get("DeadLetterConfig"),
        )
        res.track(name, {"Arn": function["FunctionArn"]})
        spec: dict[str, Any] = {
            "name": name,
            "code_dir": folder,
            "handler": handler,
            "environment": variables,
            "layer_dirs": layer_dirs,
            "timeout_seconds": timeout,
            "memory_mb": memory,
        }
        if "credentials" in {f.name for f in dataclasses.fields(LocalFunction)}:
            spec["credentials"] = _function_credentials(res, str(res.required("Role")))
        try:
            res.deployment.runtime.register(LocalFunction(**spec))
        except FileNotFoundError as exc:
            raise DeployError(f"{res.where}: {exc}") from exc
        return name, {"Arn": function["FunctionArn"]}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("lambda", "delete_function", FunctionName=resource.physical_id)
        deployment.runtime.functions.pop(resource.physical_id, None)


def _function_credentials(res: _Creation, role_arn: str) -> dict[str, str]:
    """The function's execution role as Lambda assumes it (lambda.amazonaws.com, trust policy checked): the
    variables the function's process gets, so IAM decides what the handler may call."""
    from mlrollout_sandbox.emulator.iam import AccessDenied

    iam = res.deployment.aws.emulator.services.get("iam")
    if iam is None:
        raise DeployError(f"{res.where}: the embedded AWS has no IAM emulator to give the function its role")
    try:
        session = iam.session(role_arn, "lambda.amazonaws.com")
    except AccessDenied as exc:
        raise DeployError(f"{res.where}: Lambda cannot assume the function's role: {exc}") from exc
    return {
        "AWS_ACCESS_KEY_ID": session["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": session["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": session["aws_session_token"],
    }


@_register
class _LambdaEventInvokeConfig(_Handler):
    type = "AWS::Lambda::EventInvokeConfig"
    properties = frozenset({"FunctionName", "Qualifier", "MaximumRetryAttempts", "DestinationConfig"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        function = res.required("FunctionName")
        qualifier = res.required("Qualifier")
        destinations = res.get("DestinationConfig")
        if destinations is not None:
            res.only("DestinationConfig", destinations, {"OnSuccess", "OnFailure"})
        res.call(
            "lambda",
            "put_function_event_invoke_config",
            FunctionName=function,
            Qualifier=qualifier,
            MaximumRetryAttempts=res.get("MaximumRetryAttempts"),
            DestinationConfig=destinations,
        )
        return f"{function}|{qualifier}", {}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        function, qualifier = resource.physical_id.split("|", 1)
        deployment.call("lambda", "delete_function_event_invoke_config", FunctionName=function, Qualifier=qualifier)


@_register
class _LambdaPermission(_Handler):
    type = "AWS::Lambda::Permission"
    properties = frozenset({"Action", "FunctionName", "Principal", "SourceArn"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        statement = res.name(None, max_length=100)
        res.call(
            "lambda",
            "add_permission",
            FunctionName=res.required("FunctionName"),
            StatementId=statement,
            Action=res.required("Action"),
            Principal=res.required("Principal"),
            SourceArn=res.get("SourceArn"),
        )
        return statement, {}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call(
            "lambda",
            "remove_permission",
            FunctionName=resource.properties["FunctionName"],
            StatementId=resource.physical_id,
        )


@_register
class _LogGroup(_Handler):
    type = "AWS::Logs::LogGroup"
    properties = frozenset({"LogGroupName", "RetentionInDays", "KmsKeyId", "Tags"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("LogGroupName"), max_length=512)
        res.call(
            "logs",
            "create_log_group",
            logGroupName=name,
            kmsKeyId=res.get("KmsKeyId"),
            tags=_tag_map(res.get("Tags")) or None,
        )
        res.track(name, {})
        if res.get("RetentionInDays") is not None:
            res.call("logs", "put_retention_policy", logGroupName=name, retentionInDays=res.get("RetentionInDays"))
        groups = res.call("logs", "describe_log_groups", logGroupNamePrefix=name)["logGroups"]
        arn = next(g["arn"] for g in groups if g["logGroupName"] == name)
        return name, {"Arn": arn}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("logs", "delete_log_group", logGroupName=resource.physical_id)


@_register
class _StateMachine(_Handler):
    type = "AWS::StepFunctions::StateMachine"
    properties = frozenset(
        {"StateMachineName", "DefinitionString", "DefinitionSubstitutions", "RoleArn"}
        | {"StateMachineType", "LoggingConfiguration", "TracingConfiguration", "Tags"}
    )

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        definition = _definition(res)
        name = res.name(res.get("StateMachineName"), max_length=80)
        logging_config = res.get("LoggingConfiguration")
        tracing = res.get("TracingConfiguration")
        created = res.call(
            "stepfunctions",
            "create_state_machine",
            name=name,
            definition=definition,
            roleArn=res.required("RoleArn"),
            type=res.get("StateMachineType"),
            loggingConfiguration=_lower_camel(logging_config) if logging_config is not None else None,
            tracingConfiguration=_lower_camel(tracing) if tracing is not None else None,
            tags=[{"key": t["Key"], "value": t["Value"]} for t in _tag_list(res.get("Tags"))] or None,
        )
        arn = created["stateMachineArn"]
        return arn, {"Arn": arn, "Name": name}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("stepfunctions", "delete_state_machine", stateMachineArn=resource.physical_id)


def _definition(res: _Creation) -> str:
    """The ASL text Step Functions receives: DefinitionString with DefinitionSubstitutions applied."""
    text = res.required("DefinitionString")
    substitutions = res.get("DefinitionSubstitutions") or {}
    for key, value in substitutions.items():
        if isinstance(value, list | dict):
            raise DeployError(f"{res.where}: DefinitionSubstitutions.{key} must be a string, number or boolean")
        text = text.replace("${" + key + "}", _scalar_text(value))
    leftover = sorted(set(_LEFTOVER_SUBSTITUTION.findall(text)))
    if leftover:
        raise DeployError(
            f"{res.where}: the definition uses {', '.join(leftover)}, which DefinitionSubstitutions does not define"
        )
    try:
        json.loads(text)
    except ValueError as exc:
        raise DeployError(f"{res.where}: the definition is not valid JSON after substitution: {exc}") from exc
    return str(text)


@_register
class _EventsRule(_Handler):
    type = "AWS::Events::Rule"
    properties = frozenset({"Name", "Description", "EventPattern", "ScheduleExpression", "Targets"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("Name"), max_length=64)
        pattern = res.get("EventPattern")
        rule_arn = res.call(
            "events",
            "put_rule",
            Name=name,
            EventPattern=_json_text(pattern) if pattern is not None else None,
            ScheduleExpression=res.get("ScheduleExpression"),
            Description=res.get("Description"),
        )["RuleArn"]
        res.track(name, {"Arn": rule_arn})
        targets = res.get("Targets") or []
        if targets:
            answer = res.call("events", "put_targets", Rule=name, Targets=targets)
            if answer.get("FailedEntryCount"):
                raise DeployError(f"{res.where}: PutTargets refused targets: {answer['FailedEntries']}")
        return name, {"Arn": rule_arn}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        ids = [t["Id"] for t in resource.properties.get("Targets") or []]
        if ids:
            deployment.call("events", "remove_targets", Rule=resource.physical_id, Ids=ids)
        deployment.call("events", "delete_rule", Name=resource.physical_id)


@_register
class _Dashboard(_Handler):
    type = "AWS::CloudWatch::Dashboard"
    properties = frozenset({"DashboardName", "DashboardBody"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("DashboardName"), max_length=255)
        answer = res.call(
            "cloudwatch", "put_dashboard", DashboardName=name, DashboardBody=res.required("DashboardBody")
        )
        problems = answer.get("DashboardValidationMessages") or []
        if problems:
            raise DeployError(f"{res.where}: the dashboard body is invalid: {problems}")
        return name, {}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("cloudwatch", "delete_dashboards", DashboardNames=[resource.physical_id])


@_register
class _DynamoTable(_Handler):
    type = "AWS::DynamoDB::Table"
    _same = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
    properties = frozenset(
        {"TableName", "SSESpecification", "TimeToLiveSpecification", "PointInTimeRecoverySpecification", "Tags"}
        | set(_same)
    )

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("TableName"), max_length=255)
        params: dict[str, Any] = {key: res.get(key) for key in self._same}
        if (sse := res.get("SSESpecification")) is not None:
            sse = res.only("SSESpecification", sse, {"SSEEnabled", "SSEType", "KMSMasterKeyId"})
            params["SSESpecification"] = {("Enabled" if k == "SSEEnabled" else k): v for k, v in sse.items()}
        table = res.call("dynamodb", "create_table", TableName=name, Tags=_tag_list(res.get("Tags")) or None, **params)
        description = table["TableDescription"]
        res.track(name, {"Arn": description["TableArn"]})
        if (ttl := res.get("TimeToLiveSpecification")) is not None:
            res.only("TimeToLiveSpecification", ttl, {"AttributeName", "Enabled"})
            res.call("dynamodb", "update_time_to_live", TableName=name, TimeToLiveSpecification=ttl)
        if (pitr := res.get("PointInTimeRecoverySpecification")) is not None:
            res.only("PointInTimeRecoverySpecification", pitr, {"PointInTimeRecoveryEnabled"})
            res.call("dynamodb", "update_continuous_backups", TableName=name, PointInTimeRecoverySpecification=pitr)
        return name, {"Arn": description["TableArn"]}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("dynamodb", "delete_table", TableName=resource.physical_id)


@_register
class _Secret(_Handler):
    type = "AWS::SecretsManager::Secret"
    properties = frozenset({"Name", "Description", "KmsKeyId", "SecretString", "Tags"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("Name"), max_length=512)
        created = res.call(
            "secretsmanager",
            "create_secret",
            Name=name,
            Description=res.get("Description"),
            KmsKeyId=res.get("KmsKeyId"),
            SecretString=res.get("SecretString"),
            Tags=_tag_list(res.get("Tags")) or None,
        )
        return created["ARN"], {"Id": created["ARN"]}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call(
            "secretsmanager", "delete_secret", SecretId=resource.physical_id, ForceDeleteWithoutRecovery=True
        )


@_register
class _ScheduleGroup(_Handler):
    type = "AWS::Scheduler::ScheduleGroup"
    properties = frozenset({"Name", "Tags"})

    def create(self, res: _Creation) -> tuple[str, dict[str, Any]]:
        name = res.name(res.get("Name"), max_length=64)
        arn = res.call("scheduler", "create_schedule_group", Name=name, Tags=_tag_list(res.get("Tags")) or None)[
            "ScheduleGroupArn"
        ]
        return name, {"Arn": arn}

    def delete(self, deployment: _Deployment, resource: StackResource, *, empty_buckets: bool) -> None:
        deployment.call("scheduler", "delete_schedule_group", Name=resource.physical_id)


# ------------------------------------------------------------------------------------------ deployment


class _Deployment:
    """One stack's deployment: clients, name generation, ordering, creation, rollback and deletion."""

    def __init__(
        self,
        aws: EmbeddedAws,
        translated: TranslatedTemplate,
        *,
        stack_name: str,
        parameters: Mapping[str, Any] | None,
    ) -> None:
        if not _STACK_NAME.fullmatch(stack_name):
            raise DeployError(
                f"stack name {stack_name!r} must start with a letter and contain only letters, digits and "
                "hyphens (at most 128 characters)"
            )
        if _partition(translated.region) != _partition(aws.region):
            raise DeployError(
                f"{translated.path} was translated for {translated.region} but the embedded AWS runs in "
                f"{aws.region}; translate it for {aws.region} (its managed policy ARNs name the partition)"
            )
        self.aws = aws
        self.translated = translated
        self.template = translated.template
        self.stack_name = stack_name
        self.region = aws.region
        self.account_id = aws.emulator.account_id
        self.partition = _partition(self.region)
        self.runtime: LambdaRuntime = aws.emulator.services["lambda_runtime"]
        self.layer_dirs: dict[str, Path] = {}
        self.unattached_policies: dict[str, list[str]] = {}
        self.versionless_policies: list[str] = []
        self.warnings: list[str] = []
        self._clients: dict[str, Any] = {}
        self._random = random.Random()
        self.resources: dict[str, StackResource] = {}
        self.intrinsics = Intrinsics(
            self.template,
            parameters=resolve_parameters(self.template.get("Parameters", {}), parameters),
            resources=self.resources,
            stack_name=stack_name,
            region=self.region,
            account_id=self.account_id,
        )

    # plumbing ---------------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.aws.client(service)
        return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> Any:
        """A boto3 call with absent (None) parameters left out and loose scalars coerced to the API's types."""
        client = self.client(service)
        api_name = client.meta.method_to_api_mapping[operation]
        shape = client.meta.service_model.operation_model(api_name).input_shape
        present = {k: v for k, v in params.items() if v is not None}
        return getattr(client, operation)(**_coerce(present, shape))

    def warn(self, message: str) -> None:
        log.warning("%s", message)
        self.warnings.append(message)

    def note(self, message: str) -> None:
        log.info("%s", message)
        self.warnings.append(message)

    def generated_name(self, logical_id: str, max_length: int, *, lowercase: bool = False) -> str:
        alphabet = (string.ascii_lowercase if lowercase else string.ascii_uppercase) + string.digits
        suffix = "".join(self._random.choices(alphabet, k=12))
        room = max_length - len(suffix) - 2
        stack_part, id_part = self.stack_name, logical_id
        if len(stack_part) + len(id_part) > room:
            id_part = id_part[: max(room // 2, room - len(stack_part))]
            stack_part = stack_part[: room - len(id_part)]
        name = f"{stack_part}-{id_part}-{suffix}"
        return name.lower() if lowercase else name

    # planning ---------------------------------------------------------------------------------------
    def plan(self) -> list[str]:
        """Active resources in an order where each one comes after everything it refers to."""
        declared: Mapping[str, Any] = self.template.get("Resources", {})
        if not declared:
            raise DeployError("the template has no Resources")
        intrinsics = self.intrinsics
        dependencies: dict[str, set[str]] = {}
        for logical_id, resource in declared.items():
            self._check_resource(logical_id, resource)
            where = f"{logical_id} ({resource['Type']})"
            # Every name must exist, even in an Fn::If branch the conditions do not take.
            intrinsics.references(resource.get("Properties", {}), where, all_branches=True)
            if not intrinsics.is_active(logical_id):
                continue
            needed = intrinsics.references(resource.get("Properties", {}), where)
            depends_on = resource.get("DependsOn", [])
            for name in [depends_on] if isinstance(depends_on, str) else depends_on:
                if name not in declared:
                    raise DeployError(f"{where}: DependsOn names {name!r}, which is not a resource of the template")
                needed.add(name)
            for name in sorted(needed):
                if not intrinsics.is_active(name):
                    raise DeployError(
                        f"{where}: depends on {name}, which is not created because its condition "
                        f"{declared[name]['Condition']} is false"
                    )
            needed.discard(logical_id)
            dependencies[logical_id] = needed
        return _topological_order(dependencies)

    def _check_resource(self, logical_id: str, resource: Any) -> None:
        if not isinstance(resource, Mapping) or "Type" not in resource:
            raise DeployError(f"{logical_id}: a resource needs a Type")
        extra = sorted(set(resource) - _RESOURCE_KEYS)
        if extra:
            raise DeployError(f"{logical_id} ({resource['Type']}): unknown resource attribute(s) {extra}")
        handler = _HANDLERS.get(resource["Type"])
        if handler is None:
            raise UnsupportedResourceError(
                f"{logical_id}: resource type {resource['Type']} is not supported by the sandbox deployer"
            )
        unsupported = sorted(set(resource.get("Properties") or {}) - handler.properties)
        if unsupported:
            raise UnsupportedPropertyError(
                f"{logical_id} ({resource['Type']}): property {unsupported[0]} is not supported by the sandbox "
                "deployer" + (f" (nor {', '.join(unsupported[1:])})" if unsupported[1:] else "")
            )

    # creation ---------------------------------------------------------------------------------------
    def deploy(self) -> Stack:
        order = self.plan()
        stack = Stack(
            name=self.stack_name,
            stack_id=self.intrinsics.stack_id,
            region=self.region,
            account_id=self.account_id,
            parameters=dict(self.intrinsics.parameters),
            conditions=self.intrinsics.conditions(),
            deployment=self,
        )
        stack.resources = self.resources
        stack.warnings = self.warnings
        try:
            for logical_id in order:
                self._create(logical_id)
            stack.outputs, stack.exports = self._outputs()
            self._summarise_iam_notes()
        except BaseException as exc:
            created = list(self.resources.values())
            rollback_errors, _ = self.delete_resources(created, empty_buckets=True, rollback=True)
            self.resources.clear()
            if rollback_errors and isinstance(exc, DeployError):
                raise DeployError(
                    f"{exc}\nrolling back left resources behind:\n" + "\n".join(f"  - {e}" for e in rollback_errors)
                ) from exc
            raise
        return stack

    def _create(self, logical_id: str) -> None:
        declared = self.template["Resources"][logical_id]
        kind = declared["Type"]
        handler = _HANDLERS[kind]
        where = f"{logical_id} ({kind})"
        properties = self.intrinsics.resolve(declared.get("Properties") or {}, where)
        creation = _Creation(logical_id=logical_id, type=kind, properties=properties, deployment=self)
        policy = str(declared.get("DeletionPolicy", "Delete"))
        try:
            physical, attributes = handler.create(creation)
        except BaseException as exc:
            if creation.tracked is not None:
                # Created, then a later step failed: the rollback must delete it like the rest.
                physical, attributes = creation.tracked
                self.resources[logical_id] = StackResource(logical_id, kind, physical, attributes, properties, policy)
            if isinstance(exc, ClientError | BotoCoreError):
                raise DeployError(f"{where}: {exc}") from exc
            raise
        self.resources[logical_id] = StackResource(logical_id, kind, physical, attributes, properties, policy)
        log.debug("created %s: %s", where, physical)

    def _summarise_iam_notes(self) -> None:
        if self.unattached_policies:
            arns = sorted({arn for listed in self.unattached_policies.values() for arn in listed})
            self.warn(
                f"AWS managed policies {arns} are not attached to roles {sorted(self.unattached_policies)}: the "
                "embedded moto was started without its AWS managed policies (moto's iam.load_aws_managed_policies)"
            )
        if self.versionless_policies:
            # SAM's own policy templates carry no Version, so this note is informational, not a finding.
            self.note(
                f"inline policies without a Version were sent as 2012-10-17 (IAM reads them as 2008-10-17, moto "
                f"refuses them): {', '.join(self.versionless_policies)}"
            )

    def _outputs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        outputs: dict[str, Any] = {}
        exports: dict[str, Any] = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.intrinsics.condition(str(output["Condition"])):
                continue
            where = f"Outputs.{name}"
            value = self.intrinsics.resolve(output.get("Value"), where)
            if value is NO_VALUE:
                continue
            outputs[name] = value
            if "Export" in output:
                exports[str(self.intrinsics.resolve(output["Export"].get("Name"), f"{where}.Export"))] = value
        return outputs, exports

    # deletion ---------------------------------------------------------------------------------------
    def delete_resources(
        self, resources: Sequence[StackResource], *, empty_buckets: bool, rollback: bool = False
    ) -> tuple[list[str], set[str]]:
        """Best effort in reverse order: (one message per failure, logical ids of what was not deleted)."""
        errors: list[str] = []
        failed: set[str] = set()
        retained = {"Retain"} if rollback else _RETAINED
        for resource in reversed(resources):
            if resource.deletion_policy in retained:
                continue
            try:
                _HANDLERS[resource.type].delete(self, resource, empty_buckets=empty_buckets)
            except (ClientError, BotoCoreError, DeployError, KeyError) as exc:
                errors.append(f"{resource.logical_id} ({resource.type}) {resource.physical_id}: {exc}")
                failed.add(resource.logical_id)
        return errors, failed


def _topological_order(dependencies: Mapping[str, set[str]]) -> list[str]:
    """Kahn's algorithm, taking the earliest-declared ready resource first so the order is stable."""
    position = {name: i for i, name in enumerate(dependencies)}
    remaining = {name: set(needed) for name, needed in dependencies.items()}
    order: list[str] = []
    while remaining:
        ready = [name for name, needed in remaining.items() if not needed]
        if not ready:
            raise DependencyCycleError("circular dependency between resources: " + " -> ".join(_find_cycle(remaining)))
        chosen = min(ready, key=position.__getitem__)
        order.append(chosen)
        del remaining[chosen]
        for needed in remaining.values():
            needed.discard(chosen)
    return order


def _find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle among resources that are all waiting on each other (every node has a dependency)."""
    path: list[str] = []
    node = min(graph)
    while node not in path:
        path.append(node)
        node = min(graph[node])
    return [*path[path.index(node) :], node]


def deploy(
    aws: EmbeddedAws,
    translated: TranslatedTemplate,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: Mapping[str, Any] | None = None,
) -> Stack:
    """Create every resource of `translated` in the embedded AWS and return the Stack.

    Raises ParameterError, UnsupportedResourceError, UnsupportedPropertyError, DependencyCycleError or
    DeployError (after rolling back what was created) with a message naming the resource and the problem.
    """
    return _Deployment(aws, translated, stack_name=stack_name, parameters=parameters).deploy()


def deploy_template(
    aws: EmbeddedAws,
    template_path: Path | str = "template.yaml",
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: Mapping[str, Any] | None = None,
) -> Stack:
    """Translate template.yaml for the embedded AWS's region and deploy it."""
    from mlrollout_sandbox.template import translate_template

    return deploy(
        aws, translate_template(template_path, region=aws.region), stack_name=stack_name, parameters=parameters
    )
