import Foundation
import Testing
import VAEModel
@testable import VAETraining

/// vae-dist's choice of OpenBLAS kernels: the decision for every case, the start-up check, and end to end the
/// re-execution, a kept OPENBLAS_CORETYPE and the way back after a failed check — on any CPU, through
/// vae-dist-faults' stand-ins for openblas_get_corename and cblas_sgemm (Tests/BLASFaults).
@Suite struct BLASKernelTests {
    static let emeraldRapids: Set<String> = Set(BLASKernelSet.cooperlake.requiredFlags + ["amx_tile", "avx512_fp16"])
    static let skylake: Set<String> = Set(BLASKernelSet.skylakex.requiredFlags)
    static let avx2: Set<String> = Set(BLASKernelSet.haswell.requiredFlags)
    static let sse: Set<String> = Set(BLASKernelSet.nehalem.requiredFlags)

    static func decide(
        _ request: BLASKernelRequest = .auto, environment: [String: String] = [:], reported: String,
        flags: Set<String>, vendor: String = "GenuineIntel"
    ) throws -> BLASKernels.Start {
        try BLASKernels.decide(request, environment: environment, reportedCore: reported, cpuFlags: flags, vendor: vendor)
    }

    @Test func autoReplacesAGenericFallbackWithTheBestSetTheFlagsAllow() throws {
        #expect(
            try Self.decide(reported: "Prescott", flags: Self.emeraldRapids)
                == .switchTo(.cooperlake, marker: "auto:cooperlake:Prescott"))
        #expect(
            try Self.decide(reported: "Nehalem", flags: Self.skylake) == .switchTo(.skylakex, marker: "auto:skylakex:Nehalem"))
        #expect(try Self.decide(reported: "Prescott", flags: Self.avx2) == .switchTo(.haswell, marker: "auto:haswell:Prescott"))
        #expect(
            try Self.decide(reported: "Prescott", flags: Self.avx2, vendor: "AuthenticAMD")
                == .switchTo(.zen, marker: "auto:zen:Prescott"))
        // Nothing better to run, a set OpenBLAS chose itself, a CPU that is not x86-64: left alone, no warning.
        #expect(try Self.decide(reported: "Prescott", flags: Self.sse) == .run(.init(kernels: "Prescott", source: .openBLAS)))
        #expect(
            try Self.decide(reported: "Haswell", flags: Self.emeraldRapids) == .run(.init(kernels: "Haswell", source: .openBLAS)))
        #expect(try Self.decide(reported: "armv8", flags: []) == .run(.init(kernels: "armv8", source: .openBLAS)))
    }

    @Test func aUsersCoreTypeIsKeptAndAPinnedGenericOneWarns() throws {
        let kept = try Self.decide(environment: ["OPENBLAS_CORETYPE": "HASWELL"], reported: "Haswell", flags: Self.emeraldRapids)
        #expect(kept == .run(.init(kernels: "Haswell", source: .environment)))
        guard
            case .run(let pinned) = try Self.decide(
                environment: ["OPENBLAS_CORETYPE": "prescott"], reported: "Prescott", flags: Self.emeraldRapids)
        else { Issue.record("a user's OPENBLAS_CORETYPE was replaced"); return }
        #expect(pinned.source == .environment && pinned.warning?.contains("Cooperlake") == true, "\(pinned)")
        guard case .run(let keep) = try Self.decide(.keep, reported: "Prescott", flags: Self.avx2) else {
            Issue.record("keep switched"); return
        }
        #expect(keep.source == .openBLAS && keep.warning?.contains("Haswell") == true, "\(keep)")
        // A --blas-kernels set that contradicts the user's variable, or that the CPU cannot run: refused, with a way out.
        #expect(throws: BLASKernels.Refusal.self) {
            try Self.decide(.named(.zen), environment: ["OPENBLAS_CORETYPE": "HASWELL"], reported: "Haswell", flags: Self.avx2)
        }
        do {
            _ = try Self.decide(.named(.skylakex), reported: "Prescott", flags: Self.avx2)
            Issue.record("a set the CPU lacks the instructions for was chosen")
        } catch let refusal as BLASKernels.Refusal {
            #expect(refusal.description.contains("avx512f") && refusal.description.contains("haswell"), "\(refusal)")
        }
        #expect(
            try Self.decide(.named(.haswell), reported: "Prescott", flags: Self.avx2)
                == .switchTo(.haswell, marker: "pinned:haswell:Prescott"))
        #expect(
            try Self.decide(.named(.haswell), reported: "Haswell", flags: Self.avx2)
                == .run(.init(kernels: "Haswell", source: .pinned)))
    }

    @Test func theMarkerEndsTheSwitchAndOnlyCountsWithItsOwnCoreType() throws {
        let after = ["OPENBLAS_CORETYPE": "Cooperlake", BLASKernels.markerVariable: "auto:cooperlake:Prescott"]
        #expect(
            try Self.decide(environment: after, reported: "Cooperlake", flags: Self.emeraldRapids)
                == .check(.cooperlake, .init(kernels: "Cooperlake", source: .vaeDist, openBLASChoice: "Prescott")))
        // A stale marker beside a core type the user set is not vae-dist's: the user's variable is kept.
        let stale = ["OPENBLAS_CORETYPE": "HASWELL", BLASKernels.markerVariable: "auto:cooperlake:Prescott"]
        #expect(
            try Self.decide(environment: stale, reported: "Haswell", flags: Self.emeraldRapids)
                == .run(.init(kernels: "Haswell", source: .environment)))
        // After a failed check: OpenBLAS's own choice, with the reason, and no second switch.
        let failed = [BLASKernels.markerVariable: "failed:cooperlake:Prescott:sgemm 1×1×1: C[0, 0] = 2 against 1"]
        guard case .run(let back) = try Self.decide(environment: failed, reported: "Prescott", flags: Self.emeraldRapids)
        else { Issue.record("switched again after a failed check"); return }
        #expect(back.failedCheck?.kernels == "Cooperlake" && back.failedCheck?.reason == "sgemm 1×1×1: C[0, 0] = 2 against 1")
        #expect(back.warning?.contains("failed vae-dist's start-up check") == true, "\(back)")
    }

    @Test func requestsParseByName() {
        #expect(BLASKernelRequest("AUTO") == .auto && BLASKernelRequest("keep") == .keep)
        #expect(BLASKernelRequest("Cooperlake") == .named(.cooperlake) && BLASKernelRequest("sapphirerapids") == nil)
    }

    @Test func theStartUpCheckPassesCorrectKernelsAndCatchesWrongEntries() throws {
        #expect(GEMMCheck.run() == nil)
        let shape = GEMMCeiling.Shape(transposeA: false, transposeB: true, m: 40, n: 30, k: 50)
        let a = FlatBuffer(count: 40 * 50), b = FlatBuffer(count: 30 * 50), c0 = FlatBuffer(count: 40 * 30),
            c = FlatBuffer(count: 40 * 30)
        for i in 0..<(40 * 50) { a.pointer[i] = Float(i % 7) * 0.1 - 0.3 }
        for i in 0..<(30 * 50) { b.pointer[i] = Float(i % 5) * 0.2 - 0.4 }
        var stream = RandomStream(seed: 3, purpose: .prior)
        func check(corrupt: (UnsafeMutablePointer<Float>) -> Void) -> String? {
            gemm(
                transposeA: false, transposeB: true, m: 40, n: 30, k: 50, a: a.pointer, lda: 50, b: b.pointer, ldb: 50, beta: 0,
                c: c.pointer, ldc: 30)
            corrupt(c.pointer)
            return GEMMCheck.verify(shape, beta: 0, a: a.pointer, b: b.pointer, c0: c0.pointer, c: c.pointer, seed: &stream)
        }
        #expect(check { _ in } == nil)
        // An interior entry (off the rows and columns checked one by one), a NaN, a zeroed tile: each caught.
        #expect(check { $0[7 * 30 + 9] += 0.05 } != nil)
        #expect(check { $0[11 * 30 + 3] = .nan } != nil)
        #expect(check { c in for i in 8..<16 { for j in 4..<12 { c[i * 30 + j] = 0 } } } != nil)
    }

    // End to end, through vae-dist-faults.

    static let cpu = BLASKernels.cpuFeatures()

    /// vae-dist-faults with OpenBLAS choosing by itself (OPENBLAS_CORETYPE unset) and `variables` added.
    static func run(
        _ arguments: [String], _ variables: [String: String]
    ) throws -> (status: Int32, out: String, err: String, pid: Int32) {
        var environment = ProcessInfo.processInfo.environment.filter {
            $0.key != "OPENBLAS_CORETYPE" && $0.key != BLASKernels.markerVariable
        }
        environment.merge(variables) { $1 }
        var pid: Int32 = 0
        let (status, out, err) = try TestProcess.run(
            MPITests.binary("vae-dist-faults"), arguments, environment: environment, started: { pid = $0 })
        return (status, out, err, pid)
    }

    static func runRecord(_ folder: String) throws -> [String: Any] {
        let object =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/run.json"))) as? [String: Any]
        return ((object?["starts"] as? [[String: Any]])?.last) ?? [:]
    }

    static let train = ["train", "--data", "synthetic", "--max-steps", "2", "--batch-size", "32", "--threads", "1"]

    /// Skipped (and reported so) on a CPU with nothing better than OpenBLAS's generic kernels: nothing to choose.
    @Test(.enabled(if: BLASKernelSet.best(flags: cpu.flags, vendor: cpu.vendor) != nil, "the CPU has no set better than generic"))
    func autoReexecutesOnceWithTheChosenKernelsKeepingThePID() throws {
        let best = try #require(BLASKernelSet.best(flags: Self.cpu.flags, vendor: Self.cpu.vendor))
        let folder = Fixtures.temporaryFolder("kernels-auto")
        let run = try Self.run(Self.train + ["--run-dir", folder], ["VAE_DIST_FAULT_OPENBLAS_PICKS": "Prescott"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("(\(best.openBLASName) kernels, chosen by vae-dist over OpenBLAS's Prescott)"), "\(run.out)")
        #expect(!run.err.contains("kernels"), "\(run.err)")
        let record = try Self.runRecord(folder)
        #expect(record["pid"] as? Int == Int(run.pid), "re-executed in place: \(record["pid"] ?? "none") vs \(run.pid)")
        let kernels = record["blas_kernels"] as? [String: Any]
        #expect(kernels?["kernels"] as? String == best.openBLASName && kernels?["chosen_by"] as? String == "vae-dist")
        #expect(kernels?["openblas_choice"] as? String == "Prescott")
    }

    @Test func aUsersCoreTypeIsKeptEndToEnd() throws {
        let kept: BLASKernelSet = BLASKernelSet.haswell.runs(on: Self.cpu.flags) ? .haswell : .prescott
        let run = try Self.run(
            Self.train + ["--run-dir", Fixtures.temporaryFolder("kernels-kept")],
            ["VAE_DIST_FAULT_OPENBLAS_PICKS": "Prescott", "OPENBLAS_CORETYPE": kept.rawValue.uppercased()])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("(\(kept.openBLASName) kernels, from OPENBLAS_CORETYPE)"), "\(run.out)")
    }

    @Test func kernelsThatFailTheCheckGiveWayToOpenBLASsOwn() throws {
        // Pinned Prescott (every x86-64 CPU runs it) over a reported Core2, with every product of the switched
        // kernels off by one in its first entry.
        let folder = Fixtures.temporaryFolder("kernels-failed")
        let run = try Self.run(
            Self.train + ["--run-dir", folder, "--blas-kernels", "prescott"],
            ["VAE_DIST_FAULT_OPENBLAS_PICKS": "Core2", "VAE_DIST_FAULT_CORRUPT_CHOSEN_SGEMM": "1"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.err.contains("OpenBLAS's Prescott kernels failed vae-dist's start-up check (sgemm "), "\(run.err)")
        #expect(run.out.contains("(Core2 kernels, OpenBLAS's own: Prescott failed vae-dist's check)"), "\(run.out)")
        let record = try Self.runRecord(folder)
        #expect(record["pid"] as? Int == Int(run.pid))
        let failed = (record["blas_kernels"] as? [String: Any])?["failed_check"] as? [String: Any]
        #expect(failed?["kernels"] as? String == "Prescott")
        // The same pin with correct kernels: switched, checked, kept.
        let good = try Self.run(
            Self.train + ["--run-dir", Fixtures.temporaryFolder("kernels-pinned"), "--blas-kernels", "prescott"],
            ["VAE_DIST_FAULT_OPENBLAS_PICKS": "Core2"])
        #expect(good.status == 0 && good.out.contains("(Prescott kernels, from --blas-kernels)"), "\(good.out)\(good.err)")
    }

    @Test func everyRankUnderMpirunSwitchesBeforeMPIStarts() throws {
        let folder = Fixtures.temporaryFolder("kernels-mpirun")
        let (status, output, _) = try MPITests.mpirun(
            ["-n", "2", "--", MPITests.binary("vae-dist-faults")] + Self.train.filter { $0 != "--threads" && $0 != "1" }
                + ["--run-dir", folder, "--blas-kernels", "prescott"],
            environment: ["OPENBLAS_CORETYPE": "", "VAE_DIST_FAULT_OPENBLAS_PICKS": "Core2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("2 rank(s)") && output.contains("(Prescott kernels, from --blas-kernels)"), "\(output)")
    }
}
