"""3dgrt (training.model) through NVIDIA 3DGRUT, run as an external trainer in 3DGRUT's own environment.

3DGRT ray-traces the Gaussians with OptiX (RT cores), so it needs NVIDIA's code, built for the GPU; it
cannot be folded into our trainer as 3dgut was. `environment.py` finds 3DGRUT's Python (and says what is
missing where), `dataset.py` turns our frames, COLMAP model and masks into 3DGRUT's COLMAP input with our
held-out split, `grt_run.py` runs inside that environment (train, its held-out evaluation, its .ply
export), and `trainer.py` starts it and brings the splat back in our .ply convention with our metrics.
The 3DGRUT commit, and what each step relies on in its source, is in `environment.py`.
"""
