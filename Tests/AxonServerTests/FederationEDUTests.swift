@testable import AxonServer
import AxonStorage
import Foundation
import HTTPTypes
import MatrixModel
import NIOCore
import Testing

/// The rules for each EDU another server sends (spec server-server "EDUs"): a server speaks
/// only for its own users, only in rooms it shares, and what names an unknown room or user
/// is dropped without failing the transaction.
@Suite struct FederationEDUTests {
    let graph = RoomGraphTests()
    var remote: String { RoomGraphTests.remote }

    /// Alice (local) in a room Bob of `remote.example` has joined.
    func sharedRoom(_ server: TestServer) async throws -> (alice: TestServer.Session, roomID: String, bob: String) {
        try await graph.trust(server)
        let storage = server.server.storage
        let alice = try await server.register("alice")
        let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_version": "10"])
        let bob = "@bob:\(remote)"
        let join = try graph.remoteEvent(
            "m.room.member", sender: bob, stateKey: bob, content: ["membership": "join"], prev: [try await graph.head(server, roomID)],
            state: try await storage.currentState(roomID: roomID), roomID: roomID)
        #expect(try await graph.transaction(server, "join", pdus: [join]).status == 200)
        return (alice, roomID, bob)
    }

    func edus(_ server: TestServer, _ txnID: String, _ edus: [JSON]) async throws {
        let reply = try await graph.transaction(server, txnID, pdus: [], edus: edus)
        #expect(reply.status == 200, "\(reply.raw)")
    }

    @Test func receiptsCountOnlyForTheOriginsJoinedUsers() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, roomID, bob) = try await sharedRoom(server)
            let event = try #require(try await server.send(alice.token, roomID, "read me").json["event_id"]?.stringValue)
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            func receipt(_ user: String, room: String = roomID) -> JSON {
                ["edu_type": "m.receipt", "content": [.init(stringLiteral: room): ["m.read": [.init(stringLiteral: user): ["event_ids": [.string(event)], "data": ["ts": 1]]]]]]
            }
            try await edus(server, "r1", [
                receipt(bob), receipt("@carol:elsewhere.example"), receipt("@dave:\(remote)"), receipt(bob, room: "!unknown:\(remote)"),
            ])
            let synced = try await server.sync(alice.token, "since=\(since)&timeout=0")
            let readers = synced.json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?.arrayValue?
                .first { $0["type"] == "m.receipt" }?["content"]?[event]?["m.read"]?.objectValue?.keys.map { $0 } ?? []
            // Carol is another server's user; Dave is not in the room.
            #expect(readers == [bob], "\(synced.raw)")
        }
    }

    @Test func presenceIsKeptOnlyForUsersSharingARoom() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, _, bob) = try await sharedRoom(server)
            func presence(_ user: String) -> JSON {
                ["edu_type": "m.presence", "content": ["push": [["user_id": .string(user), "presence": "online", "status_msg": "here", "last_active_ago": 0]]]]
            }
            try await edus(server, "p1", [presence(bob), presence("@stranger:\(remote)"), presence("@carol:elsewhere.example")])
            let seen = try await server.call(.get, "/_matrix/client/v3/presence/\(TestServer.path(bob))/status", token: alice.token)
            #expect(seen.status == 200)
            #expect(seen.json["presence"] == "online" && seen.json["status_msg"] == "here", "\(seen.raw)")
            #expect(try await server.server.storage.presence(userID: "@stranger:\(remote)") == nil)
            #expect(try await server.server.storage.presence(userID: "@carol:elsewhere.example") == nil)
            // An unknown state is ignored.
            try await edus(server, "p2", [["edu_type": "m.presence", "content": ["push": [["user_id": .string(bob), "presence": "asleep"]]]]])
            #expect(try await server.server.storage.presence(userID: bob)?.state == "online")
        }
    }

    @Test func toDeviceMessagesArriveOnceAndOnlyFromTheOriginsUsers() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, _, bob) = try await sharedRoom(server)
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            func message(_ sender: String, id: String) -> JSON {
                [
                    "edu_type": "m.direct_to_device",
                    "content": [
                        "sender": .string(sender), "type": "m.room.encrypted", "message_id": .string(id),
                        "messages": [.init(stringLiteral: alice.userID): [.init(stringLiteral: alice.deviceID): ["ciphertext": .string(id)]]],
                    ],
                ]
            }
            try await edus(server, "d1", [message(bob, id: "m1"), message("@carol:elsewhere.example", id: "m2")])
            // The same message again, in a new transaction: not delivered twice.
            try await edus(server, "d2", [message(bob, id: "m1")])
            let synced = try await server.sync(alice.token, "since=\(since)&timeout=0")
            let events = synced.json["to_device"]?["events"]?.arrayValue ?? []
            #expect(events.map { $0["sender"]?.stringValue } == [bob], "\(synced.raw)")
            // A message for a user of another server is not ours to deliver.
            try await edus(server, "d3", [[
                "edu_type": "m.direct_to_device",
                "content": ["sender": .string(bob), "type": "t", "message_id": "m3", "messages": ["@x:elsewhere.example": ["*": [:]]]],
            ]])
        }
    }

    @Test func typingNeedsAJoinedUserOfTheOrigin() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, roomID, bob) = try await sharedRoom(server)
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            func typing(_ user: String, room: String = roomID) -> JSON {
                ["edu_type": "m.typing", "content": ["room_id": .string(room), "user_id": .string(user), "typing": true]]
            }
            try await edus(server, "t1", [typing("@dave:\(remote)"), typing(bob, room: "!nowhere:\(remote)")])
            let quiet = try await server.sync(alice.token, "since=\(since)&timeout=0")
            #expect(quiet.json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?.arrayValue?.isEmpty ?? true, "\(quiet.raw)")
            try await edus(server, "t2", [typing(bob)])
            let typed = try await server.sync(alice.token, "since=\(since)&timeout=0")
            #expect(typed.json["rooms"]?["join"]?[roomID]?["ephemeral"]?["events"]?[0]?["content"]?["user_ids"] == [.string(bob)])
        }
    }

    @Test func deviceListUpdatesOfTheOriginsUsersReachSharingClients() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, _, bob) = try await sharedRoom(server)
            let since = try #require(try await server.sync(alice.token).json["next_batch"]?.stringValue)
            try await edus(server, "l1", [
                ["edu_type": "m.device_list_update", "content": ["user_id": "@carol:elsewhere.example", "device_id": "X", "stream_id": 1]],
            ])
            let none = try await server.sync(alice.token, "since=\(since)&timeout=0")
            let unchanged = none.json["device_lists"]?["changed"]?.arrayValue ?? []
            #expect(unchanged.contains("@carol:elsewhere.example") == false, "\(none.raw)")
            try await edus(server, "l2", [
                ["edu_type": "m.device_list_update", "content": ["user_id": .string(bob), "device_id": "B", "stream_id": 1, "prev_id": []]],
            ])
            let changed = try await server.sync(alice.token, "since=\(since)&timeout=0")
            #expect((changed.json["device_lists"]?["changed"]?.arrayValue ?? []).contains(.string(bob)), "\(changed.raw)")
        }
    }
}

/// The federation side of OpenID, policy-server discovery, third-party invites and media.
@Suite struct FederationServiceTests {
    let graph = RoomGraphTests()

    @Test func openIDTokensAreCheckedByThirdParties() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let alice = try await server.register("alice")
            let issued = try await server.call(
                .post, "/_matrix/client/v3/user/\(TestServer.path(alice.userID))/openid/request_token", token: alice.token, json: [:])
            let token = try #require(issued.json["access_token"]?.stringValue)
            let info = try await server.call(.get, "/_matrix/federation/v1/openid/userinfo?access_token=\(token)")
            #expect(info.status == 200 && info.json == ["sub": .string(alice.userID)], "\(info.raw)")
            let wrong = try await server.call(.get, "/_matrix/federation/v1/openid/userinfo?access_token=oid_nope")
            #expect(wrong.status == 401 && wrong.errcode == "M_UNKNOWN_TOKEN")
            // The client's access token is not an OpenID token.
            #expect(try await server.call(.get, "/_matrix/federation/v1/openid/userinfo?access_token=\(alice.token)").status == 401)
        }
    }

    @Test func thePolicyServerKeysComeFromConfig() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let none = try await server.call(.get, "/.well-known/matrix/policy_server")
            #expect(none.status == 404 && none.errcode == "M_NOT_FOUND")
        }
        try await TestServer.run(configure: { $0.policyServerPublicKeys = ["ed25519": "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"] }) { server in
            let keys = try await server.call(.get, "/.well-known/matrix/policy_server")
            #expect(keys.json == ["public_keys": ["ed25519": "6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"]])
        }
    }

    @Test func thirdPartyInvitesAreRefusedPlainly() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await graph.trust(server)
            let uri = "/_matrix/federation/v1/exchange_third_party_invite/\(TestServer.path("!r:localhost"))"
            let body: JSON = ["type": "m.room.member", "room_id": "!r:localhost", "sender": .string("@bob:\(RoomGraphTests.remote)"), "state_key": "@a:localhost", "content": [:]]
            let header = try XMatrixAuthorization.header(
                method: "PUT", uri: uri, origin: RoomGraphTests.remote, destination: "localhost", content: body, key: graph.key)
            let refused = try await server.call(.put, uri, json: body, headers: [.authorization: header])
            #expect(refused.status == 403 && refused.errcode == "M_FORBIDDEN", "\(refused.raw)")
            let onbind = try await server.call(.put, "/_matrix/federation/v1/3pid/onbind", json: ["medium": "email", "address": "a@b.c"])
            #expect(onbind.status == 403 && onbind.errcode == "M_FORBIDDEN")
        }
    }

    @Test func localMediaIsServedToOtherServersAsMultipart() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await graph.trust(server)
            let alice = try await server.register("alice")
            let uploaded = try await MediaTests().upload(server, alice.token, MediaTests.png, filename: "pic.png")
            let mediaID = try #require(uploaded.json["content_uri"]?.stringValue?.split(separator: "/").last.map(String.init))
            let uri = "/_matrix/federation/v1/media/download/\(mediaID)"
            let header = try XMatrixAuthorization.header(method: "GET", uri: uri, origin: RoomGraphTests.remote, destination: "localhost", content: nil, key: graph.key)
            let response = try await server.client.execute(uri: uri, method: .get, headers: [.authorization: header], body: nil)
            #expect(response.status == .ok)
            let boundary = try #require(MultipartMedia.boundary(contentType: response.headers[.contentType]))
            // Read back in 7-byte pieces: the parser must find its delimiters across chunks.
            let bytes = Array(buffer: response.body)
            let pieces = stride(from: 0, to: bytes.count, by: 7).map { ByteBuffer(bytes: bytes[$0..<min($0 + 7, bytes.count)]) }
            let parsed = try await MultipartMedia.parse(Pieces(pieces: pieces), boundary: boundary)
            #expect(parsed.headers["content-type"] == "image/png")
            var body: [UInt8] = []
            for try await chunk in parsed.content { body += Array(buffer: chunk) }
            #expect(body == MediaTests.png)
            // Unsigned requests are refused; so is media of another server.
            #expect(try await server.call(.get, uri).status == 401)
        }
    }

    struct Pieces: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let pieces: [ByteBuffer]
        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: [ByteBuffer]
            mutating func next() async -> ByteBuffer? { rest.isEmpty ? nil : rest.removeFirst() }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: pieces) }
    }
}

extension FederationServiceTests {
    @Test func otherServersSeeOnlyPreviewableRoomsOfASpace() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await graph.trust(server)
            let alice = try await server.register("alice")
            let space = try await server.createRoom(alice.token, ["preset": "public_chat", "creation_content": ["type": "m.space"]])
            let open = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "open"])
            let closed = try await server.createRoom(alice.token, ["preset": "private_chat", "name": "closed"])
            for child in [open, closed] {
                _ = try await server.call(
                    .put, server.room(space, "/state/m.space.child/\(TestServer.path(child))"), token: alice.token, json: ["via": ["localhost"]])
            }
            let answer = try await graph.signedGet(server, "/_matrix/federation/v1/hierarchy/\(TestServer.path(space))")
            #expect(answer.status == 200, "\(answer.raw)")
            #expect(answer.json["room"]?["room_type"] == "m.space")
            #expect(answer.json["children"]?.arrayValue?.map { $0["room_id"] } == [.string(open)])
            #expect(answer.json["inaccessible_children"] == [.string(closed)])
            // The private room itself is not shown to a server with nobody in it.
            let hidden = try await graph.signedGet(server, "/_matrix/federation/v1/hierarchy/\(TestServer.path(closed))")
            #expect(hidden.status == 404 && hidden.errcode == "M_NOT_FOUND")
        }
    }
}

extension FederationEDUTests {
    func deviceKeys(_ user: String, _ device: String) -> JSON {
        ["user_id": .string(user), "device_id": .string(device), "algorithms": ["m.olm.v1.curve25519-aes-sha2"], "keys": [.init(stringLiteral: "ed25519:\(device)"): "k"], "signatures": [:]]
    }

    func query(_ server: TestServer, _ token: String, _ user: String) async throws -> JSON {
        try await server.call(.post, "/_matrix/client/v3/keys/query", token: token, json: ["device_keys": [.init(stringLiteral: user): []]]).json
    }

    /// No other server is reachable here: whatever `/keys/query` answers for Bob without a
    /// failure came from the cached device list.
    @Test func trackedRemoteDeviceListsAreCachedAndFollowUpdatesInOrder() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, roomID, bob) = try await sharedRoom(server)
            let storage = server.server.storage
            try await storage.saveRemoteDeviceList(
                RemoteDeviceList(userID: bob, streamID: 5, keys: ["device_keys": ["B1": deviceKeys(bob, "B1")], "master_key": ["usage": ["master"]]]))
            let cached = try await query(server, alice.token, bob)
            #expect(cached["device_keys"]?[bob]?.objectValue?.keys.map { $0 } == ["B1"], "\(cached)")
            #expect(cached["master_keys"]?[bob] == ["usage": ["master"]])
            #expect(cached["failures"] == [:])

            // In order (prev_id names the last applied): a new device is added, then one removed.
            try await edus(server, "u1", [[
                "edu_type": "m.device_list_update",
                "content": ["user_id": .string(bob), "device_id": "B2", "stream_id": 6, "prev_id": [5], "keys": deviceKeys(bob, "B2"), "device_display_name": "phone"],
            ]])
            try await edus(server, "u2", [[
                "edu_type": "m.device_list_update", "content": ["user_id": .string(bob), "device_id": "B1", "stream_id": 7, "prev_id": [6], "deleted": true],
            ]])
            let updated = try await query(server, alice.token, bob)
            #expect(updated["device_keys"]?[bob]?.objectValue?.keys.map { $0 } == ["B2"], "\(updated)")
            #expect(updated["device_keys"]?[bob]?["B2"]?["unsigned"]?["device_display_name"] == "phone")
            // Keys filed under another device's name are not taken: the list is asked for
            // again (which cannot happen here), and the copy dropped meanwhile.
            try await edus(server, "u3", [[
                "edu_type": "m.device_list_update",
                "content": ["user_id": .string(bob), "device_id": "B3", "stream_id": 8, "prev_id": [7], "keys": deviceKeys(bob, "B9")],
            ]])

            #expect(try await storage.remoteDeviceList(userID: bob) == nil)
            try await storage.saveRemoteDeviceList(RemoteDeviceList(userID: bob, streamID: 8, keys: ["device_keys": ["B2": deviceKeys(bob, "B2")]]))
            #expect(try await query(server, alice.token, bob)["failures"] == [:])

            // A gap (prev_id 100 was never seen): the list is fetched again, which cannot
            // happen here, so the copy is dropped and Bob's server is named in failures.
            try await edus(server, "u4", [[
                "edu_type": "m.device_list_update", "content": ["user_id": .string(bob), "device_id": "B2", "stream_id": 101, "prev_id": [100], "deleted": true],
            ]])
            #expect(try await storage.remoteDeviceList(userID: bob) == nil)
            #expect(try await query(server, alice.token, bob)["failures"]?[RoomGraphTests.remote] != nil)

            // A user who no longer shares a room is not answered from an old copy.
            try await storage.saveRemoteDeviceList(RemoteDeviceList(userID: bob, streamID: 1, keys: ["device_keys": ["B1": deviceKeys(bob, "B1")]]))
            let leave = try graph.remoteEvent(
                "m.room.member", sender: bob, stateKey: bob, content: ["membership": "leave"], prev: [try await graph.head(server, roomID)],
                state: try await storage.currentState(roomID: roomID), roomID: roomID)
            #expect(try await graph.transaction(server, "leave", pdus: [leave]).status == 200)
            #expect(try await query(server, alice.token, bob)["failures"]?[RoomGraphTests.remote] != nil)
            #expect(try await storage.remoteDeviceList(userID: bob) == nil)
        }
    }
}

/// A room naming a policy server (`m.room.policy`, via a server with a joined member): events
/// without its signature are soft-failed when they arrive, and local ones are refused when it
/// cannot be asked.
@Suite struct PolicyServerTests {
    let edu = FederationEDUTests()
    var graph: RoomGraphTests { edu.graph }
    let policyKey = SigningKey.generate(version: "policy_server")

    func withPolicySignature(_ pdu: PDU) throws -> PDU {
        let redacted = Redaction.redact(pdu.json, version: RoomVersion("10")!)
        let signed = try JSONSigning.sign(redacted, server: RoomGraphTests.remote, key: policyKey)
        var json = pdu.json
        var signatures = json["signatures"]?.objectValue ?? [:]
        var theirs = signatures[RoomGraphTests.remote]?.objectValue ?? [:]
        theirs["ed25519:policy_server"] = signed["signatures"]?[RoomGraphTests.remote]?["ed25519:policy_server"]
        signatures[RoomGraphTests.remote] = .object(theirs)
        json["signatures"] = .object(signatures)
        return PDU(eventID: pdu.eventID, json: json)
    }

    @Test func eventsWithoutThePolicyServersSignatureAreNotRecommended() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let (alice, roomID, bob) = try await edu.sharedRoom(server)
            let storage = server.server.storage
            let publicKey = UnpaddedBase64.encode(Array(policyKey.privateKey.publicKey.rawRepresentation))
            let set = try await server.call(
                .put, server.room(roomID, "/state/m.room.policy"), token: alice.token,
                json: ["via": .string(RoomGraphTests.remote), "public_keys": ["ed25519": .string(publicKey)]])
            #expect(set.status == 200, "\(set.raw)")

            func message(_ body: String) async throws -> PDU {
                try graph.remoteEvent(
                    "m.room.message", sender: bob, content: ["msgtype": "m.text", "body": .string(body)], prev: [try await graph.head(server, roomID)],
                    state: try await storage.currentState(roomID: roomID), roomID: roomID)
            }
            let signed = try withPolicySignature(try await message("recommended"))
            #expect(try await graph.transaction(server, "p1", pdus: [signed]).json["pdus"]?[signed.eventID] == [:])
            let unsigned = try await message("not recommended")
            // Soft-failed: the sending server hears nothing of it; clients never see it.
            #expect(try await graph.transaction(server, "p2", pdus: [unsigned]).json["pdus"]?[unsigned.eventID] == [:])
            let bodies = server.bodies(try await server.messages(alice.token, roomID))
            #expect(bodies.contains("recommended") && !bodies.contains("not recommended"), "\(bodies)")

            // Alice's own message cannot be signed (the policy server is unreachable from here).
            let refused = try await server.send(alice.token, roomID, "mine")
            #expect(refused.status == 403 && refused.errcode == "M_FORBIDDEN", "\(refused.raw)")
            // The policy state event itself needs no signature.
            let cleared = try await server.call(.put, server.room(roomID, "/state/m.room.policy"), token: alice.token, json: [:])
            #expect(cleared.status == 200, "\(cleared.raw)")
            #expect(try await server.send(alice.token, roomID, "now free").status == 200)
        }
    }
}

extension FederationEDUTests {
    /// Outbound EDUs are queued for the servers sharing a room; this server may connect to
    /// nothing (allow-list only, empty), so they stay in the queue to be read.
    @Test func crossSigningKeysGoToServersSharingARoom() async throws {
        try await TestServer.run(configure: {
            $0.federationIPAllowlistOnly = true
            $0.federationIPAllowlist = []
        }) { server in
            let (alice, _, _) = try await sharedRoom(server)
            let master = CrossSigningPair()
            let selfSigning = CrossSigningPair()
            let userSigning = CrossSigningPair()
            let uploaded = try await server.call(
                .post, "/_matrix/client/v3/keys/device_signing/upload", token: alice.token,
                json: [
                    "master_key": .object(master.object(user: alice.userID, usage: "master")),
                    "self_signing_key": .object(selfSigning.object(user: alice.userID, usage: "self_signing", signedBy: master.key)),
                    "user_signing_key": .object(userSigning.object(user: alice.userID, usage: "user_signing", signedBy: master.key)),
                ])
            #expect(uploaded.status == 200, "\(uploaded.raw)")
            let queued = try await server.server.storage.outboundBatch(destination: RoomGraphTests.remote, pdus: 0, edus: 100).edus.map(\.edu)
            let update = try #require(queued.first { $0["edu_type"] == "m.signing_key_update" })
            #expect(update["content"]?["user_id"] == .string(alice.userID))
            #expect(update["content"]?["master_key"] == .object(master.object(user: alice.userID, usage: "master")))
            #expect(update["content"]?["self_signing_key"] != nil)
            #expect(update["content"]?["user_signing_key"] == nil, "the user-signing key is private")
            #expect(queued.contains { $0["edu_type"] == "m.device_list_update" })
        }
    }
}

extension FederationServiceTests {
    @Test func supportInformationComesFromConfig() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let none = try await server.call(.get, "/.well-known/matrix/support")
            #expect(none.status == 404 && none.errcode == "M_NOT_FOUND")
        }
        try await TestServer.run(configure: {
            $0.adminContact = "mailto:admin@example.com"
            $0.supportPage = "https://example.com/help"
        }) { server in
            let support = try await server.call(.get, "/.well-known/matrix/support")
            #expect(support.json == ["contacts": [["role": "m.role.admin", "email_address": "admin@example.com"]], "support_page": "https://example.com/help"])
        }
        try await TestServer.run(configure: { $0.adminContact = "@root:localhost" }) { server in
            let support = try await server.call(.get, "/.well-known/matrix/support")
            #expect(support.json == ["contacts": [["role": "m.role.admin", "matrix_id": "@root:localhost"]]])
        }
    }
}
