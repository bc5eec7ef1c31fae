@testable import AxonServer
import AxonStorage
import Foundation
import HTTPTypes
import MatrixModel
import Testing

/// Synapse's media admin API: listing, quarantine, protection, deletion, statistics.
@Suite struct AdminMediaTests {
    let media = MediaTests()

    func uploaded(_ server: TestServer, _ token: String, _ text: String, name: String = "a.txt") async throws -> String {
        let reply = try await media.upload(server, token, Array(text.utf8), type: "text/plain", filename: name)
        return try #require(reply.json["content_uri"]?.stringValue, "\(reply.raw)")
    }

    func downloadStatus(_ server: TestServer, _ uri: String, _ token: String) async throws -> Int {
        try await media.get(server, "/_matrix/client/v1/media/download/\(media.mediaPath(uri))", token: token).status
    }

    func mediaID(_ uri: String) -> String { String(uri.split(separator: "/").last!) }

    @Test func onlyAdminsMayCallIt() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let uri = try await uploaded(server, alice.token, "hello")
            let id = mediaID(uri)
            let calls: [(HTTPRequest.Method, String)] = [
                (.get, "/_synapse/admin/v1/users/@alice:localhost/media"), (.delete, "/_synapse/admin/v1/users/@alice:localhost/media"),
                (.get, "/_synapse/admin/v1/media/localhost/\(id)"), (.delete, "/_synapse/admin/v1/media/localhost/\(id)"),
                (.post, "/_synapse/admin/v1/media/delete?before_ts=9999999999999"), (.post, "/_synapse/admin/v1/media/quarantine/localhost/\(id)"),
                (.post, "/_synapse/admin/v1/media/unquarantine/localhost/\(id)"), (.post, "/_synapse/admin/v1/media/protect/\(id)"),
                (.post, "/_synapse/admin/v1/user/@alice:localhost/media/quarantine"), (.get, "/_synapse/admin/v1/statistics/users/media"),
                (.post, "/_synapse/admin/v1/purge_media_cache?before_ts=1"), (.get, "/_synapse/admin/v1/room/!r:localhost/media"),
                (.post, "/_synapse/admin/v1/room/!r:localhost/media/quarantine"),
            ]
            for (method, path) in calls {
                let reply = try await server.call(method, path, token: alice.token, json: [:])
                #expect(reply.status == 403 && reply.errcode == "M_FORBIDDEN", "\(path): \(reply.raw)")
            }
            #expect(try await downloadStatus(server, uri, alice.token) == 200)
        }
    }

    @Test func aUsersMediaIsListedQuarantinedAndProtected() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let first = try await uploaded(server, alice.token, "one", name: "one.txt")
            let second = try await uploaded(server, alice.token, "second", name: "two.txt")
            let third = try await uploaded(server, alice.token, "third", name: "three.txt")

            let page = try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/media?limit=2&order_by=media_length", token: root)
            #expect(page.json["total"] == 3 && page.json["next_token"] == 2, "\(page.raw)")
            #expect(page.json["media"]?.arrayValue?.map { $0["upload_name"] } == ["one.txt", "three.txt"])
            let entry = try #require(page.json["media"]?[0])
            #expect(entry["media_id"] == .string(mediaID(first)) && entry["media_length"] == 3 && entry["media_type"] == "text/plain")
            #expect(entry["quarantined_by"] == .null && entry["safe_from_quarantine"] == false && entry["last_access_ts"] == .null)
            let info = try await server.call(.get, "/_synapse/admin/v1/media/localhost/\(mediaID(second))", token: root)
            #expect(info.json["media_info"]?["user_id"] == .string(alice.userID) && info.json["media_info"]?["upload_name"] == "two.txt")
            #expect(try await server.call(.get, "/_synapse/admin/v1/media/localhost/nope", token: root).status == 404)

            // Protected media stays out of a user-wide quarantine; the rest answers 404 until released.
            #expect(try await server.call(.post, "/_synapse/admin/v1/media/protect/\(mediaID(third))", token: root, json: [:]).status == 200)
            let quarantined = try await server.call(.post, "/_synapse/admin/v1/user/@alice:localhost/media/quarantine", token: root, json: [:])
            #expect(quarantined.json == ["num_quarantined": 2])
            #expect(try await downloadStatus(server, first, alice.token) == 404)
            #expect(try await media.get(server, "/_matrix/media/v3/download/\(media.mediaPath(second))", token: nil).status == 404)
            #expect(try await downloadStatus(server, third, alice.token) == 200)
            let listed = try await server.call(.get, "/_synapse/admin/v1/users/@alice:localhost/media?order_by=media_id", token: root)
            #expect(listed.json["media"]?.arrayValue?.compactMap { $0["quarantined_by"]?.stringValue }.count == 2)
            #expect(try await server.call(.post, "/_synapse/admin/v1/media/unquarantine/localhost/\(mediaID(first))", token: root, json: [:]).status == 200)
            #expect(try await downloadStatus(server, first, alice.token) == 200)
            #expect(try await server.call(.post, "/_synapse/admin/v1/media/quarantine/localhost/\(mediaID(third))", token: root, json: [:]).status == 200)
            #expect(try await downloadStatus(server, third, alice.token) == 200)
        }
    }

    @Test func aRoomsMediaIsFoundAndQuarantined() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            let picture = try await uploaded(server, alice.token, "a picture")
            let thumbnail = try await uploaded(server, alice.token, "its thumbnail")
            _ = try await server.call(
                .put, server.room(roomID, "/send/m.room.message/img1"), token: alice.token,
                json: ["msgtype": "m.image", "body": "pic", "url": .string(picture), "info": ["thumbnail_url": .string(thumbnail)]])
            _ = try await server.call(
                .put, server.room(roomID, "/send/m.room.message/img2"), token: alice.token,
                json: ["msgtype": "m.image", "body": "far", "url": "mxc://remote.example/abc"])
            let found = try await server.call(.get, "/_synapse/admin/v1/room/\(TestServer.path(roomID))/media", token: root)
            #expect(found.json == ["local": [.string(picture), .string(thumbnail)], "remote": ["mxc://remote.example/abc"]], "\(found.raw)")
            let quarantined = try await server.call(.post, "/_synapse/admin/v1/room/\(TestServer.path(roomID))/media/quarantine", token: root, json: [:])
            #expect(quarantined.json == ["num_quarantined": 3])
            #expect(try await downloadStatus(server, picture, bob.token) == 404)
            #expect(try await downloadStatus(server, thumbnail, bob.token) == 404)
            // The remote item is refused without asking its server.
            let remote = try await media.get(server, "/_matrix/client/v1/media/download/remote.example/abc", token: bob.token)
            #expect(remote.status == 404)
            #expect(try await server.call(.get, "/_synapse/admin/v1/room/!unknown:localhost/media", token: root).status == 404)
        }
    }

    @Test func deletedMediaIsGoneAndItsFileWhenUnshared() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let unique = try await uploaded(server, alice.token, "only alice has this")
            let shared = try await uploaded(server, alice.token, "both have this")
            let bobsCopy = try await uploaded(server, bob.token, "both have this")
            let avatar = try await uploaded(server, alice.token, "alice's face")
            _ = try await server.call(.put, "/_matrix/client/v3/profile/@alice:localhost/avatar_url", token: alice.token, json: ["avatar_url": .string(avatar)])
            let store = server.server.storage
            let files = MediaFiles(root: server.server.config.dataDirectory + "/media")
            let uniqueHash = try #require(try await store.media(mediaID: mediaID(unique))?.sha256)
            let sharedHash = try #require(try await store.media(mediaID: mediaID(shared))?.sha256)

            let deleted = try await server.call(.delete, "/_synapse/admin/v1/media/localhost/\(mediaID(unique))", token: root)
            #expect(deleted.json == ["deleted_media": [.string(mediaID(unique))], "total": 1])
            #expect(try await downloadStatus(server, unique, alice.token) == 404)
            #expect(!FileManager.default.fileExists(atPath: files.path(uniqueHash)))
            #expect(try await server.call(.delete, "/_synapse/admin/v1/media/remote.example/x", token: root).status == 400)

            // Everything before now, except avatars in use.
            let swept = try await server.call(.post, "/_synapse/admin/v1/media/delete?before_ts=\(nowMillis() + 1000)", token: root, json: [:])
            #expect(swept.json["total"] == 2, "\(swept.raw)")
            #expect(Set(swept.json["deleted_media"]?.arrayValue?.compactMap(\.stringValue) ?? []) == [mediaID(shared), mediaID(bobsCopy)])
            #expect(try await downloadStatus(server, avatar, bob.token) == 200)
            #expect(!FileManager.default.fileExists(atPath: files.path(sharedHash)))
            #expect(try await server.call(.post, "/_synapse/admin/v1/media/delete", token: root, json: [:]).status == 400)
            let userWide = try await server.call(.delete, "/_synapse/admin/v1/users/@alice:localhost/media", token: root)
            #expect(userWide.json == ["deleted_media": [.string(mediaID(avatar))], "total": 1])
        }
    }

    @Test func statisticsAndTheRemoteCache() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            _ = try await uploaded(server, alice.token, "12345")
            _ = try await uploaded(server, alice.token, "123")
            _ = try await uploaded(server, bob.token, "1")
            let stats = try await server.call(.get, "/_synapse/admin/v1/statistics/users/media?order_by=media_length&dir=b", token: root)
            #expect(stats.json["total"] == 2, "\(stats.raw)")
            #expect(stats.json["users"]?[0] == ["user_id": .string(alice.userID), "displayname": "alice", "media_count": 2, "media_length": 8])
            let searched = try await server.call(.get, "/_synapse/admin/v1/statistics/users/media?search_term=bo", token: root)
            #expect(searched.json["users"]?.arrayValue?.map { $0["user_id"] } == [.string(bob.userID)])

            let files = MediaFiles(root: server.server.config.dataDirectory + "/media")
            let stored = try await files.store(bytes: Array("remote bytes".utf8))
            try await server.server.storage.saveRemoteMedia(
                RemoteMediaRecord(origin: "remote.example", mediaID: "cached", variant: "", contentType: "text/plain", filename: nil,
                    sha256: stored.sha256, size: stored.size, fetchedAt: 1_000))
            #expect(try await media.get(server, "/_matrix/client/v1/media/download/remote.example/cached", token: bob.token).status == 200)
            let purged = try await server.call(.post, "/_synapse/admin/v1/purge_media_cache?before_ts=2000", token: root, json: [:])
            #expect(purged.json == ["deleted": 1])
            #expect(!FileManager.default.fileExists(atPath: files.path(stored.sha256)))
        }
    }
}
