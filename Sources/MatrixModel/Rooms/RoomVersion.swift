/// The room versions Axon knows, as the feature switches their specs differ by.
/// Spec v1.19 makes version 12 the default.
public struct RoomVersion: Hashable, Sendable {
    public let identifier: String
    /// v12: the room ID is `!` + the create event's reference hash, the create event has no
    /// `room_id`, and is never listed in `auth_events`.
    public let roomIDIsCreateEventHash: Bool
    /// v10: `m.room.create` content must carry `creator` (v11 dropped it).
    public let createEventHasCreator: Bool
    /// v11+: `m.room.redaction` carries `redacts` in `content`, not at the top level.
    public let redactsInContent: Bool
    /// v12: the create event's sender and `additional_creators` have infinite power.
    public let creatorsHaveInfinitePower: Bool
    /// v11+: the v11 redaction algorithm (see `Redaction`).
    public let usesV11Redaction: Bool

    public static let v10 = RoomVersion(
        identifier: "10", roomIDIsCreateEventHash: false, createEventHasCreator: true, redactsInContent: false,
        creatorsHaveInfinitePower: false, usesV11Redaction: false)
    public static let v11 = RoomVersion(
        identifier: "11", roomIDIsCreateEventHash: false, createEventHasCreator: false, redactsInContent: true,
        creatorsHaveInfinitePower: false, usesV11Redaction: true)
    public static let v12 = RoomVersion(
        identifier: "12", roomIDIsCreateEventHash: true, createEventHasCreator: false, redactsInContent: true,
        creatorsHaveInfinitePower: true, usesV11Redaction: true)

    public static let supported: [RoomVersion] = [.v10, .v11, .v12]
    public static let `default` = RoomVersion.v12

    public init?(_ identifier: String) {
        guard let known = RoomVersion.supported.first(where: { $0.identifier == identifier }) else { return nil }
        self = known
    }

    private init(
        identifier: String, roomIDIsCreateEventHash: Bool, createEventHasCreator: Bool, redactsInContent: Bool,
        creatorsHaveInfinitePower: Bool, usesV11Redaction: Bool
    ) {
        self.identifier = identifier
        self.roomIDIsCreateEventHash = roomIDIsCreateEventHash
        self.createEventHasCreator = createEventHasCreator
        self.redactsInContent = redactsInContent
        self.creatorsHaveInfinitePower = creatorsHaveInfinitePower
        self.usesV11Redaction = usesV11Redaction
    }
}
