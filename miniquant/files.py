"""Files are never lost: atomic writes, output paths checked before the work, inputs never overwritten.

``atomic_write(path)`` opens a temporary file *in the same directory* as ``path`` and renames
it over ``path`` only after everything was written and flushed to disk, so a write cut short
(a full disk, a size limit, Ctrl-C, an exception) leaves the old file as it was and no partial
file behind. ``check_output_path`` refuses, before any long computation starts, an output that
is a directory, sits in a missing or unwritable folder, or is the same file as one of the
inputs. The path is always used exactly as given (no suffix is added behind the user's back).

``check_input_file`` refuses what is not a regular file (a FIFO would block ``open`` forever, a
device would stream without end) before opening it. ``file_digest`` is the SHA-256 of a file,
which a quantized checkpoint records of its float source.

Every function that writes a file in miniquant goes through ``atomic_write``.
Tests: ``tests/test_files.py``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile

__all__ = ["atomic_write", "check_input_file", "check_output_path", "file_digest", "same_file"]


def _fspath(path, name: str) -> str:
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise ValueError(f"{name} must not be empty")
    return text


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (symlinks and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet: compare what they would resolve to
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path, *, name: str = "path", inputs=()) -> str:
    """Check that ``path`` can be written as a file and is none of ``inputs``; returns it as a ``str``.

    Raises
    ------
    ValueError
        If ``path`` is an existing directory, equals one of ``inputs`` (``None`` entries are
        ignored), or its folder does not exist.
    PermissionError
        If its folder (or the existing file) is not writable.
    """
    path = _fspath(path, name)
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a directory; give a file path")
    for source in inputs:
        if source is not None and same_file(path, source):
            raise ValueError(f"{name} {path!r} is the same file as the input {os.fspath(source)!r}; "
                             "write to another path so that the input is kept")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name} {path!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise PermissionError(f"{name} {path!r} is not writable")
    return path


def check_input_file(path, *, name: str = "path") -> str:
    """Check that ``path`` exists and is a regular file (not a FIFO, device or folder); returns it as a ``str``."""
    path = _fspath(path, name)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} {path!r} does not exist") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name} {path!r} is not a regular file")
    return path


@contextlib.contextmanager
def atomic_path(path, *, name: str = "path"):
    """A temporary path beside ``path`` for a writer that opens files itself; on success the file there
    replaces ``path``, on any error it is removed. (``atomic_write`` is the same with the file opened.)

    Permissions of a file that is replaced are kept; a new file gets the usual ``0o666 & ~umask``.
    """
    path = _fspath(path, name)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        with open(tmp, "rb") as fh:          # what the writer wrote reaches the disk before it takes the name
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, name: str = "path", **open_options):
    """Open a temporary file beside ``path``; on success it replaces ``path``, on any error it is removed.

    Yields the open file object (``atomic_path`` gives the path instead).

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> target = os.path.join(folder, "notes.txt")
    >>> with atomic_write(target, "w") as fh:
    ...     _ = fh.write("kept")
    >>> try:
    ...     with atomic_write(target, "w") as fh:
    ...         _ = fh.write("half a fi")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> pathlib.Path(target).read_text(), sorted(os.listdir(folder))
    ('kept', ['notes.txt'])
    """
    if "w" not in mode or any(c in mode for c in "ax+"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path, name=name) as tmp:
        with open(tmp, mode, **open_options) as fh:
            yield fh


def file_digest(path, *, chunk: int = 2**20) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(check_input_file(path), "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
