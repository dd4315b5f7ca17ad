#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One process, no MPI: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {}
    public func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>,
        shards: ShardLayout
    ) {
        shard.baseAddress!.update(from: source.baseAddress!, count: shard.count)
    }
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {}
    public func barrier() {}
    public func nodeTopology() -> NodeTopology { NodeTopology(localRank: 0, localSize: 1, nodeCount: 1, uniform: true) }
    public func abort(code: Int32) -> Never { exit(code) }
}
