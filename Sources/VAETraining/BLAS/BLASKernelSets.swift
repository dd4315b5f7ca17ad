import Foundation

/// An OpenBLAS kernel set vae-dist can run, with the CPU features its kernels use. vae-dist chooses one by those
/// features (the `flags` of /proc/cpuinfo), never by the CPU's model number, so it never picks a set that runs an
/// instruction the CPU lacks.
public enum BLASKernelSet: String, CaseIterable, Sendable {
    case prescott, core2, nehalem, sandybridge, haswell, zen, skylakex, cooperlake

    /// OpenBLAS's own name: the value of `OPENBLAS_CORETYPE` and what `openblas_get_corename()` reports.
    public var openBLASName: String {
        switch self {
        case .prescott: "Prescott"
        case .core2: "Core2"
        case .nehalem: "Nehalem"
        case .sandybridge: "Sandybridge"
        case .haswell: "Haswell"
        case .zen: "Zen"
        case .skylakex: "SkylakeX"
        case .cooperlake: "Cooperlake"
        }
    }

    /// The /proc/cpuinfo flags its kernels need (`pni` is SSE3).
    public var requiredFlags: [String] {
        switch self {
        case .prescott: ["sse2", "pni"]
        case .core2: ["sse2", "pni", "ssse3"]
        case .nehalem: ["sse2", "pni", "ssse3", "sse4_1", "sse4_2"]
        case .sandybridge: ["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "avx"]
        case .haswell, .zen: ["sse2", "pni", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma"]
        case .skylakex: BLASKernelSet.haswell.requiredFlags + ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        case .cooperlake: BLASKernelSet.skylakex.requiredFlags + ["avx512_bf16"]
        }
    }

    /// The CPU features that name the set in messages.
    var featureName: String {
        switch self {
        case .prescott, .core2, .nehalem: "SSE"
        case .sandybridge: "AVX"
        case .haswell, .zen: "AVX2"
        case .skylakex: "AVX-512"
        case .cooperlake: "AVX-512 BF16"
        }
    }

    /// The best set for a CPU with these flags, or nil where nothing beats OpenBLAS's generic kernels (or the CPU is
    /// not x86-64): AVX512-BF16 → Cooperlake, AVX-512 F/CD/BW/DQ/VL → SkylakeX, AVX2 + FMA → Haswell (Zen on AMD).
    public static func best(flags: Set<String>, vendor: String) -> BLASKernelSet? {
        for set in [BLASKernelSet.cooperlake, .skylakex] where set.runs(on: flags) { return set }
        guard BLASKernelSet.haswell.runs(on: flags) else { return nil }
        return vendor == "AuthenticAMD" ? .zen : .haswell
    }

    /// Whether a CPU with these flags has every feature the set's kernels use.
    public func runs(on flags: Set<String>) -> Bool { missingFlags(flags).isEmpty }

    func missingFlags(_ flags: Set<String>) -> [String] { requiredFlags.filter { !flags.contains($0) } }

    /// OpenBLAS's generic x86-64 sets, the ones it falls back to on a CPU it does not know (lowercased names).
    static let genericNames: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine", "northwood", "banias",
        "opteron", "opteron(sse3)", "barcelona", "bobcat", "generic", "unknown",
    ]
}

/// `--blas-kernels`: let vae-dist choose where OpenBLAS fell back (auto), keep OpenBLAS's own choice, or pin a set.
public enum BLASKernelRequest: Equatable, Sendable, LosslessStringConvertible {
    case auto, keep
    case named(BLASKernelSet)

    public init?(_ text: String) {
        switch text.lowercased() {
        case "auto": self = .auto
        case "keep": self = .keep
        default:
            guard let set = BLASKernelSet(rawValue: text.lowercased()) else { return nil }
            self = .named(set)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .keep: "keep"
        case .named(let set): set.rawValue
        }
    }

    /// Every value, for `--help`.
    public static var allNames: [String] { ["auto", "keep"] + BLASKernelSet.allCases.map(\.rawValue) }
}
