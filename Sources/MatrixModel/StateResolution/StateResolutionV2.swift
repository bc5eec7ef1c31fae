/// State resolution v2 (room versions 2–11) and v2.1 (12): content/rooms/v2.md and v12.md,
/// "State resolution". Step numbers follow the spec's "Algorithm".
enum StateResolutionV2 {
    static func resolve(_ states: [StateMap], graph: EventGraph, version: RoomVersion) -> StateMap {
        let (unconflicted, conflicted) = StateResolution.partition(states, missingConflicts: true)
        let conflictedSet = Set(conflicted.values.joined())
        var full = conflictedSet.union(authDifference(states, graph: graph))
        if version.stateResolution == .v2_1 { full.formUnion(conflictedSubgraph(conflictedSet, graph: graph)) }
        full = full.filter { graph[$0] != nil }

        // 1. Power events and the parts of their auth chains in the full conflicted set.
        var powerEvents = Set(full.filter { graph[$0].map(isPowerEvent) ?? false })
        for id in powerEvents { powerEvents.formUnion(graph.authChain(of: [id]).intersection(full)) }
        let sortedPower = reverseTopologicalPowerOrder(powerEvents, graph: graph, version: version)
        // 2. Iterative auth checks from the unconflicted state (v2) or nothing (v2.1).
        let start = version.stateResolution == .v2_1 ? StateMap() : unconflicted
        var resolved = iterativeAuthChecks(sortedPower, from: start, graph: graph, version: version)
        // 3. The rest, by mainline order of the partially resolved power levels.
        let others = full.subtracting(powerEvents)
        let sortedOthers = mainlineOrder(others, powerLevels: resolved[.powerLevels], graph: graph)
        // 4. Iterative auth checks again.
        resolved = iterativeAuthChecks(sortedOthers, from: resolved, graph: graph, version: version)
        // 5. The unconflicted state wins.
        resolved.merge(unconflicted) { _, unconflicted in unconflicted }
        return resolved
    }

    /// Power levels, join rules, and kicks and bans: events that can take a right away.
    static func isPowerEvent(_ event: PDU) -> Bool {
        switch event.type {
        case "m.room.power_levels", "m.room.join_rules":
            return event.stateKey == ""
        case "m.room.member":
            let membership = event.membership
            return (membership == "leave" || membership == "ban") && event.sender != event.stateKey
        case "m.room.create":
            // Not in the spec's list, but Synapse sorts it with the power events; only a broken
            // room can have its create event conflicted, and servers must agree even then.
            return event.stateKey == ""
        default:
            return false
        }
    }

    /// ∪ Cᵢ − ∩ Cᵢ over the full auth chains of the states.
    static func authDifference(_ states: [StateMap], graph: EventGraph) -> Set<String> {
        let chains = states.map { graph.authChain(of: $0.values) }
        guard let first = chains.first else { return [] }
        var union = first
        var intersection = first
        for chain in chains.dropFirst() {
            union.formUnion(chain)
            intersection.formIntersection(chain)
        }
        return union.subtracting(intersection)
    }

    /// v2.1: every event on an `auth_events` path between two events of the conflicted set.
    static func conflictedSubgraph(_ conflicted: Set<String>, graph: EventGraph) -> Set<String> {
        // An event is on such a path when a conflicted event reaches it and it reaches a
        // conflicted event; memoised depth-first over the auth DAG.
        var reaches: [String: Bool] = [:]
        func reachesConflicted(_ id: String) -> Bool {
            if let known = reaches[id] { return known }
            reaches[id] = false
            let result = (graph[id]?.authEvents ?? []).contains { conflicted.contains($0) || reachesConflicted($0) }
            reaches[id] = result
            return result
        }
        var subgraph = Set<String>()
        for id in conflicted where reachesConflicted(id) {
            subgraph.insert(id)
            for ancestor in graph.authChain(of: [id]) where conflicted.contains(ancestor) || reachesConflicted(ancestor) {
                subgraph.insert(ancestor)
            }
        }
        return subgraph
    }

    /// Kahn's algorithm over the auth DAG of `ids`, taking at each step the candidate whose
    /// sender has the most power (by its own auth events), then the oldest, then the
    /// smallest event ID.
    static func reverseTopologicalPowerOrder(_ ids: Set<String>, graph: EventGraph, version: RoomVersion) -> [String] {
        struct Key: Comparable {
            let power: Int64
            let ts: Int64
            let id: String
            static func < (a: Key, b: Key) -> Bool {
                if a.power != b.power { return a.power > b.power }
                if a.ts != b.ts { return a.ts < b.ts }
                return a.id < b.id
            }
        }
        var keys: [String: Key] = [:]
        for id in ids {
            guard let event = graph[id] else { continue }
            keys[id] = Key(power: senderPower(event, graph: graph, version: version), ts: event.originServerTS, id: id)
        }
        return kahn(ids, graph: graph) { keys[$0]! < keys[$1]! }
    }

    /// A topological order of `ids` by their `auth_events` (auth events first), smallest
    /// candidate first by `less`.
    static func kahn(_ ids: Set<String>, graph: EventGraph, less: @escaping (String, String) -> Bool) -> [String] {
        var pendingAuth: [String: Int] = [:]
        var dependents: [String: [String]] = [:]
        for id in ids {
            let auth = Set(graph[id]?.authEvents ?? []).intersection(ids)
            pendingAuth[id] = auth.count
            for parent in auth { dependents[parent, default: []].append(id) }
        }
        var ready = Heap<String>(less: less)
        for (id, count) in pendingAuth where count == 0 { ready.insert(id) }
        var order: [String] = []
        order.reserveCapacity(ids.count)
        while let next = ready.popMin() {
            order.append(next)
            for child in dependents[next] ?? [] {
                pendingAuth[child]! -= 1
                if pendingAuth[child] == 0 { ready.insert(child) }
            }
        }
        return order
    }

    /// The sender's power level in the power levels its event cites.
    static func senderPower(_ event: PDU, graph: EventGraph, version: RoomVersion) -> Int64 {
        var powerLevels: PDU?
        var create: PDU?
        for id in event.authEvents {
            guard let auth = graph[id] else { continue }
            if auth.type == "m.room.power_levels", auth.stateKey == "" { powerLevels = auth }
            if auth.type == "m.room.create", auth.stateKey == "" { create = auth }
        }
        if create == nil { create = StateResolution.createEvent(of: event, graph: graph, version: version) }
        if event.type == "m.room.create" { create = event }
        return PowerLevels(content: powerLevels?.content, create: create, version: version).userLevel(event.sender)
    }

    /// Events ordered by where their power levels meet the mainline of `powerLevels`: those
    /// based on older power levels (or none on the mainline) first, then by time and ID.
    static func mainlineOrder(_ ids: Set<String>, powerLevels: String?, graph: EventGraph) -> [String] {
        var mainline: [String: Int] = [:]  // event ID → depth from the oldest, 1-based
        var chain: [String] = []
        var current = powerLevels
        while let id = current, mainline[id] == nil, chain.count <= graph.events.count {
            chain.append(id)
            mainline[id] = 0
            current = graph[id].flatMap { citedPowerLevels($0, graph: graph) }
        }
        for (index, id) in chain.reversed().enumerated() { mainline[id] = index + 1 }

        var depthCache: [String: Int] = [:]
        func mainlineDepth(_ id: String) -> Int {
            var visited: [String] = []
            var cursor: String? = id
            var depth = 0
            while let here = cursor {
                if let cached = depthCache[here] { depth = cached; break }
                if let position = mainline[here] { depth = position; break }
                visited.append(here)
                cursor = graph[here].flatMap { citedPowerLevels($0, graph: graph) }
                if visited.count > graph.events.count { break }
            }
            for seen in visited { depthCache[seen] = depth }
            return depth
        }
        let keyed = ids.compactMap { id in graph[id].map { (id: id, depth: mainlineDepth(id), ts: $0.originServerTS) } }
        return keyed.sorted { a, b in
            if a.depth != b.depth { return a.depth < b.depth }
            if a.ts != b.ts { return a.ts < b.ts }
            return a.id < b.id
        }.map(\.id)
    }

    static func citedPowerLevels(_ event: PDU, graph: EventGraph) -> String? {
        event.authEvents.first { graph[$0].map { $0.type == "m.room.power_levels" && $0.stateKey == "" } ?? false }
    }

    /// Applies each event, in order, that passes the auth rules against the state so far.
    static func iterativeAuthChecks(_ ids: [String], from start: StateMap, graph: EventGraph, version: RoomVersion) -> StateMap {
        var resolved = start
        for id in ids {
            guard let event = graph[id], let stateKey = event.stateKey else { continue }
            let state = StateResolution.authState(for: event, resolved: resolved, graph: graph, version: version)
            if StateResolution.allowed(event, state: state, version: version) {
                resolved[StateKey(event.type, stateKey)] = id
            }
        }
        return resolved
    }
}
