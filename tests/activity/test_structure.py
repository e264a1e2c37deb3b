"""The activity app's imports go one way: rules → operations → models → engine. Each module
imports alone in a fresh interpreter, and no import hides in a function to break a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.base import ROOT, worker_env

MODULES = [
    "activity.rules",
    "activity.tasks",
    "activity.models",
    "activity.engine",
    "activity.reaper",
    "activity.listing",
    "activity.views",
    *(
        f"activity.operations.{path.stem}"
        for path in sorted((ROOT / "activity" / "operations").glob("*.py"))
        if path.stem != "__init__"
    ),
]
# The task imports the engine when it runs, so that the queue module stays a leaf.
DELIBERATE = {("activity/tasks.py", "execute_run")}


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); import {module}"],
        cwd=ROOT,
        env=worker_env(DJANGO_SETTINGS_MODULE="config.settings"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_no_activity_module_imports_activity_inside_a_function():
    hidden = []
    for path in sorted((ROOT / "activity").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = str(path.relative_to(ROOT))
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                if isinstance(node, ast.Import):
                    module = node.names[0].name
                if (
                    module
                    and module.startswith("activity")
                    and (name, function.name) not in DELIBERATE
                ):
                    hidden.append(f"{name}: {function.name} imports {module}")
    assert not hidden, hidden
