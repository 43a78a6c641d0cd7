"""Pose priors that arrive with the images: a transforms.json (NeRFCapture / instant-ngp) or a COLMAP model.

Both are turned into COLMAP's convention (world-to-camera, OpenCV camera axes) with image names equal
to the frames stage's output names, so the SfM stage can keep the poses instead of estimating them.
"""
