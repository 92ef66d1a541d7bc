import gzip
import hashlib
import io
import random
import tarfile

import pytest

from mlrollout.domain.artifact import inspect_artifact
from mlrollout.domain.errors import ArtifactInvalid


def tarball(members: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return buffer.getvalue()


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_a_good_artifact_is_hashed_over_its_raw_bytes() -> None:
    data = tarball({"model.joblib": b"weights", "code/inference.py": b"def predict(x): return x"})
    report = inspect_artifact(io.BytesIO(data), max_bytes=10**6, framework="sklearn")
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data)
    assert sorted(report.files) == ["code/inference.py", "model.joblib"]


def test_empty_object() -> None:
    with pytest.raises(ArtifactInvalid, match="empty"):
        inspect_artifact(io.BytesIO(b""), max_bytes=100)


def test_not_gzip_names_the_bytes_it_saw() -> None:
    with pytest.raises(ArtifactInvalid, match="not gzip-compressed .*504b"):
        inspect_artifact(io.BytesIO(b"PK\x03\x04 a zip file"), max_bytes=100)


def test_gzip_but_not_tar() -> None:
    with pytest.raises(ArtifactInvalid, match="gzip but not a readable tar"):
        inspect_artifact(io.BytesIO(gzip.compress(b"just some text, not a tar archive" * 20)), max_bytes=10**6)


def test_truncated_archive() -> None:
    data = tarball({"model.joblib": b"x" * 5000})
    with pytest.raises(ArtifactInvalid, match="gzip but not a readable tar"):
        inspect_artifact(io.BytesIO(data[: len(data) // 2]), max_bytes=10**6)


@pytest.mark.parametrize(
    ("info", "why"),
    [
        (special("/etc/passwd", tarfile.REGTYPE), "absolute path"),
        (special("../../escape.py", tarfile.REGTYPE), "'..'"),
        (special("model/../../x", tarfile.REGTYPE), "'..'"),
        (special("link", tarfile.SYMTYPE, "/etc/shadow"), "is a link"),
        (special("hard", tarfile.LNKTYPE, "model.joblib"), "is a link"),
        (special("dev", tarfile.CHRTYPE), "device or FIFO"),
        (special("fifo", tarfile.FIFOTYPE), "device or FIFO"),
    ],
)
def test_unsafe_members_are_listed(info: tarfile.TarInfo, why: str) -> None:
    data = tarball({"model.joblib": b"w"}, [info])
    with pytest.raises(ArtifactInvalid, match="unsafe member") as raised:
        inspect_artifact(io.BytesIO(data), max_bytes=10**6)
    assert why in str(raised.value)


def test_over_the_size_limit_stops_reading() -> None:
    data = tarball({"model.joblib": random.Random(7).randbytes(50_000)})  # incompressible
    with pytest.raises(ArtifactInvalid, match="larger than the configured limit of 1,000 bytes"):
        inspect_artifact(io.BytesIO(data), max_bytes=1000)


def test_framework_files_are_required() -> None:
    data = tarball({"README.md": b"hello"})
    with pytest.raises(ArtifactInvalid, match="no model file for framework 'pytorch'.*README.md"):
        inspect_artifact(io.BytesIO(data), max_bytes=10**6, framework="pytorch")
    assert inspect_artifact(io.BytesIO(data), max_bytes=10**6, framework="custom").files == ["README.md"]


def test_an_archive_of_only_directories_has_no_files() -> None:
    data = tarball({}, [special("model", tarfile.DIRTYPE)])
    with pytest.raises(ArtifactInvalid, match="contains no files"):
        inspect_artifact(io.BytesIO(data), max_bytes=10**6)


@pytest.mark.parametrize("cut", [1, 4, 8])
def test_a_cut_gzip_trailer_is_refused(cut: int) -> None:
    # the tar archive (end-of-archive marker included) is intact; only the gzip CRC-32/length trailer is short
    data = tarball({"model.joblib": b"weights" * 100})
    with pytest.raises(ArtifactInvalid, match="gzip stream is cut or corrupt"):
        inspect_artifact(io.BytesIO(data[:-cut]), max_bytes=10**6, framework="sklearn")


def test_a_gzip_trailer_that_does_not_match_is_refused() -> None:
    data = bytearray(tarball({"model.joblib": b"weights" * 100}))
    data[-8] ^= 0xFF  # the CRC-32 of the uncompressed data
    with pytest.raises(ArtifactInvalid, match="gzip stream is cut or corrupt.*CRC"):
        inspect_artifact(io.BytesIO(bytes(data)), max_bytes=10**6, framework="sklearn")


def test_a_multi_member_gzip_is_read_to_its_end() -> None:
    # `cat a.gz b.gz` is valid gzip (tar -xzf reads both members); the tar inside spans them
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("model.joblib")
        info.size = 4000
        archive.addfile(info, io.BytesIO(b"w" * 4000))
    plain = raw.getvalue()
    data = gzip.compress(plain[:3000]) + gzip.compress(plain[3000:])
    report = inspect_artifact(io.BytesIO(data), max_bytes=10**6, framework="sklearn")
    assert report.files == ["model.joblib"] and report.size == len(data)
