from gs_stages.openmp import prefer_passive_wait

prefer_passive_wait()  # before anything imports torch

from gs_stages.cli import main  # noqa: E402

raise SystemExit(main())
