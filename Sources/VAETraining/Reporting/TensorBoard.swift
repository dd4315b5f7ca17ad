import Foundation
import VAESettings

/// TensorBoard event files: TFRecord framing (length, masked CRC-32C, data, masked CRC-32C) around `Event` protocol
/// buffers. The four messages involved (Event, Summary, Summary.Value, Summary.Image) are encoded by hand here —
/// about forty lines — rather than with swift-protobuf, whose code generator and runtime would outweigh them.
/// `tensorboard --logdir RUN_DIR` shows the scalars and the image grids.
public final class TensorBoardWriter {
    public let path: String
    private let file: AppendFile
    /// Why the file stopped taking events, if it did.
    public var failure: FileError? { file.failure }

    /// Creates `events.out.tfevents.TIME.HOST.PID` in `directory` and writes the file-version event.
    public init(directory: String) throws {
        let name =
            "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(ProcessInfo.processInfo.hostName).\(getpid()).vae-dist"
        path = (directory as NSString).appendingPathComponent(name)
        file = try AppendFile(path: path)
        var event = Protobuf()
        event.double(1, Date().timeIntervalSince1970)
        event.bytes(3, Array("brain.Event:2".utf8))
        write(event.bytes)
        if let failure = file.failure { throw failure }
    }

    deinit { file.close() }

    /// A scalar at `step`.
    public func scalar(_ tag: String, _ value: Double, step: Int) {
        var item = Protobuf()
        item.bytes(1, Array(tag.utf8))
        item.float(2, Float(value))
        summary(item, step: step)
    }

    /// A PNG image at `step` (`channels` 1: grey, 3: RGB).
    public func image(_ tag: String, png: [UInt8], width: Int, height: Int, channels: Int = 1, step: Int) {
        var image = Protobuf()
        image.varint(1, UInt64(height))
        image.varint(2, UInt64(width))
        image.varint(3, UInt64(channels))  // colorspace: 1 grayscale, 3 RGB
        image.bytes(4, png)
        var item = Protobuf()
        item.bytes(1, Array(tag.utf8))
        item.bytes(4, image.bytes)
        summary(item, step: step)
    }

    /// A hyperparameter's value for the `hparams` plugin (`google.protobuf.Value`).
    public enum HyperparameterValue: Equatable, Sendable {
        case number(Double)
        case string(String)
        case bool(Bool)

        /// A configuration value's JSON literal: a number, a boolean, a string; anything else (lists, null) as its text.
        public init(json: String) {
            let value = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
            if let number = value as? NSNumber {
                self = isJSONBool(number) ? .bool(number.boolValue) : .number(number.doubleValue)
            } else if let string = value as? String {
                self = .string(string)
            } else {
                self = .string(json)
            }
        }

        /// `google.protobuf.Value`: number_value = 2, string_value = 3, bool_value = 4.
        var encoded: [UInt8] {
            var value = Protobuf()
            switch self {
            case .number(let x): value.double(2, x)
            case .string(let s): value.bytes(3, Array(s.utf8))
            case .bool(let b): value.varint(4, b ? 1 : 0)
            }
            return value.bytes
        }

        /// api.proto's DataType: STRING 1, BOOL 2, FLOAT64 3.
        var dataType: UInt64 {
            switch self {
            case .string: return 1
            case .bool: return 2
            case .number: return 3
            }
        }
    }

    /// The run's hyperparameters for TensorBoard's HPARAMS tab: the experiment (each hyperparameter's type and the
    /// metrics to tabulate, `_hparams_/experiment`) and this session's values (`_hparams_/session_start_info`), as
    /// the `hparams` plugin's summaries (plugin data version 0).
    public func hyperparameters(_ values: [(name: String, value: HyperparameterValue)], metrics: [String], startTime: Double) {
        var experiment = Protobuf()
        experiment.double(3, startTime)  // time_created_secs
        for (name, value) in values {
            var info = Protobuf()
            info.bytes(1, Array(name.utf8))
            info.varint(4, value.dataType)
            experiment.bytes(4, info.bytes)  // hparam_infos
        }
        for metric in metrics {
            var name = Protobuf()
            name.bytes(2, Array(metric.utf8))  // MetricName.tag (group: the run itself)
            var info = Protobuf()
            info.bytes(1, name.bytes)
            experiment.bytes(5, info.bytes)  // metric_infos
        }
        hparamsSummary("_hparams_/experiment", field: 2, experiment.bytes)
        var start = Protobuf()
        for (name, value) in values {
            var entry = Protobuf()  // map<string, Value> entry: key = 1, value = 2
            entry.bytes(1, Array(name.utf8))
            entry.bytes(2, value.encoded)
            start.bytes(1, entry.bytes)
        }
        start.double(5, startTime)  // start_time_secs
        hparamsSummary("_hparams_/session_start_info", field: 3, start.bytes)
    }

    /// The session's end for the HPARAMS tab (`_hparams_/session_end_info`): status SUCCESS (1) or FAILURE (2).
    public func sessionEnded(success: Bool) {
        var end = Protobuf()
        end.varint(1, success ? 1 : 2)
        end.double(2, Date().timeIntervalSince1970)
        hparamsSummary("_hparams_/session_end_info", field: 4, end.bytes)
    }

    /// A Summary.Value of the `hparams` plugin: HParamsPluginData { version 0, FIELD: message } as the plugin
    /// data's content, and the plugin's null tensor (an empty float vector).
    private func hparamsSummary(_ tag: String, field: Int, _ message: [UInt8]) {
        var content = Protobuf()
        content.bytes(field, message)
        var pluginData = Protobuf()
        pluginData.bytes(1, Array("hparams".utf8))
        pluginData.bytes(2, content.bytes)
        var metadata = Protobuf()
        metadata.bytes(1, pluginData.bytes)
        var shape = Protobuf()
        shape.bytes(2, [])  // one dim of size 0
        var tensor = Protobuf()
        tensor.varint(1, 1)  // DT_FLOAT
        tensor.bytes(2, shape.bytes)
        var item = Protobuf()
        item.bytes(1, Array(tag.utf8))
        item.bytes(8, tensor.bytes)
        item.bytes(9, metadata.bytes)
        summary(item, step: 0)
    }

    private func summary(_ value: Protobuf, step: Int) {
        var summary = Protobuf()
        summary.bytes(1, value.bytes)
        var event = Protobuf()
        event.double(1, Date().timeIntervalSince1970)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.bytes(5, summary.bytes)
        write(event.bytes)
    }

    /// One TFRecord: u64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data.
    private func write(_ data: [UInt8]) {
        var record: [UInt8] = []
        let length = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(data.count) >> (8 * UInt64($0))) }
        record += length
        record += TensorBoardWriter.littleEndian(TensorBoardWriter.maskedCRC(length))
        record += data
        record += TensorBoardWriter.littleEndian(TensorBoardWriter.maskedCRC(data))
        file.append(record)
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) } }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// CRC-32C (Castagnoli), as TFRecord uses.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's mask: rotate right by 15 and add a constant.
    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// A minimal protocol-buffer encoder: the wire types the event messages need.
struct Protobuf {
    var bytes: [UInt8] = []

    mutating func key(_ field: Int, _ wireType: Int) { appendVarint(UInt64(field << 3 | wireType)) }

    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ field: Int, _ value: UInt64) { key(field, 0); appendVarint(value) }
    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt64($0))) }
    }
    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32($0))) }
    }
    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        appendVarint(UInt64(value.count))
        bytes += value
    }
}
