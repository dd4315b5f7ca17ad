import VAEModel

/// Rank-count-independent gradient sums (`training.reduction: exact`).
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
final class ExactReduction {
    let microBatches: Int
    let microBatchSize: Int
    let perRank: Int
    /// This rank's micro-batch gradients.
    let local: [FlatBuffer]
    let accumulator: UnsafeMutableBufferPointer<Int64>
    /// Loss terms per micro-batch (``LossTerms/write(to:)``).
    let slots: UnsafeMutableBufferPointer<Double>
    let maximum: UnsafeMutableBufferPointer<Double>

    init(parameterCount: Int, batchSize: Int, microBatches: Int, ranks: Int) {
        self.microBatches = microBatches
        microBatchSize = batchSize / microBatches
        perRank = microBatches / ranks
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
        let magic = ExactReduction.magic, magicBits = ExactReduction.magicBits
        let acc = accumulator.baseAddress!
        acc.update(repeating: 0, count: count)
        for buffer in local {
            let g = buffer.pointer
            for i in 0..<count {
                let rounded = Double(g[i]) * scale + magic
                acc[i] &+= Int64(bitPattern: rounded.bitPattern) &- magicBits
            }
        }
    }

    /// ``accumulator`` back to floats at scale 2^−s (|sum| < 2⁵⁰, so the conversion to double is exact).
    func dequantize(exponent s: Int, into gradients: FlatBuffer) {
        let inverse = Double(sign: .plus, exponent: -s, significand: 1)
        let magic = ExactReduction.magic, magicBits = ExactReduction.magicBits
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

extension Trainer {
    /// The `exact` step: micro-batches on this rank, fixed-point sum, integer all-reduce, Adam.
    func exactStep(indices: UnsafeBufferPointer<Int32>, epoch: Int, exact: ExactReduction) -> LossTerms {
        let profiling = profile != nil
        let count = model.gradients.count
        let m = exact.microBatchSize
        let first = communicator.rank * exact.perRank
        exact.slots.update(repeating: 0)
        var largest: Float = 0
        var dataTime: UInt64 = 0, computeTime: UInt64 = 0, gemmTime: UInt64 = 0, samples = 0
        for j in 0..<exact.perRank {
            let k = first + j
            let lower = min(k * m, indices.count), upper = min(lower + m, indices.count)
            let buffer = exact.local[j]
            guard lower < upper else { buffer.zero(); continue }
            let t0 = profiling ? monotonicNanoseconds() : 0
            fillBatch(from: data.train, indices: UnsafeBufferPointer(rebasing: indices[lower..<upper]), epoch: epoch,
                      evaluation: false)
            let t1 = profiling ? monotonicNanoseconds() : 0
            if profiling { GEMMClock.nanoseconds = 0 }
            model.gradientTarget = buffer
            let terms = model.forward(batch: upper - lower, training: true)
            model.backward(batch: upper - lower)
            model.gradientTarget = model.gradients
            largest = max(largest, ExactReduction.largestMagnitude(buffer))
            let t2 = profiling ? monotonicNanoseconds() : 0
            dataTime += t1 - t0
            computeTime += t2 - t1
            gemmTime += GEMMClock.nanoseconds
            samples += upper - lower
            terms.write(to: exact.slots.baseAddress! + LossTerms.slotWidth * k)
        }
        let t3 = profiling ? monotonicNanoseconds() : 0
        exact.maximum[0] = Double(largest)
        communicator.allReduce(exact.maximum, .max)
        if exact.maximum[0].isFinite {
            let s = ExactReduction.exponent(largest: exact.maximum[0], terms: exact.microBatches)
            exact.quantize(exponent: s, count: count)
            communicator.allReduce(exact.accumulator, .sum)
            exact.dequantize(exponent: s, into: model.gradients)
        } else {
            // A non-finite gradient somewhere: every rank sees it (MAX), poisons the step the same way, and the
            // loss check stops the run.
            model.gradients.pointer.update(repeating: .nan, count: count)
        }
        communicator.allReduce(exact.slots, .sum)
        let t4 = profiling ? monotonicNanoseconds() : 0
        optimizer.update(parameters: model.parameters, gradients: model.gradients)
        let t5 = profiling ? monotonicNanoseconds() : 0
        if let profile {
            profile.record(data: dataTime, gemm: gemmTime, elementwise: computeTime - min(gemmTime, computeTime),
                           allReduce: t4 - t3, optimizer: t5 - t4, samples: samples)
        }
        return ExactReduction.orderedTerms(exact.slots, count: exact.microBatches)
    }

    /// The `exact` test pass: fixed chunks of one micro-batch each, dealt round-robin to the ranks, per-chunk
    /// sums in slots, added in chunk order — the same bits at any rank count.
    func exactEvaluate(_ dataset: ImageDataset, chunk m: Int) -> LossTerms {
        let chunks = (dataset.count + m - 1) / m
        let slots = UnsafeMutableBufferPointer<Double>.allocate(capacity: LossTerms.slotWidth * chunks)
        defer { slots.deallocate() }
        slots.update(repeating: 0)
        var indices = [Int32](repeating: 0, count: m)
        for c in stride(from: communicator.rank, to: chunks, by: communicator.size) {
            let lower = c * m, upper = min(lower + m, dataset.count)
            for i in lower..<upper { indices[i - lower] = Int32(i) }
            indices.withUnsafeBufferPointer {
                fillBatch(from: dataset, indices: UnsafeBufferPointer(rebasing: $0[0..<(upper - lower)]), epoch: 0, evaluation: true)
            }
            model.forward(batch: upper - lower).write(to: slots.baseAddress! + LossTerms.slotWidth * c)
        }
        communicator.allReduce(slots, .sum)
        return ExactReduction.orderedTerms(slots, count: chunks)
    }
}
