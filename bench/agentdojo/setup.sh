#!/usr/bin/env bash
# Creates (if missing) the Python venv used by the AgentDojo replay export at target/agentdojo-venv and
# installs bench/agentdojo/requirements.txt into it. Idempotent: a second run only re-checks the pins.
# Usage: bench/agentdojo/setup.sh   (then: target/agentdojo-venv/bin/python bench/agentdojo/export.py --help)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/agentdojo-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
