"""asv benchmarks of ssmbench (numpy/scipy layout; configuration in ../asv.conf.json).

asv always takes the benchmark files from this checkout. In the virtualenvs it builds itself
(``asv run``, ``asv continuous``; they live under ``benchmarks/env``) it installs the commit under
test, and that installed ssmbench is what must be measured, so ``sys.path`` is left alone.
With ``asv run --python=same`` nothing is installed: then the checkout these files belong to is
put first on ``sys.path``, so that the benchmarks measure this working tree and not whichever
ssmbench the current environment happens to hold.
"""

import os
import sys

_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_asv_envs = os.path.join(_root, "benchmarks", "env")
if not os.path.abspath(sys.prefix).startswith(_asv_envs + os.sep) and _root not in sys.path:
    if os.path.isfile(os.path.join(_root, "ssmbench", "__init__.py")):
        sys.path.insert(0, _root)
