// OpenMPI's C API; only Sources/CMPIShim includes it. pkg-config's `ompi-c` supplies the paths.
#include <mpi.h>
