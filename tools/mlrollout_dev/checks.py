"""`make validate`, the part `sam validate --lint` cannot do: the state machine definition itself.

cfn-lint (and so `sam validate --lint`) does not read a DefinitionUri file, so:
1. translate template.yaml with aws-sam-translator, inlining statemachines/*.asl.json, and run cfn-lint on the
   result: rule E3601 validates the definition against the Step Functions schema;
2. run statelint on each definition with its ${...} substitutions replaced by values of the right shape.

    python -m mlrollout_dev.checks
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mlrollout_sandbox.template import cfn_lint_json, load_template

ROOT = Path(__file__).resolve().parents[2]
SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9]+)\}")
# cfn-lint's Step Functions schema knows a JSONata expression in Wait.Seconds but not yet in a Task's TimeoutSeconds,
# which Step Functions accepts (an expression giving a positive integer; CDK's Timeout.jsonata writes one).
JSONATA_TIMEOUT = re.compile(r"'\{%.*%\}' is not of type 'number' at 'States/[^']+/TimeoutSeconds'")


def known_schema_gap(rule: str, message: str) -> bool:
    """A finding of cfn-lint's that is the schema lagging Step Functions, not a problem of the definition."""
    return rule == "E3601" and JSONATA_TIMEOUT.search(message) is not None


def sample_value(name: str) -> str:
    """A value of the shape CloudFormation would substitute (an ARN for *Arn, a number otherwise)."""
    if name.endswith("Arn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:{name.removesuffix('Arn')}"
    return "30"


def lint_translated(template: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        translated = Path(tmp) / "translated.json"
        translated.write_text(cfn_lint_json(template))
        result = subprocess.run(
            [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", str(translated)],
            capture_output=True,
            text=True,
            check=False,
        )
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    known = [line for line in findings if ":E3601:" in line and known_schema_gap("E3601", line)]
    findings = [line for line in findings if line not in known]
    errors = [line for line in findings if ":E" in line or line.split(":")[-2:-1] == ["E"]]
    for line in known:
        print(f"cfn-lint (translated): accepted, a JSONata TimeoutSeconds the schema does not know yet: {line[-90:]}")
    for line in findings:
        print(f"cfn-lint (translated): {line.replace(str(translated), 'template')}")
    # cfn-lint's exit code is a bit field: 2 means errors; warnings (4) and notes (8) do not fail the build.
    failed = bool(errors) or (bool(result.returncode & 2) and not known)
    print(f"cfn-lint on the translated template (E3601 validates the ASL): {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


def lint_definitions(template: Path) -> int:
    status = 0
    resources = load_template(template)["Resources"]
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        definition_path = template.parent / resource["Properties"]["DefinitionUri"]
        text = SUBSTITUTION.sub(lambda m: sample_value(m.group(1)), definition_path.read_text())
        definition = json.loads(text)  # a substitution must never leave invalid JSON behind
        # statelint 3.1 wants integers in Wait.Seconds and Task.TimeoutSeconds even in JSONata mode, where Step
        # Functions (and cfn-lint's E3601 above) accept an expression; only those fields are replaced, each named.
        for name, state in definition["States"].items():
            for field in ("Seconds", "TimeoutSeconds"):
                if isinstance(state.get(field), str) and state[field].startswith("{%"):
                    print(f"statelint: '{name}'.{field} is a JSONata expression; linted as an integer")
                    state[field] = 1
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(definition, handle)
        result = subprocess.run(
            [str(Path(sys.executable).with_name("statelint")), handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
        Path(handle.name).unlink(missing_ok=True)
        problems = (result.stdout + result.stderr).strip()
        ok = result.returncode == 0 and not problems
        print(f"statelint {definition_path.relative_to(ROOT)} ({logical_id}): {'ok' if ok else 'FAILED'}")
        if not ok:
            print(problems)
            status = 1
    return status


def main() -> int:
    template = ROOT / "template.yaml"
    return max(lint_translated(template), lint_definitions(template))


if __name__ == "__main__":
    raise SystemExit(main())
