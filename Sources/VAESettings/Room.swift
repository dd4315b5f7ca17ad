/// A kind of one of the model's rooms (a likelihood, an objective, a prior): its spelling, its own settings (declared
/// in its file) and how their values build it. Each room's protocol refines this one.
public protocol RoomKind: Sendable {
    /// Its spelling in the room's key (`model.likelihood`, `training.objective`, `model.prior`).
    static var name: String { get }
    /// Its own settings; read only while it is the kind in force.
    static var settings: [AnySetting] { get }
    /// The kind the settings' values give.
    init(settings: SettingValues)
}

/// A room's kind in force with the values of its own settings (``RoomKind``): the room lists its kinds, one line
/// each, and stores the built kind; the lookup by name, the names, the settings, equality and the trajectory fields
/// are shared from here.
public protocol RoomChoice: Equatable, Sendable {
    /// The room's kinds, in the order its help lists them.
    static var registry: [any RoomKind.Type] { get }
    /// The kind in force.
    var chosenKind: any RoomKind { get }
    /// The values of its own settings (for the configuration's writers and the trajectory).
    var settingValues: SettingValues { get }
    /// The choice of a built kind of this room (nil for another room's).
    init?(built kind: any RoomKind, settingValues: SettingValues)
}

extension RoomChoice {
    /// The kind `name` spells, built from `settings`; nil for an unknown name. Only its own settings' values are kept
    /// (another kind's setting left in a file changes nothing).
    public init?(name: String, settings: SettingValues = SettingValues()) {
        guard let kind = Self.registry.first(where: { $0.name == name }) else { return nil }
        self.init(built: kind.init(settings: settings), settingValues: settings.keeping(kind.settings))
    }

    /// The spellings of the room's key.
    public static var names: [String] { registry.map { $0.name } }
    /// Every kind's own settings.
    public static var settings: [AnySetting] { registry.flatMap { $0.settings } }

    /// Its spelling.
    public var name: String { type(of: chosenKind).name }
    /// Its own settings.
    public var settings: [AnySetting] { type(of: chosenKind).settings }

    /// Its name under `field`, then each of its own settings, as trajectory fields (field, JSON value).
    public func nameAndSettings(field: String) -> [(String, String)] {
        [(field, jsonLiteral(name))] + settings.map { ($0.field, settingValues.jsonText($0)) }
    }

    public static func == (a: Self, b: Self) -> Bool { a.name == b.name && a.settingValues == b.settingValues }
}
