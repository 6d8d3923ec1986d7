"""A corpus of hostile and unusual files, generated on demand (nothing checked in).

``BAD`` files must be refused with the reason given; ``GOOD`` files must decode. Tests use
them through the core, through drops on the app and through its folder and file pickers.
Hostile folders (``make_deep_folder``, ``make_link_to_itself``), model files (``BAD_MODELS``) and
a sorted folder whose sort log lies (``make_lying_sort_log``) are at the end.
"""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
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


# ----- a sort log that lies ----------------------------------------------------------------------

@dataclass
class LyingSortLog:
    """A sorted folder whose sort log was edited by someone else (see :func:`make_lying_sort_log`)."""

    target: Path
    untouchable: dict[Path, bytes]   # files undo must leave byte for byte (outside and inside the target)
    made_up: list[Path]              # places the log asks files to be moved to: must never appear
    refused: tuple[int, int]         # lines refused by the first undo (the move-sort), then the second (copy)


def make_lying_sort_log(root: Path) -> LyingSortLog:
    """``root/shared``, a sorted folder as a shared or synced one may be, whose hand-edited sort log
    (in the previous version's format: no sizes, hashes or signatures) asks undo to delete the only
    copy of a file outside it (source = destination), to move a file planted in it to a path of
    the editor's choosing (an SSH key), and to reach outside it by an absolute path, by '..' and
    through a link (``dogs`` points to a folder outside); one line of it is not even complete."""
    home = root / "home"
    pictures = home / "pictures"
    pictures.mkdir(parents=True)
    only, mine = home / "only.jpg", pictures / "mine.jpg"
    only.write_bytes(b"the only copy")
    mine.write_bytes(b"my picture")
    target = root / "shared"
    (target / "cats").mkdir(parents=True)
    planted = target / "cats" / "evil.jpg"
    planted.write_bytes(b"ssh-ed25519 AAAA the editor's key")
    os.symlink(pictures, target / "dogs", target_is_directory=True)
    elsewhere = root / "elsewhere"
    made_up = [home / ".ssh" / "authorized_keys", elsewhere / "a.jpg", elsewhere / "b.jpg", elsewhere / "c.jpg"]
    runs = [("r1", "copy", [(only, only), (planted, planted)]),
            ("r2", "move", [(made_up[0], planted), (made_up[1], mine),
                            (made_up[2], f"{target}/cats/../../home/pictures/mine.jpg"),
                            (made_up[3], target / "dogs" / "mine.jpg")])]
    lines = []
    for run, mode, pairs in runs:
        lines.append({"op": "begin", "run": run, "mode": mode, "time": "2026-01-01T10:00:00", "count": len(pairs)})
        for src, dst in pairs:
            lines.append({"op": "planned", "run": run, "src": str(src), "dst": str(dst)})
            lines.append({"op": "placed", "run": run, "src": str(src), "dst": str(dst)})
        if mode == "move":
            lines.append({"op": "planned", "run": run, "src": ["not", "a", "path"], "dst": 7})
        lines.append({"op": "end", "run": run, "stopped": False})
    (target / ".catdog-sort-log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return LyingSortLog(target, {only: only.read_bytes(), mine: mine.read_bytes(), planted: planted.read_bytes()},
                        made_up, (5, 2))


# ----- model files whose graph runs code ---------------------------------------------------------

def _graph_that_writes(target: Path, image_size: int):
    """A tf.Module whose serving function answers 50 % for every class, and on each call writes
    ``target`` (tf.io.write_file): what a shared SavedModel or Flex .tflite can do to the user's disk."""
    import tensorflow as tf

    class Writes(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="inputs")])
        def serve(self, inputs):
            tf.io.write_file(str(target), tf.strings.as_string(tf.reduce_sum(inputs)))
            return {"output_0": tf.zeros_like(inputs[:, 0, 0, :1]) + 0.5}

    return Writes()


def make_saved_model_that_writes(folder: Path, target: Path, image_size: int = 32) -> Path:
    """A SavedModel folder whose graph writes ``target`` when called, with the ``catdog_desktop.json``
    and ``labels.txt`` our exports have (anyone can write them)."""
    import json

    import tensorflow as tf

    module = _graph_that_writes(target, image_size)
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    (folder / "catdog_desktop.json").write_text(json.dumps({"class_names": ["cats", "dogs"], "image_size": image_size}))
    (folder / "labels.txt").write_text("cats\ndogs\n")
    return folder


def make_flex_tflite_that_writes(path: Path, target: Path, image_size: int = 32) -> Path:
    """A .tflite converted with TensorFlow ops allowed (SELECT_TF_OPS), whose graph writes ``target``
    (FlexWriteFile), with the labels file our exports have beside it."""
    import tensorflow as tf

    module = _graph_that_writes(target, image_size)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    path.write_bytes(converter.convert())
    path.with_name(path.name + ".labels.txt").write_text("cats\ndogs\n")
    return path

# ----- names other programs interpret, names that are not UTF-8, zip bombs ---------------------

#: Class names a spreadsheet would run as formulas, and that matplotlib reads as (broken) maths.
FORMULA_CLASSES = ["=HYPERLINK(\"http://x\",\"cats\")", "@dogs"]
DOLLAR_CLASSES = ["$cats$", "50%$#$"]


def rename_to_undecodable(folder: Path) -> list[bytes]:
    """Give every file in ``folder`` a name with a byte that is not UTF-8 (``\\xff``), as Linux
    allows; returns the new names as bytes."""
    names = []
    for path in sorted(Path(folder).iterdir()):
        if path.is_file():
            new = os.fsencode(path.parent) + b"/\xff" + os.fsencode(path.name)
            os.rename(os.fsencode(path), new)
            names.append(os.path.basename(new))
    return names


def zip_bomb(good_model: Path, out: Path, member: str, inflated: int = 2 << 30) -> Path:
    """``good_model`` (a .keras file) copied to ``out`` with ``member`` replaced by ``inflated``
    bytes of zeros that take a few MB in the file. Made in well under a second: one deflated
    megabyte (a full flush makes it independent of what precedes it) repeated, then the final block."""
    mib = 1 << 20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = deflate.compress(bytes(mib)) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = _crc_of_zeros(inflated // mib)
    with zipfile.ZipFile(good_model) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != member:
                target.writestr(info, source.read(info.filename))
        bomb = zipfile.ZipInfo(member)
        with target.open(bomb, "w") as fh:  # written stored: the deflated bytes as they are...
            for _ in range(inflated // mib):
                fh.write(chunk)
            fh.write(zlib.compressobj(9, zlib.DEFLATED, -15).flush())
        # ... and declared deflated in the central directory, which is what readers go by.
        bomb.compress_type, bomb.file_size, bomb.CRC = zipfile.ZIP_DEFLATED, inflated // mib * mib, crc
    return out


@functools.cache
def _crc_of_zeros(mebibytes: int) -> int:
    crc, zeros = 0, bytes(1 << 20)
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    return crc


# ----- a model file whose description has wrong types --------------------------------------------

#: Values of the wrong type or shape for any recorded field: kind -> value.
WRONG_VALUES = {"text": "x", "list": [1, "x"], "mapping": {"a": 1}, "number": 7, "null": None,
                "NaN": float("nan"), "huge": 1e308}


def full_metadata(model, data_dir: Path) -> dict:
    """Everything a trained model records, well formed, for the two-class 32-pixel ``model``
    (tests/helpers.colour_classifier) trained on ``data_dir``: a "not sure" threshold of 0.7, a
    "none of these" summary, its dataset record and evaluation."""
    import base64

    from catdog_desktop.core.model import calibration
    from catdog_desktop.core.data.dataset import SPLIT_METHOD, TRAINED_PICTURES, encode_digests

    names = ["cats", "dogs"]
    centres = np.array([[0.9, 0.3, 0.1], [0.1, 0.3, 0.9]], "<f2")
    return {
        "format_version": 1, "versions": {"keras": "3.15.1"}, "keras_version": "3.15.1",
        "class_names": names, "image_size": 32,
        "config": {"backbone": "none", "image_size": 32, "epochs": 4, "augmentation": True},
        "history": [{"epoch": 1, "loss": 0.5, "accuracy": 0.7, "val_loss": 0.6, "val_accuracy": float("nan"),
                     "learning_rate": 0.003, "seconds": 1.5, "stage": "classifier"}],
        "best_epoch": 1, "stopped_by_user": False, "stopped_early": False, "stopped_by_time_limit": False,
        "evaluation": {"split": "validation", "count": 4, "accuracy": 0.75, "loss": 0.5, "class_names": names,
                       "confusion": [[2, 0], [1, 1]], "mistakes": 1,
                       "per_class": [{"name": "cats", "precision": 0.67, "recall": 1.0, "f1": 0.8, "support": 2},
                                     {"name": "dogs", "precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2}]},
        "dataset": {"root": str(data_dir), "layout": "class folders", "class_names": names,
                    "train_counts": [5, 5], "validation_counts": [1, 1], "test_counts": None,
                    "validation_source": "20% of the training pictures (seed 1337)", "seed": 1337,
                    "validation_split": 0.2, "split_method": SPLIT_METHOD, "skipped": 0,
                    "problems": [{"level": "warning", "message": "few pictures"}],
                    TRAINED_PICTURES: encode_digests([b"12345678abc", b"abcdefgh123"])},
        "decode_seconds": 1.0, "train_seconds": 2.0, "stage_seconds": {"classifier": 2.0}, "notes": ["a note"],
        "backbone": None, "provenance": {"source": "made up"},
        "calibration": {
            "confidence_threshold": {"target_accuracy": 0.9, "pictures": 4, "mistakes": 1, "source": "validation",
                                     "value": 0.7, "share_flagged": 0.25, "accuracy_below": None},
            "novelty": {"count": 2, "dim": 3, "centres": base64.b64encode(centres.tobytes()).decode("ascii"),
                        "threshold": 0.5, "layer": calibration.feature_layer(model)}},
    }


def with_value(metadata: dict, where: tuple, value) -> dict:
    """A deep copy of ``metadata`` with the value at ``where`` (keys and list indices) replaced."""
    crafted = json.loads(json.dumps(metadata))
    holder = crafted
    for key in where[:-1]:
        holder = holder[key]
    holder[where[-1]] = value
    return crafted


def make_described_model(path: Path, good_model: Path, metadata: dict) -> Path:
    """A copy of the good model file ``good_model`` at ``path`` that records ``metadata``."""
    from catdog_desktop.core.model import storage

    path.write_bytes(Path(good_model).read_bytes())
    storage.update_metadata(path, metadata)
    return path


#: The fields of :func:`full_metadata` a model can do without.
OPTIONAL_FIELDS = ("format_version", "versions", "keras_version", "config", "history", "best_epoch", "stopped_by_user",
                   "stopped_early", "stopped_by_time_limit", "evaluation", "dataset", "decode_seconds", "train_seconds",
                   "stage_seconds", "notes", "backbone", "provenance", "calibration")


def wrong_everywhere(metadata: dict, value) -> dict:
    """``metadata`` with every field it can do without set to ``value``."""
    return {**metadata, **{key: value for key in OPTIONAL_FIELDS}}


def wrong_entries(metadata: dict, value) -> dict:
    """``metadata`` with every entry of its records (dataset, evaluation, calibration, settings, ...)
    and of its lists set to ``value``, and the "not sure" threshold's value too."""
    crafted = json.loads(json.dumps(metadata))
    for key in ("dataset", "evaluation", "calibration", "config", "stage_seconds", "versions", "provenance"):
        crafted[key] = {k: value for k in crafted[key]}
    crafted["calibration"]["confidence_threshold"] = {**metadata["calibration"]["confidence_threshold"], "value": value}
    crafted["history"], crafted["notes"] = [value], [value]
    return crafted


def described_setting(root: Path, per_class: int) -> tuple[Path, str, dict]:
    """(a folder ``root/pets`` of ``per_class`` pictures of cats and dogs, the path of a good tiny model
    file (tests/helpers.colour_classifier) in ``root``, its :func:`full_metadata` for that folder)."""
    from helpers import colour_classifier
    from synthetic import write_class_folders

    data = write_class_folders(root / "pets", ["cats", "dogs"], per_class)
    classifier = colour_classifier(root)
    return data, classifier.path, full_metadata(classifier.model, data)
