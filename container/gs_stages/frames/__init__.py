"""The frames stage: turn the job's media (a video or a zip of photos) into numbered, downscaled images.

Later stages never look at the media again: they read `images/` and `manifest.json`, which says where
each image came from, so pose priors and intrinsics can be mapped onto the output names and sizes.
"""
