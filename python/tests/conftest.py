"""Shared fixtures: the repository's files and the `tagstream` binary the CLI comparisons
run (TAGSTREAM_BIN, else $CARGO_TARGET_DIR/release/tagstream, else PATH). Under CI a
missing binary fails the tests that need it instead of skipping them."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def cli() -> str:
    candidates = [os.environ.get("TAGSTREAM_BIN")]
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "tagstream"))
    candidates.append(shutil.which("tagstream"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    if os.environ.get("CI"):
        pytest.fail("no tagstream binary: set TAGSTREAM_BIN (CI builds it first)")
    pytest.skip("no tagstream binary (set TAGSTREAM_BIN)")
