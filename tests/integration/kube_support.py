"""Paths shared by the integration tests; puts lab/ on sys.path for the kubeapi package."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository
CRDS = ROOT.parent / "shared" / "crds"
if str(ROOT / "lab") not in sys.path:
    sys.path.insert(0, str(ROOT / "lab"))
