# Sourced by bench-compare.sh and step-instructions.sh: the flags that selected a gradient exchange before
# `--gradient-exchange STRATEGY` existed (a base binary from before issue 11 gets these).
legacy_flags() {
  case "$1" in
    allreduce) echo "--gradient-exchange allreduce" ;;
    allreduce-overlapped) echo "--overlap-allreduce --gradient-exchange allreduce" ;;
    sharded-adam) echo "--sharded-optimizer --gradient-exchange allreduce" ;;
    node-shared) echo "--gradient-exchange node-shared" ;;
    exact) echo "--reduction exact" ;;
  esac
}
