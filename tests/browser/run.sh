#!/usr/bin/env bash
# Checks the dashboard of a running kmirror in Debian's headless Chromium:
#   tests/browser/run.sh <dashboard url> <screenshot.png>
# Installs playwright-core (npm ci, from package-lock.json) on first use; no browser download.
# KMIRROR_CHROMIUM names another Chromium binary (default /usr/bin/chromium).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chromium="${KMIRROR_CHROMIUM:-/usr/bin/chromium}"
for tool in node npm; do
  command -v "${tool}" >/dev/null || { echo "browser test: ${tool} is missing; run scripts/install-deps" >&2; exit 1; }
done
[[ -x "${chromium}" ]] || { echo "browser test: ${chromium} is missing; run scripts/install-deps" >&2; exit 1; }

if [[ ! -f "${here}/node_modules/playwright-core/package.json" ]]; then
  echo "browser test: installing playwright-core (npm ci)"
  # No browser download: the test drives the system Chromium.
  (cd "${here}" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
KMIRROR_CHROMIUM="${chromium}" exec node "${here}/dashboard.mjs" "$@"
