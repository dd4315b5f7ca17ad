import Foundation
import VAEModel

/// Which OpenBLAS kernels run, and who chose them: the start line, `bench` and `run.json` say it.
public struct BLASKernelChoice: Equatable, Sendable, CustomStringConvertible {
    /// Who chose the kernels that run.
    public enum Source: String, Sendable {
        /// OpenBLAS, by the CPU it saw (the usual case).
        case openBLAS = "openblas"
        /// The user's `OPENBLAS_CORETYPE`, kept as it is.
        case environment = "OPENBLAS_CORETYPE"
        /// vae-dist, where OpenBLAS fell back to generic kernels (`--blas-kernels auto`, the default).
        case vaeDist = "vae-dist"
        /// The user's `--blas-kernels NAME`.
        case pinned = "--blas-kernels"
    }

    /// The kernels that run (OpenBLAS's name).
    public var kernels: String
    public var source: Source
    /// OpenBLAS's own choice, where vae-dist replaced it (or tried to).
    public var openBLASChoice: String?
    /// A set that failed the start-up check, and how; OpenBLAS's own choice runs instead.
    public var failedCheck: (kernels: String, reason: String)?
    /// The one line to warn with: kernels several times slower than the CPU allows that vae-dist cannot replace
    /// (a pinned generic choice), or a set that failed the start-up check.
    public var warning: String?

    public var description: String {
        if let failedCheck { return "\(kernels) kernels, OpenBLAS's own: \(failedCheck.kernels) failed vae-dist's check" }
        switch source {
        case .openBLAS: return "\(kernels) kernels"
        case .environment: return "\(kernels) kernels, from OPENBLAS_CORETYPE"
        case .vaeDist: return "\(kernels) kernels, chosen by vae-dist over OpenBLAS's \(openBLASChoice ?? "?")"
        case .pinned: return "\(kernels) kernels, from --blas-kernels"
        }
    }

    /// The record in `run.json` and `bench --json`.
    public var record: [String: Any] {
        var record: [String: Any] = ["kernels": kernels, "chosen_by": source.rawValue]
        if let openBLASChoice { record["openblas_choice"] = openBLASChoice }
        if let failedCheck { record["failed_check"] = ["kernels": failedCheck.kernels, "reason": failedCheck.reason] }
        return record
    }

    public static func == (a: BLASKernelChoice, b: BLASKernelChoice) -> Bool {
        a.kernels == b.kernels && a.source == b.source && a.openBLASChoice == b.openBLASChoice
            && a.failedCheck?.kernels == b.failedCheck?.kernels && a.failedCheck?.reason == b.failedCheck?.reason
            && a.warning == b.warning
    }
}

/// Choosing OpenBLAS's kernels when it fell back to generic ones.
///
/// OpenBLAS picks its kernels by the CPU's model number once, when the library loads, and falls back to its
/// generic Prescott kernels on models it does not know (Emerald Rapids: a quarter of the speed its Cooperlake
/// kernels reach). It reads `OPENBLAS_CORETYPE` only then, so vae-dist sets it and re-executes itself once, before
/// MPI or any thread starts: the same binary (`/proc/self/exe`), arguments, environment, standard streams and PID.
/// A marker variable (``markerVariable``) says the switch was made, so nothing loops. The re-executed process
/// checks the chosen kernels on the model's GEMM shapes (``GEMMCheck``) and, if they compute wrongly, executes
/// once more with OpenBLAS's own choice and a warning saying why. A user's own `OPENBLAS_CORETYPE` is never
/// touched.
public enum BLASKernels {
    /// Set by vae-dist on its re-execution: `auto|pinned:SET:OPENBLAS-OWN` after a switch, or
    /// `failed:SET:OPENBLAS-OWN:REASON` after a failed check.
    public static let markerVariable = "VAE_DIST_BLAS_SWITCH"

    /// What a process does about its kernels at start.
    public enum Start: Equatable {
        /// Run as it is, with these kernels.
        case run(BLASKernelChoice)
        /// Re-executed after a switch to `set`: check the kernels, then run with this choice.
        case check(BLASKernelSet, BLASKernelChoice)
        /// Set `OPENBLAS_CORETYPE` to the set's name and `markerVariable` to `marker`, then re-execute.
        case switchTo(BLASKernelSet, marker: String)
    }

    /// A `--blas-kernels` the process cannot honour.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// The decision, from what the process sees: the request, its environment, the kernels OpenBLAS reports and
    /// the CPU's flags and vendor.
    public static func decide(
        _ request: BLASKernelRequest, environment: [String: String], reportedCore: String, cpuFlags: Set<String>,
        vendor: String
    ) throws -> Start {
        let userCoreType = environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 }
        let best = BLASKernelSet.best(flags: cpuFlags, vendor: vendor)
        let generic = BLASKernelSet.genericNames.contains(reportedCore.lowercased())
        // Generic kernels on a CPU that has a better set: what a pinned choice costs.
        let slowerThanPossible = generic && best != nil
        func pinnedGenericWarning(_ how: String) -> String? {
            guard slowerThanPossible, let best else { return nil }
            return "OpenBLAS runs its generic \(reportedCore) kernels (\(how)) on a CPU with \(best.featureName); "
                + "without that, vae-dist chooses its \(best.openBLASName) kernels: several times faster matmuls"
        }
        if let markerText = environment[markerVariable], let marker = Marker(markerText) {
            switch marker {
            case .switched(let set, let pinned, let own) where userCoreType?.lowercased() == set.rawValue:
                return .check(
                    set,
                    BLASKernelChoice(
                        kernels: reportedCore, source: pinned ? .pinned : .vaeDist, openBLASChoice: own,
                        warning: pinned ? pinnedGenericWarning("--blas-kernels \(set.rawValue)") : nil))
            case .failed(let set, let own, let reason) where userCoreType == nil:
                return .run(
                    BLASKernelChoice(
                        kernels: reportedCore, source: .openBLAS, openBLASChoice: own,
                        failedCheck: (set.openBLASName, reason),
                        warning: "OpenBLAS's \(set.openBLASName) kernels failed vae-dist's start-up check (\(reason)); "
                            + "running OpenBLAS's own \(reportedCore) kernels instead"))
            default: break  // a marker that does not match the environment is not ours: ignored
            }
        }
        if let userCoreType {
            if case .named(let set) = request, set.rawValue != userCoreType.lowercased() {
                throw Refusal(
                    description:
                        "OPENBLAS_CORETYPE=\(userCoreType) is set and --blas-kernels \(set.rawValue) asks for other kernels: "
                        + "unset OPENBLAS_CORETYPE or drop --blas-kernels")
            }
            return .run(
                BLASKernelChoice(
                    kernels: reportedCore, source: .environment,
                    warning: pinnedGenericWarning("OPENBLAS_CORETYPE=\(userCoreType)")))
        }
        switch request {
        case .keep:
            return .run(
                BLASKernelChoice(
                    kernels: reportedCore, source: .openBLAS, warning: pinnedGenericWarning("OpenBLAS's own choice, kept")))
        case .named(let set):
            if set.openBLASName.lowercased() == reportedCore.lowercased() {
                return .run(
                    BLASKernelChoice(
                        kernels: reportedCore, source: .pinned, warning: pinnedGenericWarning("--blas-kernels \(set.rawValue)")))
            }
            let missing = set.missingFlags(cpuFlags)
            guard missing.isEmpty else {
                let runnable = BLASKernelSet.allCases.filter { $0.runs(on: cpuFlags) }.map(\.rawValue)
                throw Refusal(
                    description:
                        "--blas-kernels \(set.rawValue) needs CPU features this CPU lacks (\(missing.joined(separator: ", "))): "
                        + (runnable.isEmpty
                            ? "give --blas-kernels auto"
                            : "give auto or one of \(runnable.joined(separator: ", "))"))
            }
            return .switchTo(set, marker: Marker.switched(set, pinned: true, own: reportedCore).text)
        case .auto:
            if slowerThanPossible, let best {
                return .switchTo(best, marker: Marker.switched(best, pinned: false, own: reportedCore).text)
            }
            return .run(BLASKernelChoice(kernels: reportedCore, source: .openBLAS))
        }
    }

    /// The marker's two forms.
    enum Marker {
        case switched(BLASKernelSet, pinned: Bool, own: String)
        case failed(BLASKernelSet, own: String, reason: String)

        init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3, let set = BLASKernelSet(rawValue: parts[1]) else { return nil }
            switch (parts[0], parts.count) {
            case ("auto", 3), ("pinned", 3): self = .switched(set, pinned: parts[0] == "pinned", own: parts[2])
            case ("failed", 4): self = .failed(set, own: parts[2], reason: parts[3])
            default: return nil
            }
        }

        var text: String {
            switch self {
            case .switched(let set, let pinned, let own): "\(pinned ? "pinned" : "auto"):\(set.rawValue):\(own)"
            case .failed(let set, let own, let reason): "failed:\(set.rawValue):\(own):\(reason)"
            }
        }
    }

    /// The CPU's flags and vendor from /proc/cpuinfo (empty where there is none).
    public static func cpuFeatures() -> (flags: Set<String>, vendor: String) {
        // procfs files report size 0: read as a stream.
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return ([], "") }
        var flags: Set<String> = [], vendor = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            if key == "flags" && flags.isEmpty { flags = Set(parts[1].split(separator: " ").map(String.init)) }
            if key == "vendor_id" && vendor.isEmpty { vendor = parts[1].trimmingCharacters(in: .whitespaces) }
            if !flags.isEmpty && !vendor.isEmpty { break }
        }
        return (flags, vendor)
    }

    /// The decision for this process.
    static func decideHere(_ request: BLASKernelRequest) throws -> Start {
        let (flags, vendor) = cpuFeatures()
        return try decide(
            request, environment: ProcessInfo.processInfo.environment, reportedCore: BLAS.coreName, cpuFlags: flags,
            vendor: vendor)
    }

    /// The kernels this process runs and who chose them (after ``start(_:)``).
    public static var current: BLASKernelChoice {
        switch (try? decideHere(.keep)) ?? .run(BLASKernelChoice(kernels: BLAS.coreName, source: .openBLAS)) {
        case .run(let choice), .check(_, let choice): return choice
        case .switchTo: return BLASKernelChoice(kernels: BLAS.coreName, source: .openBLAS)  // not reached with .keep
        }
    }

    /// Chooses the kernels before anything else runs: may re-execute this process (and then does not return).
    /// Throws ``Refusal`` for a `--blas-kernels` this CPU or environment cannot honour.
    public static func start(_ request: BLASKernelRequest) throws {
        switch try decideHere(request) {
        case .run:
            return
        case .switchTo(let set, let marker):
            reexecute(setting: [("OPENBLAS_CORETYPE", set.openBLASName), (markerVariable, marker)])
        case .check(let set, let choice):
            guard let failure = GEMMCheck.run() else { return }
            let reason = failure.replacingOccurrences(of: "\n", with: " ")
            let marker = Marker.failed(set, own: choice.openBLASChoice ?? "?", reason: reason).text
            reexecute(setting: [("OPENBLAS_CORETYPE", nil), (markerVariable, marker)])
        }
    }

    /// Sets (or with nil, removes) environment variables and executes this binary again with the same arguments.
    /// Returns only if the execution failed, having put the environment back and warned.
    private static func reexecute(setting variables: [(String, String?)]) -> Void {
        let previous = variables.map { ($0.0, getenv($0.0).map { String(cString: $0) }) }
        func apply(_ values: [(String, String?)]) {
            for (name, value) in values {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        apply(variables)
        fflush(nil)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        apply(previous)
        FileHandle.standardError.write(
            Data(
                "warning: could not re-execute with other OpenBLAS kernels (\(reason)); running OpenBLAS's own \(BLAS.coreName)\n"
                    .utf8))
    }
}
