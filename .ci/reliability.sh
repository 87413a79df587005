#!/usr/bin/env bash
# Reliability checks of CI (issue 11), after README's test command has passed:
#
#   stress  run the tests marked `stress` (they fork, race deadlines or send signals)
#           STRESS_REPEAT times more in a row (default 3): a 1-in-3 flake cannot pass;
#   oldest  install the project in a second venv with every dependency at the lower bound
#           pyproject.toml allows (.ci/lower-bounds.py) and run the whole suite again:
#           a lower bound that no longer works is found here, not by a user.
#
# Both use the ordinary package index; both fail on "no tests collected".
set -euo pipefail
cd "$(dirname "$0")/.."

pytest_ok() {  # pytest's exit 5 (no tests) is a failure here
  set +e
  "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing the build" >&2
    return 1
  fi
  return "$rc"
}

case "${1:-}" in
  stress)
    repeat="${STRESS_REPEAT:-3}"
    for i in $(seq 1 "$repeat"); do
      echo "+ stress run $i of $repeat: pytest -m stress"
      pytest_ok .venv/bin/python -m pytest -q -m stress -p no:cacheprovider
    done
    ;;
  oldest)
    rm -rf .venv-oldest
    python3 -m venv .venv-oldest
    python3 .ci/lower-bounds.py test > .venv-oldest/constraints.txt
    echo "+ oldest allowed dependencies:"
    sed 's/^/    /' .venv-oldest/constraints.txt
    .venv-oldest/bin/pip install -q -c .venv-oldest/constraints.txt -e ".[test]"
    pytest_ok .venv-oldest/bin/python -m pytest -q -p no:cacheprovider
    ;;
  *)
    echo "usage: $0 stress|oldest" >&2
    exit 2
    ;;
esac
