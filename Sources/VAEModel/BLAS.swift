import CBLAS

/// The BLAS library's thread pool.
public enum BLAS {
    /// Threads OpenBLAS uses for one call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's thread count (1 per rank when ranks ≥ cores; all cores when single-process).
    public static func setThreadCount(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The CPU kernels OpenBLAS chose at run time (`Haswell`, `SkylakeX`, `Cooperlake`, … or the generic `Prescott`).
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
