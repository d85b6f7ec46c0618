import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Version 4 (random) UUIDs, made from a buffer of the kernel's random bytes, and their lowercase text.
///
/// Foundation's `UUID()` opens, reads and closes `/dev/urandom` for every UUID, and `uuidString` formats through
/// `sprintf`; with an id for every event and every notification, that was an eighth of the CPU time of a client
/// appending events (`docs/performance.md`). Here one read of `/dev/urandom`, kept open, fills 4 KiB, enough for 256 UUIDs, and the
/// text is written by hand. The bytes are the kernel's CSPRNG output, as Foundation's are; Handoff never forks
/// without exec, so no two processes hand out the same buffer.
public enum RandomUUID {
    private static let buffer = Mutex(Buffer())

    private struct Buffer: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var next = 4096

        /// `/dev/urandom`, opened once (-1 when it cannot be opened: then the system generator fills the buffer).
        let randomSource = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

        mutating func take16() -> (UInt64, UInt64) {
            if next + 16 > bytes.count {
                let source = randomSource
                bytes.withUnsafeMutableBytes { raw in
                    var filled = 0
                    while filled < raw.count, source >= 0 {
                        let read = Glibc.read(source, raw.baseAddress! + filled, raw.count - filled)
                        if read > 0 {
                            filled += read
                        } else if read == 0 || errno != EINTR {
                            break
                        }
                    }
                    if filled < raw.count {
                        var generator = SystemRandomNumberGenerator()
                        for index in filled..<raw.count { raw[index] = generator.next() }
                    }
                }
                next = 0
            }
            defer { next += 16 }
            return bytes.withUnsafeBytes { raw in
                (raw.loadUnaligned(fromByteOffset: next, as: UInt64.self),
                 raw.loadUnaligned(fromByteOffset: next + 8, as: UInt64.self))
            }
        }
    }

    /// A new random (version 4, RFC 9562 variant) UUID.
    public static func make() -> UUID {
        let (high, low) = buffer.withLock { $0.take16() }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { raw in
            raw.storeBytes(of: high, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            raw[6] = (raw[6] & 0x0F) | 0x40
            raw[8] = (raw[8] & 0x3F) | 0x80
        }
        return UUID(uuid: uuid)
    }
}

extension UUID {
    /// The canonical lowercase text, `8-4-4-4-12` hex digits (what PostgreSQL prints), written by hand.
    public var lowercaseText: String {
        withUnsafeBytes(of: uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { text in
                let digits: StaticString = "0123456789abcdef"
                var count = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[count] = UInt8(ascii: "-")
                        count += 1
                    }
                    text[count] = digits.utf8Start[Int(byte >> 4)]
                    text[count + 1] = digits.utf8Start[Int(byte & 0x0F)]
                    count += 2
                }
                return count
            }
        }
    }
}
