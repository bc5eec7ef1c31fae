import Foundation
import MatrixModel
import Testing

/// A device's ed25519 identity and the keys it uploads, signed the way clients sign them.
struct TestDevice {
    let session: TestServer.Session
    let key: SigningKey

    init(_ session: TestServer.Session) {
        self.session = session
        key = SigningKey.generate(version: session.deviceID)
    }

    var deviceKeys: JSONObject {
        let unsigned: JSONObject = [
            "user_id": .string(session.userID), "device_id": .string(session.deviceID),
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": [
                .init(stringLiteral: "ed25519:\(session.deviceID)"): .string(key.publicKeyBase64),
                .init(stringLiteral: "curve25519:\(session.deviceID)"): "Y3VydmUgcHVibGljIGtleQ",
            ],
        ]
        return try! JSONSigning.sign(unsigned, server: session.userID, key: key)
    }

    func signedKey(_ value: String) -> JSON {
        .object(try! JSONSigning.sign(["key": .string(value)], server: session.userID, key: key))
    }
}

/// A cross-signing key pair: the key ID names the public key.
struct CrossSigningPair {
    let key: SigningKey

    init() {
        let generated = SigningKey.generate(version: "x")
        key = try! SigningKey(keyID: "ed25519:" + generated.publicKeyBase64, seed: generated.seed)
    }

    func object(user: String, usage: String, signedBy signer: SigningKey? = nil) -> JSONObject {
        let object: JSONObject = [
            "user_id": .string(user), "usage": [.string(usage)], "keys": [.init(stringLiteral: key.keyID): .string(key.publicKeyBase64)],
        ]
        guard let signer else { return object }
        return try! JSONSigning.sign(object, server: user, key: signer)
    }
}

@Suite struct KeyTests {
    let upload = "/_matrix/client/v3/keys/upload"
    let query = "/_matrix/client/v3/keys/query"
    let claim = "/_matrix/client/v3/keys/claim"

    @Test func uploadQueryAndClaim() async throws {
        try await TestServer.run { server in
            let alice = TestDevice(try await server.register("alice", device: "ALICEPHONE"))
            let bob = try await server.register("bob")
            let reply = try await server.call(
                .post, upload, token: alice.session.token,
                json: [
                    "device_keys": .object(alice.deviceKeys),
                    "one_time_keys": ["signed_curve25519:AAAA": alice.signedKey("otk1"), "signed_curve25519:AAAB": alice.signedKey("otk2")],
                    "fallback_keys": ["signed_curve25519:FFFF": alice.signedKey("fallback")],
                ])
            #expect(reply.status == 200, "\(reply.raw)")
            #expect(reply.json["one_time_key_counts"] == ["signed_curve25519": 2])

            try await server.call(.put, "/_matrix/client/v3/devices/ALICEPHONE", token: alice.session.token, json: ["display_name": "Alice's phone"])
            let queried = try await server.call(.post, query, token: bob.token, json: ["device_keys": ["@alice:localhost": []]])
            let device = queried.json["device_keys"]?["@alice:localhost"]?["ALICEPHONE"]
            #expect(device?["keys"]?["ed25519:ALICEPHONE"] == .string(alice.key.publicKeyBase64))
            #expect(device?["unsigned"]?["device_display_name"] == "Alice's phone")
            #expect(queried.json["failures"] == [:])
            let remote = try await server.call(.post, query, token: bob.token, json: ["device_keys": ["@carol:elsewhere.example": []]])
            #expect(remote.json["failures"]?["elsewhere.example"] != nil)

            let wanted: JSON = ["one_time_keys": ["@alice:localhost": ["ALICEPHONE": "signed_curve25519"]]]
            var claimedKeys: [String] = []
            for _ in 0..<3 {
                let claimed = try await server.call(.post, claim, token: bob.token, json: wanted)
                claimedKeys += claimed.json["one_time_keys"]?["@alice:localhost"]?["ALICEPHONE"]?.objectValue?.keys ?? []
            }
            // Both one-time keys once each, then the fallback key.
            #expect(claimedKeys == ["signed_curve25519:AAAA", "signed_curve25519:AAAB", "signed_curve25519:FFFF"])
            let sync = try await server.sync(alice.session.token)
            #expect(sync.json["device_one_time_keys_count"] == [:])
            #expect(sync.json["device_unused_fallback_key_types"] == [], "the fallback key was used")
        }
    }

    @Test func uploadErrors() async throws {
        try await TestServer.run { server in
            let alice = TestDevice(try await server.register("alice", device: "PHONE"))
            func post(_ body: JSON) async throws -> TestServer.Reply { try await server.call(.post, upload, token: alice.session.token, json: body) }
            var otherDevice = alice.deviceKeys
            otherDevice["device_id"] = "OTHER"
            #expect(try await post(["device_keys": .object(otherDevice)]).errcode == "M_INVALID_PARAM")
            var tampered = alice.deviceKeys
            tampered["algorithms"] = ["m.megolm.v1.aes-sha2"]
            #expect(try await post(["device_keys": .object(tampered)]).errcode == "M_INVALID_SIGNATURE")
            #expect(try await post(["one_time_keys": ["nocolon": "x"]]).errcode == "M_INVALID_PARAM")
            #expect(try await post(["one_time_keys": ["a:b": 5]]).errcode == "M_BAD_JSON")
            #expect(try await post(["one_time_keys": ["signed_curve25519:K": alice.signedKey("one")]]).status == 200)
            #expect(try await post(["one_time_keys": ["signed_curve25519:K": alice.signedKey("one")]]).status == 200, "the same key again is fine")
            #expect(try await post(["one_time_keys": ["signed_curve25519:K": alice.signedKey("two")]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.post, query, token: alice.session.token, json: [:]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.post, query, token: alice.session.token, json: ["device_keys": ["not-a-user": []]]).errcode == "M_INVALID_PARAM")
            #expect(try await server.call(.get, "/_matrix/client/v3/keys/changes?from=x&to=s1", token: alice.session.token).errcode == "M_INVALID_PARAM")
        }
    }

    @Test func deviceListsFollowKeysDevicesAndMembership() async throws {
        try await TestServer.run { server in
            let alice = TestDevice(try await server.register("alice", device: "PHONE"))
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let roomID = try await server.createRoom(alice.session.token)
            for user in [bob, carol] { try await server.call(.post, server.room(roomID, "/join"), token: user.token, json: [:]) }
            let start = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)

            try await server.call(.post, upload, token: alice.session.token, json: ["device_keys": .object(alice.deviceKeys)])
            let afterUpload = try await server.sync(bob.token, "since=\(start)")
            #expect(afterUpload.json["device_lists"]?["changed"] == ["@alice:localhost"])
            let next = try #require(afterUpload.json["next_batch"]?.stringValue)
            let changes = try await server.call(.get, "/_matrix/client/v3/keys/changes?from=\(start)&to=\(next)", token: bob.token)
            #expect(changes.json == ["changed": ["@alice:localhost"], "left": []])

            // Logging out deletes the device and its keys, and tells room members.
            try await server.call(.post, "/_matrix/client/v3/logout", token: alice.session.token)
            let afterLogout = try await server.sync(bob.token, "since=\(next)")
            #expect(afterLogout.json["device_lists"]?["changed"] == ["@alice:localhost"])
            let keys = try await server.call(.post, query, token: bob.token, json: ["device_keys": ["@alice:localhost": []]])
            #expect(keys.json["device_keys"]?["@alice:localhost"] == [:])

            let beforeLeave = try #require(afterLogout.json["next_batch"]?.stringValue)
            try await server.call(.post, server.room(roomID, "/leave"), token: carol.token, json: [:])
            #expect(try await server.sync(bob.token, "since=\(beforeLeave)").json["device_lists"]?["left"] == ["@carol:localhost"])
        }
    }

    @Test func toDeviceMessagesArriveOnceAndAreIdempotent() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob", device: "BOBPHONE")
            let start = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            let path = "/_matrix/client/v3/sendToDevice/m.room_key_request/txn1"
            let body: JSON = ["messages": ["@bob:localhost": ["BOBPHONE": ["secret": "sauce"]]]]
            #expect(try await server.call(.put, path, token: alice.token, json: body).status == 200)
            #expect(try await server.call(.put, path, token: alice.token, json: body).status == 200, "a retried transaction")
            let first = try await server.sync(bob.token, "since=\(start)&timeout=1000")
            let events = first.json["to_device"]?["events"]?.arrayValue ?? []
            #expect(events == [["sender": "@alice:localhost", "type": "m.room_key_request", "content": ["secret": "sauce"]]])
            // Syncing again from the same token redelivers (not acknowledged); a later token does not.
            #expect(try await server.sync(bob.token, "since=\(start)").json["to_device"]?["events"]?.arrayValue?.count == 1)
            let next = try #require(first.json["next_batch"]?.stringValue)
            #expect(try await server.sync(bob.token, "since=\(next)").json["to_device"] == nil)

            // `*` reaches every device of the user.
            let laptop = try #require(try await server.login("bob", device: "BOBLAPTOP").json["access_token"]?.stringValue)
            let laptopStart = try #require(try await server.sync(laptop).json["next_batch"]?.stringValue)
            try await server.call(
                .put, "/_matrix/client/v3/sendToDevice/m.dummy/txn2", token: alice.token, json: ["messages": ["@bob:localhost": ["*": [:]]]])
            #expect(try await server.sync(laptop, "since=\(laptopStart)").json["to_device"]?["events"]?.arrayValue?.count == 1)
            #expect(try await server.sync(bob.token, "since=\(next)").json["to_device"]?["events"]?.arrayValue?.count == 1)
            #expect(try await server.call(.put, "/_matrix/client/v3/sendToDevice/m.dummy/t3", token: alice.token, json: [:]).errcode == "M_BAD_JSON")
        }
    }

    @Test func manyToDeviceMessagesArriveInBatches() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob", device: "BOBPHONE")
            var token = try #require(try await server.sync(bob.token).json["next_batch"]?.stringValue)
            for index in 0..<130 {
                try await server.call(
                    .put, "/_matrix/client/v3/sendToDevice/m.test/t\(index)", token: alice.token,
                    json: ["messages": ["@bob:localhost": ["BOBPHONE": ["n": .int(Int64(index))]]]])
            }
            var received: [Int64] = []
            for _ in 0..<3 {
                let sync = try await server.sync(bob.token, "since=\(token)")
                received += sync.json["to_device"]?["events"]?.arrayValue?.compactMap { $0["content"]?["n"]?.intValue } ?? []
                token = try #require(sync.json["next_batch"]?.stringValue)
            }
            #expect(received == Array(0..<130))
        }
    }
}

@Suite struct CrossSigningTests {
    let upload = "/_matrix/client/v3/keys/device_signing/upload"

    @Test func keysAreCheckedStoredAndSigned() async throws {
        try await TestServer.run { server in
            let alice = TestDevice(try await server.register("alice", device: "PHONE"))
            let bob = try await server.register("bob")
            try await server.call(.post, "/_matrix/client/v3/keys/upload", token: alice.session.token, json: ["device_keys": .object(alice.deviceKeys)])
            let master = CrossSigningPair()
            let selfSigning = CrossSigningPair()
            let userSigning = CrossSigningPair()
            let user = "@alice:localhost"
            // A self-signing key not signed by the master key is refused.
            let unsigned = try await server.call(
                .post, upload, token: alice.session.token,
                json: ["master_key": .object(master.object(user: user, usage: "master")), "self_signing_key": .object(selfSigning.object(user: user, usage: "self_signing"))])
            #expect(unsigned.errcode == "M_INVALID_SIGNATURE")
            let first = try await server.call(
                .post, upload, token: alice.session.token,
                json: [
                    "master_key": .object(master.object(user: user, usage: "master")),
                    "self_signing_key": .object(selfSigning.object(user: user, usage: "self_signing", signedBy: master.key)),
                    "user_signing_key": .object(userSigning.object(user: user, usage: "user_signing", signedBy: master.key)),
                ])
            #expect(first.status == 200, "the first upload needs no password: \(first.raw)")

            let seenByBob = try await server.call(.post, "/_matrix/client/v3/keys/query", token: bob.token, json: ["device_keys": [.init(stringLiteral: user): []]])
            #expect(seenByBob.json["master_keys"]?[user]?["keys"] != nil)
            #expect(seenByBob.json["self_signing_keys"]?[user] != nil)
            #expect(seenByBob.json["user_signing_keys"]?[user] == nil, "only its owner sees the user-signing key")
            let seenByAlice = try await server.call(.post, "/_matrix/client/v3/keys/query", token: alice.session.token, json: ["device_keys": [.init(stringLiteral: user): []]])
            #expect(seenByAlice.json["user_signing_keys"]?[user] != nil)

            // Replacing the master key needs the password.
            let replacement = CrossSigningPair()
            let challenge = try await server.call(.post, upload, token: alice.session.token, json: ["master_key": .object(replacement.object(user: user, usage: "master"))])
            #expect(challenge.status == 401)
            // The same keys again (a retry) need no password.
            let again = try await server.call(.post, upload, token: alice.session.token, json: ["master_key": .object(master.object(user: user, usage: "master"))])
            #expect(again.status == 200)

            // The self-signing key signs the device; a forged signature is reported, not stored.
            let signedDevice = try JSONSigning.sign(alice.deviceKeys, server: user, key: selfSigning.key)
            let forged = try JSONSigning.sign(alice.deviceKeys, server: user, key: CrossSigningPair().key)
            let signatures = try await server.call(
                .post, "/_matrix/client/v3/keys/signatures/upload", token: alice.session.token, json: [.init(stringLiteral: user): ["PHONE": .object(signedDevice)]])
            #expect(signatures.json["failures"] == [:])
            let bad = try await server.call(
                .post, "/_matrix/client/v3/keys/signatures/upload", token: alice.session.token, json: [.init(stringLiteral: user): ["PHONE": .object(forged)]])
            #expect(bad.json["failures"]?[user]?["PHONE"]?["errcode"] == "M_INVALID_SIGNATURE")
            let device = try await server.call(.post, "/_matrix/client/v3/keys/query", token: bob.token, json: ["device_keys": [.init(stringLiteral: user): []]])
            let deviceSignatures = device.json["device_keys"]?[user]?["PHONE"]?["signatures"]?[user]?.objectValue
            #expect(deviceSignatures?[selfSigning.key.keyID] != nil)
            #expect(deviceSignatures?.count == 2)

            let withPassword = try await server.call(
                .post, upload, token: alice.session.token,
                json: [
                    "master_key": .object(replacement.object(user: user, usage: "master")),
                    "auth": server.passwordAuth("alice", session: challenge.json["session"]),
                ])
            #expect(withPassword.status == 200, "\(withPassword.raw)")
            let replaced = try await server.call(.post, "/_matrix/client/v3/keys/query", token: bob.token, json: ["device_keys": [.init(stringLiteral: user): []]])
            #expect(replaced.json["master_keys"]?[user]?["keys"]?[replacement.key.keyID] != nil)
        }
    }
}

@Suite struct KeyBackupTests {
    func sessionData(index: Int64, forwarded: Int64 = 0, verified: Bool = false, tag: String) -> JSON {
        [
            "first_message_index": .int(index), "forwarded_count": .int(forwarded), "is_verified": .bool(verified),
            "session_data": ["ciphertext": .string(tag)],
        ]
    }

    @Test func versionsKeysAndReplacementRules() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let token = alice.token
            #expect(try await server.call(.get, "/_matrix/client/v3/room_keys/version", token: token).status == 404)
            let created = try await server.call(
                .post, "/_matrix/client/v3/room_keys/version", token: token,
                json: ["algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": ["public_key": "abc"]])
            let version = try #require(created.json["version"]?.stringValue)
            let current = try await server.call(.get, "/_matrix/client/v3/room_keys/version", token: token)
            #expect(current.json["version"] == .string(version) && current.json["count"] == 0)

            let path = "/_matrix/client/v3/room_keys/keys/\(TestServer.path("!room:localhost"))/session1?version=\(version)"
            let put = try await server.call(.put, path, token: token, json: sessionData(index: 5, tag: "first"))
            #expect(put.json["count"] == 1)
            let etag = put.json["etag"]
            // A worse copy (later first index) is ignored; a verified one replaces it.
            let worse = try await server.call(.put, path, token: token, json: sessionData(index: 9, tag: "worse"))
            #expect(worse.json["etag"] == etag)
            let better = try await server.call(.put, path, token: token, json: sessionData(index: 9, verified: true, tag: "verified"))
            #expect(better.json["etag"] != etag)
            #expect(try await server.call(.get, path, token: token).json["session_data"]?["ciphertext"] == "verified")

            let all = try await server.call(.get, "/_matrix/client/v3/room_keys/keys?version=\(version)", token: token)
            #expect(all.json["rooms"]?["!room:localhost"]?["sessions"]?["session1"] != nil)
            let bulk = try await server.call(
                .put, "/_matrix/client/v3/room_keys/keys?version=\(version)", token: token,
                json: ["rooms": ["!other:localhost": ["sessions": ["s2": sessionData(index: 0, tag: "bulk")]]]])
            #expect(bulk.json["count"] == 2)

            // A newer version makes the old one read-only for uploads.
            let newer = try await server.call(
                .post, "/_matrix/client/v3/room_keys/version", token: token,
                json: ["algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": ["public_key": "def"]])
            let wrong = try await server.call(.put, path, token: token, json: sessionData(index: 0, tag: "late"))
            #expect(wrong.status == 403 && wrong.errcode == "M_WRONG_ROOM_KEYS_VERSION")
            #expect(wrong.json["current_version"] == newer.json["version"])

            let deleted = try await server.call(.delete, "/_matrix/client/v3/room_keys/keys?version=\(version)", token: token)
            #expect(deleted.json["count"] == 0)
            #expect(try await server.call(.delete, "/_matrix/client/v3/room_keys/version/\(version)", token: token).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/room_keys/version/\(version)", token: token).status == 404)
            #expect(try await server.call(.put, "/_matrix/client/v3/room_keys/version/999", token: token, json: ["algorithm": "x", "auth_data": [:]]).status == 404)
            #expect(try await server.call(.put, path, token: token, json: ["first_message_index": 1]).errcode == "M_BAD_JSON")
            #expect(try await server.call(.get, "/_matrix/client/v3/room_keys/keys", token: token).errcode == "M_MISSING_PARAM")
        }
    }
}
