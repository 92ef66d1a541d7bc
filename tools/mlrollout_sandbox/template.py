"""template.yaml as CloudFormation sees it: packaged like `sam package`, then run through the SAM transform.

`sam package` replaces every local CodeUri/ContentUri with the S3 location it uploaded the folder to and
inlines nothing; CloudFormation then expands `AWS::Serverless-2016-10-31`. The sandbox cannot upload, so
each local folder becomes a placeholder `s3://` URI (remembered per logical id, so the deployer can run the
real code from the folder) and a state machine's DefinitionUri becomes the inlined `Definition`, so the
translated template carries the real ASL with its `${...}` substitutions.

`python -m mlrollout_sandbox.template template.yaml -o build/template.json` writes the translated template
for `cfn-lint`, which does not read DefinitionUri files and skips a DefinitionString built with Fn::Join.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PLACEHOLDER_BUCKET",
    "TemplateError",
    "TranslatedTemplate",
    "cfn_lint_json",
    "cfn_lint_template",
    "load_template",
    "main",
    "translate_template",
]

DEFAULT_REGION = "us-east-1"
# No such bucket is ever created: the name only marks code that lives in a local folder.
PLACEHOLDER_BUCKET = "mlrollout-sandbox-local-artifacts"
SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"


class TemplateError(Exception):
    """A template the sandbox cannot load or translate; names the file and every problem found."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"{path}: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            text = f"{path}: {len(self.problems)} problems:\n{listed}"
        super().__init__(text)


@dataclass(frozen=True)
class TranslatedTemplate:
    """The CloudFormation template SAM produced, and where the code behind its placeholders lives.

    Keys are the translated template's logical ids. SAM renames some resources (a LayerVersion gets a content
    hash appended, and every `!Ref CoreLayer` is rewritten to match); `renamed` maps the template.yaml id to
    the translated one.
    """

    path: Path
    region: str
    template: dict[str, Any]
    function_code_dirs: dict[str, Path] = field(default_factory=dict)
    layer_content_dirs: dict[str, Path] = field(default_factory=dict)
    layer_build_methods: dict[str, str | None] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.get("Resources", {})
        return resources

    def logical_id(self, template_logical_id: str) -> str:
        """The translated logical id of a resource named `template_logical_id` in template.yaml."""
        return self.renamed.get(template_logical_id, template_logical_id)

    def to_json(self) -> str:
        return json.dumps(self.template, indent=2, sort_keys=False)


# ------------------------------------------------------------------------------------------ loading


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form tags.

    samtranslator's `yaml_parse` registers its tag constructor on yaml.SafeLoader itself, which would make
    every later `yaml.safe_load` in this process (the layer's rollout.yaml parsing among them) accept `!Ref`;
    a subclass keeps the tags to templates.
    """


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    # CloudFormation reads an unquoted 2012-10-17 as a string, not as a date.
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _install_constructors() -> None:
    from samtranslator.yaml_helper import intrinsics_multi_constructor

    _CloudFormationLoader.add_multi_constructor("!", intrinsics_multi_constructor)
    _CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


_install_constructors()


def load_template(path: Path | str) -> dict[str, Any]:
    """template.yaml (or .json) as a dict, with short-form intrinsics in their long form."""
    path = Path(path)
    if not path.is_file():
        raise TemplateError(path, ["template file not found"])
    try:
        text = path.read_text(encoding="utf-8")
        loaded = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(path, [f"cannot read the template: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(loaded, dict):
        raise TemplateError(path, ["the template is not a mapping of sections (Resources, Parameters, ...)"])
    if not isinstance(loaded.get("Resources"), dict) or not loaded["Resources"]:
        raise TemplateError(path, ["the template has no Resources"])
    return loaded


# ------------------------------------------------------------------------------------------ packaging


@dataclass
class _Packaging:
    """What `sam package` would upload: placeholder S3 key -> local folder, and layer build metadata."""

    template_path: Path
    folders: dict[str, Path] = field(default_factory=dict)
    build_methods: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def local_folder(self, logical_id: str, prop: str, uri: Any) -> str | None:
        """The placeholder S3 key for a local folder `uri`, or None when `uri` is not a local path."""
        if not isinstance(uri, str) or uri.startswith("s3://"):
            return None
        folder = (self.template_path.parent / uri).resolve()
        if not folder.exists():
            self.problems.append(f"{logical_id}: {prop} {uri!r} does not exist (looked for {folder})")
            return None
        if not folder.is_dir():
            self.problems.append(
                f"{logical_id}: {prop} {uri!r} is a file; the sandbox runs code from a folder, not an archive"
            )
            return None
        self.folders[logical_id] = folder
        return logical_id

    def read_definition(self, logical_id: str, prop: str, uri: Any) -> tuple[str, Any] | None:
        """(text, parsed) of a local state machine definition, or None after recording the problem."""
        if not isinstance(uri, str) or uri.startswith("s3://"):
            self.problems.append(
                f"{logical_id}: {prop} {uri!r} is not a local file; the sandbox inlines the definition from the "
                "repository, so point it at statemachines/<name>.asl.json"
            )
            return None
        definition_path = (self.template_path.parent / uri).resolve()
        try:
            text = definition_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"{logical_id}: {prop} {uri!r} cannot be read ({definition_path}): {exc}")
            return None
        try:
            if definition_path.suffix in {".yaml", ".yml"}:
                parsed = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
            else:
                parsed = json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            self.problems.append(f"{logical_id}: {prop} {uri!r} is not valid JSON/YAML ({definition_path}): {exc}")
            return None
        if not isinstance(parsed, dict):
            self.problems.append(f"{logical_id}: {prop} {uri!r} does not hold a state machine object")
            return None
        return text, parsed


def _placeholder_uri(key: str) -> str:
    return f"s3://{PLACEHOLDER_BUCKET}/{key}"


def _placeholder_location(key: str) -> dict[str, str]:
    return {"S3Bucket": PLACEHOLDER_BUCKET, "S3Key": key}


def _package(template: dict[str, Any], packaging: _Packaging) -> dict[str, Any]:
    """A copy of `template` with local artifacts replaced, as `sam package` would leave it."""
    packaged = copy.deepcopy(template)
    resources: dict[str, Any] = packaged["Resources"]
    global_function = packaged.get("Globals", {}).get("Function", {})
    global_code_uri = global_function.pop("CodeUri", None) if isinstance(global_function, dict) else None

    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if not isinstance(props, dict):
            continue
        if kind == "AWS::Serverless::Function":
            # A Globals CodeUri is the same as each function naming the folder itself.
            code_uri = props.get("CodeUri", global_code_uri if not _has_own_code(props) else None)
            if code_uri is not None:
                key = packaging.local_folder(logical_id, "CodeUri", code_uri)
                props["CodeUri"] = _placeholder_uri(key) if key else code_uri
        elif kind == "AWS::Serverless::LayerVersion":
            key = packaging.local_folder(logical_id, "ContentUri", props.get("ContentUri"))
            if key:
                props["ContentUri"] = _placeholder_uri(key)
            metadata = resource.get("Metadata") or {}
            packaging.build_methods[logical_id] = metadata.get("BuildMethod")
        elif kind == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            read = packaging.read_definition(logical_id, "DefinitionUri", props.pop("DefinitionUri"))
            if read is not None:
                props["Definition"] = read[1]
        elif kind == "AWS::Lambda::Function" and isinstance(props.get("Code"), str):
            key = packaging.local_folder(logical_id, "Code", props["Code"])
            if key:
                props["Code"] = _placeholder_location(key)
        elif kind == "AWS::Lambda::LayerVersion" and isinstance(props.get("Content"), str):
            key = packaging.local_folder(logical_id, "Content", props["Content"])
            if key:
                props["Content"] = _placeholder_location(key)
            metadata = resource.get("Metadata") or {}
            packaging.build_methods[logical_id] = metadata.get("BuildMethod")
        elif kind == "AWS::StepFunctions::StateMachine" and isinstance(props.get("DefinitionS3Location"), str):
            read = packaging.read_definition(logical_id, "DefinitionS3Location", props.pop("DefinitionS3Location"))
            if read is not None:
                props["DefinitionString"] = read[0]
    return packaged


def _has_own_code(props: Mapping[str, Any]) -> bool:
    return any(key in props for key in ("CodeUri", "InlineCode", "ImageUri"))


# ------------------------------------------------------------------------------------------ translation


class _OfflineManagedPolicyLoader:
    """The translator's fallback for policy names it cannot resolve itself, answered without calling IAM.

    SAM resolves AWS managed policy names from a map bundled with the translator, ARNs pass through, inline
    statements and policy templates (LambdaInvokePolicy, ...) need no lookup; only a name outside the
    bundled map would make the stock loader list IAM policies. Such a name is reported after translation.
    """

    def __init__(self) -> None:
        self.asked = False

    def load(self) -> dict[str, str]:
        self.asked = True
        return {}


def _sam_translate(template: dict[str, Any], region: str, parameter_values: Mapping[str, Any]) -> dict[str, Any]:
    import boto3
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    # This is samtranslator.translator.transform.transform with one difference: that function builds a
    # region-less boto3 Session and fails (NoRegionFound) unless AWS_DEFAULT_REGION is set in the process,
    # while a Translator given a Session built with an explicit region needs no environment and no AWS call.
    values = dict(parameter_values)
    loader = _OfflineManagedPolicyLoader()
    # The translator times itself into a Metrics object that warns when collected unpublished; publishing to
    # the dummy publisher discards the timings quietly.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    to_py27_compatible_template(template, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics)
    try:
        translated = translator.translate(template, parameter_values=values, get_managed_policy_map=loader.load)
    finally:
        metrics.publish()
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


def _translation_problems(exc: Exception) -> list[str]:
    from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException

    if isinstance(exc, InvalidDocumentException):
        return [cause.message for cause in exc.causes] or [exc.message]
    if isinstance(exc, ExceptionWithMessage):
        return [exc.message]
    return [f"{type(exc).__name__}: {exc}"]


def _unresolved_policy_names(template: Mapping[str, Any]) -> list[str]:
    """Managed policy names SAM left as they were because it knew no ARN for them."""
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
            if isinstance(arn, str) and not arn.startswith("arn:"):
                problems.append(
                    f"{logical_id}: managed policy {arn!r} is neither an ARN nor an AWS managed policy name SAM "
                    "knows; use its ARN"
                )
    return problems


def translate_template(
    path: Path | str = "template.yaml",
    *,
    region: str = DEFAULT_REGION,
    parameter_values: Mapping[str, Any] | None = None,
) -> TranslatedTemplate:
    """Load, package (placeholders for local code) and SAM-translate a template; raise TemplateError."""
    path = Path(path).resolve()
    source = load_template(path)
    packaging = _Packaging(template_path=path)
    packaged = _package(source, packaging)
    if packaging.problems:
        raise TemplateError(path, packaging.problems)

    if _has_serverless_transform(packaged):
        try:
            cloudformation = _sam_translate(packaged, region, parameter_values or {})
        except Exception as exc:  # the translator raises several unrelated types; each one is reported
            raise TemplateError(path, ["SAM translation failed: " + p for p in _translation_problems(exc)]) from exc
    else:
        cloudformation = packaged
    policy_problems = _unresolved_policy_names(cloudformation)
    if policy_problems:
        raise TemplateError(path, policy_problems)
    return _with_code_locations(path, region, cloudformation, packaging)


def _has_serverless_transform(template: Mapping[str, Any]) -> bool:
    transform = template.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    return SERVERLESS_TRANSFORM in transforms


def _with_code_locations(
    path: Path, region: str, cloudformation: dict[str, Any], packaging: _Packaging
) -> TranslatedTemplate:
    functions: dict[str, Path] = {}
    layers: dict[str, Path] = {}
    build_methods: dict[str, str | None] = {}
    renamed: dict[str, str] = {}
    for logical_id, resource in cloudformation.get("Resources", {}).items():
        kind = resource.get("Type")
        location_prop = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}.get(kind)
        if location_prop is None:
            continue
        location = resource.get("Properties", {}).get(location_prop)
        if not isinstance(location, dict) or location.get("S3Bucket") != PLACEHOLDER_BUCKET:
            continue
        # The placeholder key is the template.yaml logical id, which survives SAM's renaming of layers.
        source_id = location.get("S3Key")
        folder = packaging.folders.get(source_id) if isinstance(source_id, str) else None
        if folder is None or not isinstance(source_id, str):
            continue
        if source_id != logical_id:
            renamed[source_id] = logical_id
        if kind == "AWS::Lambda::Function":
            functions[logical_id] = folder
        else:
            layers[logical_id] = folder
            build_methods[logical_id] = packaging.build_methods.get(source_id)
    return TranslatedTemplate(
        path=path,
        region=region,
        template=cloudformation,
        function_code_dirs=functions,
        layer_content_dirs=layers,
        layer_build_methods=build_methods,
        renamed=renamed,
    )


# ------------------------------------------------------------------------------------------ cfn-lint


def cfn_lint_template(translated: TranslatedTemplate) -> dict[str, Any]:
    """The translated template with each state machine definition as one JSON string.

    SAM emits DefinitionString as an Fn::Join of lines, and cfn-lint's E3601 skips any definition that is an
    intrinsic function; joined back into the string CloudFormation would see, the definition is checked.
    """
    template = copy.deepcopy(translated.template)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = resource.get("Properties", {})
        joined = props.get("DefinitionString")
        if isinstance(joined, dict) and list(joined) == ["Fn::Join"]:
            separator, parts = joined["Fn::Join"]
            if isinstance(separator, str) and all(isinstance(part, str) for part in parts):
                props["DefinitionString"] = separator.join(parts)
    return template


def cfn_lint_json(path: Path | str = "template.yaml", *, region: str = DEFAULT_REGION) -> str:
    """The translated template as JSON text for `cfn-lint` (which then validates the ASL with E3601)."""
    return json.dumps(cfn_lint_template(translate_template(path, region=region)), indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlrollout_sandbox.template",
        description="Translate a SAM template (local code as placeholders) into CloudFormation JSON for cfn-lint.",
    )
    parser.add_argument("template", nargs="?", default="template.yaml", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    parser.add_argument("--region", default=DEFAULT_REGION)
    args = parser.parse_args(argv)
    try:
        text = cfn_lint_json(args.template, region=args.region)
    except TemplateError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.output is None:
        print(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
