#!/usr/bin/env bash
# The test command: formatting, lints, then every test (unit, property,
# loopback integration, the official Python client) in one build profile.
set -euo pipefail
cd "$(dirname "$0")/.."

# The official Feldera Python client, pinned, in a project-local venv that
# tests/python_client.rs runs (SLUICE_PYTHON overrides the interpreter).
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
