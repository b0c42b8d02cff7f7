#!/usr/bin/env bash
# One command for the whole test suite (unit and end-to-end with real cargo and bubblewrap).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
