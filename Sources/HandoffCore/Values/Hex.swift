import Crypto
import Foundation

/// SHA-256 digests as lowercase hex: content hashes, request fingerprints, token hashes.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// SHA-256 of `data`, as 64 lowercase hex digits. Written digit by digit: `String(format:)` per byte cost more
    /// than the hash itself on the API's per-request path.
    public static func sha256(_ data: some DataProtocol) -> String {
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: data) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
