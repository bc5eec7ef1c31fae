import AxonStorage
import MatrixModel

/// One `required_state` entry: a nil type or state key matches any.
struct StateMatcher: Hashable, Sendable {
    var type: String?
    var stateKey: String?

    func matches(_ key: StateKey) -> Bool {
        (type == nil || type == key.type) && (stateKey == nil || stateKey == key.stateKey)
    }

    var json: JSON { [.string(type ?? "*"), .string(stateKey ?? "*")] }
}

/// One `required_state` request: what `include` matches minus what `exclude` matches, and
/// with `lazyMembers` the member events of the people the timeline shows.
struct RequiredState: Hashable, Sendable {
    var include: [StateMatcher] = []
    var exclude: [StateMatcher] = []
    var lazyMembers = false

    func matches(_ key: StateKey) -> Bool {
        include.contains { $0.matches(key) } && !exclude.contains { $0.matches(key) }
    }

    var json: JSON {
        ["include": .array(include.map(\.json)), "exclude": .array(exclude.map(\.json)), "lazy": .bool(lazyMembers)]
    }

    init(include: [StateMatcher] = [], exclude: [StateMatcher] = [], lazyMembers: Bool = false) {
        self.include = include
        self.exclude = exclude
        self.lazyMembers = lazyMembers
    }

    init?(json: JSON) {
        func matchers(_ value: JSON?) -> [StateMatcher]? {
            value?.arrayValue?.compactMap { pair in
                guard let parts = pair.arrayValue, parts.count == 2, let type = parts[0].stringValue, let key = parts[1].stringValue
                else { return nil }
                return StateMatcher(type: type == "*" ? nil : type, stateKey: key == "*" ? nil : key)
            }
        }
        guard let include = matchers(json["include"]), let exclude = matchers(json["exclude"]) else { return nil }
        self.init(include: include, exclude: exclude, lazyMembers: json["lazy"]?.boolValue ?? false)
    }
}

/// The room config of a list or subscription, and the superset of several (MSC4186
/// "Combining room configs"): the largest timeline limit, and every `required_state` kept
/// separately, so a state entry is returned when any of them would return it.
struct RoomConfig: Hashable, Sendable {
    var timelineLimit: Int
    var requiredState: [RequiredState]

    init(timelineLimit: Int, requiredState: [RequiredState]) {
        self.timelineLimit = timelineLimit
        self.requiredState = requiredState
    }

    func combined(with other: RoomConfig) -> RoomConfig {
        var states = requiredState
        for state in other.requiredState where !states.contains(state) { states.append(state) }
        return RoomConfig(timelineLimit: max(timelineLimit, other.timelineLimit), requiredState: states)
    }

    func matches(_ key: StateKey) -> Bool { requiredState.contains { $0.matches(key) } }
    var lazyMembers: Bool { requiredState.contains(where: \.lazyMembers) }

    /// What to read from the database: whole types, single entries, or (`all`) everything.
    var fetchPlan: (all: Bool, types: [String], keys: [StateKey]) {
        var types = Set<String>()
        var keys = Set<StateKey>()
        for matcher in requiredState.flatMap(\.include) {
            guard let type = matcher.type else { return (true, [], []) }
            if let stateKey = matcher.stateKey { keys.insert(StateKey(type, stateKey)) } else { types.insert(type) }
        }
        return (false, types.sorted(), keys.filter { !types.contains($0.type) }.sorted { ($0.type, $0.stateKey) < ($1.type, $1.stateKey) })
    }

    /// The canonical text a connection records, compared as text to spot a changed config.
    var recordText: String {
        JSON.object(["timeline_limit": .int(Int64(timelineLimit)), "required_state": .array(requiredState.map(\.json))]).encodedString()
    }

    init?(recordText: String) {
        guard let json = try? JSONParser.parse(recordText), let limit = json["timeline_limit"]?.intValue,
            let states = json["required_state"]?.arrayValue
        else { return nil }
        let parsed = states.compactMap(RequiredState.init(json:))
        guard parsed.count == states.count else { return nil }
        self.init(timelineLimit: Int(limit), requiredState: parsed)
    }
}
