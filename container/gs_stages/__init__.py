"""gs_stages: the stage code of gs-dagster.

Each stage reads input directories and writes one output directory; it runs the same way in a local
subprocess and inside the GPU container (SageMaker), launched by Dagster through Pipes.
"""

__version__ = "0.1.0"
