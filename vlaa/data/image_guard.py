"""Reading and checking a source image so that what training gets is what was validated.

- Opened with ``O_NOFOLLOW``: an image that is a symbolic link is refused (the path check
  already keeps every folder of it under the image root), and its size is checked with
  ``fstat`` before a byte is read.
- Checked from its header before decoding: PIL reads the size without the pixels, so a 657 KB
  PNG of 13000x13000 (169 MP, 4.9 GB in SFT) is refused without being decoded. PIL's own guard
  (``Image.MAX_IMAGE_PIXELS``, 89 MP) only warns below twice that.
- The aspect ratio is capped as Qwen2.5-VL's processor requires: transformers'
  ``models/qwen2_vl/image_processing_qwen2_vl.py::smart_resize`` raises ``ValueError("absolute
  aspect ratio must be smaller than 200")``, which stops the whole SFT step.
- Copied by hash: ``read_verified`` reads the file again when a split is written and hands back
  its bytes only when their SHA-256 is the one validated, so a file swapped after validation
  (for a link to ``/etc/passwd``, or other content) is dropped, never copied.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vlaa.data.limits import InputLimits


class ImageProblem(Exception):
    """An image that cannot be used: ``reason`` (a quarantine code) and ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def read_image_file(path: Path, relative: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (not a symbolic link, at most ``max_bytes``)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        # O_NONBLOCK: opening a FIFO put in an image's place must not hang the build.
        descriptor = os.open(path, flags | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ImageProblem("missing_image", f"image {relative!r} does not exist") from None
    except OSError as error:
        if path.is_symlink():
            raise ImageProblem(
                "symlink_image", f"image {relative!r} is a symbolic link, not a file"
            ) from None
        raise ImageProblem("unreadable_image", f"image {relative!r}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ImageProblem("unreadable_image", f"image {relative!r} is not a regular file")
        if info.st_size > max_bytes:
            raise ImageProblem(
                "image_too_large",
                f"image {relative!r} is {info.st_size} bytes, over {max_bytes} "
                "(limits.max_image_bytes)",
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since fstat
        raise ImageProblem("image_too_large", f"image {relative!r} is over {max_bytes} bytes")
    return data


def check_image_bytes(data: bytes, relative: str, limits: InputLimits) -> tuple[int, int]:
    """Check the header's size against the limits, then decode; return ``(width, height)``."""
    try:
        with warnings.catch_warnings():
            # Our pixel cap is lower than PIL's warning threshold; its warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                _check_size(width, height, relative, limits)
                image.load()
    except ImageProblem:
        raise
    except UnidentifiedImageError:
        raise ImageProblem(
            "corrupt_image", f"image {relative!r} is corrupt (cannot identify image file)"
        ) from None
    except Image.DecompressionBombError as error:
        raise ImageProblem("image_too_many_pixels", f"image {relative!r}: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageProblem("corrupt_image", f"image {relative!r} is corrupt ({error})") from None
    return width, height


def _check_size(width: int, height: int, relative: str, limits: InputLimits) -> None:
    if width < 1 or height < 1:
        raise ImageProblem("corrupt_image", f"image {relative!r} is {width}x{height}")
    if width * height > limits.max_image_pixels:
        raise ImageProblem(
            "image_too_many_pixels",
            f"image {relative!r} is {width}x{height} = {width * height} pixels, over "
            f"{limits.max_image_pixels} (limits.max_image_pixels)",
        )
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_image_aspect_ratio:
        raise ImageProblem(
            "image_aspect_ratio",
            f"image {relative!r} is {width}x{height}, aspect ratio {ratio:.0f} over "
            f"{limits.max_image_aspect_ratio:g} (limits.max_image_aspect_ratio; Qwen2.5-VL "
            "refuses more than 200)",
        )


def inspect_image(path: Path, relative: str, limits: InputLimits) -> str:
    """Read, check and decode the image at ``path``; return the SHA-256 of its bytes."""
    data = read_image_file(path, relative, limits.max_image_bytes)
    check_image_bytes(data, relative, limits)
    return hashlib.sha256(data).hexdigest()


def read_verified(path: Path, sha256: str, max_bytes: int) -> bytes:
    """The bytes of ``path`` when they are the ones validated (``sha256``), else ImageProblem
    (``image_changed``, or the reason the file cannot be read now)."""
    data = read_image_file(path, str(path), max_bytes)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ImageProblem(
            "image_changed", f"image {str(path)!r} changed after validation; not copied"
        )
    return data
