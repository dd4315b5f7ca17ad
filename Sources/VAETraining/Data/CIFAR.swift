import Foundation

/// CIFAR-10's binary batches (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`), read directly: each file
/// whole records of 3,073 bytes — a label byte (0–9), then the red, green and blue planes of a 32×32 picture, each
/// row-major (channels-first) — read into memory without the label bytes (150 MB for the 50,000 training pictures;
/// the labels kept), as `[3, 32, 32]` pictures of bytes. The Python version's pickles are refused with a hint.
enum CIFARReader {
    static let recordBytes = 3073, pictureBytes = 3072

    /// Whether `name` is one of CIFAR-10's binary batch files.
    static func isBatch(_ name: String) -> Bool {
        let last = (name as NSString).lastPathComponent
        return last.hasSuffix(".bin") && (last.hasPrefix("data_batch_") || last == "test_batch.bin")
    }

    /// The pictures of `paths` (batch files, in order) as one data set.
    static func readDataset(paths: [String]) throws -> ImageDataset {
        var total = 0
        for path in paths {
            let file = try DataFile(path: path)
            guard !file.compressed else {
                throw DataError.unreadable(path: path, reason: "is compressed; gunzip it (a CIFAR batch is read as it is stored)")
            }
            guard file.size > 0, file.size % recordBytes == 0 else {
                throw DataError.unreadable(
                    path: path,
                    reason:
                        "has \(file.size) bytes, not whole CIFAR-10 records of 3,073 (a label byte and a 3×32×32 picture); the Python version's pickles are not read: use the binary version (cifar-10-binary.tar.gz)"
                )
            }
            total += file.size / recordBytes
        }
        guard total * pictureBytes <= MachineMemory.bytes / 2 else {
            throw DataError.unreadable(path: paths[0], reason: "\(total) pictures do not fit in half this machine's memory")
        }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(total * pictureBytes, 1), alignment: 64)
        var labels = [UInt8](repeating: 0, count: total)
        var next = 0
        for path in paths {
            let file = try DataFile(path: path)
            let bytes = try file.prefix(file.size)
            guard bytes.count == file.size else {
                memory.deallocate()
                throw DataError.truncated(path: path, expectedBytes: file.size, actualBytes: bytes.count)
            }
            bytes.withUnsafeBytes { raw in
                for record in 0..<(bytes.count / recordBytes) {
                    labels[next] = raw[record * recordBytes]
                    (memory + next * pictureBytes).copyMemory(
                        from: raw.baseAddress! + record * recordBytes + 1, byteCount: pictureBytes)
                    next += 1
                }
            }
        }
        if let bad = labels.firstIndex(where: { $0 > 9 }) {
            memory.deallocate()
            throw DataError.unreadable(path: paths[0], reason: "record \(bad) has the label \(labels[bad]); CIFAR-10's are 0–9")
        }
        let storage = SampleStorage(owning: memory, type: .uint8, valuesPerSample: pictureBytes, count: total)
        return ImageDataset(
            storage: storage, rows: 32, columns: 96, labels: labels, sampleShape: [3, 32, 32], storedDimensions: [3, 32, 32])
    }

    /// A folder holding CIFAR-10's batches: the training set from `data_batch_*.bin` (in name order), the test set
    /// from `test_batch.bin` when present.
    static func splits(folder: String) throws -> DataSplits? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        let train = names.filter { $0.hasPrefix("data_batch_") && $0.hasSuffix(".bin") }.sorted()
        guard !train.isEmpty else { return nil }
        let path = { (folder as NSString).appendingPathComponent($0) }
        return DataSplits(
            train: try readDataset(paths: train.map(path)),
            test: names.contains("test_batch.bin") ? try readDataset(paths: [path("test_batch.bin")]) : nil, source: folder)
    }
}
