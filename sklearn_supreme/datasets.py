"""Loaders for image collections and helpers to build transfer-clustering splits.

The loaders read an image collection laid out as ``[<prefix>/]<split>/<class>/<file>``
from a directory or from a tar archive, decode it with Pillow into one ``uint8`` array
and cache the decoded arrays on disk, so that only the first load pays for decoding.
"""

import bz2
import contextlib
import gzip
import hashlib
import inspect
import json
import lzma
import os
import posixpath
import re
import sys
import tarfile
import time
import warnings
import zipfile
import zlib
from io import BytesIO

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, _safe_indexing, check_consistent_length

from ._atomic import atomic_write
from ._input import _user_stacklevel
from .metrics import _check_complete_labels

__all__ = [
    "CIFAR10_CLASSES",
    "load_cifar10",
    "load_image_folder",
    "split_source_target",
]

#: The CIFAR-10 class names, in the standard index order of the original release.
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# File name suffixes treated as images; anything else (README, Thumbs.db, ...) is skipped.
_IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".gif", ".jfif", ".jpe", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif",
     ".tiff", ".webp"}
)

# Bump when the cached content or its decoding policy changes, so old cache files are ignored.
# 2: 16-bit grayscale keeps its top 8 bits; EXIF orientation is applied.
# 3: links in archives are followed.
# 4: a name archived twice counts once; images with damaged EXIF load as stored.
# 5: .jfif and .jpe files are JPEG images.
# 6: the key holds the change time (ctime) of every file too, so that a file replaced
#    with the size and modification time of the old one is not served from the cache;
#    PGM files of more than 8 bits (and 16-bit PNG on older Pillow) load.
# 7: the load's warnings about its data (an archive's links, images below class folders)
#    are cached, and given again on reading.
_CACHE_VERSION = 7

# Below this many images per worker, starting worker processes costs more than it saves.
_MIN_IMAGES_PER_JOB = 2000

# Pillow modes kept as one grayscale channel; every other mode is converted to RGB.
_GRAY_MODES = frozenset({"1", "L", "LA"})

# Formats whose 32-bit "I" mode holds 16-bit values (0-65535): Pillow opens a PGM of
# maxval > 255 so, scaled to 65535, and 16-bit grayscale PNG so in older Pillow (9.5).
_SIXTEEN_BIT_I_FORMATS = frozenset({"PNG", "PPM"})


def _import_pillow():
    """Import Pillow lazily, since it is only an optional dependency."""
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise ImportError(
            "Decoding images requires Pillow, which is not installed. Install it with "
            "`pip install pillow` (or `pip install sklearn-supreme[images]`)."
        ) from exc
    return Image, ImageOps


def _log(verbose, message):
    if verbose:
        print(f"[sklearn_supreme.datasets] {message}", file=sys.stderr, flush=True)


# Separators of an archive's member names: both, as archives made on Windows may hold
# backslashes. Of a folder's paths: the system's own only, since elsewhere a backslash
# is an ordinary character of a file name (train/cat/a\1.png is an image of cat).
_ARCHIVE_SEPARATORS = re.compile(r"[/\\]")
_FOLDER_SEPARATORS = re.compile("|".join(re.escape(sep) for sep in (os.sep, os.altsep) if sep))


def _split_path(name, separators=_ARCHIVE_SEPARATORS):
    """The components of a relative path, empty ones and ``.`` left out."""
    return [part for part in separators.split(name) if part not in ("", ".")]


def _image_parts(relative_name, separators=_ARCHIVE_SEPARATORS):
    """Split a relative path into its components, or return None if it is not an image.

    ``separators``: ``_ARCHIVE_SEPARATORS`` for an archive's member names,
    ``_FOLDER_SEPARATORS`` for a folder's paths.
    """
    parts = _split_path(relative_name, separators)
    if not parts:
        return None
    stem, ext = os.path.splitext(parts[-1])
    # Hidden files such as macOS "._x.jpg" resource forks are not images despite their
    # suffix, and hidden folders (.git, .thumbs, ...) hold no dataset images: skipped in
    # an archive as in a folder.
    if ext.lower() not in _IMAGE_EXTENSIONS or any(part.startswith(".") for part in parts):
        return None
    return parts


def _is_hidden_image(name):
    """Whether the archive member ``name`` has an image suffix but is hidden or lies in a
    hidden folder."""
    parts = _split_path(name)
    return (
        bool(parts)
        and os.path.splitext(parts[-1])[1].lower() in _IMAGE_EXTENSIONS
        and any(part.startswith(".") for part in parts)
    )


def _locate(parts, split):
    """Return ``(split_name, class_name)`` of an image path, or None if it is too shallow.

    The split and class are read from the end of the path so that any leading prefix
    folders (``cifar10/train/cat/0.jpg``) are allowed without having to detect them.
    """
    if split is None:
        return (None, parts[-2]) if len(parts) >= 2 else None
    return (parts[-3], parts[-2]) if len(parts) >= 3 else None


def _scan_directory(root, split=None, classes=None):
    """List the image files under ``root`` as ``(parts, absolute_path, stamp)``, where
    ``stamp`` is the file's ``(size, mtime_ns, ctime_ns)``. Links that lead nowhere are
    named in a warning: image links, and links where a class folder of the load would
    be (:func:`_is_class_folder_of`).

    Symbolic links to folders are followed (``train/cat -> /disk/cats`` is a common
    layout), except those that lead back to a folder the walk is already in, which
    would loop: a folder above them, or one that another link on the way led from
    (``a/more -> ../b`` and ``b/more -> ../a`` would walk ``a/more/more/...``).
    """
    # os.walk skips a folder it cannot list, silently: a class would vanish and the
    # labels of the others shift. Named in a warning, not an error: such a folder can
    # also be one that never held images (lost+found at the root of a drive).
    entries, broken, unlisted = [], [], []
    # The real paths of the folders of the walk down to each folder to be walked.
    walked = {root: (os.path.realpath(root),)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unlisted.append):
        path_reals = walked.pop(dirpath)
        kept = []
        for d in dirnames:
            # Hidden folders (.git, .ipynb_checkpoints, ...) never hold dataset images.
            if d.startswith("."):
                continue
            sub = os.path.join(dirpath, d)
            real_sub = os.path.realpath(sub)
            if not any(_is_ancestor(real_sub, real) for real in path_reals):
                kept.append(d)
                walked[sub] = (*path_reals, real_sub)
        dirnames[:] = kept
        relative_dir = os.path.relpath(dirpath, root)
        for filename in filenames:
            parts = _image_parts(os.path.join(relative_dir, filename), _FOLDER_SEPARATORS)
            full_path = os.path.join(dirpath, filename)
            if parts is None:
                # os.walk lists a link to a folder that does not exist (an unmounted
                # disk) as a file: where a class folder of the split would be, its class
                # would vanish and shift the labels of the others.
                if (
                    os.path.islink(full_path) and not os.path.exists(full_path)
                    and _is_class_folder_of(
                        _split_path(os.path.join(relative_dir, filename), _FOLDER_SEPARATORS),
                        split, classes,
                    )
                ):
                    broken.append(full_path)
                continue
            try:
                stat = os.stat(full_path)
            except OSError:
                if not os.path.islink(full_path):
                    raise
                broken.append(full_path)  # a link to nothing, or in a loop
                continue
            entries.append((parts, full_path, _stamp(stat)))
    if broken:
        warnings.warn(
            f"{len(broken)} entries under {root!r} are links that lead nowhere or in a "
            f"loop; they were skipped ({broken[0]!r}, ...). Where one is a class folder, "
            "that class is not loaded.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    if unlisted:
        warnings.warn(
            f"{len(unlisted)} folders under {root!r} could not be listed and were skipped "
            f"({unlisted[0].filename!r}: {unlisted[0].strerror}, ...); if they hold "
            "images, those classes are missing.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    return entries


def _is_class_folder_of(parts, split, classes=None):
    """Whether a folder at ``parts`` (relative path components) is where the layout
    reads a class of ``split`` that the load asks for (``classes``, None: any):
    ``<split>/<class>``, or any folder without a split."""
    if not parts or any(part.startswith(".") for part in parts):
        return False
    location = _locate([*parts, "0.png"], split)
    return (
        location is not None and location[0] == split
        and (classes is None or location[1] in classes)
    )


def _is_ancestor(folder, real_path):
    """Whether ``folder`` resolves to ``real_path`` or to a folder above it."""
    real_folder = os.path.realpath(folder)
    return real_path == real_folder or real_path.startswith(real_folder.rstrip(os.sep) + os.sep)


def _stamp(stat):
    """What tells a file's versions apart without reading it: its size, its modification
    time and its change time. Copies that keep the old time (cp -p, rsync -t, tar -x)
    or a clock of whole seconds can give a new version the size and modification time
    of the old one, but not its change time, which no tool can set back (on Windows,
    ``st_ctime`` is the creation time, which tells less)."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _directory_fingerprint(entries):
    """Hash the names and stamps (:func:`_stamp`) of every image file of a folder."""
    digest = hashlib.sha256()
    for parts, _, stamp in sorted(entries):
        stamp = "\0".join(map(str, stamp))
        # surrogateescape: a file name that is not valid UTF-8 is hashed by its bytes.
        digest.update(f"{'/'.join(parts)}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# Decompressors by the magic bytes that start their files.
_DECOMPRESSORS = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


def _open_decompressed(path):
    """The archive's tar stream, decompressed if it is gzip, bzip2 or xz.

    Opened here rather than by ``tarfile.open("r|*")``, whose own gzip reader never
    checks the CRC, so that reading the stream to its end verifies the data.
    """
    with open(path, "rb") as f:
        magic = f.read(6)
    for prefix, opener in _DECOMPRESSORS:
        if magic.startswith(prefix):
            return opener(path, "rb")
    return open(path, "rb")


def _member_name(name):
    """An archive member's name as links refer to it (``./a/../b`` -> ``b``)."""
    return posixpath.normpath(name.lstrip("/")) if name else name


def _link_target(member):
    """The member name a link entry points to, or None if it leaves the archive."""
    if member.islnk():  # hard link: the name of an earlier member
        return _member_name(member.linkname)
    if member.linkname.startswith("/"):  # a path on the machine the archive came from
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname))
    return None if target.startswith("../") or target == ".." else _member_name(target)


def _resolve_links(links, files):
    """Follow each link of ``links`` (name -> target name, or None) through the others
    to a member of ``files``; unresolved (outside the archive, missing, a loop): None."""
    resolved = {}
    for name in links:
        target, hops = links[name], 0
        while target in links and hops < 40:  # 40: Linux's limit on chained links
            target, hops = links[target], hops + 1
        resolved[name] = target if target in files else None
    return resolved


def _read_archive(path, keep, is_class_folder, verbose, hidden=None):
    """Stream a tar archive, returning ``(seen, selected, notes)``.

    ``seen`` holds the ``(split, class)`` of every image member and ``selected`` the
    ``(parts, data)`` of the members for which ``keep(split, class)`` is true. Streaming
    mode reads a compressed archive sequentially, which is much faster than random access.
    Links (hard or symbolic) to files in the archive are followed: a link's own name
    places the image, its target gives the bytes. A target that was not read with the
    first pass (another split, say) costs a second pass; links that lead out of the
    archive or nowhere are skipped, and ``notes`` says so, for the caller to warn; so
    do links to folders where ``is_class_folder(parts)`` says a class of the load
    would be. A name archived twice (``tar --append`` of a changed file) counts once,
    with its last entry, as ``tar -x`` would leave it. The names of the image files that are hidden or lie in a hidden
    folder, and so are skipped, are added to ``hidden`` if given.
    """
    # Keyed by member name, so that the last entry of a name replaces the earlier ones.
    seen, selected = {}, {}
    links = {}  # every link entry: name -> target name
    image_links = {}  # name -> (parts, location) of the link entries that name an image
    files, data_of = set(), {}
    start = time.perf_counter()
    with _tar_stream(path) as (stream, archive):
        for member in archive:
            name = _member_name(member.name)
            is_link = member.issym() or member.islnk()
            if is_link:
                links[name] = _link_target(member)
                files.discard(name)
            elif member.isfile():
                files.add(name)
                links.pop(name, None)
            parts = _image_parts(member.name)
            if parts is None and hidden is not None and member.isfile() and _is_hidden_image(name):
                hidden.add(name)
            location = None if parts is None else keep(parts)
            if location is None:
                continue
            if is_link:
                image_links[name] = (parts, location)
                seen.pop(name, None)
                selected.pop(name, None)
                continue
            if not member.isfile():
                continue
            image_links.pop(name, None)
            seen[name] = location[:2]
            if location[2]:
                data_of[name] = archive.extractfile(member).read()
                selected[name] = (parts, data_of[name])
        _check_end(stream, archive.offset, len(seen))

    resolved = _resolve_links(links, files)
    missing = {resolved[name] for name, (_, location) in image_links.items() if location[2]}
    missing = missing - set(data_of) - {None}
    if missing:
        # Linked to files the first pass did not keep: read them in one more pass.
        with _tar_stream(path) as (_, archive):
            for member in archive:
                name = _member_name(member.name)
                if member.isfile() and name in missing:
                    data_of[name] = archive.extractfile(member).read()
    broken = []
    for name, (parts, location) in image_links.items():
        if resolved[name] is None:
            broken.append(name)
            continue
        seen[name] = location[:2]
        if location[2]:
            selected[name] = (parts, data_of[resolved[name]])
    # Links to folders: a folder tree follows them (train/ant -> ../test/ant), but in
    # an archive only the links named as images are followed; say so, rather than
    # load fewer classes than the folder the archive was made of.
    folders = set()
    for name in files:
        if _image_parts(name) is None:
            continue
        folder = posixpath.dirname(name)
        while folder and folder not in folders:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    where_a_class_would_be = [
        name for name, target in links.items()
        if name not in image_links and resolved[name] is None
        # where a class folder of the load would be: train/bee, not test/bee
        and is_class_folder(_split_path(name))
    ]
    folder_links = [name for name in where_a_class_would_be if links[name] in folders]
    # A link out of the archive (to /disk/cats) where a class folder would be: its class
    # is not in the archive at all.
    broken += [name for name in where_a_class_would_be if links[name] not in folders]
    notes = []  # warned by the caller, which also caches them with the images
    if folder_links:
        notes.append(
            f"{len(folder_links)} entries of {path!r} are links to folders "
            f"({folder_links[0]!r}, ...); the images under them were not loaded. Archive "
            "the files themselves (tar --dereference) to load them."
        )
    if broken:
        notes.append(
            f"{len(broken)} entries of {path!r} are links that lead out of the archive or "
            f"to no file in it; they were skipped ({broken[0]!r}, ...). Archive the files "
            "themselves (tar --dereference --hard-dereference) to load them."
        )
    _log(
        verbose,
        f"read {len(selected)} of {len(seen)} images from {path} "
        f"in {time.perf_counter() - start:.1f}s",
    )
    return list(seen.values()), list(selected.values()), notes


@contextlib.contextmanager
def _tar_stream(path):
    """The archive's decompressed stream and tar reader, in streaming mode; a damaged
    or truncated archive's errors become one ValueError that says so."""
    try:
        with _open_decompressed(path) as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
            yield stream, archive
    except (PermissionError, FileNotFoundError):
        raise
    # OSError: gzip's BadGzipFile and bz2's "Invalid data stream".
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise ValueError(
            f"Cannot read the archive {path!r}, which looks damaged or truncated (an "
            f"interrupted download or copy?): {exc}"
        ) from exc


def _check_end(stream, end_of_members, n_images):
    """Read ``stream`` to its end, so that the decompressor checks its checksum there,
    and check that tar's end-of-archive marker follows the members."""
    while stream.read(1 << 20):
        pass
    # tarfile stops quietly where a file cut at a block boundary ends; a whole
    # archive has at least one zero block (its end marker) after its members.
    if stream.tell() < end_of_members + tarfile.BLOCKSIZE:
        raise tarfile.ReadError(
            f"it ends after {n_images} images without tar's end-of-archive marker"
        )


def _decode_one(source, name):
    """Decode one image to an ``(H, W)`` grayscale or ``(H, W, 3)`` RGB uint8 array."""
    Image, ImageOps = _import_pillow()
    try:
        with Image.open(BytesIO(source) if isinstance(source, bytes) else source) as image:
            # Read before exif_transpose, whose copy of the image has no format.
            sixteen_bit = image.mode.startswith("I;16") or (
                image.mode == "I" and image.format in _SIXTEEN_BIT_I_FORMATS
            )
            # Photos (from phones, say) store their pixels as the sensor read them and
            # an EXIF tag saying how to turn them; image viewers apply it, and so do we.
            try:
                image = ImageOps.exif_transpose(image)
            except Exception as exc:  # noqa: BLE001 - damaged EXIF fails in many ways
                # The pixels are fine: keep them as stored (a warning raised in a
                # parallel worker is not shown, so n_jobs=1 shows them all).
                warnings.warn(
                    f"Image {name!r} has damaged EXIF data ({type(exc).__name__}: {exc}); "
                    "loaded without its orientation tag.",
                    UserWarning,
                    stacklevel=_user_stacklevel(),
                )
            if sixteen_bit:
                # 16-bit grayscale: Pillow's convert("L") would clip at 255; the top
                # 8 bits keep the image.
                pixels = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
                return (pixels >> 8).astype(np.uint8)
            if image.mode in ("I", "F"):
                raise ValueError(
                    f"its pixels are 32-bit {'integers' if image.mode == 'I' else 'floats'} "
                    f"(mode {image.mode!r}), which have no fixed range to map to 8 bits; "
                    "convert the image to 8 bits first"
                )
            target_mode = "L" if image.mode in _GRAY_MODES else "RGB"
            if image.mode != target_mode:
                image = image.convert(target_mode)
            return np.asarray(image, dtype=np.uint8)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        # Pillow reports damaged files with many exception types (OSError, SyntaxError,
        # struct.error, TypeError...), and oversized ones with DecompressionBombError;
        # whichever it is, the error names the file.
        raise ValueError(f"Cannot decode image {name!r}: {type(exc).__name__}: {exc}") from exc


def _decode_chunk(sources, names):
    return [_decode_one(source, name) for source, name in zip(sources, names)]


def _decoded_arrays(sources, names, n_jobs, verbose):
    """Yield the decoded images in order, decoding in worker processes if ``n_jobs > 1``."""
    n_images = len(sources)
    n_jobs = min(joblib.effective_n_jobs(n_jobs), max(1, n_images // _MIN_IMAGES_PER_JOB))
    report_every = max(1, -(-n_images // 10))
    start = time.perf_counter()

    def progress(done):
        _log(
            verbose,
            f"decoded {done}/{n_images} images ({time.perf_counter() - start:.1f}s)",
        )

    if n_jobs == 1:
        for i, (source, name) in enumerate(zip(sources, names)):
            yield _decode_one(source, name)
            if (i + 1) % report_every == 0 or i + 1 == n_images:
                progress(i + 1)
        return

    # A few chunks per worker balance the load without paying per-image dispatch costs.
    chunk_size = -(-n_images // (4 * n_jobs))
    bounds = [(i, min(i + chunk_size, n_images)) for i in range(0, n_images, chunk_size)]
    tasks = (joblib.delayed(_decode_chunk)(sources[a:b], names[a:b]) for a, b in bounds)
    # joblib>=1.3 can hand results back as they arrive, which lets us report progress.
    if "return_as" in inspect.signature(joblib.Parallel).parameters:
        results = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    else:  # pragma: no cover
        results = joblib.Parallel(n_jobs=n_jobs)(tasks)
    for (_, b), chunk in zip(bounds, results):
        yield from chunk
        progress(b)


def _decode_images(sources, names, *, n_jobs=None, verbose=False):
    """Decode images (file paths or encoded bytes) into one ``(N, H, W, C)`` uint8 array.

    Grayscale images are converted to RGB only when they are mixed with colour images.
    """
    _import_pillow()
    images = None
    for i, array in enumerate(_decoded_arrays(sources, names, n_jobs, verbose)):
        n_channels = 1 if array.ndim == 2 else array.shape[2]
        if images is None:
            height, width = array.shape[:2]
            images = np.empty((len(sources), height, width, n_channels), dtype=np.uint8)
        elif array.shape[:2] != (height, width):
            raise ValueError(
                "All images must have the same size, but "
                f"{names[i]!r} is {array.shape[1]}x{array.shape[0]} (width x height) while "
                f"{names[0]!r} is {width}x{height}."
            )
        if n_channels > images.shape[3]:
            # First colour image after grayscale ones: widen what was decoded so far.
            images = np.repeat(images, n_channels, axis=3)
        images[i] = array if array.ndim == 3 else array[:, :, np.newaxis]
    return images


def _default_cache_dir():
    return os.environ.get("SKLEARN_SUPREME_DATA") or os.path.join(
        "~", ".cache", "sklearn_supreme"
    )


def _cache_file(cache_dir, path, fingerprint, split, classes):
    """Return the cache file of one load, named by a hash of everything that defines it."""
    key = json.dumps(
        {
            "version": _CACHE_VERSION,
            "path": path,
            "fingerprint": fingerprint,
            "split": split,
            "classes": classes,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(path))[:60]
    # The split is in the digest; in the name only as a readable, bounded label (a name
    # of 255 bytes at most, or the cache is never written).
    label = re.sub(r"[^A-Za-z0-9._-]", "_", split or "all")[:40]
    return os.path.join(cache_dir, f"{stem}-{label}-{digest}.npz")


def _read_cache(cache_file, verbose):
    try:
        with np.load(cache_file, allow_pickle=False) as data:
            bunch = Bunch(
                images=data["images"],
                target=data["target"],
                target_names=data["target_names"].tolist(),
                filenames=data["filenames"].tolist(),
                notes=data["notes"].tolist(),
            )
    except (FileNotFoundError, NotADirectoryError):
        # No cache yet (NotADirectoryError: cache_dir is a file; writing will say so).
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(
            f"Ignoring unreadable cache file {cache_file} ({exc}); decoding the images again.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
        return None
    _log(verbose, f"loaded {len(bunch.target)} images from cache {cache_file}")
    return bunch


def _write_cache(cache_file, bunch, notes, verbose):
    """Write the cache atomically, so a reader never sees a half-written file. ``notes``
    are the load's warnings about its data, given again when the cache is read."""
    cache_dir = os.path.dirname(cache_file)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_write(cache_file, "wb") as f:
            # Uncompressed: deflate shrinks natural images by under 10% but makes
            # writing about 10 times and reading about 2 times slower.
            np.savez(
                f,
                images=bunch.images,
                target=bunch.target,
                target_names=np.asarray(bunch.target_names, dtype=str),
                filenames=np.asarray(bunch.filenames, dtype=str),
                notes=np.asarray(notes, dtype=str),
            )
        _log(verbose, f"wrote cache {cache_file}")
    except OSError as exc:
        # The images were loaded fine; failing to cache them must not fail the load.
        warnings.warn(
            f"Could not write cache file {cache_file}: {exc}", UserWarning,
            stacklevel=_user_stacklevel(),
        )


def _check_classes(classes):
    if classes is None:
        return None
    if isinstance(classes, str):
        raise TypeError(f"classes must be a list of class names, got the string {classes!r}.")
    classes = [str(c) for c in classes]
    if not classes:
        raise ValueError("classes must not be empty; pass None to load every class.")
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if duplicates:
        raise ValueError(f"classes must be unique, but {duplicates} are repeated.")
    return classes


def _select(seen, path, split, classes, shallow=(), n_hidden=0):
    """Validate the requested split and classes against those found; return target_names.

    ``shallow`` holds the parts of the images that lie too high for the layout, to say
    in the error what layout the collection has when no image fits, and ``n_hidden``
    the number of images skipped as hidden (in an archive).
    """
    if not seen:
        layout = "<split>/<class>/<file>" if split is not None else "<class>/<file>"
        message = f"No image files laid out as {layout} were found in {path!r}."
        n_unsplit = sum(len(parts) == 2 for parts in shallow)  # <class>/<file>
        if split is not None and n_unsplit:
            message += (
                f" {n_unsplit} images lie in class folders without a split folder above them "
                "(<class>/<file>): load those with split=None."
            )
        elif shallow:
            message += (
                f" {len(shallow)} images lie directly in it, in no class folder: put "
                "each class's images in a folder named after the class."
            )
        if n_hidden:
            # tar -czf data.tgz .keras/flowers: every member lies in a hidden folder.
            message += (
                f" {n_hidden} images are hidden or lie in hidden folders (names starting "
                "with '.'), which are skipped: load the folder itself, or archive it from "
                "inside (tar -czf data.tgz -C .hidden_folder .)."
            )
        raise ValueError(message)
    if split is not None:
        available_splits = sorted({s for s, _ in seen})
        if split not in available_splits:
            raise ValueError(
                f"Split {split!r} not found in {path!r}; available splits: {available_splits}."
            )
    available = sorted({c for s, c in seen if s == split})
    if classes is None:
        return available
    missing = [c for c in classes if c not in available]
    if missing:
        where = path if split is None else f"split {split!r} of {path!r}"
        raise ValueError(
            f"Classes {missing} not found in {where}; available classes: {available} "
            "(a class is a folder holding at least one image)."
        )
    return classes


# The first bytes of gzip, bzip2 and xz files, the compressions tarfile reads.
_COMPRESSED_MAGIC = (b"\x1f\x8b\x08", b"BZh", b"\xfd7z")


def load_image_folder(
    path, split=None, classes=None, *, cache=True, cache_dir=None, verbose=False, n_jobs=None
):
    """Load a labelled image collection from a folder or a tar archive.

    The images must be laid out as ``[<prefix>/]<split>/<class>/<file>`` or, when
    ``split`` is None, as ``[<prefix>/]<class>/<file>``: the class of an image is the name
    of its parent folder and its split the name of the folder above. Files whose suffix is
    not an image suffix (``.png``, ``.jpg``, ``.jfif``, ...) and hidden files and folders
    are ignored. Links are followed, in a folder as in an archive; links that lead
    nowhere (out of an archive, to nothing, in a loop) are skipped with a warning, and
    so are, in an archive only, links to its own folders of images. Folders that cannot
    be listed are skipped with a warning, and so are images in folders inside a class
    folder of ``split`` (``train/cat/thumbs/0.png``). A cached load gives its warnings
    about an archive's links and such images again. In an archive, a name archived twice counts
    once, with its last entry. Images are turned upright by their EXIF orientation tag,
    as image viewers show them; an image whose EXIF data is damaged is loaded as stored,
    with a warning.

    Parameters
    ----------
    path : str or path-like
        A directory, or a tar archive (``.tar``, ``.tar.gz``, ``.tgz``, or any compression
        that :mod:`tarfile` reads). An archive is read once, sequentially.
    split : str, default=None
        Name of the split folder to load, such as ``"train"`` or ``"test"``. If None, every
        image two levels below a class folder's parent is loaded, so a collection that has
        split folders gets its splits pooled.
    classes : list of str, default=None
        Class folders to load, in the order that defines the integer labels: ``classes[k]``
        gets label ``k``. If None, every class found is loaded and the labels follow the
        sorted order of the class names (Python's ``sorted``: by code point, so
        ``"Zebra"`` before ``"ant"``).
    cache : bool, default=True
        Whether to keep the decoded arrays in an ``.npz`` file in ``cache_dir`` and to reuse
        it. The cache is keyed on the absolute path, the size, modification time and change
        time (ctime) of the archive (or of every image of a folder), the split and the
        classes, so changing the data makes a new cache file, even one that keeps the size
        and modification time of the old data (``cp -p``); changing only a file's
        permissions or owner also changes its ctime, and decodes the images again.
    cache_dir : str or path-like, default=None
        Folder of the cache files. Defaults to the ``SKLEARN_SUPREME_DATA`` environment
        variable if set, else ``~/.cache/sklearn_supreme``.
    verbose : bool, default=False
        Whether to report reading and decoding progress on standard error.
    n_jobs : int, default=None
        Number of processes decoding the images. ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all processors. Each new
        worker process first imports this package (seconds), so extra processes only pay
        off for large collections on several cores; collections of fewer than 4,000 images
        are always decoded in the current process.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        images : ndarray of shape (n_images, height, width, n_channels), dtype uint8
            The decoded images, ordered by label and then by file name. ``n_channels`` is 3
            (RGB; alpha is dropped) or 1 when every image is grayscale; grayscale images
            mixed with colour ones are converted to RGB.
        target : ndarray of shape (n_images,), dtype int64
            The label of each image, an index into ``target_names``.
        target_names : list of str
            The class names, in label order.
        filenames : list of str
            The file of each image: its path for a folder, or its normalised member name
            (``/``-separated, without a leading ``./``) for an archive.

    Raises
    ------
    ValueError
        If no image is found (images that lie too high for the layout, with no split or
        class folder above them, and an archive's hidden ones are counted in the
        message), ``split`` or one of ``classes`` is absent, the images do not all have
        the same size, an image cannot be decoded, or the archive is damaged or
        truncated (its compression checksum or tar's end marker is checked).
    ImportError
        If images must be decoded and Pillow is not installed.

    See Also
    --------
    load_cifar10 : Load CIFAR-10 with its standard label order.
    split_source_target : Cut a labelled set into source and target classes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_supreme.datasets import load_image_folder
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for value, name in [(0, "cat"), (255, "dog")]:
    ...         os.makedirs(os.path.join(root, "train", name))
    ...         pixels = np.full((4, 5, 3), value, dtype=np.uint8)
    ...         Image.fromarray(pixels).save(os.path.join(root, "train", name, "0.png"))
    ...     data = load_image_folder(root, "train", classes=["dog", "cat"], cache=False)
    >>> data.images.shape
    (2, 4, 5, 3)
    >>> data.target_names
    ['dog', 'cat']
    >>> data.target
    array([0, 1])
    >>> int(data.images[data.target == 0].min())
    255
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    classes = _check_classes(classes)
    if split is not None and not isinstance(split, str):
        raise TypeError(f"split must be a str or None, got {split!r}.")
    if os.path.isdir(path):
        is_archive = False
        entries = _scan_directory(path, split, classes)
        fingerprint = _directory_fingerprint(entries) if cache else None
    elif os.path.isfile(path):
        if not tarfile.is_tarfile(path):
            with open(path, "rb") as f:
                compressed = f.read(3) in _COMPRESSED_MAGIC
            if compressed:  # a .tar.gz, .tar.bz2 or .tar.xz whose content is damaged
                raise ValueError(
                    f"{path!r} is compressed but holds no readable tar archive: it is damaged "
                    "or truncated, or not a tar archive inside."
                )
            raise ValueError(f"{path!r} is neither a directory nor a tar archive.")
        is_archive = True
        fingerprint = list(_stamp(os.stat(path)))
    else:
        raise FileNotFoundError(f"No such directory or archive: {path!r}")

    cache_file = None
    if cache:
        cache_dir = os.path.abspath(os.path.expanduser(cache_dir or _default_cache_dir()))
        cache_file = _cache_file(cache_dir, path, fingerprint, split, classes)
        cached = _read_cache(cache_file, verbose)
        if cached is not None:
            # What the load that wrote the cache warned about is still true of its data.
            for note in cached.pop("notes"):
                warnings.warn(note, UserWarning, stacklevel=_user_stacklevel())
            return cached

    shallow = set()  # images too shallow for the layout, named in the error if none fits
    hidden = set()  # images of an archive skipped as hidden, also named in that error

    deep = set()  # images in folders inside the split's class folders, not loaded

    def keep(parts):
        location = _locate(parts, split)
        if location is None:
            shallow.add(tuple(parts))
            return None
        if split is not None and location[0] != split and split in parts[:-3]:
            deep.add("/".join(parts))  # <split>/<class>/<folder>[/...]/<file>
        in_split = location[0] == split
        return (*location, in_split and (classes is None or location[1] in classes))

    notes = []
    if is_archive:
        seen, selected, notes = _read_archive(
            path, keep, lambda parts: _is_class_folder_of(parts, split, classes), verbose, hidden
        )
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=_user_stacklevel())
    else:
        located = [(keep(parts), parts, full_path) for parts, full_path, _ in entries]
        located = [item for item in located if item[0] is not None]
        seen = [location[:2] for location, _, _ in located]
        selected = [(parts, full_path) for location, parts, full_path in located if location[2]]
    target_names = _select(seen, path, split, classes, shallow, len(hidden))
    if deep:
        # The layout reads their parent folder as their class and the class folder as
        # their split: not loaded, which would otherwise go unsaid (also when cached).
        notes.append(
            f"{len(deep)} images of {path!r} lie in folders inside class folders of split "
            f"{split!r} ({min(deep)!r}, ...) and were not loaded: a class's images must lie "
            "directly in its folder."
        )
        warnings.warn(notes[-1], UserWarning, stacklevel=_user_stacklevel())

    label_of = {name: label for label, name in enumerate(target_names)}
    # Sort by label then by relative name, so a folder and its archive give the same order.
    selected.sort(key=lambda item: (label_of[item[0][-2]], item[0]))
    sources = [source for _, source in selected]
    if is_archive:
        filenames = ["/".join(parts) for parts, _ in selected]
    else:
        filenames = list(sources)
    target = np.asarray([label_of[parts[-2]] for parts, _ in selected], dtype=np.int64)

    images = _decode_images(sources, filenames, n_jobs=n_jobs, verbose=verbose)
    bunch = Bunch(
        images=images, target=target, target_names=list(target_names), filenames=filenames
    )
    if cache_file is not None:
        _write_cache(cache_file, bunch, notes, verbose)
    return bunch


def load_cifar10(path, split="train", **kwargs):
    """Load CIFAR-10 from a folder or tar archive of per-image files.

    The collection must be laid out as ``[<prefix>/]<split>/<class>/<file>`` with the ten
    CIFAR-10 class folders. The labels follow the standard CIFAR-10 index order given by
    :data:`CIFAR10_CLASSES` (0 airplane, 1 automobile, ..., 9 truck).

    Parameters
    ----------
    path : str or path-like
        The folder or the tar archive, e.g. ``cifar10-jpeg.tar.gz``.
    split : {"train", "test"}, default="train"
        The split to load.
    **kwargs : dict
        Other keyword arguments of :func:`load_image_folder` (``cache``, ``cache_dir``,
        ``verbose``, ``n_jobs``). ``classes`` is not accepted: to load a subset of the
        classes with other labels, call :func:`load_image_folder` directly.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        See :func:`load_image_folder`; ``target_names`` is ``list(CIFAR10_CLASSES)``.

    See Also
    --------
    load_image_folder : Load any image collection.
    split_source_target : Cut a labelled set into source and target classes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_supreme.datasets import CIFAR10_CLASSES, load_cifar10
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for name in CIFAR10_CLASSES:
    ...         os.makedirs(os.path.join(root, "test", name))
    ...         pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    ...         Image.fromarray(pixels).save(os.path.join(root, "test", name, "0000.png"))
    ...     data = load_cifar10(root, split="test", cache=False)
    >>> data.images.shape
    (10, 32, 32, 3)
    >>> data.target_names[:3]
    ['airplane', 'automobile', 'bird']
    >>> data.target
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    if "classes" in kwargs:
        raise TypeError(
            "load_cifar10 always loads the ten CIFAR10_CLASSES; use "
            "load_image_folder(path, split, classes=...) to load a subset."
        )
    return load_image_folder(path, split, list(CIFAR10_CLASSES), **kwargs)


def split_source_target(X, y, source_classes, target_classes=None):
    """Cut a labelled set into a source part and a target part by class.

    Samples keep their original labels and their relative order; re-encode the labels
    yourself (e.g. with :class:`~sklearn.preprocessing.LabelEncoder`) if needed.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        The samples, indexed on the first axis (an ndarray, a list, a sparse matrix or a
        dataframe). A sparse matrix of a format without row indexing (COO, DIA,
        BSR) comes back in CSR format, as scikit-learn's :func:`~sklearn.utils.indexable`
        makes it.
    y : array-like of shape (n_samples,)
        The class label of each sample.
    source_classes : array-like of shape (n_source_classes,)
        The labels of the source classes.
    target_classes : array-like of shape (n_target_classes,), default=None
        The labels of the target classes. If None, every class of ``y`` that is not a
        source class.

    Returns
    -------
    X_source : array-like of shape (n_source_samples, ...)
        The samples of the source classes.
    y_source : ndarray of shape (n_source_samples,)
        Their labels.
    X_target : array-like of shape (n_target_samples, ...)
        The samples of the target classes.
    y_target : ndarray of shape (n_target_samples,)
        Their labels.

    Raises
    ------
    ValueError
        If a class list is empty, the two lists overlap, or a listed class is absent
        from ``y``.

    See Also
    --------
    load_cifar10 : Load CIFAR-10 with its standard label order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_supreme.datasets import split_source_target
    >>> X = np.arange(12).reshape(6, 2)
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> X_source, y_source, X_target, y_target = split_source_target(X, y, [0, 1])
    >>> y_source, y_target
    (array([0, 1, 0, 1]), array([2, 2]))
    >>> X_target
    array([[ 4,  5],
           [10, 11]])
    """
    y = _check_complete_labels(y, "y")  # 1-D, present and sortable
    check_consistent_length(X, y)
    present = np.unique(y)

    def as_classes(values, name):
        # A set of labels is a list of labels too (other iterables must be array-like).
        values = np.asarray(list(values) if isinstance(values, (set, frozenset)) else values)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"{name} must be a non-empty 1d list of labels, got {values!r}.")
        missing = values[~np.isin(values, present)]
        if missing.size:
            raise ValueError(
                f"{name} {missing.tolist()} are not present in y, whose classes are "
                f"{present.tolist()}."
            )
        return values

    source_classes = as_classes(source_classes, "source_classes")
    if target_classes is None:
        target_classes = present[~np.isin(present, source_classes)]
        if target_classes.size == 0:
            raise ValueError("source_classes hold every class of y, leaving no target class.")
    else:
        target_classes = as_classes(target_classes, "target_classes")
        overlap = np.unique(source_classes[np.isin(source_classes, target_classes)])
        if overlap.size:
            raise ValueError(
                f"source_classes and target_classes overlap: {overlap.tolist()} are in both."
            )

    if sp.issparse(X) and X.format not in ("csr", "csc", "lil", "dok"):
        X = X.tocsr()  # COO, DIA, BSR: no rows to index; CSR, as scikit-learn's indexable
    source_idx = np.flatnonzero(np.isin(y, source_classes))
    target_idx = np.flatnonzero(np.isin(y, target_classes))
    return (
        _safe_indexing(X, source_idx),
        y[source_idx],
        _safe_indexing(X, target_idx),
        y[target_idx],
    )
