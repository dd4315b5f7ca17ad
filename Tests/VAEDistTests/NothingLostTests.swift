import Foundation
import Testing
@testable import VAETraining

/// Issue 24's data-loss defects, each as the careless or hostile user met it: a writer replacing a checkpoint, a
/// run folder's file or its own input; the run lock writing through a hard link; csv-to-npy destroying its CSV, leaving
/// a partial NPY, or ending in a traceback. Each of these tests failed on the code before the fix.
@Suite struct NothingLostTests {
    /// A trained run folder (one step of a tiny model) and its checkpoint.
    static func run(_ name: String) throws -> (folder: String, checkpoint: String) {
        let folder = Fixtures.temporaryFolder(name)
        let (status, _, err) = try CLITests.run(
            ["train", "--config", HostileUseTests.tinyConfig, "--max-steps", "1", "--threads", "1", "--run-dir", folder, "-q"])
        #expect(status == 0, "\(err)")
        return (folder, folder + "/checkpoint-step-000000001.safetensors")
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test func exportAndSampleNeverReplaceACheckpointARunFileOrTheirInput() throws {
        let (folder, checkpoint) = try Self.run("writers")
        let other = try Self.run("writers-other")
        let outside = Fixtures.temporaryFolder("writers-outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let protected = [
            checkpoint, other.checkpoint, folder + "/latest", folder + "/config.json", folder + "/run.json",
            folder + "/metrics.jsonl",
        ]
        let before = protected.map(Self.bytes)
        for target in protected {
            for command in [
                ["export", checkpoint, "--out", target],
                ["sample", "--checkpoint", checkpoint, "--raw-out", target, "--count", "2"],
            ] {
                // Not even with --force.
                for force in [[], ["--force"]] {
                    let (status, _, err) = try CLITests.run(command + force)
                    #expect(status != 0 && err.contains("error: not writing \(target)"), "\(command + force): \(err)")
                }
            }
        }
        #expect(protected.map(Self.bytes) == before, "a protected file changed")
        // A symlink to the input is still the input.
        let link = outside + "/link.safetensors"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: checkpoint)
        let (linked, _, linkedErr) = try CLITests.run(["export", link, "--out", checkpoint, "--force"])
        #expect(linked != 0 && linkedErr.contains("this command's input"), "\(linkedErr)")
        // Any other existing file: only with --force. A new path: written.
        let plain = outside + "/notes.txt"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: plain))
        let (refused, _, refusedErr) = try CLITests.run(["export", checkpoint, "--out", plain])
        #expect(refused != 0 && refusedErr.contains("give --force") && Self.bytes(plain) == Data("keep me".utf8), "\(refusedErr)")
        let (forced, _, forcedErr) = try CLITests.run(["export", checkpoint, "--out", plain, "--force", "-q"])
        #expect(forced == 0 && Self.bytes(plain) != Data("keep me".utf8), "\(forcedErr)")
        let (fresh, _, freshErr) = try CLITests.run([
            "sample", "--checkpoint", checkpoint, "--raw-out", outside + "/new.bin", "--count", "2",
        ])
        #expect(fresh == 0 && Self.bytes(outside + "/new.bin")?.isEmpty == false, "\(freshErr)")
        // One file for both of sample's outputs: refused before anything is written.
        let both = outside + "/both.png"
        let (same, _, sameErr) = try CLITests.run(["sample", "--checkpoint", checkpoint, "--out", both, "--raw-out", both])
        #expect(same != 0 && sameErr.contains("--out and --raw-out name the same file") && Self.bytes(both) == nil, "\(sameErr)")
    }

    @Test func theRunLockNeverWritesThroughAHardLink() throws {
        let folder = Fixtures.temporaryFolder("hardlink-lock")
        let outside = Fixtures.temporaryFolder("hardlink-target")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let precious = outside + "/precious.txt"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: precious))
        try FileManager.default.linkItem(atPath: precious, toPath: folder + "/" + RunLock.fileName)
        let (status, _, err) = try CLITests.run(
            ["train", "--config", HostileUseTests.tinyConfig, "--max-steps", "1", "--threads", "1", "--run-dir", folder])
        #expect(status != 0 && err.contains("not vae-dist's own lock file"), "\(err)")
        #expect(Self.bytes(precious) == Data("precious".utf8), "the lock wrote into another file")
    }

    /// csv-to-npy.py through the tests' Python; returns (status, output).
    static func convert(_ arguments: [String], limitKilobytes: Int? = nil) throws -> (Int32, String) {
        guard let limitKilobytes else { return try CLITests.python(["Launch/csv-to-npy.py"] + arguments) }
        let command = "ulimit -f \(limitKilobytes); exec \"$@\""
        let (status, out, _) = try TestProcess.run(
            "/bin/bash", ["-c", command, "bash"] + CLITests.pythonInterpreter + ["Launch/csv-to-npy.py"] + arguments,
            combined: true)
        return (status, out)
    }

    @Test func csvToNPYNeverDestroysItsInputNorLeavesAPartialFile() throws {
        let folder = Fixtures.temporaryFolder("csv-safety")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let csv = folder + "/d.csv"
        let text = "a,b\n" + (0..<3000).map { "\($0),\($0 * 2)" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: csv))
        let (same, sameOut) = try Self.convert([csv, csv])
        #expect(same != 0 && sameOut.contains("is the input CSV") && Self.bytes(csv) == Data(text.utf8), "\(sameOut)")
        // A write that fails part-way (a 4 KB file-size limit: EFBIG, as a full disk) leaves no NPY and no temp file.
        let (full, fullOut) = try Self.convert([csv, folder + "/d.npy"], limitKilobytes: 4)
        #expect(full != 0 && fullOut.hasPrefix("csv-to-npy: ") && !fullOut.contains("Traceback"), "\(fullOut)")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(left == ["d.csv"], "left behind: \(left)")
        // An existing output only with --force.
        let (made, madeOut) = try Self.convert([csv, folder + "/d.npy"])
        #expect(made == 0, "\(madeOut)")
        let (again, againOut) = try Self.convert([csv, folder + "/d.npy"])
        #expect(again != 0 && againOut.contains("give --force"), "\(againOut)")
        let (forced, forcedOut) = try Self.convert([csv, folder + "/d.npy", "--force"])
        #expect(forced == 0, "\(forcedOut)")
    }

    @Test(arguments: [
        ("latin1", Data([0x31, 0x2c, 0x32, 0x0a, 0xff, 0xfe, 0x2c, 0x33, 0x0a]), [] as [String], "not UTF-8"),
        ("field", Data(("1," + String(repeating: "9", count: 140_000) + "\n").utf8), [], "field larger than field limit"),
        ("nan", Data("1,2\n3,nan\n".utf8), [], "not a finite number"),
        ("inf", Data("1,inf\n".utf8), [], "not a finite number"),
        ("float32", Data("1,1e39\n".utf8), [], "does not fit a float32"),
        ("columns", Data("1,2,3\n4,5,6\n".utf8), ["--columns", "5:"], "keeps none of its 3 columns"),
    ])
    func csvToNPYRefusesBadInputInOneLine(name: String, content: Data, extra: [String], phrase: String) throws {
        let folder = Fixtures.temporaryFolder("csv-\(name)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try content.write(to: URL(fileURLWithPath: folder + "/in.csv"))
        let (status, output) = try Self.convert([folder + "/in.csv", folder + "/out.npy"] + extra)
        let lines = output.split(separator: "\n")
        #expect(status != 0 && lines.count == 1 && output.contains(phrase) && !output.contains("Traceback"), "\(output)")
        #expect(Self.bytes(folder + "/out.npy") == nil)
    }

    @Test(arguments: ["/nonexistent-folder/out.npy", "/dev/full"])
    func csvToNPYNamesAnUnwritableOutputInOneLine(output path: String) throws {
        let folder = Fixtures.temporaryFolder("csv-unwritable")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("1,2\n".utf8).write(to: URL(fileURLWithPath: folder + "/in.csv"))
        let (status, output) = try Self.convert([folder + "/in.csv", path, "--force"])
        #expect(
            status != 0 && output.split(separator: "\n").count == 1 && output.contains(path) && !output.contains("Traceback"),
            "\(output)")
    }
}
