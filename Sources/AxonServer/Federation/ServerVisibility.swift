import AxonStorage
import MatrixModel

/// What another server may read of a room (spec "History visibility", server behaviour, and
/// the server-server read endpoints): only a server with a member joined to the room gets an
/// answer at all, and an event it may not see — `invited` or `joined` history from before any
/// of its users could see it — is served redacted.
struct ServerVisibility: Sendable {
    let storage: any Storage

    /// 403 unless `server` has a user joined to the room now.
    func requireParticipant(_ server: String, roomID: String) async throws {
        guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Unknown room") }
        let members = try await storage.members(roomID: roomID, membership: "join")
        guard members.contains(where: { UserID($0.userID)?.server.value == server }) else {
            throw MatrixError.forbidden("\(server) has no member in \(roomID)")
        }
    }

    /// The events as `server` may have them, in order: whole, or redacted when its users
    /// could not see them.
    func filter(_ events: [StoredEvent], for server: String, version: RoomVersion) async throws -> [PDU] {
        var cache: [Int64: Bool] = [:]
        var result: [PDU] = []
        for event in events {
            let visible: Bool
            if let known = cache[event.stateGroup] {
                visible = known
            } else {
                visible = try await canSee(stateGroup: event.stateGroup, server: server)
                cache[event.stateGroup] = visible
            }
            result.append(visible ? Self.federationForm(event.pdu) : PDU(eventID: event.pdu.eventID, json: Redaction.redact(event.pdu.json, version: version)))
        }
        return result
    }

    private func canSee(stateGroup: Int64, server: String) async throws -> Bool {
        let state = try await storage.state(group: stateGroup)
        let visibility = state[.historyVisibility]?.content["history_visibility"]?.stringValue ?? "shared"
        if visibility == "world_readable" || visibility == "shared" { return true }
        let allowed: Set<String> = visibility == "invited" ? ["join", "invite"] : ["join"]
        return state.contains { key, event in
            key.type == "m.room.member" && UserID(key.stateKey)?.server.value == server && allowed.contains(event.membership ?? "")
        }
    }

    /// The event as servers exchange it: what it was signed as, without the local `unsigned`.
    static func federationForm(_ pdu: PDU) -> PDU {
        var json = pdu.json
        json["unsigned"] = nil
        return PDU(eventID: pdu.eventID, json: json)
    }
}
