"""One thread per rung: scale, encode and mux while the main thread decodes.

PyAV releases the GIL inside swscale/filter graphs, ``avcodec_send_frame`` and the muxer,
so rung threads really run side by side. With the work of every rung serialized on the
decoding thread (as the FFmpeg 5 CLI does), the cores idle whenever that thread scales a
frame while the encoders wait for input; see docs/performance.md.

Frames are shared between threads read-only: the decoded picture is only read by each
rung's scaler, and each rung encodes its own scaled copy.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Literal

import av

from streamforge.media.rendition import RenditionWriter
from streamforge.media.types import RungPlan

#: Frames queued per rung: enough to ride out an encoder's burst (a 1080p frame is 3 MB).
DEPTH = 6

_Item = (
    tuple[Literal["video"], av.VideoFrame, int, int] | tuple[Literal["audio"], av.AudioFrame] | None
)


class RungThread:
    """Feeds one :class:`RenditionWriter` from its own thread; same calls, same order.

    An error in the thread is raised in the caller at its next call (or at :meth:`finish`);
    the thread keeps draining its queue so the caller never blocks on a dead rung.
    """

    def __init__(self, writer: RenditionWriter, depth: int = DEPTH) -> None:
        self.writer = writer
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._finished = False  # flush the encoders at the end (not when aborting)
        self._ended = False  # the end-of-stream marker is queued
        #: Seconds this rung's thread spent scaling, encoding and muxing (not waiting for
        #: frames): the rung's own share of the transcode, for metrics.
        self.busy_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"rung-{writer.name}", daemon=True)
        self._thread.start()

    @property
    def plan(self) -> RungPlan:
        return self.writer.plan

    @property
    def name(self) -> str:
        return self.writer.name

    def encode_video(self, frame: av.VideoFrame, frame_id: int, index: int) -> None:
        self._put(("video", frame, frame_id, index))

    def encode_audio(self, frame: av.AudioFrame) -> None:
        self._put(("audio", frame))

    def end(self) -> None:
        """Tell the thread that no more frames come: it flushes and closes the rung."""
        if not self._ended:
            self._ended = self._finished = True
            self._queue.put(None)

    def finish(self) -> None:
        """Wait for :meth:`end`'s flush; raise what went wrong in the thread, if anything."""
        self.end()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the thread and close the output without raising."""
        self._stop(finish=False)
        self.writer.abort()

    def _put(self, item: _Item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _stop(self, *, finish: bool) -> None:
        if not self._ended:
            self._ended = True
            self._finished = finish
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self._error is not None:
                continue  # drain: the caller learns of the error at its next call
            started = time.perf_counter()
            try:
                if item[0] == "video":
                    self.writer.encode_video(item[1], item[2], item[3])
                else:
                    self.writer.encode_audio(item[1])
            except BaseException as exc:  # handed to the decoding thread
                self._error = exc
            self.busy_seconds += time.perf_counter() - started
        if self._finished and self._error is None:
            started = time.perf_counter()
            try:
                self.writer.finish()
            except BaseException as exc:
                self._error = exc
            self.busy_seconds += time.perf_counter() - started
