"""Decode one image file safely with Pillow: upright, RGB, resized, or a clear error.

Training, evaluation, prediction and the UI's previews all decode through this module,
so a picture is seen the same way everywhere.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


def open_rgb(path: str | os.PathLike, draft_size: int | None = None) -> Image.Image:
    """Open ``path`` and return an upright RGB image, fully loaded.

    ``draft_size`` lets the JPEG decoder decode at a reduced scale (1/2, 1/4, 1/8) when the
    photo is much larger than needed, which is several times faster than decoding in full.
    Raises :class:`ImageDecodeError` with a readable reason for anything unusable.
    """
    return _open(path, draft_size, header_only=False)


def check_header(path: str | os.PathLike) -> tuple[int, int]:
    """Read only the header: (width, height) of a usable image, else :class:`ImageDecodeError`.

    Cheap (no pixels are decoded): the dataset scan checks every file with it.
    """
    return _open(path, None, header_only=True)


def _open(path, draft_size, header_only):
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageDecodeError("the file no longer exists") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read the file ({exc.strerror or exc})") from None
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
    try:
        # Image.open reads only the header; the size check happens before any pixel is
        # decoded. (Pillow itself merely warns between 1x and 2x its own limit, and
        # warnings.catch_warnings is not thread-safe, so we rely on our lower limit.)
        with Image.open(path, formats=ALLOWED_FORMATS) as img:
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
        raise ImageDecodeError(unsupported_reason(path, _head(path))
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
        # 16-bit and float greyscale: convert("RGB") would clip, so scale to 0..255 ourselves.
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() if arr.size else 0.0
        if peak > 255:
            arr = arr * (255.0 / (65535.0 if peak <= 65535 else peak))
        arr = np.clip(arr, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_pixels(path: str | os.PathLike, size: int) -> np.ndarray:
    """Decode ``path`` to a ``(size, size, 3)`` uint8 array, exactly as the model sees it.

    The picture is squashed to a square (no crop), the same as Keras'
    ``image_dataset_from_directory`` does, so nothing at the edges is cut off.
    """
    img = open_rgb(path, draft_size=size)
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
