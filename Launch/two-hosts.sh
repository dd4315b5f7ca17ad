# Two hosts on one machine, for Launch/multihost-check.sh and Launch/bench-links.sh (sourced, not run): network
# namespaces with their own hostnames (OpenMPI tells nodes apart by hostname), joined by a veth pair carrying a /24
# of our own, and a launcher agent in place of ssh. Sets $work, $nsa/$nsb, $vetha/$vethb, $subnet; defines
# two_hosts (vae-dist ARGS on 2 hosts × 2 ranks through Launch/mpirun.sh, started on host 1). Exits 77 with a line
# saying why when it cannot make namespaces; removes them (and kills what runs in them) on exit.
#   VAE_DIST_MULTIHOST_SUBNET=10.213.77 (the /24 used). The caller sets $root (the project folder) and $bin.
subnet=${VAE_DIST_MULTIHOST_SUBNET:-10.213.77}
tag=$$
nsa=vdmh-a-$tag nsb=vdmh-b-$tag vetha=vdmha$tag vethb=vdmhb$tag
work=$(mktemp -d /tmp/vae-dist-multihost.XXXXXX)

[ "$(id -u)" = 0 ] || { echo "skip: two hosts on one machine need root (network namespaces)"; exit 77; }
command -v ip >/dev/null && command -v unshare >/dev/null || { echo "skip: iproute2 and unshare are needed"; exit 77; }

cleanup() {
  for ns in "$nsa" "$nsb"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$vetha" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$nsa" 2>/dev/null || { echo "skip: cannot create network namespaces here (ip netns add failed)"; exit 77; }
ip netns add "$nsb"
ip link add "$vetha" type veth peer name "$vethb"
ip link set "$vetha" netns "$nsa"
ip link set "$vethb" netns "$nsb"
ip -n "$nsa" addr add "$subnet.1/24" dev "$vetha"
ip -n "$nsb" addr add "$subnet.2/24" dev "$vethb"
for ns in "$nsa" "$nsb"; do ip -n "$ns" link set lo up; done
ip -n "$nsa" link set "$vetha" up
ip -n "$nsb" link set "$vethb" up

# The launcher agent (OpenMPI calls AGENT HOST COMMAND… as it would ssh): COMMAND runs in that host's namespace,
# under the host's own name (OpenMPI tells nodes apart by hostname).
cat >"$work/agent" <<EOF
#!/bin/sh
host=\$1; shift
case \$host in
  $subnet.1) ns=$nsa name=vdh1 ;;
  $subnet.2) ns=$nsb name=vdh2 ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name; \$*"
EOF
chmod +x "$work/agent"
printf '%s slots=2\n%s slots=2\n' "$subnet.1" "$subnet.2" >"$work/hosts"

# Two hosts × two ranks, through Launch/mpirun.sh (its keepalive settings are what ends a partitioned job), started
# on host 1.
two_hosts() {
  ip netns exec "$nsa" unshare --uts sh -c 'hostname vdh1; exec "$@"' sh \
    env VAE_DIST_MPI_TIMEOUT=120 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$root/Launch/mpirun.sh" -n "${TWO_HOSTS_RANKS:-4}" --hostfile "$work/hosts" --map-by node \
    --mca plm_rsh_agent "$work/agent" --mca pml ob1 --mca btl tcp,self,vader \
    --mca oob_tcp_if_include "$subnet.0/24" --mca btl_tcp_if_include "$subnet.0/24" \
    --mca btl_tcp_port_min_v4 30000 --mca mpi_yield_when_idle 1 -- "$bin" "$@"
}
