from totpflow.cli import main

raise SystemExit(main())
