"""nerfacto (training.model) through nerfstudio, run as an external trainer in nerfstudio's own venv.

`dataset.py` turns our frames, COLMAP model and masks into nerfstudio's input (with our held-out split),
`nerfacto_run.py` runs inside nerfstudio's venv (train, evaluate, export the textured mesh), and
`trainer.py` starts it and brings its outputs back into the splat stage's layout and metrics.
"""
