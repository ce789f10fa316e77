#!/usr/bin/env bash
# The README's test command: sets up what the suite needs on a fresh machine, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
