// OpenBLAS's CBLAS interface. pkg-config's `openblas` puts Debian's
// /usr/include/x86_64-linux-gnu/openblas-pthread first on the include path.
#include <cblas.h>
