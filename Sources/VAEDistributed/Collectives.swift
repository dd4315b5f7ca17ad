/// A failure that every rank has agreed on, so every rank can stop cleanly with no one left waiting.
public struct CollectiveFailure: Error, CustomStringConvertible {
    /// The ranks on which the failure happened.
    public let failedRanks: [Int]
    /// This rank's own error, when it is one of `failedRanks`.
    public let local: Error?
    /// A job-wide explanation (e.g. which ranks disagree), when there is one.
    public let summary: String?

    public init(failedRanks: [Int], local: Error?, summary: String?) {
        self.failedRanks = failedRanks
        self.local = local
        self.summary = summary
    }

    public var description: String {
        if let local { return "\(local)" }
        if let summary { return summary }
        return
            "stopping: rank\(failedRanks.count == 1 ? "" : "s") \(failedRanks.map(String.init).joined(separator: ", ")) failed (see \(failedRanks.count == 1 ? "its" : "their") message)"
    }
}

extension Communicator {
    /// Whether this rank logs, writes metrics and checkpoints.
    public var isLeader: Bool { rank == 0 }

    /// In-place sum over all ranks.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { allReduce(buffer, .sum) }
    /// In-place sum over all ranks.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { allReduce(buffer, .sum) }

    /// Every rank's `value`, indexed by rank (an all-gather built from an exact integer sum).
    public func gather(_ value: Int64) -> [Int64] {
        var values = [Int64](repeating: 0, count: size)
        values[rank] = value
        values.withUnsafeMutableBufferPointer { allReduce($0, .sum) }
        return values
    }

    /// Runs `body` on every rank and agrees on the outcome: if it threw on any rank, every rank throws a
    /// ``CollectiveFailure`` naming the failed ranks (carrying its own error where it failed), so an error that
    /// only some ranks see never leaves the others waiting in a collective.
    public func agree<T>(_ body: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        if case .failure(let error) = result, error is CollectiveFailure { throw error }  // already agreed
        if size == 1 {
            if case .failure(let error) = result { throw CollectiveFailure(failedRanks: [0], local: error, summary: nil) }
        }
        var failed: Int64 = 0
        if case .failure = result { failed = 1 }
        let flags = gather(failed)
        let failedRanks = flags.indices.filter { flags[$0] != 0 }
        guard failedRanks.isEmpty else {
            var local: Error?
            if case .failure(let error) = result { local = error }
            throw CollectiveFailure(failedRanks: failedRanks, local: local, summary: nil)
        }
        return try result.get()
    }

    /// Stops every rank with a message naming the ranks whose `value` differs from rank 0's.
    public func requireSame(_ value: Int64, what: String, hint: String) throws {
        guard size > 1 else { return }
        let values = gather(value)
        let differing = values.indices.filter { values[$0] != values[0] }
        guard differing.isEmpty else {
            let names = differing.map { "rank \($0) (\(values[$0]))" }.joined(separator: ", ")
            throw CollectiveFailure(
                failedRanks: differing, local: nil,
                summary: "\(what) differs across ranks: rank 0 has \(values[0]), \(names). \(hint)")
        }
    }

    /// Broadcasts a byte array from `root` (which passes it; the others pass nil), length first.
    public func broadcast(bytes: [UInt8]?, root: Int = 0) -> [UInt8] {
        var length: [Int64] = [Int64(bytes?.count ?? 0)]
        length.withUnsafeMutableBytes { broadcast($0, root: root) }
        var out = rank == root ? bytes! : [UInt8](repeating: 0, count: Int(length[0]))
        out.withUnsafeMutableBytes { broadcast($0, root: root) }
        return out
    }
}
