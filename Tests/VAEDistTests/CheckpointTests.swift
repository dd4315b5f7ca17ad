import Foundation
import Testing
@testable import VAETraining
import VAEModel

@Suite struct CheckpointTests {
    static let layout = ParameterLayout(Architecture(encoderHidden: [8], latentSize: 3, decoderHidden: [8]))

    /// Parameters and Adam moments with distinct values, encoded.
    static func sample(step: Int = 7) -> (FlatBuffer, Adam, [UInt8]) {
        let parameters = FlatBuffer(count: layout.count)
        layout.initialize(parameters, seed: 3)
        let adam = Adam(parameterCount: layout.count)
        for i in 0..<layout.count { adam.firstMoment.pointer[i] = Float(i) * 1e-3; adam.secondMoment.pointer[i] = Float(i % 7) }
        adam.step = step
        let metadata = Checkpoint.Metadata(
            position: TrainingPosition(
                globalStep: step, epoch: 1, stepInEpoch: 2, epochTerms: LossTerms(reconstruction: 1.0 / 3, kl: 0.1, samples: 64)),
            adamStep: step, configurationJSON: TrainingConfiguration().trajectoryJSON, dataFingerprint: "abc", worldSize: 1)
        return (parameters, adam, Checkpoint.encode(layout: layout, parameters: parameters, adam: adam, metadata: metadata))
    }

    @Test func roundTripIsExact() throws {
        let (parameters, adam, bytes) = CheckpointTests.sample()
        let p2 = FlatBuffer(count: CheckpointTests.layout.count), a2 = Adam(parameterCount: CheckpointTests.layout.count)
        let metadata = try Checkpoint.decode(bytes, path: "mem", layout: CheckpointTests.layout, parameters: p2, adam: a2)
        #expect(p2.bytes == parameters.bytes)
        #expect(a2.firstMoment.bytes == adam.firstMoment.bytes && a2.secondMoment.bytes == adam.secondMoment.bytes)
        #expect(a2.step == 7)
        #expect(
            metadata.position
                == TrainingPosition(
                    globalStep: 7, epoch: 1, stepInEpoch: 2, epochTerms: LossTerms(reconstruction: 1.0 / 3, kl: 0.1, samples: 64))
        )
    }

    @Test func defaultModelUsesThePyTorchExampleTensorNames() throws {
        let layout = ParameterLayout(.pytorchExample)
        let bytes = Checkpoint.encode(
            layout: layout, parameters: FlatBuffer(count: layout.count), adam: Adam(parameterCount: layout.count),
            metadata: .init(position: .init(), adamStep: 0, configurationJSON: "{}", dataFingerprint: "", worldSize: 1))
        let (entries, _, _) = try Safetensors.decode(bytes, path: "mem")
        let model = entries.filter { !$0.key.hasPrefix("adam.") }.mapValues(\.shape)
        #expect(
            model == [
                "fc1.weight": [400, 784], "fc1.bias": [400], "fc21.weight": [20, 400], "fc21.bias": [20],
                "fc22.weight": [20, 400], "fc22.bias": [20], "fc3.weight": [400, 20], "fc3.bias": [400],
                "fc4.weight": [784, 400], "fc4.bias": [784],
            ])
        #expect(entries["adam.exp_avg_sq.fc4.bias"]?.shape == [784])
    }

    /// Loads `bytes` into fresh buffers that start at a sentinel, expecting failure with `phrase` and untouched buffers.
    func expectRejected(_ bytes: [UInt8], layout: ParameterLayout = CheckpointTests.layout, _ phrase: String) {
        let p = FlatBuffer(count: layout.count), a = Adam(parameterCount: layout.count)
        p.pointer.update(repeating: 42, count: p.count)
        do {
            _ = try Checkpoint.decode(bytes, path: "/runs/x.safetensors", layout: layout, parameters: p, adam: a)
            Issue.record("accepted; expected '\(phrase)'")
        } catch {
            #expect("\(error)".contains(phrase), "'\(error)' lacks '\(phrase)'")
            #expect("\(error)".contains("/runs/x.safetensors"))
        }
        #expect(p.array.allSatisfy { $0 == 42 } && a.step == 0, "a failed load changed the buffers")
    }

    @Test func rejectsCorruptionNonFiniteAndOtherArchitectures() throws {
        let (_, _, bytes) = CheckpointTests.sample()
        let (entries, metadata, start) = try Safetensors.decode(bytes, path: "mem")

        var flipped = bytes
        flipped[start + 100] ^= 0x01
        expectRejected(flipped, "corrupt")

        // A NaN with a matching checksum is still refused, naming the tensor.
        var poisoned = bytes
        let at = start + entries["fc3.bias"]!.range.lowerBound + 4
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { poisoned.replaceSubrange(at..<(at + 4), with: $0) }
        let newSum = SHA256.hash(poisoned[start...]).hexString
        var edited = metadata
        edited["data_sha256"] = newSum
        let text = String(decoding: poisoned[8..<start], as: UTF8.self)
            .replacingOccurrences(of: metadata["data_sha256"]!, with: newSum)
            .replacingOccurrences(of: metadata["metadata_sha256"]!, with: Checkpoint.metadataHash(edited))
        poisoned.replaceSubrange(8..<start, with: Array(text.utf8))
        expectRejected(poisoned, "fc3.bias holds a non-finite value at element 1")

        // Another architecture: the tensor and both shapes are named.
        let wider = ParameterLayout(Architecture(encoderHidden: [9], latentSize: 3, decoderHidden: [8]))
        expectRejected(bytes, layout: wider, "fc1.weight has shape [8, 784] but the model needs [9, 784]")
        let deeper = ParameterLayout(Architecture(encoderHidden: [8, 8], latentSize: 3, decoderHidden: [8]))
        expectRejected(bytes, layout: deeper, "fc2.weight is missing")
        let learned = ParameterLayout(
            Architecture(encoderHidden: [8], latentSize: 3, decoderHidden: [8], likelihood: .gaussian(.learned)))
        expectRejected(bytes, layout: learned, "x_logvar is missing")

        let versioned = String(decoding: bytes[8..<start], as: UTF8.self)
            .replacingOccurrences(of: "\"format_version\":\"1\"", with: "\"format_version\":\"9\"")
        expectRejected(Array(bytes[0..<8]) + Array(versioned.utf8) + Array(bytes[start...]), "format version 9 is not supported")
    }

    @Test func storeWritesAtomicallyPointsLatestAndRotates() throws {
        let folder = Fixtures.temporaryFolder()
        let store = CheckpointStore(directory: folder, keep: 2)
        // A leftover temp file from a killed save is removed at start-up; other files are not.
        _ = FileManager.default.createFile(
            atPath: folder + "/.vae-dist-tmp.checkpoint-step-000000001.safetensors.999", contents: Data([1]))
        _ = FileManager.default.createFile(atPath: folder + "/notes.txt", contents: Data([1]))
        #expect(try store.prepare().removed == [".vae-dist-tmp.checkpoint-step-000000001.safetensors.999"])
        for step in [1, 2, 3] { try store.save([UInt8(step)], step: step) }
        #expect(store.checkpoints() == ["checkpoint-step-000000002.safetensors", "checkpoint-step-000000003.safetensors"])
        #expect(try store.latest() == folder + "/checkpoint-step-000000003.safetensors")
        #expect(FileManager.default.fileExists(atPath: folder + "/notes.txt"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".vae-dist-tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func failedSaveLeavesPreviousCheckpointAndPointer() throws {
        let folder = Fixtures.temporaryFolder()
        let store = CheckpointStore(directory: folder, keep: 3)
        try store.save([1, 2, 3], step: 1)
        // Block the temp file's name with a folder: the write fails like a full or read-only disk would.
        let blocker = folder + "/\(AtomicFile.temporaryPrefix)checkpoint-step-000000002.safetensors.\(AtomicFile.temporarySuffix)"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        #expect(throws: FileError.self) { try store.save([4, 5, 6], step: 2) }
        #expect(try store.latest() == folder + "/checkpoint-step-000000001.safetensors")
        #expect(FileManager.default.contents(atPath: folder + "/checkpoint-step-000000001.safetensors") == Data([1, 2, 3]))
        #expect(!FileManager.default.fileExists(atPath: folder + "/checkpoint-step-000000002.safetensors"))
    }
}
