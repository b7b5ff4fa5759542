"""Architecture rules: one-way imports between layers, and no heavy work at import time."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Source folder -> import name.
PACKAGES = {
    "rootline": "rootline",
    "ingest": "rootline.ingest",
    "clustering": "rootline.clustering",
    "rootcause": "rootline.rootcause",
    "web": "rootline.web",
    "fixtures": "rootline.fixtures",
}
#: Highest layer first; a module may import only from its own layer or the ones below.
LAYERS = [
    "rootline.cli",
    "rootline.web",
    "rootline.pipeline",
    "rootline.rootcause",
    "rootline.clustering",
    "rootline.ingest",
    "rootline.base",
]
BASE = {"rootline.config", "rootline.db", "rootline.errors", "rootline.transfer", "rootline"}
# Migrations gather every table for Alembic; they sit beside the CLI at the top.
TOP = {"rootline.migrations", "rootline.__main__", "rootline.fixtures"}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, name in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([name, *parts])] = path
    return found


def _layer(module: str) -> int:
    for prefix in TOP:
        if module == prefix or module.startswith(prefix + "."):
            return -1
    if module in BASE:
        return LAYERS.index("rootline.base")
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    raise AssertionError(f"{module} belongs to no layer")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_imports_flow_one_way() -> None:
    modules = _modules()
    assert "rootline.ingest.service" in modules and "rootline.cli.main" in modules
    wrong = []
    for module, path in modules.items():
        here = _layer(module)
        for name in _imports(path):
            if name.split(".")[0] in {"ingest", "clustering", "rootcause", "web", "fixtures"}:
                wrong.append(f"{module} imports bare top-level {name!r}")
            if not name.startswith("rootline"):
                continue
            target = _layer(name)
            if here >= 0 and (target == -1 or target < here):
                wrong.append(f"{module} (layer {LAYERS[here]}) imports {name}")
    assert not wrong, "\n".join(wrong)


def test_no_route_module_imports_another() -> None:
    """A loader shared by a page and its JSON twin lives in ``web.views``, not in a route."""
    routes = {m: p for m, p in _modules().items() if m.startswith("rootline.web.routes.")}
    assert {m.rsplit(".", 1)[1] for m in routes} == set(RESOURCES)
    wrong = [
        f"{module} imports {name}"
        for module, path in routes.items()
        for name in _imports(path)
        if name.startswith("rootline.web.routes")
    ]
    assert wrong == []


#: One route module per resource, each holding its pages and their JSON twins.
RESOURCES = (
    "admin",
    "auth",
    "contacts",
    "governance",
    "impact",
    "ingest",
    "knowledge",
    "problems",
    "search",
    "themes",
    "triage",
    "work",
)


def test_a_page_and_its_json_twin_live_in_one_resource_module() -> None:
    from rootline.web.permissions import app_routes

    owner: dict[str, str] = {}
    for resource in RESOURCES:
        module = importlib.import_module(f"rootline.web.routes.{resource}")
        for _name, path, _methods in app_routes(module.router.routes):
            owner[path] = resource
    twins = [(path, "/api" + path) for path in owner if "/api" + path in owner]
    assert len(twins) >= 15
    apart = [(p, owner[p], owner[t]) for p, t in twins if owner[p] != owner[t]]
    assert apart == []


def test_importing_the_cli_loads_no_model_or_web_stack() -> None:
    code = (
        "import sys, rootline.cli.main, rootline.pipeline; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'hdbscan', 'uvicorn') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_package_folder_is_packaged() -> None:
    """A normal (non-editable) install ships every folder that holds an ``__init__.py``."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    for folder, name in PACKAGES.items():
        assert setuptools["package-dir"][name] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            assert ".".join([name, *parts]) in listed, f"{init.parent} is not in [tool.setuptools]"


def test_routes_take_settings_derived_objects_as_dependencies() -> None:
    """The clusterer and the webhook URL come from ``web.deps``, so a test can replace them."""
    for resource in RESOURCES:
        source = (ROOT / "web" / "routes" / f"{resource}.py").read_text("utf-8")
        assert "build_clusterer(" not in source, resource
        assert "settings.webhook_url" not in source, resource
