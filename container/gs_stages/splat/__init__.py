"""The splat stage: train 3D Gaussians from a sparse SfM model and its images.

Modules, in the order a run uses them: `presets` (which model, which hyperparameters), `settings`
(engine knobs outside the job JSON), `scene` (cameras and images from the COLMAP model), `model`
(Gaussian parameters and optimizers), `render_torch` / `render_gsplat` (the two rasterizers),
`densify` (growing and pruning), `train` (the loop), `checkpoint`, `metrics`, `preview`, `stage`.
"""
