import Foundation
import Testing
@testable import VAEDistributed
import VAEModel
@testable import VAETraining

/// The cross-node hop in bfloat16 with error feedback (``CompressedCrossNodeSum``).
@Suite struct CrossNodeCompressionTests {
    /// Two "nodes" as seen from node 0: the gather returns this node's message and a fixed message of the other.
    final class TwoNodes: NodeSharedMemory {
        let other: [UInt16]
        init(other: [UInt16]) { self.other = other }
        func segment(of localRank: Int) -> UnsafeMutableRawPointer { fatalError("not used") }
        func synchronizeNode() {}
        func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>) {}
        func allGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
            receive.baseAddress!.copyMemory(from: send.baseAddress!, byteCount: send.count)
            other.withUnsafeBytes { (receive.baseAddress! + send.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    @Test func bfloatRoundsToNearestEven() {
        typealias C = CompressedCrossNodeSum
        #expect(C.bfloat(1) == 0x3F80 && C.float(0x3F80) == 1)
        #expect(C.bfloat(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // a tie rounds to the even 0x3F80
        #expect(C.bfloat(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // and to the even 0x3F82
        #expect(C.bfloat(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(C.float(C.bfloat(-3.5)) == -3.5 && C.bfloat(.nan) & 0x7FC0 == 0x7FC0)
        for x: Float in [1e-3, 123.456, -9876.5, 3e30] {
            #expect(abs(C.float(C.bfloat(x)) - x) <= abs(x) * 0x1p-8)
        }
    }

    @Test func theSumIsTheNodesMessagesAndTheRoundingIsSentLater() {
        let g: Float = 1.0 + 0x1p-10  // not a bfloat: each message rounds it
        let sum = CompressedCrossNodeSum(count: 1, nodeCount: 2)
        let memory = TwoNodes(other: [CompressedCrossNodeSum.bfloat(2)])
        var applied: Double = 0
        for _ in 0..<256 {
            var shard: [Float] = [g]
            shard.withUnsafeMutableBufferPointer { sum.sum($0.baseAddress!, memory: memory) }
            // The other node sent exactly 2; this node's message is bf16(g + e).
            #expect(shard[0] - 2 == 1 || shard[0] - 2 == Float(bitPattern: 0x3F81_0000))
            applied += Double(shard[0] - 2)
        }
        // Without feedback every message would be 1 (g rounded down); with it the mean is g to the bf16 step / 256.
        #expect(abs(applied / 256 - Double(g)) < 0x1p-7 / 256 + 1e-9, "\(applied / 256)")
        #expect(abs(sum.residual[0]) <= 0x1p-8)
    }
}
