#!/usr/bin/env bash
# Kerberos end to end (issue 16), called from .ci/run:
#   .ci/kerberos.sh deps   install Debian's MIT KDC, admin tools, client tools and
#                          headers (krb5-kdc krb5-admin-server krb5-user libkrb5-dev) and
#                          libfaketime (faketime), if missing
#   .ci/kerberos.sh test   add the `kerberos` extra to README's .venv (builds python-gssapi and
#                          krb5 from source, about 4 minutes on 2 cores the first time; pip's own
#                          wheel cache makes later runs on the same machine take seconds) and run
#                          the Kerberos tests with MPREMOTE_REQUIRE_KERBEROS=1: a missing KDC or
#                          gssapi fails the build instead of skipping.
# The realm, KDC, keytab and tickets live in pytest's temporary directories; nothing here
# or in the tests reads or writes /etc/krb5.conf (the packages may install one; it is unused).
set -euo pipefail
cd "$(dirname "$0")/.."
# faketime: libfaketime puts one client process's clock ahead, for the real clock-skew test.
PACKAGES=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev faketime)

case "${1:-}" in
  deps)
    # .ci/run is CI's entry point: install whatever is missing, whether or not the runner
    # sets CI=true (the Kerberos tests that follow are required, so a skipped install would
    # fail the build). As a developer, install the packages yourself (README, Development).
    if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
      echo "kerberos: not root and no sudo; install ${PACKAGES[*]} yourself (see README)" >&2
      exit 0
    fi
    [ "$(id -u)" = 0 ] && sudo="" || sudo="sudo -n"
    missing=()
    for p in "${PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
      echo "+ apt-get install ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      # The packages' own services (a system KDC and kadmind for a default realm) must not
      # start: the tests run their own KDC. Where the image has no policy-rc.d that denies
      # starts, one is in place for the install only (kadmind's postinst fails otherwise).
      guard=""
      if [ -z "$sudo" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$guard"
        chmod 755 "$guard"
        trap 'rm -f "$guard"' EXIT
      fi
      $sudo apt-get update -q >/dev/null
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    fi
    ;;
  test)
    echo "+ .venv/bin/pip install -q -e \".[test,kerberos]\""
    .venv/bin/pip install -q -e ".[test,kerberos]"
    echo "+ MPREMOTE_REQUIRE_KERBEROS=1 .venv/bin/python -m pytest -q -m kerberos"
    set +e
    MPREMOTE_REQUIRE_KERBEROS=1 .venv/bin/python -m pytest -q -m kerberos
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
      echo "pytest collected no Kerberos tests: failing the build" >&2
      exit 1
    fi
    exit "$rc"
    ;;
  *)
    echo "usage: $0 deps|test" >&2
    exit 2
    ;;
esac
