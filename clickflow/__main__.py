from clickflow.cli import main

raise SystemExit(main())
