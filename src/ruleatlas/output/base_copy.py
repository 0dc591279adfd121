"""The copy of the current catalog that an incremental build patches, started as soon as the plan knows the
build is incremental, in a thread, so that it runs while ATT&CK and telemetry load and the changed files are
parsed instead of at the start of the store step.

The file system here (ext4) has no reflinks, so a patched catalog is a real copy (~470 MB for all vendors):
the kernel copies it (`sendfile`, no Python in the loop, the interpreter lock released), and on a machine
with a second core that is wall time the build no longer waits for. The copy goes into the catalog folder's
`generations/` (the same file system: it is renamed into the new generation, never copied twice), under a
name `begin` never takes for a generation; one a killed build left is removed by the next build.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

PREFIX = ".base-"


def remove_stale(folder: Path) -> None:
    """Remove the copies a killed build left in `folder` (call with the build lock held: none is in use)."""
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


class BaseCopy:
    """`source` being copied to a temporary file beside the generations; `take` waits for it."""

    def __init__(self, source: Path, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale(folder)
        self.source = source
        self.path = folder / f"{PREFIX}{os.getpid()}.sqlite"
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, name="catalog-base-copy", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            shutil.copyfile(self.source, self.path)
        except BaseException as exc:  # re-raised in the build's thread by `take`
            self._error = exc

    def take(self, target: Path) -> None:
        """Wait for the copy and rename it to `target` (on the same file system); OSError when it failed."""
        self._thread.join()
        if self._error is not None:
            self.discard()
            raise self._error
        os.replace(self.path, target)

    def discard(self) -> None:
        """Wait for the copy and remove it (the build did not use it)."""
        self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
