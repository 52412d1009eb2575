"""The ``{frames}`` path segment of WADO-RS (PS3.18 10.4.1.1.2): frame numbers, 1-based,
separated by commas, in the order the answer must follow."""

from __future__ import annotations

MAX_FRAMES_PER_REQUEST = 10_000


class InvalidFrameList(ValueError):
    """Not a list of positive frame numbers (answer 400)."""


def parse_frame_list(text: str) -> list[int]:
    items = text.split(",")
    if len(items) > MAX_FRAMES_PER_REQUEST:
        raise InvalidFrameList(
            f"at most {MAX_FRAMES_PER_REQUEST:,} frames can be asked for in one request"
        )
    numbers = []
    for item in items:
        item = item.strip()
        if not item.isascii() or not item.isdigit() or int(item) < 1:
            raise InvalidFrameList(f"frame list {text!r} is not frame numbers from 1, like 1,2,3")
        numbers.append(int(item))
    return numbers
