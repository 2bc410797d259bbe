import sys

from ddbkeeper.cli import main

sys.exit(main())
