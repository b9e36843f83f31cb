#!/usr/bin/env bash
# Installs the pinned @ngraveio/bc-ur (package-lock.json) for shared/tests/ur_interop.rs.
# Does nothing when node_modules is already there. Needs node >= 18 and the npm registry.
set -euo pipefail
cd "$(dirname "$0")"
if [ -d node_modules/@ngraveio/bc-ur ]; then exit 0; fi
command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 (Debian: apt-get install nodejs npm)"; exit 1; }
npm ci --ignore-scripts --no-audit --no-fund
