"""What the import contracts cannot say (they cover packages: pyproject.toml's [tool.importlinter], run by `make
lint`): the handlers under functions/ are scripts, thin and lean; the environment is read in one place; the
layer's requirements stay lean."""

import ast
import tomllib
from pathlib import Path

import pytest

from support import FUNCTIONS, ROOT

LAYER = ROOT / "layers" / "core"
# One list: the import contract that keeps the runtime library lean names what no Lambda may carry.
HEAVY = {
    module
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    if contract.get("source_modules") == ["mlrollout"]
    for module in contract["forbidden_modules"]
    if not module.startswith("mlrollout")
}


def test_the_heavy_list_is_read() -> None:
    assert {"numpy", "sagemaker", "moto"} <= HEAVY


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(FUNCTIONS.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_heavy_or_test_only_package_reaches_a_handler(path: Path) -> None:
    assert not {name.split(".")[0] for name in imports(path)} & HEAVY


@pytest.mark.parametrize("path", sorted(FUNCTIONS.glob("*/app.py")), ids=lambda p: p.parent.name)
def test_handlers_are_thin(path: Path) -> None:
    names = imports(path)
    assert not {name.split(".")[0] for name in names} & {"boto3", "botocore", "os"}
    assert len(path.read_text().splitlines()) <= 30
    tree = ast.parse(path.read_text())
    top_level_calls = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign) or (isinstance(n, ast.Expr) and not isinstance(n.value, ast.Constant))
    ]
    assert not top_level_calls, "no work at import time"


def test_the_environment_is_read_in_one_place() -> None:
    readers = [p.name for p in LAYER.rglob("*.py") if "os.environ" in p.read_text()]
    assert sorted(readers) == ["settings.py", "wiring.py"]


def test_requirements_stay_lean() -> None:
    for requirements in [*(ROOT / "layers").glob("*/requirements.txt"), *FUNCTIONS.glob("*/requirements.txt")]:
        packages = {
            line.split("==")[0].strip().lower()
            for line in requirements.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        }
        assert not packages & HEAVY, requirements
    assert {"aws-lambda-powertools", "pydantic", "pyyaml"} == {
        line.split("==")[0].strip().lower()
        for line in (LAYER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
