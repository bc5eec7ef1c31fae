import AxonStorage
import MatrixModel

/// Joining, leaving and knocking on an Axon room from another server (spec "Joining Rooms",
/// "Leaving Rooms", "Knocking upon a room", resident side): `make_*` hands out a template
/// built on the room's current extremities, `send_*` takes the signed event through the same
/// checks as any received PDU; `send_join` (v1 and v2) answers with the full state before it
/// and the auth chain, `send_knock` with the room's stripped state. For restricted rooms the
/// join template names a local user who may invite, and Axon signs the join itself.
extension ServerContext {
    func registerJoinRoutes(on routes: RouteTable) {
        routes.add(.get, "/_matrix/federation/v1/make_join/{roomId}/{userId}", auth: .server) { request in
            try await makeJoin(request)
        }
        routes.add(.put, "/_matrix/federation/v1/send_join/{roomId}/{eventId}", auth: .server) { request in
            let answer = try await sendJoin(request)
            return .ok([200, answer])
        }
        routes.add(.put, "/_matrix/federation/v2/send_join/{roomId}/{eventId}", auth: .server) { request in
            .ok(try await sendJoin(request))
        }
        // Leaving (rejecting an invite, retracting a knock) and knocking, the same way.
        routes.add(.get, "/_matrix/federation/v1/make_leave/{roomId}/{userId}", auth: .server) { request in
            try await makeMembership(request, "leave")
        }
        routes.add(.put, "/_matrix/federation/v1/send_leave/{roomId}/{eventId}", auth: .server) { request in
            _ = try await acceptMembership(request, "leave")
            return .ok([200, [:]])
        }
        routes.add(.put, "/_matrix/federation/v2/send_leave/{roomId}/{eventId}", auth: .server) { request in
            _ = try await acceptMembership(request, "leave")
            return .ok([:])
        }
        routes.add(.get, "/_matrix/federation/v1/make_knock/{roomId}/{userId}", auth: .server) { request in
            try await makeMembership(request, "knock")
        }
        routes.add(.put, "/_matrix/federation/v1/send_knock/{roomId}/{eventId}", auth: .server) { request in
            let knock = try await acceptMembership(request, "knock")
            let state = try await rooms.strippedStateEvents(group: knock.stateGroup, sender: knock.pdu.sender).filter { $0.eventID != knock.pdu.eventID }
            return .ok(["knock_room_state": .array(state.map { .object(ServerVisibility.federationForm($0).json) })])
        }
    }

    private func makeJoin(_ request: MatrixRequest) async throws -> MatrixResponse {
        try await makeMembership(request, "join")
    }

    /// `make_join`, `make_leave`, `make_knock`: a template built on the room's current
    /// extremities, refused now if the current state would refuse the event.
    private func makeMembership(_ request: MatrixRequest, _ membership: String) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        let userID = request.parameter("userId")
        let origin = request.origin ?? ""
        guard UserID(userID)?.server.value == origin else { throw MatrixError.forbidden("\(origin) may only \(membership) for its own users") }
        guard let room = try await storage.room(id: roomID), try await RemoteMembership.hasState(roomID: roomID, storage: storage) else {
            throw MatrixError.notFound("Unknown room")
        }
        guard await mayParticipate(origin, roomID: roomID) else { throw MatrixError.forbidden("The room's server ACL forbids \(origin)") }
        if membership != "leave" {
            try await RoomService.refuseBlocked(roomID, storage: storage)
            let supported = request.query["ver"] ?? ["1"]
            guard supported.contains(room.version.identifier) else {
                throw MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", "This room's version is not supported by \(origin)", extra: [
                    "room_version": .string(room.version.identifier)
                ])
            }
        }
        let template = try await storage.writeRoom(roomID: roomID) { tx -> JSONObject in
            var content: JSONObject = ["membership": .string(membership)]
            let state = try await tx.currentStateEvents([.joinRules, .powerLevels, .create, .member(userID)])
            let rule = state[.joinRules]?.content["join_rule"]?.stringValue
            let current = state[.member(userID)]?.membership
            if membership == "join", rule == "restricted" || rule == "knock_restricted", current != "join", current != "invite" {
                content["join_authorised_via_users_server"] = .string(try await authoriser(for: userID, tx: tx, state: state, room: room))
            }
            let keys = AuthRules.authEventKeys(type: "m.room.member", sender: userID, stateKey: userID, content: .object(content), version: room.version)
            let authState = try await tx.currentStateEvents(keys)
            let (prevEvents, depth) = try await RoomEventWriter.prevEvents(in: tx)
            var event: JSONObject = [
                "type": "m.room.member", "state_key": .string(userID), "sender": .string(userID), "room_id": .string(roomID),
                "content": .object(content), "origin_server_ts": .int(nowMillis()), "depth": .int(depth),
                "prev_events": RoomEventWriter.references(prevEvents, version: room.version),
                "auth_events": RoomEventWriter.references(keys.compactMap { authState[$0]?.eventID }, version: room.version),
            ]
            // The join must be allowed now, or the joining server would sign in vain.
            var check = event
            check["event_id"] = .string("$check:\(origin)")
            let pdu = PDU(eventID: "$check", json: check)
            var fullState = try await tx.currentStateEvents(keys + [.create, .joinRules, .powerLevels])
            fullState[.create] = fullState[.create] ?? state[.create]
            do {
                try AuthRules.check(pdu, state: fullState, version: room.version, verifySignature: { _, _ in true })
            } catch {
                throw MatrixError.forbidden("You are not allowed to \(membership) in this room: \(error)")
            }
            return event
        }
        return .ok(["event": .object(template), "room_version": .string(room.version.identifier)])
    }

    /// A local member who may invite, to vouch for a restricted join whose allow rules the
    /// joining user meets (they are joined to one of the allowed rooms, as this server sees it).
    private func authoriser(for userID: String, tx: any RoomWriteTransaction, state: [StateKey: PDU], room: RoomRecord) async throws -> String {
        let allowed = state[.joinRules]?.content["allow"]?.arrayValue?
            .filter { $0["type"]?.stringValue == "m.room_membership" }.compactMap { $0["room_id"]?.stringValue } ?? []
        var meetsRule = false
        for allowedRoom in allowed where try await storage.membership(roomID: allowedRoom, userID: userID)?.membership == "join" {
            meetsRule = true
            break
        }
        guard meetsRule else {
            throw MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "\(userID) is not known here to be in any room this room allows")
        }
        let levels = PowerLevels(content: state[.powerLevels]?.content, create: state[.create], version: room.version)
        let local = try await tx.joinedMembers().filter { UserID($0)?.server == serverName }
        guard let user = local.sorted(by: { levels.userLevel($0) > levels.userLevel($1) }).first(where: { levels.userLevel($0) >= levels.invite })
        else { throw MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "No user of this server can authorise the join") }
        return user
    }

    private func sendJoin(_ request: MatrixRequest) async throws -> JSON {
        let stored = try await acceptMembership(request, "join")
        let stateBefore = try await storage.stateGroupBefore(eventID: stored.pdu.eventID).asyncMap { try await storage.state(group: $0) } ?? [:]
        let state = Array(stateBefore.values)
        let chain = try await AuthChains(storage: storage).chain(of: state + [stored.pdu])
        return [
            "origin": .string(serverName.value),
            "state": .array(state.map { .object(ServerVisibility.federationForm($0).json) }),
            "auth_chain": .array(chain.map { .object(ServerVisibility.federationForm($0).json) }),
            "event": .object(ServerVisibility.federationForm(stored.pdu).json),
            "members_omitted": false,
        ]
    }

    /// `send_join`, `send_leave`, `send_knock`: the signed event of a user of the origin goes
    /// through the same checks as any received PDU, then to the room's other servers.
    private func acceptMembership(_ request: MatrixRequest, _ membership: String) async throws -> StoredEvent {
        let roomID = try roomIDParameter(request)
        let origin = request.origin ?? ""
        guard let room = try await storage.room(id: roomID), try await RemoteMembership.hasState(roomID: roomID, storage: storage) else {
            throw MatrixError.notFound("Unknown room")
        }
        guard await mayParticipate(origin, roomID: roomID) else { throw MatrixError.forbidden("The room's server ACL forbids \(origin)") }
        if membership != "leave" { try await RoomService.refuseBlocked(roomID, storage: storage) }
        let body = try request.jsonObject()
        guard let object = body.objectValue else { throw MatrixError.badJSON("The join event must be an object") }
        var pdu: PDU
        do {
            pdu = try ReceivedPDU.parse(object, version: room.version, roomID: roomID)
        } catch {
            throw MatrixError.badJSON(error.description)
        }
        guard pdu.eventID == request.parameter("eventId") else { throw MatrixError.badJSON("The event ID does not match the event") }
        guard pdu.type == "m.room.member", pdu.membership == membership, pdu.stateKey == pdu.sender,
            UserID(pdu.sender)?.server.value == origin
        else { throw MatrixError.badJSON("Not a \(membership) of a user of \(origin)") }
        // A restricted join names a user of ours: the resident signs it as the spec requires.
        if membership == "join", let via = pdu.content["join_authorised_via_users_server"]?.stringValue {
            guard UserID(via)?.server == serverName else { throw MatrixError.forbidden("The join is authorised by another server") }
            pdu = try countersigned(pdu, version: room.version)
        }
        let receiver = pduReceiver
        do {
            pdu = try await receiver.verified(pdu, version: room.version)
        } catch let failure as ReceivedPDU.Failure {
            throw MatrixError.forbidden(failure.description)
        }
        let event = pdu
        let outcome = try await storage.writeRoom(roomID: roomID) { tx in try await receiver.graph.place(event, in: tx) }
        guard case .accepted(let stored) = outcome else { throw MatrixError.forbidden("The \(membership) was not accepted: \(outcome)") }
        // The resident passes the event on to the room's other servers.
        let others = try await storage.joinedServers(roomID: roomID, excluding: serverName.value).filter { $0 != origin }
        try await storage.enqueueOutbound(destinations: others, eventID: stored.pdu.eventID, edu: nil, now: nowMillis())
        rooms.notify(stored)
        return stored
    }
}
