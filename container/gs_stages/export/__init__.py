"""Delivering a trained splat: the standard 3DGS `.ply`, Niantic's `.spz`, and the viewer rotation.

`ply` and `spz` are codecs for `gs_stages.gaussians.Gaussians`; `rotate` applies one exact rigid
rotation to every part of a splat (positions, orientations and all SH bands), so both delivered files
are written from the same rotated arrays and can never disagree about orientation; `stage` is the
`spz` pipeline stage that ties them together.
"""
