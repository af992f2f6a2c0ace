"""`python -m bench`: every benchmark in one run (see bench/run.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import main

main()
