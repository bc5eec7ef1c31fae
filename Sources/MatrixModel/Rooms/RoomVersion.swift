/// The room versions Axon knows. Spec v1.19 makes version 12 the default.
public struct RoomVersion: Hashable, Sendable {
    public let identifier: String

    public static let v10 = RoomVersion(identifier: "10")
    public static let v11 = RoomVersion(identifier: "11")
    public static let v12 = RoomVersion(identifier: "12")

    public static let supported: [RoomVersion] = [.v10, .v11, .v12]
    public static let `default` = RoomVersion.v12

    public init?(_ identifier: String) {
        guard let known = RoomVersion.supported.first(where: { $0.identifier == identifier }) else { return nil }
        self = known
    }

    private init(identifier: String) {
        self.identifier = identifier
    }
}
