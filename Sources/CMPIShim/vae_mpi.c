#include "vae_mpi.h"
#include <mpi.h>
#include <limits.h>
#include <string.h>

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
        int rc = MPI_Allreduce(MPI_IN_PLACE, base + done * element_size(type), n, datatype(type), operation(op),
                               MPI_COMM_WORLD);
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
    return MPI_Wait(&requests[slot], MPI_STATUS_IGNORE);
}

int vae_mpi_reduce_scatter_float_sum(const float *source, float *shard, const int *counts) {
    return MPI_Reduce_scatter(source, shard, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

int vae_mpi_allgatherv_float(float *buffer, const int *counts, const int *displacements) {
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts, displacements, MPI_FLOAT, MPI_COMM_WORLD);
}

int vae_mpi_broadcast(void *buffer, int64_t bytes, int root) {
    char *base = buffer;
    for (int64_t done = 0; done < bytes;) {
        int n = (int)(bytes - done < CHUNK ? bytes - done : CHUNK);
        int rc = MPI_Bcast(base + done, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        done += n;
    }
    return MPI_SUCCESS;
}

int vae_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

void vae_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

double vae_mpi_wtime(void) { return MPI_Wtime(); }

int vae_mpi_library_version(char *buffer, int capacity) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    int rc = MPI_Get_library_version(version, &length);
    if (rc != MPI_SUCCESS || capacity <= 0) return rc;
    strncpy(buffer, version, (size_t)capacity - 1);
    buffer[capacity - 1] = 0;
    return MPI_SUCCESS;
}
