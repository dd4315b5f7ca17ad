import Foundation
import Testing
@testable import VAETraining
import VAEDistributed

/// A data set split into 4 NPY shards trains under `mpirun -n 4` as the one file does in one process: bit for bit
/// with the exact exchange, to float tolerance with the all-reduce (Launch/make-example-data.py's tabular data,
/// Gaussian likelihood, standardized).
@Suite(.serialized) struct ShardedDataTests {
    @Test func fourShardsAtFourRanksTrainLikeOneFileInOneProcess() throws {
        let root = Fixtures.temporaryFolder("shards", created: false)
        for kind in ["tabular", "tabular-shards"] {
            let (code, output) = try CLITests.python(["Launch/make-example-data.py", kind, root + "/" + kind])
            #expect(code == 0, "\(output)")
        }
        let cli = MPITests.binary("vae-dist")
        let common = [
            "--likelihood", "gaussian", "--standardize", "--batch-size", "128", "--max-steps", "6", "--blas-threads", "1",
            "--log-every", "1",
        ]
        func run(ranks: Int?, data: String, exchange: String, folder: String) throws -> LoadedModel {
            let args = common + ["--data", root + "/" + data, "--gradient-exchange", exchange, "--run-dir", root + "/" + folder]
            if let ranks {
                let (status, output, _) = try MPITests.mpirun(["-n", "\(ranks)", "--", cli] + args)
                #expect(status == 0 && output.contains("4000 train / 800 test samples"), "\(output)")
            } else {
                let (status, out, err) = try CLITests.run(args)
                #expect(status == 0, "\(out)\(err)")
            }
            return try LoadedModel.load(
                checkpoint: root + "/" + folder + "/" + CheckpointStore.fileName(step: 6),
                communicator: SingleProcessCommunicator())
        }
        func values(_ model: LoadedModel) -> [Float] {
            Array(UnsafeBufferPointer(start: model.model.parameters.pointer, count: model.model.layout.count))
        }
        let oneFile = try run(ranks: nil, data: "tabular", exchange: "exact", folder: "exact-1")
        let shards = try run(ranks: 4, data: "tabular-shards", exchange: "exact", folder: "exact-4")
        #expect(oneFile.metadata.standardization != nil && shards.metadata.standardization == oneFile.metadata.standardization)
        #expect(values(shards) == values(oneFile), "exact: 4 shards at -n 4 differ from one file in one process")
        #expect(
            try Fixtures.stateHash(root + "/exact-4/" + CheckpointStore.fileName(step: 6))
                == (try Fixtures.stateHash(root + "/exact-1/" + CheckpointStore.fileName(step: 6))))

        let fastOne = values(try run(ranks: nil, data: "tabular", exchange: "allreduce", folder: "fast-1"))
        let fastShards = values(try run(ranks: 4, data: "tabular-shards", exchange: "allreduce", folder: "fast-4"))
        let scale = fastOne.map(abs).max()!
        let worst = zip(fastOne, fastShards).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "allreduce: largest parameter difference \(worst) (scale \(scale))")
    }
}
