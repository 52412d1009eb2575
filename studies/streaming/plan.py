"""What a ``view`` costs, worked out before any pixel is touched: pure geometry.

Given the image size, the visible region and the screen scale, the plan names the preview
size, the pyramid level and the tiles that cover the region (nearest the centre first, so the
part of the image the reader looks at sharpens first), and the size of the lossless image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from studies.imaging import pyramid
from studies.imaging.errors import ImageTooLarge, InvalidRequest

PREVIEW_SIDE = 256  # PROTOCOL.md: the preview's longest side is at most 256 px


@dataclass(frozen=True)
class Rect:
    """A rectangle in full-resolution image pixels."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True)
class Tile:
    level: int
    column: int
    row: int
    rect: Rect  # what it covers, in full-resolution pixels (clipped to the image)


@dataclass(frozen=True)
class Plan:
    region: Rect  # the requested region clipped to the image
    preview_size: tuple[int, int]
    preview_level: int
    level: int
    tiles: tuple[Tile, ...]
    lossless_size: tuple[int, int]
    lossless_level: int


def plan_view(
    rows: int,
    columns: int,
    region: tuple[float, float, float, float],
    scale: float,
    tile_size: int,
    max_output_pixels: int,
) -> Plan:
    levels = pyramid.level_count(rows, columns)
    clipped = clip(region, rows, columns)

    preview_size, preview_level = preview(rows, columns)
    # Never more than full resolution: zooming in beyond 1:1 is the browser's job.
    needed = min(scale, 1.0)
    lossless_size = (
        max(1, round(clipped.width * needed)),
        max(1, round(clipped.height * needed)),
    )
    if lossless_size[0] * lossless_size[1] > max_output_pixels:
        raise ImageTooLarge(
            f"the view needs {lossless_size[0]}×{lossless_size[1]} pixels, over the "
            f"{max_output_pixels:,} pixel limit"
        )
    level = pyramid.level_for_scale(scale, levels)
    return Plan(
        region=clipped,
        preview_size=preview_size,
        preview_level=preview_level,
        level=level,
        tiles=covering_tiles(rows, columns, clipped, level, tile_size),
        lossless_size=lossless_size,
        lossless_level=pyramid.level_for_scale(needed, levels),
    )


def preview(rows: int, columns: int) -> tuple[tuple[int, int], int]:
    """(width, height) of the whole-frame preview, and the pyramid level it is read from."""
    shrink = min(1.0, PREVIEW_SIDE / max(rows, columns))
    size = (max(1, round(columns * shrink)), max(1, round(rows * shrink)))
    return size, pyramid.level_for_scale(shrink, pyramid.level_count(rows, columns))


def clip(region: tuple[float, float, float, float], rows: int, columns: int) -> Rect:
    x, y, width, height = region
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + width, float(columns)), min(y + height, float(rows))
    if x1 <= x0 or y1 <= y0:
        raise InvalidRequest(f"the region does not overlap the {columns}×{rows} image")
    return Rect(x0, y0, x1 - x0, y1 - y0)


def covering_tiles(
    rows: int, columns: int, region: Rect, level: int, tile_size: int
) -> tuple[Tile, ...]:
    """The tiles of ``level`` that meet ``region``, nearest the region's centre first."""
    factor = 1 << level
    span = tile_size * factor  # full-resolution pixels per tile side
    across, down = pyramid.tile_grid(rows, columns, level, tile_size)
    first_column = min(int(region.x // span), across - 1)
    first_row = min(int(region.y // span), down - 1)
    last_column = min(math.ceil((region.x + region.width) / span), across) - 1
    last_row = min(math.ceil((region.y + region.height) / span), down) - 1
    tiles = []
    for row in range(first_row, last_row + 1):
        for column in range(first_column, last_column + 1):
            x, y = column * span, row * span
            rect = Rect(x, y, min(span, columns - x), min(span, rows - y))
            tiles.append(Tile(level, column, row, rect))
    cx, cy = region.center

    def distance(tile: Tile) -> tuple[float, int, int]:
        tx, ty = tile.rect.center
        return (tx - cx) ** 2 + (ty - cy) ** 2, tile.row, tile.column

    return tuple(sorted(tiles, key=distance))
