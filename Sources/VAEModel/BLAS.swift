import CBLAS

/// The BLAS library's thread pool.
public enum BLAS {
    /// Threads OpenBLAS uses for one call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's thread count (1 per rank when ranks ≥ cores; all cores when single-process).
    public static func setThreadCount(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The OpenBLAS build string (version, kernel and thread model).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The CPU kernels OpenBLAS chose at run time (`Haswell`, `SkylakeX`, `Cooperlake`, … or the generic `Prescott`).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// A warning when OpenBLAS fell back to its generic x86-64 kernels on a CPU with AVX2 or AVX-512 (it does on
    /// some virtual CPUs it does not recognize: 22 instead of 96 GFLOP/s measured on the 16-core test machine), or
    /// nil. Setting OPENBLAS_CORETYPE to the CPU's family fixes it; vae-dist never changes it on its own.
    public static var kernelWarning: String? {
        guard ["prescott", "core2", "nehalem", "generic"].contains(coreName.lowercased()),
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        let suggestion: String
        if cpuinfo.contains(" avx512f") { suggestion = "SKYLAKEX" } else if cpuinfo.contains(" avx2") { suggestion = "HASWELL" } else { return nil }
        return "OpenBLAS chose its generic \(coreName) kernels on a CPU with \(suggestion == "SKYLAKEX" ? "AVX-512" : "AVX2"); "
            + "export OPENBLAS_CORETYPE=\(suggestion) for several times faster matmuls"
    }
}

import Foundation
