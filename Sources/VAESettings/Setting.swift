import Foundation

/// How a setting may be given on the command line: `--NAME VALUE`, or `--NAME` alone for a switch that sets `true`.
public struct SettingFlag: Sendable {
    /// How the flag's text becomes the setting's JSON value.
    public enum Kind: Sendable {
        /// A JSON number (or `null`) when the text parses as one, else the text (refused by the setting's check).
        case number
        /// The text itself, as a string.
        case text
        /// No value: the flag sets `true`.
        case switchOn
    }

    /// The long name without dashes: `learning-rate`.
    public let name: String
    public let kind: Kind
    /// What `--help` shows for the value: `X`, `N`, `PATH`, `bernoulli|gaussian`.
    public let valueName: String
    /// The line `--help` shows, its default included.
    public let help: String
    /// Offered by `bench` too (else by `train` alone).
    public let inBench: Bool
    /// Left out of `--help` (the deprecated flags).
    public let hidden: Bool

    public init(
        _ name: String, _ kind: Kind = .number, value valueName: String = "X", help: String, inBench: Bool = false,
        hidden: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.valueName = valueName
        self.help = help
        self.inBench = inBench
        self.hidden = hidden
    }

    /// The JSON value a flag's text stands for (`nil` text: the switch was given).
    public func value(of text: String?) -> Any {
        switch kind {
        case .switchOn: return true
        case .text: return text ?? ""
        case .number:
            guard let text else { return "" }
            let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            return parsed.flatMap { $0 is NSNumber || $0 is NSNull ? $0 : nil } ?? text
        }
    }
}

/// A setting a room declares in its own file (a schedule's, a likelihood's): its dotted key, default, help, reader
/// (the typed check, naming the key on failure) and its JSON literal. The room's registry lists it, and the
/// configuration reads, writes and hashes it from this declaration alone; its value lives in ``SettingValues``.
public struct Setting<Value: Sendable>: Sendable {
    public let key: String
    public let defaultValue: Value
    public let help: String
    public let flag: SettingFlag?
    let read: @Sendable (ConfigValue) throws -> Value
    let json: @Sendable (Value) -> String

    public init(
        _ key: String, default defaultValue: Value, help: String, flag: SettingFlag? = nil,
        read: @escaping @Sendable (ConfigValue) throws -> Value, json: @escaping @Sendable (Value) -> String
    ) {
        self.key = key
        self.defaultValue = defaultValue
        self.help = help
        self.flag = flag
        self.read = read
        self.json = json
    }

    /// The JSON literal of `value`.
    public func jsonText(_ value: Value) -> String { json(value) }

    /// The declaration without its type, for registries.
    public var erased: AnySetting {
        let read = self.read, json = self.json
        return AnySetting(
            key: key, help: help, flag: flag, defaultJSON: json(defaultValue),
            read: { v in
                let value = try read(v)
                return SettingValues.Entry(value: value, json: json(value))
            })
    }
}

extension Setting where Value == Int {
    /// An integer of at least `min`.
    public init(_ key: String, default defaultValue: Int, min: Int, help: String, flag: SettingFlag? = nil) {
        self.init(key, default: defaultValue, help: help, flag: flag, read: { try $0.integer(min: min) }, json: { "\($0)" })
    }
}

extension Setting where Value == Double {
    /// A number checked by `check` (e.g. `{ try $0.number(atLeast: 0, below: 1) }`), written as Swift prints it.
    public init(
        _ key: String, default defaultValue: Double, help: String, flag: SettingFlag? = nil,
        check: @escaping @Sendable (ConfigValue) throws -> Double
    ) {
        self.init(key, default: defaultValue, help: help, flag: flag, read: check, json: { "\($0)" })
    }
}

/// A ``Setting`` without its value type: what registries and the configuration's key table hold.
public struct AnySetting: Sendable {
    public let key: String
    public let help: String
    public let flag: SettingFlag?
    /// The default's JSON literal.
    public let defaultJSON: String
    let read: @Sendable (ConfigValue) throws -> SettingValues.Entry

    /// `model` of `model.gaussian_variance`, and `gaussian_variance`.
    public var section: String { String(key.prefix { $0 != "." }) }
    public var field: String { String(key.dropFirst(section.count + 1)) }
}

/// The values of the rooms' own settings, by key (a key not set has its declared default; one set to its default is
/// kept as not set, so two sets of values are equal when every key has the same JSON literal).
public struct SettingValues: Sendable, Equatable {
    struct Entry: @unchecked Sendable {
        let value: any Sendable
        let json: String
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// The value of `setting` (its default when not set).
    public subscript<Value>(setting: Setting<Value>) -> Value {
        get { entries[setting.key].flatMap { $0.value as? Value } ?? setting.defaultValue }
        set {
            let json = setting.json(newValue)
            entries[setting.key] = json == setting.json(setting.defaultValue) ? nil : Entry(value: newValue, json: json)
        }
    }

    /// Reads `value` as `setting` declares (an error names the key).
    public mutating func set(_ setting: AnySetting, from value: ConfigValue) throws {
        let entry = try setting.read(value)
        entries[setting.key] = entry.json == setting.defaultJSON ? nil : entry
    }

    /// These values with only `settings`' entries kept.
    public func keeping(_ settings: [AnySetting]) -> SettingValues {
        let keys = Set(settings.map(\.key))
        var kept = SettingValues()
        kept.entries = entries.filter { keys.contains($0.key) }
        return kept
    }

    /// The JSON literal of `setting`'s value (its default when not set).
    public func jsonText(_ setting: AnySetting) -> String { entries[setting.key]?.json ?? setting.defaultJSON }

    public static func == (a: SettingValues, b: SettingValues) -> Bool {
        a.entries.mapValues(\.json) == b.entries.mapValues(\.json)
    }
}

/// A string as a JSON literal (quoted; quotes, backslashes and control characters escaped).
public func jsonLiteral(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
