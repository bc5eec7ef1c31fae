import AxonStorage
import MatrixModel

/// Memberships in rooms this server has no state of (spec "Inviting to a room", "Leaving
/// Rooms (Rejecting Invites)", "Knocking upon a room"): an invite a remote server sent, a
/// knock, and the leave that rejects or retracts either. Each is stored as the room's only
/// event so far: a room record with just that membership as its state, the stripped state
/// the other server gave in the event's `unsigned` (what `/sync` shows). Joining later
/// replaces that state with the room's real one.
struct RemoteMembership: Sendable {
    let context: ServerContext

    var storage: any Storage { context.storage }
    var client: FederationClient { context.federation.client }

    /// Stripped state events taken from another server, at most.
    static let maxStrippedEvents = 50

    /// Whether this server has the room's state (it is, or was, in the room), as opposed to
    /// knowing only a membership in it.
    static func hasState(roomID: String, storage: any Storage) async throws -> Bool {
        try await storage.currentStateEvent(roomID: roomID, key: .create) != nil
    }

    /// Keeps only well-formed stripped events, bounded.
    static func strippedState(_ events: [JSON]) -> [JSON] {
        events.prefix(maxStrippedEvents).compactMap { event -> JSON? in
            guard let type = event["type"]?.stringValue, let stateKey = event["state_key"]?.stringValue,
                let sender = event["sender"]?.stringValue, case .object = event["content"] ?? .null
            else { return nil }
            return ["type": .string(type), "state_key": .string(stateKey), "sender": .string(sender), "content": event["content"] ?? [:]]
        }
    }

    /// Stores a membership event of a room this server has no state of, with the stripped
    /// state to show for it (`invite_room_state` or `knock_room_state` in `unsigned`).
    @discardableResult
    func storeOutOfRoom(_ pdu: PDU, version: RoomVersion, stripped: [JSON], key: String) async throws -> StoredEvent {
        var json = pdu.json
        var unsigned = json["unsigned"]?.objectValue ?? [:]
        unsigned[key] = .array(Self.strippedState(stripped))
        json["unsigned"] = .object(unsigned)
        let event = PDU(eventID: pdu.eventID, json: json)
        let creator = stripped.first { $0["type"] == "m.room.create" }?["sender"]?.stringValue ?? pdu.sender
        let stored = try await storage.writeRoom(roomID: pdu.roomID ?? "") { tx -> StoredEvent in
            if let existing = try await tx.event(id: event.eventID) { return existing }
            if tx.room == nil { try await tx.createRoom(RoomRecord(roomID: pdu.roomID ?? "", version: version, creator: creator)) }
            // Never a forward extremity: a later join builds on the room's real graph only.
            return try await tx.append(
                event, placement: EventPlacement(stateBefore: tx.room?.currentStateGroup, resolvedCurrentState: nil, isForwardExtremity: false))
        }
        context.rooms.notify(stored)
        return stored
    }

    /// Rejects an invite or retracts a knock through a server in the room: `make_leave`, the
    /// template rebuilt and signed here, `send_leave` v2.
    func leave(roomID: String, userID: String, servers: [String], reason: String?) async throws -> String {
        var content: JSONObject = [:]
        if let reason { content["reason"] = .string(reason) }
        return try await through(servers, roomID: roomID) { server in
            try await sendMembership("leave", roomID: roomID, userID: userID, via: server, content: content).pdu.eventID
        }
    }

    /// Knocks on a room through one of its servers: `make_knock`, `send_knock`; the answer's
    /// `knock_room_state` is what the knocker sees.
    func knock(roomID: String, userID: String, servers: [String], content: JSONObject) async throws -> String {
        try await RoomService.refuseBlocked(roomID, storage: context.storage)
        return try await through(servers, roomID: roomID) { server in
            try await sendMembership("knock", roomID: roomID, userID: userID, via: server, content: content).pdu.eventID
        }
    }

    private func through(_ servers: [String], roomID: String, _ attempt: (String) async throws -> String) async throws -> String {
        let reachable = servers.filter(client.mayFederate)
        guard !reachable.isEmpty else { throw MatrixError.notFound("No server this one federates with is in \(roomID)") }
        var lastError = "no server to ask"
        for server in reachable {
            do {
                return try await attempt(server)
            } catch let error as MatrixError where error.status == 403 {
                throw error
            } catch {
                lastError = "\(server): \(error)"
            }
        }
        throw MatrixError(502, "M_UNKNOWN", "Could not reach a server of \(roomID): \(lastError)")
    }

    private func sendMembership(_ membership: String, roomID: String, userID: String, via server: String, content: JSONObject) async throws
        -> StoredEvent
    {
        let room = PercentEncoding.component(roomID)
        let user = PercentEncoding.component(userID)
        let query = membership == "knock" ? "?" + RemoteJoin.versionQuery : ""
        let made = try await client.request(.GET, destination: server, path: "/_matrix/federation/v1/make_\(membership)/\(room)/\(user)\(query)")
        if made.status == 403 { throw MatrixError.forbidden(made.json["error"]?.stringValue ?? "Not allowed to \(membership)") }
        guard made.status == 200, let template = made.json["event"]?.objectValue else {
            throw RemoteJoin.Failure(message: "make_\(membership) answered \(made.status)")
        }
        guard let version = RoomVersion(made.json["room_version"]?.stringValue ?? "1") else {
            throw RemoteJoin.Failure(message: "unsupported room version")
        }
        let event = try MembershipTemplate.rebuild(
            template, membership: membership, roomID: roomID, userID: userID, version: version, content: content, context: context)
        let eventID = try EventHashing.eventID(event, version: version)
        let sent = try await client.request(
            .PUT, destination: server, path: "/_matrix/federation/v\(membership == "knock" ? 1 : 2)/send_\(membership)/\(room)/\(PercentEncoding.component(eventID))",
            body: .object(event))
        if sent.status == 403 { throw MatrixError.forbidden(sent.json["error"]?.stringValue ?? "Not allowed to \(membership)") }
        guard sent.status == 200 else { throw RemoteJoin.Failure(message: "send_\(membership) answered \(sent.status)") }
        let pdu = PDU(eventID: eventID, json: event)
        if try await Self.hasState(roomID: roomID, storage: storage) {
            // Still in the room's graph (a knock retracted while other users of ours are in
            // it): the event comes back over /send and is placed there.
            return StoredEvent(pdu: pdu, roomID: roomID, streamPosition: 0, stateGroup: 0)
        }
        let stripped = sent.json["knock_room_state"]?.arrayValue ?? sent.json["knock_state"]?["events"]?.arrayValue ?? []
        let previous = try await storage.membership(roomID: roomID, userID: userID).asyncMap { try await storage.event(id: $0.eventID) } ?? nil
        // A leave keeps what the invite or knock showed, so the left room still has a name.
        let shown = membership == "knock" ? stripped : Self.shownState(of: previous?.pdu)
        return try await storeOutOfRoom(pdu, version: version, stripped: shown, key: membership == "knock" ? "knock_room_state" : "invite_room_state")
    }

    static func shownState(of event: PDU?) -> [JSON] {
        let unsigned = event?.json["unsigned"]
        return unsigned?["invite_room_state"]?.arrayValue ?? unsigned?["knock_room_state"]?.arrayValue ?? []
    }
}

/// A membership template from a resident (`make_join`, `make_leave`, `make_knock`): only its
/// graph position (prev_events, auth_events, depth) is taken; everything else is set here,
/// and it must describe exactly this user's membership (DESIGN.md: never sign what a remote
/// server built).
enum MembershipTemplate {
    static func rebuild(
        _ template: JSONObject, membership: String, roomID: String, userID: String, version: RoomVersion, content extra: JSONObject,
        context: ServerContext
    ) throws -> JSONObject {
        guard template["type"]?.stringValue == "m.room.member", template["state_key"]?.stringValue == userID,
            template["sender"]?.stringValue == userID, template["room_id"]?.stringValue == roomID,
            template["content"]?["membership"]?.stringValue == membership,
            let prev = template["prev_events"]?.arrayValue, let auth = template["auth_events"]?.arrayValue,
            prev.count <= ReceivedPDU.maxPrevEvents, auth.count <= ReceivedPDU.maxAuthEvents,
            let depth = template["depth"]?.intValue, depth > 0
        else { throw RemoteJoin.Failure(message: "the template is not a \(membership) of \(userID) to \(roomID)") }
        var content = extra
        content["membership"] = .string(membership)
        // Only the resident may name who authorised a restricted join, never the client.
        content["join_authorised_via_users_server"] = nil
        if membership == "join", let via = template["content"]?["join_authorised_via_users_server"]?.stringValue, UserID(via) != nil {
            content["join_authorised_via_users_server"] = .string(via)
        }
        var event: JSONObject = [
            "type": "m.room.member", "state_key": .string(userID), "sender": .string(userID), "room_id": .string(roomID),
            "content": .object(content), "origin_server_ts": .int(nowMillis()), "depth": .int(depth),
            "prev_events": .array(prev), "auth_events": .array(auth),
        ]
        if version.eventIDFormat == .serverScoped {
            event["event_id"] = .string("$" + RandomString.alphanumeric(18) + ":" + context.serverName.value)
        }
        return try EventHashing.hashAndSign(event, version: version, server: context.serverName.value, key: context.signingKey)
    }
}
