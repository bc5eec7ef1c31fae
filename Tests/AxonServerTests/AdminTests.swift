import MatrixModel
import Testing

@Suite struct AdminTests {
    @Test func whoisForSelfAndAdminsOnly() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice", device: "PHONE")
            let bob = try await server.register("bob")
            _ = try await server.server.accounts.register(
                userID: try server.server.accounts.validatedNewUserID("root"), password: "correct horse", isAdmin: true, login: nil)
            let root = try #require(try await server.login("root").json["access_token"]?.stringValue)

            let own = try await server.call(
                .get, "/_matrix/client/v3/admin/whois/@alice:localhost", token: alice.token, headers: [.userAgent: "Element/1.11.50"])
            #expect(own.status == 200)
            #expect(own.json["devices"]?["PHONE"]?["sessions"]?[0]?["connections"]?[0]?["user_agent"] == "Element/1.11.50")
            #expect(own.json["user_id"] == "@alice:localhost")
            #expect(own.json["devices"]?["PHONE"]?["sessions"]?[0]?["connections"]?[0]?["ip"] != nil)
            #expect(try await server.call(.get, "/_matrix/client/v3/admin/whois/@alice:localhost", token: bob.token).status == 403)
            #expect(try await server.call(.get, "/_matrix/client/v3/admin/whois/@alice:localhost", token: root).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/admin/whois/@nobody:localhost", token: root).status == 404)
        }
    }
}
