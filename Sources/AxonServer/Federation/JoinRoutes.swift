import AxonStorage
import MatrixModel

/// Joining an Axon room from another server (spec "Joining Rooms", resident side):
/// `make_join` hands out a template built on the room's current extremities, `send_join`
/// (v1 and v2) takes the signed join through the same checks as any received PDU and answers
/// with the full state before it and the auth chain. For restricted rooms the template names
/// a local user who may invite, and Axon signs the join itself.
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
    }

    private func makeJoin(_ request: MatrixRequest) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        let userID = request.parameter("userId")
        let origin = request.origin ?? ""
        guard UserID(userID)?.server.value == origin else { throw MatrixError.forbidden("\(origin) may only join its own users") }
        guard let room = try await storage.room(id: roomID) else { throw MatrixError.notFound("Unknown room") }
        guard await mayParticipate(origin, roomID: roomID) else { throw MatrixError.forbidden("The room's server ACL forbids \(origin)") }
        let supported = request.query["ver"] ?? ["1"]
        guard supported.contains(room.version.identifier) else {
            throw MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", "This room's version is not supported by \(origin)", extra: [
                "room_version": .string(room.version.identifier)
            ])
        }
        let template = try await storage.writeRoom(roomID: roomID) { tx -> JSONObject in
            var content: JSONObject = ["membership": "join"]
            let state = try await tx.currentStateEvents([.joinRules, .powerLevels, .create, .member(userID)])
            let rule = state[.joinRules]?.content["join_rule"]?.stringValue
            let current = state[.member(userID)]?.membership
            if rule == "restricted" || rule == "knock_restricted", current != "join", current != "invite" {
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
                throw MatrixError.forbidden("You are not allowed to join this room: \(error)")
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
        let roomID = try roomIDParameter(request)
        let origin = request.origin ?? ""
        guard let room = try await storage.room(id: roomID) else { throw MatrixError.notFound("Unknown room") }
        guard await mayParticipate(origin, roomID: roomID) else { throw MatrixError.forbidden("The room's server ACL forbids \(origin)") }
        let body = try request.jsonObject()
        guard let object = body.objectValue else { throw MatrixError.badJSON("The join event must be an object") }
        var pdu: PDU
        do {
            pdu = try ReceivedPDU.parse(object, version: room.version, roomID: roomID)
        } catch {
            throw MatrixError.badJSON(error.description)
        }
        guard pdu.eventID == request.parameter("eventId") else { throw MatrixError.badJSON("The event ID does not match the event") }
        guard pdu.type == "m.room.member", pdu.membership == "join", pdu.stateKey == pdu.sender,
            UserID(pdu.sender)?.server.value == origin
        else { throw MatrixError.badJSON("Not a join of a user of \(origin)") }
        // A restricted join names a user of ours: the resident signs it as the spec requires.
        if let via = pdu.content["join_authorised_via_users_server"]?.stringValue {
            guard UserID(via)?.server == serverName else { throw MatrixError.forbidden("The join is authorised by another server") }
            var signed = pdu.json
            let redactedSignature = try JSONSigning.sign(Redaction.redact(pdu.json, version: room.version), server: serverName.value, key: signingKey)
            signed["signatures"] = redactedSignature["signatures"]
            pdu = PDU(eventID: pdu.eventID, json: signed)
        }
        let receiver = pduReceiver
        do {
            pdu = try await receiver.verified(pdu, version: room.version)
        } catch let failure as ReceivedPDU.Failure {
            throw MatrixError.forbidden(failure.description)
        }
        let join = pdu
        let outcome = try await storage.writeRoom(roomID: roomID) { tx in try await receiver.graph.place(join, in: tx) }
        guard case .accepted(let stored) = outcome else { throw MatrixError.forbidden("The join was not accepted: \(outcome)") }
        // The resident passes the join on to the room's other servers.
        let others = try await storage.joinedServers(roomID: roomID, excluding: serverName.value).filter { $0 != origin }
        try await storage.enqueueOutbound(destinations: others, eventID: stored.pdu.eventID, edu: nil, now: nowMillis())
        rooms.notify(stored)
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
}
