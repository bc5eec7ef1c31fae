import Crypto
import Foundation
import MatrixModel
import Testing

@Suite struct UserInteractionTests {
    @Test func turnCredentialsFollowCoturnsRESTScheme() async throws {
        try await TestServer.run(configure: {
            $0.turnURIs = ["turn:turn.example.org:3478"]
            $0.turnSharedSecret = "coturn-secret"
            $0.turnUserLifetimeSeconds = 600
        }) { server in
            let alice = try await server.register("alice")
            let reply = try await server.call(.get, "/_matrix/client/v3/voip/turnServer", token: alice.token)
            let username = try #require(reply.json["username"]?.stringValue)
            #expect(username.hasSuffix(":@alice:localhost"))
            let expiry = try #require(Int64(username.split(separator: ":")[0]))
            #expect(abs(expiry - Int64(Date().timeIntervalSince1970) - 600) < 5)
            let expected = HMAC<Insecure.SHA1>.authenticationCode(for: Array(username.utf8), using: SymmetricKey(data: Array("coturn-secret".utf8)))
            #expect(reply.json["password"] == .string(Data(expected).base64EncodedString()))
            #expect(reply.json["uris"] == ["turn:turn.example.org:3478"])
            #expect(reply.json["ttl"] == 600)
        }
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let reply = try await server.call(.get, "/_matrix/client/v3/voip/turnServer", token: alice.token)
            #expect(reply.status == 200)
            #expect(reply.json["uris"] == [])
        }
    }

    @Test func mutualRooms() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let shared = try await server.createRoom(alice.token)
            _ = try await server.createRoom(alice.token)
            _ = try await server.call(.post, server.room(shared, "/join"), token: bob.token, json: [:])
            let reply = try await server.call(.get, "/_matrix/client/v1/mutual_rooms?user_id=%40bob%3Alocalhost", token: alice.token)
            #expect(reply.json["joined"] == [.string(shared)])
            #expect(reply.json["count"] == 1)
            #expect(try await server.call(.get, "/_matrix/client/v1/mutual_rooms", token: alice.token).errcode == "M_MISSING_PARAM")
            #expect(try await server.call(.get, "/_matrix/client/v1/mutual_rooms?user_id=nope", token: alice.token).errcode == "M_INVALID_PARAM")
        }
    }

    @Test func reportsAreStoredForAdmins() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let roomID = try await server.createRoom(alice.token)
            let eventID = try await server.send(alice.token, roomID, "rude").json["event_id"]!.stringValue!
            #expect(try await server.call(.post, server.room(roomID, "/report/\(TestServer.path(eventID))"), token: bob.token, json: ["reason": "x"]).status == 404)
            _ = try await server.call(.post, server.room(roomID, "/join"), token: bob.token, json: [:])
            #expect(try await server.call(.post, server.room(roomID, "/report/\(TestServer.path(eventID))"), token: bob.token, json: ["reason": "rude"]).status == 200)
            #expect(try await server.call(.post, server.room(roomID, "/report"), token: bob.token, json: ["reason": "bad room"]).status == 200)
            #expect(try await server.call(.post, "/_matrix/client/v3/rooms/%21none%3Alocalhost/report", token: bob.token, json: ["reason": ""]).status == 404)
            #expect(try await server.call(.post, "/_matrix/client/v3/users/%40alice%3Alocalhost/report", token: bob.token, json: ["reason": "spam"]).status == 200)
            #expect(try await server.call(.post, "/_matrix/client/v3/users/%40ghost%3Alocalhost/report", token: bob.token, json: ["reason": "spam"]).status == 404)
            let reports = try await server.server.storage.reports()
            #expect(reports.map(\.reason) == ["rude", "bad room", "spam"])
            #expect(reports[0].eventID == eventID)
            #expect(reports[0].userID == "@alice:localhost")
        }
    }
}
