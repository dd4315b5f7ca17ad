import Foundation

/// One configuration value with its dotted key, for typed reads that name the key on failure.
public struct ConfigValue {
    public let key: String
    public let value: Any

    public init(key: String, value: Any) {
        self.key = key
        self.value = value
    }

    public func error(_ problem: String) -> ConfigurationError { ConfigurationError(key: key, problem: problem) }

    public func integer(min: Int) throws -> Int {
        guard let n = value as? NSNumber, !isJSONBool(value), n.doubleValue == n.doubleValue.rounded(),
            abs(n.doubleValue) < 1e15
        else {
            throw error("must be an integer, got \(describe(value))")
        }
        guard n.intValue >= min else { throw error("must be ≥ \(min), got \(n.intValue)") }
        return n.intValue
    }

    /// The most entries a list of layer widths may have.
    public static let maximumLayers = 64

    public func integers(min: Int) throws -> [Int] {
        guard let items = value as? [Any] else { throw error("must be a list of integers, got \(describe(value))") }
        guard items.count <= ConfigValue.maximumLayers else {
            throw error("has \(items.count) entries; at most \(ConfigValue.maximumLayers) layers")
        }
        return try items.map { try ConfigValue(key: key, value: $0).integer(min: min) }
    }

    public func number(above lower: Double) throws -> Double {
        let x = try number()
        guard x > lower else { throw error("must be > \(lower), got \(x)") }
        return x
    }

    public func number(atLeast lower: Double, below upper: Double = .infinity) throws -> Double {
        let x = try number()
        guard x >= lower && x < upper else { throw error("must be in [\(lower), \(upper)), got \(x)") }
        return x
    }

    /// A number the model uses as a 32-bit float: it must stay finite (and, above 0, nonzero) as one.
    public func float(above lower: Double) throws -> Float { try asFloat(number(above: lower)) }
    public func float(atLeast lower: Double) throws -> Float { try asFloat(number(atLeast: lower)) }

    private func asFloat(_ x: Double) throws -> Float {
        let f = Float(x)
        guard f.isFinite else { throw error("\(x) is too large for a 32-bit float (at most \(Float.greatestFiniteMagnitude))") }
        guard x == 0 || f != 0 else { throw error("\(x) is too small for a 32-bit float (it would be 0)") }
        return f
    }

    public func number() throws -> Double {
        guard let n = value as? NSNumber, !isJSONBool(value), n.doubleValue.isFinite else {
            throw error("must be a number, got \(describe(value))")
        }
        return n.doubleValue
    }

    public func string() throws -> String {
        guard let s = value as? String else { throw error("must be a string, got \(describe(value))") }
        return s
    }

    public func string(oneOf choices: [String]) throws -> String {
        let s = try string()
        guard choices.contains(s) else {
            throw error("must be one of \(choices.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    public func bool() throws -> Bool {
        guard isJSONBool(value), let b = value as? Bool else { throw error("must be true or false, got \(describe(value))") }
        return b
    }

    public func choice<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
        let s = try string()
        guard let choice = T(rawValue: s) else {
            throw error("must be one of \(T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return choice
    }

    public func describe(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let s = value as? String { return s.count > 80 ? "\"\(s.prefix(80))…\" (\(s.utf8.count) bytes)" : "\"\(s)\"" }
        if value is [Any] { return "a list" }
        if value is [String: Any] { return "an object" }
        return "\(value)"
    }
}

/// Whether a decoded JSON value is `true`/`false`. Foundation on Linux lets any NSNumber cast to `Bool`, so the
/// boolean is told apart by its type (`Bool` or Foundation's boxed boolean).
public func isJSONBool(_ value: Any) -> Bool {
    type(of: value) == Bool.self || String(describing: type(of: value)).contains("Boolean")
}

/// Finds a key given twice in one JSON object (JSONSerialization keeps the last silently). Runs on text the JSON
/// parser has accepted; returns the dotted path of the first duplicate.
public enum JSONDuplicateKeys {
    public static func first(in bytes: [UInt8]) -> String? {
        // One frame per open object or array: the keys seen, the key being read's value, whether a key comes next.
        struct Frame { var isObject: Bool; var keys: Set<[UInt8]> = []; var current: String = ""; var expectKey = true }
        var stack: [Frame] = []
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "{"): stack.append(Frame(isObject: true))
            case UInt8(ascii: "["): stack.append(Frame(isObject: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if !stack.isEmpty { stack.removeLast() }
            case UInt8(ascii: ","): if !stack.isEmpty, stack[stack.count - 1].isObject { stack[stack.count - 1].expectKey = true }
            case UInt8(ascii: ":"): if !stack.isEmpty { stack[stack.count - 1].expectKey = false }
            case UInt8(ascii: "\""):
                var j = i + 1
                while j < bytes.count && bytes[j] != UInt8(ascii: "\"") { j += bytes[j] == UInt8(ascii: "\\") ? 2 : 1 }
                if let top = stack.last, top.isObject, top.expectKey {
                    let key = Array(bytes[(i + 1)..<min(j, bytes.count)])
                    let name = String(decoding: key, as: UTF8.self)
                    let path = (stack.dropLast().filter(\.isObject).map(\.current) + [name]).joined(separator: ".")
                    if !stack[stack.count - 1].keys.insert(key).inserted { return path }
                    stack[stack.count - 1].current = name
                }
                i = j
            default: break
            }
            i += 1
        }
        return nil
    }
}
