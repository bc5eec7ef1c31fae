import Synchronization

/// The actions Axon rate-limits, each with its own bucket per key (client IP or user).
public enum RateLimitKind: String, Sendable, CaseIterable {
    case login
    case registration
    case message
    /// `POST /refresh` and OAuth token exchanges, per client address.
    case refresh
    /// `POST /login/get_token`, per user: each token signs in another device.
    case loginToken = "login_token"
    /// The sign-in, consent and account pages, and client registration, per client address.
    case webPage = "web_page"
    /// Validation mails (`*/email/requestToken`), per client address.
    case emailToken = "email_token"

    /// Counted per signed-in user rather than per client address.
    public var perUser: Bool { self == .message || self == .loginToken }
}

public struct RateLimitSettings: Sendable, Equatable {
    /// Sustained actions per second.
    public var perSecond: Double
    /// Actions allowed in a burst before the sustained rate applies.
    public var burst: Double

    public init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = burst
    }
}

/// Token buckets keyed by (action, key). Memory stays bounded: buckets that have refilled
/// completely carry no information and are dropped when the table grows.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let settings: [RateLimitKind: RateLimitSettings]
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()

    public init(settings: [RateLimitKind: RateLimitSettings]) {
        self.settings = settings
    }

    /// Takes one token; returns nil when allowed, or the milliseconds to wait. `override`
    /// replaces the configured limit (an admin's per-user limit; a zero rate is no limit).
    public func take(_ kind: RateLimitKind, key: String, override: RateLimitSettings? = nil) -> Int64? {
        guard let limit = override ?? settings[kind], limit.perSecond > 0 else { return nil }
        let now = clock.now
        return buckets.withLock { buckets in
            let id = "\(kind.rawValue)\u{0}\(key)"
            var bucket = buckets[id] ?? Bucket(tokens: limit.burst, updated: now)
            let elapsed = Double((now - bucket.updated).components.attoseconds) / 1e18
                + Double((now - bucket.updated).components.seconds)
            bucket.tokens = min(limit.burst, bucket.tokens + elapsed * limit.perSecond)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                buckets[id] = bucket
                if buckets.count > 50_000 { Self.prune(&buckets, now: now, settings: settings) }
                return nil
            }
            buckets[id] = bucket
            return Int64(((1 - bucket.tokens) / limit.perSecond * 1000).rounded(.up))
        }
    }

    private static func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant, settings: [RateLimitKind: RateLimitSettings]) {
        let longestRefill = settings.values.map { $0.burst / max($0.perSecond, 0.0001) }.max() ?? 0
        buckets = buckets.filter { (now - $0.value.updated) < .seconds(longestRefill) }
    }
}
