#!/usr/bin/env python3
"""django-ses-query vs django-ses 4.x and django-anymail (Amazon SES), side by side, in one run.

Usage: python3 benchmarks/bench.py [--quick] [--json PATH] [--check] [--profile] [--only NAME] ...

The code is in the ``sesbench`` package next to this script (see
benchmarks/README.rst); child processes re-run this script in their modes
(``_serve``, ``_worker``, ``_coldstart``, ``_importcost``, ``_migrate``).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from sesbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
