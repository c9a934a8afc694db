"""``python -m sk_imgcls``: the ``sk-imgcls`` command line (see :mod:`sk_imgcls._cli`)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
