import Foundation
import VAEModel
import VAETraining

// The checkpoint reader under coverage-guided fuzzing (libFuzzer). Built by Launch/fuzz-checkpoint.sh with
// `-sanitize=fuzzer -D FUZZING`, this file is libFuzzer's target; in a normal build it is a replay tool:
// `vae-dist-fuzz-checkpoint FILE…` runs each file through the reader and prints what it said.

/// A small model: the reader's checks all run, and each input costs microseconds.
let fuzzLayout = ParameterLayout(Architecture(inputSize: 6, encoderHidden: [5], latentSize: 2, decoderHidden: [5]))
let fuzzParameters = FlatBuffer(count: fuzzLayout.count)
let fuzzAdam = Adam(parameterCount: fuzzLayout.count)

/// Runs one input through the safetensors parser and the checkpoint loader. Returns the error, if any.
func readCheckpoint(_ bytes: [UInt8]) -> String {
    do {
        let metadata = try Checkpoint.decode(
            bytes, path: "fuzz-input", layout: fuzzLayout, parameters: fuzzParameters, adam: fuzzAdam)
        return "accepted (step \(metadata.position.globalStep))"
    } catch {
        let message = "\(error)"
        precondition(message.contains("fuzz-input"), "an error that does not name the file: \(message)")
        return message
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzCheckpointReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        _ = readCheckpoint(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point under this name; hand control to libFuzzer's driver.
    @_cdecl("vae_dist_fuzz_checkpoint_main")
    public func fuzzEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzCheckpointReader(data, size) }
    }
#else
    @main
    struct ReplayCheckpointInputs {
        static func main() {
            let files = CommandLine.arguments.dropFirst()
            if files.first == "--write-seed" {
                // A valid checkpoint of the fuzz layout, to seed the corpus.
                fuzzLayout.initialize(fuzzParameters, seed: 1)
                let bytes = Checkpoint.encode(
                    layout: fuzzLayout, parameters: fuzzParameters, adam: fuzzAdam,
                    metadata: .init(
                        position: TrainingPosition(globalStep: 3), adamStep: 3,
                        configurationJSON: TrainingConfiguration().trajectoryJSON,
                        dataFingerprint: "seed", worldSize: 1))
                _ = FileManager.default.createFile(
                    atPath: String(files.dropFirst().first ?? "seed.safetensors"), contents: Data(bytes))
                return
            }
            for file in files {
                let bytes = FileManager.default.contents(atPath: file).map { [UInt8]($0) } ?? []
                print("\(file): \(readCheckpoint(bytes))")
            }
        }
    }
#endif
