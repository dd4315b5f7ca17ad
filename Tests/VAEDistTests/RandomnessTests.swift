import Foundation
import Testing
import CSHA256
@testable import VAETraining
import VAEModel

@Suite struct RandomnessTests {
    @Test func sameSampleGetsSameNoiseWhateverItsBatch() {
        let data = Fixtures.smallData
        let filler = BatchFiller(seed: 1, binarization: .dynamic)
        let width = 784, latent = 4
        var inputA = [Float](repeating: 0, count: 3 * width), epsA = [Float](repeating: 0, count: 3 * latent)
        var inputB = [Float](repeating: 0, count: 2 * width), epsB = [Float](repeating: 0, count: 2 * latent)
        let batchA: [Int32] = [5, 42, 17], batchB: [Int32] = [17, 99]
        batchA.withUnsafeBufferPointer {
            filler.fill(
                input: &inputA, epsilon: &epsA, latentSize: latent, dataset: data.train, indices: $0, epoch: 3, evaluation: false)
        }
        batchB.withUnsafeBufferPointer {
            filler.fill(
                input: &inputB, epsilon: &epsB, latentSize: latent, dataset: data.train, indices: $0, epoch: 3, evaluation: false)
        }
        // Sample 17 is row 2 of A and row 0 of B.
        #expect(Array(inputA[(2 * width)..<(3 * width)]) == Array(inputB[0..<width]))
        #expect(Array(epsA[(2 * latent)..<(3 * latent)]) == Array(epsB[0..<latent]))
        #expect(Set(inputA).isSubset(of: [0, 1]), "dynamic binarization gives 0/1")
        // Another epoch draws anew.
        var inputC = [Float](repeating: 0, count: 2 * width), epsC = [Float](repeating: 0, count: 2 * latent)
        batchB.withUnsafeBufferPointer {
            filler.fill(
                input: &inputC, epsilon: &epsC, latentSize: latent, dataset: data.train, indices: $0, epoch: 4, evaluation: false)
        }
        #expect(inputC != inputB)
        #expect(epsC != epsB)
    }

    @Test func epochOrderIsAPermutationKeyedBySeedAndEpoch() {
        let a = epochPermutation(count: 1000, seed: 1, epoch: 0)
        #expect(a.sorted() == (0..<1000).map { Int32($0) })
        #expect(a == epochPermutation(count: 1000, seed: 1, epoch: 0))
        #expect(a != epochPermutation(count: 1000, seed: 1, epoch: 1))
        #expect(a != epochPermutation(count: 1000, seed: 2, epoch: 0))
    }

    @Test func normalDrawsHaveUnitMoments() {
        var stream = RandomStream(seed: 9, purpose: .prior)
        var values = [Float](repeating: 0, count: 100_001)
        stream.fillStandardNormal(&values, count: values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let variance = values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(values.count) - mean * mean
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.02, "mean \(mean) variance \(variance)")
    }
}
