import Foundation
import VAESettings

/// `metrics.jsonl` in the run folder: one JSON object per logged step and per epoch.
public final class MetricsLog {
    public let path: String
    private var file: AppendFile?
    /// Why the log stopped taking records, if it did.
    public var failure: FileError? { file?.failure }

    public init(path: String) { self.path = path }

    /// Keeps only records with `global_step ≤ step` (after a resume, the steps logged after the checkpoint
    /// are replayed and would otherwise appear twice). Pass 0 on a fresh run to start an empty file.
    public func open(keepingThrough step: Int) throws {
        var kept = ""
        if step > 0, let bytes = try SmallFile.read(path, limit: 1 << 31) {
            let data = Data(bytes)
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let recordStep = (object["global_step"] as? NSNumber)?.intValue
                else { continue }
                if recordStep <= step { kept += line + "\n" }
            }
        }
        try AtomicFile.write(Array(kept.utf8), to: path)
        file = try AppendFile(path: path)
    }

    /// Appends one record; values are numbers, strings or booleans. Keys are written sorted.
    public func write(_ record: [String: Any]) {
        guard let file else { return }
        file.append(Array((MetricsLog.json(record) + "\n").utf8))
    }

    /// One value as JSON: numbers (non-finite as null), booleans, nested objects with sorted keys, else a string.
    static func json(_ value: Any) -> String {
        // Numbers read back by JSONSerialization (a file rewritten from its own text) keep their spelling.
        if type(of: value) is NSNumber.Type, let number = value as? NSNumber {
            return isJSONBool(number) ? "\(number.boolValue)" : number.doubleValue.isFinite ? number.stringValue : "null"
        }
        switch value {
        case let x as Double: return x.isFinite ? "\(x)" : "null"
        case let x as Float: return x.isFinite ? "\(x)" : "null"
        case let x as Int: return "\(x)"
        case let x as Bool: return "\(x)"
        case let array as [Any]: return "[" + array.map(json).joined(separator: ",") + "]"
        case let object as [String: Any]:
            return "{" + object.keys.sorted().map { "\(Safetensors.jsonString($0)):\(json(object[$0]!))" }.joined(separator: ",")
                + "}"
        default: return Safetensors.jsonString("\(value)")
        }
    }

    public func close() {
        file?.close()
        file = nil
    }
}
