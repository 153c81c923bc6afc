#!/usr/bin/env bash
# The one test command (README): does its own set-up on a fresh Debian / Raspberry Pi OS machine,
# then runs every test. As root it installs the Debian packages the tests need; otherwise it
# prints the one apt-get line to run and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the test suite needs: the real arecord/aplay and the python feeder/drain of the ALSA rig.
APT_PACKAGES=(alsa-utils python3)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "== installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "The tests need Debian packages that are not installed. Run:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "speakerd needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== typecheck + lint"
npx tsc -p tsconfig.json --noEmit
npx biome check .

echo "== build"
rm -rf dist
npx tsc -p tsconfig.json

echo "== demo"
node dist/src/main.js demo

echo "== tests"
# One file at a time: the integration tests bind loopback ports and pace audio in real time.
node --test --test-concurrency=1 dist/test/unit/*.test.js dist/test/integration/*.test.js
