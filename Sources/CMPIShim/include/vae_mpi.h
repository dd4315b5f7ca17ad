// The thin C-interop wrapper over OpenMPI: the only place vae-dist calls MPI.
//
// Swift cannot import OpenMPI's handle macros (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...:
// addresses of global structs), so these functions take plain C types and pick the handles here.
// Every function returns an MPI error code (MPI_SUCCESS = 0) unless it says otherwise; communication
// errors abort the job (MPI_ERRORS_ARE_FATAL is left in place).
#ifndef VAE_MPI_H
#define VAE_MPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Element types of a reduction.
typedef enum { VAE_MPI_FLOAT = 0, VAE_MPI_DOUBLE = 1, VAE_MPI_INT64 = 2 } vae_mpi_type;
/// Reduction operators.
typedef enum { VAE_MPI_SUM = 0, VAE_MPI_MIN = 1, VAE_MPI_MAX = 2 } vae_mpi_op;

/// MPI_Init_thread with MPI_THREAD_FUNNELED (only the main thread calls MPI).
int vae_mpi_init(void);
/// MPI_Finalize.
int vae_mpi_finalize(void);
/// 1 if MPI_Init has run, else 0.
int vae_mpi_initialized(void);
/// 1 if MPI_Finalize has run, else 0.
int vae_mpi_finalized(void);
/// This process's rank in MPI_COMM_WORLD (-1 on error).
int vae_mpi_rank(void);
/// The number of ranks in MPI_COMM_WORLD (-1 on error).
int vae_mpi_size(void);
/// In-place all-reduce of `count` elements over MPI_COMM_WORLD (split into chunks below INT_MAX).
int vae_mpi_allreduce(void *buffer, int64_t count, vae_mpi_type type, vae_mpi_op op);
/// Non-blocking in-place float sum into request slot `slot` (0 ..< VAE_MPI_REQUEST_SLOTS, preallocated).
int vae_mpi_iallreduce_float_sum(float *buffer, int count, int slot);
/// Waits for the request in `slot` (no-op when none is pending).
int vae_mpi_wait(int slot);
/// Number of request slots.
#define VAE_MPI_REQUEST_SLOTS 4
/// MPI_Reduce_scatter (sum): rank r receives in `shard` the sum over ranks of `source[displ_r ..< displ_r + counts[r]]`.
int vae_mpi_reduce_scatter_float_sum(const float *source, float *shard, const int *counts);
/// In-place MPI_Allgatherv: rank r's `counts[r]` floats at `buffer + displacements[r]` reach every rank.
int vae_mpi_allgatherv_float(float *buffer, const int *counts, const int *displacements);
/// MPI_Bcast of `bytes` bytes from `root` (split into chunks below INT_MAX).
int vae_mpi_broadcast(void *buffer, int64_t bytes, int root);
/// MPI_Barrier.
int vae_mpi_barrier(void);
/// MPI_Abort of every rank with `code`; does not return.
void vae_mpi_abort(int code);

/// Node-shared memory (an MPI-3 shared window over the ranks of one node), for the gradient exchange that sums
/// gradients by reading the other ranks' memory instead of sending it.
typedef struct vae_mpi_node_memory vae_mpi_node_memory;
/// The node split of MPI_COMM_WORLD: the ranks that can share memory (MPI_COMM_TYPE_SHARED), or with
/// `ranks_per_node` > 0 consecutive groups of that many ranks (tests: several "nodes" on one machine); and,
/// across nodes, the ranks with the same local rank. Collective the first time; later calls return the same split.
/// `uniform` is 1 when every node has the same number of ranks.
int vae_mpi_node_topology(int ranks_per_node, int *local_rank, int *local_size, int *node_count, int *uniform);
/// Collective over the node: allocates `bytes` of shared memory for this rank (each rank may ask a different
/// size; every segment page-aligned) and writes every local rank's segment address into `segments[local_size]`.
int vae_mpi_node_allocate(int64_t bytes, void **segments, vae_mpi_node_memory **memory);
/// Memory fence and barrier over the node: every local rank's writes before it are visible to all after it.
int vae_mpi_node_synchronize(vae_mpi_node_memory *memory);
/// Collective over the node: frees the memory (a no-op after MPI_Finalize).
int vae_mpi_node_free(vae_mpi_node_memory *memory);
/// In-place float sum of `count` elements over the ranks with this rank's local rank, one per node
/// (returns at once with one node).
int vae_mpi_cross_node_allreduce_float_sum(float *buffer, int64_t count);
/// Every node's `bytes` from `send` (the ranks with this rank's local rank, one per node) into `receive`, in node
/// order (`bytes` × node count); a copy with one node.
int vae_mpi_cross_node_allgather(const void *send, int64_t bytes, void *receive);

/// Non-blocking: starts the cross-node sum of `buffer` into request slot `slot` (nothing with one node); finish
/// with vae_mpi_wait, drive it meanwhile with vae_mpi_test.
int vae_mpi_cross_node_iallreduce_float_sum(float *buffer, int count, int slot);
/// Non-blocking: starts vae_mpi_cross_node_allgather into request slot `slot` (a copy, done, with one node).
int vae_mpi_cross_node_iallgather(const void *send, int bytes, void *receive, int slot);
/// MPI_Test on the request in `slot`: lets MPI move a pending operation along (no-op when none is pending).
int vae_mpi_test(int slot);

/// Starts the stall watchdog: a thread that ends this rank with exit status 3 (so mpirun ends the whole job)
/// when one collective has waited more than `limit_seconds`, after printing the operation, the step and the wait.
/// Call once, after vae_mpi_init; `limit_seconds` <= 0 leaves it off.
void vae_mpi_watchdog_start(double limit_seconds);
/// Tells the watchdog which training step is running (named in its message).
void vae_mpi_watchdog_step(int64_t step);

#ifdef __cplusplus
}
#endif

#endif
