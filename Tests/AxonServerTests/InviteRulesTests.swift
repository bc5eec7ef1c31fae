import Foundation
import MatrixModel
import Testing

@testable import AxonServer

/// Spec "Inviting to a room", invitee side: what an inbound invite must be before Axon signs
/// it (M_INVALID_PARAM otherwise), and what the invitee then sees.
extension RoomGraphTests {
    func invite(_ server: TestServer, roomID: String, event: PDU, version: String = "10", state: [JSON] = [], origin: String = RoomGraphTests.remote)
        async throws -> TestServer.Reply
    {
        let uri = "/_matrix/federation/v2/invite/\(TestServer.path(roomID))/\(TestServer.path(event.eventID))"
        let body: JSON = ["event": .object(event.json), "room_version": .string(version), "invite_room_state": .array(state)]
        let header = try XMatrixAuthorization.header(method: "PUT", uri: uri, origin: origin, destination: "localhost", content: body, key: key)
        return try await server.call(.put, uri, json: body, headers: [.authorization: header])
    }

    @Test func inboundInvitesAreCheckedThenSignedAndShown() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trust(server)
            let alice = try await server.register("alice")
            let roomID = "!elsewhere:\(Self.remote)"
            let bob = "@bob:\(Self.remote)"
            func member(_ target: String, membership: String = "invite", sender: String = bob) throws -> PDU {
                try remoteEvent("m.room.member", sender: sender, stateKey: target, content: ["membership": .string(membership)], prev: [], state: [:], roomID: roomID, depth: 5)
            }
            let name: JSON = ["type": "m.room.name", "state_key": "", "sender": .string(bob), "content": ["name": "Elsewhere"]]

            // Not an invite, someone else's user, a user of another server, an unknown user.
            #expect(try await invite(server, roomID: roomID, event: member(alice.userID, membership: "join")).errcode == "M_INVALID_PARAM")
            #expect(try await invite(server, roomID: roomID, event: member(alice.userID, sender: "@eve:evil.example")).errcode == "M_INVALID_PARAM")
            #expect(try await invite(server, roomID: roomID, event: member("@carol:other.example")).errcode == "M_INVALID_PARAM")
            #expect(try await invite(server, roomID: roomID, event: member("@nobody:localhost")).status == 404)
            // A forged signature, an unsupported version, a path naming another event.
            var forged = try member(alice.userID).json
            // (a field the signature covers: content outside `membership` is not, it is hashed)
            forged["origin_server_ts"] = 12345
            let forgedPDU = PDU(eventID: try EventHashing.eventID(forged, version: RoomVersion("10")!), json: forged)
            #expect(try await invite(server, roomID: roomID, event: forgedPDU).errcode == "M_INVALID_PARAM")
            #expect(try await invite(server, roomID: roomID, event: member(alice.userID), version: "99").errcode == "M_INCOMPATIBLE_ROOM_VERSION")

            // A good one: signed back by this server, shown in /sync with the inviter's state.
            let good = try member(alice.userID)
            let reply = try await invite(server, roomID: roomID, event: good, state: [name])
            #expect(reply.status == 200, "\(reply.raw)")
            #expect(reply.json["event"]?["signatures"]?["localhost"] != nil)
            #expect(reply.json["event"]?["signatures"]?[Self.remote] != nil)
            let sync = try await server.sync(alice.token)
            let shown = sync.json["rooms"]?["invite"]?[roomID]?["invite_state"]?["events"]?.arrayValue ?? []
            #expect(shown.contains { $0["type"] == "m.room.name" && $0["content"]?["name"] == "Elsewhere" })
            #expect(shown.contains { $0["type"] == "m.room.member" && $0["state_key"]?.stringValue == alice.userID })
            // The same invite again is answered the same way and stored once.
            #expect(try await invite(server, roomID: roomID, event: good, state: [name]).status == 200)
            // A room only known through the invite answers no federation reads.
            #expect(try await signedGet(server, "/_matrix/federation/v1/make_join/\(TestServer.path(roomID))/\(TestServer.path(bob))?ver=10").status == 404)
        }
    }

    @Test func v12InvitesMustCarryTheRoomsCreateEvent() async throws {
        try await TestServer.run(configure: { $0.outboundEnabled = false }) { server in
            try await trust(server)
            let alice = try await server.register("alice")
            let version = RoomVersion("12")!
            let bob = "@bob:\(Self.remote)"
            let createJSON: JSONObject = [
                "type": "m.room.create", "state_key": "", "sender": .string(bob), "content": ["room_version": "12"],
                "origin_server_ts": 1, "depth": 1, "prev_events": [], "auth_events": [],
            ]
            let create = try EventHashing.hashAndSign(createJSON, version: version, server: Self.remote, key: key)
            let roomID = "!" + (try EventHashing.eventID(create, version: version)).dropFirst()
            let inviteJSON: JSONObject = [
                "type": "m.room.member", "state_key": .string(alice.userID), "sender": .string(bob), "content": ["membership": "invite"],
                "room_id": .string(roomID), "origin_server_ts": 2, "depth": 3, "prev_events": [], "auth_events": [],
            ]
            let signed = try EventHashing.hashAndSign(inviteJSON, version: version, server: Self.remote, key: key)
            let pdu = PDU(eventID: try EventHashing.eventID(signed, version: version), json: signed)
            #expect(try await invite(server, roomID: roomID, event: pdu, version: "12").errcode == "M_INVALID_PARAM")
            var otherCreate = createJSON
            otherCreate["origin_server_ts"] = 99
            let other = try EventHashing.hashAndSign(otherCreate, version: version, server: Self.remote, key: key)
            #expect(try await invite(server, roomID: roomID, event: pdu, version: "12", state: [.object(other)]).errcode == "M_INVALID_PARAM")
            #expect(try await invite(server, roomID: roomID, event: pdu, version: "12", state: [.object(create)]).status == 200)
        }
    }
}
