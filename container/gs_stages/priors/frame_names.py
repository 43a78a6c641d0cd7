"""Map the image paths that pose priors name onto the frames stage's output names.

Priors name images as the capture app wrote them ("images/0001.jpg", "./images/0001", "0001.png"),
the frames stage renames every image to 000000.jpg... and records the zip member path as `source`.
Matching is by path components, without the extension (transforms.json may omit it, and a photo can
be re-encoded), and from the end, so a prior's path relative to some folder matches a longer member path.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from gs_stages.layout import FrameRecord


def _parts(path: str) -> tuple[str, ...]:
    """Path components without the extension of the last one; case-sensitive like zip member names."""
    path = path.replace("\\", "/").strip()
    path = posixpath.normpath(path) if path else path
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return ()
    stem, _ = posixpath.splitext(parts[-1])
    parts[-1] = stem or parts[-1]
    return tuple(parts)


class FrameNameIndex:
    """Resolve prior image paths to frame records; ambiguous or unknown paths resolve to None."""

    def __init__(self, records: Iterable[FrameRecord]):
        self._by_parts: dict[tuple[str, ...], FrameRecord] = {}
        self._by_suffix: dict[tuple[str, ...], list[FrameRecord]] = {}
        for record in records:
            parts = _parts(record.source)
            if not parts:
                continue
            self._by_parts[parts] = record
            for start in range(len(parts)):
                self._by_suffix.setdefault(parts[start:], []).append(record)

    def resolve(self, path: str, base_dir: str = "") -> FrameRecord | None:
        """The frame for `path`; `base_dir` is the prior file's folder inside the zip, when known."""
        if base_dir:
            exact = self._by_parts.get(_parts(posixpath.join(base_dir, path)))
            if exact is not None:
                return exact
        candidates = self._by_suffix.get(_parts(path), [])
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            # Several members end the same way (a/0001.jpg, b/0001.jpg): prefer the one that is exactly it.
            exact = self._by_parts.get(_parts(path))
            return exact
        return None
