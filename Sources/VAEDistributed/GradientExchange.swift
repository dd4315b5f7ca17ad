import VAEModel

/// Fills a model's input and ε rows for a batch of training samples. The training layer implements it over its
/// data set, so the exchanges compute gradients without knowing where the samples come from.
public protocol BatchSource: AnyObject {
    /// Writes training samples `indices`, and their ε for `epoch`, into the first rows of `model.input` and
    /// `model.epsilon`. No allocation.
    func fill(_ model: VariationalAutoencoder, indices: UnsafeBufferPointer<Int32>, epoch: Int)
}

/// What an exchange builds its model and optimizer from.
public struct ExchangeSettings: Sendable {
    /// The model's tensors.
    public var layout: ParameterLayout
    /// The global batch B (every rank's rows together).
    public var globalBatchSize: Int
    /// β, the KL weight.
    public var klWeight: Float
    /// The training objective (the ELBO unless set).
    public var objective: Objective = .elbo
    /// Adam's settings.
    public var adam: Adam.Hyperparameters
    /// Micro-batches per global batch (the exact exchange only).
    public var microBatches: Int
    /// Clip the summed gradient to this global norm (0: no clipping; see ``GradientClipper``).
    public var clipNorm: Float
    /// The node-shared exchange's cross-node hop (see ``CrossNodeCompression``).
    public var crossNodeCompression: CrossNodeCompression = .none
    /// The node-shared exchange with several nodes: start the decoder's part of the cross-node hop as soon as its
    /// gradients are final, while the encoder's backward runs (the same sums; the same bits with bf16, and with float32
    /// on two nodes — MPI's non-blocking sum over more may add in another order).
    public var crossNodeOverlap = false

    public init(
        layout: ParameterLayout, globalBatchSize: Int, klWeight: Float, adam: Adam.Hyperparameters,
        microBatches: Int = 8, clipNorm: Float = 0
    ) {
        self.clipNorm = clipNorm
        self.layout = layout
        self.globalBatchSize = globalBatchSize
        self.klWeight = klWeight
        self.adam = adam
        self.microBatches = microBatches
    }
}

/// How one training step's gradients are computed on this rank, summed over ranks and turned into an Adam step:
/// one type per strategy (``AllReduceExchange``, ``OverlappedAllReduceExchange``, ``ShardedAdamExchange``,
/// ``NodeSharedExchange``, ``ExactExchange``), chosen by ``ExchangeStrategy/make(communicator:settings:warn:)``.
///
/// An exchange owns the model (its parameters, gradients and activations) and the optimizer, because where those
/// live is part of the strategy (node-shared memory holds one copy per node; ZeRO-1 keeps a gradient shard).
public protocol GradientExchange: AnyObject {
    /// The ranks this exchange sums over.
    var communicator: Communicator { get }
    /// The model whose gradients are exchanged; its ``VariationalAutoencoder/batchCapacity`` is the rows of one
    /// forward pass on this rank.
    var model: VariationalAutoencoder { get }
    /// The optimizer, over the same flat layout.
    var optimizer: Adam { get }
    /// How the gradients travel, in words (start-up log line, `bench`).
    var description: String { get }
    /// The gradient clipping every strategy applies to its summed gradient before Adam.
    var clipper: GradientClipper { get }

    /// One optimizer step on the global batch `indices`: this rank's gradients, their sum over all ranks, the
    /// Adam update. Returns the batch's loss sums over all ranks (the same on every rank). Allocates nothing.
    /// Timings go into `profile` when it is given.
    func step(indices: UnsafeBufferPointer<Int32>, epoch: Int, source: BatchSource, profile: StepProfile?) -> LossTerms

    /// Loss sums of a data set of `count` samples, split over the ranks the way this exchange's steps split a
    /// batch; `pass(rows)` runs the model on samples `rows` (at most ``VariationalAutoencoder/batchCapacity``)
    /// and returns their sums. Collective.
    func evaluate(count: Int, pass: (Range<Int>) -> LossTerms) -> LossTerms

    /// Whether this rank writes the parameters and moments outside a step (initialization, a restored
    /// checkpoint). With one copy per node only one rank of each node does; the others decode into scratch.
    var writesState: Bool { get }
    /// Makes state written outside a step visible to every rank that shares it (a node barrier, or nothing).
    func publish()
    /// Collective: rank 0's parameters become every rank's (the start of training).
    func broadcastParameters()
    /// Collective: every rank's optimizer holds the full moments (before a checkpoint; ZeRO-1 keeps only its shard).
    func gatherOptimizerState()
    /// The part of ``VariationalAutoencoder/gradients`` that holds the sum over all ranks after a step.
    var summedGradientRange: Range<Int> { get }
}

extension GradientExchange {
    public var writesState: Bool { true }
    public func publish() {}
    public func broadcastParameters() {
        let parameters = model.parameters
        communicator.broadcast(UnsafeMutableRawBufferPointer(start: parameters.pointer, count: parameters.count * 4), root: 0)
    }
    public func gatherOptimizerState() {}
    public var summedGradientRange: Range<Int> { 0..<model.gradients.count }

    /// This rank's rows of `count` (a global batch or a test set): ``Communicator/share(of:)``.
    public func slice(of count: Int) -> Range<Int> { communicator.share(of: count) }

    /// The split every exchange but the exact one uses: this rank's ``slice(of:)``, in chunks of the batch
    /// capacity, the sums reduced over ranks.
    public func evaluate(count: Int, pass: (Range<Int>) -> LossTerms) -> LossTerms {
        var terms = LossTerms()
        let rows = slice(of: count), capacity = model.batchCapacity
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(start + capacity, rows.upperBound)
            terms += pass(start..<end)
            start = end
        }
        var slot = [Double](repeating: 0, count: LossTerms.slotWidth)
        slot.withUnsafeMutableBufferPointer { buffer in
            terms.write(to: buffer.baseAddress!)
            communicator.allReduce(buffer, .sum)
            terms = LossTerms(slot: buffer.baseAddress!)
        }
        return terms
    }
}

/// The model and optimizer of one replica, built alike by every exchange (buffers given where the exchange keeps
/// them itself).
func makeReplica(
    _ settings: ExchangeSettings, batchCapacity: Int, parameters: FlatBuffer? = nil,
    gradients: FlatBuffer? = nil, firstMoment: FlatBuffer? = nil,
    secondMoment: FlatBuffer? = nil
) -> (VariationalAutoencoder, Adam) {
    let model = VariationalAutoencoder(
        layout: settings.layout, batchCapacity: max(batchCapacity, 1),
        klWeight: settings.klWeight, objective: settings.objective, parameters: parameters, gradients: gradients)
    let optimizer = Adam(
        parameterCount: settings.layout.count, hyperparameters: settings.adam,
        firstMoment: firstMoment, secondMoment: secondMoment)
    return (model, optimizer)
}

/// Loss sums summed over ranks through one preallocated slot (no allocation per call).
final class LossReduction {
    let slot = UnsafeMutableBufferPointer<Double>.allocate(capacity: LossTerms.slotWidth)
    deinit { slot.deallocate() }

    func sum(_ terms: LossTerms, over communicator: Communicator) -> LossTerms {
        terms.write(to: slot.baseAddress!)
        communicator.allReduce(slot, .sum)
        return LossTerms(slot: slot.baseAddress!)
    }
}

/// A step's phase timings for ``StepProfile`` (all zero, and no clock read, when not profiling).
struct StepTimer {
    let enabled: Bool
    let start: UInt64
    var data: UInt64 = 0, compute: UInt64 = 0, optimizer: UInt64 = 0

    init(_ profile: StepProfile?) {
        enabled = profile != nil
        start = enabled ? monotonicNanoseconds() : 0
    }

    /// Runs forward/backward work, adding its time to `compute`.
    mutating func compute<T>(_ body: () -> T) -> T {
        guard enabled else { return body() }
        let t = monotonicNanoseconds()
        let result = body()
        compute += monotonicNanoseconds() - t
        return result
    }

    /// Runs batch filling, adding its time to `data`.
    mutating func data(_ body: () -> Void) {
        guard enabled else { return body() }
        let t = monotonicNanoseconds()
        body()
        data += monotonicNanoseconds() - t
    }

    /// Runs the optimizer update, adding its time to `optimizer`.
    mutating func optimizer(_ body: () -> Void) {
        guard enabled else { return body() }
        let t = monotonicNanoseconds()
        body()
        optimizer += monotonicNanoseconds() - t
    }

    /// Records the step: what is not data, compute or optimizer is communication (waiting for other ranks too).
    func record(into profile: StepProfile?, samples: Int) {
        guard let profile else { return }
        let total = monotonicNanoseconds() - start
        profile.record(
            data: data, compute: compute, allReduce: total - data - compute - optimizer, optimizer: optimizer,
            samples: samples)
    }
}

extension VariationalAutoencoder {
    /// This rank's part of a step on `rows` of `indices`: the batch filled, forward and backward into `gradients`
    /// (default ``gradients``), or the gradients zeroed when the rows are empty (a rank whose share of a last
    /// partial batch is empty contributes zero). Returns the rows' loss sums. `afterDecoder` runs between
    /// backward's halves, when ``decoderGradientRange`` is final (also for empty rows, so every rank calls it);
    /// `betweenEncoderLayers` between the layers of the second half: where an exchange starts and moves along the
    /// decoder part's communication.
    func localGradients(
        indices: UnsafeBufferPointer<Int32>, rows: Range<Int>, epoch: Int, source: BatchSource,
        timer: inout StepTimer, gradients target: FlatBuffer? = nil,
        afterDecoder: () -> Void = {}, betweenEncoderLayers: () -> Void = {}
    ) -> LossTerms {
        guard !rows.isEmpty else {
            (target ?? gradients).zero()
            afterDecoder()
            return LossTerms()
        }
        timer.data { source.fill(self, indices: UnsafeBufferPointer(rebasing: indices[rows]), epoch: epoch) }
        let terms = timer.compute {
            let terms = forward(batch: rows.count, training: true, gradients: target)
            backwardDecoder(batch: rows.count, gradients: target)
            return terms
        }
        afterDecoder()
        timer.compute { backwardEncoder(batch: rows.count, gradients: target, betweenLayers: betweenEncoderLayers) }
        return terms
    }
}

extension LossTerms {
    /// The doubles (loss, reconstruction, KL, samples) loss terms travel as between ranks.
    public static let slotWidth = 4

    /// Writes the terms into the ``slotWidth`` doubles at `slot`.
    public func write(to slot: UnsafeMutablePointer<Double>) {
        slot[0] = loss
        slot[1] = reconstruction
        slot[2] = kl
        slot[3] = Double(samples)
    }

    /// The terms ``write(to:)`` stored at `slot`.
    public init(slot: UnsafePointer<Double>) {
        self.init(loss: slot[0], reconstruction: slot[1], kl: slot[2], samples: Int(slot[3]))
    }
}
