# Sourced by the stage scripts: strict mode, the repository root as the
# working directory, and how many build jobs (TOFU_JOBS, default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[1]}")/.."
root=$PWD
jobs=${TOFU_JOBS:-2}
