/// One contiguous, zero-initialized `Float` buffer, allocated once and never resized.
///
/// Parameters, gradients and the two Adam moments each live in one `FlatBuffer` with the same
/// ``ParameterLayout``, so the all-reduce, the optimizer step and the checkpoint are one call each
/// over `pointer[0..<count]`.
public final class FlatBuffer {
    /// The first element. Valid for the lifetime of the buffer.
    public let pointer: UnsafeMutablePointer<Float>
    /// The number of `Float` elements.
    public let count: Int

    /// Keeps the memory a borrowing buffer lives in alive (nil: this buffer allocated its own).
    private let owner: AnyObject?

    /// Allocates `count` floats set to zero.
    public init(count: Int) {
        precondition(count >= 0, "FlatBuffer count must be non-negative")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        owner = nil
    }

    /// A buffer over `count` floats of memory that `owner` manages (node-shared memory): not copied, not
    /// zeroed, not freed by this buffer, and kept alive as long as it is.
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        precondition(count >= 0, "FlatBuffer count must be non-negative")
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    deinit { if owner == nil { pointer.deallocate() } }

    /// The elements as a buffer pointer.
    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// Copies every element from `other`, which must have the same count.
    public func copy(from other: FlatBuffer) {
        precondition(other.count == count, "FlatBuffer.copy: \(other.count) elements into \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    /// A copy of the elements as an array (tests and checkpoints; never in a training step).
    public var array: [Float] { Array(buffer) }

    /// The index of the first NaN or infinity, or nil (one pass; a vectorizable OR of exponent checks).
    public func firstNonFinite() -> Int? {
        var bad = false
        for i in 0..<count { bad = bad || !pointer[i].isFinite }
        guard bad else { return nil }
        return (0..<count).first { !pointer[$0].isFinite }
    }

    /// The raw little-endian bytes of the elements (tests and checkpoints).
    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<Float>.size))
    }

    /// 64-bit FNV-1a over the elements' bit patterns: equal contents give equal values (replica checks, tests).
    public var fingerprint: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { hash = (hash ^ UInt64(words[i])) &* 0x100_0000_01b3 }
        return hash
    }

    /// The named view `view` of this buffer.
    public func pointer(to view: TensorView) -> UnsafeMutablePointer<Float> { pointer + view.offset }
}

/// A named, shaped window into a ``FlatBuffer``.
public struct TensorView: Equatable, Sendable {
    /// The tensor's name in checkpoints (`fc1.weight`, ...).
    public let name: String
    /// Row-major shape, as PyTorch stores it (`[out, in]` for a weight).
    public let shape: [Int]
    /// The element offset of the first element in the flat buffer.
    public let offset: Int
    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
}
