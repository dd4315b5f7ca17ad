/// Where training steps spend their time, in nanoseconds summed over recorded steps (see `vae-dist bench`).
public final class StepProfile {
    public private(set) var steps = 0
    public private(set) var samples = 0
    /// Turning bytes into the batch and drawing ε.
    public private(set) var data: UInt64 = 0
    /// `cblas_sgemm` in forward and backward.
    public private(set) var gemm: UInt64 = 0
    /// Everything else in forward and backward (bias, activations, reparameterization, losses and their gradients).
    public private(set) var elementwise: UInt64 = 0
    /// The gradient all-reduce and the loss-sum reduction (includes waiting for slower ranks).
    public private(set) var allReduce: UInt64 = 0
    /// Adam.
    public private(set) var optimizer: UInt64 = 0

    public init() {}

    public var total: UInt64 { data + gemm + elementwise + allReduce + optimizer }

    func record(data: UInt64, gemm: UInt64, elementwise: UInt64, allReduce: UInt64, optimizer: UInt64, samples: Int) {
        steps += 1
        self.samples += samples
        self.data += data
        self.gemm += gemm
        self.elementwise += elementwise
        self.allReduce += allReduce
        self.optimizer += optimizer
    }

    /// (name, nanoseconds) per phase.
    public var phases: [(String, UInt64)] {
        [("gemm", gemm), ("elementwise", elementwise), ("optimizer", optimizer), ("all-reduce", allReduce), ("data", data)]
    }
}
