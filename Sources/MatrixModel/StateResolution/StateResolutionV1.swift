import Crypto

/// State resolution v1 (room version 1): content/rooms/v1.md, "State resolution". Known to
/// reset state; kept only because version 1 rooms still exist and every server must agree.
enum StateResolutionV1 {
    static func resolve(_ states: [StateMap], graph: EventGraph, version: RoomVersion) -> StateMap {
        let (unconflicted, conflicted) = StateResolution.partition(states, missingConflicts: false)
        var resolved = unconflicted
        // Power levels, then join rules, then memberships: each a chain of auth checks.
        let authKeys = [StateKey.powerLevels, .joinRules].filter { conflicted[$0] != nil }
            + conflicted.keys.filter { $0.type == "m.room.member" }.sorted { $0.stateKey < $1.stateKey }
        for key in authKeys {
            resolved[key] = resolveAuthChain(conflicted[key]!, resolved: resolved, graph: graph, version: version)
        }
        // Everything else: the newest event that passes in the state resolved so far.
        for (key, ids) in conflicted where !authKeys.contains(key) {
            let ordered = newestFirst(ids, graph: graph)
            let state = stateEvents(resolved, graph: graph)
            resolved[key] = ordered.first { id in graph[id].map { StateResolution.allowed($0, state: state, version: version) } ?? false }
                ?? ordered.last
        }
        return resolved
    }

    /// Ascending depth, then descending sha1(event ID): the first is taken, each next one
    /// only while it passes against the state with its predecessor.
    private static func resolveAuthChain(_ ids: Set<String>, resolved: StateMap, graph: EventGraph, version: RoomVersion) -> String? {
        let ordered = Array(newestFirst(ids, graph: graph).reversed())
        guard var chosen = ordered.first else { return nil }
        var state = stateEvents(resolved, graph: graph)
        for id in ordered.dropFirst() {
            guard let previous = graph[chosen], let previousKey = previous.stateKey, let event = graph[id] else { continue }
            state[StateKey(previous.type, previousKey)] = previous
            guard StateResolution.allowed(event, state: state, version: version) else { return chosen }
            chosen = id
        }
        return chosen
    }

    /// Descending depth, then ascending sha1 of the event ID (hex).
    private static func newestFirst(_ ids: Set<String>, graph: EventGraph) -> [String] {
        let keyed = ids.compactMap { id in graph[id].map { (id: id, depth: $0.depth, hash: sha1Hex(id)) } }
        return keyed.sorted { a, b in a.depth != b.depth ? a.depth > b.depth : a.hash < b.hash }.map(\.id)
    }

    private static func stateEvents(_ state: StateMap, graph: EventGraph) -> [StateKey: PDU] {
        state.compactMapValues { graph[$0] }
    }

    static func sha1Hex(_ text: String) -> String {
        Insecure.SHA1.hash(data: Array(text.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
