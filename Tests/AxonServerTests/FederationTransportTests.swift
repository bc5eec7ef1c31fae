import AxonServer
import AxonStorage
import Foundation
import HTTPTypes
import MatrixModel
import Testing

/// Keys and X-Matrix authentication, driven through the router: the remote server is a key
/// of ours whose published response the test stores, as if it had been fetched.
@Suite struct FederationTransportTests {
    static let remote = "remote.example:8448"
    let remoteKey = SigningKey.generate(version: "r1")

    func trustRemote(_ server: TestServer) async throws {
        let response = try ServerKeys.publish(serverName: Self.remote, key: remoteKey, validUntil: Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        try await server.server.storage.storeServerKeys(try ServerKeys(response: response, expectedServer: Self.remote))
    }

    func signed(_ method: String, _ uri: String, content: JSON? = nil, destination: String = "localhost", key: SigningKey? = nil) throws -> HTTPFields {
        let header = try XMatrixAuthorization.header(
            method: method, uri: uri, origin: Self.remote, destination: destination, content: content, key: key ?? remoteKey)
        return [.authorization: header]
    }

    @Test func ownKeysAreServedSelfSigned() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            let reply = try await server.call(.get, "/_matrix/key/v2/server")
            #expect(reply.status == 200)
            let keys = try ServerKeys(response: try #require(reply.json.objectValue), expectedServer: "localhost")
            #expect(keys.keys[server.server.signingKey.keyID]?.publicKey == Array(server.server.signingKey.privateKey.publicKey.rawRepresentation))
            #expect(keys.validUntil > Int64(Date().timeIntervalSince1970 * 1000))
            let version = try await server.call(.get, "/_matrix/federation/v1/version")
            #expect(version.json["server"]?["name"] == "Axon")
            // As a notary, for itself: the same self-signed response.
            let query = try await server.call(.post, "/_matrix/key/v2/query", json: ["server_keys": ["localhost": [:]]])
            #expect(query.json["server_keys"]?[0]?["server_name"] == "localhost")
        }
    }

    @Test func signedRequestsAreCheckedAndAnsweredPerOrigin() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trustRemote(server)
            _ = try await server.register("alice")
            _ = try await server.call(
                .put, "/_matrix/client/v3/profile/@alice:localhost/displayname", token: try await server.login("alice").json["access_token"]?.stringValue,
                json: ["displayname": "Alice"])
            let uri = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Alocalhost"
            let answered = try await server.call(.get, uri, headers: try signed("GET", uri))
            #expect(answered.status == 200, "\(answered.raw)")
            #expect(answered.json["displayname"] == "Alice")
            // Unsigned, signed by another key, for another destination, or for another URI: 401.
            #expect(try await server.call(.get, uri).errcode == "M_UNAUTHORIZED")
            #expect(try await server.call(.get, uri, headers: try signed("GET", uri, key: SigningKey.generate(version: "r1"))).status == 401)
            #expect(try await server.call(.get, uri, headers: try signed("GET", uri, destination: "other.example")).status == 401)
            let decoded = "/_matrix/federation/v1/query/profile?user_id=@alice:localhost"
            #expect(try await server.call(.get, uri, headers: try signed("GET", decoded)).status == 401)
            // An unknown key of an unreachable server: no fetch (outbound is off), refused.
            let stranger = try XMatrixAuthorization.header(
                method: "GET", uri: uri, origin: "stranger.example", destination: "localhost", content: nil, key: remoteKey)
            #expect(try await server.call(.get, uri, headers: [.authorization: stranger]).status == 401)
            // A request for a user of another server.
            let foreign = "/_matrix/federation/v1/query/profile?user_id=%40bob%3Aelsewhere"
            #expect(try await server.call(.get, foreign, headers: try signed("GET", foreign)).errcode == "M_INVALID_PARAM")
        }
    }

    @Test func localAliasesAreAnsweredToOtherServers() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trustRemote(server)
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "room_alias_name": "lobby"])
            let uri = "/_matrix/federation/v1/query/directory?room_alias=%23lobby%3Alocalhost"
            let answer = try await server.call(.get, uri, headers: try signed("GET", uri))
            #expect(answer.json["room_id"] == .string(roomID))
            #expect(answer.json["servers"] == ["localhost"])
            let missing = "/_matrix/federation/v1/query/directory?room_alias=%23nothing%3Alocalhost"
            #expect(try await server.call(.get, missing, headers: try signed("GET", missing)).status == 404)
        }
    }

    @Test func theDomainWhitelistIsAFence() async throws {
        try await TestServer.run(configure: {
            $0.outboundEnabled = false
            $0.federationDomainWhitelist = ["friend.example"]
        }) { server in
            try await trustRemote(server)
            let uri = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Alocalhost"
            let refused = try await server.call(.get, uri, headers: try signed("GET", uri))
            #expect(refused.status == 403)
        }
    }
}
