#!/usr/bin/env bash
# One command for the demo: set up, then build a workspace with a malicious build script and real
# -sys crates through cargo-sandbox, and show on the host what the attack achieved.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/demo/run-demo.js
