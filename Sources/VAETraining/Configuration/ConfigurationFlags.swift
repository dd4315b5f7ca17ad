import Foundation
import VAESettings

/// The flags the keys declare (``TrainingConfiguration/keys``): what the command line parses and `--help` and the
/// README's key table show.
extension TrainingConfiguration {
    /// One key's flag.
    public struct KeyFlag: Sendable {
        public let key: String
        public let flag: SettingFlag
    }

    /// Every key's flag, in the keys' order.
    public static let flags: [KeyFlag] = keys.compactMap { key in key.flag.map { KeyFlag(key: key.name, flag: $0) } }

    /// Reads `arguments` (what ArgumentParser left: `--name value`, `--name=value`, `--switch`) as key flags, in
    /// order; `bench`: only the flags bench offers.
    public static func keyValues(fromFlags arguments: [String], bench: Bool) throws -> [(key: String, value: Any)] {
        let offered = flags.filter { !bench || $0.flag.inBench }
        var values: [(key: String, value: Any)] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(key: argument, problem: "unexpected argument; flags are --name value (see --help)")
            }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            let inline = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            guard let entry = offered.first(where: { $0.flag.name == name }) else {
                let near = offered.map(\.flag.name).filter { $0.hasPrefix(String(name.prefix(3))) }
                throw ConfigurationError(
                    key: "--\(name)",
                    problem: "unknown option"
                        + (near.isEmpty ? "" : "; did you mean \(near.map { "--\($0)" }.joined(separator: " or "))?")
                        + " (any key: --set section.key=value)")
            }
            let text: String?
            if entry.flag.kind == .switchOn {
                guard inline == nil else { throw ConfigurationError(key: "--\(name)", problem: "takes no value") }
                text = nil
            } else if let inline {
                text = inline
            } else {
                guard i < arguments.count else {
                    throw ConfigurationError(key: "--\(name)", problem: "needs a value (\(entry.flag.valueName))")
                }
                text = arguments[i]
                i += 1
            }
            values.append((entry.key, entry.flag.value(of: text)))
        }
        return values
    }

    /// The flags' lines for `--help` (the hidden ones left out), each `--name <VALUE>` then its help.
    public static func flagsHelp(bench: Bool) -> String {
        flags.filter { !$0.flag.hidden && (!bench || $0.flag.inBench) }.map { entry in
            let flag = entry.flag
            let usage = "--\(flag.name)" + (flag.kind == .switchOn ? "" : " <\(flag.valueName)>")
            return "\(usage)\n  \(flag.help) [\(entry.key)]"
        }.joined(separator: "\n")
    }

    /// The README's key table (Markdown, by key): each key, its default as written to `config.json`, its flag and help.
    public static var keysTable: String {
        let defaults = TrainingConfiguration()
        let rows = keys.sorted { $0.name < $1.name }.map { key in
            let value = key.write(defaults) ?? key.shownDefault ?? "—"
            let flag = key.flag.map { "`--\($0.name)`" } ?? ""
            return "| `\(key.name)` | `\(value)` | \(flag) | \(key.help.replacingOccurrences(of: "|", with: "\\|")) |"
        }
        return (["| key | default | flag | meaning |", "|---|---|---|---|"] + rows).joined(separator: "\n")
    }
}
