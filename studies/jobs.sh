# Sourced by the studies' run.sh scripts. `each STEP LIST ARGS…` runs `STEP ITEM ARGS…` for every item of the
# comma-separated LIST, $JOBS at a time (default 1: in order, in the foreground). With JOBS > 1 each item's output
# goes to $OUT/logs/[STAGE-]STEP-ITEM.log (STAGE: $LOG_TAG where the script sets it; ':' written '-'), one failure stops no other, and the call fails at the end, naming
# the step.
JOBS=${JOBS:-1}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: JOBS must be a positive whole number, got '$JOBS'" >&2; exit 2; }

each() {
  local step=$1 list=$2 item log failed=0 running=0
  shift 2
  if [ "$JOBS" = 1 ]; then
    for item in ${list//,/ }; do "$step" "$item" "$@"; done
    return
  fi
  mkdir -p "$OUT/logs"
  for item in ${list//,/ }; do
    if (( running == JOBS )); then wait -n || failed=1; running=$((running - 1)); fi
    log="$OUT/logs/${LOG_TAG:+$LOG_TAG-}$step-${item//:/-}.log"
    echo "run.sh: $step $item → $log"
    ("$step" "$item" "$@") > "$log" 2>&1 &
    running=$((running + 1))
  done
  while (( running > 0 )); do wait -n || failed=1; running=$((running - 1)); done
  [ "$failed" = 0 ] || { echo "run.sh: $step failed for some front-ends (see $OUT/logs/${LOG_TAG:+$LOG_TAG-}$step-*.log)" >&2; return 1; }
}
