"""Atomic writes of the cache, the benchmark's results and the checkpoints."""

import os
import stat

import pytest

from sklearn_supreme._atomic import atomic_write


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_file_has_the_permissions_of_open(tmp_path, umask):
    # tempfile.mkstemp's 0600 would lock other users out of a shared cache.
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "new.npz") as f:
            f.write(b"data")
        with open(tmp_path / "plain", "wb") as f:
            f.write(b"data")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new.npz") == _mode(tmp_path / "plain") == 0o666 & ~umask


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path, "w") as f:
            f.write("half of the new")
            raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["result.json"]
    with atomic_write(path, "w", fsync=True) as f:
        f.write("new")
    assert path.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["result.json"]


def test_a_temporary_name_taken_by_another_writer_is_left_alone(tmp_path, monkeypatch):
    # O_EXCL: should the random name clash, the other writer's file is neither
    # written over nor removed, and the target is not touched.
    monkeypatch.setattr("secrets.token_hex", lambda n: "clash")
    path = tmp_path / "result.json"
    path.write_text("old")
    theirs = tmp_path / ".result.json.clash.tmp"
    theirs.write_text("another writer's")
    with pytest.raises(FileExistsError):
        with atomic_write(path, "w") as f:
            f.write("new")
    assert theirs.read_text() == "another writer's"
    assert path.read_text() == "old"


@pytest.mark.parametrize("fsync", [False, True])
def test_fsync_flushes_the_data_before_the_move(tmp_path, monkeypatch, fsync):
    path = tmp_path / "result.json"
    synced = []

    def record(fd):
        # the file's size on disk at the fsync: flushed from Python's buffer first
        synced.append(os.fstat(fd).st_size)
        assert not path.exists()  # before the move

    monkeypatch.setattr(os, "fsync", record)
    with atomic_write(path, "w", fsync=fsync) as f:
        f.write("new")
    assert synced == ([len("new")] if fsync else [])
    assert path.read_text() == "new"
