"""`gs-dagster view`: a local web page listing jobs (the library) and a 3D viewer for each job's splat.

`library` reads the job table and the stores the same way in both modes; `server` serves it on
127.0.0.1 with the renderer (`web/`, npm packages installed by `make viewer`, nothing from a CDN).
"""
