"""The code a component runs, by content, for TFX's cache keys.

Why: TFX keys a custom component by its class path and parameters, and the Trainer by its
``run_fn`` name, so after an upgrade of the ingestion, domain-transfer, trainer or metric code a
rerun reused every output the old code made (old LAF scores, model, metrics and blessing). Ingestion
is the costly stage (every video decoded and embedded again), so it keys on the code it imports
only (:data:`INGESTION`), and so does the validation gate after it (:data:`GATE`): a trainer or
metric upgrade reruns domain transfer and what follows it, not ingestion
(``pipeline.pipeline.create_pipeline``).
"""
from __future__ import annotations

import ast
import hashlib
import os
from typing import Iterator, List, Optional, Sequence

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_PACKAGES = ("components", "laf", "pipeline", "schemas", "trainer")
NOT_RUN = ("laf/cli.py", "laf/commands", "laf/demo", "laf/report", "pipeline/local_runner.py",
           "pipeline/kubeflow_v2_runner.py")  # no component runs them
LOCK_FILE = "requirements.lock"  # the library versions (a checkout's; an installed package has none)
INGESTION = ("components/video_ingest/component.py", "components/image_ingest/component.py")  # and what they import
GATE = ("components/validation_gate/component.py",)  # ValidationGate, which checks ingestion's output


def _runs(path: str) -> bool:
    """Whether a file at ``path`` (relative, "/"-separated) is code a component may run: a source
    or schema file, not an editor's hidden lock or backup file, not under :data:`NOT_RUN`."""
    name = path.rsplit("/", 1)[-1]
    return (name.endswith((".py", ".pbtxt")) and not name.startswith(".")
            and not any(path == skip or path.startswith(skip + "/") for skip in NOT_RUN))


def _every_file(root: str) -> List[str]:
    """Every file of :data:`CODE_PACKAGES` a component may run (:func:`_runs`), sorted."""
    paths = []
    for package in CODE_PACKAGES:
        for folder, dirs, names in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                path = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                if _runs(path) and os.path.isfile(os.path.join(root, path)):
                    paths.append(path)
    return paths


def _module_file(root: str, module: str) -> Optional[str]:
    """The project file of a dotted module or package name, if it is one of :data:`CODE_PACKAGES`."""
    if module.split(".")[0] not in CODE_PACKAGES:
        return None
    base = "/".join(module.split("."))
    for path in (f"{base}/__init__.py", f"{base}.py"):
        if os.path.isfile(os.path.join(root, path)):
            return path
    return None


def _imported(root: str, path: str) -> Iterator[str]:
    """The project files ``path`` imports anywhere in it (inside functions too), each package on
    the way included: ``from laf.ingest import media`` names laf, laf.ingest and laf.ingest.media."""
    with open(os.path.join(root, path), "rb") as f:
        tree = ast.parse(f.read(), path)
    package = path[:-len(".py")].split("/")[:-1]  # a module's package; a package's own __init__ too
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (package[:len(package) - node.level + 1] if node.level else []) + (node.module or "").split(".")
            base = [part for part in base if part]
            names = [".".join(base)] + [".".join(base + [alias.name]) for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                found = _module_file(root, ".".join(parts[:end]))
                if found:
                    yield found


def imported_files(root: str, entries: Sequence[str]) -> List[str]:
    """``entries`` and every project file they import, transitively, sorted."""
    seen, todo = set(), list(entries)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imported(root, path))
    return sorted(seen)


def code_version(root: str = PROJECT_ROOT, entries: Optional[Sequence[str]] = None) -> str:
    """A short hash, by path and content, of the checkout's ``requirements.lock`` and of the code:
    every file a component may run (:func:`_runs`), or with ``entries`` the files they import
    (:func:`imported_files`) and the data contract (``schemas/*.pbtxt``)."""
    if entries is None:
        code = _every_file(root)
    else:
        contract = [p for p in _every_file(root) if p.startswith("schemas/") and p.endswith(".pbtxt")]
        code = sorted(set(imported_files(root, entries)) | set(contract))
    digest = hashlib.sha256()
    for path in ([LOCK_FILE] if os.path.isfile(os.path.join(root, LOCK_FILE)) else []) + code:
        with open(os.path.join(root, path), "rb") as f:
            digest.update(path.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:16]
