"""Shared fixtures for unit tests: the repository root and a valid contract."""

import copy

import pytest

from unit_support import VALID_CONTRACT


@pytest.fixture
def contract():
    """A complete, valid tenrec_controlplane contract (a fresh copy per test)."""
    return copy.deepcopy(VALID_CONTRACT)
