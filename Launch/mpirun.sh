#!/usr/bin/env bash
# Runs vae-dist (or any command) under OpenMPI's mpirun with what these machines need.
#
#   Launch/mpirun.sh -n 8 [mpirun options] [-- COMMAND ARGS...]
#   Launch/mpirun.sh -n 8 train --data Data/mnist          (no "--": runs .build/release/vae-dist ARGS)
#
# Sets: --allow-run-as-root when root; --oversubscribe (more ranks than cores is fine: idle ranks yield);
# the shared-memory transport without single-copy (CMA fails in containers); one OpenBLAS thread per rank
# (ranks >= cores; override with VAE_DIST_BLAS_THREADS); --bind-to none (see the README for the measurement);
# and mpirun's --timeout when VAE_DIST_MPI_TIMEOUT is set, so a hang ends instead of waiting forever.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mpi_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-np|--np|--timeout|--hostfile|--host|-H|--map-by|--bind-to|-x|--mca) mpi_args+=("$1" "$2"); shift 2 ;;
    --) shift; break ;;
    -*) mpi_args+=("$1"); shift ;;
    *) set -- "$here/.build/release/vae-dist" "$@"; break ;;
  esac
done
[ $# -gt 0 ] || set -- "$here/.build/release/vae-dist"
[ "$(id -u)" = 0 ] && mpi_args+=(--allow-run-as-root)
[ -n "${VAE_DIST_MPI_TIMEOUT:-}" ] && mpi_args+=(--timeout "$VAE_DIST_MPI_TIMEOUT")
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}  # keep a setting the caller made (cma is faster where it works)
export OPENBLAS_NUM_THREADS=${VAE_DIST_BLAS_THREADS:-1}
# SIGTERM/SIGINT to this script go to the ranks themselves, not to mpirun: mpirun would SIGKILL them about 1 s
# later (odls_base_sigkill_timeout) and exit 1, while a rank finishes its step or pass, checkpoints and exits 75,
# which mpirun then returns. Ranks on other hosts learn of the stop through the trainer's per-step stop
# agreement. (VAE_DIST_KILL_DELAY=S still sets mpirun's own kill delay, for a signal sent to mpirun directly.)
[ -n "${VAE_DIST_KILL_DELAY:-}" ] && mpi_args+=(--mca odls_base_sigkill_timeout "$VAE_DIST_KILL_DELAY")
mpirun --oversubscribe --bind-to "${VAE_DIST_BIND:-none}" -x OPENBLAS_NUM_THREADS \
  -x OMPI_MCA_btl_vader_single_copy_mechanism "${mpi_args[@]}" "$@" </dev/stdin &
launcher=$!
trap 'pkill -TERM -P "$launcher" 2>/dev/null || true' TERM
trap 'pkill -INT -P "$launcher" 2>/dev/null || true' INT
status=0
while :; do
  wait "$launcher" && status=0 || status=$?
  kill -0 "$launcher" 2>/dev/null || break  # wait also returns when a trapped signal arrives
done
exit "$status"
