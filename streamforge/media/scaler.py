"""Scaling decoded frames to one rung's size with FFmpeg's ``scale`` filter.

Why a filter graph and not PyAV's ``VideoReformatter``: the reformatter tells swscale the
chroma samples sit on the left (MPEG-2 siting), the ``scale`` filter leaves the siting
unset, which is what the FFmpeg CLI does. On 4:2:0 sources the two disagree by a fraction
of a chroma pixel; at a 3:1 downscale (1080p → 360p) that cost our 360p rung ~1 dB of
chroma PSNR against the CLI ladder (see docs/performance.md). Same speed either way.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter


class Scaler:
    """Bicubic scale + pixel-format conversion of frames to ``width`` × ``height``.

    The graph is built from the first frame and rebuilt if a later frame changes size or
    pixel format (streams may do that mid-way). Output frames have square pixels: the
    rung's size already carries the display aspect ratio.
    """

    def __init__(self, width: int, height: int, pix_fmt: str) -> None:
        self.width = width
        self.height = height
        self.pix_fmt = pix_fmt
        self._graph: av.filter.Graph | None = None
        self._input: tuple[int, int, str] | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        key = (frame.width, frame.height, frame.format.name)
        if self._graph is None or key != self._input:
            self._graph = self._build(frame)
            self._input = key
        self._graph.vpush(frame)
        return self._graph.vpull()

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        # one thread: the encoders already keep every core busy
        graph.threads = 1
        nodes = [
            graph.add_buffer(
                width=frame.width,
                height=frame.height,
                format=frame.format,
                time_base=frame.time_base or Fraction(1, 1000),
            ),
            graph.add("scale", f"{self.width}:{self.height}:flags=bicubic"),
            graph.add("format", self.pix_fmt),
            graph.add("setsar", "1"),
            graph.add("buffersink"),
        ]
        graph.link_nodes(*nodes).configure()
        return graph
