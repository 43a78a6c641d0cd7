"""Whether a video can ever give SfM the frames it needs, judged from its first few frames.

The frames stage decodes the whole video with OpenCV's FFmpeg; a file no decoder reads (a text file or
random bytes named .mp4, a copy cut short) or one with fewer frames than SfM can ever pose (a 1-frame
clip) would fail there or in the sparse model. The intake and `gs-dagster submit` open it here with the
same decoder and decode at most `min_frames` frames, so a job that cannot work is refused before a run
starts, and a corrected upload under the same uuid is accepted (as zip_contents does for photo zips).

The intake may hold only part of a large S3 object (its start and its end, where MP4's index sits: the
rest a hole of zeros). Then only a positive finding refuses: a file that does not open and whose first
bytes are no known video container, or whose box headers show it cut short or without a picture (those
headers were read, not the hole: gs_stages.frames.mp4_boxes gives no reason once its walk reaches zeros).
A short count, or another failed open of a recognised container, is left to the frames stage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gs_stages.frames.mp4_boxes import VideoFault, diagnose
from gs_stages.media import HEAD_BYTES, identify
from gs_stages.quality_checks import MIN_REGISTERED_IMAGES
from gs_stages.stage import StageError

#: A 360° video's frames each give several views, but one panorama's views share one centre: SfM can
#: place nothing from a single panorama, and can from two.
MIN_SPHERICAL_FRAMES = 2
#: What to upload instead of a video that has too few frames.
LONGER_VIDEO = (
    "upload a longer video that moves around the scene (10 s or more; each frame overlapping its "
    "neighbours), or a .zip of 20 or more photos"
)
_REEXPORT = "check that the file plays in a video player, or export it again as H.264 .mp4, and upload that"
#: Characters of a text file quoted in the refusal, so the user recognises what was uploaded.
_QUOTED_CHARS = 40
#: Names of codecs as OpenCV reports their FourCC, for the refusal of a video its FFmpeg opens but cannot decode
#: (AV1, which recent phones and screen recorders write, has no software decoder in the opencv wheel's FFmpeg).
_CODEC_NAMES = {b"AV01": "AV1", b"av01": "AV1", b"hevc": "HEVC", b"hvc1": "HEVC", b"h264": "H.264", b"VP90": "VP9"}


def codec_name(fourcc: float) -> str:
    """The codec of OpenCV's CAP_PROP_FOURCC in words ("AV1"), or "" when it names none."""
    raw = int(fourcc or 0).to_bytes(4, "little", signed=False)
    text = raw.decode("latin-1").strip("\x00 ")
    return _CODEC_NAMES.get(raw, text if text.isalnum() else "")


def min_frames(spherical: bool) -> int:
    """The fewest frames a video may hold and still give SfM something to pose."""
    return MIN_SPHERICAL_FRAMES if spherical else MIN_REGISTERED_IMAGES


def _text_start(head: bytes) -> str | None:
    """The start of the file when it reads as text (a note, a log, a JSON saved under a video's name)."""
    for cut in range(4):  # a read of a fixed number of bytes may end inside a character
        try:
            text = head[: len(head) - cut].decode("utf-8").lstrip("\ufeff")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    if not text.strip() or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return " ".join(text.split())[:_QUOTED_CHARS]


def _unreadable(name: str, head: bytes, fault: VideoFault | None) -> StageError:
    if fault is not None:
        return StageError(f"{name} is not a video any decoder reads: {fault.reason}", hint=fault.hint)
    text = _text_start(head)
    if text is not None:
        return StageError(
            f"{name} is not a video any decoder reads: it holds text (it starts {text!r})",
            hint="upload the video file itself (.mp4 or .mov), not a note or a link to it",
        )
    return StageError(
        f"{name} is not a video any decoder reads: FFmpeg finds no video stream in it (the file is damaged, or "
        "not a video)",
        hint=_REEXPORT,
    )


def probe_problem(path: Path, name: str, *, minimum: int, complete: bool = True) -> StageError | None:
    """Why the video at `path` (called `name` in the message) can never give `minimum` frames, or None.

    `complete`: `path` holds the whole file; else only its start and end are real (see the module). Reads at
    most `minimum` frames, whatever the video's length. None also where OpenCV is not installed (gs-stages
    without its engine extra): the frames stage then says it.
    """
    try:
        import cv2
    except ImportError:
        return None
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    capture = cv2.VideoCapture(str(path))  # as the frames stage opens it (gs_stages.frames.video)
    try:
        if not capture.isOpened():
            # The boxes' reasons hold for a partial copy too: a walk that reaches the hole finds no reason.
            fault = diagnose(path)
            if not complete and fault is None and identify(head) is not None:
                return None  # a known container missing its middle here: the frames stage reads all of it
            return _unreadable(name, head, fault)
        codec, decoded = codec_name(capture.get(cv2.CAP_PROP_FOURCC)), 0
        while decoded < minimum and capture.grab():  # grab decodes; the colour conversion is not needed
            decoded += 1
    finally:
        capture.release()
    if decoded >= minimum or not complete:
        return None
    if decoded == 0 and codec:  # it opened: the container is sound, the decoder lacks its codec
        return StageError(
            f"{name} holds {codec} video, which the pipeline's decoder (OpenCV's FFmpeg) cannot decode",
            hint="export it again as H.264 .mp4 (or HEVC .mov) and upload that",
        )
    if decoded == 0:
        return StageError(f"{name} is not a video any decoder reads: none of its frames decodes", hint=_REEXPORT)
    return StageError(
        f"the video {name} holds {decoded} decodable frame(s); SfM needs at least {minimum} frames of the scene "
        "to place any camera",
        hint=LONGER_VIDEO,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m gs_stages.frames.video_probe PATH --name N --minimum M [--partial]`: the probe in a process
    of its own (the intake runs it so, with a time limit: a decoder that hangs or crashes on a crafted file
    costs that process, not the sensor's). Prints {"message", "hint"} of the problem, or {}."""
    parser = argparse.ArgumentParser(prog="gs_stages.frames.video_probe")
    parser.add_argument("path", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--minimum", type=int, required=True)
    parser.add_argument("--partial", action="store_true", help="only the file's start and end are real")
    args = parser.parse_args(argv)
    problem = probe_problem(args.path, args.name, minimum=args.minimum, complete=not args.partial)
    print(json.dumps({"message": problem.message, "hint": problem.hint} if problem else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
