from gs_stages.cli import main

raise SystemExit(main())
