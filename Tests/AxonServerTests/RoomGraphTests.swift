import AxonStorage
import Foundation
import MatrixModel
import Testing

@testable import AxonServer

/// Remote PDUs placed in a local room's graph: accepted, forked and resolved, rejected, and
/// soft-failed, as the spec's receipt checks 4–6 order them.
@Suite struct RoomGraphTests {
    static let remote = "remote.example"
    let key = SigningKey.generate(version: "r")

    /// An event of a remote user, built on `prev` and authorised by `state` (the state the
    /// remote server believes in).
    func remoteEvent(
        _ type: String, sender: String, stateKey: String? = nil, content: JSON, prev: [StoredEvent], state: [StateKey: PDU],
        roomID: String, depth: Int64? = nil
    ) throws -> PDU {
        let version = RoomVersion("10")!
        let keys = AuthRules.authEventKeys(type: type, sender: sender, stateKey: stateKey, content: content, version: version)
        var json: JSONObject = [
            "type": .string(type), "sender": .string(sender), "content": content, "room_id": .string(roomID),
            "origin_server_ts": .int(Int64(Date().timeIntervalSince1970 * 1000)),
            "depth": .int(depth ?? ((prev.map(\.pdu.depth).max() ?? 0) + 1)),
            "prev_events": .array(prev.map { .string($0.pdu.eventID) }), "auth_events": .array(keys.compactMap { state[$0]?.eventID }.map(JSON.string)),
        ]
        if let stateKey { json["state_key"] = .string(stateKey) }
        let signed = try EventHashing.hashAndSign(json, version: version, server: Self.remote, key: key)
        return PDU(eventID: try EventHashing.eventID(signed, version: version), json: signed)
    }

    func place(_ pdu: PDU, _ server: TestServer, _ roomID: String) async throws -> RoomGraph.Outcome {
        let graph = RoomGraph(storage: server.server.storage, serverName: "localhost")
        return try await server.server.storage.writeRoom(roomID: roomID) { tx in try await graph.place(pdu, in: tx) }
    }

    func head(_ server: TestServer, _ roomID: String) async throws -> StoredEvent {
        let id = try #require(try await server.server.storage.forwardExtremities(roomID: roomID).first?.eventID)
        return try #require(try await server.server.storage.event(id: id))
    }

    @Test func remoteEventsJoinForkResolveAndFail() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let storage = server.server.storage
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_version": "10"])
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            let bob = "@bob:\(Self.remote)"

            // A remote join on the current head: accepted, and Alice's /sync shows it.
            let join = try remoteEvent(
                "m.room.member", sender: bob, stateKey: bob, content: ["membership": "join"], prev: [try await head(server, roomID)],
                state: try await storage.currentState(roomID: roomID), roomID: roomID)
            guard case .accepted = try await place(join, server, roomID) else { Issue.record("join not accepted"); return }
            #expect(try await storage.membership(roomID: roomID, userID: bob)?.membership == "join")
            let synced = try await server.sync(alice.token, "since=\(since)")
            #expect(synced.raw.contains(join.eventID))

            // A fork: Alice speaks while Bob, on the same head, sets the topic.
            let joined = try await head(server, roomID)
            let stateAtJoin = try await storage.currentState(roomID: roomID)
            try await server.send(alice.token, roomID, "meanwhile")
            let topic = try remoteEvent(
                "m.room.topic", sender: bob, stateKey: "", content: ["topic": "from bob"], prev: [joined], state: stateAtJoin, roomID: roomID)
            // Bob has power 0 and topics need 50 in a public_chat room: rejected by its state.
            guard case .rejected = try await place(topic, server, roomID) else { Issue.record("topic not rejected"); return }
            #expect(try await storage.event(id: topic.eventID) == nil)
            #expect(try await storage.outliers(ids: [topic.eventID]).first?.kind == .rejected)
            #expect(try await storage.forwardExtremities(roomID: roomID).count == 1)

            // A message on the older head: accepted, and now two extremities; the next local
            // send builds on both and the state stays resolved.
            let message = try remoteEvent(
                "m.room.message", sender: bob, content: ["msgtype": "m.text", "body": "hello from afar"], prev: [joined], state: stateAtJoin,
                roomID: roomID)
            guard case .accepted = try await place(message, server, roomID) else { Issue.record("message not accepted"); return }
            #expect(try await storage.forwardExtremities(roomID: roomID).count == 2)
            #expect(server.bodies(try await server.messages(alice.token, roomID)).contains("hello from afar"))
            // Alice's push rules ran for it: it is among her notifications.
            let notifications = try await server.call(.get, "/_matrix/client/v3/notifications", token: alice.token)
            #expect(notifications.raw.contains(message.eventID))
            let merged = try #require(try await server.send(alice.token, roomID, "merging").json["event_id"]?.stringValue)
            #expect(Set(try await storage.prevEvents(of: merged)).contains(message.eventID))
            #expect(try await storage.forwardExtremities(roomID: roomID).map(\.eventID) == [merged])

            // Alice bans Bob; a message Bob built on the state before the ban passes that state
            // but not the current one: soft-failed, kept out of the timeline and the extremities.
            _ = try await server.call(.post, server.room(roomID, "/ban"), token: alice.token, json: ["user_id": .string(bob)])
            let late = try remoteEvent(
                "m.room.message", sender: bob, content: ["msgtype": "m.text", "body": "am I still here"], prev: [joined], state: stateAtJoin,
                roomID: roomID)
            guard case .softFailed = try await place(late, server, roomID) else { Issue.record("late message not soft-failed"); return }
            #expect(!server.bodies(try await server.messages(alice.token, roomID)).contains("am I still here"))
            #expect(try await storage.outliers(ids: [late.eventID]).first?.kind == .softFailed)
            #expect(try await !storage.forwardExtremities(roomID: roomID).map(\.eventID).contains(late.eventID))

            // An event citing a rejected auth event is rejected too.
            var authState = stateAtJoin
            authState[StateKey("m.room.topic", "")] = topic
            let citing = try remoteEvent(
                "m.room.message", sender: bob, content: ["body": "x"], prev: [joined], state: authState, roomID: roomID)
            var withRejectedAuth = citing.json
            withRejectedAuth["auth_events"] = .array((citing.authEvents + [topic.eventID]).map(JSON.string))
            let resigned = try EventHashing.hashAndSign(withRejectedAuth, version: RoomVersion("10")!, server: Self.remote, key: key)
            let citingRejected = PDU(eventID: try EventHashing.eventID(resigned, version: RoomVersion("10")!), json: resigned)
            guard case .rejected(let reason) = try await place(citingRejected, server, roomID) else { Issue.record("not rejected"); return }
            #expect(reason.contains("rejected"))

            // Unknown prev events are the caller's to fetch.
            var orphan = message.json
            orphan["prev_events"] = ["$unknown"]
            let orphanSigned = try EventHashing.hashAndSign(orphan, version: RoomVersion("10")!, server: Self.remote, key: key)
            let orphanPDU = PDU(eventID: try EventHashing.eventID(orphanSigned, version: RoomVersion("10")!), json: orphanSigned)
            await #expect(throws: RoomGraph.MissingEvents(ids: ["$unknown"])) { try await place(orphanPDU, server, roomID) }
        }
    }

    @Test func aConcurrentStateChangeIsResolvedIntoCurrentState() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let storage = server.server.storage
            let alice = try await server.register("alice")
            let bob = "@bob:\(Self.remote)"
            // Bob gets power to set the topic.
            let roomID = try await server.createRoom(
                alice.token, ["preset": "public_chat", "room_version": "10", "power_level_content_override": ["users": [.init(stringLiteral: bob): 50, "@alice:localhost": 100]]])
            let join = try remoteEvent(
                "m.room.member", sender: bob, stateKey: bob, content: ["membership": "join"], prev: [try await head(server, roomID)],
                state: try await storage.currentState(roomID: roomID), roomID: roomID)
            _ = try await place(join, server, roomID)
            let joined = try await head(server, roomID)
            let stateAtJoin = try await storage.currentState(roomID: roomID)
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            // Alice sends a message (no state change); Bob concurrently sets the topic.
            try await server.send(alice.token, roomID, "meanwhile")
            let topic = try remoteEvent(
                "m.room.topic", sender: bob, stateKey: "", content: ["topic": "from bob"], prev: [joined], state: stateAtJoin, roomID: roomID)
            guard case .accepted = try await place(topic, server, roomID) else { Issue.record("topic not accepted"); return }
            #expect(try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.topic", ""))?.eventID == topic.eventID)
            let state = try await server.call(.get, server.room(roomID, "/state/m.room.topic"), token: alice.token)
            #expect(state.json["topic"] == "from bob")
            #expect(try await server.sync(alice.token, "since=\(since)").raw.contains(topic.eventID))
        }
    }
}

extension RoomGraphTests {
    func trust(_ server: TestServer) async throws {
        let response = try ServerKeys.publish(
            serverName: Self.remote, key: key, validUntil: Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        try await server.server.storage.storeServerKeys(try ServerKeys(response: response, expectedServer: Self.remote))
    }

    func transaction(_ server: TestServer, _ txnID: String, pdus: [PDU], edus: [JSON] = []) async throws -> TestServer.Reply {
        let uri = "/_matrix/federation/v1/send/\(txnID)"
        let body: JSON = ["origin": .string(Self.remote), "origin_server_ts": 1, "pdus": .array(pdus.map { .object($0.json) }), "edus": .array(edus)]
        let header = try XMatrixAuthorization.header(method: "PUT", uri: uri, origin: Self.remote, destination: "localhost", content: body, key: key)
        return try await server.call(.put, uri, json: body, headers: [.authorization: header])
    }

    @Test func transactionsDeliverPDUsAndEDUsOnce() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trust(server)
            let storage = server.server.storage
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_version": "10"])
            let bob = "@bob:\(Self.remote)"
            let join = try remoteEvent(
                "m.room.member", sender: bob, stateKey: bob, content: ["membership": "join"], prev: [try await head(server, roomID)],
                state: try await storage.currentState(roomID: roomID), roomID: roomID)
            var forged = join.json
            forged["content"] = ["membership": "join", "displayname": "not what was signed"]
            forged["origin_server_ts"] = 5
            let forgedPDU = PDU(eventID: try EventHashing.eventID(forged, version: RoomVersion("10")!), json: forged)
            let sent = try await transaction(server, "t1", pdus: [join, forgedPDU])
            #expect(sent.status == 200, "\(sent.raw)")
            #expect(sent.json["pdus"]?[join.eventID] == [:])
            #expect(sent.json["pdus"]?[forgedPDU.eventID]?["error"] != nil)
            #expect(try await storage.membership(roomID: roomID, userID: bob)?.membership == "join")
            // The same transaction again: the same answer, nothing processed twice.
            let before = try await storage.currentStreamPosition()
            #expect(try await transaction(server, "t1", pdus: [join, forgedPDU]).json == sent.json)
            #expect(try await storage.currentStreamPosition() == before)

            // EDUs: Bob's typing reaches Alice; a typing notice for another server's user does not.
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            _ = try await transaction(server, "t2", pdus: [], edus: [
                ["edu_type": "m.typing", "content": ["room_id": .string(roomID), "user_id": .string(bob), "typing": true]],
                ["edu_type": "m.typing", "content": ["room_id": .string(roomID), "user_id": "@carol:elsewhere.example", "typing": true]],
            ])
            let typing = try await server.sync(alice.token, "since=\(since)&timeout=0")
            let typers = typing.json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?[0]?["content"]?["user_ids"]
            #expect(typers == [.string(bob)], "\(typing.raw)")

            // Limits, unknown rooms, and the room's server ACL.
            let tooMany = try await transaction(server, "t3", pdus: Array(repeating: join, count: 51))
            #expect(tooMany.status == 400)
            _ = try await server.call(
                .put, server.room(roomID, "/state/m.room.server_acl"), token: alice.token, json: ["allow": ["*"], "deny": [.string(Self.remote)]])
            let message = try remoteEvent(
                "m.room.message", sender: bob, content: ["msgtype": "m.text", "body": "blocked"], prev: [try await head(server, roomID)],
                state: try await storage.currentState(roomID: roomID), roomID: roomID)
            let blocked = try await transaction(server, "t4", pdus: [message])
            #expect(blocked.json["pdus"]?[message.eventID]?["error"]?.stringValue?.contains("ACL") == true)
            #expect(!server.bodies(try await server.messages(alice.token, roomID)).contains("blocked"))
        }
    }
}

extension RoomGraphTests {
    func signedGet(_ server: TestServer, _ uri: String, origin: String = RoomGraphTests.remote, key signer: SigningKey? = nil) async throws -> TestServer.Reply {
        let header = try XMatrixAuthorization.header(method: "GET", uri: uri, origin: origin, destination: "localhost", content: nil, key: signer ?? key)
        return try await server.call(.get, uri, headers: [.authorization: header])
    }

    @Test func remoteServersReadWhatTheirUsersMaySee() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trust(server)
            let storage = server.server.storage
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(
                alice.token,
                ["preset": "public_chat", "room_version": "10", "initial_state": [["type": "m.room.history_visibility", "content": ["history_visibility": "joined"]]]])
            let secret = try #require(try await server.send(alice.token, roomID, "before bob").json["event_id"]?.stringValue)
            let room = TestServer.path(roomID)
            // Not yet in the room: nothing is answered.
            #expect(try await signedGet(server, "/_matrix/federation/v1/event/\(TestServer.path(secret))").status == 403)

            let bob = "@bob:\(Self.remote)"
            let join = try remoteEvent(
                "m.room.member", sender: bob, stateKey: bob, content: ["membership": "join"], prev: [try await head(server, roomID)],
                state: try await storage.currentState(roomID: roomID), roomID: roomID)
            _ = try await transaction(server, "j1", pdus: [join])
            let after = try #require(try await server.send(alice.token, roomID, "after bob").json["event_id"]?.stringValue)

            // History from before the join is served redacted ("joined" visibility); later whole.
            let hidden = try await signedGet(server, "/_matrix/federation/v1/event/\(TestServer.path(secret))")
            #expect(hidden.status == 200)
            #expect(hidden.json["pdus"]?[0]?["content"] == [:])
            let shown = try await signedGet(server, "/_matrix/federation/v1/event/\(TestServer.path(after))")
            #expect(shown.json["pdus"]?[0]?["content"]?["body"] == "after bob")
            #expect(shown.json["pdus"]?[0]?["unsigned"] == nil)
            let joinServed = try await signedGet(server, "/_matrix/federation/v1/event/\(TestServer.path(join.eventID))")
            #expect(joinServed.json["pdus"]?[0] == .object(join.json))

            // The state at the join is the state before it, with its auth chain.
            let stateIDs = try await signedGet(server, "/_matrix/federation/v1/state_ids/\(room)?event_id=\(TestServer.path(join.eventID))")
            let ids = Set(stateIDs.json["pdu_ids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(!ids.contains(join.eventID))
            #expect(ids.contains(try #require(try await storage.currentStateEvent(roomID: roomID, key: .create)).eventID))
            #expect((stateIDs.json["auth_chain_ids"]?.arrayValue?.count ?? 0) > 0)
            let state = try await signedGet(server, "/_matrix/federation/v1/state/\(room)?event_id=\(TestServer.path(join.eventID))")
            #expect(state.json["pdus"]?.arrayValue?.count == ids.count)
            let auth = try await signedGet(server, "/_matrix/federation/v1/event_auth/\(room)/\(TestServer.path(join.eventID))")
            #expect((auth.json["auth_chain"]?.arrayValue?.count ?? 0) >= 3)

            // Backfill from the latest event, and the gap between the join and it.
            let backfill = try await signedGet(server, "/_matrix/federation/v1/backfill/\(room)?v=\(TestServer.path(after))&limit=3")
            #expect(backfill.json["pdus"]?.arrayValue?.count == 3)
            #expect(backfill.json["pdus"]?[0]?["content"]?["body"] == "after bob")
            let uri = "/_matrix/federation/v1/get_missing_events/\(room)"
            let body: JSON = ["earliest_events": [.string(join.eventID)], "latest_events": [.string(after)], "limit": 10]
            let header = try XMatrixAuthorization.header(method: "POST", uri: uri, origin: Self.remote, destination: "localhost", content: body, key: key)
            let missing = try await server.call(.post, uri, json: body, headers: [.authorization: header])
            #expect(missing.json["events"]?.arrayValue?.isEmpty == true, "\(missing.raw)")
            let ts = try await signedGet(server, "/_matrix/federation/v1/timestamp_to_event/\(room)?ts=0&dir=f")
            #expect(ts.json["event_id"] != nil)
        }
    }
}

extension RoomGraphTests {
    @Test func remoteUsersJoinThroughMakeJoinAndSendJoin() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trust(server)
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_version": "11"])
            let closed = try await server.createRoom(alice.token, ["preset": "private_chat", "room_version": "11"])
            let bob = "@bob:\(Self.remote)"
            let room = TestServer.path(roomID)
            let base = "/_matrix/federation/v1/make_join/\(room)/\(TestServer.path(bob))"
            #expect(try await signedGet(server, base + "?ver=10").errcode == "M_INCOMPATIBLE_ROOM_VERSION")
            #expect(try await signedGet(server, "/_matrix/federation/v1/make_join/\(room)/%40carol%3Aelsewhere.example?ver=11").status == 403)
            #expect(try await signedGet(server, "/_matrix/federation/v1/make_join/\(TestServer.path(closed))/\(TestServer.path(bob))?ver=11").status == 403)
            let made = try await signedGet(server, base + "?ver=10&ver=11")
            #expect(made.status == 200, "\(made.raw)")
            #expect(made.json["room_version"] == "11")
            let template = try #require(made.json["event"]?.objectValue)
            let version = RoomVersion("11")!
            let signed = try EventHashing.hashAndSign(template, version: version, server: Self.remote, key: key)
            let eventID = try EventHashing.eventID(signed, version: version)
            let uri = "/_matrix/federation/v2/send_join/\(room)/\(TestServer.path(eventID))"
            let header = try XMatrixAuthorization.header(
                method: "PUT", uri: uri, origin: Self.remote, destination: "localhost", content: .object(signed), key: key)
            let joined = try await server.call(.put, uri, json: .object(signed), headers: [.authorization: header])
            #expect(joined.status == 200, "\(joined.raw)")
            #expect(joined.json["members_omitted"] == false)
            let stateTypes = Set(joined.json["state"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? [])
            #expect(stateTypes.isSuperset(of: ["m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.member"]))
            #expect((joined.json["auth_chain"]?.arrayValue?.count ?? 0) >= 3)
            #expect(try await server.server.storage.membership(roomID: roomID, userID: bob)?.membership == "join")
            let members = try await server.call(.get, server.room(roomID, "/joined_members"), token: alice.token)
            #expect(members.json["joined"]?[bob] != nil)
            // Sending the join for another event ID than the one in the path is refused.
            let wrong = "/_matrix/federation/v2/send_join/\(room)/%24other"
            let wrongHeader = try XMatrixAuthorization.header(
                method: "PUT", uri: wrong, origin: Self.remote, destination: "localhost", content: .object(signed), key: key)
            #expect(try await server.call(.put, wrong, json: .object(signed), headers: [.authorization: wrongHeader]).status == 400)
        }
    }
}
