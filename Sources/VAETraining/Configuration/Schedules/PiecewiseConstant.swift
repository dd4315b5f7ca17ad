import Foundation
import VAESettings

/// A piecewise-constant learning rate (`training.lr_schedule: "piecewise"`): the base rate × `lr_factors[k]` from
/// milestone k − 1 to milestone k (`lr_milestones`, ascending, in `lr_milestone_unit` epochs or steps), the last factor
/// after the last milestone; so `lr_factors` has one entry more than `lr_milestones`. Burda et al.'s IWAE schedule,
/// 10⁻³·10^(−i/7) for 3^i epochs, i = 0…7, is milestones [1, 4, 13, 40, 121, 364, 1093] epochs and factors
/// 10^(−i/7) with `learning_rate` 0.001 (3,280 epochs in all).
public struct PiecewiseConstant: LearningRateScheduleKind {
    public static let name = "piecewise"
    static let milestones = Setting<[Double]>(
        "training.lr_milestones", default: [],
        help: "with lr_schedule piecewise: the ascending milestones where the factor changes", read: { try numbers($0) },
        json: { list($0) })
    static let factors = Setting<[Double]>(
        "training.lr_factors", default: [1],
        help: "with lr_schedule piecewise: the factor of the rate before each milestone and after the last (one more)",
        read: { v in
            let values = try numbers(v)
            guard !values.isEmpty, values.allSatisfy({ $0 > 0 }) else { throw v.error("must be a non-empty list of factors > 0") }
            return values
        }, json: { list($0) })
    static let unit = Setting<String>(
        "training.lr_milestone_unit", default: "epochs", help: "with lr_schedule piecewise: epochs or steps",
        read: { try $0.string(oneOf: ["epochs", "steps"]) }, json: { jsonLiteral($0) })
    public static let settings = [milestones.erased, factors.erased, unit.erased]

    let milestones: [Double], factors: [Double], inEpochs: Bool
    public init(settings: SettingValues) {
        milestones = settings[PiecewiseConstant.milestones]
        factors = settings[PiecewiseConstant.factors]
        inEpochs = settings[PiecewiseConstant.unit] == "epochs"
    }

    public static func check(_ settings: SettingValues) throws {
        let (m, f) = (settings[milestones], settings[factors])
        guard zip(m, m.dropFirst()).allSatisfy({ $0 < $1 }), m.allSatisfy({ $0 > 0 }) else {
            throw ConfigurationError(key: milestones.key, problem: "must be positive and ascending, got \(m)")
        }
        guard f.count == m.count + 1 else {
            throw ConfigurationError(
                key: factors.key,
                problem: "has \(f.count) factors for \(m.count) milestones; give one more factor than milestones")
        }
    }

    /// With steps per epoch unknown, milestones count steps.
    public func rate(at step: Int, base: Float, horizon: Int) -> Float {
        rate(at: step, base: base, stepsPerEpoch: 1, horizon: horizon)
    }

    public func rate(at step: Int, base: Float, stepsPerEpoch: Int, horizon: Int) -> Float {
        // Step `step` (1-based) starts at step − 1 steps done: (step − 1) / steps per epoch epochs.
        let done = inEpochs ? Double(step - 1) / Double(max(stepsPerEpoch, 1)) : Double(step - 1)
        let stage = milestones.firstIndex { done < $0 } ?? milestones.count
        return Float(Double(base) * factors[min(stage, factors.count - 1)])
    }
}

/// A list of numbers, each checked.
private func numbers(_ v: ConfigValue) throws -> [Double] {
    guard let items = v.value as? [Any], items.count <= 1000 else { throw v.error("must be a list of at most 1000 numbers") }
    return try items.enumerated().map { try ConfigValue(key: "\(v.key)[\($0.offset)]", value: $0.element).number() }
}

private func list(_ values: [Double]) -> String { "[" + values.map { "\($0)" }.joined(separator: ",") + "]" }
