"""Atomic writes of the cache, the benchmark's results and the checkpoints."""

import os
import re
import stat

import pytest

from sklearn_supreme._atomic import atomic_write, check_writable


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


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name != "posix", reason="POSIX links")
def test_a_link_is_written_through(tmp_path):
    # The temporary file was made next to the link and moved over it: the link became
    # a plain file and the file it leads to kept its old content.
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "result.json"
    target.write_text("old")
    link = tmp_path / "result.json"
    link.symlink_to(os.path.join("shared", "result.json"))  # relative, as ln -s makes them
    check_writable(link)
    with atomic_write(link, "w") as f:
        f.write("new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["result.json", "shared"]
    assert os.listdir(tmp_path / "shared") == ["result.json"]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name != "posix", reason="POSIX links")
def test_check_writable_follows_a_link_to_where_it_writes(tmp_path):
    # A link to a file not yet written is fine where its folder exists ...
    link = tmp_path / "result.json"
    link.symlink_to(tmp_path / "new.json")
    check_writable(link)
    with atomic_write(link, "w") as f:
        f.write("new")
    assert (tmp_path / "new.json").read_text() == "new" and link.is_symlink()
    # ... but its folder is not made (a link into a disk that is not mounted).
    missing = tmp_path / "unmounted" / "result.json"
    link.unlink()
    link.symlink_to(missing)
    with pytest.raises(ValueError, match=re.escape(
        f"cannot write {link}: it is a link to {missing}, whose folder {missing.parent} does "
        "not exist."
    )):
        check_writable(link)
    # A link to a folder is a folder.
    link.unlink()
    link.symlink_to(tmp_path)
    with pytest.raises(ValueError, match="it is a folder"):
        check_writable(link)


def test_a_long_file_name_is_written(tmp_path):
    # The temporary file's name, 18 characters longer than the target's, was over the
    # 255-byte limit for names over 237: the write failed after all the work.
    path = tmp_path / ("r" * 245 + ".json")
    check_writable(path)
    with atomic_write(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == [path.name]
