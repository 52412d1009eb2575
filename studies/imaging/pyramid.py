"""Multi-resolution levels of one frame, and the tile grid at each level.

Level 0 is the frame itself; level n halves level n-1 in both directions (2×2 mean, the last
row/column repeated when a side is odd), down to the first level whose longer side is at
most ``SMALLEST_SIDE``. A request for an output of a given size reads the coarsest level that
still has at least that resolution, so the work follows output pixels, not source pixels.
Levels are built lazily by the renderer and cached like decoded frames.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InvalidRequest

SMALLEST_SIDE = 64
TILE_SIZES = (256, 512)


def level_count(rows: int, columns: int) -> int:
    longest = max(rows, columns)
    if longest <= SMALLEST_SIDE:
        return 1
    return 1 + math.ceil(math.log2(longest / SMALLEST_SIDE))


def level_shape(rows: int, columns: int, level: int) -> tuple[int, int]:
    factor = 1 << level
    return -(-rows // factor), -(-columns // factor)


def level_for_scale(scale: float, levels: int) -> int:
    """The coarsest level whose resolution is at least ``scale`` × the full resolution."""
    if scale >= 1.0:
        return 0
    # A tiny tolerance keeps an exact 1/2, 1/4... on the level it names despite rounding.
    level = int(math.floor(math.log2(1.0 / scale) + 1e-9))
    return max(0, min(level, levels - 1))


def downsample(array: np.ndarray) -> np.ndarray:
    """Half size in both directions: the mean of each 2×2 block, in the input's dtype."""
    if array.shape[0] % 2:
        array = np.concatenate([array, array[-1:]], axis=0)
    if array.shape[1] % 2:
        array = np.concatenate([array, array[:, -1:]], axis=1)
    if array.dtype.kind == "f":
        total = array[0::2, 0::2] + array[1::2, 0::2] + array[0::2, 1::2] + array[1::2, 1::2]
        return (total / 4).astype(array.dtype)
    wide = array.astype(np.int64)
    total = wide[0::2, 0::2] + wide[1::2, 0::2] + wide[0::2, 1::2] + wide[1::2, 1::2]
    return ((total + 2) // 4).astype(array.dtype)  # rounded to nearest


def tile_grid(rows: int, columns: int, level: int, tile_size: int) -> tuple[int, int]:
    """(tile columns, tile rows) at ``level``."""
    level_rows, level_columns = level_shape(rows, columns, level)
    return -(-level_columns // tile_size), -(-level_rows // tile_size)


def tile_bounds(
    rows: int, columns: int, levels: int, level: int, tile_size: int, column: int, row: int
) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a tile in the coordinates of its level."""
    if tile_size not in TILE_SIZES:
        raise InvalidRequest(f"tile size {tile_size} is not one of {TILE_SIZES}")
    if not 0 <= level < levels:
        raise InvalidRequest(f"level {level} does not exist: levels are 0..{levels - 1}")
    across, down = tile_grid(rows, columns, level, tile_size)
    if not (0 <= column < across and 0 <= row < down):
        raise InvalidRequest(
            f"tile ({column}, {row}) is outside the {across}×{down} grid of level {level}"
        )
    level_rows, level_columns = level_shape(rows, columns, level)
    x, y = column * tile_size, row * tile_size
    return x, y, min(tile_size, level_columns - x), min(tile_size, level_rows - y)
