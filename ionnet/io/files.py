"""Safe output files: checked before the work starts, written atomically after it.

Every file ionnet writes (grids, checkpoints, exports, pictures, JSON, CSV)
goes through :func:`atomic_path`: the data go to a fresh temporary file in the
target's own folder (a unique name from :mod:`tempfile`, created exclusively, so
a symlink placed there is never followed and two writers never share it), and
``os.replace`` then swaps it in.  A reader sees the old file or the new one,
never half of one; a failed write leaves the old file and no temporary behind.

:func:`check_output` runs before any expensive work (a scan): it creates the
output's folder, and refuses a folder, an unwritable place, or an output that
is one of the inputs, with a one-line :class:`~ionnet.errors.OutputError`.

Examples
--------
>>> import os, tempfile
>>> from ionnet.io.files import atomic_path, check_output
>>> d = tempfile.mkdtemp()
>>> target = check_output(os.path.join(d, "new", "x.txt"))   # creates the folder "new"
>>> with atomic_path(target) as tmp:
...     _ = open(tmp, "w").write("hello")
>>> open(target).read(), sorted(os.listdir(os.path.dirname(target)))
('hello', ['x.txt'])
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator

from ..errors import OutputError

__all__ = ["atomic_path", "check_output", "check_folder", "ensure_folder", "safe_name", "same_file", "one_line"]


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one printable line of at most ``limit`` characters (control characters replaced)."""
    s = " ".join(str(text).split())
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def safe_name(name: object, *, limit: int = 120) -> str:
    """``name`` (e.g. a data set's id) as one file name that stays inside its folder.

    Path separators, ``..``, a leading dot, control and other unsafe characters
    become ``_``; when anything was changed (or the name is too long) a short
    hash of the original is appended, so two ids never share a file.

    Examples
    --------
    >>> safe_name("x1"), safe_name("../../etc/passwd")[:15], safe_name("/abs/input")[:10]
    ('x1', '_.._etc_passwd-', 'abs_input-')
    """
    import hashlib
    import re

    text = str(name)
    clean = re.sub(r"[^A-Za-z0-9._+-]", "_", text).strip("_") or "_"
    clean = clean.lstrip(".") or "_"
    if clean != text or len(clean) > limit:
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        clean = f"{clean[:limit]}-{digest}"
    return clean


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one existing file (links resolved), or the same path."""
    a, b = os.fspath(a), os.fspath(b)
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def ensure_folder(folder: str, what: str, error: type[Exception] = OutputError) -> str:
    """Create ``folder`` and its parents if missing; on failure raise
    ``error("cannot create <what> (<the OS's reason>); choose a writable place")``.

    Examples
    --------
    >>> import tempfile, os
    >>> d = ensure_folder(os.path.join(tempfile.mkdtemp(), "a", "b"), "it")
    >>> os.path.isdir(d)
    True
    >>> f = os.path.join(tempfile.mkdtemp(), "x{y}"); _ = open(f, "w").close()
    >>> ensure_folder(os.path.join(f, "sub"), f"folder {{z}}")
    Traceback (most recent call last):
    ...
    ionnet.errors.OutputError: cannot create folder {z} (Not a directory); choose a writable place
    """
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise error(f"cannot create {what} ({e.strerror or e}); choose a writable place") from None
    return folder


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), option: str = "--output",
                 suffixes: tuple[str, ...] | None = None) -> str:
    """Check an output path before the work that fills it; create its folder.

    Parameters
    ----------
    path : path-like
        The file to be written.
    inputs : iterable of path-like
        Files read by the same command: the output may not be one of them.
    option : str
        How the user named the output (for the message).
    suffixes : tuple of str, optional
        Allowed endings (e.g. ``(".npz",)``).

    Returns
    -------
    str
        ``path`` as a string.

    Raises
    ------
    OutputError
        The path is a folder, is one of the inputs, has the wrong ending, or its
        folder cannot be created or written.
    """
    target = os.fspath(path)
    if not target or target.endswith(os.sep):
        raise OutputError(f"{option} {target!r} is not a file name; give a file such as out/result.npz")
    if suffixes and not target.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise OutputError(f"{option} must end in {' or '.join(suffixes)} (got {one_line(target)!r})")
    if os.path.isdir(target):
        raise OutputError(f"{option} {one_line(target)} is a folder; give a file name inside it")
    for src in inputs:
        if src is not None and same_file(target, src):
            raise OutputError(f"{option} {one_line(target)} is an input of this command; choose another output file")
    folder = ensure_folder(os.path.dirname(os.path.abspath(target)), f"the folder of {option} {one_line(target)}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {option} {one_line(target)}: folder {one_line(folder)} is not writable")
    if os.path.lexists(target) and not os.path.isfile(target) and not os.path.islink(target):
        raise OutputError(f"{option} {one_line(target)} exists and is not a regular file; choose another output file")
    return target


def check_folder(path: str | os.PathLike, *, option: str = "--out") -> str:
    """Create the output folder ``path`` (if missing) and check that files can be written in it.

    Raises
    ------
    OutputError
        ``path`` is a file, or cannot be created or written.
    """
    folder = os.fspath(path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{option} {one_line(folder)} is a file, not a folder; give a folder name")
    ensure_folder(folder, f"{option} folder {one_line(folder)}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write in {option} folder {one_line(folder)}; choose a writable place")
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mkdir: bool = True) -> Iterator[str]:
    """Yield a fresh temporary path next to ``path``; on success move it onto ``path``.

    The temporary file keeps ``path``'s extension (writers that pick a format from
    it still work), is created with ``O_EXCL`` (never a symlink's target) and is
    removed if the block raises.  The final file gets the usual ``0666 & ~umask``
    permissions.

    Raises
    ------
    OutputError
        The folder cannot be created or written, or ``path`` is a folder.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise OutputError(f"cannot write {one_line(target)}: it is a folder")
    try:
        if mkdir:
            os.makedirs(folder, exist_ok=True)
        base = os.path.basename(target)
        ext = os.path.splitext(base)[1]
        fd, tmp = tempfile.mkstemp(prefix=f".{base[:80]}.", suffix=f".tmp{ext}", dir=folder)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"cannot write {one_line(target)} ({e.strerror or e}); choose a writable folder") from None
    try:
        yield tmp
        os.chmod(tmp, stat.S_IMODE(0o666 & ~_umask()))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
