import sys

from crosscheck.report.cli import main

sys.exit(main())
