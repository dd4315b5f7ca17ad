import CMPIShim
import Foundation
import VAEDistributed

/// An MPI error: MPI could not start or a call failed.
public struct MPIError: Error, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public var description: String {
        "MPI \(operation) failed with error code \(code); check the mpirun command and the OpenMPI installation."
    }
}

/// ``Communicator`` over MPI_COMM_WORLD through the C shim (CMPIShim), the only code that calls MPI.
/// MPI is initialized once per process, by ``start()``, and finalized by ``finish()``.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Whether this process was started by mpirun (OpenMPI sets OMPI_COMM_WORLD_SIZE in each rank's
    /// environment; PMI_SIZE and PMIX_RANK cover other launchers). Without it vae-dist never touches MPI.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMI_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Consecutive groups of this many ranks stand for one node each (tests on one machine); nil: the real nodes.
    private let ranksPerNode: Int?

    private init(rank: Int, size: Int, ranksPerNode: Int?) {
        self.rank = rank
        self.size = size
        self.ranksPerNode = ranksPerNode
    }

    /// Initializes MPI (once per process) and returns the world communicator. `ranksPerNode`: split the ranks into
    /// consecutive groups of that many, each standing for a node, so one machine can stand in for several (tests).
    public static func start(ranksPerNode: Int? = nil) throws -> MPICommunicator {
        if vae_mpi_initialized() == 0 {
            let code = vae_mpi_init()
            guard code == 0 else { throw MPIError(operation: "MPI_Init_thread", code: code) }
        }
        let rank = Int(vae_mpi_rank()), size = Int(vae_mpi_size())
        guard rank >= 0, size > 0 else { throw MPIError(operation: "MPI_Comm_rank/size", code: -1) }
        return MPICommunicator(rank: rank, size: size, ranksPerNode: ranksPerNode)
    }

    /// MPI_Finalize: call once, after the last collective, on every rank.
    public func finish() {
        if vae_mpi_initialized() != 0 && vae_mpi_finalized() == 0 { _ = vae_mpi_finalize() }
    }

    @inline(__always) private func check(_ code: Int32, _ operation: String) {
        // MPI_ERRORS_ARE_FATAL aborts before a failing call returns; a code here means a shim bug.
        if code != 0 { fatalError("MPI \(operation) returned error \(code)") }
    }

    private func op(_ operation: ReductionOperation) -> vae_mpi_op {
        switch operation {
        case .sum: return VAE_MPI_SUM
        case .min: return VAE_MPI_MIN
        case .max: return VAE_MPI_MAX
        }
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        check(vae_mpi_allreduce(base, Int64(buffer.count), VAE_MPI_FLOAT, op(operation)), "MPI_Allreduce(float)")
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        check(vae_mpi_allreduce(base, Int64(buffer.count), VAE_MPI_DOUBLE, op(operation)), "MPI_Allreduce(double)")
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        check(vae_mpi_allreduce(base, Int64(buffer.count), VAE_MPI_INT64, op(operation)), "MPI_Allreduce(int64)")
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        check(vae_mpi_broadcast(base, Int64(bytes.count), Int32(root)), "MPI_Bcast")
    }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        check(vae_mpi_iallreduce_float_sum(base, Int32(buffer.count), Int32(slot)), "MPI_Iallreduce")
    }

    public func wait(slot: Int) { check(vae_mpi_wait(Int32(slot)), "MPI_Wait") }

    public func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>,
        shards: ShardLayout
    ) {
        check(
            vae_mpi_reduce_scatter_float_sum(source.baseAddress!, shard.baseAddress!, shards.counts.baseAddress!),
            "MPI_Reduce_scatter")
    }

    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {
        check(
            vae_mpi_allgatherv_float(buffer.baseAddress!, shards.counts.baseAddress!, shards.offsets.baseAddress!),
            "MPI_Allgatherv")
    }

    public func barrier() { check(vae_mpi_barrier(), "MPI_Barrier") }

    /// The node split: MPI_COMM_TYPE_SHARED, or with `ranksPerNode` k given at start (tests), consecutive groups of
    /// k ranks, so one machine can stand in for several nodes.
    public func nodeTopology() -> NodeTopology {
        let (localRank, localSize, nodeCount, uniform) = nodeSplit()
        // OpenMPI backs shared windows with files in osc_sm_backing_directory (/dev/shm on Linux), a tmpfs whose
        // size limit (64 MB in a default Docker container) is reached only when pages are touched: check it first.
        let directory = ProcessInfo.processInfo.environment["OMPI_MCA_osc_sm_backing_directory"] ?? "/dev/shm"
        var stats = statvfs()
        let free = statvfs(directory, &stats) == 0 ? Int(stats.f_bavail) * Int(stats.f_frsize) : nil
        return NodeTopology(
            localRank: localRank, localSize: localSize, nodeCount: nodeCount, uniform: uniform,
            sharedMemoryDirectory: free == nil ? nil : directory, sharedMemoryFreeBytes: free)
    }

    /// The node split (collective the first time; the shim keeps it).
    private func nodeSplit() -> (localRank: Int, localSize: Int, nodeCount: Int, uniform: Bool) {
        let override = Int32(clamping: ranksPerNode ?? 0)
        var localRank: Int32 = 0, localSize: Int32 = 1, nodeCount: Int32 = 1, uniform: Int32 = 1
        check(
            vae_mpi_node_topology(max(override, 0), &localRank, &localSize, &nodeCount, &uniform),
            "node topology (MPI_Comm_split_type)")
        return (Int(localRank), Int(localSize), Int(nodeCount), uniform != 0)
    }

    public func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory {
        let localSize = nodeSplit().localSize
        let segments = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: localSize)
        defer { segments.deallocate() }
        var handle: OpaquePointer?
        let code = vae_mpi_node_allocate(Int64(bytes), segments, &handle)
        guard code == 0, let handle else { throw MPIError(operation: "MPI_Win_allocate_shared", code: code) }
        return MPINodeMemory(handle: handle, segments: (0..<localSize).map { segments[$0]! })
    }

    public func startWatchdog(limitSeconds: Double) { vae_mpi_watchdog_start(limitSeconds) }

    public func watch(step: Int) { vae_mpi_watchdog_step(Int64(step)) }

    public func abort(code: Int32) -> Never {
        vae_mpi_abort(code)
        exit(code)
    }
}

/// An MPI-3 shared window over one node's ranks (CMPIShim's `vae_mpi_node_*`).
final class MPINodeMemory: NodeSharedMemory {
    let handle: OpaquePointer
    let segments: [UnsafeMutableRawPointer]

    init(handle: OpaquePointer, segments: [UnsafeMutableRawPointer]) {
        self.handle = handle
        self.segments = segments
    }

    deinit { _ = vae_mpi_node_free(handle) }

    func segment(of localRank: Int) -> UnsafeMutableRawPointer { segments[localRank] }

    func synchronizeNode() {
        let code = vae_mpi_node_synchronize(handle)
        if code != 0 { fatalError("MPI node barrier returned error \(code)") }
    }

    func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let code = vae_mpi_cross_node_allreduce_float_sum(base, Int64(buffer.count))
        if code != 0 { fatalError("MPI_Allreduce across nodes returned error \(code)") }
    }

    func allGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        guard let source = send.baseAddress, send.count > 0 else { return }
        let code = vae_mpi_cross_node_allgather(source, Int64(send.count), receive.baseAddress!)
        if code != 0 { fatalError("MPI_Allgather across nodes returned error \(code)") }
    }

    func startAllReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        precondition(buffer.count < Int(Int32.max), "one non-blocking sum over 2³¹ floats")
        let code = vae_mpi_cross_node_iallreduce_float_sum(base, Int32(buffer.count), Int32(slot))
        if code != 0 { fatalError("MPI_Iallreduce across nodes returned error \(code)") }
    }

    func startAllGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, slot: Int) {
        guard let source = send.baseAddress, send.count > 0 else { return }
        precondition(send.count < Int(Int32.max), "one non-blocking all-gather over 2³¹ bytes")
        let code = vae_mpi_cross_node_iallgather(source, Int32(send.count), receive.baseAddress!, Int32(slot))
        if code != 0 { fatalError("MPI_Iallgather across nodes returned error \(code)") }
    }

    func progressAcrossNodes(slot: Int) {
        let code = vae_mpi_test(Int32(slot))
        if code != 0 { fatalError("MPI_Test returned error \(code)") }
    }

    func finishAcrossNodes(slot: Int) {
        let code = vae_mpi_wait(Int32(slot))
        if code != 0 { fatalError("MPI_Wait across nodes returned error \(code)") }
    }
}
