"""Citizens' photos for Open311 reports ("phản ánh hiện trường"), made safe to store.

Pure functions, bytes in and bytes out: no files, no database, no network.

What `clean_photo` does to an upload, in order:

* Refuses more than `MAX_UPLOAD_BYTES` before looking at the content.
* Sniffs the real type from the first bytes. The declared media type and the file name are never
  trusted: a JPEG sent as ``image/png`` is a JPEG, a text file named ``.jpg`` is not an image.
  Only JPEG (MPO included: phone photos with a depth or gain map are JPEG files with extra frames),
  PNG and WebP are accepted. GIF, BMP, TIFF, HEIC/HEIF, AVIF, JPEG 2000, JPEG XL, PSD and SVG are
  recognised and refused as "unsupported-type" so the citizen is told which formats work; HEIC is
  refused because Pillow cannot read it without a plugin (browsers on iPhones send JPEG anyway).
* Opens it with the one matching Pillow decoder and refuses more than `MAX_PIXELS` from the header
  alone, before any pixel is decoded (decompression bombs).
* Applies the EXIF orientation, so the photo stays upright once the EXIF is gone, and shrinks it
  so its longest side is at most `MAX_SIDE_PX` (JPEGs are decoded at a reduced scale when large).
* Converts the colours to sRGB with the embedded ICC profile, if any, and then drops the profile:
  the stored photo looks the same in a browser but carries no profile.
* Re-encodes from the bare pixels into a fresh image, so nothing of the upload's metadata can
  follow: no EXIF (GPS, camera serial, time), no XMP, no ICC profile, no JPEG comment, no PNG
  text chunks, no DPI. Photos with transparency become PNG, all others JPEG at quality 85.
  Animated PNG and WebP keep their first frame only.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # refuse bigger uploads before decoding
MAX_PHOTOS = 5
MAX_SIDE_PX = 1600  # longest side after resizing
# 50 MP lets the full-resolution mode of today's 50 MP phone cameras through (8160×6120) while a
# decoded RGBA frame stays under 200 MB; real decompression bombs declare far more.
MAX_PIXELS = 50_000_000
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
JPEG_QUALITY = 85

RejectCode = Literal[
    "too-large", "not-an-image", "unsupported-type", "too-many-pixels", "too-many-photos"
]

_MESSAGES: dict[RejectCode, tuple[str, str]] = {
    "too-large": (
        f"Ảnh quá lớn (tối đa {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)",
        f"Photo too large (at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)",
    ),
    "not-an-image": (
        "Tệp không phải là ảnh hoặc ảnh bị hỏng",
        "The file is not an image or the image is damaged",
    ),
    "unsupported-type": (
        "Chỉ nhận ảnh JPEG, PNG hoặc WebP",
        "Only JPEG, PNG or WebP photos are accepted",
    ),
    "too-many-pixels": (
        f"Ảnh có quá nhiều điểm ảnh (tối đa {MAX_PIXELS // 1_000_000} megapixel)",
        f"Photo has too many pixels (at most {MAX_PIXELS // 1_000_000} megapixels)",
    ),
    "too-many-photos": (
        f"Tối đa {MAX_PHOTOS} ảnh cho một phản ánh",
        f"At most {MAX_PHOTOS} photos per report",
    ),
}


class PhotoRejected(ValueError):
    """A refused photo: a stable code and messages for the citizen in Vietnamese and English."""

    def __init__(self, code: RejectCode, index: int | None = None) -> None:
        self.code: RejectCode = code
        self.message_vi, self.message_en = _MESSAGES[code]
        # Position (0-based) of the refused photo in a `clean_photos` batch, None for one photo.
        self.index = index
        super().__init__(self.message_en)


@dataclass(frozen=True)
class CleanPhoto:
    """A photo ready to store: re-encoded bytes without metadata, its type, size and hash."""

    data: bytes
    media_type: str  # "image/jpeg", or "image/png" when the photo has transparency
    width: int
    height: int
    sha256: str  # hex digest of `data`


# --------------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------------

_ISO_BMFF_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
)
# BITMAPINFOHEADER and its variants: a two-byte "BM" alone would also match plain text.
_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def _is_bmp(head: bytes) -> bool:
    return (
        head[:2] == b"BM"
        and len(head) >= 18
        and struct.unpack("<I", head[14:18])[0] in _BMP_DIB_SIZES
    )


def _is_svg(head: bytes) -> bool:
    text = head[:4096].lstrip().lower()
    return text.startswith((b"<svg", b"<?xml")) and b"<svg" in text


# Image formats we recognise only to refuse them with "unsupported-type" rather than
# "not-an-image": the citizen did send a picture, just in a format we do not take.
_UNSUPPORTED: tuple[Callable[[bytes], bool], ...] = (
    lambda h: h[:6] in (b"GIF87a", b"GIF89a"),
    _is_bmp,
    lambda h: h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),  # TIFF, BigTIFF
    lambda h: h[4:8] == b"ftyp" and h[8:12] in _ISO_BMFF_IMAGE_BRANDS,  # HEIC, HEIF, AVIF
    lambda h: h[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000
    lambda h: h[:2] == b"\xff\x0a" or h[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n",  # JPEG XL
    lambda h: h[:4] == b"8BPS",  # Photoshop
    _is_svg,
)


def _sniff(raw: bytes) -> str:
    """The Pillow format of the content, or PhotoRejected when it is not one we accept."""
    if raw[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    if any(check(raw) for check in _UNSUPPORTED):
        raise PhotoRejected("unsupported-type")
    raise PhotoRejected("not-an-image")


# Pillow raises these on damaged or hostile content while parsing headers or decoding pixels.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError)


def _open(raw: bytes) -> Image.Image:
    """Opens the upload after the byte and type checks, refusing too many pixels before decoding."""
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PhotoRejected("too-large")
    fmt = _sniff(raw)
    try:
        # Only the decoder of the sniffed format may parse the bytes: no other plugin gets a try.
        img = Image.open(io.BytesIO(raw), formats=[fmt])
    except Image.DecompressionBombError as exc:
        raise PhotoRejected("too-many-pixels") from exc
    except Image.DecompressionBombWarning as exc:  # raised when warnings are turned into errors
        raise PhotoRejected("too-many-pixels") from exc
    except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
        raise PhotoRejected("not-an-image") from exc
    # Our own limit, lower than Pillow's global one (which other code may change) and checked on
    # the header's dimensions, before a single pixel is decoded.
    width, height = img.size
    if width * height > MAX_PIXELS:
        img.close()
        raise PhotoRejected("too-many-pixels")
    return img


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------

_SRGB = ImageCms.createProfile("sRGB")
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def _has_alpha_channel(img: Image.Image) -> bool:
    return img.mode in _ALPHA_MODES or "transparency" in img.info


def _to_srgb(img: Image.Image) -> Image.Image:
    """The pixels as RGB or RGBA in sRGB, using the embedded ICC profile when there is one."""
    if img.mode.startswith("I") or img.mode == "F":
        # 16-bit greyscale PNGs: a plain convert clips everything above 255 to white.
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    target = "RGBA" if _has_alpha_channel(img) else "RGB"
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            converted = ImageCms.profileToProfile(img, io.BytesIO(icc), _SRGB, outputMode=target)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            # A broken profile, or one that does not match the pixels (a CMYK profile on an RGB
            # image): the colours are taken as they are, the profile is dropped anyway.
            converted = None
        if converted is not None:
            return converted
    return img.convert(target)


def _is_opaque(img: Image.Image) -> bool:
    return img.mode != "RGBA" or img.getchannel("A").getextrema()[0] == 255


def clean_photo(raw: bytes, declared_type: str | None = None) -> CleanPhoto:
    """Checks one uploaded photo and re-encodes it upright, resized and without any metadata."""
    # `declared_type` (the client's Content-Type) is deliberately unused: only the bytes decide.
    del declared_type
    with _open(raw) as img:
        width, height = img.size
        scale = MAX_SIDE_PX / max(width, height)
        if scale < 1:
            # JPEG only (a no-op elsewhere): decode at 1/2, 1/4 or 1/8 scale straight from the
            # DCT, keeping at least twice the target size as Image.thumbnail does, which saves
            # time and memory on 12–50 MP phone photos.
            img.draft(None, (max(1, int(width * scale * 2)), max(1, int(height * scale * 2))))
        try:
            img.load()
        except _DECODE_ERRORS as exc:
            raise PhotoRejected("not-an-image") from exc
        try:
            upright = ImageOps.exif_transpose(img)
        except _DECODE_ERRORS:
            # A malformed EXIF block is no reason to refuse the photo; it is dropped below anyway.
            upright = img.copy()
        srgb = _to_srgb(upright)
    srgb.thumbnail((MAX_SIDE_PX, MAX_SIDE_PX), Image.Resampling.LANCZOS)
    if srgb.mode == "RGBA" and _is_opaque(srgb):
        srgb = srgb.convert("RGB")
    # A fresh image from the bare pixels: Pillow's encoders copy some metadata from `info` by
    # default (the JPEG comment, the PNG ICC profile), a new image has none to copy.
    bare = Image.frombytes(srgb.mode, srgb.size, srgb.tobytes())
    out = io.BytesIO()
    if bare.mode == "RGBA":
        bare.save(out, "PNG")
        media_type = "image/png"
    else:
        bare.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        media_type = "image/jpeg"
    data = out.getvalue()
    return CleanPhoto(
        data=data,
        media_type=media_type,
        width=bare.width,
        height=bare.height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def clean_photos(raws: Sequence[tuple[bytes, str | None]]) -> list[CleanPhoto]:
    """Cleans the photos of one report (bytes and declared type each), at most MAX_PHOTOS."""
    if len(raws) > MAX_PHOTOS:
        raise PhotoRejected("too-many-photos")
    cleaned: list[CleanPhoto] = []
    for index, (raw, declared_type) in enumerate(raws):
        try:
            cleaned.append(clean_photo(raw, declared_type))
        except PhotoRejected as exc:
            # Same code and messages, plus which photo it was, so the form can point at it.
            raise PhotoRejected(exc.code, index=index) from exc
    return cleaned


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

_XMP_GPS_MARKERS = ("GPSLatitude", "GPSLongitude")


def has_gps(data: bytes) -> bool:
    """Whether an image carries a location: a non-empty EXIF GPS IFD, or GPS tags in its XMP."""
    with _open(data) as img:
        try:
            # PNG keeps its eXIf chunk possibly after the pixels, so this may decode them: the
            # pixel limit was checked by _open first.
            gps = img.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        except _DECODE_ERRORS as exc:
            raise PhotoRejected("not-an-image") from exc
        if gps:
            return True
        for key in ("xmp", "XML:com.adobe.xmp"):
            xmp = img.info.get(key)
            if isinstance(xmp, bytes):
                xmp = xmp.decode("utf-8", "replace")
            if isinstance(xmp, str) and any(marker in xmp for marker in _XMP_GPS_MARKERS):
                return True
    return False
