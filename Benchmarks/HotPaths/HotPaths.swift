import AxonServer
import AxonStorage
import Benchmark
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MatrixModel
import NIOCore

/// A typical message event as Axon stores it.
private let messageEvent: JSONObject = try! JSONParser.parse(
    #"{"auth_events":["$a","$b","$c"],"content":{"body":"Hello, this is a fairly ordinary chat message 👋","msgtype":"m.text","m.mentions":{}},"depth":1234,"hashes":{"sha256":"x"},"origin_server_ts":1795319457932,"prev_events":["$p"],"room_id":"!HCg0k9sk2jweoI5wexr7ZfX4XoncufkC2tnwmL6kR80","sender":"@alice:localhost","signatures":{},"type":"m.room.message","unsigned":{"age":5}}"#
).objectValue!
private let messageText = JSON.object(messageEvent).encodedString()
private let key = SigningKey.generate(version: "bench")

/// A room of 100 joined members, for the auth check.
private let roomState: [StateKey: PDU] = {
    var state: [StateKey: PDU] = [:]
    func event(_ type: String, _ stateKey: String, _ content: JSON, sender: String = "@creator:hs") -> PDU {
        PDU(eventID: "$\(type)\(stateKey)", json: [
            "type": .string(type), "state_key": .string(stateKey), "sender": .string(sender), "content": content,
            "room_id": "!room:hs", "prev_events": [], "auth_events": [], "depth": 1,
        ])
    }
    state[.create] = event("m.room.create", "", ["room_version": "11"])
    state[.powerLevels] = event("m.room.power_levels", "", ["users": ["@creator:hs": 100]])
    state[.joinRules] = event("m.room.join_rules", "", ["join_rule": "public"])
    for index in 0..<100 {
        state[.member("@user\(index):hs")] = event("m.room.member", "@user\(index):hs", ["membership": "join"], sender: "@user\(index):hs")
    }
    return state
}()

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput]
    let configuration = Benchmark.Configuration(metrics: metrics, maxDuration: .seconds(3), maxIterations: 100_000)

    Benchmark("Parse event JSON", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try JSONParser.parse(messageText)) }
    }
    Benchmark("Canonical JSON of an event", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try JSON.object(messageEvent).canonicalBytes()) }
    }
    Benchmark("Hash, sign and derive the event ID", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            let signed = try EventHashing.hashAndSign(messageEvent, version: .v11, server: "localhost", key: key)
            blackHole(try EventHashing.eventID(signed, version: .v11))
        }
    }
    Benchmark("Auth rules: message in a 100-member room", configuration: configuration) { benchmark in
        let message = PDU(eventID: "$m", json: [
            "type": "m.room.message", "sender": "@user42:hs", "content": ["body": "hi"], "room_id": "!room:hs",
            "prev_events": ["$p"], "auth_events": [], "depth": 5,
        ])
        for _ in benchmark.scaledIterations { blackHole(try AuthRules.check(message, state: roomState, version: .v11)) }
    }
    // The most a user may make the server match (issue 11, H3): 500 content rules with
    // 255-byte wildcard patterns that backtrack, against a 64 KiB body. The work budget keeps
    // one member's evaluation bounded; the target is under 5 ms per member.
    let (largeRoom, forks) = ForkedLargeRoom.make()
    Benchmark("State resolution v2: two forks of a 1,000-member room", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(StateResolution.resolve(forks, graph: largeRoom.graph, version: largeRoom.version)) }
    }
    Benchmark("Push rules: the worst allowed rule set, one member, 64 KiB body", configuration: configuration) { benchmark in
        var rules = PushRuleSet(userID: "@victim:hs", document: nil)
        let pattern = String(repeating: "*a", count: 126) + "b*"
        for index in 0..<500 {
            try rules.setRule(.content, id: "r\(index)", body: ["pattern": .string(pattern), "actions": ["notify"]], before: nil, after: nil)
        }
        var hostile = messageEvent
        hostile["content"] = ["msgtype": "m.text", "body": .string(String(repeating: "a", count: 65_000))]
        let context = PushEvaluationContext(
            userID: "@victim:hs", displayName: "victim", memberCount: 100, senderPowerLevel: 0, notificationLevels: ["room": 50])
        // Building the 500 rules is setup, not the cost being measured.
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(rules.evaluate(hostile, context: context)) }
    }
    Benchmark("Push rules: a message for each member of a 100-member room", configuration: configuration) { benchmark in
        let members = (0..<100).map { "@user\($0):hs" }
        for _ in benchmark.scaledIterations {
            for member in members {
                let context = PushEvaluationContext(
                    userID: member, displayName: nil, memberCount: 100, senderPowerLevel: 0, notificationLevels: ["room": 50])
                blackHole(PushRuleSet(userID: member, document: nil).evaluate(messageEvent, context: context))
            }
        }
    }
    // Each sample is a fresh server, warmed up by 20 rounds; only the round after them is
    // measured. Measuring the whole closure (as this did until 2026-12-03) counted opening the
    // database, running every migration, registering and creating the room in each sample.
    Benchmark("Send one message + incremental /sync (SQLite, in-process HTTP)", configuration: .init(metrics: metrics, maxDuration: .seconds(60), maxIterations: 200)) { benchmark in
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("axon-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = AxonConfig()
        config.dataDirectory = directory.path
        config.bcryptCost = 4
        config.rateLimitsEnabled = false
        let logger = Logger(label: "bench")
        let storage = try await AxonServer.openStorage(config)
        let server = try await AxonServer(config: config, storage: storage, logger: logger)
        // The router test closure is @Sendable; the benchmark is only used from this one task.
        nonisolated(unsafe) let benchmark = benchmark
        try await server.application(logger: logger).test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, body: String? = nil) async throws -> JSON {
                var headers: HTTPFields = [:]
                if let token { headers[.authorization] = "Bearer \(token)" }
                let response = try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                return try JSONParser.parse(response.body.readableBytesView)
            }
            let token = try await call(.post, "/_matrix/client/v3/register", body: #"{"username":"bench","password":"pw","auth":{"type":"m.login.dummy"}}"#)["access_token"]!.stringValue!
            let room = try await call(.post, "/_matrix/client/v3/createRoom", token: token, body: "{}")["room_id"]!.stringValue!
            let escaped = room.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            var since = try await call(.get, "/_matrix/client/v3/sync", token: token)["next_batch"]!.stringValue!
            var counter = 0
            // One round is what a chat client does: send, then sync it back.
            func round() async throws {
                counter += 1
                _ = try await call(.put, "/_matrix/client/v3/rooms/\(escaped)/send/m.room.message/t\(counter)", token: token, body: #"{"msgtype":"m.text","body":"x"}"#)
                since = try await call(.get, "/_matrix/client/v3/sync?since=\(since)", token: token)["next_batch"]!.stringValue!
            }
            for _ in 0..<20 { try await round() }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { try await round() }
            benchmark.stopMeasurement()
        }
        try await storage.close()
    }
}
