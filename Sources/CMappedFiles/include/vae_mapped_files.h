// Memory-mapped data files that may shrink under the mapping (see mapped_files.c).
#pragma once
#include <stddef.h>

// Registers [start, start + length) as a mapping of a data file; returns its slot, or -1 when the table is full
// (the mapping then works as before: a fault in it ends the process with SIGBUS). Installs the SIGBUS handler once.
int vae_mapping_register(const void *start, size_t length);
// Forgets a slot (before the mapping is unmapped).
void vae_mapping_unregister(int slot);
// Faults the handler answered in the slot's range so far (each replaced one page with zeros).
long vae_mapping_faults(int slot);
