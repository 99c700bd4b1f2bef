"""``python -m zoo``: the CLI, also what ``torchrun -m zoo train ...`` runs on every rank."""

import sys

from zoo.cli import main

sys.exit(main())
