import Foundation
import VAEModel
import VAETraining

// The checkpoint reader and the NPY header parser under coverage-guided fuzzing (libFuzzer). Built by
// Launch/fuzz.sh with `-sanitize=fuzzer -D FUZZING`, this file is libFuzzer's target (VAE_DIST_FUZZ_TARGET picks
// the reader: checkpoint or npy); in a normal build it is a replay tool: `vae-dist-fuzz [--npy] FILE…` runs each
// file through the reader and prints what it said.

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

/// Runs one input through the NPY header parser, as a whole file and as the start of a longer (or compressed)
/// one. Returns the error, if any.
func readNPYHeader(_ bytes: [UInt8]) -> String {
    var said: [String] = []
    for fileSize in [bytes.count, nil] as [Int?] {
        do {
            let header = try bytes.withUnsafeBytes { try NPYReader.header($0, fileSize: fileSize, path: "fuzz-input") }
            precondition(header.dataOffset <= bytes.count && header.dataBytes >= 0, "a header past its own bytes: \(header)")
            said.append("accepted (\(header.type), shape \(header.shape))")
        } catch {
            let message = "\(error)"
            precondition(message.contains("fuzz-input"), "an error that does not name the file: \(message)")
            said.append(message)
        }
    }
    return said.joined(separator: " / ")
}

#if FUZZING
    let fuzzNPY = ProcessInfo.processInfo.environment["VAE_DIST_FUZZ_TARGET"] == "npy"

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        let bytes = Array(UnsafeBufferPointer(start: data, count: size))
        _ = fuzzNPY ? readNPYHeader(bytes) : readCheckpoint(bytes)
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point under this name; hand control to libFuzzer's driver.
    @_cdecl("vae_dist_fuzz_main")
    public func fuzzEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzReader(data, size) }
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
            let npy = files.first == "--npy"
            for file in files.dropFirst(npy ? 1 : 0) {
                let bytes = FileManager.default.contents(atPath: file).map { [UInt8]($0) } ?? []
                print("\(file): \(npy ? readNPYHeader(bytes) : readCheckpoint(bytes))")
            }
        }
    }
#endif
