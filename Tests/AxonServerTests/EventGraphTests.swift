import AxonStorage
import MatrixModel
import Testing

/// Local sends build the room graph: each event's prev_events are the forward extremities,
/// it becomes the one extremity, and the state before it is recorded.
@Suite struct EventGraphTests {
    @Test func localSendsExtendTheGraph() async throws {
        try await TestServer.run { server in
            let alice = try await server.register("alice")
            let roomID = try await server.createRoom(alice.token)
            let storage = server.server.storage
            let first = try #require(try await server.send(alice.token, roomID, "one").json["event_id"]?.stringValue)
            #expect(try await storage.forwardExtremities(roomID: roomID).map(\.eventID) == [first])
            let topic = try #require(
                try await server.call(.put, server.room(roomID, "/state/m.room.topic"), token: alice.token, json: ["topic": "t"])
                    .json["event_id"]?.stringValue)
            #expect(try await storage.prevEvents(of: topic) == [first])
            let extremities = try await storage.forwardExtremities(roomID: roomID)
            #expect(extremities.map(\.eventID) == [topic])
            let firstEvent = try #require(try await storage.event(id: first))
            let topicEvent = try #require(try await storage.event(id: topic))
            #expect(extremities.first?.depth == firstEvent.pdu.depth + 1)
            // The state before the topic is the state after the message: no topic yet.
            let before = try #require(try await storage.stateGroupBefore(eventID: topic))
            #expect(before == firstEvent.stateGroup)
            #expect(try await storage.stateEvent(group: before, key: StateKey("m.room.topic", "")) == nil)
            #expect(try await storage.stateEvent(group: topicEvent.stateGroup, key: StateKey("m.room.topic", ""))?.eventID == topic)
            // The create event has no state before it.
            let create = try #require(try await storage.currentStateEvent(roomID: roomID, key: .create))
            #expect(try await storage.stateGroupBefore(eventID: create.eventID) == nil)
        }
    }
}
