// Counts heap allocations per thread, for `vae-dist bench` and the zero-allocation test.
//
// Linking this target into an executable replaces malloc, calloc, realloc, posix_memalign, aligned_alloc
// and memalign with versions that add one to a thread-local counter and forward to glibc's own allocator
// (__libc_malloc and friends), as glibc allows. free and malloc_usable_size stay glibc's.
#ifndef VAE_ALLOCATION_COUNTER_H
#define VAE_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Heap allocations made by the calling thread since it started.
uint64_t vae_thread_allocation_count(void);
/// 1 when this build's allocation functions are the counting ones (glibc), else 0.
int vae_allocation_counting_active(void);

#endif
