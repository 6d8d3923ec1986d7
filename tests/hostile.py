"""A corpus of hostile and unusual files, generated on demand (nothing checked in).

``BAD`` files must be refused with the reason given; ``GOOD`` files must decode. Tests use
them through the core, through drops on the app and through its folder and file pickers.
Hostile folders (``make_deep_folder``, ``make_link_to_itself``) and model files (``BAD_MODELS``)
are at the end.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from synthetic import synthetic_image


def _jpeg_bytes(size=(120, 90)) -> bytes:
    buf = io.BytesIO()
    synthetic_image(0, np.random.default_rng(1), 64).resize(size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png_bomb() -> bytes:
    """A PNG header that claims 20000x20000 pixels (400 MP) in a few bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def _zip_of_jpeg() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("cat.jpg", _jpeg_bytes())
    return buf.getvalue()


def _raw_nef() -> bytes:
    """A camera RAW file is a TIFF container: Pillow would open its small embedded preview."""
    buf = io.BytesIO()
    synthetic_image(0, np.random.default_rng(2), 64).save(buf, "TIFF")
    return buf.getvalue()


def _tar_of_jpeg() -> bytes:
    buf = io.BytesIO()
    data = _jpeg_bytes()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("cat.jpg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _heic() -> bytes:
    """The start of an iPhone HEIC file (an ISO-BMFF 'ftyp' box naming the heic brand)."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + os.urandom(200)


def _avif_sequence() -> bytes:
    """The start of an animated AVIF (an image sequence: the 'avis' brand), as phones save them."""
    return struct.pack(">I", 28) + b"ftypavis" + b"\0\0\0\0" + b"avifavismsf1" + os.urandom(200)


def _one_pixel() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


#: name -> (bytes maker, words the user must see). None for bytes: made by a special case below.
BAD = {
    "empty.jpg": (lambda: b"", "empty"),
    "truncated.jpg": (lambda: _jpeg_bytes((400, 300))[:1500], "damaged or truncated"),
    "notes.jpg": (lambda: b"shopping list: milk, eggs\n" * 20, "not an image"),
    "random.png": (lambda: np.random.default_rng(3).bytes(3000), "not an image"),
    "holiday.zip": (_zip_of_jpeg, "archive"),
    "renamed-archive.jpg": (_zip_of_jpeg, "archive"),
    "IMG_0001.HEIC": (_heic, "HEIC"),
    "animation.jpg": (_avif_sequence, "HEIC/HEIF/AVIF"),
    "one-pixel.png": (_one_pixel, "too small (1x1 pixels)"),
    "camera.NEF": (_raw_nef, "camera RAW"),
    "backup.jpg": (_tar_of_jpeg, "archive"),
    "bomb.png": (_png_bomb, "too large (20000x20000 pixels)"),
    "locked.jpg": (_jpeg_bytes, "permission denied"),
    "pipe.jpg": (lambda: b"", "not a regular file"),  # a named pipe (FIFO): made by make_bad
}

#: name -> Pillow image saver. Each must decode to an RGB picture.
def _good_images() -> dict:
    rng = np.random.default_rng(7)
    rgb = synthetic_image(1, rng, 64)
    frames = [synthetic_image(i % 2, rng, 40) for i in range(3)]
    sixteen = Image.fromarray((np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16))
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "Ünïcødé 猫 photo.JPG": lambda p: rgb.save(p, "JPEG"),
        "cmyk.jpg": lambda p: rgb.convert("CMYK").save(p, "JPEG"),
        "grey.png": lambda p: rgb.convert("L").save(p),
        "palette-transparent.png": lambda p: rgb.convert("P").save(p, transparency=0),
        "rgba.png": lambda p: rgb.convert("RGBA").save(p),
        "sixteen-bit.png": lambda p: sixteen.save(p),
        "animated.gif": lambda p: frames[0].save(p, save_all=True, append_images=frames[1:]),
        "picture.webp": lambda p: rgb.save(p, "WEBP"),
        "bitmap.bmp": lambda p: rgb.save(p, "BMP"),
        "panorama.png": lambda p: rgb.resize((3000, 12)).save(p),
        "rotated.jpg": lambda p: rgb.save(p, "JPEG", exif=exif.tobytes()),
    }


GOOD = list(_good_images())


def make_bad(folder: Path, name: str, monkeypatch=None) -> Path:
    """Write the bad file ``name`` into ``folder``. ``locked.jpg`` needs ``monkeypatch``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name == "pipe.jpg":
        os.mkfifo(path)  # reading it would wait forever for a writer
        return path
    path.write_bytes(BAD[name][0]())
    if name == "locked.jpg":
        make_unreadable(path, monkeypatch)
    return path


def make_good(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    _good_images()[name](path)
    return path


def make_unreadable(path: Path, monkeypatch) -> None:
    """Take read permission away. Root reads anything, so there the denial is simulated."""
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # running as root
        real_open = Image.open
        target = str(path)

        def denying_open(fp, *args, **kwargs):
            if str(fp) == target:
                raise PermissionError(13, "Permission denied", target)
            return real_open(fp, *args, **kwargs)

        monkeypatch.setattr(Image, "open", denying_open)


# ----- hostile folders -------------------------------------------------------------------------

#: Deeper than Python's default recursion limit (1,000): a recursive walk dies in it.
DEEP_LEVELS = 1200


def make_deep_folder(folder: Path, levels: int = DEEP_LEVELS, picture: str = GOOD[0]) -> Path:
    """``folder``/d/d/.../d (``levels`` deep) with one good picture at the bottom; returns it.
    Remove it with :func:`remove_deep_folder`: ``shutil.rmtree`` recurses too."""
    bottom = Path(folder)
    bottom.mkdir(parents=True, exist_ok=True)
    for _ in range(levels):  # one at a time: mkdir(parents=True) recurses once per level
        bottom = bottom / "d"  # 2 characters a level: well under PATH_MAX (4096)
        bottom.mkdir()
    return make_good(bottom, picture)


def remove_deep_folder(folder: Path) -> None:
    """Delete what :func:`make_deep_folder` made in ``folder``, bottom up, without recursion."""
    top = Path(folder) / "d"
    chain = [top]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for level in reversed(chain):
        for child in level.iterdir():
            if not child.is_dir():
                child.unlink()
        level.rmdir()


def make_link_to_itself(dataset: Path, name: str = "zloop") -> Path:
    """``dataset``/``name`` -> ``.``, as ``ln -s . zloop`` inside a class-folders dataset makes."""
    link = dataset / name
    link.symlink_to(".", target_is_directory=True)
    return link


# ----- hostile model files ---------------------------------------------------------------------

#: name -> (maker from a good .keras file's bytes, words the user must see).
BAD_MODELS = {
    "empty.keras": (lambda good: b"", "empty"),
    "notes.keras": (lambda good: b"hello, I am not a model", "not a Keras model"),
    "half-downloaded.keras": (lambda good: good[: len(good) // 2], "damaged or incomplete"),
    "old.h5": (lambda good: b"\x89HDF\r\n", "HDF5"),
}


def make_bad_model(folder: Path, name: str, good_model: Path) -> Path:
    """Write the bad model file ``name`` into ``folder``, made from the good model ``good_model``."""
    path = Path(folder) / name
    path.write_bytes(BAD_MODELS[name][0](Path(good_model).read_bytes()))
    return path
