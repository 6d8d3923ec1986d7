"""Decode one image file safely with Pillow: upright, RGB, resized, or a clear error.

Training, evaluation, prediction and the UI's previews all decode through this module,
so a picture is seen the same way everywhere.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..fileops import os_reason

#: File name endings we treat as images (compared lower-case).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

#: Decoders Pillow may use. Restricting them keeps exotic, rarely audited decoders away
#: from files users drop on us.
ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
Image.init()  # registers every plugin, so formats= above can name WEBP and TIFF (MPO comes via JPEG)

#: Largest picture we decode (pixels). A 400-megapixel PNG can hide in a 50 kB file;
#: refusing it from the header keeps memory bounded. 80 MP is above any phone or DSLR photo
#: and below Pillow's own warning threshold (89 MP).
MAX_PIXELS = 80_000_000

#: Narrowest picture we classify (pixels a side): a 1x1 picture is one colour, nothing a model can
#: recognise, yet it would get a confident answer.
MIN_SIDE = 8

#: Files larger than this are refused before reading (bytes).
MAX_FILE_BYTES = 200 * 1024 * 1024


class ImageDecodeError(Exception):
    """A file could not be used as an image. ``str(err)`` is a sentence for the user."""


#: Kinds of files people drop that are not pictures we can read, by extension, with what to do.
_HEIF = "an HEIC/HEIF/AVIF photo, which this app cannot read: export it as JPEG first"
_RAW = "a camera RAW file, which this app cannot read: export it as JPEG first"
_ARCHIVE = "an archive: unpack it first, then use the pictures inside"
KNOWN_UNSUPPORTED = {
    **dict.fromkeys((".heic", ".heif", ".hif", ".avif"), _HEIF),
    **dict.fromkeys((".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".raw"), _RAW),
    **dict.fromkeys((".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"), _ARCHIVE),
    ".pdf": "a PDF document, not a picture",
    **dict.fromkeys((".mp4", ".mov", ".avi", ".mkv", ".webm"), "a video, not a picture"),
    ".svg": "an SVG drawing, which this app cannot read: export it as PNG first",
}
#: The same kinds recognised from their first bytes, for files with a wrong or no extension.
_MAGIC = ((b"PK\x03\x04", _ARCHIVE), (b"\x1f\x8b", _ARCHIVE), (b"7z\xbc\xaf\x27\x1c", _ARCHIVE),
          (b"Rar!", _ARCHIVE), (b"BZh", _ARCHIVE), (b"\xfd7zXZ\x00", _ARCHIVE),
          (b"%PDF", "a PDF document, not a picture"))
#: Bytes of a file's start that :func:`unsupported_reason` looks at (a tar header ends at 262).
HEAD_BYTES = 512


def unsupported_reason(path: str | os.PathLike, head: bytes = b"") -> str | None:
    """A sentence naming a known kind of file we cannot use (HEIC, RAW, archive...), else None.

    ``head`` is the file's first bytes when already read; it recognises e.g. a zip renamed .jpg.
    """
    for magic, reason in _MAGIC:
        if head.startswith(magic):
            return reason
    if head[257:262] == b"ustar":
        return _ARCHIVE
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif", b"avis"):
        return _HEIF
    return KNOWN_UNSUPPORTED.get(Path(path).suffix.lower())


def is_image_name(path: str | os.PathLike) -> bool:
    """True if the file name has an image extension (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def open_rgb(path: str | os.PathLike, draft_size: int | None = None, data: bytes | None = None) -> Image.Image:
    """Open ``path`` and return an upright RGB image, fully loaded.

    ``draft_size`` lets the JPEG decoder decode at a reduced scale (1/2, 1/4, 1/8) when the
    photo is much larger than needed, which is several times faster than decoding in full.
    ``data``: the file's content already read (:func:`read_file`), decoded instead of the file.
    Raises :class:`ImageDecodeError` with a readable reason for anything unusable.
    """
    return _open(path, draft_size, header_only=False, data=data)


def read_file(path: str | os.PathLike) -> bytes:
    """The whole content of a picture file, read once, with the checks :func:`open_rgb` makes
    before reading. Whatever must describe the same picture as its pixels (the feature cache's
    key) is computed from these bytes, which are then decoded (``data=``): a file edited between
    two reads cannot pair one picture's pixels with another's key."""
    path = Path(path)
    _check_file(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise ImageDecodeError("permission denied: the file cannot be read") from None
    except FileNotFoundError:
        raise ImageDecodeError("the file no longer exists") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read the file ({os_reason(exc)})") from None
    if not data:
        raise ImageDecodeError("the file is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageDecodeError(f"the file is too large (more than {MAX_FILE_BYTES / 1e6:.0f} MB)")
    return data


def check_header(path: str | os.PathLike) -> tuple[int, int]:
    """Read only the header: (width, height) of a usable image, else :class:`ImageDecodeError`.

    Cheap (no pixels are decoded): the dataset scan checks every file with it.
    """
    return _open(path, None, header_only=True)


def _open(path, draft_size, header_only, data=None):
    path = Path(path)
    if data is None:
        _check_file(path)
    try:
        # Image.open reads only the header; the size check happens before any pixel is
        # decoded. (Pillow itself merely warns between 1x and 2x its own limit, and
        # warnings.catch_warnings is not thread-safe, so we rely on our lower limit.)
        with Image.open(path if data is None else io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise _too_large(width, height)
            if min(width, height) < MIN_SIDE:
                raise ImageDecodeError(f"the picture is too small ({width}x{height} pixels); at least "
                                       f"{MIN_SIDE}x{MIN_SIDE} are needed to tell what it shows")
            if header_only:
                return width, height
            if draft_size and img.format in ("JPEG", "MPO"):
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(unsupported_reason(path, _head(path) if data is None else data[:HEAD_BYTES])
                               or "not an image, or a format this app cannot read") from None
    except Image.DecompressionBombError:
        # Image.open refuses pictures above twice Pillow's limit before our own check sees them.
        size = _header_size(path)
        raise (_too_large(*size) if size else ImageDecodeError("the picture is too large")) from None
    except PermissionError:
        raise ImageDecodeError("permission denied: the file cannot be read") from None
    except FileNotFoundError:
        raise ImageDecodeError("the file no longer exists") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Truncated and corrupt files land here (Pillow raises OSError "image file is truncated").
        reason = str(exc) or type(exc).__name__
        raise ImageDecodeError(f"the image is damaged or truncated ({reason})") from None
    except MemoryError:
        raise ImageDecodeError("not enough memory to decode the picture") from None


def _check_file(path: Path) -> None:
    """Refuse what must not be read: a missing or special file, an empty or huge one, a kind we know
    we cannot use. Raises :class:`ImageDecodeError`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageDecodeError("the file no longer exists") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read the file ({os_reason(exc)})") from None
    if not stat.S_ISREG(info.st_mode):
        # A named pipe would block the first read forever; a device could be endless.
        raise ImageDecodeError("not a regular file (a pipe, device or socket), so not a picture")
    size = info.st_size
    if size == 0:
        raise ImageDecodeError("the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise ImageDecodeError(f"the file is too large ({size / 1e6:.0f} MB)")
    known = KNOWN_UNSUPPORTED.get(path.suffix.lower())
    if known:
        # Camera RAW files are TIFF containers that Pillow would open as their small embedded
        # preview: refuse them by name, like the other kinds we know we cannot read.
        raise ImageDecodeError(known)


def _too_large(width: int, height: int) -> ImageDecodeError:
    return ImageDecodeError(f"the picture is too large ({width}x{height} pixels); "
                            f"at most {MAX_PIXELS // 1_000_000} megapixels are accepted")


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header through the format's own Pillow plugin, which reads the
    header only and has no size limit of its own (that check is in ``Image.open``)."""
    head = _head(path)
    for fmt in ALLOWED_FORMATS:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(head):
            continue
        try:
            with open(path, "rb") as fh:
                return factory(fh, str(path)).size
        except Exception:  # noqa: BLE001 - only for a better message; the file is refused anyway
            continue
    return None


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES)
    except OSError:
        return b""


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(_to_8_bits(np.asarray(img), img.mode == "F"), mode="L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


#: The ranges a picture's values are read in, the first that holds them all (a 12-bit camera's
#: counts in a 16-bit file are 12-bit; floats in 0-1 are the usual convention): its top is white.
#: Values outside every one (negative, or floats beyond 1) are stretched from lowest to highest.
INTEGER_RANGES = (2**8 - 1, 2**10 - 1, 2**12 - 1, 2**14 - 1, 2**16 - 1)
FLOAT_RANGES = (1.0,)


def _to_8_bits(values: np.ndarray, is_float: bool) -> np.ndarray:
    """16-bit, 32-bit integer and float greyscale values as 0..255 (``convert("RGB")`` would clip
    them: a float picture in 0-1 would be black, a 16-bit one white). Not-a-number is black."""
    values = values.astype(np.float32)  # a copy, scaled in place (an 80-megapixel picture: 320 MB)
    known = np.isfinite(values)
    everywhere = bool(known.all())
    finite = values if everywhere else values[known]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    top = next((t for t in (FLOAT_RANGES if is_float else INTEGER_RANGES) if low >= 0 and high <= t), None)
    if top is not None:
        values *= 255.0 / top
    elif high > low:
        values -= low
        values *= 255.0 / (high - low)
    else:
        values.fill(128.0)  # one value outside every range: mid-grey (and marked as flat)
    if not everywhere:
        values[~known] = 0
    np.clip(values, 0, 255, out=values)
    return np.rint(values, out=values).astype(np.uint8)


#: Why an answer about a picture of one flat colour means nothing (its row says "not sure" and this).
FLAT_PICTURE = "the picture is a single flat colour"


def flat_picture_reason(pixels: np.ndarray) -> str | None:
    """:data:`FLAT_PICTURE` when the decoded ``pixels`` (h, w, channels) are one colour everywhere
    (a blank scan, a float picture that had no contrast), else None."""
    flat = np.asarray(pixels).reshape(-1, np.shape(pixels)[-1])
    return FLAT_PICTURE if flat.size and bool((flat == flat[0]).all()) else None


def load_pixels(path: str | os.PathLike, size: int, data: bytes | None = None) -> np.ndarray:
    """Decode ``path`` (or its content ``data``, already read) to a ``(size, size, 3)`` uint8
    array, exactly as the model sees it.

    The picture is squashed to a square (no crop), the same as Keras'
    ``image_dataset_from_directory`` does, so nothing at the edges is cut off.
    """
    img = open_rgb(path, draft_size=size, data=data)
    return pixels_from_image(img, size)


def pixels_from_image(img: Image.Image, size: int) -> np.ndarray:
    """Resize an already-decoded image to the model's input, as :func:`load_pixels` does."""
    img = to_rgb(img)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(img, dtype=np.uint8)


def thumbnail(path: str | os.PathLike, size: int) -> tuple[int, int, bytes]:
    """An upright RGB thumbnail fitting in ``size`` x ``size``: (width, height, RGB bytes).

    Plain bytes, so a worker thread can make it and the UI turn it into a picture.
    """
    img = open_rgb(path, draft_size=size)
    img.thumbnail((size, size), Image.Resampling.BILINEAR)
    return img.width, img.height, img.tobytes()
