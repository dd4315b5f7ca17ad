// vae-dist-faults' stand-ins for two OpenBLAS entry points, so the tests can walk vae-dist's kernel choice on any
// CPU. Definitions in the executable take precedence over libopenblas's; each calls the real one (dlsym RTLD_NEXT).
//
// - VAE_DIST_FAULT_OPENBLAS_PICKS=NAME: while OPENBLAS_CORETYPE is unset (OpenBLAS choosing by itself),
//   openblas_get_corename() reports NAME, as OpenBLAS does on a CPU it falls back on.
// - VAE_DIST_FAULT_CORRUPT_CHOSEN_SGEMM=1: while the kernels are the ones vae-dist switched to (its marker says
//   auto: or pinned:), every cblas_sgemm result is off by one in C[0], as kernels that compute wrongly would be.
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "blas_faults.h"

static int set(const char *name) {
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0';
}

char *openblas_get_corename(void) {
    static char *(*real)(void);
    if (set("VAE_DIST_FAULT_OPENBLAS_PICKS") && !set("OPENBLAS_CORETYPE")) return getenv("VAE_DIST_FAULT_OPENBLAS_PICKS");
    if (real == NULL) real = (char *(*)(void))dlsym(RTLD_NEXT, "openblas_get_corename");
    return real();
}

void cblas_sgemm(
    OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE transA,
    OPENBLAS_CONST enum CBLAS_TRANSPOSE transB, OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
    OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda,
    OPENBLAS_CONST float *b, OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *c,
    OPENBLAS_CONST blasint ldc) {
    typedef void (*Sgemm)(
        OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
        OPENBLAS_CONST blasint, OPENBLAS_CONST blasint, OPENBLAS_CONST blasint, OPENBLAS_CONST float,
        OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float *, OPENBLAS_CONST blasint,
        OPENBLAS_CONST float, float *, OPENBLAS_CONST blasint);
    static Sgemm real;
    if (real == NULL) real = (Sgemm)dlsym(RTLD_NEXT, "cblas_sgemm");
    real(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    const char *marker = getenv("VAE_DIST_BLAS_SWITCH");
    if (set("VAE_DIST_FAULT_CORRUPT_CHOSEN_SGEMM") && marker != NULL
        && (strncmp(marker, "auto:", 5) == 0 || strncmp(marker, "pinned:", 7) == 0) && m > 0 && n > 0)
        c[0] += 1.0f;
}
