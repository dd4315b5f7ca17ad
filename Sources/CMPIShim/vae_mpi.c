#include "vae_mpi.h"
#include <mpi.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// The stall watchdog's shared state: which collective this rank is in and since when.
static _Atomic(const char *) watched_operation = NULL;
static _Atomic double watched_since = 0;
static _Atomic int64_t watched_step = -1;  // -1: start-up, before the first training step
static _Atomic double watch_limit = 0;
static atomic_int watch_thread_started = 0;

static double monotonic_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void enter(const char *operation) {
    if (atomic_load(&watch_limit) <= 0) return;
    atomic_store(&watched_since, monotonic_seconds());
    atomic_store(&watched_operation, operation);
}

static void leave(void) {
    if (atomic_load(&watch_limit) <= 0) return;
    atomic_store(&watched_operation, (const char *)NULL);
}

static void *watch(void *unused) {
    (void)unused;
    for (;;) {
        usleep(100000);
        const char *operation = atomic_load(&watched_operation);
        if (!operation) continue;
        double waited = monotonic_seconds() - atomic_load(&watched_since);
        double limit = atomic_load(&watch_limit);
        if (limit > 0 && waited > limit && atomic_load(&watched_operation) == operation) {
            int rank = -1;
            MPI_Comm_rank(MPI_COMM_WORLD, &rank);
            long long step = (long long)atomic_load(&watched_step);
            char where[64];
            if (step < 0) snprintf(where, sizeof where, "during start-up");
            else snprintf(where, sizeof where, "at step %lld", step);
            fprintf(stderr, "error: rank %d: watchdog: %s has waited %.1f s (limit %.1f s) %s; another rank is "
                            "stalled or gone. Ending the job (raise run.collective_timeout if the wait is legitimate).\n",
                    rank, operation, waited, limit, where);
            fflush(stderr);
            _exit(3);  // a rank that exits non-zero makes mpirun end every rank
        }
    }
    return NULL;
}

void vae_mpi_watchdog_start(double limit_seconds) {
    // Started with the default limit at MPI start (covering start-up), then set to the run's own (0: off).
    atomic_store(&watch_limit, limit_seconds);
    if (limit_seconds <= 0 || atomic_exchange(&watch_thread_started, 1)) return;
    pthread_t thread;
    if (pthread_create(&thread, NULL, watch, NULL) == 0) pthread_detach(thread);
}

void vae_mpi_watchdog_step(int64_t step) { atomic_store(&watched_step, step); }

static MPI_Datatype datatype(vae_mpi_type type) {
    switch (type) {
    case VAE_MPI_DOUBLE: return MPI_DOUBLE;
    case VAE_MPI_INT64: return MPI_INT64_T;
    default: return MPI_FLOAT;
    }
}

static size_t element_size(vae_mpi_type type) { return type == VAE_MPI_FLOAT ? 4 : 8; }

static MPI_Op operation(vae_mpi_op op) {
    switch (op) {
    case VAE_MPI_MIN: return MPI_MIN;
    case VAE_MPI_MAX: return MPI_MAX;
    default: return MPI_SUM;
    }
}

int vae_mpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

int vae_mpi_finalize(void) { return MPI_Finalize(); }

int vae_mpi_initialized(void) {
    int flag = 0;
    MPI_Initialized(&flag);
    return flag;
}

int vae_mpi_finalized(void) {
    int flag = 0;
    MPI_Finalized(&flag);
    return flag;
}

int vae_mpi_rank(void) {
    int rank = -1;
    return MPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS ? rank : -1;
}

int vae_mpi_size(void) {
    int size = -1;
    return MPI_Comm_size(MPI_COMM_WORLD, &size) == MPI_SUCCESS ? size : -1;
}

enum { CHUNK = INT_MAX / 2 };

int vae_mpi_allreduce(void *buffer, int64_t count, vae_mpi_type type, vae_mpi_op op) {
    char *base = buffer;
    for (int64_t done = 0; done < count;) {
        int n = (int)(count - done < CHUNK ? count - done : CHUNK);
        enter("MPI_Allreduce");
        int rc = MPI_Allreduce(MPI_IN_PLACE, base + done * element_size(type), n, datatype(type), operation(op),
                               MPI_COMM_WORLD);
        leave();
        if (rc != MPI_SUCCESS) return rc;
        done += n;
    }
    return MPI_SUCCESS;
}

static MPI_Request requests[VAE_MPI_REQUEST_SLOTS] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};

int vae_mpi_iallreduce_float_sum(float *buffer, int count, int slot) {
    if (slot < 0 || slot >= VAE_MPI_REQUEST_SLOTS) return MPI_ERR_ARG;
    return MPI_Iallreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &requests[slot]);
}

int vae_mpi_wait(int slot) {
    if (slot < 0 || slot >= VAE_MPI_REQUEST_SLOTS) return MPI_ERR_ARG;
    if (requests[slot] == MPI_REQUEST_NULL) return MPI_SUCCESS;
    enter("MPI_Wait (all-reduce)");
    int rc = MPI_Wait(&requests[slot], MPI_STATUS_IGNORE);
    leave();
    return rc;
}

int vae_mpi_reduce_scatter_float_sum(const float *source, float *shard, const int *counts) {
    enter("MPI_Reduce_scatter");
    int rc = MPI_Reduce_scatter(source, shard, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    leave();
    return rc;
}

int vae_mpi_allgatherv_float(float *buffer, const int *counts, const int *displacements) {
    enter("MPI_Allgatherv");
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts, displacements, MPI_FLOAT, MPI_COMM_WORLD);
    leave();
    return rc;
}

int vae_mpi_broadcast(void *buffer, int64_t bytes, int root) {
    char *base = buffer;
    for (int64_t done = 0; done < bytes;) {
        int n = (int)(bytes - done < CHUNK ? bytes - done : CHUNK);
        enter("MPI_Bcast");
        int rc = MPI_Bcast(base + done, n, MPI_BYTE, root, MPI_COMM_WORLD);
        leave();
        if (rc != MPI_SUCCESS) return rc;
        done += n;
    }
    return MPI_SUCCESS;
}

int vae_mpi_barrier(void) {
    enter("MPI_Barrier");
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    leave();
    return rc;
}

void vae_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

// ---- Node-shared memory ----

static MPI_Comm node_comm = MPI_COMM_NULL, cross_comm = MPI_COMM_NULL;
static int topology_local_rank, topology_local_size, topology_node_count, topology_uniform, topology_split = -1;

struct vae_mpi_node_memory {
    MPI_Win window;
};

int vae_mpi_node_topology(int ranks_per_node, int *local_rank, int *local_size, int *node_count, int *uniform) {
    if (node_comm == MPI_COMM_NULL) {
        int rank = 0, rc;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (ranks_per_node > 0) {
            rc = MPI_Comm_split(MPI_COMM_WORLD, rank / ranks_per_node, rank, &node_comm);
        } else {
            rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_comm);
        }
        if (rc != MPI_SUCCESS) return rc;
        MPI_Comm_rank(node_comm, &topology_local_rank);
        MPI_Comm_size(node_comm, &topology_local_size);
        rc = MPI_Comm_split(MPI_COMM_WORLD, topology_local_rank, rank, &cross_comm);
        if (rc != MPI_SUCCESS) return rc;
        int facts[3] = {topology_local_rank == 0 ? 1 : 0, topology_local_size, -topology_local_size};
        int sums[1], extremes[2];
        rc = MPI_Allreduce(facts, sums, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        rc = MPI_Allreduce(facts + 1, extremes, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        topology_node_count = sums[0];
        topology_uniform = extremes[0] == -extremes[1];
        topology_split = ranks_per_node;
    } else if (topology_split != ranks_per_node) {
        return MPI_ERR_ARG;
    }
    *local_rank = topology_local_rank;
    *local_size = topology_local_size;
    *node_count = topology_node_count;
    *uniform = topology_uniform;
    return MPI_SUCCESS;
}

int vae_mpi_node_allocate(int64_t bytes, void **segments, vae_mpi_node_memory **memory) {
    if (node_comm == MPI_COMM_NULL || bytes < 0) return MPI_ERR_ARG;
    vae_mpi_node_memory *m = calloc(1, sizeof *m);
    if (!m) return MPI_ERR_NO_MEM;
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each segment on its own pages (and NUMA node)
    void *own = NULL;
    enter("MPI_Win_allocate_shared");
    int rc = MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, node_comm, &own, &m->window);
    leave();
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) { free(m); return rc; }
    for (int r = 0; r < topology_local_size; r++) {
        MPI_Aint size = 0;
        int unit = 0;
        rc = MPI_Win_shared_query(m->window, r, &size, &unit, &segments[r]);
        if (rc != MPI_SUCCESS) break;
    }
    // One passive-target epoch for the window's lifetime: MPI_Win_sync is then the memory fence.
    if (rc == MPI_SUCCESS) rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, m->window);
    if (rc != MPI_SUCCESS) {
        MPI_Win_free(&m->window);
        free(m);
        return rc;
    }
    *memory = m;
    return MPI_SUCCESS;
}

int vae_mpi_node_synchronize(vae_mpi_node_memory *memory) {
    MPI_Win_sync(memory->window);
    enter("MPI_Barrier (node)");
    int rc = MPI_Barrier(node_comm);
    leave();
    MPI_Win_sync(memory->window);
    return rc;
}

int vae_mpi_node_free(vae_mpi_node_memory *memory) {
    if (!memory) return MPI_SUCCESS;
    int rc = MPI_SUCCESS;
    if (!vae_mpi_finalized()) {
        MPI_Win_unlock_all(memory->window);
        enter("MPI_Win_free");
        rc = MPI_Win_free(&memory->window);
        leave();
    }
    free(memory);
    return rc;
}

int vae_mpi_cross_node_allgather(const void *send, int64_t bytes, void *receive) {
    if (topology_node_count <= 1) {
        memcpy(receive, send, (size_t)bytes);
        return MPI_SUCCESS;
    }
    if (bytes > INT_MAX) return MPI_ERR_COUNT;
    enter("MPI_Allgather (across nodes)");
    int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, receive, (int)bytes, MPI_BYTE, cross_comm);
    leave();
    return rc;
}

int vae_mpi_cross_node_iallreduce_float_sum(float *buffer, int count, int slot) {
    if (slot < 0 || slot >= VAE_MPI_REQUEST_SLOTS) return MPI_ERR_ARG;
    if (topology_node_count <= 1) return MPI_SUCCESS;
    return MPI_Iallreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, cross_comm, &requests[slot]);
}

int vae_mpi_cross_node_iallgather(const void *send, int bytes, void *receive, int slot) {
    if (slot < 0 || slot >= VAE_MPI_REQUEST_SLOTS) return MPI_ERR_ARG;
    if (topology_node_count <= 1) {
        memcpy(receive, send, (size_t)bytes);
        return MPI_SUCCESS;
    }
    return MPI_Iallgather(send, bytes, MPI_BYTE, receive, bytes, MPI_BYTE, cross_comm, &requests[slot]);
}

int vae_mpi_test(int slot) {
    if (slot < 0 || slot >= VAE_MPI_REQUEST_SLOTS) return MPI_ERR_ARG;
    if (requests[slot] == MPI_REQUEST_NULL) return MPI_SUCCESS;
    int done = 0;
    return MPI_Test(&requests[slot], &done, MPI_STATUS_IGNORE);
}

int vae_mpi_cross_node_allreduce_float_sum(float *buffer, int64_t count) {
    if (topology_node_count <= 1) return MPI_SUCCESS;
    for (int64_t done = 0; done < count;) {
        int n = (int)(count - done < CHUNK ? count - done : CHUNK);
        enter("MPI_Allreduce (across nodes)");
        int rc = MPI_Allreduce(MPI_IN_PLACE, buffer + done, n, MPI_FLOAT, MPI_SUM, cross_comm);
        leave();
        if (rc != MPI_SUCCESS) return rc;
        done += n;
    }
    return MPI_SUCCESS;
}
