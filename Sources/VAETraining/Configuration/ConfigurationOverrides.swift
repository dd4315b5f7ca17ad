import Foundation
import VAESettings
import VAEDistributed
import VAEModel

extension TrainingConfiguration {
    /// Applies command-line overrides on top of a configuration: (dotted key, value) pairs, nil values skipped,
    /// each read and checked as the file reader does, then the settings that depend on each other.
    public mutating func override(_ values: [(key: String, value: Any?)]) throws {
        for (key, value) in values {
            guard let value else { continue }
            let wrapped: Any
            switch value {
            case _ where isJSONBool(value): wrapped = value  // before Int: a JSON true also casts to 1
            case let n as Int: wrapped = NSNumber(value: n)
            case let n as UInt64: wrapped = NSNumber(value: n)
            case let x as Double: wrapped = NSNumber(value: x)
            case let x as Float: wrapped = NSNumber(value: Double(x))
            case let strategy as ExchangeStrategy: wrapped = strategy.rawValue
            case let binarization as Binarization: wrapped = binarization.rawValue
            default: wrapped = value
            }
            try set(ConfigValue(key: key, value: wrapped))
        }
        try validate()
    }
}
