import AxonStorage
import Foundation
import Logging
import MatrixModel
import Synchronization

/// Other servers' signing keys (spec "Retrieving server keys"): kept in the database until
/// their `valid_until_ts`, fetched from the server itself and, failing that, from the
/// configured notaries. A server that could not be reached is not asked again for a while,
/// so a flood of requests naming it costs one fetch.
final class KeyRing: Sendable {
    let storage: any Storage
    let client: FederationClient
    let notaries: [String]
    let logger: Logger
    private let cache = Mutex([String: [StoredServerKey]]())
    private let lastAttempt = Mutex([String: ContinuousClock.Instant]())
    static let retryAfterFailure: Duration = .seconds(30)
    /// How long our own key response says it is valid.
    static let ownValidity: Int64 = 24 * 3_600_000

    init(storage: any Storage, client: FederationClient, notaries: [String], logger: Logger) {
        self.storage = storage
        self.client = client
        self.notaries = notaries
        self.logger = logger
    }

    var serverName: String { client.serverName.value }

    /// This server's own key response, freshly signed.
    func ownResponse() throws -> JSONObject {
        try ServerKeys.publish(serverName: serverName, key: client.signingKey, validUntil: nowMillis() + Self.ownValidity)
    }

    /// The public key `server` signed with under `keyID`, usable for a signature made at
    /// `time` (room v5+ and requests: within `valid_until_ts`).
    func publicKey(server: String, keyID: String, at time: Int64, enforceValidity: Bool = true) async throws -> [UInt8]? {
        if server == serverName {
            return keyID == client.signingKey.keyID ? Array(client.signingKey.privateKey.publicKey.rawRepresentation) : nil
        }
        if let key = try await known(server).usable(keyID, at: time, enforceValidity: enforceValidity) { return key }
        guard await refresh(server, minimumValidUntil: time) else { return nil }
        return try await known(server).usable(keyID, at: time, enforceValidity: enforceValidity)
    }

    /// Key responses for the notary endpoint: fetched anew when none is valid until
    /// `minimumValidUntil`.
    func responses(for server: String, minimumValidUntil: Int64) async throws -> [JSONObject] {
        if server == serverName { return [try ownResponse()] }
        if try await !known(server).contains(where: { $0.expiredAt == nil && $0.validUntil >= minimumValidUntil }) {
            _ = await refresh(server, minimumValidUntil: minimumValidUntil)
        }
        var seen: [JSONObject] = []
        for key in try await known(server) where !seen.contains(key.response) { seen.append(key.response) }
        return seen
    }

    private func known(_ server: String) async throws -> [StoredServerKey] {
        if let cached = cache.withLock({ $0[server] }) { return cached }
        let stored = try await storage.serverKeys(serverName: server)
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[server] = stored
        }
        return stored
    }

    /// Fetches keys from the server, then the notaries; true when something new was stored.
    private func refresh(_ server: String, minimumValidUntil: Int64) async -> Bool {
        let now = ContinuousClock.now
        let mayTry = lastAttempt.withLock { attempts in
            if let last = attempts[server], now - last < Self.retryAfterFailure { return false }
            if attempts.count > 10_000 { attempts.removeAll() }
            attempts[server] = now
            return true
        }
        guard mayTry, client.mayFederate(with: server) else { return false }
        var fetched: [ServerKeys] = []
        do {
            let response = try await client.request(.GET, destination: server, path: "/_matrix/key/v2/server", signed: false)
            if response.status == 200, let object = response.json.objectValue {
                fetched.append(try ServerKeys(response: object, expectedServer: server))
            }
        } catch {
            logger.info("fetching server keys failed", metadata: ["server": "\(server)", "error": "\(error)"])
        }
        if fetched.isEmpty {
            for notary in notaries where notary != server {
                fetched += await viaNotary(notary, server: server, minimumValidUntil: minimumValidUntil)
                if !fetched.isEmpty { break }
            }
        }
        guard !fetched.isEmpty else { return false }
        // Usable at once from memory; written to the database on a task of its own, because
        // a caller may hold the database writer (an invite countersigned inside the room's
        // write transaction), and waiting for the write there would never end.
        let stored = (try? await known(server)) ?? []
        cache.withLock { cache in cache[server] = Self.merge(stored, fetched.flatMap(\.storedKeys)) }
        lastAttempt.withLock { $0[server] = nil }
        let storage = storage, logger = logger
        Task.detached {
            do {
                for keys in fetched { try await storage.storeServerKeys(keys) }
            } catch {
                logger.error("storing server keys failed", metadata: ["server": "\(server)", "error": "\(error)"])
            }
        }
        return true
    }

    /// Keys by ID, each with the latest `valid_until_ts` seen (as the database keeps them).
    static func merge(_ known: [StoredServerKey], _ fetched: [StoredServerKey]) -> [StoredServerKey] {
        var byID: [String: StoredServerKey] = [:]
        for key in known + fetched {
            if let existing = byID[key.keyID], existing.validUntil > key.validUntil {
                byID[key.keyID]?.expiredAt = key.expiredAt
            } else {
                byID[key.keyID] = key
            }
        }
        return byID.keys.sorted().compactMap { byID[$0] }
    }

    /// A notary's answer counts only when the server signed it itself and the notary
    /// countersigned it with a key of its own we could verify.
    private func viaNotary(_ notary: String, server: String, minimumValidUntil: Int64) async -> [ServerKeys] {
        let body: JSON = ["server_keys": [.init(stringLiteral: server): [:]]]
        guard let response = try? await client.request(.POST, destination: notary, path: "/_matrix/key/v2/query", body: body),
            response.status == 200
        else { return [] }
        var accepted: [ServerKeys] = []
        for entry in response.json["server_keys"]?.arrayValue ?? [] {
            guard let object = entry.objectValue, let keys = try? ServerKeys(response: object, expectedServer: server) else { continue }
            let notaryKeyIDs = object["signatures"]?[notary]?.objectValue?.keys.map { $0 } ?? []
            var countersigned = false
            for keyID in notaryKeyIDs {
                if let key = try? await publicKey(server: notary, keyID: keyID, at: nowMillis()),
                    JSONSigning.verify(object, server: notary, keyID: keyID, publicKey: key)
                {
                    countersigned = true
                    break
                }
            }
            if countersigned { accepted.append(keys) }
        }
        return accepted
    }
}

extension [StoredServerKey] {
    func usable(_ keyID: String, at time: Int64, enforceValidity: Bool) -> [UInt8]? {
        guard let key = first(where: { $0.keyID == keyID }) else { return nil }
        if let expired = key.expiredAt { return time < expired ? key.publicKey : nil }
        if enforceValidity, time > key.validUntil { return nil }
        return key.publicKey
    }
}
