"""Images in: find files, decode them into RGB uint8 arrays, read them in batches.

- ``sources``: a folder, a list of files or an array, and what the images are like (size, colour);
- ``headers``: an image's size from its file header, before anything is decoded;
- ``decoding``: one file, its bytes or an array into an RGB uint8 square of a given side;
- ``batches``: many images in parallel threads, decoded ahead of the caller.
"""

from .batches import PREFETCH_BATCHES, READ_BATCH_SIZE, ImageBatch, iter_batches
from .decoding import (MAX_FILE_BYTES, MAX_PIXELS, ImageReadError, ReadLimits, check_image_array, decode_image, read_file, read_file_bytes,
                       read_image, read_limits, read_thumbnail, resize, to_rgb_uint8)
from .headers import image_dimensions
from .sources import IMAGE_EXTENSIONS, find_images, is_colour, read_sample, resolve_source, split_sample, typical_side

__all__ = [
    "IMAGE_EXTENSIONS", "MAX_FILE_BYTES", "MAX_PIXELS", "PREFETCH_BATCHES", "READ_BATCH_SIZE", "ImageBatch", "ImageReadError", "ReadLimits",
    "check_image_array", "decode_image", "find_images", "image_dimensions", "is_colour", "iter_batches", "read_file", "read_file_bytes",
    "read_image", "read_limits", "read_sample", "read_thumbnail", "resize", "resolve_source", "to_rgb_uint8", "typical_side",
]
