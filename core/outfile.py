"""Writing a file the user named (an export, a packaged model's files): one mechanism for all.

- A target that is, or lies inside, one of the project's own files (its database and the
  database's -wal/-shm/-journal, taxonomy.toml, nerloop.toml, models/) is refused: an export
  onto them would destroy the project. Symlinks and hard links are seen through.
- A new file, or an existing regular file with one link, is written to a temporary file beside
  it and renamed into place only when complete, keeping the old file's permissions (and owner,
  where allowed): a failed export leaves the old file as it was.
- A hard-linked file, a FIFO or a device is written in place (a rename would split the link or
  replace the pipe), and a symlink's target is written, not the link.
- Every failure names the target the user gave, never a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from nerloop.core.project import PROJECT_FILES


class OutputError(Exception):
    """The target cannot or must not be written; the message names it."""


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any worker thread.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def refuse_project_files(target: Path, project_dir: Path, shown: Path | str | None = None) -> None:
    """Raise OutputError if writing `target` would write one of the project's own files."""
    name = shown if shown is not None else target
    real = Path(os.path.realpath(target))
    try:
        target_stat: os.stat_result | None = os.stat(real)
    except OSError:
        target_stat = None
    for own in PROJECT_FILES:
        protected = project_dir / own
        real_protected = Path(os.path.realpath(protected))
        inside = real == real_protected or real_protected in real.parents
        linked = False
        if target_stat is not None and not inside:
            try:
                linked = _same_file(target_stat, os.stat(real_protected))
            except OSError:
                linked = False
        if inside or linked:
            raise OutputError(
                f"{name}: refusing to write over the project's own {own} "
                f"({project_dir / own}); choose another output path"
            )


@contextmanager
def output_file(
    target: Path, mode: Literal["w", "wb"] = "w", *, shown: Path | str | None = None
) -> Iterator[IO[Any]]:
    """Open `target` for writing as the module docstring says (`mode` "w" for UTF-8 text with
    \\n line ends, "wb" for bytes). `shown` is the name errors use (default: `target`)."""
    name = shown if shown is not None else target
    real = Path(os.path.realpath(target))
    try:
        old: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise OutputError(f"{name}: cannot write: {exc.strerror}") from None
    kwargs: dict[str, Any] = {} if mode == "wb" else {"encoding": "utf-8", "newline": "\n"}
    try:
        if old is not None and (not stat.S_ISREG(old.st_mode) or old.st_nlink > 1):
            with open(real, mode, **kwargs) as fh:
                yield fh
            return
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
    except OSError as exc:
        raise OutputError(f"{name}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        if old is None:
            os.chmod(tmp, 0o666 & ~_UMASK)
        else:
            os.chmod(tmp, stat.S_IMODE(old.st_mode))
            # Only root may give a file away; the mode is kept all the same.
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, real)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{name}: cannot write: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
