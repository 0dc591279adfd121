"""The layout of a catalog folder (`build --out DIR`), and the one place readers learn which generation to
read (`current_generation`).

    DIR/.ruleatlas            marker: a RuleAtlas build made this folder (and what it owns in it)
    DIR/.lock                 held (fcntl) by the build writing the folder
    DIR/current -> generations/a      the generation readers use; swapped by one rename
    DIR/catalog.sqlite -> current/catalog.sqlite
    DIR/site -> current/site
    DIR/cache/                the build's input caches (ATT&CK, telemetry, samples as JSON)
    DIR/generations/a/, b/    catalog.sqlite, site/, cache/ (page records), generation.json, changes

A build writes the generation readers are not using, then points `current` at it with one rename: a build
killed at any moment leaves the previous catalog and site complete and serving, and a reader resolving
`current` once per request sees the catalog and pages of one generation together (`current_generation`).

Two generation folders take turns. Unchanged files are hard links shared by both; files are only ever
replaced by rename (`output/atomic.py`), never rewritten in place, so a change in one never shows in the
other. Before an incremental build changes the idle generation it brings it up to date with the current
one: by the current one's change journal (the paths its build wrote or removed) when the idle one is
exactly the generation before, else by comparing the two trees. A generation whose `generation.json` is
missing was left unfinished (a killed build): it is compared whole, so nothing it half-wrote survives.
A full build starts from an empty folder instead, and once it is published makes the idle generation its
mirror with an empty journal (`level_idle`), so that the rebuild after it syncs by that journal too instead
of linking every file of the site before it can start. A rebuild in which nothing changed publishes no
generation at all (`build/unchanged.py`).

Everything under `generations/` belongs to the build; nothing else in DIR is ever deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ruleatlas.output import atomic

MARKER = ".ruleatlas"
MARKER_FORMAT = "ruleatlas-catalog/1"
LOCK = ".lock"
CURRENT = "current"
GENERATIONS = "generations"
TREES = ("a", "b")
STATE = "generation.json"
JOURNAL = "changes"
CATALOG = "catalog.sqlite"
SITE = "site"
# The names a build creates at the top of DIR (recorded in the marker).
OWNED = (MARKER, LOCK, CURRENT, GENERATIONS, CATALOG, SITE, "cache", "readiness.json")
# Written into the current generation outside any build (`ruleatlas readiness`), so never in a journal:
# always brought over.
ALWAYS_SYNCED = ("site/readiness",)


class OutputError(Exception):
    """The folder cannot be built into: not ours, not a folder, or another build holds it."""


@dataclass(slots=True, frozen=True)
class GenerationState:
    number: int
    pages: bool  # its site was rendered (not a --no-pages build)
    journal: bool  # its `changes` file lists every path its build changed (False: a full build)

    def to_json(self) -> dict[str, object]:
        return {
            "format": MARKER_FORMAT,
            "generation": self.number,
            "pages": self.pages,
            "journal": self.journal,
        }

    @classmethod
    def read(cls, folder: Path) -> GenerationState | None:
        try:
            data = json.loads((folder / STATE).read_text(encoding="utf-8"))
            if data.get("format") != MARKER_FORMAT:
                return None
            return cls(int(data["generation"]), bool(data["pages"]), bool(data["journal"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(slots=True, frozen=True)
class Stage:
    """The generation a build writes."""

    path: Path  # absolute
    previous: Path | None  # the current generation it starts from; None for the first build
    number: int
    fresh: bool  # starts empty (a full build)
    previous_pages: bool  # the current generation has a complete site
    discarded_unfinished: bool  # an interrupted build's leftovers were found and discarded

    @property
    def catalog(self) -> Path:
        return self.path / CATALOG

    @property
    def site(self) -> Path:
        return self.path / SITE

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL


def current_generation(out_dir: Path) -> Path:
    """The generation folder readers use now (its `catalog.sqlite` and `site/` belong together).

    A folder without `current` (a plain catalog folder, e.g. made by hand or by a test) is its own
    generation. Resolve once per request: a build may swap `current` at any moment."""
    try:
        target = os.readlink(out_dir / CURRENT)
    except OSError:
        return out_dir
    return out_dir / target


class Output:
    """A catalog folder claimed and locked by one build."""

    def __init__(self, root: Path, lock_fd: int) -> None:
        self.root = root
        self._lock_fd = lock_fd
        self._trash: list[Path] = []

    @classmethod
    @contextlib.contextmanager
    def open(cls, out: Path) -> Iterator[Output]:
        root = Path(os.path.abspath(out))
        _claim(root)
        fd = _lock(root)
        try:
            yield cls(root, fd)
        finally:
            os.close(fd)  # releases the lock

    @property
    def generations(self) -> Path:
        return self.root / GENERATIONS

    def current(self) -> Path | None:
        """The current generation's folder, or None before the first build."""
        target = current_generation(self.root)
        return target if target != self.root and target.is_dir() else None

    def remove_trash(self) -> None:
        """Remove a killed build's folders awaiting removal (every build does, even one that makes no
        generation: build/unchanged.py)."""
        trash: list[str] = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.generations) as entries:
            trash = [e.path for e in entries if e.name.startswith(".trash-")]
        for path in trash:
            shutil.rmtree(path, ignore_errors=True)

    def begin(self, *, fresh: bool) -> Stage:
        """Prepare the idle generation: empty (`fresh`), else a copy of the current one."""
        self.generations.mkdir(exist_ok=True)
        self.remove_trash()
        current = self.current()
        name = next(t for t in TREES if current is None or t != current.name)
        target = self.generations / name
        current_state = GenerationState.read(current) if current is not None else None
        target_state = GenerationState.read(target) if target.is_dir() else None
        unfinished = target.is_dir() and target_state is None and any(target.iterdir())
        number = (current_state.number if current_state is not None else 0) + 1
        fresh = fresh or current is None
        if fresh:
            if target.exists():
                trash = self.generations / f".trash-{name}-{os.getpid()}"
                os.replace(target, trash)
                self._trash.append(trash)
            target.mkdir()
        else:
            assert current is not None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target / STATE)  # from here on the folder is unfinished until commit()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target / JOURNAL)
            changes = (
                atomic.read_journal(current / JOURNAL) if current_state and current_state.journal else None
            )
            if (
                target_state is not None
                and current_state is not None
                and target_state.number == current_state.number - 1
                and changes is not None
            ):
                for rel in sorted(changes | set(ALWAYS_SYNCED)):
                    _sync(current / rel, target / rel)
            else:
                _mirror(current, target, top=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target / JOURNAL)  # a mirror may have brought the current one's journal
        return Stage(
            target,
            current,
            number,
            fresh,
            previous_pages=current_state.pages if current_state is not None else False,
            discarded_unfinished=unfinished,
        )

    def commit(self, stage: Stage, *, pages: bool) -> None:
        """Publish `stage`: record its state, then point `current` at it (one rename)."""
        state = GenerationState(stage.number, pages, journal=not stage.fresh)
        atomic.write_text(stage.path / STATE, json.dumps(state.to_json()))
        for name, target in ((CATALOG, f"{CURRENT}/{CATALOG}"), (SITE, f"{CURRENT}/{SITE}")):
            link = self.root / name
            if not link.is_symlink() or os.readlink(link) != target:
                _replace_symlink(target, link)
        _replace_symlink(f"{GENERATIONS}/{stage.path.name}", self.root / CURRENT)
        for trash in self._trash:
            shutil.rmtree(trash, ignore_errors=True)
        self._trash.clear()

    def level_idle(self, stage: Stage) -> None:
        """After a full build published `stage`: make the idle generation a hard-link mirror of it, recorded
        as the generation before it with an empty change journal, so that the next (incremental) build
        brings the idle one level by that journal instead of mirroring the whole site (tens of thousands
        of links) before it can start. Readers never use the idle generation; a build killed here leaves it
        without its state file, which the next build takes for unfinished and mirrors whole."""
        if not stage.fresh or self.current() != stage.path:
            return
        name = next(t for t in TREES if t != stage.path.name)
        idle = self.generations / name
        if idle.exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(idle / STATE)
            _mirror(stage.path, idle, top=True)
        else:
            _mirror(stage.path, idle, top=True, fresh=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(idle / JOURNAL)
        state = GenerationState.read(stage.path)
        if state is None:
            return
        atomic.write_text(stage.path / JOURNAL, "")
        atomic.write_text(
            stage.path / STATE, json.dumps(GenerationState(state.number, state.pages, True).to_json())
        )
        before = GenerationState(state.number - 1, state.pages, False)
        atomic.write_text(idle / STATE, json.dumps(before.to_json()))


def _replace_symlink(target: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _claim(root: Path) -> None:
    """Refuse a folder a RuleAtlas build did not make; mark an empty (or new) one as ours."""
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: not a folder")
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputError(f"{marker}: unreadable marker ({exc}); not building over it") from exc
        if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
            raise OutputError(
                f"{marker}: written by another version of RuleAtlas ({data!r:.80}); not building over it"
            )
        return
    entries = sorted(os.listdir(root))
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        if CATALOG in entries and MARKER not in entries:
            hint = "it holds a catalog of an older RuleAtlas, or someone else's file of that name"
        else:
            hint = "a build only writes into an empty folder or one a RuleAtlas build made"
        raise OutputError(
            f"{root}: not empty and not made by a RuleAtlas build (no {MARKER} file; found {shown}): {hint}; "
            "build into another folder, or empty this one"
        )
    atomic.write_text(marker, json.dumps({"format": MARKER_FORMAT, "owns": list(OWNED)}) + "\n")


def _lock(root: Path) -> int:
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise OutputError(
            f"{root}: another build is writing this folder{who}; wait for it to finish, or build elsewhere"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _link(source: Path | str, target: Path | str) -> None:
    """`target` becomes a hard link to `source`, replacing what was there by one rename."""
    target = os.fspath(target)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.link(source, tmp)
    os.replace(tmp, target)


def _remove(path: Path | str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _sync(source: Path, target: Path) -> None:
    """Make `target` what `source` is now: the same file (a hard link), the same tree, or nothing."""
    try:
        st = source.lstat()
    except FileNotFoundError:
        _remove(target)
        return
    if source.is_dir():
        if target.exists() and not target.is_dir():
            _remove(target)
        _mirror(source, target)
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if target.lstat().st_ino == st.st_ino:
            return
    except FileNotFoundError:
        pass
    _link(source, target)


def _mirror(source: Path | str, target: Path | str, *, top: bool = False, fresh: bool = False) -> None:
    """Make the tree `target` equal to `source`: files it lacks or holds otherwise become hard links to
    source's, and what source does not have is removed (`fresh`: `target` does not exist yet). At the top of
    a generation, its own state and journal are left alone. The idle generation has no readers, so links
    are made in place: only the end state matters, and `begin` marked the folder unfinished first."""
    source, target = os.fspath(source), os.fspath(target)
    skip = (STATE, JOURNAL) if top else ()
    present: dict[str, os.DirEntry[str]] = {}
    if fresh:
        os.mkdir(target)
    else:
        os.makedirs(target, exist_ok=True)
        with os.scandir(target) as it:
            present = {e.name: e for e in it if e.name not in skip}
    with os.scandir(source) as it:
        wanted = [e for e in it if e.name not in skip]
    names = {e.name for e in wanted}
    for name, entry in present.items():
        if name not in names:
            _remove(entry.path)
    for entry in wanted:
        path = os.path.join(target, entry.name)
        have = present.get(entry.name)
        is_dir = entry.is_dir(follow_symlinks=False)
        if have is not None and have.is_dir(follow_symlinks=False) != is_dir:
            _remove(have.path)
            have = None
        if is_dir:
            _mirror(entry.path, path, fresh=have is None)
        elif have is None:
            os.link(entry.path, path)
        elif have.inode() != entry.inode():
            os.unlink(path)
            os.link(entry.path, path)
