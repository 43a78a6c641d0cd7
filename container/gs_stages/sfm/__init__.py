"""The sparse_model stage: camera poses and a sparse point cloud for the frames, with pycolmap.

Three ways to poses, picked by the job's pose priors: run SfM (features, matching, incremental or
global mapping), keep a transforms.json's poses and triangulate points, or use a COLMAP model as given.
"""
