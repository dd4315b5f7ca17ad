/// The collective operations the trainer needs, and nothing else. The trainer talks only to this
/// protocol: ``SingleProcessCommunicator`` (no MPI at all) and, when launched by mpirun, the MPI one.
public protocol Communicator: AnyObject {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// In-place sum of `buffer` over all ranks; every rank gets the same bits.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// In-place sum of `values` over all ranks (metrics: loss sums and counts).
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>)
    /// Copies `bytes` from rank `root` to every rank.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int)
}

extension Communicator {
    /// Whether this rank logs, writes metrics and checkpoints.
    public var isLeader: Bool { rank == 0 }
}

/// One process, no MPI: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {}
}
