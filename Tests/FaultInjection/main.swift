import VAECommandLine
import VAETestSupport

// `vae-dist-faults`: `vae-dist` for the fault-tolerance tests — the same commands, with the faults that
// VAE_DIST_FAULT describes injected into training (stall, NaN or perturbation; see FaultInjection).
Train.makeHooks = { FaultInjection.fromEnvironment() }
VAEDist.main()
