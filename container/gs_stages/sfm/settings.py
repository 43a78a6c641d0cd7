"""Engine settings of the sparse_model stage that are not part of the job JSON (`--setting NAME=VALUE`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gs_stages.stage import StageError


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class SfmSettings:
    #: Threads for extraction, matching and mapping: every core this process may use.
    num_threads: int
    #: Longest image side SIFT sees; -1 keeps COLMAP's default (3200). The frames stage already downscales.
    max_image_size: int = -1
    max_num_features: int = 8192
    #: A COLMAP 4 (faiss) vocabulary tree, local path or s3:// URI; needed by vocab matching.
    vocab_tree_path: str | None = None
    #: Fewer registered images than this share of the input (or fewer than 3) fails the stage.
    min_registered_ratio: float = 0.5
    random_seed: int = 0

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SfmSettings:
        try:
            return cls(
                num_threads=int(settings.get("num_threads") or _available_cores()),
                max_image_size=int(settings.get("sfm_max_image_size", -1)),
                max_num_features=int(settings.get("sfm_max_num_features", 8192)),
                vocab_tree_path=str(settings["vocab_tree_path"]) if settings.get("vocab_tree_path") else None,
                min_registered_ratio=float(settings.get("sfm_min_registered_ratio", 0.5)),
                random_seed=int(settings.get("sfm_random_seed", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise StageError(
                f"an SfM engine setting is not a number: {exc}",
                hint="num_threads, sfm_max_image_size, sfm_max_num_features, sfm_random_seed are integers; "
                "sfm_min_registered_ratio is a number between 0 and 1",
            ) from None
