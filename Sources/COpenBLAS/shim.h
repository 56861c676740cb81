// OpenBLAS (CBLAS interface plus its thread controls) and LAPACKE, from Debian's
// libopenblas-dev and liblapacke-dev.
#include <cblas.h>
#include <lapacke.h>
