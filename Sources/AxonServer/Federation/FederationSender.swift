import AxonStorage
import Foundation
import Logging
import MatrixModel
import ServiceLifecycle
import Synchronization

/// The durable per-destination sender (DESIGN.md "Outbound is durable"): events are queued
/// in the database in the transaction that persists them; this service sends each
/// destination its queue as transactions of at most 50 PDUs and 100 EDUs, one in flight per
/// destination, backing off exponentially (5 s doubling to an hour) after failures. With
/// several nodes, a lease in the database lets one node at a time send to a destination. A
/// destination far behind after an outage gets only its newest PDUs; it fetches the gap with
/// `/get_missing_events`.
final class FederationSender: Service, Sendable {
    let storage: any Storage
    let client: FederationClient
    let logger: Logger
    let node = "node-" + RandomString.alphanumeric(12)
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation
    private let inFlight = Mutex(Set<String>())
    /// Consecutive failures per destination since it last took a transaction.
    private let failureCounts = Mutex([String: Int]())
    static let pollInterval: Duration = .seconds(5)
    static let leaseMs: Int64 = 60_000
    static let maxPDUs = 50
    static let maxEDUs = 100
    /// Past this many queued entries a destination is caught up from its newest PDUs only.
    static let catchUpThreshold = 1_000

    init(storage: any Storage, client: FederationClient, logger: Logger) {
        self.storage = storage
        self.client = client
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Something was queued: send soon.
    func wake() {
        wakeup.yield()
    }

    func run() async throws {
        guard client.config.outboundEnabled else {
            // Nothing to send, but a service that returns early stops the whole server.
            try await gracefulShutdown()
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.pollInterval)
                    self.wake()
                }
            }
            for await _ in wakeups.cancelOnGracefulShutdown() {
                await dispatch(into: &group)
            }
            group.cancelAll()
        }
    }

    private func dispatch(into group: inout ThrowingTaskGroup<Void, any Error>) async {
        let destinations: [String]
        do {
            destinations = try await storage.pendingDestinations(now: nowMillis())
        } catch {
            logger.warning("reading the federation queue failed", metadata: ["error": "\(error)"])
            return
        }
        for destination in destinations where inFlight.withLock({ $0.insert(destination).inserted }) {
            group.addTask {
                defer { _ = self.inFlight.withLock { $0.remove(destination) } }
                await self.drain(destination)
            }
        }
    }

    /// Sends the destination's queue until it is empty or a transaction fails, then gives
    /// the lease up.
    func drain(_ destination: String) async {
        await sendQueue(destination)
        try? await storage.releaseDestination(destination, owner: node)
    }

    private func sendQueue(_ destination: String) async {
        do {
            while true {
                let now = nowMillis()
                guard try await storage.leaseDestination(destination, owner: node, now: now, until: now + Self.leaseMs) else { return }
                var batch = try await storage.outboundBatch(destination: destination, pdus: Self.maxPDUs, edus: Self.maxEDUs)
                if batch.total > Self.catchUpThreshold {
                    try await storage.trimOutbound(destination: destination, keeping: Self.maxPDUs)
                    batch = try await storage.outboundBatch(destination: destination, pdus: Self.maxPDUs, edus: Self.maxEDUs)
                }
                guard !batch.isEmpty else { return }
                guard client.mayFederate(with: destination) else {
                    // Not a peer any more (whitelist, our own name): nothing will ever go there.
                    try await storage.completeOutbound(destination: destination, sequences: batch.sequences)
                    return
                }
                let pdus = try await storage.events(ids: batch.pdus.map(\.eventID)).sorted { $0.streamPosition < $1.streamPosition }
                let body: JSON = [
                    "origin": .string(client.serverName.value), "origin_server_ts": .int(now),
                    "pdus": .array(pdus.map { .object(ServerVisibility.federationForm($0.pdu).json) }),
                    "edus": .array(batch.edus.map(\.edu)),
                ]
                let txnID = "\(node)-\(batch.sequences.min() ?? 0)"
                do {
                    let response = try await client.request(
                        .PUT, destination: destination, path: "/_matrix/federation/v1/send/" + PercentEncoding.component(txnID), body: body)
                    guard response.status == 200 else { throw FederationClient.Failure("HTTP \(response.status): \(response.json.encodedString())") }
                    try await storage.completeOutbound(destination: destination, sequences: batch.sequences)
                    _ = failureCounts.withLock { $0.removeValue(forKey: destination) }
                } catch {
                    let failures = failureCounts.withLock { counts in
                        counts[destination, default: 0] += 1
                        return counts[destination]!
                    }
                    let delay = Self.backoffMs(failuresSoFar: failures)
                    try await storage.failOutbound(destination: destination, retryAt: nowMillis() + delay, now: nowMillis())
                    logger.info(
                        "sending to a server failed; backing off",
                        metadata: ["destination": "\(destination)", "retry_in_ms": "\(delay)", "error": "\(error)"])
                    return
                }
            }
        } catch {
            logger.warning("the federation sender failed", metadata: ["destination": "\(destination)", "error": "\(error)"])
        }
    }

    /// 5 s after the first failure, doubling, at most an hour.
    static func backoffMs(failuresSoFar failures: Int) -> Int64 {
        let exponent = min(max(failures - 1, 0), 10)
        return min(5_000 << Int64(exponent), 3_600_000)
    }
}
