import HTTPTypes
import MatrixModel
import Testing

/// Synapse's admin API for moderation: event reports.
@Suite struct AdminModerationTests {
    @Test func eventReportsAreListedReadAndDismissed() async throws {
        try await TestServer.run { server in
            let root = try await server.registerAdmin()
            let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
            _ = try await server.call(.put, server.room(roomID, "/state/m.room.name"), token: alice.token, json: ["name": "Town square"])
            let first = try #require(try await server.send(alice.token, roomID, "rude").json["event_id"]?.stringValue)
            let second = try #require(try await server.send(alice.token, roomID, "ruder").json["event_id"]?.stringValue)
            for (eventID, reason) in [(first, "offensive"), (second, "worse")] {
                let reply = try await server.call(.post, server.room(roomID, "/report/\(TestServer.path(eventID))"), token: bob.token, json: ["reason": .string(reason)])
                #expect(reply.status == 200)
            }
            _ = try await server.call(.post, server.room(roomID, "/report"), token: bob.token, json: ["reason": "a room report"])
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports", token: bob.token).status == 403)

            let list = try await server.call(.get, "/_synapse/admin/v1/event_reports", token: root)
            #expect(list.json["total"] == 2, "\(list.raw)")
            let newest = try #require(list.json["event_reports"]?[0])
            #expect(newest["event_id"] == .string(second) && newest["reason"] == "worse" && newest["user_id"] == .string(bob.userID))
            #expect(newest["sender"] == .string(alice.userID) && newest["room_id"] == .string(roomID) && newest["name"] == "Town square")
            let oldestFirst = try await server.call(.get, "/_synapse/admin/v1/event_reports?dir=f&limit=1", token: root)
            #expect(oldestFirst.json["event_reports"]?[0]?["event_id"] == .string(first) && oldestFirst.json["next_token"] == 1)
            let bySender = try await server.call(.get, "/_synapse/admin/v1/event_reports?event_sender_user_id=\(TestServer.path(bob.userID))", token: root)
            #expect(bySender.json["total"] == 0)

            let id = try #require(newest["id"]?.intValue)
            let details = try await server.call(.get, "/_synapse/admin/v1/event_reports/\(id)", token: root)
            #expect(details.json["event_json"]?["content"]?["body"] == "ruder" && details.json["event_json"]?["sender"] == .string(alice.userID))
            #expect(try await server.call(.delete, "/_synapse/admin/v1/event_reports/\(id)", token: root).status == 200)
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports/\(id)", token: root).status == 404)
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports", token: root).json["total"] == 1)
            #expect(try await server.call(.get, "/_synapse/admin/v1/event_reports/x", token: root).status == 400)
        }
    }
}
