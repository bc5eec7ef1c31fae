import AxonStorage
import MatrixModel

/// Places a received PDU in its room's graph (DESIGN.md "Federation"), inside the room's write
/// transaction, after its format, signatures and hash were checked (`ReceivedPDU`):
///
/// 4. auth against its own auth events, 5. auth against the state before it (the resolution
/// of the states after its prev_events): failing either, it is rejected, kept as such and
/// never shown or built on; 6. auth against the room's current state: failing that, it is
/// soft-failed, kept with its state but out of the timeline and the extremities. Otherwise it
/// joins the timeline, and the room's current state becomes the resolution over the new
/// forward extremities; what that changes reaches `/sync` at the event's position.
struct RoomGraph: Sendable {
    let storage: any Storage
    /// This server's name: its users are the ones notified of accepted events.
    let serverName: String

    enum Outcome: Equatable {
        case accepted(StoredEvent)
        case rejected(String)
        case softFailed(String)
    }

    struct MissingEvents: Error, Equatable {
        /// prev_events or auth_events this server does not have: the caller fetches them.
        let ids: [String]
    }

    /// `notRecommended`: the room's policy server did not sign it (`RoomPolicy`); an event that
    /// passes the auth rules is then soft-failed.
    func place(_ pdu: PDU, in tx: any RoomWriteTransaction, notRecommended: String? = nil) async throws -> Outcome {
        guard let room = tx.room else { throw MatrixError.notFound("Unknown room") }
        let version = room.version
        if let existing = try await tx.event(id: pdu.eventID) { return .accepted(existing) }

        // 4. Against its own auth events, none of them rejected.
        if let failure = try await authEventsFailure(pdu, room: room, in: tx) { return try await reject(pdu, failure, in: tx) }

        // 5. Against the state before it.
        let prevs = pdu.prevEvents
        let prevGroups = try await statesAfter(prevs, in: tx)
        let missingPrevs = prevs.filter { prevGroups[$0] == nil }
        guard missingPrevs.isEmpty else { throw MissingEvents(ids: missingPrevs) }
        let prevStateGroups = prevs.compactMap { prevGroups[$0] }
        // Only the keys the auth rules read are loaded; the whole state only when it must be
        // resolved or snapshotted.
        var needed = Set(
            AuthRules.authEventKeys(type: pdu.type, sender: pdu.sender, stateKey: pdu.stateKey, content: pdu.content, version: version)
                + [.create, .powerLevels, .joinRules, .member(pdu.sender)])
        if let stateKey = pdu.stateKey { needed.insert(StateKey(pdu.type, stateKey)) }
        let keys = Array(needed)
        var before: StateMap?
        let beforeGroup: Int64?
        var beforeEvents: [StateKey: PDU] = [:]
        if prevStateGroups.count == 1, let prevGroup = prevStateGroups.first {
            beforeGroup = prevGroup
            for key in keys { beforeEvents[key] = try await storage.stateEvent(group: prevGroup, key: key) }
        } else {
            let (resolvedBefore, group) = try await stateAfter(prevStateGroups, version: version, in: tx)
            before = resolvedBefore
            beforeGroup = group
            beforeEvents = try await pdus(resolvedBefore.filter { needed.contains($0.key) }, in: tx)
        }
        if let failure = authFailure(pdu, state: beforeEvents, version: version) {
            return try await reject(pdu, "not allowed by the state before it: \(failure)", in: tx)
        }
        func fullBefore() async throws -> StateMap {
            if let before { return before }
            let loaded = try await beforeGroup.asyncMap { try await tx.stateEntries(group: $0) } ?? [:]
            before = loaded
            return loaded
        }

        // 6. Against the current state (and the room's policy server).
        let current = try await tx.currentStateEvents(keys)
        if let failure = notRecommended.map({ "not recommended by the room's policy server: \($0)" }) ?? authFailure(pdu, state: current, version: version) {
            var after: Int64?
            if let key = pdu.stateKey {
                var state = try await fullBefore()
                state[StateKey(pdu.type, key)] = pdu.eventID
                after = try await tx.snapshot(state, near: beforeGroup)
            }
            try await tx.storeOutlier(pdu, kind: .softFailed, reason: failure, stateBefore: beforeGroup, stateAfter: after ?? beforeGroup)
            return .softFailed(failure)
        }

        // The new current state: advanced by the event when it builds on exactly the one
        // extremity, resolved over all extremities otherwise.
        let extremities = try await tx.forwardExtremities().map(\.eventID)
        var resolved: StateMap?
        if !(extremities.count == 1 && prevs == extremities) {
            var after = try await fullBefore()
            if let stateKey = pdu.stateKey { after[StateKey(pdu.type, stateKey)] = pdu.eventID }
            let others = try await tx.events(ids: extremities.filter { !prevs.contains($0) })
            var states = [after]
            for other in others { states.append(try await tx.stateEntries(group: other.stateGroup)) }
            let graph = try await graph(for: states, adding: pdu, in: tx)
            resolved = StateResolution.resolve(states, graph: graph, version: version)
        }
        let shown = RoomEventWriter.withPreviousContent(pdu, replacing: pdu.stateKey.flatMap { beforeEvents[StateKey(pdu.type, $0)] })
        let stored = try await tx.append(shown, placement: EventPlacement(stateBefore: beforeGroup, resolvedCurrentState: resolved))
        try await PushActionRecorder.record(stored, state: beforeEvents, version: version, localServer: serverName, in: tx)
        return .accepted(stored)
    }

    /// Keeps an event known only from an auth chain: not in the timeline, no state computed,
    /// but checked against its own auth events like any other (rejected if it fails).
    func storeOutlier(_ pdu: PDU, in tx: any RoomWriteTransaction) async throws {
        guard let room = tx.room else { throw MatrixError.notFound("Unknown room") }
        if let failure = try await authEventsFailure(pdu, room: room, in: tx) {
            try await tx.storeOutlier(pdu, kind: .rejected, reason: failure, stateBefore: nil, stateAfter: nil)
        } else {
            try await tx.storeOutlier(pdu, kind: .outlier, reason: nil, stateBefore: nil, stateAfter: nil)
        }
    }

    /// Stores the far side of a gap as the room's past with the state a resident said it had,
    /// so later events can be placed on it: checked against its auth events and that state
    /// like any event (kept as rejected if it fails either). The state's events must be known;
    /// those known only as outliers join the past too, so current state can name them. A
    /// state without a create event is refused. Returns whether the event was stored.
    @discardableResult
    func storeGapEdge(_ pdu: PDU, stateBefore stateIDs: [String], in tx: any RoomWriteTransaction) async throws -> Bool {
        guard let room = tx.room else { throw MatrixError.notFound("Unknown room") }
        if let failure = try await authEventsFailure(pdu, room: room, in: tx) {
            _ = try await reject(pdu, failure, in: tx)
            return false
        }
        var (state, events) = try await stateMap(of: stateIDs, in: tx)
        guard state[.create] != nil else { return false }
        if let failure = authFailure(pdu, state: events, version: room.version) {
            _ = try await reject(pdu, "not allowed by the state before it: \(failure)", in: tx)
            return false
        }
        let before = try await storeAsPast(state: state, events: events, in: tx)
        var after = before
        if let stateKey = pdu.stateKey {
            state[StateKey(pdu.type, stateKey)] = pdu.eventID
            after = try await tx.snapshot(state, near: before)
        }
        _ = try await tx.insertHistorical(pdu, stateGroup: after)
        return true
    }

    /// A state a resident named by event IDs, from the events this server knows (rejected
    /// ones left out).
    func stateMap(of stateIDs: [String], in tx: any RoomWriteTransaction) async throws -> (StateMap, [StateKey: PDU]) {
        var state = StateMap()
        var events: [StateKey: PDU] = [:]
        for (id, event) in try await knownEvents(stateIDs, in: tx) where !event.rejected {
            guard let stateKey = event.pdu.stateKey else { continue }
            let key = StateKey(event.pdu.type, stateKey)
            state[key] = id
            events[key] = event.pdu
        }
        return (state, events)
    }

    /// Snapshots a state of the room's past; its events known only as outliers join the
    /// past too (they are history, and reads of a state load its events from there).
    func storeAsPast(state: StateMap, events: [StateKey: PDU], near parent: Int64? = nil, in tx: any RoomWriteTransaction) async throws -> Int64 {
        let group = try await tx.snapshot(state, near: parent)
        for event in events.values.sorted(by: { $0.depth < $1.depth }) {
            _ = try await tx.insertHistorical(event, stateGroup: group)
        }
        return group
    }

    /// Whether a piece of history passes against its own auth events; a failing one is kept
    /// as rejected. Events citing auth events this server lacks are left out.
    func passesAuthEvents(_ pdu: PDU, in tx: any RoomWriteTransaction) async throws -> Bool {
        guard let room = tx.room else { return false }
        do {
            guard let failure = try await authEventsFailure(pdu, room: room, in: tx) else { return true }
            try await tx.storeOutlier(pdu, kind: .rejected, reason: failure, stateBefore: nil, stateAfter: nil)
            return false
        } catch is MissingEvents {
            return false
        }
    }

    /// Why the event fails against its own auth events (nil: it passes); throws when some
    /// of them are unknown.
    private func authEventsFailure(_ pdu: PDU, room: RoomRecord, in tx: any RoomWriteTransaction) async throws -> String? {
        let authIDs = pdu.authEvents
        let authEvents = try await knownEvents(authIDs, in: tx)
        let missingAuth = authIDs.filter { authEvents[$0] == nil }
        guard missingAuth.isEmpty else { throw MissingEvents(ids: missingAuth) }
        if let rejected = authEvents.values.first(where: { $0.rejected }) {
            return "its auth event \(rejected.pdu.eventID) was rejected"
        }
        var authState: [StateKey: PDU] = [:]
        for event in authEvents.values.map(\.pdu) {
            if let stateKey = event.stateKey { authState[StateKey(event.type, stateKey)] = event }
        }
        if room.version.roomIDIsCreateEventHash, authState[.create] == nil {
            // v12 events cite no create event; the room ID names it.
            let createID = "$" + room.roomID.dropFirst()
            authState[.create] = try await knownEvents([createID], in: tx)[createID]?.pdu
        }
        return authFailure(pdu, state: authState, version: room.version).map { "not allowed by its auth events: \($0)" }
    }

    /// The state groups after each of these events, for those that may be built on: timeline
    /// events, and events kept outside it whose state is known (soft-failed ones, and the
    /// far side of a gap fetched with `/state_ids`). Rejected events never are.
    private func statesAfter(_ ids: [String], in tx: any RoomWriteTransaction) async throws -> [String: Int64] {
        var groups: [String: Int64] = [:]
        for event in try await tx.events(ids: ids) { groups[event.pdu.eventID] = event.stateGroup }
        let rest = ids.filter { groups[$0] == nil }
        for outlier in try await tx.outliers(ids: rest) where outlier.kind != .rejected {
            if let group = outlier.stateGroup { groups[outlier.pdu.eventID] = group }
        }
        return groups
    }

    /// The state before an event whose prev_events have these states after them, and its snapshot.
    private func stateAfter(_ prevGroups: [Int64], version: RoomVersion, in tx: any RoomWriteTransaction) async throws -> (StateMap, Int64?) {
        guard let first = prevGroups.first else { return ([:], nil) }
        if prevGroups.count == 1 { return (try await tx.stateEntries(group: first), first) }
        var states: [StateMap] = []
        for group in prevGroups { states.append(try await tx.stateEntries(group: group)) }
        let resolved = StateResolution.resolve(states, graph: try await graph(for: states, adding: nil, in: tx), version: version)
        return (resolved, try await tx.snapshot(resolved, near: first))
    }

    /// Every event of the states and their auth chains, for state resolution.
    private func graph(for states: [StateMap], adding extra: PDU?, in tx: any RoomWriteTransaction) async throws -> EventGraph {
        var graph = EventGraph(events: [:])
        if let extra { graph.events[extra.eventID] = extra }
        var pending = Set(states.flatMap(\.values)).union(extra?.authEvents ?? [])
        while !pending.isEmpty {
            let batch = Array(pending.prefix(500))
            pending.subtract(batch)
            let found = try await knownEvents(batch, in: tx)
            for (id, event) in found {
                graph.events[id] = event.pdu
                if event.rejected { graph.rejected.insert(id) }
                for auth in event.pdu.authEvents where graph.events[auth] == nil { pending.insert(auth) }
            }
        }
        return graph
    }

    /// Events from the timeline or kept outside it, with whether they were rejected.
    private func knownEvents(_ ids: [String], in tx: any RoomWriteTransaction) async throws -> [String: (pdu: PDU, rejected: Bool)] {
        var found: [String: (pdu: PDU, rejected: Bool)] = [:]
        for event in try await tx.events(ids: ids) { found[event.pdu.eventID] = (event.pdu, false) }
        let rest = ids.filter { found[$0] == nil }
        for outlier in try await tx.outliers(ids: rest) { found[outlier.pdu.eventID] = (outlier.pdu, outlier.kind == .rejected) }
        return found
    }

    private func pdus(_ state: StateMap, in tx: any RoomWriteTransaction) async throws -> [StateKey: PDU] {
        var events: [StateKey: PDU] = [:]
        let byID = Dictionary(try await tx.events(ids: Array(state.values)).map { ($0.pdu.eventID, $0.pdu) }) { first, _ in first }
        for (key, id) in state { if let event = byID[id] { events[key] = event } }
        return events
    }

    private func authFailure(_ pdu: PDU, state: [StateKey: PDU], version: RoomVersion) -> String? {
        do {
            // Signatures (restricted joins included) were checked on receipt.
            try AuthRules.check(pdu, state: state, version: version, verifySignature: { _, _ in true })
            return nil
        } catch {
            return error.reason
        }
    }

    private func reject(_ pdu: PDU, _ reason: String, in tx: any RoomWriteTransaction) async throws -> Outcome {
        try await tx.storeOutlier(pdu, kind: .rejected, reason: reason, stateBefore: nil, stateAfter: nil)
        return .rejected(reason)
    }
}
