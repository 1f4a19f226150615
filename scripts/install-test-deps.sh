#!/usr/bin/env bash
# Installs the real clients the conformance tests use (idempotent): STILTS, PostgreSQL (server
# binaries only), openssl, apache2 (a WebDAV server), chromium and chromium-driver from Debian;
# pyvo/astroquery/astropy/pyarrow/pytest/selenium/prometheus_client, the ADBC Flight SQL
# driver and moto's S3 server (moto_server) from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v stilts >/dev/null 2>&1 || need_apt+=(stilts)
# PostgreSQL server binaries for the federation tests (server/tests/service/federation.rs
# runs a private cluster from /usr/lib/postgresql/*/bin; no system service is started).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# openssl makes the self-signed certificate of the Flight SQL TLS test.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Apache httpd serves catalogue files over WebDAV in the object-store test
# (ballista::tables_on_an_object_store); the test starts its own instance.
command -v apache2 >/dev/null 2>&1 || need_apt+=(apache2)
# Headless Chromium and its WebDriver for the web console test (conformance/test_console.py).
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || need_apt+=(chromium chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! python3 -c 'import pyvo, astroquery, astropy, pyarrow, pytest, numpy, adbc_driver_flightsql, adbc_driver_manager, prometheus_client, selenium, moto.server' 2>/dev/null || ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check -r conformance/requirements.txt
fi
echo "stilts: $(command -v stilts); python: $(python3 --version); postgresql: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
