/// Plain reference twins of the fast kernels in `Kernels`: direct loops over the defining
/// formula, in Double, with no SIMD, no BLAS and no tables. Tests compare each fast kernel with
/// its twin on seeded random inputs. Results are Double so the comparison sees the fast
/// kernel's own rounding error, not the reference's.
public enum Reference {}
