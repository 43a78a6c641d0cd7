"""`gs_dagster.assets`: this folder is a subpackage of gs_dagster (gs_dagster/__init__.py, pyproject.toml)."""

if __name__ == "assets":  # imported by its bare folder name (e.g. from the repository root)
    raise ImportError("the assets/ folder is the package gs_dagster.assets: import gs_dagster.assets (not assets)")
