import Foundation
import VAESettings

/// How an NPY of images stores a sample: channels-first `[N, C, H, W]` (PyTorch) or channels-last `[N, H, W, C]`
/// (numpy, PIL, TensorFlow), `data.layout`. `auto` infers it where the shape says: a trailing axis of 1, 3 or 4
/// after two larger ones is channels-last, a leading one before two larger ones channels-first; `[N, 3, 3, 3]`-like
/// shapes are refused with the setting to give.
public enum ImageLayout {
    /// `data.layout`: auto, nchw or nhwc.
    public static let setting = Setting<String>(
        "data.layout", default: "auto",
        help:
            "an NPY of images: nchw ([N, C, H, W], PyTorch), nhwc ([N, H, W, C], numpy/PIL/TensorFlow) or auto (from the shape)",
        read: { try $0.string(oneOf: ["auto", "nchw", "nhwc"]) }, json: { jsonLiteral($0) })

    /// Whether `dimensions` (one sample's `[A, B, C]`) are channels-last under `layout`, or why it cannot tell.
    static func isChannelsLast(_ dimensions: [Int], layout: String, source: String) throws -> Bool {
        switch layout {
        case "nchw": return false
        case "nhwc": return true
        default:
            let channels: Set = [1, 3, 4]
            let last = channels.contains(dimensions[2]) && dimensions[0] > 4 && dimensions[1] > 4
            let first = channels.contains(dimensions[0]) && dimensions[1] > 4 && dimensions[2] > 4
            guard last != first else {
                throw ConfigurationError(
                    key: "data.layout",
                    problem:
                        "\(source)'s samples are \(dimensions): channels-first [C, H, W] or channels-last [H, W, C] cannot be told apart; set data.layout to \"nchw\" or \"nhwc\""
                )
            }
            return last
        }
    }
}

extension DataSplits {
    /// These sets with their images' layout decided (``ImageLayout``): an NPY's `[A, B, C]` samples become
    /// `[C, H, W]` pictures, read channels-last where they are stored so. Other data, and any with `layout` nil (an
    /// MLP reads values in file order), is as it was.
    public func laidOut(_ layout: String?) throws -> DataSplits {
        guard let layout else { return self }
        func decide(_ set: ImageDataset) throws -> ImageDataset {
            guard set.storedDimensions.count == 3 else { return set }
            let d = set.storedDimensions
            let last = try ImageLayout.isChannelsLast(d, layout: layout, source: source)
            return ImageDataset(
                storage: set.storage, rows: set.rows, columns: set.columns, labels: set.labels, selection: set.selection,
                sampleShape: last ? [d[2], d[0], d[1]] : d, channelsLast: last, storedDimensions: d
            ).noting(skippedPictures: set.skippedPictures)
        }
        return DataSplits(
            train: try decide(train), validation: try validation.map(decide), test: try test.map(decide), source: source,
            fingerprint: trainFingerprint)
    }
}

extension DataSplits {
    /// `source` as `configuration` reads it: a picture folder decoded with its size, crop and cache
    /// (``ImageFolder/Options``), then, for a model of layer lists, its images' layout decided (``laidOut(_:)``). The one
    /// way train, bench and eval load data.
    public static func load(_ source: String, as configuration: TrainingConfiguration) throws -> DataSplits {
        try load(source, pictures: ImageFolder.Options(configuration)).laidOut(for: configuration)
    }

    /// These sets laid out as `configuration`'s model reads them (the MLP: values in file order).
    public func laidOut(for configuration: TrainingConfiguration) throws -> DataSplits {
        try laidOut(configuration.architecture.isShorthand ? nil : configuration.settings[ImageLayout.setting])
    }
}
