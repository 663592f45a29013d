import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))  # tests/reference.py

# ../shared beside the repository (CI lays it there); IONNET_SHARED overrides
SHARED = Path(os.environ.get("IONNET_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SHARED_DATA = SHARED / "data"
