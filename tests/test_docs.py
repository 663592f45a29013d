"""Every shell command shown in README.md and docs/*.md runs as written in a fresh clone, and every example runs.

Shell blocks are the fenced ```bash blocks (```python blocks run with python). The repository is
``git clone``d into a temporary folder (with this working tree's uncommitted and new files copied
over, so the test checks what is being changed), and each block runs there, in document order, as one
bash script with ``set -euo pipefail``: nothing is created beforehand (no ``mkdir out``), so a
command that needs a step the reader is not told about fails here. Only the installation steps
(``pip install ...``, ``git clone``, ``cd ionnet``) and the test command itself are left out, because
the test session is installed already. ``../shared`` beside the clone points at this repository's
``../shared`` when there is one (the documented layout for the M3GNet weights); blocks that use M3GNet
need IONNET_M3GNET_PATH (set by .ci/run when ../shared is present).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each block runs in a subprocess; `-m "not slow"` skips them

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def fresh_clone(dest: Path) -> Path:
    """``git clone`` of this repository into ``dest/ionnet``, plus the working tree's changes.

    Modified and new (not ignored) files are copied over and deleted files removed, so the clone
    holds exactly what ``git status`` would commit; nothing ignored (``out/``, ``*.npz`` outputs,
    caches) comes along.
    """
    clone = dest / "ionnet"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True,
                   capture_output=True)
    for rel in _git("ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0"):
        if not rel:
            continue
        src, dst = ROOT / rel, clone / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for rel in _git("ls-files", "-z", "--deleted").split("\0"):
        if rel and (clone / rel).exists():
            (clone / rel).unlink()
    shared = ROOT.parent / "shared"
    if shared.exists():
        (dest / "shared").symlink_to(shared.resolve())
    return clone


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return fresh_clone(tmp_path_factory.mktemp("fresh"))


def _env(clone: Path) -> dict[str, str]:
    """The test's environment with the clone's ionnet first on the path (no ``out/`` or other set-up)."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", MPLBACKEND="Agg",
                PYTHONPATH=str(clone))


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


def test_strip_setup_adds_nothing():
    """Only installation steps are removed; no set-up (``mkdir``) is added before a block."""
    block = "pip install torch && pip install -e '.[all]' && ionnet analyze x.cif -o out/x.npz\nls out"
    assert _strip_setup(block) == "ionnet analyze x.cif -o out/x.npz\nls out"


def test_clone_is_fresh(clone):
    """The clone has the repository's files but no ignored outputs (``out/``) from earlier runs."""
    assert (clone / "README.md").read_text() == (ROOT / "README.md").read_text()
    assert not (clone / "out").exists()
    assert not list(clone.glob("**/*.sqlite"))


@pytest.mark.parametrize("doc, block", list(_blocks()))
def test_doc_commands_run(doc, block, clone):
    if "m3gnet" in block.lower() and not os.environ.get("IONNET_M3GNET_PATH"):
        pytest.skip("block uses M3GNet; IONNET_M3GNET_PATH is not set (the weights live in ../shared/models)")
    script = "set -euo pipefail\n" + _strip_setup(block)
    r = subprocess.run(["bash", "-c", script], cwd=clone, capture_output=True, text=True, env=_env(clone),
                       timeout=900)
    assert r.returncode == 0, f"{doc} block failed:\n{script}\n--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, f"{doc} block printed a traceback:\n{r.stderr[-3000:]}"


def _python_blocks():
    for doc in DOCS:
        if not doc.exists():
            continue
        for k, m in enumerate(re.finditer(r"```python\n(.*?)```", doc.read_text(), flags=re.S)):
            yield pytest.param(doc.name, m.group(1), id=f"{doc.name}-py{k}")


@pytest.mark.parametrize("doc, code", list(_python_blocks()))
def test_doc_python_runs(doc, code, clone):
    if "m3gnet" in code.lower() and not os.environ.get("IONNET_M3GNET_PATH"):
        pytest.skip("block uses M3GNet; IONNET_M3GNET_PATH is not set")
    r = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True, env=_env(clone),
                       timeout=900)
    assert r.returncode == 0, f"{doc} python block failed:\n{code}\n--- stderr\n{r.stderr[-3000:]}"


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run(script, tmp_path, clone):
    r = subprocess.run([sys.executable, str(clone / "examples" / script.name), str(tmp_path)], cwd=clone,
                       capture_output=True, text=True, env=_env(clone), timeout=900)
    assert r.returncode == 0, f"{script.name} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert r.stdout.strip(), f"{script.name} printed nothing"
