"""Every shell command shown in README.md and docs/*.md runs, and every example script runs.

Shell blocks are the fenced ```bash blocks (```python blocks run with python). Each runs as one bash script from
the repository root with ``set -e``; the set-up steps (``pip install ...``) are
left out because the test session is already installed. Blocks that use M3GNet
need IONNET_M3GNET_PATH (set by .ci/run when ../shared is present).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each block runs in a subprocess; `-m "not slow"` skips them

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks():
    for doc in DOCS:
        if not doc.exists():
            continue
        text = doc.read_text()
        for k, m in enumerate(re.finditer(r"```bash\n(.*?)```", text, flags=re.S)):
            yield pytest.param(doc.name, m.group(1), id=f"{doc.name}-{k}")


def _strip_setup(block: str) -> str:
    lines = []
    for line in block.splitlines():
        # 'pip install A && pip install B && cmd' -> 'cmd'
        parts = [p.strip() for p in line.split("&&")]
        parts = [p for p in parts if not p.startswith("pip install") and not p.startswith("git clone")
                 and not p.startswith("cd ionnet")
                 and not p.startswith("python -m pytest")]  # the test command itself: that is this run
        lines.append(" && ".join(parts))
    return "\n".join(lines)


@pytest.mark.parametrize("doc, block", list(_blocks()))
def test_doc_commands_run(doc, block):
    if "m3gnet" in block.lower() and not os.environ.get("IONNET_M3GNET_PATH"):
        pytest.skip("block uses M3GNet; IONNET_M3GNET_PATH is not set (the weights live in ../shared/models)")
    script = "set -euo pipefail\nmkdir -p out\n" + _strip_setup(block)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", MPLBACKEND="Agg")
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, f"{doc} block failed:\n{script}\n--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-3000:]}"


def _python_blocks():
    for doc in DOCS:
        if not doc.exists():
            continue
        for k, m in enumerate(re.finditer(r"```python\n(.*?)```", doc.read_text(), flags=re.S)):
            yield pytest.param(doc.name, m.group(1), id=f"{doc.name}-py{k}")


@pytest.mark.parametrize("doc, code", list(_python_blocks()))
def test_doc_python_runs(doc, code):
    if "m3gnet" in code.lower() and not os.environ.get("IONNET_M3GNET_PATH"):
        pytest.skip("block uses M3GNet; IONNET_M3GNET_PATH is not set")
    env = dict(os.environ, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, f"{doc} python block failed:\n{code}\n--- stderr\n{r.stderr[-3000:]}"


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=900)
    assert r.returncode == 0, f"{script.name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert r.stdout.strip(), f"{script.name} printed nothing"
