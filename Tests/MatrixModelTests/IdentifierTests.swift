import Testing

@testable import MatrixModel

@Suite struct IdentifierTests {
    @Test(arguments: [
        "matrix.org", "matrix.org:8888", "1.2.3.4", "1.2.3.4:1234", "[1234:5678::abcd]", "[1234:5678::abcd]:5678",
        "localhost", "a-b.example", "[::1]:8448",
    ])
    func validServerNames(name: String) {
        #expect(ServerName.isValid(name))
    }

    @Test(arguments: [
        "", "matrix.org:", "matrix.org:123456", "matrix.org:99999", "under_score.org", "1.2.3.256", "[1234:5678::abcd",
        "[xyz::1]", "[::1]x", "exa mple.org", "example.org:-1", String(repeating: "a", count: 256),
    ])
    func invalidServerNames(name: String) {
        #expect(!ServerName.isValid(name))
    }

    @Test func userIDs() throws {
        let user = try #require(UserID("@alice:example.org:8448"))
        #expect(user.localpart == "alice")
        #expect(user.server.value == "example.org:8448")
        #expect(UserID("@bob:[::1]:8448")?.server.value == "[::1]:8448")
        // Historical IDs are accepted when parsing, but are not valid for new accounts.
        #expect(UserID("@Alice:example.org") != nil)
        #expect(!UserID.isCompliantLocalpart("Alice"))
        #expect(UserID.isCompliantLocalpart("a.b_c=d-e/f+g9"))
        #expect(!UserID.isCompliantLocalpart(""))
        #expect(!UserID.isCompliantLocalpart("a:b"))
        for invalid in ["alice:example.org", "@alice", "@alice:", "@alice:bad_server", "@" + String(repeating: "a", count: 250) + ":example.org"] {
            #expect(UserID(invalid) == nil, "\(invalid)")
        }
    }

    @Test func roomIDs() {
        #expect(RoomID("!opaque:example.org")?.server?.value == "example.org")
        #expect(RoomID("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM") != nil)
        #expect(RoomID("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM")?.server == nil)
        for invalid in ["", "!", "#a:b", "!:example.org", "!a:bad_host", "!has space"] {
            #expect(RoomID(invalid) == nil, "\(invalid)")
        }
    }

    @Test func aliasesAndEventIDs() {
        #expect(RoomAlias("#room:example.org")?.localpart == "room")
        #expect(RoomAlias("#:example.org") == nil)
        #expect(RoomAlias("room:example.org") == nil)
        #expect(EventID("$abc") != nil)
        #expect(EventID("abc") == nil)
        #expect(EventID("$") == nil)
    }
}
