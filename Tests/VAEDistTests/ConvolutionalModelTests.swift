import CAllocationCounter
import Foundation
import Testing
import VAEDistributed
import VAEModel
@testable import VAETraining

/// A model of layer lists end to end: its configuration (the issue's exact JSON, errors naming the layer), a
/// training step without heap allocations under every exchange, and `exact` bit-identical at 1, 2 and 4 threads.
@Suite struct ConvolutionalModelTests {
    /// A small conv VAE for 28×28 inputs (fast in debug builds).
    static let smallConv = """
        {"model": {"latent_size": 4,
          "encoder": [{"conv2d": {"out": 4, "kernel": 4, "stride": 2, "padding": 1}}, "relu",
                      {"conv2d": {"out": 8, "kernel": 4, "stride": 2, "padding": 1}}, {"group_norm": {"groups": 2}}, "silu",
                      "flatten", {"linear": {"out": 16}}, "relu"],
          "decoder": [{"linear": {"out": 392}}, "relu", {"unflatten": [8, 7, 7]},
                      {"conv_transpose2d": {"out": 4, "kernel": 4, "stride": 2, "padding": 1}}, {"leaky_relu": {"slope": 0.2}},
                      {"conv_transpose2d": {"out": 1, "kernel": 4, "stride": 2, "padding": 1}}]},
         "training": {"batch_size": 32}, "data": {"source": "synthetic"}}
        """

    @Test func theIssuesConfigurationParsesAndHashesItsLayers() throws {
        let config = try TrainingConfiguration.load(path: "Config/mnist-conv.json")
        #expect(config.architecture.inputShape == [1, 28, 28] && !config.architecture.isShorthand)
        #expect(ParameterLayout(config.architecture).count == 945_897)
        let trajectory = config.trajectoryJSON
        #expect(
            trajectory.contains(#""encoder":[{"conv2d":{"kernel":4,"out":32,"padding":1,"stride":2}},"relu""#), "\(trajectory)")
        #expect(!trajectory.contains("encoder_hidden") && !trajectory.contains("\"activation\""), "\(trajectory)")
        // config.json reads back to the same settings and the same hash.
        let again = try TrainingConfiguration.parse(Data(config.resolvedJSON.utf8))
        #expect(again.architecture == config.architecture && again.trajectoryHash == config.trajectoryHash)
        #expect(!config.resolvedJSON.contains("input_size"))
        // The MLP's trajectory is the one it always had (ConfigurationGoldenTests holds its bytes).
        #expect(TrainingConfiguration().trajectoryJSON.contains(#""encoder_hidden":[400]"#))
    }

    @Test(arguments: [
        (#"{"model": {"encoder": ["relu", {"conv3d": {}}], "decoder": ["relu"]}}"#, "model.encoder[1]", "conv3d"),
        (#"{"model": {"encoder": [{"conv2d": {"out": 4}}], "decoder": ["relu"]}}"#, "model.encoder[0].conv2d", "kernel"),
        (
            #"{"model": {"encoder": [{"linear": {"out": 4, "bias": false}}], "decoder": ["relu"]}}"#, "model.encoder[0].linear",
            "bias"
        ),
        (#"{"model": {"encoder": ["flatten"]}}"#, "model.decoder", "together"),
        (
            #"{"model": {"input_shape": [1, 28, 28], "encoder": [{"linear": {"out": 8}}], "decoder": [{"linear": {"out": 784}}]}}"#,
            "model.encoder", "encoder[0] (linear(8)) gets shape [1, 28, 28]"
        ),
        (#"{"model": {"input_shape": [1, 28]}}"#, "model.input_shape", "[C, H, W]"),
    ])
    func badLayersAreNamed(text: String, key: String, phrase: String) {
        #expect {
            try TrainingConfiguration.parse(Data(text.utf8))
        } throws: { error in
            let message = "\(error)"
            return message.contains("'\(key)") && message.contains(phrase)
        }
    }

    @Test(arguments: ExchangeStrategy.allCases)
    func aConvStepAllocatesNothing(exchange: ExchangeStrategy) throws {
        var config = try TrainingConfiguration.parse(Data(Self.smallConv.utf8))
        config.gradientExchange = exchange
        config.runDirectory = Fixtures.temporaryFolder()
        config.blasThreads = 1
        try config.adapt(to: Fixtures.smallData)
        let trainer = try Fixtures.trainer(config)
        let order = epochPermutation(count: Fixtures.smallData.train.count, seed: 1, epoch: 0)
        order.withUnsafeBufferPointer { all in
            _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[0..<32]), epoch: 0)  // warm-up
            let before = vae_thread_allocation_count()
            for s in 1..<4 { _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[(s * 32)..<(s * 32 + 32)]), epoch: 0) }
            #expect(vae_thread_allocation_count() == before, "\(vae_thread_allocation_count() - before) heap allocations")
        }
    }

    /// `exact` on a conv model: the same checkpoint bits at 1, 2 and 4 threads (ranks of one node).
    @Test func exactIsBitIdenticalAtOneTwoAndFourThreads() throws {
        let config = Fixtures.configFile(Self.smallConv, name: "conv")
        var hashes: [String] = []
        for threads in [1, 2, 4] {
            let folder = Fixtures.temporaryFolder("conv-exact-\(threads)")
            let (status, _, err) = try CLITests.run([
                "train", "--config", config, "--max-steps", "3", "--gradient-exchange", "exact", "--micro-batches", "4",
                "--threads", "\(threads)", "--run-dir", folder, "-q",
            ])
            #expect(status == 0, "\(err)")
            hashes.append(try Fixtures.stateHash(folder + "/checkpoint-step-000000003.safetensors"))
        }
        #expect(Set(hashes).count == 1 && !hashes[0].isEmpty, "\(hashes)")
    }

    /// A conv run stopped at step 2 and resumed to 4 equals the uninterrupted run (its layer lists, read back from
    /// the checkpoint's settings, are the same settings); eval and sample take its checkpoint.
    @Test func aConvRunResumesExactlyAndEvaluates() throws {
        let config = Fixtures.configFile(Self.smallConv, name: "conv-resume")
        let straight = Fixtures.temporaryFolder("conv-straight"), split = Fixtures.temporaryFolder("conv-split")
        let common = ["train", "--config", config, "--threads", "1", "--blas-threads", "1", "-q"]
        for (folder, steps) in [(straight, 4), (split, 2)] {
            let (status, _, err) = try CLITests.run(common + ["--run-dir", folder, "--max-steps", "\(steps)"])
            #expect(status == 0, "\(err)")
        }
        let (resumed, _, resumeErr) = try CLITests.run(common + ["--run-dir", split, "--resume", "latest", "--max-steps", "4"])
        #expect(resumed == 0, "\(resumeErr)")
        let last = "/checkpoint-step-000000004.safetensors"
        #expect(try Fixtures.stateHash(straight + last) == Fixtures.stateHash(split + last))
        let (evaluated, json, evalErr) = try CLITests.run([
            "eval", "--checkpoint", straight + last, "--data", "synthetic", "--json", "--importance-samples", "4", "--images",
            "3",
        ])
        #expect(evaluated == 0 && json.contains("\"nll\""), "\(evalErr)")
        let (sampled, _, sampleErr) = try CLITests.run([
            "sample", "--checkpoint", straight + last, "--count", "4", "--out", straight + "/s.png",
        ])
        #expect(sampled == 0 && FileManager.default.fileExists(atPath: straight + "/s.png"), "\(sampleErr)")
    }

    /// Every exchange trains a conv model on 2 threads as one process does: the losses of 4 steps agree to 1e-4.
    @Test func everyExchangeTrainsAConvModelAsOneProcessDoes() throws {
        let config = Fixtures.configFile(Self.smallConv, name: "conv-exchanges")
        func losses(_ flags: [String]) throws -> [Double] {
            let folder = Fixtures.temporaryFolder("conv-exchange")
            let (status, _, err) = try CLITests.run(
                ["train", "--config", config, "--max-steps", "4", "--log-every", "1", "--run-dir", folder, "-q"] + flags)
            #expect(status == 0, "\(flags): \(err)")
            let lines = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            return lines.compactMap { line in
                let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return record?["type"] as? String == "step" ? (record?["loss"] as? NSNumber)?.doubleValue : nil
            }
        }
        let reference = try losses(["--threads", "1", "--blas-threads", "1"])
        #expect(reference.count == 4)
        for exchange in ["allreduce", "allreduce-overlapped", "sharded-adam", "node-shared", "exact"] {
            let theirs = try losses(["--threads", "2", "--gradient-exchange", exchange])
            #expect(theirs.count == reference.count, "\(exchange)")
            for (a, b) in zip(theirs, reference) { expectClose(a, b, relative: 1e-4, absolute: 0, "\(exchange)") }
        }
    }
}

/// Pictures of any shape: a `[3, 8, 6]` RGB conv model (its input shape from an NPY `[N, 3, 8, 6]`) writes RGB
/// reconstruction and sample grids each epoch, and `sample --out` an RGB grid; a model of flat non-picture rows none.
@Suite struct PictureGridTests {
    @Test func anRGBModelWritesRGBGrids() throws {
        let data = Fixtures.temporaryFolder("rgb-data")
        let (n, shape) = (40, [3, 8, 6])
        let values = (0..<(n * 144)).map { UInt8($0 * 37 % 256) }
        try Data(npyFile(descr: "|u1", shape: [n] + shape, data: values)).write(to: URL(fileURLWithPath: data + "/train.npy"))
        try Data(npyFile(descr: "|u1", shape: [16] + shape, data: Array(values.prefix(16 * 144))))
            .write(to: URL(fileURLWithPath: data + "/test.npy"))
        let config = Fixtures.configFile(
            """
            {"model": {"latent_size": 3, "likelihood": "bernoulli",
              "encoder": [{"conv2d": {"out": 4, "kernel": 3, "stride": 2, "padding": 1}}, "relu", "flatten"],
              "decoder": [{"linear": {"out": 48}}, "relu", {"unflatten": [4, 4, 3]},
                          {"conv_transpose2d": {"out": 3, "kernel": 4, "stride": 2, "padding": 1}}]},
             "training": {"batch_size": 8, "epochs": 1}}
            """, name: "rgb")
        let run = Fixtures.temporaryFolder("rgb-run")
        let (status, _, err) = try CLITests.run([
            "train", "--config", config, "--data", data, "--run-dir", run, "--threads", "1", "-q",
        ])
        #expect(status == 0, "\(err)")
        let grid = try Data(contentsOf: URL(fileURLWithPath: run + "/reconstructions-1.png"))
        // The PNG header's IHDR: width, height, bit depth 8, colour type 2 (RGB).
        let header = [UInt8](grid.prefix(26))
        let width = header[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = header[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 8 * 7 - 1 && height == 2 * 9 - 1 && header[24] == 8 && header[25] == 2, "\(header)")
        let checkpoint = run + "/checkpoint-step-000000005.safetensors"
        let (sampled, _, sampleErr) = try CLITests.run([
            "sample", "--checkpoint", checkpoint, "--count", "4", "--out", run + "/s.png",
        ])
        #expect(sampled == 0, "\(sampleErr)")
        let sample = [UInt8](try Data(contentsOf: URL(fileURLWithPath: run + "/s.png")).prefix(26))
        #expect(sample[25] == 2 && sample[16..<20].reduce(0) { $0 << 8 | Int($1) } == 2 * 7 - 1, "\(sample)")
        // A folder of pictures: one PNG per sample, 6×8 RGB each; an existing one is replaced only with --force.
        let (folder, _, folderErr) = try CLITests.run([
            "sample", "--checkpoint", checkpoint, "--count", "3", "--out-folder", run + "/samples",
        ])
        #expect(folder == 0, "\(folderErr)")
        let one = [UInt8](try Data(contentsOf: URL(fileURLWithPath: run + "/samples/sample-0002.png")).prefix(26))
        #expect(one[25] == 2 && one[16..<20].reduce(0) { $0 << 8 | Int($1) } == 6, "\(one)")
        let (again, _, againErr) = try CLITests.run([
            "sample", "--checkpoint", checkpoint, "--count", "3", "--out-folder", run + "/samples",
        ])
        #expect(again != 0 && againErr.contains("--force"), "\(againErr)")
    }
}

/// Arrays in the layouts people have: the same pictures as NPY `[N, H, W, C]` and `[N, C, H, W]` train a conv model
/// to the same bits; an undecidable shape asks for `data.layout`; seeded flips keep `exact`'s bits at any thread count.
@Suite struct ImageLayoutTests {
    static let (count, channels, height, width) = (48, 3, 8, 6)

    /// The pictures (deterministic values) written channels-first and channels-last into two folders.
    static func folders() throws -> (nchw: String, nhwc: String) {
        let (n, c, h, w) = (count, channels, height, width)
        var first = [UInt8](repeating: 0, count: n * c * h * w), last = first
        for s in 0..<n {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let value = UInt8((s * 31 + ch * 85 + y * 17 + x * 29 + (x * y) % 7) % 256)
                        first[((s * c + ch) * h + y) * w + x] = value
                        last[((s * h + y) * w + x) * c + ch] = value
                    }
                }
            }
        }
        let nchw = Fixtures.temporaryFolder("nchw"), nhwc = Fixtures.temporaryFolder("nhwc")
        for (folder, data, shape) in [(nchw, first, [c, h, w]), (nhwc, last, [h, w, c])] {
            try Data(npyFile(descr: "|u1", shape: [n] + shape, data: data)).write(to: URL(fileURLWithPath: folder + "/train.npy"))
            try Data(npyFile(descr: "|u1", shape: [16] + shape, data: Array(data.prefix(16 * c * h * w))))
                .write(to: URL(fileURLWithPath: folder + "/test.npy"))
        }
        return (nchw, nhwc)
    }

    static let model = """
        {"model": {"latent_size": 3, "likelihood": "discretized_logistic",
          "encoder": [{"conv2d": {"out": 4, "kernel": 3, "stride": 2, "padding": 1}}, "relu", "flatten"],
          "decoder": [{"linear": {"out": 48}}, "relu", {"unflatten": [4, 4, 3]},
                      {"conv_transpose2d": {"out": 3, "kernel": 4, "stride": 2, "padding": 1}}]},
         "training": {"batch_size": 16, "epochs": 1}}
        """

    static func train(_ data: String, _ extra: [String] = [], name: String) throws -> String {
        let run = Fixtures.temporaryFolder(name)
        let (status, _, err) = try CLITests.run(
            ["train", "--config", Fixtures.configFile(model, name: name), "--data", data, "--run-dir", run, "-q"] + extra)
        #expect(status == 0, "\(err)")
        return run + "/checkpoint-step-000000003.safetensors"
    }

    @Test func bothLayoutsTrainToTheSameBits() throws {
        let (nchw, nhwc) = try Self.folders()
        let a = try Self.train(nchw, ["--threads", "1", "--blas-threads", "1"], name: "layout-first")
        let b = try Self.train(nhwc, ["--threads", "1", "--blas-threads", "1"], name: "layout-last")
        #expect(try Fixtures.stateHash(a) == Fixtures.stateHash(b))
        // Saying the layout the shape already shows changes nothing.
        let c = try Self.train(nhwc, ["--threads", "1", "--blas-threads", "1", "--set", "data.layout=nhwc"], name: "layout-said")
        #expect(try Fixtures.stateHash(c) == Fixtures.stateHash(b))
    }

    @Test func anUndecidableShapeAsksForTheLayout() throws {
        let data = Fixtures.temporaryFolder("cube")
        try Data(npyFile(descr: "|u1", shape: [8, 3, 3, 3], data: (0..<216).map { UInt8($0) }))
            .write(to: URL(fileURLWithPath: data + "/train.npy"))
        let config = Fixtures.configFile(
            #"{"model": {"latent_size": 2, "encoder": ["flatten"], "decoder": [{"linear": {"out": 27}}]}}"#, name: "cube")
        let (status, _, err) = try CLITests.run(["train", "--config", config, "--data", data, "--max-steps", "1", "-q"])
        #expect(status != 0 && err.contains("data.layout") && err.contains("nhwc"), "\(err)")
    }

    @Test func flipsKeepExactsBitsAtAnyThreadCount() throws {
        let (_, nhwc) = try Self.folders()
        let flags = ["--gradient-exchange", "exact", "--micro-batches", "4", "--set", "data.flip=true"]
        let one = try Self.train(nhwc, flags + ["--threads", "1", "--blas-threads", "1"], name: "flip-1")
        let four = try Self.train(nhwc, flags + ["--threads", "4"], name: "flip-4")
        #expect(try Fixtures.stateHash(one) == Fixtures.stateHash(four))
        let unflipped = try Self.train(
            nhwc, ["--gradient-exchange", "exact", "--micro-batches", "4", "--threads", "4"], name: "flip-off")
        #expect(try Fixtures.stateHash(unflipped) != Fixtures.stateHash(four), "the flips change the run")
    }
}
