#!/usr/bin/env bash
# The README's main job: the paper's toy experiment (Section 4, Figure 2) for T = 2 and T = 10, comparing
# equal weighting, GradNorm and uncertainty weighting from the same initial network and data. Prints the
# result tables and writes runs/toy_T2 and runs/toy_T10 (metrics.csv, */summary.json, figure2.png).
# Extra arguments go to both gradnorm-toy runs (see `build/apps/toy/gradnorm-toy --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
for T in 2 10; do
  ./build/apps/toy/gradnorm-toy --tasks "$T" --out "runs/toy_T$T" "$@"
  /usr/bin/python3 apps/toy/plot_figure2.py "runs/toy_T$T" || echo "run_toy: figure not drawn (see above)"
done
