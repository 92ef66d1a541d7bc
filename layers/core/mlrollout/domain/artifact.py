"""Inspection of an uploaded model.tar.gz, streamed: nothing is extracted, nothing is written to disk.

The archive is read once, front to back, while its sha256 is computed over the raw bytes, so a multi-GB
artifact costs one pass and constant memory.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import IO, BinaryIO, cast

from mlrollout.domain.errors import ArtifactInvalid

GZIP_MAGIC = b"\x1f\x8b"

# What SageMaker's framework containers load, by framework; "custom" images decide for themselves.
REQUIRED_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "sklearn": (
        ("*.joblib", "*.pkl", "*.pickle", "code/inference.py"),
        "a *.joblib/*.pkl model or code/inference.py",
    ),
    "pytorch": (("*.pt", "*.pth", "*.mar", "code/inference.py"), "a *.pt/*.pth model or code/inference.py"),
    "xgboost": (("*.json", "*.ubj", "*.bst", "*.model", "xgboost-model"), "an XGBoost model file"),
    "tensorflow": (
        ("*/saved_model.pb", "saved_model.pb", "*/*/saved_model.pb"),
        "a SavedModel (saved_model.pb)",
    ),
}


@dataclass
class ArtifactReport:
    sha256: str
    size: int
    files: list[str] = field(default_factory=list)

    @property
    def file_count(self) -> int:
        return len(self.files)


class _HashingReader:
    """Wraps a byte stream; everything read through it is hashed and counted."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.raw.read(n if n is not None and n >= 0 else 1024 * 1024)
        self.size += len(chunk)
        if self.size > self.limit:
            raise ArtifactInvalid(
                f"the artifact is larger than the configured limit of {self.limit:,} bytes",
                fix="upload a smaller artifact, or raise the stack parameter MaxArtifactMiB",
            )
        self.digest.update(chunk)
        return chunk

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass


# What to do about each kind of unsafe member; the rejection names the fixes for the kinds it found.
PATH_FIX = "archive relative paths from inside the model directory (tar -czf model.tar.gz -C <model dir> .)"
LINK_FIX = "replace links with the files they point to (tar -h follows them: tar -czhf model.tar.gz -C <model dir> .)"
SPECIAL_FIX = "leave device files, FIFOs and other special files out of the model directory"


def _unsafe_reason(member: tarfile.TarInfo) -> tuple[str, str] | None:
    """Why SageMaker must not extract `member`, and the fix; None when it is a plain file or directory."""
    name = member.name
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path", PATH_FIX
    if ".." in name.replace("\\", "/").split("/"):
        return "climbs out of the archive with '..'", PATH_FIX
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        return f"is a link ({kind}, to {member.linkname!r})", LINK_FIX
    if member.ischr() or member.isblk() or member.isfifo():
        kind = "character device" if member.ischr() else "block device" if member.isblk() else "named pipe"
        return f"is a device or FIFO ({kind})", SPECIAL_FIX
    if not (member.isfile() or member.isdir()):
        return "is not a regular file or directory", SPECIAL_FIX
    return None


def inspect_artifact(stream: BinaryIO, *, max_bytes: int, framework: str = "custom") -> ArtifactReport:
    """Check that `stream` is a safe gzip-compressed tar that the framework can load; hash it."""
    reader = _HashingReader(stream, max_bytes)
    head = reader.read(2)
    if not head:
        raise ArtifactInvalid(
            "the artifact is empty (0 bytes)",
            fix="upload the model.tar.gz again; the upload may have been cut",
        )
    if head != GZIP_MAGIC:
        raise ArtifactInvalid(
            f"the artifact is not gzip-compressed (it starts with bytes {head.hex()}, gzip starts with 1f8b)",
            fix="package the model with `tar -czf model.tar.gz -C <model dir> .`",
        )
    files: list[str] = []
    unsafe: list[str] = []
    fixes: list[str] = []
    # Decompressed here rather than by tarfile's "r|gz": tarfile never checks the gzip trailer, while GzipFile
    # checks each member's CRC-32 and length once it is read to its end.
    unpacked = gzip.GzipFile(fileobj=cast(IO[bytes], _Prefixed(head, reader)), mode="rb")
    try:
        with tarfile.open(fileobj=unpacked, mode="r|") as archive:
            for member in archive:
                found = _unsafe_reason(member)
                if found:
                    unsafe.append(f"{member.name!r} {found[0]}")
                    if found[1] not in fixes:
                        fixes.append(found[1])
                elif member.isfile():
                    files.append(member.name.removeprefix("./"))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArtifactInvalid(
            f"the artifact is gzip but not a readable tar archive ({exc})",
            fix="package the model with `tar -czf model.tar.gz -C <model dir> .` (a .gz of a single file is "
            "not enough)",
        ) from None
    _read_to_gzip_end(unpacked)
    reader.drain()
    if unsafe:
        shown = "; ".join(unsafe[:5]) + (f"; and {len(unsafe) - 5} more" if len(unsafe) > 5 else "")
        raise ArtifactInvalid(
            f"the artifact has {len(unsafe)} unsafe member{'s' if len(unsafe) > 1 else ''}: {shown}",
            fix="; ".join(fixes),
        )
    if not files:
        raise ArtifactInvalid(
            "the artifact contains no files", fix="archive the model directory's files into model.tar.gz"
        )
    _check_required(files, framework)
    return ArtifactReport(sha256=reader.digest.hexdigest(), size=reader.size, files=files)


def _read_to_gzip_end(unpacked: gzip.GzipFile) -> None:
    """The tar reader stops at the end-of-archive marker; `tar -xzf` on the serving host reads on to the gzip
    trailer (CRC-32 and length, the last 8 bytes) and fails when it is cut or does not match, so read it too."""
    try:
        while unpacked.read(1024 * 1024):
            pass
    except (EOFError, zlib.error, OSError) as exc:
        raise ArtifactInvalid(
            f"the artifact's gzip stream is cut or corrupt after the tar archive ({exc}); `tar -xzf` on the "
            "serving instance would fail on it",
            fix="upload the model.tar.gz again (the upload may have been cut), or repackage it with "
            "`tar -czf model.tar.gz -C <model dir> .` and check it with `gzip -t model.tar.gz`",
        ) from None


def _check_required(files: list[str], framework: str) -> None:
    if framework not in REQUIRED_FILES:
        return
    patterns, wanted = REQUIRED_FILES[framework]
    if not any(fnmatch.fnmatch(name, pattern) for name in files for pattern in patterns):
        shown = ", ".join(files[:8]) + (" ..." if len(files) > 8 else "")
        raise ArtifactInvalid(
            f"the artifact has no model file for framework {framework!r}: expected {wanted}, found {shown}",
            fix="add the model file at the archive root, or set `framework: custom` in rollout.yaml",
        )


class _Prefixed:
    """A reader that first returns bytes already consumed (the sniffed gzip magic), then the rest."""

    def __init__(self, prefix: bytes, reader: _HashingReader) -> None:
        self.prefix = prefix
        self.reader = reader

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            if n is None or n < 0:
                data, self.prefix = self.prefix + self.reader.read(-1), b""
                return data
            data, self.prefix = self.prefix[:n], self.prefix[n:]
            if len(data) < n:
                data += self.reader.read(n - len(data))
            return data
        return self.reader.read(n)
