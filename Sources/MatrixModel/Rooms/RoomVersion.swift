/// The room versions Axon knows (spec `content/rooms/v1.md` … `v12.md`), as the feature
/// switches their specs differ by. Spec v1.19 makes version 12 the default.
public struct RoomVersion: Hashable, Sendable, CustomStringConvertible {
    public enum EventIDFormat: Sendable {
        /// v1, v2: `$opaque:server`, carried in the event as `event_id`; `prev_events` and
        /// `auth_events` are `[event_id, hashes]` pairs.
        case serverScoped
        /// v3: `$` + standard unpadded base64 of the reference hash.
        case referenceHash
        /// v4+: `$` + URL-safe unpadded base64 of the reference hash.
        case urlSafeReferenceHash
    }

    /// Which redaction algorithm the version uses (`Redaction`).
    public enum RedactionRules: Int, Sendable, Comparable {
        /// v1–v5: keeps `m.room.aliases` content.
        case v1 = 1
        /// v6, v7: `aliases` no longer kept.
        case v6 = 6
        /// v8: `m.room.join_rules` keeps `allow`.
        case v8 = 8
        /// v9, v10: `m.room.member` keeps `join_authorised_via_users_server`.
        case v9 = 9
        /// v11+: fewer top-level keys, whole create content, `invite` power level, `redacts`.
        case v11 = 11

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public enum StateResolution: Sendable {
        case v1
        case v2
        /// v12: starts from the empty set and includes the conflicted state subgraph.
        case v2_1
    }

    public let identifier: String
    public let number: Int
    public let eventIDFormat: EventIDFormat
    public let redaction: RedactionRules
    public let stateResolution: StateResolution

    public var description: String { identifier }

    /// v12: the room ID is `!` + the create event's reference hash, the create event has no
    /// `room_id`, and is never listed in `auth_events`.
    public var roomIDIsCreateEventHash: Bool { number >= 12 }
    /// v1–v10: `m.room.create` content must carry `creator` (v11 dropped it).
    public var createEventHasCreator: Bool { number <= 10 }
    /// v11+: `m.room.redaction` carries `redacts` in `content`, not at the top level.
    public var redactsInContent: Bool { number >= 11 }
    /// v12: the create event's sender and `additional_creators` have infinite power.
    public var creatorsHaveInfinitePower: Bool { number >= 12 }
    /// v11+: the v11 redaction algorithm (see `Redaction`).
    public var usesV11Redaction: Bool { redaction == .v11 }
    /// v1, v2: a redaction needs the redact level or the redacted event's `event_id` domain
    /// (auth rule 11); later versions leave that to clients.
    public var authorisesRedactionsByDomain: Bool { number <= 2 }
    /// v1–v5: `m.room.aliases` state belongs to the server named by its state key.
    public var hasAliasesAuthRule: Bool { number <= 5 }
    /// v5+: signing keys must be valid (`valid_until_ts`) when an event is checked.
    public var enforcesKeyValidity: Bool { number >= 5 }
    /// v6+: power-level changes are checked for `notifications` too.
    public var checksNotificationLevels: Bool { number >= 6 }
    /// v6+: canonical JSON is strict (integers within ±(2^53−1), no floats).
    public var strictCanonicalJSON: Bool { number >= 6 }
    /// v1–v5: power levels may be floats, truncated.
    public var allowsFloatPowerLevels: Bool { number <= 5 }
    /// v10+: power levels must be integers; before, strings of integers count too.
    public var integerOnlyPowerLevels: Bool { number >= 10 }
    /// v7+: the `knock` join rule and membership.
    public var allowsKnocking: Bool { number >= 7 }
    /// v8+: the `restricted` join rule (`join_authorised_via_users_server`).
    public var allowsRestrictedJoins: Bool { number >= 8 }
    /// v10+: the `knock_restricted` join rule.
    public var allowsKnockRestricted: Bool { number >= 10 }

    public static let v1 = RoomVersion(1, .serverScoped, .v1, .v1)
    public static let v2 = RoomVersion(2, .serverScoped, .v1, .v2)
    public static let v3 = RoomVersion(3, .referenceHash, .v1, .v2)
    public static let v4 = RoomVersion(4, .urlSafeReferenceHash, .v1, .v2)
    public static let v5 = RoomVersion(5, .urlSafeReferenceHash, .v1, .v2)
    public static let v6 = RoomVersion(6, .urlSafeReferenceHash, .v6, .v2)
    public static let v7 = RoomVersion(7, .urlSafeReferenceHash, .v6, .v2)
    public static let v8 = RoomVersion(8, .urlSafeReferenceHash, .v8, .v2)
    public static let v9 = RoomVersion(9, .urlSafeReferenceHash, .v9, .v2)
    public static let v10 = RoomVersion(10, .urlSafeReferenceHash, .v9, .v2)
    public static let v11 = RoomVersion(11, .urlSafeReferenceHash, .v11, .v2)
    public static let v12 = RoomVersion(12, .urlSafeReferenceHash, .v11, .v2_1)

    public static let supported: [RoomVersion] = [.v1, .v2, .v3, .v4, .v5, .v6, .v7, .v8, .v9, .v10, .v11, .v12]
    public static let `default` = RoomVersion.v12

    public init?(_ identifier: String) {
        guard let known = RoomVersion.supported.first(where: { $0.identifier == identifier }) else { return nil }
        self = known
    }

    private init(_ number: Int, _ eventIDFormat: EventIDFormat, _ redaction: RedactionRules, _ stateResolution: StateResolution) {
        self.identifier = String(number)
        self.number = number
        self.eventIDFormat = eventIDFormat
        self.redaction = redaction
        self.stateResolution = stateResolution
    }
}
