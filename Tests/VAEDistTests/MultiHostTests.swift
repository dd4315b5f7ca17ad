import Foundation
import Testing

/// Two hosts on one machine (Launch/multihost-check.sh): network namespaces joined by a veth pair, OpenMPI over TCP
/// with a launcher agent, 2 hosts × 2 ranks of vae-dist: two nodes and node-shared, losses equal one host's, `exact`
/// bit for bit with one process, a resume across hosts, bf16 across hosts with identical replicas, and a cut link that ends the job within 2 × the collective
/// timeout leaving no process behind. Needs root and network namespaces; skipped, saying so, where there are none.
@Suite(.serialized) struct MultiHostTests {
    /// Whether this machine lets us make a network namespace (root, iproute2, the capability).
    static let canCreateNamespaces: Bool = {
        guard getuid() == 0 else { return false }
        let name = "vdmh-probe-\(getpid())"
        func ip(_ arguments: [String]) -> Int32 { (try? TestProcess.run("/usr/bin/env", ["ip"] + arguments))?.0 ?? -1 }
        guard ip(["netns", "add", name]) == 0 else { return false }
        _ = ip(["netns", "del", name])
        return true
    }()

    @Test(
        .enabled(if: canCreateNamespaces, "needs root and network namespaces (ip netns add); skipped on this machine"),
        .timeLimit(.minutes(5)))
    func twoHostsTrainAsOneResumeExactlyAndEndCleanlyWhenTheLinkIsCut() throws {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        let (status, output, _) = try TestProcess.run(
            "Launch/multihost-check.sh", [CLITests.binary], environment: environment, combined: true)
        let summary = output.split(separator: "\n").filter { $0.first?.isNumber == true || $0.hasPrefix("multihost") }
        #expect(status == 0 && output.contains("multihost ok"), "\(output.suffix(6000))")
        print(summary.joined(separator: "\n"))
    }
}
