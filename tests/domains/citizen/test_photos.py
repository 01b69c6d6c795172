"""Citizens' report photos: type sniffing, limits, orientation, resizing and metadata stripping."""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import time
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from smartcity.domains.citizen import photos
from smartcity.domains.citizen.photos import (
    MAX_PHOTOS,
    MAX_PIXELS,
    MAX_SIDE_PX,
    MAX_UPLOAD_BYTES,
    CleanPhoto,
    PhotoRejected,
    clean_photo,
    clean_photos,
    has_gps,
)

RED = (220, 20, 20)
BLUE = (20, 20, 220)

# --------------------------------------------------------------------------------------------
# Helpers: every image is made in memory
# --------------------------------------------------------------------------------------------


def _gps_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: camera make, orientation and a GPS IFD in Cần Thơ."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (10.0, 2.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 46.0, 0.0)
    return exif


def _two_halves(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue: tells which way the photo was turned."""
    img = Image.new("RGB", size, RED)
    img.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return img


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def _png_of_size(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG: a few kilobytes that declare width × height pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    rows_per_block = 500
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * rows_per_block) for _ in range(height // rows_per_block)]
    parts.append(compressor.compress(row * (height % rows_per_block)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk_types(data: bytes) -> list[bytes]:
    kinds, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def _assert_no_metadata(photo: CleanPhoto) -> None:
    assert not has_gps(photo.data)
    with Image.open(io.BytesIO(photo.data)) as img:
        assert len(img.getexif()) == 0
        assert not {"exif", "xmp", "icc_profile", "comment", "dpi"} & set(img.info)
    assert b"Exif\x00\x00" not in photo.data
    assert b"PhoneCo" not in photo.data
    assert b"ns.adobe.com/xap" not in photo.data


def _rejected(raw: bytes, declared_type: str | None = None) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as info:
        clean_photo(raw, declared_type)
    return info.value


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------


def test_phone_jpeg_loses_gps_and_all_exif_stays_upright_and_is_resized() -> None:
    # Stored landscape with orientation 6: the phone was held upright, the photo is portrait.
    raw = _encode(
        _two_halves((3200, 1800)),
        "JPEG",
        exif=_gps_exif(orientation=6),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>',
        comment=b"PhoneCo serial 1234",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    assert has_gps(raw)

    photo = clean_photo(raw, "image/jpeg")

    assert photo.media_type == "image/jpeg"
    assert (photo.width, photo.height) == (900, 1600)  # portrait now, longest side 1600
    _assert_no_metadata(photo)
    with Image.open(io.BytesIO(photo.data)) as img:
        assert img.format == "JPEG"
        assert img.size == (900, 1600)
        # Turned 90° clockwise: the stored left (red) half is now the top.
        top, bottom = img.getpixel((450, 100)), img.getpixel((450, 1500))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 180 and top[2] < 60
    assert bottom[2] > 180 and bottom[0] < 60


def test_sha256_is_of_the_cleaned_bytes_and_cleaning_is_deterministic() -> None:
    raw = _encode(_two_halves((40, 30)), "JPEG", exif=_gps_exif())
    photo = clean_photo(raw)
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()
    assert photo.sha256 != hashlib.sha256(raw).hexdigest()
    assert clean_photo(raw) == photo


def test_small_photos_are_not_enlarged() -> None:
    photo = clean_photo(_encode(_two_halves((320, 240)), "JPEG"))
    assert (photo.width, photo.height) == (320, 240)


def test_png_text_chunks_and_exif_are_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Nguyễn Văn A")
    info.add_text("Location", "10.03N 105.77E", zip=True)
    info.add_itxt("Comment", "đường Nguyễn Trãi", lang="vi")
    raw = _encode(_two_halves((200, 100)), "PNG", pnginfo=info, exif=_gps_exif())
    assert has_gps(raw)

    photo = clean_photo(raw, "image/png")

    # Opaque, so re-encoded as JPEG.
    assert photo.media_type == "image/jpeg"
    _assert_no_metadata(photo)
    assert b"Author" not in photo.data and b"Location" not in photo.data


def test_transparent_png_stays_png_with_only_pixel_chunks() -> None:
    img = Image.new("RGBA", (2400, 600), (*RED, 0))
    img.paste((*BLUE, 255), (0, 0, 1200, 600))
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "PhoneCo editor")
    raw = _encode(
        img,
        "PNG",
        pnginfo=info,
        exif=_gps_exif(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )

    photo = clean_photo(raw)

    assert photo.media_type == "image/png"
    assert (photo.width, photo.height) == (1600, 400)
    assert set(_png_chunk_types(photo.data)) == {b"IHDR", b"IDAT", b"IEND"}
    _assert_no_metadata(photo)
    with Image.open(io.BytesIO(photo.data)) as out:
        assert out.mode == "RGBA"
        assert out.getpixel((100, 200)) == (*BLUE, 255)
        left_alpha = out.getpixel((1500, 200))
        assert isinstance(left_alpha, tuple) and left_alpha[3] == 0


def test_opaque_rgba_and_palette_pngs_become_jpeg() -> None:
    rgba = _encode(Image.new("RGBA", (50, 50), (*RED, 255)), "PNG")
    palette = _encode(Image.new("RGB", (50, 50), BLUE).convert("P"), "PNG")
    assert clean_photo(rgba).media_type == "image/jpeg"
    assert clean_photo(palette).media_type == "image/jpeg"


def test_sixteen_bit_greyscale_png_keeps_its_tones() -> None:
    img = Image.new("I;16", (20, 20), 32768)  # mid-grey; a naive conversion clips it to white
    photo = clean_photo(_encode(img, "PNG"))
    with Image.open(io.BytesIO(photo.data)) as out:
        pixel = out.getpixel((10, 10))
    assert isinstance(pixel, tuple) and all(120 <= channel <= 136 for channel in pixel)


def test_webp_is_accepted_and_stripped() -> None:
    raw = _encode(_two_halves((2000, 1000)), "WEBP", exif=_gps_exif(), quality=80)
    assert has_gps(raw)
    photo = clean_photo(raw, "image/webp")
    assert photo.media_type == "image/jpeg"
    assert (photo.width, photo.height) == (1600, 800)
    _assert_no_metadata(photo)


def test_multi_picture_jpeg_from_a_phone_keeps_the_main_picture() -> None:
    # MPO: a JPEG with a second frame (depth or gain map) that Pillow opens as "MPO".
    main, extra = _two_halves((64, 32)), Image.new("RGB", (16, 8), "white")
    raw = _encode(main, "MPO", save_all=True, append_images=[extra], exif=_gps_exif())
    photo = clean_photo(raw)
    assert (photo.media_type, photo.width, photo.height) == ("image/jpeg", 64, 32)
    _assert_no_metadata(photo)


def test_cmyk_jpeg_becomes_rgb() -> None:
    photo = clean_photo(_encode(Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG"))
    with Image.open(io.BytesIO(photo.data)) as out:
        assert out.mode == "RGB"
        pixel = out.getpixel((15, 15))
    assert isinstance(pixel, tuple) and pixel[0] > 200 and pixel[1] < 60


def test_a_broken_icc_profile_is_dropped_not_fatal() -> None:
    raw = _encode(_two_halves((40, 20)), "JPEG", icc_profile=b"not a profile" * 10)
    photo = clean_photo(raw)
    _assert_no_metadata(photo)


def test_the_declared_type_is_ignored_in_favour_of_the_content() -> None:
    png = _encode(Image.new("RGBA", (30, 30), (*RED, 0)), "PNG")
    assert clean_photo(png, "image/jpeg").media_type == "image/png"
    jpeg = _encode(_two_halves((30, 30)), "JPEG")
    assert clean_photo(jpeg, "text/plain").media_type == "image/jpeg"
    assert clean_photo(jpeg, "image/heic") == clean_photo(jpeg)


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"Xin chao, day la mot tep van ban.\n" * 20,  # a .txt renamed photo.jpg
        b"",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,  # a JPEG signature and nothing after it
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
    ],
    ids=["text", "empty", "pdf", "jpeg-signature-only", "png-signature-only"],
)
def test_what_is_not_an_image_is_refused(raw: bytes) -> None:
    exc = _rejected(raw, "image/jpeg")
    assert exc.code == "not-an-image"
    assert exc.message_vi == "Tệp không phải là ảnh hoặc ảnh bị hỏng"


def test_a_truncated_jpeg_is_refused_as_damaged() -> None:
    raw = _encode(_two_halves((400, 300)), "JPEG")
    assert _rejected(raw[: len(raw) // 2]).code == "not-an-image"


@pytest.mark.parametrize(
    "raw",
    [
        _encode(Image.new("P", (8, 8)), "GIF"),
        _encode(Image.new("RGB", (8, 8)), "BMP"),
        _encode(Image.new("RGB", (8, 8)), "TIFF"),
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64,
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
    ids=["gif", "bmp", "tiff", "heic", "avif", "svg"],
)
def test_other_image_formats_are_refused_as_unsupported(raw: bytes) -> None:
    exc = _rejected(raw, "image/jpeg")
    assert exc.code == "unsupported-type"
    assert exc.message_vi == "Chỉ nhận ảnh JPEG, PNG hoặc WebP"
    assert str(exc) == exc.message_en == "Only JPEG, PNG or WebP photos are accepted"


def test_oversize_uploads_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_open(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("decoded an oversize upload")

    monkeypatch.setattr(Image, "open", must_not_open)
    raw = b"\xff\xd8\xff\xe0" + b"\x00" * (MAX_UPLOAD_BYTES - 3)
    exc = _rejected(raw)
    assert exc.code == "too-large"
    assert exc.message_vi == "Ảnh quá lớn (tối đa 10 MB)"


def test_an_upload_of_exactly_the_limit_is_not_too_large() -> None:
    # Padding after the JPEG's end marker: readers ignore it, the size check counts it.
    raw = _encode(_two_halves((16, 16)), "JPEG")
    raw += b"\x00" * (MAX_UPLOAD_BYTES - len(raw))
    assert clean_photo(raw).width == 16


def test_a_decompression_bomb_is_refused_fast() -> None:
    raw = _png_of_size(20_000, 20_000)  # 400 MP in a few kilobytes; Pillow itself refuses it
    assert len(raw) < 200_000
    started = time.perf_counter()
    exc = _rejected(raw)
    assert exc.code == "too-many-pixels"
    assert time.perf_counter() - started < 2.0
    assert "megapixel" in exc.message_vi


def test_our_pixel_limit_is_lower_than_pillows() -> None:
    raw = _png_of_size(8_000, 7_000)  # 56 MP: Pillow alone would decode it without a word
    assert MAX_PIXELS < 8_000 * 7_000 < (Image.MAX_IMAGE_PIXELS or 0)
    assert _rejected(raw).code == "too-many-pixels"


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillows_bomb_warning_raised_as_error_is_a_refusal_too() -> None:
    # 100 MP: above Pillow's warning threshold, below its error threshold.
    assert _rejected(_png_of_size(10_000, 10_000)).code == "too-many-pixels"


def test_has_gps_guards_against_bombs_and_non_images() -> None:
    with pytest.raises(PhotoRejected) as info:
        has_gps(_png_of_size(8_000, 7_000))
    assert info.value.code == "too-many-pixels"
    with pytest.raises(PhotoRejected) as info:
        has_gps(b"not an image")
    assert info.value.code == "not-an-image"


def test_has_gps_sees_gps_in_xmp() -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-'
        b'rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        b'exif:GPSLatitude="10,2.0N" exif:GPSLongitude="105,46.0E"/></rdf:RDF></x:xmpmeta>'
    )
    raw = _encode(_two_halves((20, 20)), "JPEG", xmp=xmp)
    assert has_gps(raw)
    assert not has_gps(_encode(_two_halves((20, 20)), "JPEG"))
    _assert_no_metadata(clean_photo(raw))


# --------------------------------------------------------------------------------------------
# A report's photos
# --------------------------------------------------------------------------------------------


def test_up_to_five_photos_per_report() -> None:
    raw = _encode(_two_halves((40, 30)), "JPEG", exif=_gps_exif())
    cleaned = clean_photos([(raw, "image/jpeg")] * MAX_PHOTOS)
    assert len(cleaned) == MAX_PHOTOS
    assert not any(has_gps(photo.data) for photo in cleaned)
    assert clean_photos([]) == []


def test_more_than_five_photos_are_refused() -> None:
    raw = _encode(_two_halves((40, 30)), "JPEG")
    with pytest.raises(PhotoRejected) as info:
        clean_photos([(raw, None)] * (MAX_PHOTOS + 1))
    assert info.value.code == "too-many-photos"
    assert info.value.message_vi == "Tối đa 5 ảnh cho một phản ánh"
    assert str(info.value) == "At most 5 photos per report"


def test_a_refused_photo_in_a_report_says_which_one() -> None:
    good = _encode(_two_halves((40, 30)), "JPEG")
    with pytest.raises(PhotoRejected) as info:
        clean_photos([(good, "image/jpeg"), (b"plain text", "image/jpeg"), (good, None)])
    assert (info.value.code, info.value.index) == ("not-an-image", 1)
    assert _rejected(b"plain text").index is None


def test_constants() -> None:
    assert (MAX_PHOTOS, MAX_SIDE_PX, MAX_UPLOAD_BYTES) == (5, 1600, 10 * 1024 * 1024)
    assert photos.ALLOWED_FORMATS == ("JPEG", "PNG", "WEBP")
