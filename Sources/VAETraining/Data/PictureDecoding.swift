import CPNG
import CTurboJPEG
import Foundation

// Decoding one picture for ``ImageFolder``: PNG through libpng, JPEG through libjpeg-turbo, each first its header (size
// and colour, checked before anything is allocated), then its pixels as 8-bit grey or RGB; and the area-averaging
// resize.

extension ImageFolder {
    static func isJPEG(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg")
    }
}

/// PNG pictures through libpng's simplified API.
enum PNGPicture {
    /// A PNG's size and whether it has colour, from its header.
    static func header(_ path: String) throws -> (Int, Int, Bool) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw DataError.unreadable(path: path, reason: "not a PNG libpng can read: \(PNGFile.message(&image))")
        }
        defer { png_image_free(&image) }
        return (Int(image.width), Int(image.height), image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0)
    }

    /// A PNG's pixels as 8-bit grey or RGB (`channels`), its size already checked.
    static func pixels(_ path: String, width: Int, height: Int, channels: Int) throws -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw DataError.unreadable(path: path, reason: "not a PNG libpng can read: \(PNGFile.message(&image))")
        }
        guard Int(image.width) == width, Int(image.height) == height else {
            png_image_free(&image)
            throw DataError.unreadable(path: path, reason: "changed while being read; read it again")
        }
        // 16-bit samples: libpng's simplified API reads them as linear light and would gamma-encode them for 8-bit
        // output; they are read as stored and scaled, v / 257 rounded (as numpy users scale them) instead.
        let sixteen = image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let linear = sixteen ? UInt32(PNG_FORMAT_FLAG_LINEAR) : 0
        // An alpha channel is read and then dropped (the colours kept as stored, not composed onto a background;
        // libpng gives 16-bit colours with alpha premultiplied).
        let alpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let stored = channels + (alpha ? 1 : 0)
        image.format =
            (channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)) | linear
            | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        func dropAlpha<T>(_ values: [T]) -> [T] {
            guard alpha else { return values }
            return (0..<(width * height)).flatMap { p in (0..<channels).map { values[p * stored + $0] } }
        }
        if sixteen {
            var wide = [UInt16](repeating: 0, count: width * height * stored)
            guard png_image_finish_read(&image, nil, &wide, 0, nil) != 0 else {
                throw DataError.unreadable(path: path, reason: "damaged (libpng: \(PNGFile.message(&image)))")
            }
            return dropAlpha(wide).map { UInt8((UInt32($0) + 128) / 257) }
        }
        var pixels = [UInt8](repeating: 0, count: width * height * stored)
        guard png_image_finish_read(&image, nil, &pixels, 0, nil) != 0 else {
            throw DataError.unreadable(path: path, reason: "damaged (libpng: \(PNGFile.message(&image)))")
        }
        return dropAlpha(pixels)
    }
}

/// JPEG pictures through libjpeg-turbo's TurboJPEG API: the header (size, colour) first, then the pixels as 8-bit
/// grey or RGB. The file is read whole (at most 256 MB).
enum JPEGPicture {
    static func bytes(_ path: String) throws -> [UInt8] {
        do {
            guard let bytes = try SmallFile.read(path, limit: 1 << 28) else { throw DataError.missingFile(path: path) }
            return bytes
        } catch let refused as SmallFile.Refused {
            throw DataError.unreadable(path: path, reason: refused.reason)
        }
    }

    static func header(_ path: String) throws -> (Int, Int, Bool) {
        let data = try bytes(path)
        guard let handle = tjInitDecompress() else {
            throw DataError.unreadable(path: path, reason: "libjpeg-turbo did not start")
        }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colourspace: Int32 = 0
        let status = data.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt(data.count), &width, &height, &subsampling, &colourspace)
        }
        guard status == 0 else {
            throw DataError.unreadable(
                path: path, reason: "not a JPEG libjpeg-turbo can read (\(String(cString: tjGetErrorStr2(handle))))")
        }
        return (Int(width), Int(height), colourspace != Int32(TJCS_GRAY.rawValue))
    }

    static func decode(_ path: String, width: Int, height: Int, channels: Int) throws -> [UInt8] {
        let data = try bytes(path)
        guard let handle = tjInitDecompress() else {
            throw DataError.unreadable(path: path, reason: "libjpeg-turbo did not start")
        }
        defer { tjDestroy(handle) }
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let format = channels == 3 ? Int32(TJPF_RGB.rawValue) : Int32(TJPF_GRAY.rawValue)
        let status = data.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                tjDecompress2(
                    handle, source.baseAddress, UInt(data.count), target.baseAddress, Int32(width), 0, Int32(height), format,
                    Int32(TJFLAG_ACCURATEDCT))
            }
        }
        guard status == 0 else {
            throw DataError.unreadable(path: path, reason: "damaged (libjpeg-turbo: \(String(cString: tjGetErrorStr2(handle))))")
        }
        return pixels
    }
}

/// Area-averaging resize: each output pixel the mean of the input area it covers, partial pixels weighted by the
/// part covered (a box filter exact for any ratio; downscales without aliasing).
enum PictureResize {
    static func areaAverage(
        _ pixels: [UInt8], width: Int, channels: Int, top: Int, left: Int, height: Int, cropWidth: Int,
        to side: (height: Int, width: Int)
    ) -> [UInt8] {
        let scaleY = Double(height) / Double(side.height), scaleX = Double(cropWidth) / Double(side.width)
        var out = [UInt8](repeating: 0, count: side.height * side.width * channels)
        /// The input indices an output interval [a, b) covers, with each one's covered length.
        func coverage(_ a: Double, _ b: Double, limit: Int) -> [(Int, Double)] {
            var parts: [(Int, Double)] = []
            var i = Int(a.rounded(.down))
            while Double(i) < b && i < limit {
                let weight = min(b, Double(i + 1)) - max(a, Double(i))
                if weight > 1e-12 { parts.append((i, weight)) }
                i += 1
            }
            return parts
        }
        let columns = (0..<side.width).map { coverage(Double($0) * scaleX, Double($0 + 1) * scaleX, limit: cropWidth) }
        for oy in 0..<side.height {
            let rows = coverage(Double(oy) * scaleY, Double(oy + 1) * scaleY, limit: height)
            for ox in 0..<side.width {
                for c in 0..<channels {
                    var sum = 0.0, area = 0.0
                    for (y, wy) in rows {
                        for (x, wx) in columns[ox] {
                            sum += wy * wx * Double(pixels[((top + y) * width + left + x) * channels + c])
                            area += wy * wx
                        }
                    }
                    out[(oy * side.width + ox) * channels + c] = UInt8(min(255, max(0, (sum / area).rounded())))
                }
            }
        }
        return out
    }
}
