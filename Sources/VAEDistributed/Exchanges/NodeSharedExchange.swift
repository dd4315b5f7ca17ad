import VAEModel

/// `node-shared`: the step's gradient sum and Adam update through node-shared memory, in place of an all-reduce.
///
/// One copy of the parameters and of both Adam moments per node lives in local rank 0's segment; each rank's
/// gradient buffer is its own segment. After backward and a node barrier, local rank r sums its shard of every
/// local rank's gradient, in local-rank order (so the bits do not depend on timing or on which rank sums), sums
/// that shard across nodes (an all-reduce among one rank per node; nothing on one node) and takes the Adam step
/// on its shard of the shared parameters and moments; a second barrier makes the new parameters visible to the
/// next forward. Per step a rank reads P gradient floats and updates P/n parameters, where an all-reduce
/// moves ≈ 2P floats through MPI's buffers and then every rank updates all P.
public final class NodeSharedExchange: GradientExchange {
    public let communicator: Communicator
    public let model: VariationalAutoencoder
    public let optimizer: Adam
    let losses = LossReduction()
    public let clipper: GradientClipper
    /// The sum over local ranks given at construction (tests), or nil.
    private let localSum: ((Range<Int>) -> Void)?
    /// Where this rank sits.
    public let topology: NodeTopology
    let memory: NodeSharedMemory
    /// The node's parameters (one copy per node).
    public let parameters: FlatBuffer
    /// The node's Adam first moment.
    public let firstMoment: FlatBuffer
    /// The node's Adam second moment.
    public let secondMoment: FlatBuffer
    /// This rank's gradient segment: backward writes it; after a ``step(indices:epoch:source:profile:)`` its
    /// ``shard`` holds the gradient summed over all ranks and the rest this rank's own.
    public let gradients: FlatBuffer
    /// The part of the flat buffers this rank sums and updates (whole 64-byte lines; empty when there are more
    /// ranks than lines).
    public let shard: Range<Int>
    /// Every local rank's gradient segment, by local rank.
    let peers: UnsafeMutableBufferPointer<UnsafePointer<Float>>
    /// Every local rank's loss sums (``LossTerms/write(to:)``), on a 64-byte line after its gradient.
    let lossLines: UnsafeMutableBufferPointer<UnsafeMutablePointer<Double>>
    static let lossLineFloats = 16
    /// One block of the sum, kept in L1.
    let accumulator: UnsafeMutablePointer<Float>
    /// ``shard`` cut where the decoder's parameters begin: the decoder part is final after backward's first half.
    let shardParts: (encoder: Range<Int>, decoder: Range<Int>)
    /// The cross-node hop in bfloat16 with error feedback, one per part of the shard (several nodes and
    /// `cross_node_compression: bf16`; elementwise, so two parts give one shard's bits).
    let compressors: (encoder: CompressedCrossNodeSum, decoder: CompressedCrossNodeSum)?
    /// Several nodes and `cross_node_overlap`: the decoder part crosses while the encoder's backward runs.
    let overlapsCrossNodeHop: Bool
    /// The request slot of the decoder part's hop.
    static let crossNodeSlot = 1
    static let blockSize = 1024

    /// One flat buffer's length in the segments: whole 64-byte lines.
    static func stride(_ parameterCount: Int) -> Int { (parameterCount + 15) / 16 * 16 }

    /// Floats in local rank `localRank`'s segment: the leader's holds the parameters, both moments and its
    /// gradient, the others' their gradient; each ends with its loss line.
    static func segmentFloats(parameterCount: Int, localRank: Int) -> Int {
        (localRank == 0 ? 4 : 1) * stride(parameterCount) + lossLineFloats
    }

    /// The shared memory one node needs for `parameterCount` parameters over `localSize` ranks (each segment
    /// rounded up to whole pages).
    public static func bytesPerNode(parameterCount: Int, localSize: Int) -> Int {
        (0..<localSize).reduce(0) { total, r in
            total + segmentFloats(parameterCount: parameterCount, localRank: r) * MemoryLayout<Float>.stride + 4096
        }
    }

    /// Collective over the node: allocates the shared memory for the model's parameters and zeroes it.
    /// `topology` is `communicator.nodeTopology()`.
    /// `localSum` replaces the sum over the node's ranks (the tests' negative control sums nothing: each rank keeps
    /// its own gradient); nil: ``sumOverLocalRanks(_:)``.
    public init(
        communicator: Communicator, topology: NodeTopology, settings: ExchangeSettings,
        localSum: ((Range<Int>) -> Void)? = nil
    ) throws {
        self.localSum = localSum
        let parameterCount = settings.layout.count
        self.communicator = communicator
        clipper = GradientClipper(maxNorm: settings.clipNorm)
        self.topology = topology
        let stride = Self.stride(parameterCount)
        let segmentFloats = Self.segmentFloats(parameterCount: parameterCount, localRank: topology.localRank)
        let memory = try communicator.allocateNodeSharedMemory(bytes: segmentFloats * MemoryLayout<Float>.stride)
        self.memory = memory
        func floats(_ localRank: Int, count: Int) -> UnsafeMutablePointer<Float> {
            memory.segment(of: localRank).bindMemory(to: Float.self, capacity: count)
        }
        let node = floats(0, count: Self.segmentFloats(parameterCount: parameterCount, localRank: 0))
        parameters = FlatBuffer(borrowing: node, count: parameterCount, owner: memory)
        firstMoment = FlatBuffer(borrowing: node + stride, count: parameterCount, owner: memory)
        secondMoment = FlatBuffer(borrowing: node + 2 * stride, count: parameterCount, owner: memory)
        peers = .allocate(capacity: topology.localSize)
        for r in 0..<topology.localSize {
            peers[r] = UnsafePointer(
                r == 0 ? node + 3 * stride : floats(r, count: Self.segmentFloats(parameterCount: parameterCount, localRank: r)))
        }
        lossLines = .allocate(capacity: topology.localSize)
        for r in 0..<topology.localSize {
            lossLines[r] = UnsafeMutableRawPointer(mutating: peers[r] + stride).bindMemory(
                to: Double.self, capacity: LossTerms.slotWidth)
        }
        gradients = FlatBuffer(
            borrowing: UnsafeMutablePointer(mutating: peers[topology.localRank]), count: parameterCount, owner: memory)
        let lines = stride / 16, r = topology.localRank, n = topology.localSize
        shard = min(lines * r / n * 16, parameterCount)..<min(lines * (r + 1) / n * 16, parameterCount)
        let split = min(max(settings.layout.decoderStart, shard.lowerBound), shard.upperBound)
        shardParts = (shard.lowerBound..<split, split..<shard.upperBound)
        compressors =
            settings.crossNodeCompression == .bf16 && topology.nodeCount > 1
            ? (
                CompressedCrossNodeSum(count: shardParts.encoder.count, nodeCount: topology.nodeCount),
                CompressedCrossNodeSum(count: shardParts.decoder.count, nodeCount: topology.nodeCount)
            ) : nil
        overlapsCrossNodeHop = settings.crossNodeOverlap && topology.nodeCount > 1
        accumulator = .allocate(capacity: Self.blockSize)
        accumulator.initialize(repeating: 0, count: Self.blockSize)
        // Each rank touches first what it will write in every step (its gradient segment and its shard of the
        // parameters and moments), so on a multi-socket node the kernel places those pages near it.
        gradients.zero()
        LossTerms().write(to: lossLines[topology.localRank])
        for buffer in [parameters, firstMoment, secondMoment] {
            (buffer.pointer + shard.lowerBound).update(repeating: 0, count: shard.count)
        }
        (model, optimizer) = makeReplica(
            settings, batchCapacity: communicator.share(of: settings.globalBatchSize).count,
            parameters: parameters, gradients: gradients,
            firstMoment: firstMoment, secondMoment: secondMoment)
        memory.synchronizeNode()
    }

    deinit {
        peers.deallocate()
        lossLines.deallocate()
        accumulator.deallocate()
    }

    public var description: String {
        "node-shared, \(topology.localSize) rank(s) per node, \(topology.nodeCount) node(s)\(compressors == nil ? "" : ", bf16 across nodes")\(overlapsCrossNodeHop ? ", overlapped with backward" : "")"
    }

    /// Only local rank 0 writes the node's parameters and moments outside a step (initialization, restore).
    public var writesState: Bool { topology.localRank == 0 }

    /// Memory fence and barrier over the node.
    public func publish() { memory.synchronizeNode() }

    public var summedGradientRange: Range<Int> { shard }

    /// One copy per node: rank 0's parameters reach the other nodes' copies through a private buffer.
    public func broadcastParameters() {
        guard topology.nodeCount > 1 else { return }
        let copy = FlatBuffer(count: parameters.count)
        if communicator.isLeader { copy.copy(from: parameters) }
        communicator.broadcast(UnsafeMutableRawBufferPointer(start: copy.pointer, count: copy.count * 4), root: 0)
        if writesState { parameters.copy(from: copy) }
        publish()
    }

    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int, source: BatchSource, profile: StepProfile?) -> LossTerms {
        var timer = StepTimer(profile)
        let rows = slice(of: indices.count)
        let memory = self.memory
        let terms = model.localGradients(
            indices: indices, rows: rows, epoch: epoch, source: source, timer: &timer,
            afterDecoder: { if overlapsCrossNodeHop { startDecoderHop() } },
            betweenEncoderLayers: { if overlapsCrossNodeHop { memory.progressAcrossNodes(slot: Self.crossNodeSlot) } })
        let global = sumAndUpdate(terms: terms, timer: &timer)
        let result = global ?? losses.sum(terms, over: communicator)
        timer.record(into: profile, samples: rows.count)
        return result
    }

    /// With ``overlapsCrossNodeHop``, between backward's halves: a node barrier (every local rank's decoder
    /// gradients written), the decoder part of this rank's shard summed over the node's ranks and its cross-node
    /// sum started (MPI moves it along between the encoder's layers; ``sumAndUpdate(terms:timer:)`` finishes it).
    func startDecoderHop() {
        memory.synchronizeNode()
        sumOverLocalRanks(shardParts.decoder)
        startCrossNodeSum(shardParts.decoder, compressor: compressors?.decoder, slot: Self.crossNodeSlot)
    }

    /// Starts the cross-node sum of `part` of this rank's gradient (float32 or bf16), non-blocking in `slot`.
    func startCrossNodeSum(_ part: Range<Int>, compressor: CompressedCrossNodeSum?, slot: Int) {
        let start = gradients.pointer + part.lowerBound
        if let compressor {
            compressor.start(start, memory: memory, slot: slot)
        } else {
            memory.startAllReduceAcrossNodes(UnsafeMutableBufferPointer(start: start, count: part.count), slot: slot)
        }
    }

    /// Finishes what ``startCrossNodeSum(_:compressor:slot:)`` started.
    func finishCrossNodeSum(_ part: Range<Int>, compressor: CompressedCrossNodeSum?, slot: Int) {
        if let compressor {
            compressor.finish(gradients.pointer + part.lowerBound, memory: memory, slot: slot)
        } else {
            memory.finishAcrossNodes(slot: slot)
        }
    }

    /// The blocking cross-node sum of `part` (float32 or bf16).
    func crossNodeSum(_ part: Range<Int>, compressor: CompressedCrossNodeSum?) {
        let start = gradients.pointer + part.lowerBound
        if let compressor {
            compressor.sum(start, memory: memory)
        } else {
            memory.allReduceAcrossNodes(UnsafeMutableBufferPointer(start: start, count: part.count))
        }
    }

    /// The exchange and the update: a node barrier (every gradient written), this rank's shard summed over the
    /// node's ranks and then across nodes (with ``overlapsCrossNodeHop`` only the encoder part here, the decoder
    /// part's hop finished), Adam on that shard, a node barrier (every parameter written).
    /// `terms` are this rank's loss sums: on one node they travel with the gradients and their sum over ranks (in
    /// local-rank order, the same on every rank) is returned as `global`; with several nodes `global` is nil and
    /// the caller all-reduces them. No allocation.
    func sumAndUpdate(terms: LossTerms, timer: inout StepTimer) -> LossTerms? {
        terms.write(to: lossLines[topology.localRank])
        memory.synchronizeNode()
        var global: LossTerms?
        if topology.nodeCount == 1 {
            var sum = LossTerms()
            for line in lossLines { sum += LossTerms(slot: line) }
            global = sum
        }
        if overlapsCrossNodeHop {
            sumOverLocalRanks(shardParts.encoder)
            crossNodeSum(shardParts.encoder, compressor: compressors?.encoder)
            finishCrossNodeSum(shardParts.decoder, compressor: compressors?.decoder, slot: Self.crossNodeSlot)
        } else if let compressors {
            sumOverLocalRanks(shard)
            crossNodeSum(shardParts.encoder, compressor: compressors.encoder)
            crossNodeSum(shardParts.decoder, compressor: compressors.decoder)
        } else {
            sumOverLocalRanks(shard)
            crossNodeSum(shard, compressor: nil)
        }
        // Every node holds every shard once: the squares of all ranks count each shard once per node.
        clipper.clip(gradients.pointer + shard.lowerBound, count: shard.count, shards: communicator, copies: topology.nodeCount)
        timer.optimizer {
            optimizer.update(parameters: parameters, range: shard, shardGradients: gradients.pointer + shard.lowerBound)
        }
        memory.synchronizeNode()
        return global
    }

    /// g[range] = ((g₀ + g₁) + g₂) + … over local ranks, written into this rank's gradient (`range`: within
    /// ``shard``). With two ranks in one pass straight into this rank's segment (each element is read by both
    /// terms before it is written, and no other rank reads this rank's shard); with more, each block is summed in
    /// the accumulator first (this rank's segment is one of the later inputs). A `localSum` given at construction
    /// runs instead.
    func sumOverLocalRanks(_ range: Range<Int>) {
        if let localSum {
            localSum(range)
            return
        }
        let out = gradients.pointer
        if peers.count == 2 {
            let g0 = peers[0], g1 = peers[1]
            for i in range { out[i] = g0[i] + g1[i] }
        } else if peers.count > 2 {
            let accumulator = self.accumulator
            var start = range.lowerBound
            while start < range.upperBound {
                let count = min(Self.blockSize, range.upperBound - start)
                let g0 = peers[0] + start, g1 = peers[1] + start
                for i in 0..<count { accumulator[i] = g0[i] + g1[i] }
                for r in 2..<peers.count {
                    let g = peers[r] + start
                    for i in 0..<count { accumulator[i] += g[i] }
                }
                (out + start).update(from: accumulator, count: count)
                start += count
            }
        }
    }
}
