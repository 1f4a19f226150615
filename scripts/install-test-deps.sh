#!/usr/bin/env bash
# Installs the real clients the conformance tests use (idempotent): STILTS from Debian,
# pyvo/astroquery/astropy/pyarrow/pytest/selenium and the ADBC Flight SQL driver from PyPI;
# chromium and chromium-driver from Debian for the web console test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v stilts >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq stilts >/dev/null
fi
# Headless Chromium and its WebDriver for the web console test (conformance/test_console.py).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! python3 -c 'import pyvo, astroquery, astropy, pyarrow, pytest, numpy, adbc_driver_flightsql, adbc_driver_manager, selenium' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check -r conformance/requirements.txt
fi
echo "stilts: $(command -v stilts); python: $(python3 --version)"
