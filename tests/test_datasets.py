"""Tests of the image-collection loaders and of split_source_target."""

import os
import shutil
import tarfile
import time
import warnings
from io import BytesIO
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_supreme import datasets
from sklearn_supreme.datasets import (
    CIFAR10_CLASSES,
    load_cifar10,
    load_image_folder,
    split_source_target,
)

Image = pytest.importorskip("PIL.Image")

REPO_ROOT = Path(__file__).resolve().parents[1]
CIFAR10_TAR = REPO_ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"

# Class folder names deliberately not in alphabetical order of their intended labels.
CLASSES = ["zebra", "ant", "moth"]
SPLIT_SIZES = {"train": 3, "test": 2}
HEIGHT, WIDTH = 6, 5


def _pixels(split, class_index, i):
    """A distinct image per (split, class, index), so round trips can be checked exactly."""
    base = 100 * (split == "test") + 30 * class_index + 7 * i
    values = (base + np.arange(HEIGHT * WIDTH * 3)) % 256
    return values.reshape(HEIGHT, WIDTH, 3).astype(np.uint8)


def _make_folder(root, ext="png", splits=SPLIT_SIZES, classes=CLASSES):
    """Write ``root/<split>/<class>/<i>.<ext>`` and return the expected arrays per split."""
    expected = {}
    for split, n_per_class in splits.items():
        for c, name in enumerate(classes):
            folder = Path(root, split, name)
            folder.mkdir(parents=True)
            for i in range(n_per_class):
                pixels = _pixels(split, c, i)
                Image.fromarray(pixels).save(folder / f"{i:04d}.{ext}")
                expected.setdefault(split, {})[f"{split}/{name}/{i:04d}.{ext}"] = pixels
    # Non-image and hidden files, and images in hidden folders, must be ignored in a
    # folder and in its archive alike (decoding them would raise).
    Path(root, "README.txt").write_text("not an image")
    Path(root, split, classes[0], ".hidden.png").write_bytes(b"junk")
    for hidden in (Path(root, split, classes[0], ".thumbs"), Path(root, ".trash", split, "old")):
        hidden.mkdir(parents=True)
        (hidden / "0000.png").write_bytes(b"junk")
    return expected


def _make_tar(folder, archive, mode="w:gz", prefix=None):
    with tarfile.open(archive, mode) as tar:
        tar.add(folder, arcname=prefix or ".")
    return archive


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "images"
    expected = _make_folder(root)
    return root, expected


def _relative(bunch, root):
    return [Path(f).relative_to(root).as_posix() for f in bunch.filenames]


def test_folder_round_trip_is_exact(image_folder):
    root, expected = image_folder
    data = load_image_folder(root, "train", cache=False)

    assert data.images.dtype == np.uint8
    assert data.images.shape == (9, HEIGHT, WIDTH, 3)
    assert data.target.dtype == np.int64
    assert data.target_names == sorted(CLASSES)
    # Ordered by label, then by file name.
    assert data.target.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    names = _relative(data, root)
    assert names == sorted(names, key=lambda n: (sorted(CLASSES).index(n.split("/")[1]), n))
    for image, name, label in zip(data.images, names, data.target):
        np.testing.assert_array_equal(image, expected["train"][name])
        assert name.split("/")[1] == data.target_names[label]


@pytest.mark.parametrize(
    "mode, suffix, prefix",
    [("w", ".tar", None), ("w:gz", ".tar.gz", None), ("w:gz", ".tgz", "cifar-like")],
)
def test_archive_matches_folder(image_folder, tmp_path, mode, suffix, prefix):
    root, _ = image_folder
    archive = _make_tar(root, tmp_path / f"images{suffix}", mode, prefix)
    from_folder = load_image_folder(root, "test", CLASSES, cache=False)
    from_archive = load_image_folder(archive, "test", CLASSES, cache=False)

    np.testing.assert_array_equal(from_archive.images, from_folder.images)
    np.testing.assert_array_equal(from_archive.target, from_folder.target)
    assert from_archive.target_names == from_folder.target_names
    expected_names = _relative(from_folder, root)
    if prefix is not None:
        expected_names = [f"{prefix}/{name}" for name in expected_names]
    assert from_archive.filenames == expected_names


def test_symlinked_class_folder_is_followed(image_folder, tmp_path):
    root, expected = image_folder
    # train/bee -> a folder elsewhere, a common way to assemble a dataset
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.fromarray(_pixels("train", 5, 0)).save(elsewhere / "0000.png")
    try:
        os.symlink(elsewhere, root / "train" / "bee", target_is_directory=True)
        # and a link back up, which must not make the scan loop
        os.symlink(root, root / "train" / "ant" / "loop", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    data = load_image_folder(root, "train", cache=False)

    assert data.target_names == sorted(CLASSES + ["bee"])
    bee = data.target_names.index("bee")
    np.testing.assert_array_equal(data.images[data.target == bee][0], _pixels("train", 5, 0))
    assert len(data.target) == 3 * len(CLASSES) + 1


def test_links_that_loop_through_sibling_folders_are_not_walked_around(tmp_path):
    # Neither link leads to a folder above it, yet following both walked
    # a/more/more/more/... until the system refused (40 links deep), loading the
    # same two images again at every level, silently.
    root = tmp_path / "images"
    _make_folder(root, splits={"train": 1}, classes=["a", "b"])
    try:
        os.symlink(Path("..", "b"), root / "train" / "a" / "more", target_is_directory=True)
        os.symlink(Path("..", "a"), root / "train" / "b" / "more", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no folder is unlistable: nothing to warn about
        data = load_image_folder(root, None, cache=False)

    # Each link is followed once; a folder is not entered again below itself.
    assert sorted(_relative(data, root)) == [
        "train/a/0000.png", "train/a/more/0000.png", "train/b/0000.png", "train/b/more/0000.png"
    ]
    assert data.target_names == ["a", "b", "more"]


def test_archive_links_are_followed_as_in_the_folder(image_folder, tmp_path):
    root, _ = image_folder
    ant, bee = root / "train" / "ant", root / "train" / "bee"
    bee.mkdir()
    try:
        os.symlink("0000.png", ant / "link.png")  # beside its target
        os.symlink("../../test/ant/0000.png", bee / "chain.png")  # to the other split...
        os.symlink("chain.png", bee / "chain2.png")  # ...through another link
        os.symlink("chain2.png", bee / "chain3.png")  # ...and through two
        os.link(root / "test" / "ant" / "0001.png", bee / "hard.png")
    except (OSError, NotImplementedError):
        pytest.skip("links are not available here")
    archive = _make_tar(root, tmp_path / "links.tar.gz")
    with tarfile.open(archive) as tar:  # tar keeps them as links
        kinds = {m.name.rsplit("/", 1)[-1]: m.type for m in tar if m.name.endswith(".png")}
    assert [kinds[n] for n in ("link.png", "chain.png", "chain2.png")] == [tarfile.SYMTYPE] * 3
    assert tarfile.LNKTYPE in {kinds["hard.png"], kinds["0001.png"]}  # whichever came second

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_archive = load_image_folder(archive, "train", cache=False)
    from_folder = load_image_folder(root, "train", cache=False)
    np.testing.assert_array_equal(from_archive.images, from_folder.images)
    np.testing.assert_array_equal(from_archive.target, from_folder.target)
    names = [f.rsplit("/", 1)[-1] for f in from_archive.filenames]
    by_name = dict(zip(names, from_archive.images))
    a = CLASSES.index("ant")
    np.testing.assert_array_equal(by_name["link.png"], _pixels("train", a, 0))
    np.testing.assert_array_equal(by_name["chain.png"], _pixels("test", a, 0))
    np.testing.assert_array_equal(by_name["chain2.png"], _pixels("test", a, 0))
    np.testing.assert_array_equal(by_name["chain3.png"], _pixels("test", a, 0))
    np.testing.assert_array_equal(by_name["hard.png"], _pixels("test", a, 1))
    assert from_archive.target_names == sorted(CLASSES + ["bee"])


def test_archive_links_out_of_it_are_skipped_with_a_warning(image_folder, tmp_path):
    root, _ = image_folder
    ant = root / "train" / "ant"
    try:
        os.symlink(str(ant / "0000.png"), ant / "absolute.png")  # a path on this machine
        os.symlink("../../../elsewhere.png", ant / "outside.png")
        os.symlink("missing.png", ant / "dangling.png")
        os.symlink("loop-b.png", ant / "loop-a.png")
        os.symlink("loop-a.png", ant / "loop-b.png")
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    archive = _make_tar(root, tmp_path / "links.tar.gz")
    with pytest.warns(UserWarning, match=r"5 entries .* are links that lead out") as w:
        data = load_image_folder(archive, "train", cache=False)
    assert w[0].filename == __file__  # the caller's line, not the library's
    assert len(data.target) == 3 * len(CLASSES)
    # The folder itself: the absolute link works on this machine; the other four lead
    # nowhere or loop, and are skipped alike (os.stat's error stopped every load).
    with pytest.warns(UserWarning, match=r"4 entries .* lead nowhere or in a loop"):
        data = load_image_folder(root, "train", cache=False)
    assert len(data.target) == 3 * len(CLASSES) + 1


def test_a_class_folder_linked_to_nothing_is_named_in_a_warning(image_folder, tmp_path):
    # A link to an unmounted disk, where a class folder would be: os.walk lists it as a
    # file without an image suffix, and the class vanished silently, shifting the labels
    # of the classes after it. So in the archive, whose link leads out of it.
    root, _ = image_folder
    try:
        os.symlink(tmp_path / "unmounted" / "cats", root / "train" / "cat",
                   target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    for path in (root, _make_tar(root, tmp_path / "images.tar")):
        # Read back from the cache, the archive's load warns again (it said nothing).
        for _ in range(2):
            with pytest.warns(UserWarning, match=r"1 entries .* are links that lead "
                                                 r"(nowhere|out).*'(.*/)?train/cat'"):
                data = load_image_folder(path, "train", cache_dir=tmp_path / "cache")
            assert data.target_names == sorted(CLASSES)
            assert "notes" not in data
    # In the split not loaded it is no class of this load, nor is a link beside the
    # splits (a LICENSE linked to nothing): nothing to say, in a folder or an archive.
    os.symlink(tmp_path / "nowhere" / "LICENSE", root / "LICENSE")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in (root, _make_tar(root, tmp_path / "again.tar")):
            load_image_folder(path, "test", cache=False)


def test_images_below_the_class_folders_of_the_split_are_named(image_folder, tmp_path):
    # train/ant/thumbs/0.png reads as class "thumbs" of split "ant": not loaded, silently.
    root, _ = image_folder
    thumbs = root / "train" / "ant" / "thumbs"
    (thumbs / "small").mkdir(parents=True)
    Image.fromarray(_pixels("train", 0, 9)).save(thumbs / "0.png")
    Image.fromarray(_pixels("train", 0, 8)).save(thumbs / "small" / "0.png")  # deeper still
    message = (r"2 images of .* lie in folders inside class folders of split 'train' "
               r"\('.*train/ant/thumbs/0.png'")
    for path in (root, _make_tar(root, tmp_path / "images.tar")):
        for _ in range(2):  # and again from the cache
            with pytest.warns(UserWarning, match=message):
                data = load_image_folder(path, "train", cache_dir=tmp_path / "cache")
            assert data.target_names == sorted(CLASSES)
    # An archive's link to a folder there is no image: asking whether one would be
    # loaded under it counted a train/ant/old/0.png that does not exist.
    try:
        os.symlink("../../test/ant", root / "train" / "ant" / "old", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    with pytest.warns(UserWarning, match=message):
        load_image_folder(_make_tar(root, tmp_path / "linked.tar"), "train", cache=False)
    with warnings.catch_warnings():  # no split: every parent folder is a class
        warnings.simplefilter("error")
        assert "thumbs" in load_image_folder(root, None, cache=False).target_names


def test_a_long_split_name_still_caches(tmp_path):
    # The split went into the cache file's name whole: over 255 bytes, no file could be
    # written, and every load warned that the cache was unreadable.
    split = "s" * 220
    root = tmp_path / "images"
    _make_folder(root, splits={split: 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = load_image_folder(root, split, cache_dir=tmp_path / "cache")
        second = load_image_folder(root, split, cache_dir=tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").iterdir()
    assert len(cache_file.name) < 255
    np.testing.assert_array_equal(first.images, second.images)


def test_archive_links_to_folders_are_named_in_a_warning(image_folder, tmp_path):
    # A folder follows train/bee -> ../test/ant; its archive does not, and loaded one
    # class fewer without a word.
    root, expected = image_folder
    try:
        os.symlink("../test/ant", root / "train" / "bee", target_is_directory=True)
        # in the split not loaded, and to a folder of no images: neither is named
        os.symlink("../train/ant", root / "test" / "wasp", target_is_directory=True)
        (root / "docs").mkdir()
        (root / "docs" / "notes.txt").write_text("no images")
        os.symlink("docs", root / "current", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")
    archive = _make_tar(root, tmp_path / "images.tar")
    with pytest.warns(UserWarning, match=r"1 entries .* are links to folders \('train/bee'"):
        data = load_image_folder(archive, "train", cache=False)
    assert "bee" not in data.target_names
    assert len(load_image_folder(root, "train", cache=False).target) > len(data.target)


def test_a_name_archived_twice_counts_once_with_its_last_entry(image_folder, tmp_path):
    # tar --append of a changed file: extracting leaves the last version; the loader
    # loaded both.
    root, expected = image_folder
    archive = _make_tar(root, tmp_path / "images.tar", mode="w")
    changed = tmp_path / "changed.png"
    new_pixels = 255 - _pixels("train", 1, 0)
    Image.fromarray(new_pixels).save(changed)
    with tarfile.open(archive, "a") as tar:
        tar.add(changed, arcname="./train/ant/0000.png")
    data = load_image_folder(archive, "train", cache=False)
    assert len(data.target) == len(expected["train"])
    (index,) = [i for i, f in enumerate(data.filenames) if f.endswith("train/ant/0000.png")]
    np.testing.assert_array_equal(data.images[index], new_pixels)


def _add_member(tar, name, data=None, link=None):
    """Add a file member holding ``data``, or a symbolic link to ``link``."""
    info = tarfile.TarInfo(name)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, BytesIO(data))


def _png(pixels):
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_link_archived_again_as_a_file_counts_as_the_file(tmp_path):
    # tar --append of a real file over a link: tar -x leaves the file, and a link to
    # that name then reads the file, not what the replaced link pointed to.
    a, x = _pixels("train", 0, 0), _pixels("train", 1, 0)
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        _add_member(tar, "train/ant/a.png", _png(a))
        _add_member(tar, "train/ant/x.png", link="a.png")
        _add_member(tar, "train/ant/x.png", _png(x))
        _add_member(tar, "train/ant/y.png", link="x.png")
    data = load_image_folder(archive, "train", cache=False)
    assert data.filenames == ["train/ant/a.png", "train/ant/x.png", "train/ant/y.png"]
    for image, pixels in zip(data.images, [a, x, x]):
        np.testing.assert_array_equal(image, pixels)


def test_archive_members_are_sorted_by_name_within_a_class(tmp_path):
    # Members archived out of order (tar lists a folder in its own order): the images
    # come sorted by label, then by name, as from the folder.
    archive = tmp_path / "images.tar"
    order = [("bee", 2), ("ant", 1), ("bee", 0), ("ant", 2), ("ant", 0), ("bee", 1)]
    with tarfile.open(archive, "w") as tar:
        for name, i in order:
            _add_member(tar, f"train/{name}/{i}.png", _png(_pixels("train", name == "bee", i)))
    data = load_image_folder(archive, "train", cache=False)
    assert data.filenames == [f"train/{c}/{i}.png" for c in ("ant", "bee") for i in range(3)]
    assert data.target.tolist() == [0, 0, 0, 1, 1, 1]
    for image, name in zip(data.images, data.filenames):
        _, c, file = name.split("/")
        np.testing.assert_array_equal(image, _pixels("train", c == "bee", int(file[0])))


@pytest.mark.skipif(os.sep == "\\", reason="a backslash separates folders on Windows")
@pytest.mark.parametrize("split", ["train", None])
def test_a_backslash_in_a_file_name_is_part_of_the_name(tmp_path, split):
    # On POSIX a backslash is a character of a name: a\1.png was read as a folder "a"
    # holding 1.png, which dropped the image (split "train") or made "a" a class.
    root = tmp_path / "images"
    (root / "train" / "cat").mkdir(parents=True)
    (root / "train" / "dog").mkdir()
    Image.fromarray(_pixels("train", 0, 0)).save(root / "train" / "cat" / "0.png")
    Image.fromarray(_pixels("train", 0, 1)).save(root / "train" / "cat" / "a\\1.png")
    Image.fromarray(_pixels("train", 1, 0)).save(root / "train" / "dog" / "0.png")
    data = load_image_folder(root if split else root / "train", split, cache=False)
    assert data.target_names == ["cat", "dog"]
    assert data.target.tolist() == [0, 0, 1]
    assert [Path(f).name for f in data.filenames] == ["0.png", "a\\1.png", "0.png"]
    np.testing.assert_array_equal(data.images[1], _pixels("train", 0, 1))


def test_an_archive_made_on_windows_splits_at_backslashes(tmp_path):
    # Member names of an archive made on Windows can hold backslashes as separators.
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        _add_member(tar, "train\\ant\\0.png", _png(_pixels("train", 0, 0)))
        _add_member(tar, "train\\bee\\0.png", _png(_pixels("train", 1, 0)))
    data = load_image_folder(archive, "train", cache=False)
    assert data.target_names == ["ant", "bee"]
    np.testing.assert_array_equal(data.images[1], _pixels("train", 1, 0))


def test_an_archive_ending_with_a_single_zero_block_loads(image_folder, tmp_path):
    # One zero block is the least end marker a whole archive has (GNU tar reads
    # such archives); cut one block earlier, it is truncated (see the test above).
    root, expected = image_folder
    archive = _make_tar(root, tmp_path / "images.tar", mode="w")
    with tarfile.open(archive) as tar:
        last = tar.getmembers()[-1]
    end_of_members = last.offset_data + -(-last.size // 512) * 512
    data = archive.read_bytes()
    assert data[end_of_members:] == bytes(len(data) - end_of_members)  # zero blocks only
    archive.write_bytes(data[: end_of_members + 512])
    assert len(load_image_folder(archive, "train", cache=False).target) == len(expected["train"])


def test_an_unreadable_class_folder_is_named_in_a_warning(image_folder, monkeypatch):
    # os.walk skipped a folder it could not list: a class vanished, the labels of the
    # classes after it shifted, and nothing said so. A warning, not an error: such a
    # folder may hold no images (lost+found at the root of a drive). (moth of both splits.)
    root, _ = image_folder
    scandir = os.scandir

    def refuse_moth(path="."):
        if os.path.basename(os.fspath(path)) == "moth":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_moth)
    with pytest.warns(UserWarning, match=r"2 folders .* could not be listed .*moth.*Permission"):
        data = load_image_folder(root, "train", cache=False)
    assert data.target_names == sorted(set(CLASSES) - {"moth"})


def test_an_image_that_cannot_be_examined_is_an_error(image_folder, monkeypatch):
    # Only links that lead nowhere are skipped; a file os.stat refuses stops the load
    # rather than vanish from it.
    root, _ = image_folder
    refused = os.fspath(root / "train" / "ant" / "0001.png")
    stat = os.stat

    def refuse(path, *args, **kwargs):
        if os.fspath(path) == refused:
            raise PermissionError(13, "Permission denied", refused)
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refuse)
    with pytest.raises(PermissionError, match="0001.png"):
        load_image_folder(root, "train", cache=False)


@pytest.mark.parametrize(
    "damage", ["truncated-tar", "truncated-gzip", "corrupted-gzip", "corrupted-gzip-start"]
)
def test_damaged_archive_is_an_error(image_folder, tmp_path, damage):
    # tarfile alone loaded a tar cut at a block boundary as a smaller data set, and a
    # gzip with a flipped byte with wrong pixels (it never checks the CRC).
    root, _ = image_folder
    archive = _make_tar(root, tmp_path / "images.tar", mode="w" if damage == "truncated-tar" else "w:gz")
    data = archive.read_bytes()
    if damage == "truncated-tar":
        # cut just after the first member's data, at a block boundary
        with tarfile.open(archive) as tar:
            first = next(m for m in tar.getmembers() if m.isfile())
        data = data[: first.offset_data + -(-first.size // 512) * 512]
    elif damage == "truncated-gzip":
        data = data[: len(data) // 2]
    elif damage == "corrupted-gzip-start":
        # the first bytes of the deflate stream (after gzip's 10-byte header) garbled:
        # tarfile no longer sees a tar archive at all
        data = data[:10] + bytes(b ^ 0xFF for b in data[10:40]) + data[40:]
        assert not tarfile.is_tarfile(BytesIO(data))
    else:
        # a byte of the deflate stream flipped; the length and header stay valid
        data = bytearray(data)
        data[len(data) // 2] ^= 0x01
        data = bytes(data)
    archive.write_bytes(data)
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_image_folder(archive, "train", cache=False)


def test_non_utf8_file_name(image_folder):
    root, _ = image_folder
    name = os.fsencode(root / "train" / "ant") + b"/caf\xe9.png"  # Latin-1, not UTF-8
    try:
        with open(name, "wb") as f:
            Image.fromarray(_pixels("train", 1, 9)).save(f, format="PNG")
    except (OSError, ValueError):
        pytest.skip("this file system refuses non-UTF-8 names")
    for cache in (False, True):
        data = load_image_folder(root, "train", cache=cache, cache_dir=root.parent / "cache")
        assert len(data.target) == 3 * len(CLASSES) + 1


def test_user_home_is_expanded(image_folder, monkeypatch):
    root, _ = image_folder
    monkeypatch.setenv("HOME", str(root.parent))
    data = load_image_folder(os.path.join("~", root.name), "train", cache=False)
    assert len(data.target) == 3 * len(CLASSES)


def test_classes_order_defines_labels(image_folder):
    root, expected = image_folder
    data = load_image_folder(root, "train", classes=CLASSES, cache=False)

    assert data.target_names == CLASSES
    assert data.target.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for image, name, label in zip(data.images, _relative(data, root), data.target):
        assert name.split("/")[1] == CLASSES[label]
        np.testing.assert_array_equal(image, expected["train"][name])


def test_classes_subset(image_folder):
    root, _ = image_folder
    data = load_image_folder(root, "train", classes=["moth", "zebra"], cache=False)

    assert data.target_names == ["moth", "zebra"]
    assert np.bincount(data.target).tolist() == [3, 3]
    assert all("/ant/" not in name for name in data.filenames)


def test_split_selection(image_folder):
    root, expected = image_folder
    train = load_image_folder(root, "train", cache=False)
    test = load_image_folder(root, "test", cache=False)

    assert len(train.target) == 3 * SPLIT_SIZES["train"]
    assert len(test.target) == 3 * SPLIT_SIZES["test"]
    assert all(name.startswith("test/") for name in _relative(test, root))
    for image, name in zip(test.images, _relative(test, root)):
        np.testing.assert_array_equal(image, expected["test"][name])


def test_classes_of_another_split_are_not_listed(tmp_path):
    # A class that only the test split holds: listed for train, it would have no
    # image there and shift the labels of the classes after it.
    root = tmp_path / "images"
    _make_folder(root, splits={"train": 1}, classes=["ant", "moth"])
    Path(root, "test", "bee").mkdir(parents=True)
    Image.fromarray(_pixels("test", 0, 0)).save(root / "test" / "bee" / "0.png")
    for path in [root, _make_tar(root, tmp_path / "images.tar")]:
        data = load_image_folder(path, "train", cache=False)
        assert data.target_names == ["ant", "moth"]
        assert data.target.tolist() == [0, 1]


def test_split_none_reads_class_folders(tmp_path):
    root = tmp_path / "flat"
    _make_folder(root, splits={"only": 2})
    data = load_image_folder(root / "only", cache=False)

    assert data.target_names == sorted(CLASSES)
    assert data.images.shape == (6, HEIGHT, WIDTH, 3)


def test_split_none_pools_splits(image_folder):
    root, _ = image_folder
    data = load_image_folder(root, cache=False)

    assert len(data.target) == 3 * sum(SPLIT_SIZES.values())
    assert np.bincount(data.target).tolist() == [sum(SPLIT_SIZES.values())] * 3


@pytest.mark.parametrize("ext", ["jpg", "JPEG", "jfif", "jpe"])
def test_jpeg_round_trip_is_close(tmp_path, ext):
    # Every suffix Pillow gives JPEG files, in any case.
    root = tmp_path / "jpeg"
    expected = _make_folder(root, ext=ext)
    archive = _make_tar(root, tmp_path / "jpeg.tar.gz")
    data = load_image_folder(archive, "train", cache=False)

    assert data.images.shape == (9, HEIGHT, WIDTH, 3)
    for image, name in zip(data.images, data.filenames):
        error = np.abs(image.astype(int) - expected["train"][name].astype(int))
        # JPEG is lossy; the check only guards against wrong files or channel orders.
        assert error.mean() < 40


def test_grayscale_kept_or_converted(tmp_path):
    gray = np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(HEIGHT, WIDTH)
    for name in ["a", "b"]:
        (tmp_path / "gray" / name).mkdir(parents=True)
        Image.fromarray(gray).save(tmp_path / "gray" / name / "0.png")
    only_gray = load_image_folder(tmp_path / "gray", cache=False)
    assert only_gray.images.shape == (2, HEIGHT, WIDTH, 1)
    np.testing.assert_array_equal(only_gray.images[..., 0], np.stack([gray, gray]))

    # Mixed modes: the grayscale image comes first, so already-decoded data must be widened.
    colour = _pixels("train", 0, 0)
    Image.fromarray(colour).save(tmp_path / "gray" / "b" / "0.png")
    mixed = load_image_folder(tmp_path / "gray", cache=False)
    assert mixed.images.shape == (2, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(mixed.images[0], np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(mixed.images[1], colour)


def test_16_bit_grayscale_keeps_its_top_8_bits(tmp_path):
    # Pillow converts 16-bit to 8-bit grayscale by clipping at 255: both images
    # would read as white.
    for name, value in [("a", 30000), ("b", 1000)]:
        (tmp_path / "deep" / name).mkdir(parents=True)
        Image.fromarray(np.full((HEIGHT, WIDTH), value, np.uint16)).save(
            tmp_path / "deep" / name / "0.png"
        )
    # "I;16" in recent Pillow; "I" (32-bit) in older ones (9.5), which must not be refused.
    with Image.open(tmp_path / "deep" / "a" / "0.png") as image:
        assert image.mode in ("I;16", "I")
    data = load_image_folder(tmp_path / "deep", cache=False)
    assert data.images.shape == (2, HEIGHT, WIDTH, 1)
    np.testing.assert_array_equal(data.images[:, 0, 0, 0], [30000 >> 8, 1000 >> 8])


def _pgm(value, maxval):
    """A PGM file of one grey ``value`` on ``maxval``, written by hand: Pillow 9 cannot
    write more than 8 bits to PGM."""
    pixels = np.full((HEIGHT, WIDTH), value, dtype=">u2" if maxval > 255 else np.uint8)
    return b"P5\n%d %d\n%d\n" % (WIDTH, HEIGHT, maxval) + pixels.tobytes()


def test_more_than_8_bit_pgm_keeps_its_top_8_bits(tmp_path):
    # Pillow opens a PGM of maxval > 255 in mode "I" (32-bit), scaled to 0-65535;
    # refused as "32-bit integers without a fixed range", a .pgm of 16 or 12 bits
    # could not be loaded, though its range is in its header.
    samples = {"a": (40000, 65535), "b": (1000, 65535), "c": (4095, 4095), "d": (1024, 4095)}
    for name, (value, maxval) in samples.items():
        (tmp_path / "pgm" / name).mkdir(parents=True)
        (tmp_path / "pgm" / name / "0.pgm").write_bytes(_pgm(value, maxval))
    with Image.open(tmp_path / "pgm" / "a" / "0.pgm") as image:
        assert image.mode == "I"
    data = load_image_folder(tmp_path / "pgm", cache=False)

    assert data.images.shape == (len(samples), HEIGHT, WIDTH, 1)
    expected = [round(value / maxval * 255) for value, maxval in samples.values()]
    # Top 8 bits, as for 16-bit PNG and TIFF: within one level of the rounded value.
    np.testing.assert_allclose(data.images[:, 0, 0, 0], expected, atol=1)
    assert data.images[data.target_names.index("c")].min() == 255  # full scale is white


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6 says "rotate 90 degrees clockwise to display" (phone photos taken
    # upright); the loaded image must be the displayed one.
    stored = _pixels("train", 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "photos" / "a").mkdir(parents=True)
    Image.fromarray(stored).save(tmp_path / "photos" / "a" / "0.png", exif=exif)
    data = load_image_folder(tmp_path / "photos", cache=False)

    assert data.images.shape == (1, WIDTH, HEIGHT, 3)
    np.testing.assert_array_equal(data.images[0], np.rot90(stored, k=-1))
    # The top-left pixel displayed is the stored bottom-left one.
    np.testing.assert_array_equal(data.images[0, 0, 0], stored[-1, 0])


def test_damaged_exif_keeps_the_pixels_and_warns(tmp_path):
    # A phone photo whose EXIF block is damaged: Pillow decodes its pixels, but its
    # exif_transpose raised a TypeError that stopped the whole load, naming no file.
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010F] = "cam"  # Make, a text tag
    buffer = BytesIO()
    Image.fromarray(_pixels("train", 0, 0)).save(buffer, "JPEG", exif=exif.tobytes())
    # Make's tag id becomes WhitePoint's, a tag of numbers that now holds text.
    data = buffer.getvalue()
    damaged = data.replace(b"\x01\x0f\x00\x02", b"\x01\x3e\x00\x02")
    assert damaged != data
    (tmp_path / "photos" / "a").mkdir(parents=True)
    (tmp_path / "photos" / "a" / "0.jpg").write_bytes(damaged)
    with pytest.warns(UserWarning, match=r"0\.jpg' has damaged EXIF data"):
        loaded = load_image_folder(tmp_path / "photos", cache=False)
    stored = np.asarray(Image.open(BytesIO(damaged)).convert("RGB"))
    np.testing.assert_array_equal(loaded.images[0], stored)  # as stored, not rotated


def test_float_pixels_are_refused_with_their_mode(tmp_path):
    (tmp_path / "float" / "a").mkdir(parents=True)
    Image.fromarray(np.full((HEIGHT, WIDTH), 0.5, np.float32)).save(tmp_path / "float" / "a" / "0.tif")
    with pytest.raises(ValueError, match=r"0\.tif.*32-bit floats \(mode 'F'\).*convert the image"):
        load_image_folder(tmp_path / "float", cache=False)


def test_alpha_channel_is_dropped(tmp_path):
    rgba = np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8)
    rgba[..., :3] = _pixels("train", 1, 1)
    rgba[..., 3] = 128
    (tmp_path / "rgba" / "a").mkdir(parents=True)
    Image.fromarray(rgba).save(tmp_path / "rgba" / "a" / "0.png")
    data = load_image_folder(tmp_path / "rgba", cache=False)

    np.testing.assert_array_equal(data.images[0], rgba[..., :3])


def test_cache_hit_skips_decoding(image_folder, tmp_path, monkeypatch):
    root, _ = image_folder
    archive = _make_tar(root, tmp_path / "images.tar.gz")
    cache_dir = tmp_path / "cache"
    first = load_image_folder(archive, "train", CLASSES, cache_dir=cache_dir)
    cache_files = list(cache_dir.glob("*.npz"))
    assert len(cache_files) == 1
    assert not list(cache_dir.glob("*.tmp"))

    def fail(*args, **kwargs):
        raise AssertionError("the cached images were decoded again")

    monkeypatch.setattr(datasets, "_decode_images", fail)
    second = load_image_folder(archive, "train", CLASSES, cache_dir=cache_dir)

    np.testing.assert_array_equal(second.images, first.images)
    np.testing.assert_array_equal(second.target, first.target)
    assert second.target.dtype == np.int64
    assert second.target_names == first.target_names == CLASSES
    assert second.filenames == first.filenames
    # A different split or class list is a different cache entry, so it must decode.
    with pytest.raises(AssertionError, match="decoded again"):
        load_image_folder(archive, "test", CLASSES, cache_dir=cache_dir)
    with pytest.raises(AssertionError, match="decoded again"):
        load_image_folder(archive, "train", CLASSES[:2], cache_dir=cache_dir)


def test_cache_invalidated_when_archive_changes(tmp_path):
    root = tmp_path / "v1"
    _make_folder(root)
    archive = _make_tar(root, tmp_path / "images.tar")
    cache_dir = tmp_path / "cache"
    old = load_image_folder(archive, "train", cache_dir=cache_dir)

    # Rewrite the archive with other pixels (and force a new mtime on coarse-clock systems).
    mtime_ns = archive.stat().st_mtime_ns
    new_pixels = np.full((HEIGHT, WIDTH, 3), 3, dtype=np.uint8)
    Image.fromarray(new_pixels).save(root / "train" / CLASSES[0] / "0000.png")
    _make_tar(root, archive, mode="w")
    os.utime(archive, ns=(mtime_ns + 10**9, mtime_ns + 10**9))
    new = load_image_folder(archive, "train", cache_dir=cache_dir)

    assert len(list(cache_dir.glob("*.npz"))) == 2
    changed = new.filenames.index(f"train/{CLASSES[0]}/0000.png")
    np.testing.assert_array_equal(new.images[changed], new_pixels)
    assert not np.array_equal(old.images[changed], new_pixels)


def test_cache_invalidated_when_folder_changes(image_folder, tmp_path):
    root, _ = image_folder
    cache_dir = tmp_path / "cache"
    load_image_folder(root, "train", cache_dir=cache_dir)
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(root / "train" / "ant" / "9.png")
    data = load_image_folder(root, "train", cache_dir=cache_dir)

    assert len(data.target) == 10
    assert len(list(cache_dir.glob("*.npz"))) == 2


def test_cache_follows_the_size_and_time_of_every_image_of_a_folder(tmp_path):
    # A file rewritten to the same size (a BMP of other pixels), or to another size
    # with its old modification time kept (cp -p, rsync -t), is another cache entry.
    root = tmp_path / "bmp"
    _make_folder(root, ext="bmp")
    cache_dir = tmp_path / "cache"
    load_image_folder(root, "train", cache_dir=cache_dir)

    same_size = root / "train" / CLASSES[0] / "0000.bmp"
    before = same_size.stat()
    Image.fromarray(255 - _pixels("train", 0, 0)).save(same_size)
    assert same_size.stat().st_size == before.st_size
    os.utime(same_size, ns=(before.st_mtime_ns + 10**9,) * 2)
    data = load_image_folder(root, "train", cache_dir=cache_dir)
    np.testing.assert_array_equal(
        data.images[data.filenames.index(str(same_size))], 255 - _pixels("train", 0, 0)
    )

    same_time = root / "train" / CLASSES[0] / "0001.bmp"
    before = same_time.stat()
    same_time.write_bytes(_png(255 - _pixels("train", 0, 1)))  # Pillow reads it by content
    assert same_time.stat().st_size != before.st_size
    os.utime(same_time, ns=(before.st_atime_ns, before.st_mtime_ns))
    data = load_image_folder(root, "train", cache_dir=cache_dir)
    np.testing.assert_array_equal(
        data.images[data.filenames.index(str(same_time))], 255 - _pixels("train", 0, 1)
    )
    assert len(list(cache_dir.glob("*.npz"))) == 3


@pytest.mark.parametrize("make", ["folder", "tar"])
def test_cache_follows_an_image_replaced_with_the_same_size_and_time(tmp_path, make):
    # cp -p, an archive extracted over a folder (tar keeps whole seconds), or a file
    # system with a coarse clock (FAT, HFS+, ext3: 1 or 2 s) can give a changed file
    # the size and modification time of the one it replaced: the cache returned the
    # old pixels. Its change time (ctime), which no tool sets back, tells them apart.
    root = tmp_path / "bmp"
    _make_folder(root, ext="bmp")
    changed = root / "train" / CLASSES[0] / "0000.bmp"
    path = root if make == "folder" else _make_tar(root, tmp_path / "images.tar", mode="w")
    cache_dir = tmp_path / "cache"
    load_image_folder(path, "train", cache_dir=cache_dir)

    before = Path(path).stat() if make == "tar" else changed.stat()
    time.sleep(0.05)  # past a tick of the file system's clock
    new_pixels = 255 - _pixels("train", 0, 0)
    Image.fromarray(new_pixels).save(changed)
    if make == "tar":  # rebuilt aside, then moved over the old archive
        _make_tar(root, tmp_path / "new.tar", mode="w")
        os.replace(tmp_path / "new.tar", path)
    # cp -p: the old file's time
    os.utime(path if make == "tar" else changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = Path(path).stat() if make == "tar" else changed.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    data = load_image_folder(path, "train", cache_dir=cache_dir)
    name = str(changed) if make == "folder" else f"train/{CLASSES[0]}/0000.bmp"
    np.testing.assert_array_equal(data.images[data.filenames.index(name)], new_pixels)
    assert len(list(cache_dir.glob("*.npz"))) == 2


def test_cache_follows_the_size_and_time_of_an_archive(tmp_path):
    # An archive rebuilt to the same size (BMPs of other pixels) but at a later time,
    # or to another size with its old time kept, is another cache entry.
    root = tmp_path / "bmp"
    _make_folder(root, ext="bmp")
    archive = _make_tar(root, tmp_path / "images.tar", mode="w")
    cache_dir = tmp_path / "cache"
    load_image_folder(archive, "train", cache_dir=cache_dir)

    def rebuild(name, pixels, *, grow, mtime_ns):
        Image.fromarray(pixels).save(root / "train" / CLASSES[0] / name)
        if grow:  # more than tar's 10 KiB records, which round the size up
            Path(root, "README.txt").write_text("x" * 30000)
        size = archive.stat().st_size
        _make_tar(root, archive, mode="w")
        os.utime(archive, ns=(mtime_ns, mtime_ns))
        assert (archive.stat().st_size != size) == grow
        data = load_image_folder(archive, "train", cache_dir=cache_dir)
        changed = data.filenames.index(f"train/{CLASSES[0]}/{name}")
        np.testing.assert_array_equal(data.images[changed], pixels)

    mtime_ns = archive.stat().st_mtime_ns
    rebuild("0000.bmp", 255 - _pixels("train", 0, 0), grow=False, mtime_ns=mtime_ns + 10**9)
    rebuild("0001.bmp", 255 - _pixels("train", 0, 1), grow=True, mtime_ns=mtime_ns + 10**9)
    assert len(list(cache_dir.glob("*.npz"))) == 3


def test_split_none_and_a_split_named_all_are_cached_apart(tmp_path):
    # Both cache files are named "...-all-<hash>.npz": the hash must tell them apart.
    root = tmp_path / "images"
    _make_folder(root, splits={"all": 1, "train": 2})
    cache_dir = tmp_path / "cache"
    pooled = load_image_folder(root, None, cache_dir=cache_dir)
    only_all = load_image_folder(root, "all", cache_dir=cache_dir)
    assert len(pooled.target) == 3 * (1 + 2)
    assert len(only_all.target) == 3
    assert all("/all/" in name for name in only_all.filenames)


def test_a_copy_of_a_folder_is_cached_apart(image_folder, tmp_path):
    # The copy has the same name, and its files the same names, sizes and times
    # (copytree keeps them); sharing the original's cache entry, it would name the
    # original's files.
    root, _ = image_folder
    copy = tmp_path / "elsewhere" / root.name
    shutil.copytree(root, copy)
    cache_dir = tmp_path / "cache"
    load_image_folder(root, "train", cache_dir=cache_dir)
    data = load_image_folder(copy, "train", cache_dir=cache_dir)
    assert len(data.filenames) == 3 * len(CLASSES)
    assert all(Path(name).is_relative_to(copy) for name in data.filenames)


def test_a_new_cache_version_decodes_again(image_folder, tmp_path, monkeypatch):
    root, _ = image_folder
    cache_dir = tmp_path / "cache"
    load_image_folder(root, "train", cache_dir=cache_dir)
    monkeypatch.setattr(datasets, "_CACHE_VERSION", datasets._CACHE_VERSION + 1)

    def fail(*args, **kwargs):
        raise AssertionError("the cached images were decoded again")

    with monkeypatch.context() as patch:
        patch.setattr(datasets, "_decode_images", fail)
        with pytest.raises(AssertionError, match="decoded again"):
            load_image_folder(root, "train", cache_dir=cache_dir)
    load_image_folder(root, "train", cache_dir=cache_dir)
    assert len(list(cache_dir.glob("*.npz"))) == 2


def test_a_cache_write_that_fails_leaves_no_file(image_folder, tmp_path, monkeypatch):
    # Half a cache file would be read back as an unreadable cache, or worse.
    root, _ = image_folder
    cache_dir = tmp_path / "cache"

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half of a zip file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.warns(UserWarning, match="Could not write cache file .*No space left") as w:
        data = load_image_folder(root, "train", cache_dir=cache_dir)
    assert w[0].filename == __file__
    assert len(data.target) == 3 * len(CLASSES)
    assert os.listdir(cache_dir) == []


def test_cache_false_writes_nothing(image_folder, tmp_path, monkeypatch):
    root, _ = image_folder
    monkeypatch.setenv("SKLEARN_SUPREME_DATA", str(tmp_path / "env-cache"))
    load_image_folder(root, "train", cache=False, cache_dir=tmp_path / "cache")

    assert not (tmp_path / "cache").exists()
    assert not (tmp_path / "env-cache").exists()


def test_default_cache_dir_from_environment(image_folder, tmp_path, monkeypatch):
    root, _ = image_folder
    monkeypatch.setenv("SKLEARN_SUPREME_DATA", str(tmp_path / "env-cache"))
    load_image_folder(root, "train")

    assert len(list((tmp_path / "env-cache").glob("*.npz"))) == 1


def test_unreadable_cache_is_rebuilt(image_folder, tmp_path):
    root, _ = image_folder
    cache_dir = tmp_path / "cache"
    expected = load_image_folder(root, "train", cache_dir=cache_dir)
    (cache_file,) = cache_dir.glob("*.npz")
    cache_file.write_bytes(b"truncated")

    with pytest.warns(UserWarning, match="unreadable cache file"):
        data = load_image_folder(root, "train", cache_dir=cache_dir)
    np.testing.assert_array_equal(data.images, expected.images)
    # The broken file was replaced, so the next load is a silent cache hit.
    np.testing.assert_array_equal(
        load_image_folder(root, "train", cache_dir=cache_dir).images, expected.images
    )


def test_cache_dir_that_is_a_file_warns_once(image_folder, tmp_path):
    root, _ = image_folder
    not_a_dir = tmp_path / "cache"
    not_a_dir.write_text("a file")
    with pytest.warns(UserWarning) as caught:
        data = load_image_folder(root, "train", cache_dir=not_a_dir)
    # the write says why; a read "unreadable cache file" warning would mislead
    assert [str(w.message).split(" ")[:4] for w in caught] == [["Could", "not", "write", "cache"]]
    assert len(data.target) == 3 * len(CLASSES)


def test_verbose_reports_progress(image_folder, tmp_path, capsys):
    root, _ = image_folder
    archive = _make_tar(root, tmp_path / "images.tar.gz")
    load_image_folder(archive, "train", cache_dir=tmp_path / "cache", verbose=True)
    err = capsys.readouterr().err
    assert "decoded 9/9 images" in err
    assert "wrote cache" in err

    load_image_folder(archive, "train", cache_dir=tmp_path / "cache", verbose=True)
    assert "from cache" in capsys.readouterr().err


def test_parallel_decoding_matches_sequential(image_folder, monkeypatch):
    root, _ = image_folder
    # Lower the threshold so that a handful of images goes through the chunked path.
    monkeypatch.setattr(datasets, "_MIN_IMAGES_PER_JOB", 1)
    sequential = load_image_folder(root, "train", cache=False, n_jobs=1)
    # Threads test the same chunking without paying seconds of worker start-up imports.
    with joblib.parallel_config(backend="threading"):
        parallel = load_image_folder(root, "train", cache=False, n_jobs=2)

    np.testing.assert_array_equal(parallel.images, sequential.images)
    np.testing.assert_array_equal(parallel.target, sequential.target)


def test_missing_class_raises(image_folder):
    root, _ = image_folder
    with pytest.raises(ValueError, match=r"Classes \['horse'\] not found.*available classes"):
        load_image_folder(root, "train", classes=["ant", "horse"], cache=False)


def test_unknown_split_raises(image_folder, tmp_path):
    root, _ = image_folder
    archive = _make_tar(root, tmp_path / "images.tar.gz")
    for path in [root, archive]:
        with pytest.raises(ValueError, match=r"'valid' not found.*\['test', 'train'\]"):
            load_image_folder(path, "valid", cache=False)


def test_mixed_sizes_raise(image_folder):
    root, _ = image_folder
    odd = root / "train" / "moth" / "0001.png"
    Image.fromarray(np.zeros((7, 9, 3), np.uint8)).save(odd)
    with pytest.raises(ValueError, match=r"same size.*moth/0001\.png' is 9x7"):
        load_image_folder(root, "train", cache=False)


@pytest.mark.parametrize("make", ["folder", "tar"])
def test_empty_collection_raises(tmp_path, make):
    empty = tmp_path / "empty"
    (empty / "train" / "cat").mkdir(parents=True)
    (empty / "train" / "cat" / "notes.txt").write_text("no images here")
    path = empty if make == "folder" else _make_tar(empty, tmp_path / "empty.tar")
    with pytest.raises(ValueError, match="No image files"):
        load_image_folder(path, "train", cache=False)


@pytest.mark.parametrize("make", ["folder", "tar"])
def test_a_collection_without_split_folders_is_told_to_load_with_split_none(
    image_folder, tmp_path, make
):
    root, _ = image_folder
    train = root / "train"  # <class>/<file> below it: 3 classes of 3 images
    path = train if make == "folder" else _make_tar(train, tmp_path / "train.tar")
    with pytest.raises(ValueError, match=r"9 images lie in class folders without a split "
                       r"folder above them \(<class>/<file>\): load those with split=None"):
        load_image_folder(path, "train", cache=False)
    assert len(load_image_folder(path, None, cache=False).target) == 9


@pytest.mark.parametrize("split", [None, "train"])
@pytest.mark.parametrize("make", ["folder", "tar"])
def test_images_in_no_class_folder_are_told_to_go_in_one(image_folder, tmp_path, make, split):
    flat = image_folder[0] / "train" / "ant"  # 3 images and a hidden one, no folders
    path = flat if make == "folder" else _make_tar(flat, tmp_path / "flat.tar")
    with pytest.raises(ValueError, match=r"found in .*\. 3 images lie directly in it, in "
                       r"no class folder: put each class's images in a folder named after"):
        load_image_folder(path, split, cache=False)


def test_an_archive_of_a_hidden_folder_is_told_why_it_holds_no_image(image_folder, tmp_path):
    # tar -czf data.tgz .keras/flowers: every member lies below a hidden folder, so
    # every image is skipped, as in a hidden folder of a collection; the error said
    # only that no image was found, though the folder itself loads.
    hidden = tmp_path / "home" / ".keras" / "flowers"
    shutil.copytree(image_folder[0] / "train", hidden)
    archive = tmp_path / "flowers.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(hidden, arcname=".keras/flowers")
    assert len(load_image_folder(hidden, cache=False).target) == 3 * len(CLASSES)
    with pytest.raises(ValueError, match=r"No image files .*\. 9 images are hidden or lie in "
                       r"hidden folders \(names starting with '\.'\), which are skipped"):
        load_image_folder(archive, cache=False)


def test_bad_paths_and_arguments_raise(image_folder, tmp_path):
    root, _ = image_folder
    with pytest.raises(FileNotFoundError, match="No such directory or archive"):
        load_image_folder(tmp_path / "missing", cache=False)
    not_tar = tmp_path / "file.tar.gz"
    not_tar.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="neither a directory nor a tar archive"):
        load_image_folder(not_tar, cache=False)
    with pytest.raises(TypeError, match="list of class names"):
        load_image_folder(root, "train", classes="ant", cache=False)
    with pytest.raises(ValueError, match=r"unique.*\['ant'\]"):
        load_image_folder(root, "train", classes=["ant", "ant"], cache=False)
    with pytest.raises(ValueError, match="classes must not be empty; pass None"):
        load_image_folder(root, "train", classes=[], cache=False)
    with pytest.raises(TypeError, match="split must be a str or None, got 0"):
        load_image_folder(root, 0, cache=False)


def test_undecodable_image_raises(image_folder):
    root, _ = image_folder
    (root / "train" / "ant" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"Cannot decode image .*broken\.png"):
        load_image_folder(root, "train", cache=False)


def test_missing_pillow_message(image_folder, monkeypatch):
    root, _ = image_folder
    # A None entry in sys.modules makes the import fail as if Pillow were not installed.
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_image_folder(root, "train", cache=False)


def test_load_cifar10_uses_standard_order(tmp_path):
    root = tmp_path / "cifar"
    # Reverse creation order so that directory listing order cannot explain the labels.
    for name in reversed(CIFAR10_CLASSES):
        (root / "test" / name).mkdir(parents=True)
        pixels = np.full((4, 4, 3), CIFAR10_CLASSES.index(name), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "test" / name / "0000.png")
    data = load_cifar10(root, "test", cache=False)

    assert data.target_names == list(CIFAR10_CLASSES)
    assert data.target.tolist() == list(range(10))
    assert data.images[:, 0, 0, 0].tolist() == list(range(10))
    with pytest.raises(TypeError, match="load_image_folder"):
        load_cifar10(root, "test", classes=["cat"], cache=False)
    # A class missing is an error, not nine classes with shifted labels.
    shutil.rmtree(root / "test" / "airplane")
    with pytest.raises(ValueError, match=r"Classes \['airplane'\] not found"):
        load_cifar10(root, "test", cache=False)


@pytest.mark.skipif(not CIFAR10_TAR.exists(), reason=f"{CIFAR10_TAR} not available")
def test_real_cifar10_subset(tmp_path):
    data = load_image_folder(CIFAR10_TAR, "test", classes=["cat", "dog"], cache_dir=tmp_path)

    assert data.images.shape == (2000, 32, 32, 3)
    assert data.images.dtype == np.uint8
    assert data.target_names == ["cat", "dog"]
    assert np.bincount(data.target).tolist() == [1000, 1000]
    assert data.filenames[0] == "test/cat/0000.jpg"


# split_source_target


def test_split_source_target_defaults_to_complement():
    X = np.arange(20).reshape(10, 2)
    y = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    X_source, y_source, X_target, y_target = split_source_target(X, y, [1, 3])

    np.testing.assert_array_equal(y_source, [3, 1, 1, 3])
    np.testing.assert_array_equal(X_source, X[[0, 1, 3, 9]])
    np.testing.assert_array_equal(y_target, [4, 5, 9, 2, 6, 5])
    np.testing.assert_array_equal(X_target, X[[2, 4, 5, 6, 7, 8]])
    assert len(y_source) + len(y_target) == len(y)
    assert not set(y_source) & set(y_target)


def test_split_source_target_explicit_target_drops_others():
    X = np.arange(6)[:, None]
    y = np.array(["a", "b", "c", "a", "b", "c"])
    X_source, y_source, X_target, y_target = split_source_target(X, y, ["a"], ["c"])

    assert y_source.tolist() == ["a", "a"]
    assert y_target.tolist() == ["c", "c"]
    np.testing.assert_array_equal(X_source.ravel(), [0, 3])
    np.testing.assert_array_equal(X_target.ravel(), [2, 5])


def test_split_source_target_images_and_sparse():
    images = np.arange(4 * 2 * 2 * 3).reshape(4, 2, 2, 3)
    y = [0, 1, 0, 1]
    X_source, _, X_target, _ = split_source_target(images, y, [0])
    assert X_source.shape == X_target.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(X_target, images[[1, 3]])

    for X_sparse, fmt in [(sp.csr_matrix(np.eye(4)), "csr"), (sp.csc_matrix(np.eye(4)), "csc"),
                          (sp.coo_matrix(np.eye(4)), "csr")]:  # COO has no rows to index
        X_source, _, X_target, _ = split_source_target(X_sparse, y, [1])
        assert sp.issparse(X_source) and X_source.format == fmt
        np.testing.assert_array_equal(X_source.toarray(), np.eye(4)[[1, 3]])


def test_split_source_target_takes_a_set_of_classes():
    X = np.arange(12).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    by_set = split_source_target(X, y, {0, 1})
    by_list = split_source_target(X, y, [0, 1])
    for a, b in zip(by_set, by_list):
        np.testing.assert_array_equal(a, b)


def test_split_source_target_errors():
    X = np.zeros((6, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"overlap: \[1\]"):
        split_source_target(X, y, [0, 1], [1, 2])
    with pytest.raises(ValueError, match=r"source_classes \[7\] are not present in y"):
        split_source_target(X, y, [0, 7])
    with pytest.raises(ValueError, match=r"target_classes \[8, 9\] are not present in y, whose classes are \[0, 1, 2\]"):
        split_source_target(X, y, [0], [8, 9])
    with pytest.raises(TypeError, match=r"y mixes labels of types \['int', 'str'\]"):
        split_source_target(X, np.array([0, "a", 2, 0, "a", 2], dtype=object), [0])
    with pytest.raises(ValueError, match="y has 1 missing labels"):
        split_source_target(X, np.array([0, None, 2, 0, 1, 2], dtype=object), [0])
    with pytest.raises(ValueError, match="leaving no target class"):
        split_source_target(X, y, [0, 1, 2])
    with pytest.raises(ValueError, match="non-empty"):
        split_source_target(X, y, [])
    with pytest.raises(ValueError, match="non-empty 1d list"):
        split_source_target(X, y, [[0, 1]])
    with pytest.raises(ValueError, match="non-empty 1d list"):
        split_source_target(X, y, [0], [[1, 2]])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        split_source_target(X[:4], y, [0])
