/// A room state: each (type, state_key) mapped to the ID of the event holding it.
public typealias StateMap = [StateKey: String]

/// The events state resolution may look at: every event of the states being resolved and
/// their auth chains. Events it does not know are treated as absent.
public struct EventGraph: Sendable {
    public var events: [String: PDU]
    /// Events rejected against their auth events or their state.
    public var rejected: Set<String>

    public init(events: [String: PDU], rejected: Set<String> = []) {
        self.events = events
        self.rejected = rejected
    }

    public subscript(id: String) -> PDU? { events[id] }

    /// All events reachable through `auth_events` from `ids`, not including `ids` themselves
    /// unless they are reachable from another.
    public func authChain(of ids: some Sequence<String>) -> Set<String> {
        var chain = Set<String>()
        var stack = ids.flatMap { events[$0]?.authEvents ?? [] }
        while let id = stack.popLast() {
            guard chain.insert(id).inserted, let event = events[id] else { continue }
            stack.append(contentsOf: event.authEvents)
        }
        return chain
    }
}

/// Spec "State resolution": v1 for room version 1, v2 for 2–11, v2.1 for 12 (content/rooms).
public enum StateResolution {
    public static func resolve(_ states: [StateMap], graph: EventGraph, version: RoomVersion) -> StateMap {
        guard let first = states.first else { return [:] }
        if states.count == 1 { return first }
        switch version.stateResolution {
        case .v1: return StateResolutionV1.resolve(states, graph: graph, version: version)
        case .v2, .v2_1: return StateResolutionV2.resolve(states, graph: graph, version: version)
        }
    }

    /// Splits states into the entries every state agrees on and the rest. `missingConflicts`:
    /// a key absent from some states is a conflict (v2), or not (v1).
    static func partition(_ states: [StateMap], missingConflicts: Bool) -> (unconflicted: StateMap, conflicted: [StateKey: Set<String>]) {
        var values: [StateKey: Set<String>] = [:]
        var counts: [StateKey: Int] = [:]
        for state in states {
            for (key, id) in state {
                values[key, default: []].insert(id)
                counts[key, default: 0] += 1
            }
        }
        var unconflicted = StateMap()
        var conflicted: [StateKey: Set<String>] = [:]
        for (key, ids) in values {
            if ids.count == 1, !missingConflicts || counts[key] == states.count {
                unconflicted[key] = ids.first
            } else {
                conflicted[key] = ids
            }
        }
        return (unconflicted, conflicted)
    }

    /// The state an event is checked against during resolution: the resolved state where it
    /// has the keys the auth rules need, the event's own (non-rejected) auth events otherwise.
    static func authState(for event: PDU, resolved: StateMap, graph: EventGraph, version: RoomVersion) -> [StateKey: PDU] {
        var state: [StateKey: PDU] = [:]
        for id in event.authEvents where !graph.rejected.contains(id) {
            if let auth = graph[id], let stateKey = auth.stateKey { state[StateKey(auth.type, stateKey)] = auth }
        }
        var needed = AuthRules.authEventKeys(
            type: event.type, sender: event.sender, stateKey: event.stateKey, content: event.content, version: version)
        if version.roomIDIsCreateEventHash { needed.append(.create) }
        for key in needed {
            if let id = resolved[key], !graph.rejected.contains(id), let current = graph[id] { state[key] = current }
        }
        if state[.create] == nil, let create = createEvent(of: event, graph: graph, version: version) { state[.create] = create }
        return state
    }

    /// v12 rooms cite no create event: the room ID names it.
    static func createEvent(of event: PDU, graph: EventGraph, version: RoomVersion) -> PDU? {
        guard version.roomIDIsCreateEventHash, let roomID = event.roomID else { return nil }
        return graph["$" + roomID.dropFirst()]
    }

    /// Passes `event` against `state`. Signatures were checked when each event arrived, so
    /// `join_authorised_via_users_server` counts as verified here.
    static func allowed(_ event: PDU, state: [StateKey: PDU], version: RoomVersion) -> Bool {
        do {
            try AuthRules.check(event, state: state, version: version, verifySignature: { _, _ in true })
            return true
        } catch {
            return false
        }
    }
}
