import AxonStorage
import MatrixModel

/// Joining a room this server is not in (spec "Joining Rooms", joining side): `make_join`
/// through one of the candidate servers, the template checked field by field and rebuilt
/// here before Axon signs it (DESIGN.md: never sign what a remote server built), `send_join`
/// v2 with full state, every returned event checked like any received PDU, then the state
/// stored as the room's past and the join as its first local event.
struct RemoteJoin: Sendable {
    let context: ServerContext

    var storage: any Storage { context.storage }
    var client: FederationClient { context.federation.client }

    struct Failure: Error { let message: String }

    /// Room versions this server can join, for `ver=`.
    static var versionQuery: String { RoomVersion.supported.map { "ver=" + PercentEncoding.component($0.identifier) }.joined(separator: "&") }

    func join(roomID: String, userID: String, servers: [String], extraContent: JSONObject) async throws -> String {
        let reachable = servers.filter(client.mayFederate)
        // Federation off, or only servers outside the whitelist: the room cannot be found.
        guard !reachable.isEmpty else { throw MatrixError.notFound("No server this one federates with can join \(roomID)") }
        var lastError = "no server to join through"
        for server in reachable {
            do {
                return try await join(roomID: roomID, userID: userID, via: server, extraContent: extraContent)
            } catch let error as MatrixError where error.status == 403 {
                throw error
            } catch {
                lastError = "\(server): \(error)"
                context.logger.info("joining through a server failed", metadata: ["server": "\(server)", "error": "\(error)"])
            }
        }
        throw MatrixError(502, "M_UNKNOWN", "Could not join \(roomID): \(lastError)")
    }

    private func join(roomID: String, userID: String, via server: String, extraContent: JSONObject) async throws -> String {
        let made = try await client.request(
            .GET, destination: server,
            path: "/_matrix/federation/v1/make_join/\(PercentEncoding.component(roomID))/\(PercentEncoding.component(userID))?\(Self.versionQuery)")
        if made.status == 403 { throw MatrixError.forbidden(made.json["error"]?.stringValue ?? "Not allowed to join") }
        guard made.status == 200, let template = made.json["event"]?.objectValue else {
            throw Failure(message: "make_join answered \(made.status)")
        }
        guard let version = RoomVersion(made.json["room_version"]?.stringValue ?? "1") else {
            throw Failure(message: "unsupported room version")
        }
        let event = try MembershipTemplate.rebuild(
            template, membership: "join", roomID: roomID, userID: userID, version: version, content: extraContent, context: context)
        let eventID = try EventHashing.eventID(event, version: version)
        let sent = try await client.request(
            .PUT, destination: server,
            path: "/_matrix/federation/v2/send_join/\(PercentEncoding.component(roomID))/\(PercentEncoding.component(eventID))?omit_members=false",
            body: .object(event), timeout: .seconds(120))
        guard sent.status == 200 else { throw Failure(message: "send_join answered \(sent.status): \(sent.json["error"]?.stringValue ?? "")") }
        // The resident may have added its signature (restricted joins); only that may differ.
        var joinJSON = event
        if let returned = sent.json["event"]?.objectValue, let signatures = returned["signatures"]?.objectValue {
            var merged = signatures
            for (server, keys) in event["signatures"]?.objectValue ?? [:] { merged[server] = keys }
            joinJSON["signatures"] = .object(merged)
        }
        return try await persist(
            join: PDU(eventID: eventID, json: joinJSON), state: sent.json["state"]?.arrayValue ?? [], authChain: sent.json["auth_chain"]?.arrayValue ?? [],
            roomID: roomID, version: version)
    }

    /// Checks every returned event, stores state and auth chain as the room's past, and the
    /// join on top of that state.
    private func persist(join: PDU, state: [JSON], authChain: [JSON], roomID: String, version: RoomVersion) async throws -> String {
        let receiver = context.pduReceiver
        var checked: [String: PDU] = [:]
        for json in authChain + state {
            guard let object = json.objectValue else { continue }
            do {
                let pdu = try await receiver.verified(try ReceivedPDU.parse(object, version: version, roomID: roomID), version: version)
                checked[pdu.eventID] = pdu
            } catch {
                context.logger.info("dropped an event of a join's state", metadata: ["error": "\(error)"])
            }
        }
        var stateMap = StateMap()
        for json in state {
            guard let object = json.objectValue, let id = try? EventHashing.eventID(object, version: version), let pdu = checked[id],
                let stateKey = pdu.stateKey
            else { continue }
            stateMap[StateKey(pdu.type, stateKey)] = id
        }
        guard let createID = stateMap[.create], let create = checked[createID],
            create.content["room_version"]?.stringValue ?? "1" == version.identifier
        else { throw Failure(message: "the room's state has no valid create event") }
        let creator = version.createEventHasCreator ? create.content["creator"]?.stringValue ?? create.sender : create.sender
        var statePDUs: [StateKey: PDU] = [:]
        for (key, id) in stateMap { statePDUs[key] = checked[id] }
        do {
            try AuthRules.check(join, state: statePDUs, version: version, verifySignature: { _, _ in true })
        } catch {
            throw Failure(message: "the join is not allowed by the state the resident returned: \(error.reason)")
        }
        let graph = context.pduReceiver.graph
        let (events, stateIDs, finalState) = (checked, Set(stateMap.values), stateMap)
        let stored = try await storage.writeRoom(roomID: roomID) { tx -> StoredEvent in
            if tx.room == nil { try await tx.createRoom(RoomRecord(roomID: roomID, version: version, creator: creator)) }
            // The auth chain first (outliers, each checked against its own auth events, oldest
            // first), then the state, as the room's past.
            for pdu in events.values.sorted(by: { $0.depth < $1.depth }) where !stateIDs.contains(pdu.eventID) {
                try? await graph.storeOutlier(pdu, in: tx)
            }
            let group = try await tx.snapshot(finalState, near: nil)
            for pdu in events.values.sorted(by: { $0.depth < $1.depth }) where stateIDs.contains(pdu.eventID) {
                try await tx.insertHistorical(pdu, stateGroup: group)
            }
            var current = finalState
            current[.member(join.sender)] = join.eventID
            return try await tx.append(join, placement: EventPlacement(stateBefore: group, resolvedCurrentState: current))
        }
        context.rooms.notify(stored)
        return stored.pdu.eventID
    }
}
