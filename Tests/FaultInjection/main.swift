import Foundation
import VAECommandLine
import VAETestSupport

// `vae-dist-faults`: `vae-dist` for the fault-tolerance tests — the same commands, with the faults that
// VAE_DIST_FAULT describes injected into training (stall, NaN or perturbation; see FaultInjection), and under MPI
// the node split VAE_DIST_RANKS_PER_NODE asks for (one machine standing in for several nodes).
let harness = CommandHarness(
    makeHooks: { FaultInjection.fromEnvironment() },
    ranksPerNode: ProcessInfo.processInfo.environment["VAE_DIST_RANKS_PER_NODE"].flatMap { Int($0) })
CommandHarness.$current.withValue(harness) { VAEDist.main() }
