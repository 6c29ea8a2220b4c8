#!/usr/bin/env bash
# One prepared run for a machine with a GPU (at most 10 minutes: the steps' time limits sum to 600 s), writing
# everything under benchmarks/gpu/<date>-<device>/ (or $GPU_OUT):
#   1. the tests that exercise the CUDA path (they skip without CUDA);
#   2. `rwbench profile` of every front-end at paper width, fp32 and bf16 (% of the same run's matmul peak);
#   3. elm_torch against hpelm (benchmarks/elm_speed.py) on the device;
#   4. the kernel SVM's Gram matrix (torch.cdist, what KernelSVC computes once per grid) on the device against the CPU;
#   5. a GTZAN-sized timed study: synthetic 30-s clips (930 of them), the reference study's 9 CNNs + MFCC at paper
#      width, SVM + ELM, cold cache, under /usr/bin/time -v.
# Each step has its own time limit and its exit status is recorded; a failed step does not stop the others.
#
#   benchmarks/gpu.sh                         # on the GPU machine
#   benchmarks/gpu.sh --device cpu --quick    # the same steps, tiny, on CPU: how tests/test_gpu_script.py runs it
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "gpu.sh: unknown argument $1 (use --device cuda|cpu, --quick)" >&2; exit 2 ;;
  esac
done
NAME=$(python -c "import sys, torch; d=sys.argv[1]; print(torch.cuda.get_device_name(0) if d == 'cuda' and torch.cuda.is_available() else 'cpu')" "$DEVICE")
SLUG=$(echo "$NAME" | tr -cs 'A-Za-z0-9' '-' | sed 's/-$//' | tr 'A-Z' 'a-z')
OUT=${GPU_OUT:-benchmarks/gpu/$(date +%Y-%m-%d)-$SLUG}
mkdir -p "$OUT"
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"' EXIT
STUDY_FE=vgg,vertical_7x96,vertical_7x86,timbral,temporal,timbral_temporal,sample_level,frame_level,frame_level_many,mfcc
if [ "$QUICK" = 1 ]; then
  WIDTH=small; PROFILE_FE=sample_level; REPEATS=1; PEAK_REPEATS=1
  ELM_ARGS=(--clips 300 --dims 128 --hidden 100 --repeats 1); GRAM=(300 64)
  STUDY=(--dataset-option n_per_class=5 --dataset-option seconds=2 --frontends sample_level,mfcc --backends elm)
  TESTS=(tests/test_embed_cache.py -k "cuda or device")
else
  WIDTH=paper; PROFILE_FE='*'; REPEATS=3; PEAK_REPEATS=5
  ELM_ARGS=(--clips 8000 --dims 3585 --hidden 2500 --repeats 3); GRAM=(8000 3585)
  STUDY=(--dataset-option n_per_class=186 --dataset-option seconds=30 --frontends "$STUDY_FE" --backends svm,elm)
  TESTS=(tests/test_frontends.py tests/test_embed_cache.py tests/test_elm.py tests/test_hear.py tests/test_profile.py
         tests/test_pipeline.py -k "cuda or device")
fi

{
  echo "# rwbench GPU run, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- device: $NAME (--device $DEVICE$([ "$QUICK" = 1 ] && echo ', --quick'))"
  python -c "import torch, rwbench; print(f'- torch {torch.__version__}, CUDA {torch.version.cuda}, rwbench {rwbench.__version__}')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/- nvidia-smi: /'
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "| step | exit | seconds | output |"
  echo "|---|---|---|---|"
} > "$OUT/summary.md"

step() {  # step NAME LIMIT_S OUTPUT_FILE COMMAND...: run with a time limit, record exit status and seconds
  local name=$1 limit=$2 file=$3; shift 3
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$file" 2>&1
  local status=$?
  echo "| $name | $status$([ $status = 124 ] && echo ' (time limit)') | $((SECONDS - start)) | $file |" >> "$OUT/summary.md"
  echo "gpu.sh: $name: exit $status, $((SECONDS - start)) s -> $OUT/$file" >&2
}

# -n 0: these few tests in this process, not in pytest-xdist workers (pyproject's addopts ask for 2)
step "tests on the device path" 120 tests.txt python -m pytest -q -n 0 "${TESTS[@]}"
for precision in fp32 bf16; do
  step "profile $precision, $WIDTH width" 100 "profile-$precision.md" \
    rwbench profile --frontends "$PROFILE_FE" --width "$WIDTH" --device "$DEVICE" --precision "$precision" \
    --repeats "$REPEATS" --peak-repeats "$PEAK_REPEATS" --format md
done
step "elm_torch vs hpelm" 60 elm.txt python benchmarks/elm_speed.py --device "$DEVICE" "${ELM_ARGS[@]}"
step "Gram matrix, device vs cpu" 30 gram.txt python - "$DEVICE" "${GRAM[@]}" <<'EOF'
import sys, time, torch
device, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = torch.randn(n, d, dtype=torch.float64)
def best(on):
    """Best of 3: the features copied to ``on``, the Gram matrix computed and copied back (.cpu() waits for it), as
    KernelSVC would pay on a device (on the CPU both copies are no-ops)."""
    times = []
    for _ in range(3):
        if on.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a = x.to(on)
        gram = torch.cdist(a, a, compute_mode="use_mm_for_euclid_dist").square_().cpu()
        times.append(time.perf_counter() - start)
    return min(times), gram
cpu_s, cpu_gram = best(torch.device("cpu"))
dev_s, dev_gram = best(torch.device(device))
print(f"squared-distance Gram of {n} x {d} (float64), best of 3: cpu {cpu_s:.3f} s, {device} {dev_s:.3f} s "
      f"(the copies to and from it included), ratio {cpu_s / dev_s:.1f}x; "
      f"max abs difference {float((cpu_gram - dev_gram).abs().max()):.2e}")
print("KernelSVC computes it on the CPU today (rwbench.kernel_svm): the ratio is what moving it would gain.")
EOF
TIME=(); [ -x /usr/bin/time ] && TIME=(/usr/bin/time -v)  # peak RSS beside the wall time, where GNU time is installed
step "GTZAN-sized study (synthetic timbre)" 190 study.txt "${TIME[@]}" \
  rwbench run --dataset synthetic --tasks timbre "${STUDY[@]}" --width "$WIDTH" --device "$DEVICE" \
  --results "$OUT/study" --cache "$CACHE"
echo >> "$OUT/summary.md"
echo "Wall time of the whole run: ${SECONDS} s." >> "$OUT/summary.md"
cat "$OUT/summary.md"
