"""`python -m fewshot …`: see fewshot/cli.py."""

import sys

from .cli import main

sys.exit(main())
