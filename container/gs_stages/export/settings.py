"""Engine setting names of the spz stage beyond `output_name`/`antialiased`, standard library only, so the
Dagster side (no engine installed) can check GS_STAGE_SETTINGS too. What each does: `flythrough.py`
(fly-through and thumbnail), `sog.py` (.sog export), `stage.py` (`spz_version`)."""

FLYTHROUGH_SETTINGS = (
    "flythrough",
    "flythrough_seconds",
    "flythrough_fps",
    "flythrough_long_side",
    "thumbnail",
    "thumbnail_long_side",
)
SOG_SETTINGS = ("sog", "sog_sh_iterations")
SETTING_NAMES = ("spz_version", *FLYTHROUGH_SETTINGS, *SOG_SETTINGS)
