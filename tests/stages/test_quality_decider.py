"""gs_stages.quality_checks is the one decider: the SfM stage's own registration failure and the
registered_ratio check follow one rule, the PSNR check's severity follows `psnr_grade`, the asset check
specs carry its descriptions, and under Dagster the stage leaves the share of the input to the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from gs_dagster.assets.checks import CHECK_SPECS
from gs_dagster.definitions import defs
from gs_stages.quality_checks import (
    CHECK_DESCRIPTIONS,
    DEFAULT_MIN_REGISTERED_RATIO,
    REGISTERED_RATIO,
    evaluate_check,
    psnr_grade,
    registration_bar,
)
from gs_stages.sfm.metrics import require_registered
from gs_stages.stage import StageError


@pytest.mark.parametrize("total", [3, 4, 10, 57, 300])
@pytest.mark.parametrize("min_ratio", [0.0, 0.3, 0.5, 0.99])
def test_the_stage_and_the_check_give_one_verdict(tmp_path: Path, total: int, min_ratio: float) -> None:
    for registered in range(total + 1):
        metrics = {"registered_images": registered, "input_images": total}
        check = evaluate_check("sparse_model", REGISTERED_RATIO, tmp_path, metrics, {"min_ratio": min_ratio})
        try:
            require_registered(registered, total, min_ratio)
            stage_passes = True
        except StageError as exc:
            stage_passes = False
            assert str(exc.hint) == check.hint and check.metadata["bar"] in exc.message
        assert stage_passes == check.passed, (registered, total, min_ratio)
        assert check.passed == (registered >= 3 and registered >= min_ratio * total - 1e-9)


def test_under_dagster_the_check_decides_the_share() -> None:
    assert registration_bar([]) == DEFAULT_MIN_REGISTERED_RATIO == 0.5  # a run outside Dagster
    assert registration_bar([REGISTERED_RATIO]) == 0.0  # the check asked for: its threshold, its severity
    with pytest.raises(StageError, match="registered only 2 of 3 images"):
        require_registered(2, 3, registration_bar([REGISTERED_RATIO]))  # the 3-image floor holds regardless


def test_under_dagster_the_stage_names_only_the_floor_it_holds() -> None:
    """What a job's record and notice carry when SfM places none of three unrelated photos."""
    with pytest.raises(StageError) as error:
        require_registered(0, 3, registration_bar([REGISTERED_RATIO]))
    assert error.value.message == "SfM registered only 0 of 3 images (at least 3 are needed)"
    with pytest.raises(StageError, match=r"at least 5 are needed: 3 or 50% of the input, whichever is more"):
        require_registered(0, 10, registration_bar([]))


@pytest.mark.parametrize("psnr", [3.0, 11.99, 12.0, 15.0, 19.99, 20.0, 31.0])
def test_the_psnr_check_follows_the_grade(tmp_path: Path, psnr: float) -> None:
    outcome = evaluate_check("splat", "heldout_psnr", tmp_path, {"psnr": psnr}, {"min_psnr": 12, "warn_psnr": 20})
    grade = psnr_grade(psnr, 12, 20)
    assert (outcome.passed, outcome.severity) == {
        "broken": (False, "ERROR"),
        "weak": (False, "WARN"),
        "good": (True, "ERROR"),
    }[grade]


def test_the_asset_checks_say_what_the_decider_says() -> None:
    assert set(CHECK_DESCRIPTIONS) <= {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {spec.name: spec.description for spec in CHECK_SPECS} == CHECK_DESCRIPTIONS


def test_a_retired_threshold_setting_says_where_the_knob_is() -> None:
    from gs_stages.stage import check_settings

    with pytest.raises(StageError, match="retired engine setting 'sfm_min_registered_ratio'") as refused:
        check_settings({"sfm_min_registered_ratio": 0.3})
    assert "GS_MIN_REGISTERED_RATIO" in str(refused.value.hint)
