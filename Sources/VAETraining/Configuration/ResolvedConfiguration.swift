import Foundation
import VAEModel
import VAESettings

/// The configuration written out in full (every key with the value in force), its trajectory part, and what
/// `--resume` does with them:
/// the run folder's `config.json`, the checkpoint's `settings` metadata, and the adoption of a checkpoint's
/// settings under the user's explicit requests.
extension TrainingConfiguration {
    /// Every key (the deprecated exchange keys folded into `training.gradient_exchange`) as its JSON literal.
    /// Reading the result back (``parse(_:source:)``) gives the same settings.
    public var resolvedValues: [(key: String, json: String)] {
        TrainingConfiguration.keys.compactMap { key in key.write(self).map { (key.name, $0) } }
    }

    /// The deprecated keys, which ``resolvedValues`` folds into `training.gradient_exchange`.
    static let deprecatedKeys: Set<String> = ["training.reduction", "training.sharded_optimizer", "training.overlap_allreduce"]

    /// ``resolvedValues`` as a configuration file (sections and keys sorted, two-space indent).
    public var resolvedJSON: String {
        let sections = Dictionary(grouping: resolvedValues) { String($0.key.prefix { $0 != "." }) }
        let body = sections.keys.sorted().map { section in
            let lines = sections[section]!.sorted { $0.key < $1.key }.map { entry in
                "    \(Safetensors.jsonString(String(entry.key.dropFirst(section.count + 1)))): \(entry.json)"
            }
            return "  \(Safetensors.jsonString(section)): {\n" + lines.joined(separator: ",\n") + "\n  }"
        }
        return "{\n" + body.joined(separator: ",\n") + "\n}\n"
    }

    /// One trajectory setting a resume would change: its key and its value in the checkpoint and as requested.
    public struct SettingChange: Equatable, Sendable, CustomStringConvertible {
        public let key: String
        public let stored: String
        public let requested: String
        public var description: String { "\(key): checkpoint \(stored), requested \(requested)" }
    }

    /// The trajectory settings (``trajectoryJSON``'s keys) whose values differ between `stored` and `self`.
    public func trajectoryChanges(from stored: String) -> [SettingChange] {
        TrainingConfiguration.changes(from: stored, to: trajectoryJSON)
    }

    /// The dotted keys whose values differ between two trajectory JSON texts, with both values, in key order.
    public static func changes(from old: String, to new: String) -> [SettingChange] {
        func flatten(_ text: String) -> [String: String] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
            var out: [String: String] = [:]
            for (section, value) in object {
                for (key, item) in (value as? [String: Any]) ?? [:] { out["\(section).\(key)"] = canonical(item) }
            }
            return out
        }
        /// A value as text: scalars as before, lists and objects (a layer list) as JSON with sorted keys.
        func canonical(_ item: Any) -> String {
            guard item is [Any] || item is [String: Any],
                let data = try? JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .fragmentsAllowed])
            else { return "\(item)" }
            return String(decoding: data, as: UTF8.self)
        }
        let a = flatten(old), b = flatten(new)
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : SettingChange(key: key, stored: a[key] ?? "(not set)", requested: b[key] ?? "(not set)")
        }
    }

    /// The dotted keys whose values differ between two trajectory JSON texts.
    public static func differingKeys(_ a: String, _ b: String) -> [String] { changes(from: a, to: b).map(\.key) }

    /// What `--resume` runs with: these (a checkpoint's) settings, with the keys `requested` was explicitly given
    /// (by a file or a flag) taken from it; `training.epochs` and `training.max_steps` go together (either given:
    /// both from `requested`). `run.run_dir` stays the caller's business (the checkpoint's folder).
    public func adopting(_ requested: TrainingConfiguration) throws -> TrainingConfiguration {
        var adopted = self
        let values = Dictionary(uniqueKeysWithValues: requested.resolvedValues.map { ($0.key, $0.json) })
        var keys = requested.givenKeys.subtracting(TrainingConfiguration.deprecatedKeys)
        if !requested.givenKeys.isDisjoint(with: TrainingConfiguration.deprecatedKeys) {
            keys.insert("training.gradient_exchange")
        }
        // How long to train is stated anew as a whole: --epochs alone must not stop at the stored max_steps.
        let length: Set<String> = ["training.epochs", "training.max_steps"]
        if !keys.isDisjoint(with: length) { keys.formUnion(length) }
        for key in keys.sorted() {
            guard let json = values[key] else { continue }
            let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
            try adopted.set(ConfigValue(key: key, value: value))
        }
        try adopted.validate()
        return adopted
    }
}

/// The settings that decide the trajectory: what a resume must keep and what the start-up agreement compares.
extension TrainingConfiguration {
    /// The settings that decide the training trajectory, as canonical JSON (sorted keys). Two runs with the
    /// same trajectory JSON, data and step produce the same bits; epochs, max_steps and the run settings may
    /// change across a resume.
    public var trajectoryJSON: String {
        let fields = TrainingConfiguration.keys.flatMap { key in key.trajectoryFields(self).map { (key.section, $0.0, $0.1) } }
        let sections = Dictionary(grouping: fields) { $0.0 }
        return "{"
            + sections.keys.sorted().map { section in
                let pairs = sections[section]!.sorted { $0.1 < $1.1 }.map { "\"\($0.1)\":\($0.2)" }
                return "\"\(section)\":{" + pairs.joined(separator: ",") + "}"
            }.joined(separator: ",") + "}"
    }

    /// SHA-256 of ``trajectoryJSON``.
    public var trajectoryHash: String { SHA256.hash(Array(trajectoryJSON.utf8)).hexString }
}
