#!/usr/bin/env bash
# Runs vae-dist (or any command) under OpenMPI's mpirun with what these machines need.
#
#   Launch/mpirun.sh -n 8 [mpirun options] [-- COMMAND ARGS...]
#   Launch/mpirun.sh -n 8 train --data Data/mnist          (no "--": runs .build/release/vae-dist ARGS)
#
# Sets: --allow-run-as-root when root; on one machine --oversubscribe (more ranks than cores is fine: idle ranks
# yield) and --bind-to none, with --hostfile/--host --bind-to core and no oversubscription;
# the shared-memory transport without single-copy (CMA fails in containers); one OpenBLAS thread per rank
# (ranks >= cores; override with VAE_DIST_BLAS_THREADS; VAE_DIST_BIND overrides the binding);
# and mpirun's --timeout when VAE_DIST_MPI_TIMEOUT is set, so a hang ends instead of waiting forever.
set -euo pipefail
# Signals are caught from the first line: a stop asked for before the job runs is kept and handed on once the ranks
# exist (see the end of this script), never lost and never the script's own death.
pending=""
trap 'pending=TERM' TERM
trap 'pending=INT' INT
trap 'pending=TERM' HUP
here=$(cd "$(dirname "$0")/.." && pwd)
mpi_args=()
hosts=0
while [ $# -gt 0 ]; do
  case "$1" in
    --hostfile|--host|-H) hosts=1; mpi_args+=("$1" "$2"); shift 2 ;;
    -n|-np|--np|--timeout|--map-by|--bind-to|-x) mpi_args+=("$1" "$2"); shift 2 ;;
    --mca|-mca|--gmca) mpi_args+=("$1" "$2" "$3"); shift 3 ;;  # --mca NAME VALUE
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
# Across hosts: TCP keepalive on OpenMPI's control connections (mpirun ↔ each host's orted), so a host that becomes
# unreachable is noticed within seconds (5 s idle, then 3 probes 2 s apart) and the job ends on both sides — the far
# orted loses its lifeline and kills its ranks — instead of waiting out OpenMPI's defaults (300 s + 9 × 20 s).
# The collective watchdog (--collective-timeout) ends the ranks themselves.
mpi_args+=(--mca oob_tcp_keepalive_time "${VAE_DIST_KEEPALIVE_TIME:-5}" --mca oob_tcp_keepalive_intvl 2
  --mca oob_tcp_keepalive_probes 3)
# One machine: more ranks than cores is fine (--oversubscribe) and unbound ranks measured best here. Given hosts
# (--hostfile/--host): a cluster, so each rank gets its core and the slots are respected.
if [ "$hosts" = 1 ]; then placement=(--bind-to "${VAE_DIST_BIND:-core}"); else placement=(--oversubscribe --bind-to "${VAE_DIST_BIND:-none}"); fi
if [ -n "$pending" ]; then
  echo "mpirun.sh: stopped by SIG$pending before the job started; nothing ran" >&2
  if [ "$pending" = INT ]; then exit 130; else exit 143; fi
fi
# mpirun reads standard input for rank 0. A background job's stdin would be /dev/null, so the script's own is
# handed on explicitly; started with stdin closed (cron, some schedulers), the job gets /dev/null.
if { exec 3<&0; } 2>/dev/null; then input=3; else exec 3</dev/null; input=3; fi
# SIGHUP (a closed terminal, a dropped ssh) is ignored by mpirun and the ranks (they inherit that) and, like
# SIGTERM, handed to the ranks by this script: they finish the step, checkpoint and exit 75.
trap '' HUP
mpirun "${placement[@]}" -x OPENBLAS_NUM_THREADS \
  -x OMPI_MCA_btl_vader_single_copy_mechanism "${mpi_args[@]}" "$@" <&$input 3<&- &
launcher=$!
trap 'pending=TERM' HUP
exec 3<&-
# SIGTERM/SIGINT/SIGHUP go to the ranks themselves (mpirun's children on this host), once they exist: a signal that
# arrives while mpirun is still starting them is retried until a rank has it. The exit status is mpirun's: 75 when
# the ranks stopped on the signal and checkpointed, else what the job ended with.
status=0
while kill -0 "$launcher" 2>/dev/null; do
  if [ -n "$pending" ]; then
    if pkill -"$pending" -P "$launcher" 2>/dev/null; then pending=""; else sleep 0.1; fi
  else
    wait "$launcher" && status=0 || status=$?  # returns early when a trapped signal arrives
  fi
done
wait "$launcher" && status=0 || status=$?
exit "$status"
