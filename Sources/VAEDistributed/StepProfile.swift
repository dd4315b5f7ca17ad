#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Nanoseconds on the monotonic clock.
@inlinable
public func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}

/// Where training steps spend their time, in nanoseconds summed over recorded steps (see `vae-dist bench`).
public final class StepProfile {
    public private(set) var steps = 0
    public private(set) var samples = 0
    /// Turning bytes into the batch and drawing ε.
    public private(set) var data: UInt64 = 0
    /// Forward and backward (the GEMMs and the element-wise work between them).
    public private(set) var compute: UInt64 = 0
    /// The gradient all-reduce and the loss-sum reduction (includes waiting for slower ranks).
    public private(set) var allReduce: UInt64 = 0
    /// Adam.
    public private(set) var optimizer: UInt64 = 0

    public init() {}

    public var total: UInt64 { data + compute + allReduce + optimizer }

    func record(data: UInt64, compute: UInt64, allReduce: UInt64, optimizer: UInt64, samples: Int) {
        steps += 1
        self.samples += samples
        self.data += data
        self.compute += compute
        self.allReduce += allReduce
        self.optimizer += optimizer
    }
}
