// Test-only stand-ins for two OpenBLAS entry points, linked into vae-dist-faults (see blas_faults.c).
#pragma once
