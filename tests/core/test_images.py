import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from catdog_desktop.core.data.images import ImageDecodeError, load_pixels, open_rgb


def left_red_right_blue(w=40, h=20):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2:] = (0, 0, 255)
    return Image.fromarray(arr)


def test_exif_rotated_photo_decodes_upright(tmp_path):
    # Stored sideways (turned 90 degrees anticlockwise); EXIF orientation 6 says "turn clockwise to view".
    upright = left_red_right_blue()
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    img = open_rgb(tmp_path / "r.jpg")
    assert img.size == upright.size
    px = np.asarray(img)
    assert px[10, 2, 0] > 200 and px[10, 2, 2] < 60      # left is red
    assert px[10, -3, 2] > 200 and px[10, -3, 0] < 60    # right is blue


def image_in_mode(mode: str) -> Image.Image:
    """A left-to-right grey ramp in ``mode`` (16-bit and float modes use their full range)."""
    ramp8 = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))
    if mode == "I;16":
        return Image.fromarray(ramp8.astype(np.uint16) * 257)
    if mode in ("I", "F"):
        return Image.fromarray(ramp8.astype(np.int32) * 257).convert(mode)
    return Image.fromarray(ramp8).convert(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "1", "CMYK", "P", "I;16", "I", "F"])
def test_any_mode_becomes_rgb(tmp_path, mode):
    path = tmp_path / "x.tiff"
    image_in_mode(mode).save(path, format="TIFF")
    px = load_pixels(path, 16)
    assert px.shape == (16, 16, 3) and px.dtype == np.uint8
    # the ramp survives: dark on the left, bright on the right (16-bit is scaled, not clipped)
    assert px[8, 0].mean() < 60 and px[8, -1].mean() > 190


def test_transparent_pixels_are_white(tmp_path):
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    img.save(tmp_path / "t.png")
    assert load_pixels(tmp_path / "t.png", 8).min() == 255
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.gif", transparency=0)
    assert load_pixels(tmp_path / "p.gif", 8).min() == 255


def test_decompression_bomb_refused_from_header(tmp_path):
    # A PNG that claims 20000x20000 pixels (400 MP) in a few bytes.
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(ImageDecodeError, match="too large"):
        load_pixels(tmp_path / "bomb.png", 32)


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"), (b"hello world", "not an image"), (None, "damaged or truncated"),
])
def test_bad_files_raise_readable_errors(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    if content is None:
        left_red_right_blue(400, 400).save(path, quality=90)
        content = path.read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=reason):
        load_pixels(path, 32)


def test_resize_squashes_to_square_and_uses_draft(tmp_path):
    left_red_right_blue(1000, 500).save(tmp_path / "big.jpg", quality=90)
    px = load_pixels(tmp_path / "big.jpg", 64)
    assert px.shape == (64, 64, 3)
    assert px[32, 5, 0] > 200 and px[32, -5, 2] > 200


def test_gif_first_frame_and_webp(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 255, 0)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert load_pixels(tmp_path / "a.gif", 10)[5, 5, 0] > 200
    frames[1].save(tmp_path / "b.WEBP")
    assert load_pixels(tmp_path / "b.WEBP", 10)[5, 5, 1] > 200


def ramp(low: float, high: float, dtype=np.float32) -> np.ndarray:
    """A left-to-right ramp from ``low`` to ``high``, 16 x 32."""
    return np.tile(np.linspace(low, high, 32), (16, 1)).astype(dtype)


@pytest.mark.parametrize("values, what", [
    (ramp(0.0, 1.0), "float 0-1, as microscopes save"),
    (ramp(-3.0, 7.0), "float of any range"),
    (ramp(0.0, 1.0) * 4095, "float holding 12-bit counts"),
    (np.where(np.arange(32) % 7 == 0, np.nan, ramp(0.0, 1.0)).astype(np.float32), "float with NaN holes"),
    (ramp(0, 65535, np.uint16), "16-bit, full range"),
    (ramp(0, 4095, np.uint16), "16-bit holding a 12-bit camera's counts"),
    (ramp(-1000, 1000, np.int32), "32-bit integers"),
])
def test_float_and_16_bit_tiffs_are_scaled_to_the_8_bit_range(tmp_path, values, what):
    path = tmp_path / "x.tif"
    Image.fromarray(values).save(path, format="TIFF")
    px = load_pixels(path, 32)
    assert px.shape == (32, 32, 3) and px.dtype == np.uint8
    # The ramp comes back across the whole range: black on the left, white on the right.
    assert px[8, 1].mean() < 20 and px[8, -2].mean() > 235, what
    assert np.all(np.diff(px[8, 1:-1, 0].astype(int)[~np.isnan(values[8, 1:-1])]) >= 0), what


def test_a_float_picture_in_0_to_1_keeps_its_brightness(tmp_path):
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "grey.tif")
    assert load_pixels(tmp_path / "grey.tif", 8).max() == 128  # half of white, not stretched or black


@pytest.mark.parametrize("values", [np.full((8, 8), 0.25, np.float32), np.full((8, 8), 3000, np.uint16),
                                    np.full((8, 8), 7.5, np.float32), np.full((8, 8, 3), 200, np.uint8)])
def test_a_picture_of_one_flat_colour_is_named_as_such(tmp_path, values):
    from catdog_desktop.core.data.images import flat_picture_reason

    Image.fromarray(values).save(tmp_path / "flat.tif")
    assert flat_picture_reason(load_pixels(tmp_path / "flat.tif", 8)) == "the picture is a single flat colour"


def test_a_picture_with_anything_in_it_is_not_flat(tmp_path):
    from catdog_desktop.core.data.images import flat_picture_reason

    Image.fromarray(ramp(0.0, 1.0)).save(tmp_path / "ramp.tif")
    assert flat_picture_reason(load_pixels(tmp_path / "ramp.tif", 8)) is None
    one_dot = np.zeros((8, 8, 3), np.uint8)
    one_dot[3, 3] = 1
    assert flat_picture_reason(one_dot) is None
