import AxonStorage
import MatrixModel

/// Decides which events a user may see (spec "History visibility", server behaviour), from
/// the room state at each event. Used by every read path: /messages, /context, /event,
/// /events/{id}, /sync, /initialSync. A forgotten room shows the user nothing.
struct HistoryVisibility: Sendable {
    let storage: any Storage

    /// Filters events of one room for `userID`, keeping their order. Events of users they
    /// ignore (`m.ignored_user_list`) are dropped too, except state, which clients need to
    /// render the room; pass `ignoring` when it is already known.
    func filter(_ events: [StoredEvent], roomID: String, userID: String, ignoring: Set<String>? = nil) async throws -> [StoredEvent] {
        guard !events.isEmpty else { return [] }
        var ignored = ignoring ?? []
        if ignoring == nil { ignored = try await ignoredUsers(userID) }
        let events = ignored.isEmpty ? events : events.filter { $0.pdu.isState || !ignored.contains($0.pdu.sender) }
        let membership = try await storage.membership(roomID: roomID, userID: userID)
        if membership?.forgotten == true { return [] }
        var cache: [Int64: (visibility: String, membership: String)] = [:]
        let joins = try await joinPositions(roomID: roomID, userID: userID, current: membership)
        // While the user is joined, their membership at every event after their current
        // membership event is that join: those events need no state lookup.
        let joinedSince = membership?.membership == "join" ? membership?.streamPosition : nil
        var visible: [StoredEvent] = []
        // Events seen from outside a join: those of erased senders are served pruned.
        var seenFromOutside: [Int] = []
        for event in events {
            if let joinedSince, event.streamPosition >= joinedSince {
                visible.append(event)
                continue
            }
            let atEvent: (visibility: String, membership: String)
            if let cached = cache[event.stateGroup] {
                atEvent = cached
            } else {
                let visibility = try await storage.stateEvent(group: event.stateGroup, key: .historyVisibility)?
                    .content["history_visibility"]?.stringValue ?? "shared"
                let member = try await storage.stateEvent(group: event.stateGroup, key: .member(userID))?.membership ?? "leave"
                atEvent = (visibility, member)
                cache[event.stateGroup] = atEvent
            }
            if allows(visibility: atEvent.visibility, membership: atEvent.membership, event: event, joins: joins) {
                if atEvent.membership != "join" { seenFromOutside.append(visible.count) }
                visible.append(event)
                continue
            }
            // History visibility events and the user's own membership events are visible if the
            // state before them would allow it too.
            let previous = event.pdu.json["unsigned"]?["prev_content"]
            if event.pdu.type == "m.room.history_visibility",
                allows(visibility: previous?["history_visibility"]?.stringValue ?? "shared", membership: atEvent.membership, event: event, joins: joins)
            {
                visible.append(event)
            } else if event.pdu.type == "m.room.member", event.pdu.stateKey == userID,
                allows(visibility: atEvent.visibility, membership: previous?["membership"]?.stringValue ?? "leave", event: event, joins: joins)
            {
                visible.append(event)
            }
        }
        if !seenFromOutside.isEmpty { try await pruneErasedSenders(&visible, at: seenFromOutside, roomID: roomID) }
        return visible
    }

    /// Spec `erase` on deactivation: who was not joined when an erased user sent an event
    /// gets it redacted, without a redaction event (membership survives redaction, so the
    /// room still renders, but display names and avatars do not).
    private func pruneErasedSenders(_ events: inout [StoredEvent], at indices: [Int], roomID: String) async throws {
        let erased = try await storage.erasedUsers(among: Set(indices.map { events[$0].pdu.sender }))
        guard !erased.isEmpty, let room = try await storage.room(id: roomID) else { return }
        for index in indices where erased.contains(events[index].pdu.sender) && events[index].redactedBecause == nil {
            var pruned = Redaction.redact(events[index].pdu.json, version: room.version)
            // Earlier content travels in `unsigned` too: none of it is kept.
            pruned["unsigned"] = nil
            events[index].pdu = PDU(eventID: events[index].pdu.eventID, json: pruned)
        }
    }

    func ignoredUsers(_ userID: String) async throws -> Set<String> {
        Self.ignoredUsers(in: try await storage.accountData(userID: userID, roomID: nil, type: "m.ignored_user_list"))
    }

    /// The users an `m.ignored_user_list` content names.
    static func ignoredUsers(in list: JSON?) -> Set<String> {
        Set(list?["ignored_users"]?.objectValue?.keys ?? [])
    }

    private func allows(visibility: String, membership: String, event: StoredEvent, joins: [Int64]) -> Bool {
        switch visibility {
        case "world_readable":
            return true
        case _ where membership == "join":
            return true
        case "invited":
            return membership == "invite"
        case "joined":
            return false
        default:
            // "shared", and anything not understood: visible if the user joined at any point after.
            return joins.contains { $0 > event.streamPosition }
        }
    }

    /// Stream positions at which the user joined the room. Only the current membership matters
    /// when it is a join: then every later join is at most the current one.
    private func joinPositions(roomID: String, userID: String, current: Membership?) async throws -> [Int64] {
        guard let current else { return [] }
        if current.membership == "join" { return [current.streamPosition] }
        return try await storage.joinPositions(roomID: roomID, userID: userID)
    }
}
