import Foundation

/// A configuration error naming the key and what is wrong with it.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// Dotted key (`model.latent_size`), or the file for file-level faults.
    public let key: String
    public let problem: String
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }
    public var description: String {
        // Quoted input is capped: a 100 MB key or value is not echoed back.
        let shown = key.count > 200 ? String(key.prefix(200)) + "…" : key
        return "configuration key '\(shown)': \(problem.count > 2000 ? String(problem.prefix(2000)) + "…" : problem)"
    }
}
