"""A model directory as SageMaker's `model.tar.gz`, byte for byte the same each time it is packaged.

The inference toolkit's layout: the model files at the archive root, the inference script and its requirements
under `code/` (`code/inference.py`, optional `code/requirements.txt`). Only regular files go in: a link, a
device or a FIFO is refused (the pipeline rejects archives that carry them), and caches and version-control
folders are left out. The archive is deterministic (members sorted, owners, modes and times fixed, no time or
name in the gzip header), so the same directory gives the same sha256, and so the same deployment id, with the
same zlib. Pure Python: the CLI, the sandbox and the benchmarks share it, and it needs no AWS.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

INFERENCE_SCRIPT = "code/inference.py"
REQUIREMENTS = "code/requirements.txt"
# Left out wherever they occur: caches, editor and version-control state.
SKIPPED_DIRECTORIES = frozenset({".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", ".mypy_cache"})
SKIPPED_FILES = frozenset({".DS_Store", "Thumbs.db"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
COMPRESS_LEVEL = 6  # gzip's default: model weights barely compress further at 9, and 9 is much slower
FILE_MODE, EXECUTABLE_MODE = 0o644, 0o755


class PackageInvalid(ValueError):
    """The directory cannot be packaged as it is; `fix` says what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.args[0]}; {self.fix}"


@dataclass(frozen=True)
class Package:
    sha256: str
    size: int
    files: list[str] = field(default_factory=list)

    @property
    def has_code(self) -> bool:
        return INFERENCE_SCRIPT in self.files


def members(directory: Path, *, code: Path | None = None, require_code: bool = True) -> list[tuple[str, Path]]:
    """(name in the archive, file) for every file that goes in, sorted by name; refuses what cannot go in.

    `code` is a folder whose files go under code/ instead of the directory's own code/ folder."""
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise PackageInvalid(f"{directory} {what}", fix="give the model directory (its files go to the archive root)")
    found = dict(_files(directory, ""))
    if code is not None:
        if not code.is_dir():
            raise PackageInvalid(f"--code {code} is not a directory", fix="give the folder that holds inference.py")
        if any(name.startswith("code/") for name in found):
            raise PackageInvalid(
                f"{directory / 'code'} exists and --code {code} was given too",
                fix="keep the inference code in one place: remove the directory's code/ folder or leave out --code",
            )
        found.update(_files(code, "code/"))
    unsafe = [f"{name} ({why})" for name, why in found.items() if isinstance(why, str)]
    if unsafe:
        shown = ", ".join(unsafe[:5]) + (f" and {len(unsafe) - 5} more" if len(unsafe) > 5 else "")
        raise PackageInvalid(
            f"{len(unsafe)} entr{'ies' if len(unsafe) > 1 else 'y'} cannot go into model.tar.gz: {shown}",
            fix="replace links with the files they point to and remove devices, FIFOs and sockets (SageMaker's "
            "archive must hold regular files only)",
        )
    files = sorted((name, path) for name, path in found.items() if isinstance(path, Path))
    if not files:
        raise PackageInvalid(f"{directory} has no files to package", fix="put the model files in the directory")
    if require_code and not any(name == INFERENCE_SCRIPT for name, _ in files):
        raise PackageInvalid(
            f"{directory} has no {INFERENCE_SCRIPT}",
            fix=f"add the inference script as {INFERENCE_SCRIPT} (and its dependencies in {REQUIREMENTS}), point "
            "--code at the folder that holds it, or pass --no-code if the serving image needs no script",
        )
    return files


def _files(root: Path, prefix: str) -> Iterator[tuple[str, Path | str]]:
    """Every entry under `root`: (archive name, path) for regular files, (archive name, why not) for the rest."""
    for folder, directories, names in os.walk(root, followlinks=False):
        here = Path(folder)
        relative = here.relative_to(root)
        for name in list(directories):
            if name in SKIPPED_DIRECTORIES:
                directories.remove(name)
            elif (here / name).is_symlink():  # os.walk lists a link to a directory as a directory
                directories.remove(name)
                yield _name(prefix, relative / name), f"a link to {os.readlink(here / name)}"
        for name in names:
            if name in SKIPPED_FILES or name.endswith(SKIPPED_SUFFIXES):
                continue
            path = here / name
            mode = path.lstat().st_mode
            arcname = _name(prefix, relative / name)
            if stat.S_ISLNK(mode):
                yield arcname, f"a link to {os.readlink(path)}"
            elif stat.S_ISREG(mode):
                yield arcname, path
            else:
                yield arcname, "a device, FIFO or socket"


def _name(prefix: str, relative: Path) -> str:
    return prefix + PurePosixPath(*relative.parts).as_posix()


class _HashingWriter:
    """A write-only stream that hashes and counts what passes through it on its way to `target`."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def write_package(
    out: IO[bytes],
    directory: Path,
    *,
    code: Path | None = None,
    require_code: bool = True,
    extra: dict[str, bytes] | None = None,
) -> Package:
    """Write the directory's model.tar.gz to `out`; `extra` adds files by name (another build of the same model:
    other bytes, another sha256)."""
    files = members(directory, code=code, require_code=require_code)
    writer = _HashingWriter(out)
    # mtime=0 and no file name in the gzip header; tarfile's own "w:gz" would stamp the current time there.
    with (
        gzip.GzipFile(
            filename="", mode="wb", compresslevel=COMPRESS_LEVEL, fileobj=cast(IO[bytes], writer), mtime=0
        ) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, path in files:
            try:
                info = archive.gettarinfo(str(path), arcname=name)
                with path.open("rb") as handle:
                    archive.addfile(_fixed(info), handle)
            except OSError as exc:
                raise PackageInvalid(
                    f"cannot read {path}: {exc.strerror}", fix="check the file's permissions"
                ) from None
        for name, body in sorted((extra or {}).items()):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(_fixed(info), io.BytesIO(body))
    names = [name for name, _ in files] + sorted(extra or {})
    return Package(sha256=writer.digest.hexdigest(), size=writer.size, files=names)


def _fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The same header wherever and whenever the file was written: no owner, no time, a plain mode."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = EXECUTABLE_MODE if info.mode & 0o111 else FILE_MODE
    return info


def package_model(directory: Path, *, extra: dict[str, bytes] | None = None, require_code: bool = False) -> bytes:
    """The directory's model.tar.gz in memory (small models: the sandbox's demo models, tests)."""
    buffer = io.BytesIO()
    write_package(buffer, directory, require_code=require_code, extra=extra)
    return buffer.getvalue()


def sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()
