#!/usr/bin/env bash
# Issue 21 (import): HEAR 2021's naive baseline (hearbaseline 2021.1.1, through the librosa shim in this folder)
# ranked beside rwbench's MFCC baseline on ESC-10 (5 official folds), SVM and ELM, CPU. Run from this folder.
set -euo pipefail
DATA=${DATA:-../../../shared/data}   # holds esc10/ (ESC-50 layout)
OUT=${OUT:-results}
python -m pip install -q --no-deps hearbaseline==2021.1.1   # its numpy/numba pins do not install on Python 3.11
PYTHONPATH=. rwbench run --dataset esc10 --data-root "$DATA/esc10" --results "$OUT" \
    --frontends 'hear:hearbaseline_naive_compat,mfcc' --backends svm,elm
