import CPNG
import Foundation
import VAEModel

/// A PNG error naming the file.
public struct ImageError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Greyscale and RGB PNG files through libpng's simplified API.
public enum PNGFile {
    /// Writes `pixels` (row-major, `width × height × channels` bytes, RGB interleaved) as an 8-bit greyscale
    /// (`channels` 1) or RGB (3) PNG, atomically. Returns the bytes.
    @discardableResult
    public static func write(path: String, width: Int, height: Int, pixels: [UInt8], channels: Int = 1) throws -> [UInt8] {
        let bytes = try encode(width: width, height: height, pixels: pixels, channels: channels, path: path)
        try AtomicFile.write(bytes, to: path)
        return bytes
    }

    /// `pixels` as 8-bit greyscale or RGB PNG bytes (`path` only names the target in errors).
    public static func encode(
        width: Int, height: Int, pixels: [UInt8], channels: Int = 1, path: String = "image"
    ) throws -> [UInt8] {
        precondition(channels == 1 || channels == 3, "a PNG grid is grey (1 channel) or RGB (3)")
        precondition(pixels.count == width * height * channels, "pixel count does not match the size")
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        var size: Int = 0
        // First pass sizes the memory buffer, second pass writes into it; then an atomic file write.
        let rowStride = Int32(width * channels)
        guard png_image_write_to_memory(&image, nil, &size, 0, pixels, rowStride, nil) != 0 || size > 0 else {
            throw ImageError(path: path, reason: "libpng: \(message(&image))")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes {
            png_image_write_to_memory(&image, $0.baseAddress, &size, 0, pixels, rowStride, nil)
        }
        guard ok != 0 else { throw ImageError(path: path, reason: "libpng: \(message(&image))") }
        return Array(bytes.prefix(size))
    }

    /// Reads an 8-bit greyscale PNG: (width, height, pixels).
    public static func read(path: String) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw ImageError(path: path, reason: "not a PNG libpng can read: \(message(&image))")
        }
        image.format = UInt32(PNG_FORMAT_GRAY)
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height))
        guard png_image_finish_read(&image, nil, &pixels, 0, nil) != 0 else {
            throw ImageError(path: path, reason: "libpng: \(message(&image))")
        }
        return (Int(image.width), Int(image.height), pixels)
    }

    static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// One picture's shape: grey (1 channel) or RGB (3), `height × width`.
public struct PictureShape: Equatable, Sendable {
    public let channels: Int, height: Int, width: Int

    /// The pictures a model's samples are: its `[C, H, W]` input with 1 or 3 channels, or a flat 784 (MNIST, 28×28);
    /// nil for anything else (tabular data has no picture).
    public init?(_ architecture: Architecture) {
        let shape = architecture.inputShape
        if shape.count == 3, shape[0] == 1 || shape[0] == 3 {
            (channels, height, width) = (shape[0], shape[1], shape[2])
        } else if shape == [784] {
            (channels, height, width) = (1, 28, 28)
        } else {
            return nil
        }
    }
}

/// Grids of pictures, as the PyTorch example writes each epoch.
public enum ImageGrid {
    /// Tiles `images` (each `[C, H, W]` values in [0, 1], planar) into `columns` columns, one pixel of black
    /// between cells for pictures other than 28×28 grey; the bytes RGB-interleaved for 3 channels.
    public static func tile(_ images: [[Float]], shape: PictureShape, columns: Int) -> ImageGridBytes {
        let gap = shape == PictureShape.mnist ? 0 : 1
        let rows = (images.count + columns - 1) / columns
        let cellWidth = shape.width + gap, cellHeight = shape.height + gap
        let width = columns * cellWidth - gap, height = max(rows * cellHeight - gap, 0)
        let plane = shape.height * shape.width
        var pixels = [UInt8](repeating: 0, count: width * height * shape.channels)
        for (n, image) in images.enumerated() {
            let top = (n / columns) * cellHeight, left = (n % columns) * cellWidth
            for c in 0..<shape.channels {
                for y in 0..<shape.height {
                    for x in 0..<shape.width {
                        let value = image[c * plane + y * shape.width + x]
                        pixels[((top + y) * width + left + x) * shape.channels + c] = UInt8(
                            (min(max(value, 0), 1) * 255).rounded())
                    }
                }
            }
        }
        return ImageGridBytes(width: width, height: height, pixels: pixels, channels: shape.channels)
    }

    /// Tiles 28×28 grey images (the MNIST grids); returns (width, height, bytes).
    public static func tile(_ images: [[Float]], side: Int, columns: Int) -> (Int, Int, [UInt8]) {
        let grid = tile(images, shape: PictureShape(channels: 1, height: side, width: side), columns: columns)
        return (grid.width, grid.height, grid.pixels)
    }
}

extension PictureShape {
    /// MNIST's 28×28 grey, whose grids have no gaps (as the PyTorch example's).
    public static let mnist = PictureShape(channels: 1, height: 28, width: 28)

    public init(channels: Int, height: Int, width: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
    }
}

extension VariationalAutoencoder {
    /// Its samples' picture shape (``PictureShape``; MNIST's when it has none, for callers that checked).
    var pictureShape: PictureShape { PictureShape(layout.architecture) ?? .mnist }

    /// The decoder's mean image for each latent row in `latents` (`latentSize` values each): sigmoid of the
    /// logits for a Bernoulli likelihood, the mean for a Gaussian. Decodes in chunks of ``batchCapacity``.
    public func decodeMeans(_ latents: [Float]) -> [[Float]] {
        let latentSize = layout.architecture.latentSize, width = layout.architecture.inputSize
        let count = latents.count / latentSize
        var images: [[Float]] = []
        var start = 0
        while start < count {
            let n = min(batchCapacity, count - start)
            for i in 0..<(n * latentSize) { latent[i] = latents[start * latentSize + i] }
            decode(batch: n)
            for r in 0..<n {
                let o = output + r * width
                let likelihood = layout.architecture.likelihood
                images.append((0..<width).map { likelihood.mean(ofOutput: o[$0]) })
            }
            start += n
        }
        return images
    }
}

/// A grid: width, height, `channels` bytes per pixel (grey, or RGB interleaved).
public struct ImageGridBytes: Sendable {
    public var width: Int, height: Int, pixels: [UInt8]
    public var channels = 1
}

/// The grids the PyTorch example writes each epoch, computed from a model (no files: ``TrainingReport`` writes them).
public enum EpochImages {
    /// 8 test images above their reconstructions (pictures of the model's ``PictureShape``), decoding z = μ + σ ε with the test pass's fixed ε.
    public static func reconstructions(model: VariationalAutoencoder, test: ImageDataset, filler: BatchFiller) -> ImageGridBytes {
        let latentSize = model.layout.architecture.latentSize, width = test.pixelsPerImage
        var originals: [[Float]] = [], latents: [Float] = []
        let count = min(8, test.count, model.batchCapacity)
        let indices = (0..<count).map { Int32($0) }
        indices.withUnsafeBufferPointer {
            filler.fill(
                input: model.input, epsilon: model.epsilon, latentSize: latentSize, samples: model.samplesPerInput,
                dataset: test, indices: $0, epoch: 0, evaluation: true)
        }
        for r in 0..<count { originals.append(Array(UnsafeBufferPointer(start: model.input + r * width, count: width))) }
        model.encode(batch: count)
        for i in 0..<(count * latentSize) {
            // The sample's first ε (row r·K of an objective's K per sample).
            let (r, d) = i.quotientAndRemainder(dividingBy: latentSize)
            latents.append(
                model.mean[i] + expf(0.5 * model.logVariance[i]) * model.epsilon[(r * model.samplesPerInput) * latentSize + d])
        }
        return ImageGrid.tile(originals + model.decodeMeans(latents), shape: model.pictureShape, columns: count)
    }

    /// An 8×8 grid of decodes of 64 fixed z ~ p(z) (the same keys every epoch, so the grids show progress).
    public static func samples(model: VariationalAutoencoder, seed: UInt64) -> ImageGridBytes {
        let z = model.priorSamples(count: 64, seed: seed)
        return ImageGrid.tile(model.decodeMeans(z), shape: model.pictureShape, columns: 8)
    }

    /// For a 2-D latent under N(0, I) (else nil): the manifold of Kingma & Welling's figure 4 — decodes over a 20 × 20 grid of
    /// the prior's quantiles, z = (Φ⁻¹(u), Φ⁻¹(v)) with u, v evenly spaced in (0, 1).
    public static func manifold(model: VariationalAutoencoder) -> ImageGridBytes? {
        // The quantiles are N(0, I)'s: for another prior the grid would not be its manifold.
        guard model.layout.architecture.latentSize == 2, model.layout.architecture.prior.isStandardNormal else { return nil }
        let side = 20
        var latents: [Float] = []
        for row in 0..<side {
            for column in 0..<side {
                // Rows go down the second coordinate from high to low, as in the paper's figure.
                latents.append(Float(inverseNormalCDF((Double(column) + 0.5) / Double(side))))
                latents.append(Float(inverseNormalCDF(1 - (Double(row) + 0.5) / Double(side))))
            }
        }
        return ImageGrid.tile(model.decodeMeans(latents), shape: model.pictureShape, columns: side)
    }
}

/// Φ⁻¹(p), the standard normal quantile, by bisection on Φ(x) = ½ erfc(−x/√2) (to 1e-12; only for image grids).
public func inverseNormalCDF(_ p: Double) -> Double {
    precondition(p > 0 && p < 1, "quantile of \(p)")
    var low = -40.0, high = 40.0
    while high - low > 1e-12 {
        let middle = (low + high) / 2
        if 0.5 * erfc(-middle / 2.0.squareRoot()) < p { low = middle } else { high = middle }
    }
    return (low + high) / 2
}
