// A SIGBUS handler for the data files vae-dist maps. A file that shrinks under a read-only mapping (truncated or
// rewritten smaller by another program) makes any read past its new end a SIGBUS, which would end the run with no
// word of why and lose every step since the last checkpoint. No size check before a read can close that race, so
// the fault itself is handled: when it falls in a registered mapping, the page is replaced by a zero page
// (mmap MAP_FIXED | MAP_ANONYMOUS, async-signal-safe), the slot's fault count goes up, and the read resumes. The
// trainer reads the counts after each step and pass and ends the run, agreed by every rank, naming the file
// (docs/faults.md). A SIGBUS anywhere else goes on to the previous handler, or the default action.
#define _GNU_SOURCE
#include "vae_mapped_files.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 16384

static uintptr_t starts[SLOTS];   // 0: free
static uintptr_t ends[SLOTS];
static long faults[SLOTS];
static int used;                  // slots ever handed out (a high-water mark)
static struct sigaction previous;
static int installed;

static void on_sigbus(int signal, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    int count = __atomic_load_n(&used, __ATOMIC_ACQUIRE);
    for (int slot = 0; slot < count; slot++) {
        uintptr_t start = __atomic_load_n(&starts[slot], __ATOMIC_ACQUIRE);
        if (start != 0 && address >= start && address < ends[slot]) {
            uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
            void *base = (void *)(address & ~(page - 1));
            if (mmap(base, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
            __atomic_add_fetch(&faults[slot], 1, __ATOMIC_RELEASE);
            return;
        }
    }
    // Not ours: as if this handler were not there.
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) { previous.sa_sigaction(signal, info, context); return; }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(signal);
        return;
    }
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &fallback, NULL);  // returning re-runs the access, which now ends the process with SIGBUS
}

static void install(void) {
    if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous);
}

int vae_mapping_register(const void *start, size_t length) {
    install();
    static int lock;
    while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {}
    int slot = -1;
    for (int i = 0; i < used; i++)
        if (starts[i] == 0) { slot = i; break; }
    if (slot < 0 && used < SLOTS) slot = used;
    if (slot >= 0) {
        ends[slot] = (uintptr_t)start + length;
        __atomic_store_n(&faults[slot], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&starts[slot], (uintptr_t)start, __ATOMIC_RELEASE);
        if (slot == used) __atomic_store_n(&used, used + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    return slot;
}

void vae_mapping_unregister(int slot) {
    if (slot >= 0 && slot < SLOTS) __atomic_store_n(&starts[slot], 0, __ATOMIC_RELEASE);
}

long vae_mapping_faults(int slot) {
    if (slot < 0 || slot >= SLOTS) return 0;
    return __atomic_load_n(&faults[slot], __ATOMIC_ACQUIRE);
}
