"""`gs_dagster.resources`: this folder is a subpackage of gs_dagster (gs_dagster/__init__.py, pyproject.toml)."""

if __name__ == "resources":  # imported by its bare folder name (e.g. from the repository root)
    raise ImportError(
        "the resources/ folder is the package gs_dagster.resources: import gs_dagster.resources (not resources)"
    )
