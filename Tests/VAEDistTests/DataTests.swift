import Foundation
import Testing
import CSHA256
@testable import VAETraining
import VAEModel

/// Big-endian u32 words, as IDX headers store them.
func bigEndian(_ values: [UInt32]) -> [UInt8] {
    values.flatMap { v in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> UInt32($0)) } }
}
