import Foundation

/// Reader for the IDX format MNIST is distributed in: a big-endian header — two zero bytes, the value type (0x08:
/// unsigned byte), the number of dimensions, then each dimension as a u32 — followed by the values. Images are any
/// `[N, rows, columns]` (or `[N, d]`, read as rows of one) file; labels a `[N]` file. Plain files are
/// memory-mapped, `.gz` files (any file starting 1f 8b) inflated; the header is checked before either.
public enum IDXReader {
    public static let imageMagic: UInt32 = 0x0000_0803
    public static let labelMagic: UInt32 = 0x0000_0801

    /// The header of `file`: its dimensions, after checking magic, type and that the values fit.
    static func dimensions(of file: borrowing DataFile, labels: Bool) throws -> [Int] {
        let path = file.path
        let prefix = try file.prefix(4 + 4 * 4)
        guard prefix.count >= 4 else { throw DataError.truncated(path: path, expectedBytes: 4, actualBytes: prefix.count) }
        let magic = bigEndian(prefix, 0)
        let dimensionCount = Int(prefix[3])
        let valid =
            prefix[0] == 0 && prefix[1] == 0 && prefix[2] == 0x08
            && (labels ? dimensionCount == 1 : (2...4).contains(dimensionCount))
        guard valid else {
            throw DataError.wrongMagic(path: path, found: magic, expected: labels ? labelMagic : imageMagic)
        }
        let headerSize = 4 + 4 * dimensionCount
        guard prefix.count >= headerSize else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: file.contentSize ?? prefix.count)
        }
        let dimensions = (0..<dimensionCount).map { Int(bigEndian(prefix, 4 + 4 * $0)) }
        var product = 1
        for dimension in dimensions {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow, next < Int.max / 2 else {
                throw DataError.wrongDimensions(path: path, found: dimensions, expected: "a shape whose values can be addressed")
            }
            product = next
        }
        return dimensions
    }

    static func bigEndian(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    /// Reads an image file of any size: `[N, rows, columns]`, `[N, d]` (rows of one), or `[N, a, b, c]` (rows of
    /// a·b, columns c).
    public static func readImages(path: String) throws -> ImageDataset {
        let file = try DataFile(path: path)
        let dimensions = try self.dimensions(of: file, labels: false)
        let width = dimensions.dropFirst().reduce(1, *)
        guard dimensions[0] > 0, width > 0 else {
            throw DataError.wrongDimensions(path: path, found: dimensions, expected: "at least one sample of at least one value")
        }
        let columns = dimensions.last!
        let storage = try file.samples(
            offset: 4 + 4 * dimensions.count, count: dimensions[0], valuesPerSample: width, type: .uint8)
        return ImageDataset(storage: storage, rows: width / columns, columns: columns)
    }

    /// Reads a label file (any byte values).
    public static func readLabels(path: String) throws -> [UInt8] {
        let file = try DataFile(path: path)
        let dimensions = try self.dimensions(of: file, labels: true)
        let storage = try file.samples(offset: 8, count: dimensions[0], valuesPerSample: 1, type: .uint8)
        return storage.copyBytes()
    }

    /// Reads an image file and, when given, its label file as one data set, checking that the counts agree.
    public static func readDataset(images: String, labels: String?) throws -> ImageDataset {
        let image = try readImages(path: images)
        guard let labels else { return image }
        let label = try readLabels(path: labels)
        guard image.count == label.count else {
            throw DataError.countMismatch(images: images, imageCount: image.count, labels: labels, labelCount: label.count)
        }
        return ImageDataset(storage: image.storage, rows: image.rows, columns: image.columns, labels: label)
    }
}
