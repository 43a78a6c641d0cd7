"""A sample that reconstructs on a CPU in minutes: a camera circling the demo's gallery (`gallery.py`), a room
with framed photographs on brick walls and a photo cube on a stone plinth, lit by one lamp. The views overlap
like a slow orbit video, and every surface carries enough texture for feature matching to register each one.

    python -m gs_dagster.sample out.zip            # images/0000.jpg ... in a zip (default)
    python -m gs_dagster.sample out.mp4            # the same views as an mp4 video
"""

from __future__ import annotations

import argparse
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gs_dagster import gallery


@dataclass(frozen=True)
class SampleSpec:
    views: int = 32
    width: int = 320
    height: int = 240
    radius: float = 2.5  # the orbit around the plinth, in metres (the room is 6 m wide)
    eye_height: float = 0.35  # above the plinth's middle; the floor is 1 m below it
    arc_degrees: float = 360.0
    focal_35mm: int = 28  # the lens, as a phone's EXIF gives it: a 28 mm equivalent is 0.8 x the width in pixels


#: What the camera looks at: just below the photo cube on the plinth.
TARGET = np.array([0.0, -0.3, 0.0])


def focal_pixels(spec: SampleSpec) -> float:
    """The focal length in pixels that the EXIF 35 mm-equivalent focal length means (COLMAP's reading: f35 / 35 x
    the longest side), so SfM starts from the camera's true focal length, as it does for a phone's photos."""
    return spec.focal_35mm / 35.0 * max(spec.width, spec.height)


def camera_eye(spec: SampleSpec, index: int) -> np.ndarray:
    """View `index`'s camera centre: evenly along the arc (a full circle never repeats its first view)."""
    closed = spec.arc_degrees >= 360.0
    angle = np.radians(spec.arc_degrees) * index / max(1, spec.views if closed else spec.views - 1)
    height = spec.eye_height + 0.12 * np.sin(3 * angle)  # a hand-held bob, so views are not all coplanar
    return np.array([spec.radius * np.cos(angle), height, spec.radius * np.sin(angle)])


def render_views(spec: SampleSpec = SampleSpec()) -> list[np.ndarray]:
    """The views as RGB uint8 arrays, in orbit order; the same spec gives the same bytes."""
    focal = focal_pixels(spec)
    return [gallery.render(camera_eye(spec, i), TARGET, spec.width, spec.height, focal) for i in range(spec.views)]


def write_sample(path: str | Path, spec: SampleSpec = SampleSpec()) -> Path:
    """Write the sample as a .zip of JPEGs (`images/0000.jpg`, ...) or an .mp4 video."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    views = render_views(spec)
    exif = _exif(spec)
    part = path.with_name(f".{path.name}.part")
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as archive:
            for i, view in enumerate(views):
                # A fixed timestamp: the same views give the same archive bytes.
                member = zipfile.ZipInfo(f"images/{i:04d}.jpg", date_time=(2026, 1, 1, 0, 0, 0))
                archive.writestr(member, _jpeg(view, exif))
    elif path.suffix.lower() in (".mp4", ".mov"):
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        writer = cv2.VideoWriter(str(part) + path.suffix, fourcc, 10, (spec.width, spec.height))
        for view in views:
            writer.write(cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        writer.release()
        part = Path(str(part) + path.suffix)
    else:
        raise ValueError(f"write a .zip or an .mp4, not {path.suffix!r}")
    part.replace(path)
    return path


def _exif(spec: SampleSpec) -> bytes:
    """The EXIF a camera writes: make, model and the lens's 35 mm-equivalent focal length."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "gs-dagster", "gallery orbit"  # Make, Model
    exif.get_ifd(0x8769)[0xA405] = spec.focal_35mm  # Exif IFD: FocalLengthIn35mmFilm
    return exif.tobytes()


def _jpeg(view: np.ndarray, exif: bytes) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(view).save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="out.zip (images) or out.mp4 (video)")
    parser.add_argument("--views", type=int, default=SampleSpec.views)
    parser.add_argument("--width", type=int, default=SampleSpec.width)
    parser.add_argument("--height", type=int, default=SampleSpec.height)
    args = parser.parse_args(argv)
    path = write_sample(args.output, SampleSpec(views=args.views, width=args.width, height=args.height))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
