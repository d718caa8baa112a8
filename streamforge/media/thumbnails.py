"""Preview thumbnails (sprite sheets + WebVTT) and the poster, fed from the ladder's pass."""

from __future__ import annotations

import math
from pathlib import Path

import av
from PIL import Image


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def fit_width(width: int, height: int, max_width: int) -> tuple[int, int]:
    """(w, h) no wider than ``max_width``, aspect kept, both even."""
    if width <= max_width:
        return _even(width), _even(height)
    return _even(max_width), _even(max_width * height / width)


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


class ThumbnailSheet:
    """Collects one picture every ``interval`` seconds and writes sprites and a VTT."""

    def __init__(
        self,
        folder: Path,
        *,
        width: int,
        height: int,
        interval: int,
        columns: int,
        rows: int,
    ) -> None:
        self.folder = folder
        self.width, self.height = width, height
        self.interval = interval
        self.columns, self.rows = columns, rows
        self.images: list[Image.Image] = []

    def wants(self, seconds: float) -> bool:
        """True when the frame shown at ``seconds`` should become the next thumbnail."""
        return seconds + 1e-6 >= len(self.images) * self.interval

    def add(self, frame: av.VideoFrame) -> None:
        small = frame.reformat(self.width, self.height, format="rgb24")
        self.images.append(small.to_image())  # type: ignore[no-untyped-call]

    def write(self, duration: float) -> list[Path]:
        """Write sprites and ``thumbnails.vtt``: ceil(duration / interval) cues."""
        count = max(1, math.ceil(duration / self.interval - 1e-9))
        if not self.images:
            return []
        images = self.images[:count]
        images += [images[-1]] * (count - len(images))  # a short tail reuses the last frame
        self.folder.mkdir(parents=True, exist_ok=True)
        per_sheet = self.columns * self.rows
        written: list[Path] = []
        cues = ["WEBVTT", ""]
        for sheet_no in range(math.ceil(count / per_sheet)):
            tiles = images[sheet_no * per_sheet : (sheet_no + 1) * per_sheet]
            cols = min(self.columns, len(tiles))
            rows = math.ceil(len(tiles) / self.columns)
            sheet = Image.new("RGB", (cols * self.width, rows * self.height))
            name = f"sprite_{sheet_no:03d}.jpg"
            for i, tile in enumerate(tiles):
                x, y = (i % self.columns) * self.width, (i // self.columns) * self.height
                sheet.paste(tile, (x, y))
                n = sheet_no * per_sheet + i
                start, end = n * self.interval, min((n + 1) * self.interval, duration)
                cues += [
                    f"{_timestamp(start)} --> {_timestamp(end)}",
                    f"{name}#xywh={x},{y},{self.width},{self.height}",
                    "",
                ]
            path = self.folder / name
            sheet.save(path, "JPEG", quality=80)
            written.append(path)
        vtt = self.folder / "thumbnails.vtt"
        vtt.write_text("\n".join(cues), encoding="utf-8")
        written.append(vtt)
        return written


class PosterGrabber:
    """Keeps the first frame shown at or after ``at_seconds`` as the poster."""

    def __init__(self, path: Path, *, width: int, height: int, at_seconds: float) -> None:
        self.path = path
        self.width, self.height = width, height
        self.at_seconds = at_seconds
        self.image: Image.Image | None = None

    def offer(self, frame: av.VideoFrame, seconds: float, *, last: bool = False) -> None:
        """Take ``frame`` if it is the poster's; ``last`` takes it anyway when none was."""
        if self.image is None and (last or seconds + 1e-6 >= self.at_seconds):
            self.image = frame.reformat(self.width, self.height, format="rgb24").to_image()  # type: ignore[no-untyped-call]

    def write(self) -> Path | None:
        if self.image is None:
            return None
        self.image.save(self.path, "JPEG", quality=85)
        return self.path
