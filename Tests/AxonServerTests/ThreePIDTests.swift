@testable import AxonServer
import MatrixModel
import Testing

@Suite struct ThreePIDTests {
    @Test func addressesAndSecretsAreChecked() throws {
        #expect(try ServerContext.canonicalEmail(" Alice@Example.ORG ") == "alice@example.org")
        for bad in ["alice", "@example.org", "a@b", "a b@example.org", "a@example.org\r\nBcc: x@y.z", "<a@example.org>"] {
            #expect(throws: MatrixError.self, "\(bad)") { try ServerContext.canonicalEmail(bad) }
        }
        #expect(throws: Never.self) { try ServerContext.checkClientSecret("monkeys_are_GREAT-1.=") }
        #expect(throws: MatrixError.self) { try ServerContext.checkClientSecret("no spaces") }
        #expect(throws: MatrixError.self) { try ServerContext.checkClientSecret("") }
    }

    @Test func mailsAreWellFormedAndDotStuffed() {
        let client = SMTPClient(
            host: "localhost", port: 25, security: .none, username: nil, password: nil, from: "Axon <noreply@example.org>", caFile: nil,
            heloName: "example.org")
        let message = client.message(to: "bob@example.org", subject: "Grüße", text: "line one\n.starts with a dot\nlast")
        #expect(message.contains("From: Axon <noreply@example.org>\r\nTo: <bob@example.org>\r\n"))
        #expect(message.contains("Subject: =?UTF-8?B?R3LDvMOfZQ==?="))
        #expect(message.hasSuffix("\r\n\r\nline one\r\n..starts with a dot\r\nlast"))
        #expect(SMTPClient.address(of: "Axon <noreply@example.org>") == "noreply@example.org")
    }

    @Test func withoutMailTheSpecsAnswers() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            for path in ["register", "account/password", "account/3pid"] {
                let reply = try await server.call(
                    .post, "/_matrix/client/v3/\(path)/email/requestToken", json: ["client_secret": "s", "email": "a@example.org", "send_attempt": 1])
                #expect(reply.status == 400)
                #expect(reply.errcode == "M_THREEPID_MEDIUM_NOT_SUPPORTED")
            }
            #expect(try await server.call(.get, "/_matrix/client/v3/account/3pid", token: alice.token).json == ["threepids": []])
            let capabilities = try await server.call(.get, "/_matrix/client/v3/capabilities", token: alice.token).json["capabilities"]
            #expect(capabilities?["m.3pid_changes"] == ["enabled": false])
            // Without a token and without mail, a password change is simply unauthenticated.
            let reset = try await server.call(.post, "/_matrix/client/v3/account/password", json: ["new_password": "x"])
            #expect(reset.status == 401)
            #expect(reset.errcode == "M_MISSING_TOKEN")
            let login = try await server.call(
                .post, "/_matrix/client/v3/login",
                json: ["type": "m.login.password", "identifier": ["type": "m.id.thirdparty", "medium": "email", "address": "a@example.org"], "password": "x"])
            #expect(login.status == 403)
        }
    }

    @Test func adminsSetAddressesAndProviderLinksAsSynapseDoes() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            _ = try await server.register("alice")
            let put = try await server.call(
                .put, "/_synapse/admin/v2/users/@alice:localhost", token: root,
                json: ["threepids": [["medium": "email", "address": "Alice@Example.org"]], "external_ids": [["auth_provider": "corp", "external_id": "a-1"]]])
            #expect(put.status == 200, "\(put.raw)")
            #expect(put.json["threepids"]?[0]?["address"] == "alice@example.org")
            #expect(put.json["external_ids"] == [["auth_provider": "corp", "external_id": "a-1"]])
            #expect(try await server.call(.get, "/_synapse/admin/v1/threepid/email/users/alice@example.org", token: root).json["user_id"] == "@alice:localhost")
            #expect(try await server.call(.get, "/_synapse/admin/v1/auth_providers/corp/users/a-1", token: root).json["user_id"] == "@alice:localhost")
            #expect(try await server.call(.get, "/_synapse/admin/v1/threepid/email/users/nobody@example.org", token: root).status == 404)
            let login = try await server.call(
                .post, "/_matrix/client/v3/login",
                json: ["type": "m.login.password", "identifier": ["type": "m.id.thirdparty", "medium": "email", "address": "ALICE@example.org"],
                    "password": "correct horse"])
            #expect(login.json["user_id"] == "@alice:localhost")
            _ = try await server.register("bob")
            let clash = try await server.call(
                .put, "/_synapse/admin/v2/users/@bob:localhost", token: root, json: ["threepids": [["medium": "email", "address": "alice@example.org"]]])
            #expect(clash.errcode == "M_THREEPID_IN_USE")
            let cleared = try await server.call(.put, "/_synapse/admin/v2/users/@alice:localhost", token: root, json: ["threepids": []])
            #expect(cleared.json["threepids"] == [])
            #expect(cleared.json["external_ids"]?.arrayValue?.count == 1)
        }
    }
}
