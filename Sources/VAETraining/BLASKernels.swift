import Foundation
import VAEModel

/// What vae-dist says about the BLAS kernels it runs on (reads /proc/cpuinfo, so it lives here, not in the math).
public enum BLASKernels {
    /// A warning when OpenBLAS fell back to its generic x86-64 kernels on a CPU with AVX2 or AVX-512 (it does on
    /// some virtual CPUs it does not recognize: 22 instead of 96 GFLOP/s measured on the 16-core test machine), or
    /// nil. Setting OPENBLAS_CORETYPE to the CPU's family fixes it; vae-dist never changes it on its own.
    public static var warning: String? {
        let coreName = BLAS.coreName
        guard ["prescott", "core2", "nehalem", "generic"].contains(coreName.lowercased()),
            let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        else { return nil }
        let suggestion: String
        if cpuinfo.contains(" avx512f") {
            suggestion = "SKYLAKEX"
        } else if cpuinfo.contains(" avx2") {
            suggestion = "HASWELL"
        } else {
            return nil
        }
        return "OpenBLAS chose its generic \(coreName) kernels on a CPU with \(suggestion == "SKYLAKEX" ? "AVX-512" : "AVX2"); "
            + "export OPENBLAS_CORETYPE=\(suggestion) for several times faster matmuls"
    }
}
