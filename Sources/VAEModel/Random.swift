/// Counter-based random streams.
///
/// vae-dist never draws from one shared sequential generator. Every draw comes from a small stream
/// whose starting state is a hash of a *key*: (seed, purpose, epoch, global sample index). The same
/// sample therefore gets the same noise whatever batch, step or rank it lands in, which is what makes
/// exact resume and rank-count independence possible: a resumed run only needs the position, not a
/// generator state.
public struct RandomStream: RandomNumberGenerator {
    /// What a stream is used for; part of the key so that streams never collide.
    public enum Purpose: UInt64, Sendable {
        case dataOrder = 1
        case epsilon = 2
        case dynamicBinarization = 3
        case initialization = 4
        case evaluationEpsilon = 5
        case staticBinarization = 6
        case syntheticData = 7
        case prior = 8
        case importanceSampling = 9
        case validationSplit = 10
        case flip = 11
        case pseudoInputs = 12
        case mixtureComponent = 13
    }

    @usableFromInline var state: UInt64

    /// A stream keyed by `(seed, purpose, epoch, index, part)`. Part 0 is the stream keyed by the first four alone
    /// (an IWAE's first ε of a sample is the ELBO's ε of that sample).
    @inlinable
    public init(seed: UInt64, purpose: Purpose, epoch: UInt64 = 0, index: UInt64 = 0, part: UInt64 = 0) {
        var key = RandomStream.mix(seed ^ 0x5641_452D_6469_7374)  // "VAE-dist"
        key = RandomStream.mix(key ^ purpose.rawValue)
        key = RandomStream.mix(key ^ epoch)
        key = RandomStream.mix(key ^ index)
        if part != 0 { key = RandomStream.mix(key ^ RandomStream.mix(part)) }
        state = key
    }

    /// SplitMix64's finalizer: a bijective 64-bit mix with good avalanche.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits (SplitMix64).
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform `Float` in [0, 1) with 24 random bits.
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform `Double` in (0, 1] (never zero, so its logarithm is finite).
    @inlinable
    public mutating func nextOpenUnitDouble() -> Double {
        (Double(next() >> 11) + 1.0) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-shift; bias below bound / 2⁶⁴).
    @inlinable
    public mutating func nextIndex(below bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Fills `count` standard normal draws into `destination` (Box–Muller in double precision).
    @inlinable
    public mutating func fillStandardNormal(_ destination: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count {
            let radius = (-2.0 * _log(nextOpenUnitDouble())).squareRoot()
            let angle = 2.0 * Double.pi * nextOpenUnitDouble()
            destination[i] = Float(radius * _cos(angle))
            if i + 1 < count { destination[i + 1] = Float(radius * _sin(angle)) }
            i += 2
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@usableFromInline func _log(_ x: Double) -> Double { log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { cos(x) }
@usableFromInline func _sin(_ x: Double) -> Double { sin(x) }

/// The data order of one epoch: a Fisher–Yates shuffle keyed by (seed, epoch).
public func epochPermutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
    var order = (0..<count).map { Int32($0) }
    var stream = RandomStream(seed: seed, purpose: .dataOrder, epoch: UInt64(epoch))
    var i = count - 1
    while i > 0 {
        let j = stream.nextIndex(below: i + 1)
        order.swapAt(i, j)
        i -= 1
    }
    return order
}
