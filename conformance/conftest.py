"""Shared fixtures: the URLs of the running Parallax TAP and Flight SQL services (started by
scripts/test-all.sh)."""
import os

import pytest


@pytest.fixture(scope="session")
def tap_url():
    url = os.environ.get("PARALLAX_URL")
    if not url:
        pytest.fail("PARALLAX_URL is not set: run the conformance suite through scripts/test-all.sh")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def flight_url():
    url = os.environ.get("PARALLAX_FLIGHT")
    if not url:
        pytest.fail("PARALLAX_FLIGHT is not set: run the conformance suite through scripts/test-all.sh")
    return url.rstrip("/")
