import CGD
import MatrixModel
import NIOPosix

/// Thumbnails through libgd: PNG, JPEG, GIF and WebP in, PNG (JPEG for JPEG sources) out.
/// Formats are recognised by their bytes, not by the uploader's claimed type, and image
/// dimensions are read from the header before anything is decoded, so a small file that
/// would decompress to gigabytes is refused.
enum Thumbnailer {
    enum Method: String, Sendable {
        case crop, scale
    }

    enum Format {
        case png, jpeg, gif, webp
    }

    struct Failure: Error {
        let reason: String
    }

    static let maxSourceBytes = 32 * 1024 * 1024
    static let maxPixels = 50_000_000
    /// Thumbnail sides are rounded up to one of these, so one image has a bounded number of thumbnails.
    static let sides = [32, 64, 96, 128, 192, 256, 320, 480, 640, 800, largestSide]
    static let largestSide = 1024

    /// The size actually produced for a requested one.
    static func standardSize(width: Int, height: Int) -> (width: Int, height: Int) {
        func snap(_ value: Int) -> Int { sides.first { $0 >= value } ?? largestSide }
        return (snap(width), snap(height))
    }

    static func format(of bytes: [UInt8]) -> Format? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: Array("GIF8".utf8)) { return .gif }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) { return .webp }
        return nil
    }

    /// Scales (to fit within) or crops (to fill exactly) the image, never enlarging it.
    static func thumbnail(
        _ bytes: [UInt8], width: Int, height: Int, method: Method
    ) async throws -> (bytes: [UInt8], contentType: String) {
        guard bytes.count <= maxSourceBytes else { throw Failure(reason: "The image is too large to thumbnail") }
        guard let format = format(of: bytes) else { throw Failure(reason: "The content is not an image this server can thumbnail") }
        // The header's sides are whatever the uploader wrote (up to 2^32 - 1 each): multiply
        // with overflow checking.
        guard let size = ImageHeader.dimensions(bytes, format: format), size.width > 0, size.height > 0,
            case let (pixels, overflow) = size.width.multipliedReportingOverflow(by: size.height), !overflow, pixels <= maxPixels
        else { throw Failure(reason: "The image dimensions are missing or too large") }
        return try await NIOThreadPool.singleton.runIfActive {
            try render(bytes, format: format, width: width, height: height, method: method)
        }
    }

    private static func render(
        _ bytes: [UInt8], format: Format, width: Int, height: Int, method: Method
    ) throws -> (bytes: [UInt8], contentType: String) {
        var input = bytes
        let source: gdImagePtr? = input.withUnsafeMutableBytes { buffer in
            let count = Int32(buffer.count)
            switch format {
            case .png: return gdImageCreateFromPngPtr(count, buffer.baseAddress)
            case .jpeg: return gdImageCreateFromJpegPtr(count, buffer.baseAddress)
            case .gif: return gdImageCreateFromGifPtr(count, buffer.baseAddress)
            case .webp: return gdImageCreateFromWebpPtr(count, buffer.baseAddress)
            }
        }
        guard let source else { throw Failure(reason: "The image could not be decoded") }
        defer { gdImageDestroy(source) }
        let sourceWidth = Int(source.pointee.sx)
        let sourceHeight = Int(source.pointee.sy)
        let plan = Self.plan(sourceWidth: sourceWidth, sourceHeight: sourceHeight, width: width, height: height, method: method)
        guard let target = gdImageCreateTrueColor(Int32(plan.width), Int32(plan.height)) else {
            throw Failure(reason: "Out of memory")
        }
        defer { gdImageDestroy(target) }
        gdImageAlphaBlending(target, 0)
        gdImageSaveAlpha(target, 1)
        gdImageCopyResampled(
            target, source, 0, 0, Int32(plan.sourceX), Int32(plan.sourceY), Int32(plan.width), Int32(plan.height),
            Int32(plan.sourceWidth), Int32(plan.sourceHeight))
        var length: Int32 = 0
        let contentType: String
        let output: UnsafeMutableRawPointer?
        if format == .jpeg {
            output = gdImageJpegPtr(target, &length, 85)
            contentType = "image/jpeg"
        } else {
            output = gdImagePngPtr(target, &length)
            contentType = "image/png"
        }
        guard let output, length > 0 else { throw Failure(reason: "The thumbnail could not be encoded") }
        defer { gdFree(output) }
        return (Array(UnsafeRawBufferPointer(start: output, count: Int(length))), contentType)
    }

    struct Plan: Equatable {
        var width: Int
        var height: Int
        var sourceX: Int
        var sourceY: Int
        var sourceWidth: Int
        var sourceHeight: Int
    }

    /// Output size and the source region it is drawn from.
    static func plan(sourceWidth: Int, sourceHeight: Int, width: Int, height: Int, method: Method) -> Plan {
        switch method {
        case .scale:
            let factor = min(Double(width) / Double(sourceWidth), Double(height) / Double(sourceHeight), 1)
            return Plan(
                width: max(1, Int((Double(sourceWidth) * factor).rounded())), height: max(1, Int((Double(sourceHeight) * factor).rounded())),
                sourceX: 0, sourceY: 0, sourceWidth: sourceWidth, sourceHeight: sourceHeight)
        case .crop:
            let outWidth = min(width, sourceWidth)
            let outHeight = min(height, sourceHeight)
            let factor = max(Double(outWidth) / Double(sourceWidth), Double(outHeight) / Double(sourceHeight))
            let regionWidth = min(sourceWidth, max(1, Int((Double(outWidth) / factor).rounded())))
            let regionHeight = min(sourceHeight, max(1, Int((Double(outHeight) / factor).rounded())))
            return Plan(
                width: outWidth, height: outHeight, sourceX: (sourceWidth - regionWidth) / 2, sourceY: (sourceHeight - regionHeight) / 2,
                sourceWidth: regionWidth, sourceHeight: regionHeight)
        }
    }
}

/// Width and height from an image's header, without decoding it.
enum ImageHeader {
    static func dimensions(_ bytes: [UInt8], format: Thumbnailer.Format) -> (width: Int, height: Int)? {
        func bigEndian(_ offset: Int, _ count: Int) -> Int? {
            guard offset + count <= bytes.count else { return nil }
            return bytes[offset..<(offset + count)].reduce(0) { $0 << 8 | Int($1) }
        }
        func littleEndian(_ offset: Int, _ count: Int) -> Int? {
            guard offset + count <= bytes.count else { return nil }
            return bytes[offset..<(offset + count)].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        switch format {
        case .png:
            guard let width = bigEndian(16, 4), let height = bigEndian(20, 4) else { return nil }
            return (width, height)
        case .gif:
            guard let width = littleEndian(6, 2), let height = littleEndian(8, 2) else { return nil }
            return (width, height)
        case .webp:
            guard bytes.count >= 30 else { return nil }
            switch String(decoding: bytes[12..<16], as: UTF8.self) {
            case "VP8X":
                guard let width = littleEndian(24, 3), let height = littleEndian(27, 3) else { return nil }
                return (width + 1, height + 1)
            case "VP8L":
                guard let bits = littleEndian(21, 4) else { return nil }
                return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            case "VP8 ":
                guard let width = littleEndian(26, 2), let height = littleEndian(28, 2) else { return nil }
                return (width & 0x3FFF, height & 0x3FFF)
            default:
                return nil
            }
        case .jpeg:
            // Walk the markers to a start-of-frame, which holds the size.
            var offset = 2
            while offset + 9 < bytes.count {
                guard bytes[offset] == 0xFF else { return nil }
                let marker = bytes[offset + 1]
                if marker == 0xFF {
                    offset += 1
                    continue
                }
                guard let length = bigEndian(offset + 2, 2), length >= 2 else { return nil }
                if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                    guard let height = bigEndian(offset + 5, 2), let width = bigEndian(offset + 7, 2) else { return nil }
                    return (width, height)
                }
                offset += 2 + length
            }
            return nil
        }
    }
}
