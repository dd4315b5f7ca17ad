import Foundation
import Testing
@testable import VAETraining
import VAEModel

/// The CLI on NPY data made by Launch/make-example-data.py (numpy.save): images of another size, and tabular
/// float data with the Gaussian likelihood; Bernoulli on that float data is refused with what to do.
@Suite struct OwnDataTests {
    @Test func trainsOnNPYImagesAndTabularFloats() throws {
        let root = Fixtures.temporaryFolder()
        for kind in ["images32", "tabular"] {
            let (code, output) = try CLITests.python(["Launch/make-example-data.py", kind, root + "/" + kind])
            #expect(code == 0, "\(output)")
        }
        let (status, out, err) = try CLITests.run([
            "train", "--data", root + "/images32", "--epochs", "1", "--batch-size", "100", "--blas-threads", "1",
            "--run-dir", root + "/run-images",
        ])
        #expect(
            status == 0 && out.contains("1024–400–20–400–1024 relu bernoulli") && out.contains("====> Test set loss"),
            "\(out)\(err)")
        let config = root + "/tabular.json"
        try #"{"model": {"encoder_hidden": [64], "latent_size": 5, "decoder_hidden": [64], "likelihood": "gaussian"}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (tabular, tabularOut, tabularErr) = try CLITests.run([
            "train", "--config", config, "--data", root + "/tabular", "--epochs", "2", "--batch-size", "100",
            "--blas-threads", "1", "--run-dir", root + "/run-tabular",
        ])
        #expect(
            tabular == 0 && tabularOut.contains("50–64–5–64–50 relu gaussian (learned variance)"), "\(tabularOut)\(tabularErr)")
        let losses = tabularOut.split(separator: "\n").filter { $0.contains("====> Test set loss") }
            .compactMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        #expect(losses.count == 2 && losses[1] < losses[0], "the test loss falls: \(losses)")
        let (bernoulli, _, bernoulliErr) = try CLITests.run([
            "train", "--data", root + "/tabular", "--epochs", "1", "--run-dir", root + "/run-bernoulli",
        ])
        #expect(
            bernoulli == 1 && bernoulliErr.contains("outside [0, 1]") && bernoulliErr.contains("model.likelihood gaussian"),
            "\(bernoulliErr)")
    }
}
