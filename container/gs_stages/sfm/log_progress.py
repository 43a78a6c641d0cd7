"""Feature extraction's and matching's progress, read from COLMAP's own log while pycolmap works.

`pycolmap.extract_features` and `match_*` are single calls with no callback, so the stage showed `features 0/50`
until the last image was done: a minute or more of nothing on a CPU. COLMAP logs `Processed file [i/n]` for each
image it extracted, `Processing image [i/n]` as sequential, spatial and vocabulary-tree matching reach each image,
and `Processing block [i/b, j/b]` as exhaustive matching reaches each block of images (glog, INFO, to file
descriptor 2). For the call's length, fd 2 goes to a temporary file; a thread reads what
is new every `interval_s`, hands each count to the phase's tracker and passes the lines on to the real stderr
(COLMAP's INFO lines only where its log level, which sfm/stage.py sets from the job's, shows them). A file, not a pipe:
COLMAP's threads never wait for a reader that needs Python's GIL.

Hand-written: neither pycolmap nor COLMAP offers a progress callback here, and counting the rows of COLMAP's
database from another connection while it writes made COLMAP abort with "database is locked" (session 12).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pycolmap

from gs_stages.progress import ProgressTracker

#: COLMAP's line for each image whose features are extracted.
PROCESSED_FILE = re.compile(rb"Processed file \[(\d+)/(\d+)\]")
#: Matching: an image (sequential, spatial, vocab tree) or a block of images (exhaustive) is about to be matched.
PROCESSING_IMAGE = re.compile(rb"Processing image \[(\d+)/(\d+)\]")
PROCESSING_BLOCK = re.compile(rb"Processing block \[(\d+)/(\d+), (\d+)/(\d+)\]")

#: From one log line, how many of the phase's images are done, or None for a line that does not say.
StepReader = Callable[[bytes], int | None]


def images_extracted(line: bytes) -> int | None:
    found = PROCESSED_FILE.search(line)
    return int(found.group(1)) if found else None


def images_matched(images: int) -> StepReader:
    """Matching's images done: the images before the one being processed, or the share of exhaustive matching's
    blocks (b x b of them) before the one being processed, in images."""

    def read(line: bytes) -> int | None:
        if found := PROCESSING_IMAGE.search(line):
            return int(found.group(1)) - 1
        if found := PROCESSING_BLOCK.search(line):
            row, rows, column, columns = (int(g) for g in found.groups())
            return images * ((row - 1) * columns + column - 1) // (rows * columns)
        return None

    return read


#: glog's prefix of an INFO line (`I20261205 20:13:05.123456 ...`): what the job's log level may hide.
GLOG_INFO = re.compile(rb"^I\d{8} \d")


class _LogReader:
    """Reads the spooled log from where it left off; counts go to the tracker, lines to `forward`."""

    def __init__(self, spool: int, forward: int, tracker: ProgressTracker, steps: StepReader, show_info: bool):
        self.spool, self.forward, self.tracker, self.show_info = spool, forward, tracker, show_info
        self.steps = steps
        self.offset, self.pending, self.last = 0, b"", 0

    def read(self, final: bool = False) -> None:
        while chunk := os.pread(self.spool, 1 << 16, self.offset):
            self.offset += len(chunk)
            *lines, self.pending = (self.pending + chunk).split(b"\n")
            for line in lines:
                self.line(line + b"\n")
        if final and self.pending:
            self.line(self.pending)
            self.pending = b""

    def line(self, line: bytes) -> None:
        step, total = self.steps(line), self.tracker.total
        if step is not None and step > self.last and (total is None or step < total):  # the end is the caller's
            self.last = step
            self.tracker.update(step)
        if self.show_info or not GLOG_INFO.match(line):
            os.write(self.forward, line)


@contextmanager
def colmap_progress(tracker: ProgressTracker, steps: StepReader, interval_s: float = 0.5) -> Iterator[None]:
    """Report what `steps` reads in COLMAP's log as the tracker's step while the body runs (see above)."""
    sys.stderr.flush()
    try:
        forward = os.dup(2)
    except OSError:  # no stderr at all (a daemon's closed fd 2): extract without counts, as before
        yield
        return
    with tempfile.TemporaryFile() as spool:
        os.dup2(spool.fileno(), 2)
        level = pycolmap.logging.minloglevel
        pycolmap.logging.minloglevel = 0  # COLMAP's per-image lines are INFO; passed on only at the level's say
        reader = _LogReader(spool.fileno(), forward, tracker, steps, show_info=level <= 0)
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(interval_s):
                reader.read()

        thread = threading.Thread(target=watch, name="sfm-log-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(forward, 2)  # no more writes reach the spool
            pycolmap.logging.minloglevel = level
            stop.set()
            thread.join()
            reader.read(final=True)
            os.close(forward)
