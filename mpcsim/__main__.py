"""``python -m mpcsim`` = the ``mpcsim`` command."""
from .cli import main

raise SystemExit(main())
