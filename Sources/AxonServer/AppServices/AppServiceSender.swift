import AsyncHTTPClient
import AxonStorage
import Foundation
import Logging
import MatrixModel
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Pushes events to application services (spec "Pushing events"): `PUT
/// {url}/_matrix/app/v1/transactions/{txnId}` with the `hs_token`, one transaction in flight
/// per service, retried with back-off until a 2xx. The service's cursor into the event
/// stream and the pending transaction are stored before sending, so a restart resends the
/// same transaction ID with the same events, and nothing is lost or sent twice. On
/// PostgreSQL a lease lets one node send to each service.
final class AppServiceSender: Service, Sendable {
    let registry: AppServiceRegistry
    let storage: any Storage
    let logger: Logger
    let node = "node-" + RandomString.alphanumeric(12)
    static let batchSize = 100
    static let leaseMs: Int64 = 30_000
    /// Deliveries to one service in this process run one at a time (the lease orders nodes).
    private let locks = KeyedLock()
    /// Until when this node holds each service's lease: renewed when half of it is left,
    /// not on every wake-up (every room change).
    private let leases = Mutex<[String: Int64]>([:])
    /// One wake-up signal per service (with a URL): each is delivered to on its own, so a
    /// slow or unreachable service delays no other.
    private let wakeups: [(service: AppServiceRegistration, signal: AsyncStream<Void>)]
    private let wakers: [AsyncStream<Void>.Continuation]

    init(registry: AppServiceRegistry, storage: any Storage, notifier: Notifier, logger: Logger) {
        self.registry = registry
        self.storage = storage
        self.logger = logger
        var wakeups: [(AppServiceRegistration, AsyncStream<Void>)] = []
        var wakers: [AsyncStream<Void>.Continuation] = []
        for service in registry.services where service.url != nil {
            let (signal, waker) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            wakeups.append((service, signal))
            wakers.append(waker)
        }
        self.wakeups = wakeups
        self.wakers = wakers
        let all = wakers
        if !all.isEmpty { notifier.observeRoomChanges { for waker in all { waker.yield() } } }
    }

    func wake() { for waker in wakers { waker.yield() } }

    func run() async throws {
        guard !wakeups.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                // Wake-ups arrive on every room change; a timer covers other nodes' writes and retries.
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(500))
                        self.wake()
                    }
                }
                for (service, signal) in self.wakeups {
                    group.addTask {
                        for await _ in signal { await self.deliver(to: service) }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        await releaseLeases()
    }

    /// On a stop: another node (or this one restarted) takes over without waiting out the lease.
    func releaseLeases() async {
        leases.withLock { $0.removeAll() }
        for service in registry.services {
            await locks.withLock(service.id) { try? await self.storage.releaseAppService(id: service.id, owner: self.node) }
        }
    }

    /// Sends the pending transaction, or the next one, until the service is caught up or fails.
    func deliver(to service: AppServiceRegistration) async {
        await locks.withLock(service.id) { await self.deliverNow(to: service) }
    }

    private func deliverNow(to service: AppServiceRegistration) async {
        do {
            let now = nowMillis()
            if leases.withLock({ $0[service.id] ?? 0 }) < now + Self.leaseMs / 2 {
                guard try await storage.leaseAppService(id: service.id, owner: node, now: now, until: now + Self.leaseMs) else {
                    leases.withLock { $0[service.id] = nil }
                    return
                }
                leases.withLock { $0[service.id] = now + Self.leaseMs }
            }
            var delivery: AppServiceDelivery
            if let stored = try await storage.appServiceDelivery(id: service.id) {
                delivery = stored
            } else {
                delivery = AppServiceDelivery(deliveredUpTo: try await storage.currentStreamPosition())
                try await storage.saveAppServiceDelivery(id: service.id, delivery)
            }
            guard delivery.retryAt <= now else { return }
            for _ in 0..<50 {
                var built: AppServiceTransaction?
                if delivery.pending == nil {
                    guard let (next, content) = try await nextTransaction(for: service, after: &delivery) else { return }
                    delivery.pending = next
                    built = content
                    try await storage.saveAppServiceDelivery(id: service.id, delivery)
                }
                guard let pending = delivery.pending else { return }
                // A transaction stored by an earlier attempt is built again from its range.
                let content: AppServiceTransaction
                if let built {
                    content = built
                } else {
                    content = try await AppServiceTransaction.build(
                        for: service, after: pending.after, upTo: pending.upTo, storage: storage, serverName: registry.serverName, limit: Self.batchSize)
                }
                if try await send(content, id: pending.id, to: service) {
                    // Delivered: the service's devices have had their to-device messages.
                    for device in content.toDeviceRecipients {
                        try await storage.deleteToDevice(userID: device.userID, deviceID: device.deviceID, upTo: pending.upTo)
                    }
                    delivery.deliveredUpTo = pending.upTo
                    delivery.pending = nil
                    delivery.failures = 0
                    delivery.retryAt = 0
                    try await storage.saveAppServiceDelivery(id: service.id, delivery)
                } else {
                    delivery.failures += 1
                    delivery.retryAt = nowMillis() + Self.backoff(failures: delivery.failures)
                    try await storage.saveAppServiceDelivery(id: service.id, delivery)
                    return
                }
            }
        } catch is CancellationError {
            return  // stopping
        } catch {
            logger.warning("application service delivery failed", metadata: ["appservice": "\(service.id)", "error": "\(error)"])
        }
    }

    /// The next range with something in it for the service; ranges with nothing move the
    /// cursor on without a transaction. Nil when caught up.
    private func nextTransaction(for service: AppServiceRegistration, after delivery: inout AppServiceDelivery) async throws
        -> (AppServiceDelivery.PendingTransaction, AppServiceTransaction)?
    {
        let current = try await storage.currentStreamPosition()
        while delivery.deliveredUpTo < current {
            let page = try await storage.eventsByStream(after: delivery.deliveredUpTo, upTo: current, limit: Self.batchSize)
            let upTo = page.count == Self.batchSize ? page.last!.streamPosition : current
            let content = try await AppServiceTransaction.build(
                for: service, after: delivery.deliveredUpTo, upTo: upTo, storage: storage, serverName: registry.serverName, limit: Self.batchSize,
                events: page)
            if !content.isEmpty {
                delivery.lastTransactionID += 1
                return (.init(id: delivery.lastTransactionID, after: delivery.deliveredUpTo, upTo: upTo), content)
            }
            delivery.deliveredUpTo = upTo
            try await storage.saveAppServiceDelivery(id: service.id, delivery)
        }
        return nil
    }

    /// True on a 2xx.
    private func send(_ transaction: AppServiceTransaction, id: Int64, to service: AppServiceRegistration) async throws -> Bool {
        guard let url = service.url else { return true }
        do {
            let status = try await AppServiceClient.request(
                .PUT, url: url + "/_matrix/app/v1/transactions/\(id)", token: service.hsToken, body: transaction.body(for: service)).status
            guard (200..<300).contains(Int(status.code)) else {
                logger.info("application service refused a transaction", metadata: ["appservice": "\(service.id)", "status": "\(status.code)"])
                return false
            }
            return true
        } catch {
            logger.info("application service unreachable", metadata: ["appservice": "\(service.id)", "error": "\(error)"])
            return false
        }
    }

    /// 1 s, doubling to 5 minutes.
    static func backoff(failures: Int) -> Int64 {
        min(1_000 << min(Int64(failures - 1), 9), 300_000)
    }
}

/// Requests to application services: their URLs come from the admin's registration files,
/// never from a remote party.
enum AppServiceClient {
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60)), connectionPool: .init(idleTimeout: .seconds(60))))

    static func request(_ method: HTTPMethod, url: String, token: String, body: JSON? = nil) async throws -> (status: HTTPResponseStatus, json: JSON) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encodedBytes()))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (response.status, (try? JSONParser.parse(bytes.readableBytesView)) ?? .null)
    }
}
