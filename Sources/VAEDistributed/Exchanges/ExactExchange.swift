import VAEModel

/// `exact`: rank-count-independent gradient sums.
///
/// The global batch of B rows is cut into M micro-batches of m = B/M rows whatever the rank count N (N must divide
/// M); rank r computes micro-batches r·M/N ..< (r+1)·M/N, each by the same code path at the same size, so each
/// micro-batch gradient is the same bits on any rank. They are summed exactly: every value is converted to 64-bit
/// fixed point with a scale all ranks agree on (2^s from a MAX all-reduce of the largest magnitude), added as
/// integers locally and in an integer all-reduce (associative, so order does not matter), and converted back once.
/// Loss terms travel in per-micro-batch slots (each slot has one non-zero contributor, so the float all-reduce is
/// exact) and are added in micro-batch order. Training is then a pure function of (config, seed, data).
///
/// Error bound: with G the largest |gradient element| of any micro-batch, s = 49 − ⌊log₂(M·G)⌋, so every fixed-point
/// term is below 2⁵⁰/M and the integer sum stays below 2⁵⁰ (exact in a double, and convertible with the 1.5·2⁵²
/// trick, which vectorizes). Each term is off by at most 2^(−s−1) ≤ M·G·2⁻⁴⁹, so an element of the summed gradient
/// is within M²·G·2⁻⁴⁹ of the exact sum of the micro-batch gradients before the final rounding to float: 2⁻²⁵ of G
/// even at M = 32, below float32's resolution at G. Elements smaller than that quantum (≈ 1e-15·M²·G) round to it.
public final class ExactExchange: GradientExchange {
    public let communicator: Communicator
    public let model: VariationalAutoencoder
    public let optimizer: Adam
    public let clipper: GradientClipper
    let microBatches: Int
    let microBatchSize: Int
    let perRank: Int
    /// This rank's micro-batch gradients.
    let local: [FlatBuffer]
    let accumulator: UnsafeMutableBufferPointer<Int64>
    /// Loss terms per micro-batch (``LossTerms/write(to:)``).
    let slots: UnsafeMutableBufferPointer<Double>
    let maximum: UnsafeMutableBufferPointer<Double>

    /// `settings.microBatches` must divide the global batch and be divisible by the rank count (the factory
    /// checks).
    public init(communicator: Communicator, settings: ExchangeSettings) {
        self.communicator = communicator
        clipper = GradientClipper(maxNorm: settings.clipNorm)
        microBatches = settings.microBatches
        microBatchSize = settings.globalBatchSize / settings.microBatches
        perRank = communicator.share(of: settings.microBatches).count
        (model, optimizer) = makeReplica(settings, batchCapacity: microBatchSize)
        let parameterCount = settings.layout.count
        local = (0..<perRank).map { _ in FlatBuffer(count: parameterCount) }
        accumulator = .allocate(capacity: parameterCount)
        slots = .allocate(capacity: LossTerms.slotWidth * microBatches)
        maximum = .allocate(capacity: 1)
    }

    deinit {
        accumulator.deallocate()
        slots.deallocate()
        maximum.deallocate()
    }

    public var description: String { "all-reduce (int64, exact), \(microBatches) micro-batches" }

    /// The fixed-point exponent s for `terms` values of magnitude at most `largest`: Σ |round(x·2^s)| < 2⁵⁰.
    static func exponent(largest: Double, terms: Int) -> Int {
        guard largest > 0 else { return 0 }
        return 49 - (largest * Double(terms)).exponent
    }

    /// 1.5·2⁵²: adding it to a double of magnitude below 2⁵¹ rounds it to an integer (to nearest, ties to even)
    /// held in the low bits of the sum's bit pattern.
    static let magic: Double = 6_755_399_441_055_744
    static let magicBits = Int64(bitPattern: magic.bitPattern)

    /// Largest |x| of a buffer; +∞ if any element is not finite. Works on the bit patterns: with the sign cleared,
    /// non-negative floats order like their bits (∞ = 0x7F800000, NaN above), and an integer max vectorizes.
    static func largestMagnitude(_ buffer: FlatBuffer) -> Float {
        let bits = UnsafeRawPointer(buffer.pointer).assumingMemoryBound(to: UInt32.self)
        var largest: UInt32 = 0
        for i in 0..<buffer.count { largest = max(largest, bits[i] & 0x7FFF_FFFF) }
        return largest >= 0x7F80_0000 ? .infinity : Float(bitPattern: largest)
    }

    /// Σ over this rank's micro-batch gradients, as integers at scale 2^s, into ``accumulator`` (one pass).
    func quantize(exponent s: Int, count: Int) {
        let scale = Double(sign: .plus, exponent: s, significand: 1)
        let magic = ExactExchange.magic, magicBits = ExactExchange.magicBits
        let acc = accumulator.baseAddress!
        acc.update(repeating: 0, count: count)
        for j in 0..<local.count {
            let g = local[j].pointer
            for i in 0..<count {
                let rounded = Double(g[i]) * scale + magic
                acc[i] &+= Int64(bitPattern: rounded.bitPattern) &- magicBits
            }
        }
    }

    /// ``accumulator`` back to floats at scale 2^−s (|sum| < 2⁵⁰, so the conversion to double is exact).
    func dequantize(exponent s: Int, into gradients: FlatBuffer) {
        let inverse = Double(sign: .plus, exponent: -s, significand: 1)
        let magic = ExactExchange.magic, magicBits = ExactExchange.magicBits
        let acc = accumulator.baseAddress!, g = gradients.pointer
        for i in 0..<gradients.count {
            let value = Double(bitPattern: UInt64(bitPattern: acc[i] &+ magicBits)) - magic
            g[i] = Float(value * inverse)
        }
    }

    /// Loss terms kept in consecutive slots (``LossTerms/write(to:)``), added in slot order.
    static func orderedTerms(_ slots: UnsafeMutableBufferPointer<Double>, count: Int) -> LossTerms {
        var terms = LossTerms()
        for k in 0..<count { terms += LossTerms(slot: slots.baseAddress! + LossTerms.slotWidth * k) }
        return terms
    }
}

extension ExactExchange {
    /// Micro-batches on this rank, the fixed-point sum, the integer all-reduce, Adam.
    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int, source: BatchSource, profile: StepProfile?) -> LossTerms {
        var timer = StepTimer(profile)
        let count = model.gradients.count
        let m = microBatchSize
        let first = communicator.share(of: microBatches).lowerBound
        slots.update(repeating: 0)
        var largest: Float = 0, samples = 0
        for j in 0..<perRank {
            let k = first + j
            let lower = min(k * m, indices.count), upper = min(lower + m, indices.count)
            let buffer = local[j]
            let terms = model.localGradients(
                indices: indices, rows: lower..<upper, epoch: epoch, source: source,
                timer: &timer, gradients: buffer)
            guard lower < upper else { continue }
            largest = max(largest, ExactExchange.largestMagnitude(buffer))
            samples += upper - lower
            terms.write(to: slots.baseAddress! + LossTerms.slotWidth * k)
        }
        maximum[0] = Double(largest)
        communicator.allReduce(maximum, .max)
        if maximum[0].isFinite {
            let s = ExactExchange.exponent(largest: maximum[0], terms: microBatches)
            quantize(exponent: s, count: count)
            communicator.allReduce(accumulator, .sum)
            dequantize(exponent: s, into: model.gradients)
        } else {
            // A non-finite gradient somewhere: every rank sees it (MAX), poisons the step the same way, and the
            // loss check stops the run.
            model.gradients.pointer.update(repeating: .nan, count: count)
        }
        communicator.allReduce(slots, .sum)
        clipper.clip(model.gradients.pointer, count: model.gradients.count)
        timer.optimizer { optimizer.update(parameters: model.parameters, gradients: model.gradients) }
        timer.record(into: profile, samples: samples)
        return ExactExchange.orderedTerms(slots, count: microBatches)
    }

    /// The exact test pass: fixed chunks of one micro-batch each, dealt round-robin to the ranks, per-chunk sums
    /// in slots, added in chunk order — the same bits at any rank count.
    public func evaluate(count: Int, pass: (Range<Int>) -> LossTerms) -> LossTerms {
        let m = microBatchSize
        let chunks = (count + m - 1) / m
        let slots = UnsafeMutableBufferPointer<Double>.allocate(capacity: LossTerms.slotWidth * chunks)
        defer { slots.deallocate() }
        slots.update(repeating: 0)
        for c in stride(from: communicator.rank, to: chunks, by: communicator.size) {
            pass((c * m)..<min(c * m + m, count)).write(to: slots.baseAddress! + LossTerms.slotWidth * c)
        }
        communicator.allReduce(slots, .sum)
        return ExactExchange.orderedTerms(slots, count: chunks)
    }
}
