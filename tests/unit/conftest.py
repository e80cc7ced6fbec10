"""Make the collection importable as ansible_collections.ecsrds.connect for plain pytest runs
(ansible-test units sets this up itself)."""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / ".ansible" / "collections"
if COLLECTIONS.is_dir() and str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
