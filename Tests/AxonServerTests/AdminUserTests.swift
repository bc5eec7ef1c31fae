import MatrixModel
import HTTPTypes
import Testing

/// Synapse's user admin API, as synadm and synapse-admin call it.
@Suite struct AdminUserTests {
    @Test func onlyAdminsMayCallIt() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let calls: [(HTTPRequest.Method, String)] = [
                (.get, "/_synapse/admin/v2/users"), (.get, "/_synapse/admin/v3/users"), (.get, "/_synapse/admin/v2/users/@alice:localhost"),
                (.put, "/_synapse/admin/v2/users/@bob:localhost"), (.post, "/_synapse/admin/v1/deactivate/@alice:localhost"),
                (.post, "/_synapse/admin/v1/reset_password/@alice:localhost"), (.get, "/_synapse/admin/v1/users/@alice:localhost/admin"),
                (.put, "/_synapse/admin/v1/users/@alice:localhost/admin"), (.get, "/_synapse/admin/v1/users/@alice:localhost/joined_rooms"),
                (.get, "/_synapse/admin/v1/username_available?username=x"),
            ]
            for (method, path) in calls {
                let reply = try await server.call(method, path, token: alice.token, json: ["admin": true, "new_password": "x"])
                #expect(reply.status == 403 && reply.errcode == "M_FORBIDDEN", "\(path): \(reply.raw)")
            }
            #expect(try await server.call(.get, "/_synapse/admin/v2/users").status == 401)
            let version = try await server.call(.get, "/_synapse/admin/v1/server_version")
            #expect(version.json["server_version"]?.stringValue?.hasPrefix("Axon") == true)
        }
    }

    @Test func listingFiltersSortsAndPages() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            for name in ["carol", "alice", "bob", "dave"] { _ = try await server.register(name) }
            _ = try await server.call(.put, "/_matrix/client/v3/profile/@carol:localhost/displayname", token: try await server.login("carol").json["access_token"]?.stringValue, json: ["displayname": "Zed"])
            let page = try await server.call(.get, "/_synapse/admin/v2/users?limit=2", token: root)
            #expect(page.json["total"] == 5 && page.json["next_token"] == "2", "\(page.raw)")
            #expect(page.json["users"]?.arrayValue?.map { $0["name"] } == ["@alice:localhost", "@bob:localhost"])
            let rest = try await server.call(.get, "/_synapse/admin/v2/users?from=4&limit=2", token: root)
            #expect(rest.json["users"]?.arrayValue?.map { $0["name"] } == ["@root:localhost"] && rest.json["next_token"] == nil)
            let named = try await server.call(.get, "/_synapse/admin/v2/users?name=ZE", token: root)
            #expect(named.json["users"]?.arrayValue?.map { $0["name"] } == ["@carol:localhost"])
            let admins = try await server.call(.get, "/_synapse/admin/v2/users?admins=true", token: root)
            #expect(admins.json["users"]?.arrayValue?.map { $0["name"] } == ["@root:localhost"])
            let backwards = try await server.call(.get, "/_synapse/admin/v2/users?order_by=name&dir=b&limit=1", token: root)
            #expect(backwards.json["users"]?[0]?["name"] == "@root:localhost")
            #expect(try await server.call(.get, "/_synapse/admin/v2/users?order_by=shoe_size", token: root).status == 400)
            #expect(try await server.call(.get, "/_synapse/admin/v2/users?limit=-1", token: root).status == 400)

            // Deactivated accounts: v2 hides them unless asked; v3 filters both ways.
            #expect(try await server.call(.post, "/_synapse/admin/v1/deactivate/@dave:localhost", token: root, json: [:]).status == 200)
            #expect(try await server.call(.get, "/_synapse/admin/v2/users", token: root).json["total"] == 4)
            #expect(try await server.call(.get, "/_synapse/admin/v2/users?deactivated=true", token: root).json["total"] == 5)
            let onlyDeactivated = try await server.call(.get, "/_synapse/admin/v3/users?deactivated=true", token: root)
            #expect(onlyDeactivated.json["users"]?.arrayValue?.map { $0["name"] } == ["@dave:localhost"])
            #expect(try await server.call(.get, "/_synapse/admin/v3/users", token: root).json["total"] == 5)
        }
    }

    @Test func accountsAreCreatedModifiedAndDeactivated() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let created = try await server.call(
                .put, "/_synapse/admin/v2/users/@eve:localhost", token: root, json: ["password": "eve password", "displayname": "Eve", "admin": false])
            #expect(created.status == 201 && created.json["displayname"] == "Eve" && created.json["admin"] == false, "\(created.raw)")
            #expect(try await server.login("eve", password: "eve password").status == 200)
            let roomID = try await server.createRoom(root)
            let eve = try #require(try await server.login("eve", password: "eve password").json["access_token"]?.stringValue)
            #expect(try await server.call(.post, "/_matrix/client/v3/join/\(TestServer.path(roomID))", token: eve, json: [:]).status == 200)
            let joined = try await server.call(.get, "/_synapse/admin/v1/users/@eve:localhost/joined_rooms", token: root)
            #expect(joined.json == ["joined_rooms": [.string(roomID)], "total": 1])

            // Modified: a new display name reaches her member event; admin status; password.
            let modified = try await server.call(
                .put, "/_synapse/admin/v2/users/@eve:localhost", token: root, json: ["displayname": "Eve Admin", "admin": true])
            #expect(modified.status == 200 && modified.json["admin"] == true)
            let member = try await server.call(.get, server.room(roomID, "/state/m.room.member/@eve:localhost"), token: root)
            #expect(member.json["displayname"] == "Eve Admin")
            #expect(try await server.call(.get, "/_synapse/admin/v1/users/@eve:localhost/admin", token: root).json == ["admin": true])
            #expect(try await server.call(.put, "/_synapse/admin/v1/users/@eve:localhost/admin", token: root, json: ["admin": false]).status == 200)
            #expect(try await server.call(.post, "/_synapse/admin/v1/reset_password/@eve:localhost", token: root, json: ["new_password": "changed"]).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: eve).status == 401, "logged out by the reset")
            #expect(try await server.login("eve", password: "eve password").status == 403)
            #expect(try await server.login("eve", password: "changed").status == 200)

            // Deactivated: cannot log in, left the room; details say so.
            #expect(try await server.call(.put, "/_synapse/admin/v2/users/@eve:localhost", token: root, json: ["deactivated": true]).status == 200)
            #expect(try await server.login("eve", password: "changed").status == 403)
            let details = try await server.call(.get, "/_synapse/admin/v2/users/@eve:localhost", token: root)
            #expect(details.json["deactivated"] == true && details.json["name"] == "@eve:localhost")
            #expect(try await server.call(.get, server.room(roomID, "/state/m.room.member/@eve:localhost"), token: root).json["membership"] == "leave")
            // Brought back only with a new password.
            #expect(try await server.call(.put, "/_synapse/admin/v2/users/@eve:localhost", token: root, json: ["deactivated": false]).status == 400)
            #expect(try await server.call(.put, "/_synapse/admin/v2/users/@eve:localhost", token: root, json: ["deactivated": false, "password": "back"]).status == 200)
            #expect(try await server.login("eve", password: "back").status == 200)

            #expect(try await server.call(.get, "/_synapse/admin/v2/users/@nobody:localhost", token: root).status == 404)
            #expect(try await server.call(.put, "/_synapse/admin/v2/users/@Not%20Valid:localhost", token: root, json: [:]).errcode == "M_INVALID_USERNAME")
            #expect(try await server.call(.get, "/_synapse/admin/v2/users/@x:elsewhere.example", token: root).status == 400)
            #expect(try await server.call(.put, "/_synapse/admin/v1/users/@root:localhost/admin", token: root, json: ["admin": false]).status == 400)
            #expect(try await server.call(.get, "/_synapse/admin/v1/username_available?username=eve", token: root).errcode == "M_USER_IN_USE")
            #expect(try await server.call(.get, "/_synapse/admin/v1/username_available?username=frank", token: root).json == ["available": true])
        }
    }
}

@Suite struct AccountRestrictionTests {
    @Test func suspendedUsersReadButDoNotActAndLockedUsersOnlyLogOut() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(root)
            _ = try await server.send(root, roomID, "hello")
            #expect(try await server.call(.post, "/_matrix/client/v3/join/\(TestServer.path(roomID))", token: alice.token, json: [:]).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v1/admin/suspend/@alice:localhost", token: alice.token).status == 403)
            #expect(try await server.call(.get, "/_matrix/client/v1/admin/suspend/@alice:localhost", token: root).json == ["suspended": false])

            let suspended = try await server.call(.put, "/_matrix/client/v1/admin/suspend/@alice:localhost", token: root, json: ["suspended": true])
            #expect(suspended.status == 200 && suspended.json == ["suspended": true])
            let sent = try await server.send(alice.token, roomID, "while suspended")
            #expect(sent.status == 403 && sent.errcode == "M_USER_SUSPENDED", "\(sent.raw)")
            #expect(try await server.call(.post, "/_matrix/client/v3/createRoom", token: alice.token, json: [:]).errcode == "M_USER_SUSPENDED")
            #expect(try await server.call(.put, "/_matrix/client/v3/profile/@alice:localhost/displayname", token: alice.token, json: ["displayname": "x"]).errcode == "M_USER_SUSPENDED")
            // Reading and leaving stay open.
            #expect(try await server.messages(alice.token, roomID).status == 200)
            #expect(try await server.sync(alice.token).status == 200)
            _ = try await server.call(.put, "/_matrix/client/v1/admin/suspend/@alice:localhost", token: root, json: ["suspended": false])
            #expect(try await server.send(alice.token, roomID, "free again").status == 200)

            #expect(try await server.call(.put, "/_matrix/client/v1/admin/lock/@alice:localhost", token: root, json: ["locked": true]).status == 200)
            #expect(try await server.call(.get, "/_matrix/client/v1/admin/lock/@alice:localhost", token: root).json == ["locked": true])
            let locked = try await server.sync(alice.token)
            #expect(locked.status == 401 && locked.errcode == "M_USER_LOCKED" && locked.json["soft_logout"] == true, "\(locked.raw)")
            let login = try await server.login("alice")
            #expect(login.status == 401 && login.errcode == "M_USER_LOCKED")
            #expect(try await server.call(.post, "/_matrix/client/v3/logout", token: alice.token, json: [:]).status == 200)
            _ = try await server.call(.put, "/_matrix/client/v1/admin/lock/@alice:localhost", token: root, json: ["locked": false])
            #expect(try await server.login("alice").status == 200)
            #expect(try await server.call(.put, "/_matrix/client/v1/admin/lock/@root:localhost", token: root, json: ["locked": true]).status == 400)
            #expect(try await server.call(.put, "/_matrix/client/v1/admin/lock/@nobody:localhost", token: root, json: ["locked": true]).status == 404)
        }
    }
}

extension AdminUserTests {
    @Test func devicesAreListedRenamedAndDeleted() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice", device: "PHONE")
            _ = try await server.login("alice", device: "LAPTOP")
            let path = "/_synapse/admin/v2/users/@alice:localhost/devices"
            let listed = try await server.call(.get, path, token: root)
            #expect(listed.json["total"] == 2, "\(listed.raw)")
            #expect(Set(listed.json["devices"]?.arrayValue?.compactMap { $0["device_id"]?.stringValue } ?? []) == ["PHONE", "LAPTOP"])
            #expect(try await server.call(.put, path + "/PHONE", token: root, json: ["display_name": "Alice's phone"]).status == 200)
            #expect(try await server.call(.get, path + "/PHONE", token: root).json["display_name"] == "Alice's phone")
            #expect(try await server.call(.get, path + "/NOPE", token: root).status == 404)
            #expect(try await server.call(.post, "/_synapse/admin/v2/users/@alice:localhost/delete_devices", token: root, json: ["devices": ["LAPTOP"]]).status == 200)
            #expect(try await server.call(.delete, path + "/PHONE", token: root).status == 200)
            #expect(try await server.call(.get, path, token: root).json["total"] == 0)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: alice.token).status == 401, "the token went with its device")
            let bob = try await server.register("bob")
            #expect(try await server.call(.get, path, token: bob.token).status == 403)
            let whois = try await server.call(.get, "/_synapse/admin/v1/whois/@alice:localhost", token: root)
            #expect(whois.status == 200 && whois.json["user_id"] == "@alice:localhost")
        }
    }
}

extension AdminUserTests {
    @Test func aRoomsDetailsMembersAndState() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Lobby", "visibility": "public"])
            let path = "/_synapse/admin/v1/rooms/\(TestServer.path(roomID))"
            let details = try await server.call(.get, path, token: root)
            #expect(details.status == 200, "\(details.raw)")
            #expect(details.json["name"] == "Lobby" && details.json["joined_members"] == 1 && details.json["joined_local_members"] == 1)
            #expect(details.json["creator"] == "@alice:localhost" && details.json["public"] == true && details.json["join_rules"] == "public")
            #expect(details.json["version"]?.stringValue == RoomVersion.default.identifier)
            #expect(try await server.call(.get, path + "/members", token: root).json == ["members": ["@alice:localhost"], "total": 1])
            let state = try await server.call(.get, path + "/state", token: root)
            #expect(state.json["state"]?.arrayValue?.contains { $0["type"] == "m.room.create" } == true)
            #expect(try await server.call(.get, path, token: alice.token).status == 403)
            #expect(try await server.call(.get, "/_synapse/admin/v1/rooms/%21nope%3Alocalhost", token: root).status == 404)
        }
    }
}
