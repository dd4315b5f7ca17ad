import Foundation
import VAEModel
import VAESettings

/// A folder of PNG and JPEG pictures as a data set (`--data photos/`): found recursively in name order, decoded by
/// libpng (grey, RGB, palette, 16-bit, with alpha: all brought to 8-bit grey, or RGB when any picture has colour;
/// alpha dropped) and libjpeg-turbo (grey or colour JPEG, likewise), centre-cropped to `data.crop` and area-averaged to `data.image_size`, decoded **once** into
/// a uint8 `[N, H, W, C]` NPY cache — keyed by the listing (paths, sizes, modification times) and the options,
/// written atomically, in `data.cache_dir` (default: a `.vae-dist-cache` folder inside the picture folder) — and from
/// then on memory-mapped like any NPY: sharding, exact resume and the O(1) start included. A damaged picture is an
/// error naming it.
public enum ImageFolder {
    static let imageSize = Setting<Int>(
        "data.image_size", default: 0, min: 0,
        help: "a picture folder: pictures resized (area averaging) to this square size (0: as stored, all the same size)")
    static let crop = Setting<Int>(
        "data.crop", default: 0, min: 0,
        help: "a picture folder: the centre square of this side kept before resizing (0: the largest centre square when resizing)"
    )
    static let skipBadImages = Setting<Bool>(
        "data.skip_bad_images", default: false,
        help: "a picture folder: leave out pictures that cannot be decoded (counted in the start line) instead of stopping",
        read: { try $0.bool() }, json: { "\($0)" })
    static let cacheDirectory = Setting<String>(
        "data.cache_dir", default: "",
        help: "a picture folder: where its decoded NPY cache goes (default: .vae-dist-cache in the folder)",
        read: { try $0.string() }, json: { jsonLiteral($0) })

    /// What a picture folder is turned into.
    public struct Options: Sendable, Equatable {
        public var imageSize = 0, crop = 0
        public var cacheDirectory = ""
        public var skipBadImages = false
        public init() {}
        public init(_ configuration: TrainingConfiguration) {
            imageSize = configuration.settings[ImageFolder.imageSize]
            crop = configuration.settings[ImageFolder.crop]
            cacheDirectory = configuration.settings[ImageFolder.cacheDirectory]
            skipBadImages = configuration.settings[ImageFolder.skipBadImages]
        }
    }

    /// The most values one decoded picture may have (a PNG header can claim 2³¹ × 2³¹ pixels).
    static let largestPicture = 1 << 28
    static let pictureSuffixes = [".png", ".jpg", ".jpeg"]

    /// The pictures under `folder` (recursively, hidden files and the cache left out), in name order.
    static func pictures(in folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var found: [String] = []
        while let name = walker.nextObject() as? String {
            let last = (name as NSString).lastPathComponent
            if last.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            let lower = last.lowercased()
            if pictureSuffixes.contains(where: lower.hasSuffix) { found.append(name) }
        }
        return found.sorted()
    }

    /// Whether `folder` holds pictures.
    static func holdsPictures(_ folder: String) -> Bool { !pictures(in: folder).isEmpty }

    /// The data set of the pictures under `folder`, through its cache.
    static func read(folder: String, options: Options) throws -> ImageDataset {
        let names = pictures(in: folder)
        guard !names.isEmpty else { throw DataError.unreadable(path: folder, reason: "holds no .png or .jpg pictures") }
        // The cache's key: the listing with each file's size and modification time, and the options.
        var key =
            "vae-dist picture cache 1; size \(options.imageSize); crop \(options.crop)"
            + (options.skipBadImages ? "; skipping bad pictures" : "") + "\n"
        for name in names {
            let path = (folder as NSString).appendingPathComponent(name)
            var info = stat()
            guard stat(path, &info) == 0 else { throw DataError.unreadable(path: path, reason: "cannot be read") }
            key += "\(name)\t\(info.st_size)\t\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)\n"
        }
        let digest = SHA256.hash(Array(key.utf8)).hexString
        let cacheFolder =
            options.cacheDirectory.isEmpty
            ? (folder as NSString).appendingPathComponent(".vae-dist-cache") : options.cacheDirectory
        let cache = (cacheFolder as NSString).appendingPathComponent(
            "\((folder as NSString).lastPathComponent)-\(digest.prefix(16)).npy")
        let skippedList = cache + ".skipped"
        if !FileManager.default.fileExists(atPath: cache) {
            let (bytes, skipped) = try decode(folder: folder, names: names, options: options)
            do {
                try FileManager.default.createDirectory(atPath: cacheFolder, withIntermediateDirectories: true)
                // The skipped pictures' names first: the cache is complete only once written.
                try AtomicFile.write(Array(skipped.map { $0 + "\n" }.joined().utf8), to: skippedList)
                try AtomicFile.write(bytes, to: cache)
            } catch {
                throw DataError.unreadable(
                    path: cacheFolder,
                    reason:
                        "the decoded pictures' cache cannot be written there (\(error)); set data.cache_dir to a writable folder")
            }
        }
        let dataset = try NPYReader.readDataset(path: cache)
        let skipped = (try? String(contentsOfFile: skippedList, encoding: .utf8))?.split(separator: "\n").count ?? 0
        return skipped == 0 ? dataset : dataset.noting(skippedPictures: skipped)
    }

    /// A folder of pictures without `test/`: a tenth of them (at least one) as the test set, chosen by a permutation
    /// keyed by a fixed seed — a property of the folder, the same for every run and rank count.
    static func split(_ pictures: ImageDataset, source: String) throws -> DataSplits {
        let n = pictures.count
        guard n >= 2 else { return DataSplits(train: pictures, test: nil, source: source) }
        let held = max(1, n / 10)
        var order = (0..<n).map { Int32($0) }
        var stream = RandomStream(seed: 0, purpose: .validationSplit, epoch: 1)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, stream.nextIndex(below: i + 1)) }
        let whole = DataSplits(train: pictures, test: nil, source: source)
        return DataSplits(
            train: pictures.selecting(order[held...].sorted()), validation: nil,
            test: pictures.selecting(order[..<held].sorted()),
            source: source, fingerprint: whole.trainFingerprint)
    }

    /// Every picture decoded, cropped and resized: an NPY file's bytes, uint8 `[N, H, W, C]`.
    static func decode(folder: String, names: [String], options: Options) throws -> (bytes: [UInt8], skipped: [String]) {
        var paths: [String] = [], skipped: [String] = []
        // First the headers: sizes (checked before any allocation) and whether any picture has colour.
        var headers: [(width: Int, height: Int)] = []
        var colour = false
        for name in names {
            let path = (folder as NSString).appendingPathComponent(name)
            do {
                let (width, height, hasColour) = try isJPEG(path) ? JPEGPicture.header(path) : PNGPicture.header(path)
                guard width > 0, height > 0, width.multipliedReportingOverflow(by: height).partialValue <= largestPicture / 3
                else {
                    throw DataError.unreadable(
                        path: path, reason: "its header claims \(width)×\(height) pixels, more than vae-dist decodes")
                }
                colour = colour || hasColour
                headers.append((width, height))
                paths.append(path)
            } catch  where options.skipBadImages {
                skipped.append(name)
            }
        }
        guard !paths.isEmpty else { throw DataError.unreadable(path: folder, reason: "holds no picture that can be decoded") }
        let channels = colour ? 3 : 1
        // The output side: image_size, else the crop, else the pictures' own (all the same).
        let side: (height: Int, width: Int)
        if options.imageSize > 0 {
            side = (options.imageSize, options.imageSize)
        } else if options.crop > 0 {
            side = (options.crop, options.crop)
        } else {
            let first = headers[0]
            if let other = headers.firstIndex(where: { $0.width != first.width || $0.height != first.height }) {
                throw DataError.unreadable(
                    path: paths[other],
                    reason:
                        "is \(headers[other].width)×\(headers[other].height) and \(paths[0]) \(first.width)×\(first.height); set data.image_size (and data.crop) to bring them to one size"
                )
            }
            side = (first.height, first.width)
        }
        let perPicture = side.height * side.width * channels
        let (total, overflow) = perPicture.multipliedReportingOverflow(by: paths.count)
        guard !overflow, total <= MachineMemory.bytes / 2 else {
            throw DataError.unreadable(
                path: folder,
                reason:
                    "\(paths.count) pictures of \(side.width)×\(side.height) do not fit in memory; use a smaller data.image_size")
        }
        var body: [UInt8] = []
        body.reserveCapacity(total)
        var decoded = 0
        for (index, path) in paths.enumerated() {
            let (width, height) = headers[index]
            let pixels: [UInt8]
            do {
                pixels =
                    try isJPEG(path)
                    ? JPEGPicture.decode(path, width: width, height: height, channels: channels)
                    : PNGPicture.pixels(path, width: width, height: height, channels: channels)
            } catch  where options.skipBadImages {
                skipped.append(String(path.dropFirst(folder.count + 1)))
                continue
            }
            decoded += 1
            // The centre square of `crop` (or, when resizing, the largest centre square), then the area average.
            var square = options.crop
            if square == 0 && options.imageSize > 0 { square = min(width, height) }
            var (top, left, cropHeight, cropWidth) = (0, 0, height, width)
            if square > 0 {
                guard square <= width && square <= height else {
                    throw DataError.unreadable(path: path, reason: "is \(width)×\(height), smaller than data.crop \(square)")
                }
                (top, left, cropHeight, cropWidth) = ((height - square) / 2, (width - square) / 2, square, square)
            }
            body += PictureResize.areaAverage(
                pixels, width: width, channels: channels, top: top, left: left, height: cropHeight, cropWidth: cropWidth,
                to: side)
        }
        guard decoded > 0 else { throw DataError.unreadable(path: folder, reason: "holds no picture that can be decoded") }
        return (npyHeader(shape: [decoded, side.height, side.width, channels]) + body, skipped.sorted())
    }

    /// An NPY version-1 header for uint8 data of `shape`, padded to a multiple of 64 bytes.
    static func npyHeader(shape: [Int]) -> [UInt8] {
        var text = "{'descr': '|u1', 'fortran_order': False, 'shape': (" + shape.map(String.init).joined(separator: ", ") + "), }"
        let unpadded = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = UInt16(text.utf8.count)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xff), UInt8(length >> 8)] + Array(text.utf8)
    }
}
